//! [`Replica`] for [`MemoryReplica`]: the store's replication behaviour, step for step, on
//! the in-memory state. Each method holds the lock for its whole step, so a step is atomic
//! as the store's commit is. Nothing here fails: there is no storage to fail.

use std::sync::Arc;

use lifeline_core::automerge::{ChangeHash, sync};
use lifeline_core::store::{
    ApplyOutcome, Ask, Digest, FeedPage, IncomingDoc, Merge, OutgoingDoc, PeerState, Refusal,
    Rejected, Scope, SyncOut, generate_sync, merge, receive_sync,
};
use lifeline_core::trust::{Admitted, Authorship, Judge, Member, Revocation, Roster, Signatures};
use lifeline_core::{NodeName, ReadError, RecordId, RecordKind, WriteError};

use super::MemoryReplica;
use super::state::Inner;
use crate::replica::{PeerFeed, Replica};

/// What applying one record came to.
enum Applied {
    Changed,
    Unchanged,
    MissingDeps,
    Refused(Refusal),
}

/// Merges one record's changes under the rules and stores the result; see [`merge`]. The
/// rules read the replica as it is before this record, as the store's do.
fn apply_one(
    inner: &mut Inner,
    peer: &NodeName,
    item: &IncomingDoc,
    signatures: &mut Signatures,
) -> Applied {
    let roster = Arc::clone(&inner.roster);
    let merged = {
        let view: &Inner = inner;
        let held = |id: &lifeline_core::trust::CommitId| view.holds_commit(id);
        let mut judge = Judge {
            roster: &roster,
            authorship: Authorship::Signed {
                signatures: &mut *signatures,
                held: &held,
            },
            knowledge: view,
        };
        merge(view.doc(item.id), item, &view.actor, &mut judge)
    };
    match merged {
        Merge::Changed {
            doc,
            complete,
            verdict,
            ..
        } => {
            inner.put(item.id, &verdict.header, *doc);
            for (hash, id) in &verdict.signed_by {
                inner.keep_signed(*hash, signatures.commit(id), *id);
            }
            if !complete {
                return Applied::MissingDeps;
            }
            inner.note_peer_heads(peer, item.id, &item.sender_heads);
            Applied::Changed
        }
        Merge::Unchanged => {
            inner.note_peer_heads(peer, item.id, &item.sender_heads);
            Applied::Unchanged
        }
        Merge::MissingDeps => Applied::MissingDeps,
        Merge::Refused(reason) => Applied::Refused(reason),
    }
}

/// Records a refusal as the store does: counted against the peer by reason, and kept.
fn refuse(inner: &mut Inner, peer: &NodeName, id: RecordId, reason: &Refusal) {
    tracing::warn!(%peer, %id, reason = %reason.detail(), "refused changes from peer");
    let code = reason.code();
    inner.update_peer(peer, |s| {
        s.rejected += 1;
        *s.refused.entry(code.to_owned()).or_default() += 1;
    });
    inner.refuse(peer, id, reason.clone());
}

impl Replica for MemoryReplica {
    fn node(&self) -> &NodeName {
        &self.node
    }

    fn incarnation(&self) -> Result<String, ReadError> {
        Ok(self.lock().incarnation.clone())
    }

    fn feed_head(&self) -> Result<u64, ReadError> {
        Ok(self.lock().feed_head())
    }

    fn feed_page(
        &self,
        peer: &NodeName,
        after: u64,
        limit: usize,
        scope: Scope,
        kinds: Option<&[RecordKind]>,
    ) -> Result<FeedPage, ReadError> {
        Ok(self.lock().feed_page(peer, after, limit, scope, kinds))
    }

    fn peer_state(&self, peer: &NodeName) -> Result<PeerState, ReadError> {
        Ok(self.lock().peer_state(peer))
    }

    fn opening(&self) -> Result<(String, u64), ReadError> {
        let inner = self.lock();
        Ok((inner.actor.to_hex_string(), inner.opened_feed_head))
    }

    fn remember_hello(
        &mut self,
        peer: &NodeName,
        incarnation: String,
        opening: String,
        feed: PeerFeed,
    ) -> Result<(), WriteError> {
        self.lock().update_peer(peer, |s| {
            s.peer_incarnation = Some(incarnation);
            s.peer_opening = Some(opening);
            if feed == PeerFeed::Restarted {
                s.peer_feed_restarted();
            }
        });
        Ok(())
    }

    fn history_lost(&mut self) -> Result<(), WriteError> {
        let mut inner = self.lock();
        inner.relearning = Some(inner.actor.to_hex_string());
        Ok(())
    }

    fn caught_up(&mut self, peer: &NodeName) -> Result<(), WriteError> {
        let mut inner = self.lock();
        let opening = inner.actor.to_hex_string();
        inner.update_peer(peer, |s| s.caught_up_in = Some(opening));
        Ok(())
    }

    fn reset_peer(&mut self, peer: &NodeName, acked_by_peer: u64) -> Result<(), WriteError> {
        let mut inner = self.lock();
        inner.update_peer(peer, |s| s.acked_by_peer = acked_by_peer);
        inner.forget_peer_records(peer);
        Ok(())
    }

    fn outgoing(&self, peer: &NodeName, ids: &[RecordId]) -> Result<Vec<OutgoingDoc>, ReadError> {
        Ok(self.lock().outgoing(peer, ids))
    }

    fn offer(
        &self,
        peer: &NodeName,
        ids: &[RecordId],
    ) -> Result<Vec<(RecordId, Vec<ChangeHash>)>, ReadError> {
        Ok(self.lock().offer(peer, ids))
    }

    fn written_here(&self, ids: &[RecordId]) -> Result<Vec<bool>, ReadError> {
        Ok(self.lock().written_here(ids))
    }

    fn peer_offers(
        &mut self,
        peer: &NodeName,
        offered: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Result<Vec<(RecordId, Ask)>, WriteError> {
        Ok(self.lock().peer_offers(peer, offered))
    }

    fn apply_batch(
        &mut self,
        peer: &NodeName,
        items: Vec<IncomingDoc>,
        signatures: Vec<Vec<u8>>,
        peer_cursor: Option<u64>,
    ) -> Result<ApplyOutcome, WriteError> {
        let mut inner = self.lock();
        let mut signatures = inner.signatures(&signatures);
        let mut outcome = ApplyOutcome::default();
        for item in &items {
            match apply_one(&mut inner, peer, item, &mut signatures) {
                Applied::Changed => outcome.applied.push(item.id),
                Applied::Unchanged => outcome.unchanged += 1,
                Applied::MissingDeps => outcome.missing_deps.push(item.id),
                Applied::Refused(reason) => {
                    refuse(&mut inner, peer, item.id, &reason);
                    outcome.rejected.push(Rejected {
                        id: item.id,
                        reason,
                    });
                }
            }
        }
        if let Some(cursor) = peer_cursor {
            let (missing, settled) = outcome.places(&items);
            let now = inner.clock.now_ms();
            let mut upto = cursor;
            inner.update_peer(peer, |s| {
                s.applied_batch(cursor, &missing, &settled);
                s.last_contact_ms = now;
                upto = s.applied_from_peer;
            });
            outcome.applied_upto = Some(upto);
        }
        Ok(outcome)
    }

    fn record_ack(
        &mut self,
        peer: &NodeName,
        upto: u64,
        heads: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Result<(), WriteError> {
        let mut inner = self.lock();
        let now = inner.clock.now_ms();
        // Never beyond our feed's head, as the store (`Store::record_ack`).
        let upto = upto.min(inner.feed_head());
        inner.update_peer(peer, |s| {
            s.acked_by_peer = s.acked_by_peer.max(upto);
            s.last_contact_ms = now;
        });
        for (id, h) in heads {
            inner.set_peer_heads(peer, id, h);
        }
        Ok(())
    }

    fn digest(&self, scope: Scope) -> Result<Digest, ReadError> {
        Ok(self.lock().digest(scope))
    }

    fn whole(&self, ids: &[RecordId]) -> Result<Vec<OutgoingDoc>, ReadError> {
        Ok(self.lock().whole(ids))
    }

    fn bucket_heads(
        &self,
        scope: Scope,
        buckets: &[u8],
        limit: usize,
    ) -> Result<Vec<(RecordId, Vec<ChangeHash>)>, ReadError> {
        Ok(self.lock().bucket_heads(scope, buckets, limit))
    }

    fn forget_peer_heads(&mut self, peer: &NodeName, ids: &[RecordId]) -> Result<(), WriteError> {
        self.lock().forget_peer_heads(peer, ids);
        Ok(())
    }

    fn settle_waiting(
        &mut self,
        peer: &NodeName,
        scope: Scope,
        agreeing: &[u8],
    ) -> Result<usize, WriteError> {
        Ok(self.lock().settle_waiting(peer, scope, agreeing))
    }

    fn unreconciled(&self) -> Result<Vec<RecordId>, ReadError> {
        Ok(self.lock().unreconciled())
    }

    fn sync_state(&self, peer: &NodeName, id: RecordId) -> Result<sync::State, ReadError> {
        Ok(self.lock().sync_state(peer, id))
    }

    fn sync_generate(
        &self,
        id: RecordId,
        state: &mut sync::State,
    ) -> Result<Option<SyncOut>, ReadError> {
        let mut inner = self.lock();
        inner.sign_waiting();
        let Some((message, sent)) = generate_sync(inner.doc(id), state) else {
            return Ok(None);
        };
        Ok(Some(SyncOut {
            message,
            signatures: inner.signatures_of(sent),
        }))
    }

    fn sync_receive(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        state: sync::State,
        message: Vec<u8>,
        signatures: Vec<Vec<u8>>,
    ) -> Result<(sync::State, Result<bool, Refusal>), WriteError> {
        let mut inner = self.lock();
        let received = match receive_sync(id, inner.doc(id), &state, &message) {
            Ok(received) => received,
            Err(reason) => {
                refuse(&mut inner, peer, id, &reason);
                return Ok((state, Err(reason)));
            }
        };
        // Kept per peer and record, so an exchange cut by a disconnect resumes.
        inner.keep_sync_state(peer, id, &received.state);
        let Some(item) = received.changes else {
            return Ok((received.state, Ok(false)));
        };
        let mut signatures = inner.signatures(&signatures);
        let changed = match apply_one(&mut inner, peer, &item, &mut signatures) {
            Applied::Changed => {
                inner.update_peer(peer, |s| s.now_whole(id));
                Ok(true)
            }
            Applied::Unchanged | Applied::MissingDeps => Ok(false),
            Applied::Refused(reason) => {
                refuse(&mut inner, peer, id, &reason);
                Err(reason)
            }
        };
        Ok((received.state, changed))
    }

    fn roster(&self) -> Arc<Roster> {
        Arc::clone(&self.lock().roster)
    }

    fn admit(&mut self, member: Member) -> Result<Admitted, WriteError> {
        Ok(Arc::make_mut(&mut self.lock().roster).admit(member))
    }

    fn revoke(&mut self, revocation: Revocation) -> Result<Admitted, WriteError> {
        Ok(Arc::make_mut(&mut self.lock().roster).revoke(revocation))
    }
}
