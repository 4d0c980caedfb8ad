//! The peer-apply path: merging a peer's changes into our documents under the rules
//! ([`crate::trust::rules`], with the signatures that came with them), in one durable commit
//! per batch, whether they come as deltas ([`Store::apply_batch`], [`Store::apply_remote`])
//! or through Automerge's sync protocol ([`Store::sync_receive`]). Every record is fully
//! checked before anything of it is written, so a refused record never aborts the batch (nor
//! the desks' writes that share its commit): it is left exactly as it was, counted against
//! the peer by reason, audited as `sync.reject` and kept in the quarantine.

use std::sync::Arc;

use automerge::sync;
use serde::Serialize;

use super::audit::AuditEvent;
use super::error::{ReadError, WriteError};
use super::knowledge::TxKnowledge;
use super::merge::{IncomingDoc, Merge, RemoteChanges, merge, receive_sync};
use super::refusal::Refusal;
use super::signing::holds_commit;
use super::tx::Origin;
use super::{AuthorCheck, Store, Tx};
use crate::error::Chain;
use crate::id::{NodeName, RecordId};
use crate::trust::{Authorship, CommitId, Held, Judge, Signatures};

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

impl ApplyOutcome {
    /// The batch's records that lacked dependencies, with their places in the peer's feed,
    /// and the others (applied, already held or refused: settled either way).
    pub fn places(&self, items: &[IncomingDoc]) -> (Vec<(u64, RecordId)>, Vec<RecordId>) {
        let (missing, settled): (Vec<&IncomingDoc>, Vec<&IncomingDoc>) = items
            .iter()
            .partition(|i| self.missing_deps.contains(&i.id));
        (
            missing.iter().map(|i| (i.seq, i.id)).collect(),
            settled.iter().map(|i| i.id).collect(),
        )
    }
}

/// What became of one record's changes.
enum ApplyResult {
    Applied,
    Unchanged,
    MissingDeps,
    Rejected(Refusal),
}

impl Tx<'_, '_> {
    /// Records a refusal of a peer's changes: audited, counted against the peer by reason,
    /// and the record's bytes kept in the quarantine.
    fn refuse(
        &mut self,
        peer: &NodeName,
        item: &IncomingDoc,
        reason: &Refusal,
    ) -> Result<(), ReadError> {
        tracing::warn!(%peer, id = %item.id, reason = %Chain(reason), "refused changes from peer");
        let code = reason.code();
        self.update_peer_state(peer, |s| {
            s.rejected += 1;
            *s.refused.entry(code.to_owned()).or_default() += 1;
        })?;
        self.audit(AuditEvent {
            actor: format!("sync:{peer}"),
            action: "sync.reject".into(),
            record: Some(item.id),
            changes: Vec::new(),
            detail: Some(format!("{code}: {}", reason.detail())),
        })?;
        // Kept as Automerge reads them, to be looked into: unpacked if they came packed.
        let bytes = super::chunks::unpack_received(&item.bytes)
            .unwrap_or(std::borrow::Cow::Borrowed(&item.bytes));
        self.quarantine(peer, item.id, &bytes, reason)
    }

    /// Merges changes from a peer into one document under `judge`'s rules. Nothing is
    /// written for a refused record: every check runs before the first write.
    fn apply_one(
        &mut self,
        peer: &NodeName,
        item: &IncomingDoc,
        judge: &mut Judge<'_>,
    ) -> Result<ApplyResult, WriteError> {
        let id = item.id;
        if self.holds_heads(id, &item.sender_heads)? {
            self.write_peer_heads(peer, id, &item.sender_heads)?;
            return Ok(ApplyResult::Unchanged);
        }
        let actor = self.actor().clone();
        let existing = self.doc(id)?;
        let old_heads = existing.map(|d| d.get_heads()).unwrap_or_default();
        let prepared =
            (self.shared().prepared.lock().ok()).and_then(|mut p| p.take(item, &old_heads, judge));
        let merged = match prepared {
            Some(merged) => merged,
            None => merge(self.doc(id)?, item, &actor, judge),
        };
        match merged {
            Merge::Refused(reason) => Ok(ApplyResult::Rejected(reason)),
            Merge::MissingDeps => Ok(ApplyResult::MissingDeps),
            Merge::Unchanged => {
                self.note_peer_heads(peer, id, &item.sender_heads)?;
                Ok(ApplyResult::Unchanged)
            }
            Merge::Changed {
                doc,
                complete,
                mut verdict,
                as_sent,
            } => {
                self.replace(id, *doc);
                // The header (and a patient) as the rules read them from this very document.
                self.read_patient = verdict.patient.take().map(|p| (id, p));
                self.sent_chunk = as_sent.then(|| (id, item.bytes.clone()));
                let persisted = self.persist(
                    id,
                    &old_heads,
                    &verdict.header,
                    Origin::Peer,
                    &format!("sync:{peer}"),
                    "sync.apply",
                );
                self.read_patient = None;
                self.sent_chunk = None;
                persisted?;
                self.keep_signed(id, &verdict.signed_by, judge)?;
                if !complete {
                    return Ok(ApplyResult::MissingDeps);
                }
                // A number of ours on a record this node had lost is never handed out again.
                self.learn_returning_numbers(id, &verdict.header, old_heads.is_empty())?;
                self.note_peer_heads(peer, id, &item.sender_heads)?;
                Ok(ApplyResult::Applied)
            }
        }
    }
}

/// Runs `f` with the rules as this batch judges by: the roster as of now, the batch's
/// signatures (checked once each, when a change needs them), and what the transaction holds.
fn with_judge<T>(
    tx: &mut Tx<'_, '_>,
    signatures: &[Vec<u8>],
    f: impl FnOnce(&mut Tx<'_, '_>, &mut Judge<'_>) -> Result<T, WriteError>,
) -> Result<T, WriteError> {
    let roster = tx
        .shared()
        .roster
        .read()
        .map(|r| Arc::clone(&r))
        .unwrap_or_default();
    let (decoded, problems) = Signatures::decode(signatures);
    for problem in &problems {
        tracing::warn!(problem = %problem, "a signature that came with a batch does not decode");
    }
    let mut decoded = decoded.remembering(Arc::clone(&tx.shared().verified));
    let w = tx.r();
    let held = move |id: &CommitId| holds_commit(w, id);
    let knowledge = TxKnowledge { w };
    let mut judge = Judge {
        roster: &roster,
        authorship: authorship(tx.opts().author_check, &mut decoded, &held),
        knowledge: &knowledge,
    };
    f(tx, &mut judge)
}

/// How the authors of a peer's changes are known under the store's `check`: from `signatures`
/// (and the commits this node already holds), or unchecked.
pub(super) fn authorship<'a>(
    check: AuthorCheck,
    signatures: &'a mut Signatures,
    held: &'a Held<'a>,
) -> Authorship<'a> {
    match check {
        AuthorCheck::Signatures => Authorship::Signed { signatures, held },
        AuthorCheck::UncheckedActorIds => Authorship::UncheckedActorIds,
    }
}

impl Store {
    /// Merges a batch of changes from `peer` in one durable commit, with the signed commits
    /// that came with them (encoded). Idempotent and order-independent: applying the same
    /// changes twice, or in any order, converges to the same documents. Each record's new
    /// changes must pass every rule ([`crate::trust::rules`]); refused records are left
    /// exactly as they were, audited, counted and quarantined, and the others commit.
    pub fn apply_remote(
        &self,
        peer: &NodeName,
        items: Vec<RemoteChanges>,
        signatures: Vec<Vec<u8>>,
    ) -> Result<ApplyOutcome, WriteError> {
        let items = items.into_iter().map(IncomingDoc::from).collect();
        self.apply_batch(peer, items, signatures, None)
    }

    /// [`Store::apply_remote`] that also records, in the same commit, that everything in the
    /// peer's feed up to `peer_cursor` has now been applied here; or, when some records lack
    /// dependencies, everything before the first of those. The outcome's `applied_upto` says
    /// which.
    pub fn apply_batch(
        &self,
        peer: &NodeName,
        items: Vec<IncomingDoc>,
        signatures: Vec<Vec<u8>>,
        peer_cursor: Option<u64>,
    ) -> Result<ApplyOutcome, WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            with_judge(tx, &signatures, |tx, judge| {
                let mut outcome = ApplyOutcome::default();
                for item in &items {
                    match tx.apply_one(&peer, item, judge)? {
                        ApplyResult::Applied => outcome.applied.push(item.id),
                        ApplyResult::Unchanged => outcome.unchanged += 1,
                        ApplyResult::MissingDeps => outcome.missing_deps.push(item.id),
                        ApplyResult::Rejected(reason) => {
                            tx.refuse(&peer, item, &reason)?;
                            outcome.rejected.push(Rejected {
                                id: item.id,
                                reason,
                            });
                        }
                    }
                }
                tx.acknowledge_received(&outcome.applied)?;
                if let Some(cursor) = peer_cursor {
                    let (missing, settled) = outcome.places(&items);
                    let now = tx.now_ms();
                    let mut upto = cursor;
                    tx.update_peer_state(&peer, |s| {
                        s.applied_batch(cursor, &missing, &settled);
                        s.last_contact_ms = now;
                        upto = s.applied_from_peer;
                    })?;
                    outcome.applied_upto = Some(upto);
                }
                Ok(outcome)
            })
        })
    }

    /// Automerge sync protocol: applies a peer's message, with the signed commits that came
    /// with it, under the same rules as a batch. Returns the updated state, and whether the
    /// record changed.
    pub fn sync_receive(
        &self,
        peer: &NodeName,
        id: RecordId,
        state: sync::State,
        message: Vec<u8>,
        signatures: Vec<Vec<u8>>,
    ) -> Result<(sync::State, Result<bool, Refusal>), WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            let received = match receive_sync(id, tx.doc(id)?, &state, &message) {
                Ok(received) => received,
                Err(reason) => {
                    let item = IncomingDoc::from(RemoteChanges { id, bytes: message });
                    tx.refuse(&peer, &item, &reason)?;
                    return Ok((state, Err(reason)));
                }
            };
            tx.save_sync_state(&peer, id, &received.state)?;
            let Some(item) = received.changes else {
                return Ok((received.state, Ok(false)));
            };
            // The record's changes go through the same rules as a batch's.
            with_judge(tx, &signatures, |tx, judge| {
                let changed = match tx.apply_one(&peer, &item, judge)? {
                    ApplyResult::Applied => {
                        tx.acknowledge_received(&[id])?;
                        tx.update_peer_state(&peer, |s| s.now_whole(id))?;
                        Ok(true)
                    }
                    ApplyResult::Unchanged | ApplyResult::MissingDeps => Ok(false),
                    ApplyResult::Rejected(reason) => {
                        tx.refuse(&peer, &item, &reason)?;
                        Err(reason)
                    }
                };
                Ok((received.state, changed))
            })
        })
    }
}
