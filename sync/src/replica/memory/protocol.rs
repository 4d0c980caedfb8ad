//! [`Replica`] for [`MemoryReplica`]: the store's replication behaviour, step for step, on
//! the in-memory state. Each method holds the lock for its whole step, so a step is atomic
//! as the store's commit is. Nothing here fails: there is no storage to fail.

use lifeline_core::automerge::{ChangeHash, sync};
use lifeline_core::store::{
    ApplyCheck, ApplyOutcome, Digest, FeedPage, IncomingDoc, Merge, OutgoingDoc, PeerState,
    Refusal, Rejected, Scope, merge, receive_sync,
};
use lifeline_core::{NodeName, ReadError, RecordId, WriteError};

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

/// Merges one record's changes and stores the result; see [`merge`].
fn apply_one(
    inner: &mut Inner,
    peer: &NodeName,
    item: &IncomingDoc,
    check: &ApplyCheck,
) -> Applied {
    let merged = merge(inner.doc(item.id), item, &inner.actor, check);
    match merged {
        Merge::Changed { doc, complete } => {
            inner.put(item.id, *doc);
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

/// How far into the peer's feed everything is applied after a batch up to `cursor`: before
/// the first record that lacks dependencies, if any.
fn applied_upto(items: &[IncomingDoc], missing: &[RecordId], cursor: u64) -> u64 {
    let first_missing = items
        .iter()
        .filter(|i| missing.contains(&i.id))
        .map(|i| i.seq)
        .min();
    first_missing.map_or(cursor, |seq| seq.saturating_sub(1).min(cursor))
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
    ) -> Result<FeedPage, ReadError> {
        Ok(self.lock().feed_page(peer, after, limit, scope))
    }

    fn peer_state(&self, peer: &NodeName) -> Result<PeerState, ReadError> {
        Ok(self.lock().peer_state(peer))
    }

    fn remember_hello(
        &mut self,
        peer: &NodeName,
        incarnation: String,
        feed: PeerFeed,
    ) -> Result<(), WriteError> {
        self.lock().update_peer(peer, |s| {
            s.peer_incarnation = Some(incarnation);
            if feed == PeerFeed::Restarted {
                s.applied_from_peer = 0;
            }
        });
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

    fn apply_batch(
        &mut self,
        peer: &NodeName,
        items: Vec<IncomingDoc>,
        peer_cursor: Option<u64>,
        check: Box<ApplyCheck>,
    ) -> Result<ApplyOutcome, WriteError> {
        let mut inner = self.lock();
        let mut outcome = ApplyOutcome::default();
        for item in &items {
            match apply_one(&mut inner, peer, item, check.as_ref()) {
                Applied::Changed => outcome.applied.push(item.id),
                Applied::Unchanged => outcome.unchanged += 1,
                Applied::MissingDeps => outcome.missing_deps.push(item.id),
                Applied::Refused(reason) => {
                    tracing::warn!(%peer, id = %item.id, reason = %reason.detail(), "refused changes from peer");
                    inner.update_peer(peer, |s| s.rejected += 1);
                    inner.refuse(peer, item.id, reason.clone());
                    outcome.rejected.push(Rejected {
                        id: item.id,
                        reason,
                    });
                }
            }
        }
        if let Some(cursor) = peer_cursor {
            let upto = applied_upto(&items, &outcome.missing_deps, cursor);
            let now = inner.clock.now_ms();
            inner.update_peer(peer, |s| {
                s.applied_from_peer = s.applied_from_peer.max(upto);
                s.last_contact_ms = now;
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
    ) -> Result<Option<Vec<u8>>, ReadError> {
        use lifeline_core::automerge::sync::SyncDoc;
        let doc = self.lock().doc(id).cloned().unwrap_or_default();
        Ok(doc.generate_sync_message(state).map(sync::Message::encode))
    }

    fn sync_receive(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        state: sync::State,
        message: Vec<u8>,
        check: Box<ApplyCheck>,
    ) -> Result<(sync::State, Result<bool, Refusal>), WriteError> {
        let mut inner = self.lock();
        let received = match receive_sync(id, inner.doc(id), &state, &message) {
            Ok(received) => received,
            Err(reason) => return Ok((state, Err(reason))),
        };
        // Kept per peer and record, so an exchange cut by a disconnect resumes.
        inner.keep_sync_state(peer, id, &received.state);
        let Some(item) = received.changes else {
            return Ok((received.state, Ok(false)));
        };
        let changed = match apply_one(&mut inner, peer, &item, check.as_ref()) {
            Applied::Changed => Ok(true),
            Applied::Unchanged | Applied::MissingDeps => Ok(false),
            Applied::Refused(reason) => {
                inner.refuse(peer, id, reason.clone());
                Err(reason)
            }
        };
        Ok((received.state, changed))
    }
}
