//! The rules every replica applies to a record's new changes ([`crate::trust::rules`]),
//! applied to this node's own writes before they are saved: a change every other node would
//! refuse (a status moved backwards, a header rewritten, a field the node's certificate does
//! not let it write, a record that does not read as its kind) is refused here with the same
//! reason, and the desk hears "not saved" instead of "saved" for a record no one else would
//! ever hold. The desks' own checks come first and say more; these are the floor under them.

use automerge::{Automerge, ChangeHash};

use super::Tx;
use super::error::WriteError;
use super::knowledge::TxKnowledge;
use crate::id::RecordId;
use crate::record::Header;
use crate::rules::RuleError;
use crate::trust::{Authorship, Incoming, Judge, Member, NewChanges};

impl Tx<'_, '_> {
    /// Judges the change this node just made to record `id` (`before`: the record as it was,
    /// `None` for a new one). A node that has no roster entry of its own yet (no key: its
    /// changes wait unsigned, and are judged by every peer once signed) is not judged here.
    pub(super) fn judge_own(
        &self,
        id: RecordId,
        before: Option<&Automerge>,
        header: &Header,
        old_heads: &[ChangeHash],
    ) -> Result<(), WriteError> {
        let Some(member) = self.own_member() else {
            return Ok(());
        };
        let Some(after) = self.shared_loaded(id) else {
            return Ok(());
        };
        let roster = self
            .shared()
            .roster
            .read()
            .map(|r| std::sync::Arc::clone(&r))
            .unwrap_or_default();
        let knowledge = TxKnowledge { w: self.r() };
        let mut judge = Judge {
            roster: &roster,
            authorship: Authorship::Own(&member),
            knowledge: &knowledge,
        };
        let view = crate::record::Snapshot::new(&after);
        let changes = NewChanges::since(&view, old_heads);
        let incoming = Incoming {
            header,
            before,
            after: &view,
            changes: &changes,
        };
        match judge.judge(&incoming) {
            Ok(_) => Ok(()),
            Err(breach) => {
                tracing::warn!(record = %id, kind = %header.kind, breach = %crate::error::Chain(&breach),
                    "a write of this node's own breaks a replica rule; not saved");
                Err(RuleError::BreaksReplicaRule(Box::new(breach)).into())
            }
        }
    }

    /// This node's roster entry: from its signing credentials, or as its roster holds it.
    fn own_member(&self) -> Option<Member> {
        let shared = self.shared();
        if let Some(credentials) = shared.signer.read().ok().and_then(|s| s.clone()) {
            return Some(credentials.member().clone());
        }
        let roster = shared.roster.read().ok()?;
        roster.member_named(self.node().as_str()).cloned()
    }
}
