//! The peer-apply path: merging a peer's changes into our documents under the caller's
//! checks, in one durable commit per batch, whether they come as deltas
//! ([`Store::apply_batch`], [`Store::apply_remote`]) or through Automerge's sync protocol
//! ([`Store::sync_receive`]). A refused record is left exactly as it was, counted against the
//! peer and audited as `sync.reject`.

use automerge::sync;
use serde::Serialize;

use super::audit::AuditEvent;
use super::error::{ReadError, WriteError};
use super::merge::{ApplyCheck, IncomingDoc, Merge, RemoteChanges, merge, receive_sync};
use super::refusal::Refusal;
use super::{Store, Tx};
use crate::error::Chain;
use crate::id::{NodeName, RecordId};
use crate::record::Header;

/// A record whose changes were refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub id: RecordId,
    #[serde(serialize_with = "display")]
    pub reason: Refusal,
}

/// A refusal as its whole chain, as peers and reports have always read it.
fn display<S: serde::Serializer>(reason: &Refusal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Chain(reason))
}

/// What applying a batch from a peer did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyOutcome {
    /// Records that changed.
    pub applied: Vec<RecordId>,
    /// Records we already had exactly.
    pub unchanged: usize,
    /// Records whose changes need others we do not have yet (fall back to the sync protocol).
    pub missing_deps: Vec<RecordId>,
    pub rejected: Vec<Rejected>,
    /// With a peer cursor: the peer's feed sequence now applied here.
    pub applied_upto: Option<u64>,
}

/// What became of one record's changes.
enum ApplyResult {
    Applied,
    Unchanged,
    MissingDeps,
    Rejected(Refusal),
}

impl Tx<'_> {
    /// Records a refusal of a peer's changes in the audit chain.
    fn audit_refusal(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        reason: &Refusal,
    ) -> Result<(), ReadError> {
        self.audit(AuditEvent {
            actor: format!("sync:{peer}"),
            action: "sync.reject".into(),
            record: Some(id),
            changes: Vec::new(),
            detail: Some(format!("{}: {}", reason.code(), reason.detail())),
        })
    }

    /// Merges changes from a peer into one document. See [`Store::apply_remote`].
    fn apply_one(
        &mut self,
        peer: &NodeName,
        item: &IncomingDoc,
        check: &ApplyCheck,
    ) -> Result<ApplyResult, WriteError> {
        let id = item.id;
        let actor = self.actor().clone();
        let existing = self.doc(id)?;
        let old_heads = existing.map(|d| d.get_heads()).unwrap_or_default();
        match merge(existing, item, &actor, check) {
            Merge::Refused(reason) => Ok(ApplyResult::Rejected(reason)),
            Merge::MissingDeps => Ok(ApplyResult::MissingDeps),
            Merge::Unchanged => {
                self.note_peer_heads(peer, id, &item.sender_heads)?;
                Ok(ApplyResult::Unchanged)
            }
            Merge::Changed { doc, complete } => {
                self.replace(id, *doc);
                self.persist(id, &old_heads, &format!("sync:{peer}"), "sync.apply")?;
                if !complete {
                    return Ok(ApplyResult::MissingDeps);
                }
                self.note_peer_heads(peer, id, &item.sender_heads)?;
                Ok(ApplyResult::Applied)
            }
        }
    }
}

impl Store {
    /// Merges a batch of changes from `peer` in one durable commit. Idempotent and
    /// order-independent: applying the same changes twice, or in any order, converges to the
    /// same documents. `check` sees each record's header and the nodes that authored the new
    /// changes, and may refuse the record; refused records are left exactly as they were.
    pub fn apply_remote(
        &self,
        peer: &NodeName,
        items: Vec<RemoteChanges>,
        check: impl Fn(&Header, &[String]) -> Result<(), Refusal> + Send + 'static,
    ) -> Result<ApplyOutcome, WriteError> {
        let items = items.into_iter().map(IncomingDoc::from).collect();
        self.apply_batch(peer, items, None, check)
    }

    /// [`Store::apply_remote`] that also records, in the same commit, that everything in the
    /// peer's feed up to `peer_cursor` has now been applied here; or, when some records lack
    /// dependencies, everything before the first of those. The outcome's `applied_upto` says
    /// which.
    pub fn apply_batch(
        &self,
        peer: &NodeName,
        items: Vec<IncomingDoc>,
        peer_cursor: Option<u64>,
        check: impl Fn(&Header, &[String]) -> Result<(), Refusal> + Send + 'static,
    ) -> Result<ApplyOutcome, WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            let mut outcome = ApplyOutcome::default();
            for item in &items {
                match tx.apply_one(&peer, item, &check)? {
                    ApplyResult::Applied => outcome.applied.push(item.id),
                    ApplyResult::Unchanged => outcome.unchanged += 1,
                    ApplyResult::MissingDeps => outcome.missing_deps.push(item.id),
                    ApplyResult::Rejected(reason) => {
                        tracing::warn!(%peer, id = %item.id, reason = %Chain(&reason), "refused changes from peer");
                        tx.update_peer_state(&peer, |s| s.rejected += 1)?;
                        tx.audit_refusal(&peer, item.id, &reason)?;
                        outcome.rejected.push(Rejected {
                            id: item.id,
                            reason,
                        });
                    }
                }
            }
            tx.acknowledge_received(&outcome.applied)?;
            if let Some(cursor) = peer_cursor {
                let first_missing = items
                    .iter()
                    .filter(|i| outcome.missing_deps.contains(&i.id))
                    .map(|i| i.seq)
                    .min();
                let upto = match first_missing {
                    Some(seq) => seq.saturating_sub(1).min(cursor),
                    None => cursor,
                };
                let now = tx.now_ms();
                tx.update_peer_state(&peer, |s| {
                    s.applied_from_peer = s.applied_from_peer.max(upto);
                    s.last_contact_ms = now;
                })?;
                outcome.applied_upto = Some(upto);
            }
            Ok(outcome)
        })
    }

    /// Automerge sync protocol: applies a peer's message, under the same checks as a batch.
    /// Returns the updated state, and whether the record changed.
    pub fn sync_receive(
        &self,
        peer: &NodeName,
        id: RecordId,
        state: sync::State,
        message: Vec<u8>,
        check: Box<ApplyCheck>,
    ) -> Result<(sync::State, Result<bool, Refusal>), WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            let received = match receive_sync(id, tx.doc(id)?, &state, &message) {
                Ok(received) => received,
                Err(reason) => return Ok((state, Err(reason))),
            };
            tx.save_sync_state(&peer, id, &received.state)?;
            let Some(item) = received.changes else {
                return Ok((received.state, Ok(false)));
            };
            // The record's changes go through the same checks as a batch's.
            let changed = match tx.apply_one(&peer, &item, check.as_ref())? {
                ApplyResult::Applied => {
                    tx.acknowledge_received(&[id])?;
                    Ok(true)
                }
                ApplyResult::Unchanged | ApplyResult::MissingDeps => Ok(false),
                ApplyResult::Rejected(reason) => {
                    tx.audit_refusal(&peer, id, &reason)?;
                    Err(reason)
                }
            };
            Ok((received.state, changed))
        })
    }
}
