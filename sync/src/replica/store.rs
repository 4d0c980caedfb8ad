//! [`Replica`] for the durable store: each method is the store's own, so a session on a
//! [`Store`] behaves exactly as the store's replication API says. Writes block until their
//! redb commit has returned.

use std::sync::Arc;

use lifeline_core::automerge::ChangeHash;
use lifeline_core::automerge::sync;
use lifeline_core::store::{
    ApplyOutcome, Ask, Digest, FeedPage, IncomingDoc, OutgoingDoc, PeerState, Refusal, Scope,
    SyncOut,
};
use lifeline_core::trust::{Admitted, Member, Revocation, Roster};
use lifeline_core::{NodeName, ReadError, RecordId, RecordKind, Store, WriteError};

use super::{PeerFeed, Replica};

impl Replica for Store {
    fn node(&self) -> &NodeName {
        Store::node(self)
    }

    fn incarnation(&self) -> Result<String, ReadError> {
        Store::incarnation(self)
    }

    fn feed_head(&self) -> Result<u64, ReadError> {
        Store::feed_head(self)
    }

    fn feed_page(
        &self,
        peer: &NodeName,
        after: u64,
        limit: usize,
        scope: Scope,
        kinds: Option<&[RecordKind]>,
    ) -> Result<FeedPage, ReadError> {
        Store::feed_page(self, peer, after, limit, scope, kinds)
    }

    fn peer_state(&self, peer: &NodeName) -> Result<PeerState, ReadError> {
        Store::peer_state(self, peer)
    }

    fn opening(&self) -> Result<(String, u64), ReadError> {
        Ok(Store::opening(self))
    }

    fn remember_hello(
        &mut self,
        peer: &NodeName,
        incarnation: String,
        opening: String,
        feed: PeerFeed,
    ) -> Result<(), WriteError> {
        self.update_peer(peer, move |s| {
            s.peer_incarnation = Some(incarnation);
            s.peer_opening = Some(opening);
            if feed == PeerFeed::Restarted {
                s.peer_feed_restarted();
            }
        })
        .map(drop)
    }

    fn history_lost(&mut self) -> Result<(), WriteError> {
        Store::note_history_lost(self)
    }

    fn caught_up(&mut self, peer: &NodeName) -> Result<(), WriteError> {
        Store::note_caught_up(self, peer)
    }

    fn reset_peer(&mut self, peer: &NodeName, acked_by_peer: u64) -> Result<(), WriteError> {
        Store::reset_peer(self, peer, acked_by_peer)
    }

    fn outgoing(&self, peer: &NodeName, ids: &[RecordId]) -> Result<Vec<OutgoingDoc>, ReadError> {
        Store::outgoing(self, peer, ids)
    }

    fn offer(
        &self,
        peer: &NodeName,
        ids: &[RecordId],
    ) -> Result<Vec<(RecordId, Vec<ChangeHash>)>, ReadError> {
        Store::offer(self, peer, ids)
    }

    fn written_here(&self, ids: &[RecordId]) -> Result<Vec<bool>, ReadError> {
        Store::written_here(self, ids)
    }

    fn peer_offers(
        &mut self,
        peer: &NodeName,
        offered: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Result<Vec<(RecordId, Ask)>, WriteError> {
        Store::peer_offers(self, peer, offered)
    }

    fn apply_batch(
        &mut self,
        peer: &NodeName,
        items: Vec<IncomingDoc>,
        signatures: Vec<Vec<u8>>,
        peer_cursor: Option<u64>,
    ) -> Result<ApplyOutcome, WriteError> {
        Store::apply_batch(self, peer, items, signatures, peer_cursor)
    }

    fn record_ack(
        &mut self,
        peer: &NodeName,
        upto: u64,
        heads: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Result<(), WriteError> {
        Store::record_ack(self, peer, upto, heads)
    }

    fn digest(&self, scope: Scope) -> Result<Digest, ReadError> {
        Store::digest_of(self, scope)
    }

    fn whole(&self, ids: &[RecordId]) -> Result<Vec<OutgoingDoc>, ReadError> {
        Store::whole(self, ids)
    }

    fn bucket_heads(
        &self,
        scope: Scope,
        buckets: &[u8],
        limit: usize,
    ) -> Result<Vec<(RecordId, Vec<ChangeHash>)>, ReadError> {
        Store::bucket_heads(self, scope, buckets, limit)
    }

    fn forget_peer_heads(&mut self, peer: &NodeName, ids: &[RecordId]) -> Result<(), WriteError> {
        Store::forget_peer_heads(self, peer, ids)
    }

    fn settle_waiting(
        &mut self,
        peer: &NodeName,
        scope: Scope,
        agreeing: &[u8],
    ) -> Result<usize, WriteError> {
        Store::settle_waiting(self, peer, scope, agreeing)
    }

    fn unreconciled(&self) -> Result<Vec<RecordId>, ReadError> {
        Store::unreconciled(self)
    }

    fn sync_state(&self, peer: &NodeName, id: RecordId) -> Result<sync::State, ReadError> {
        Store::sync_state(self, peer, id)
    }

    fn sync_generate(
        &self,
        id: RecordId,
        state: &mut sync::State,
    ) -> Result<Option<SyncOut>, ReadError> {
        Store::sync_generate(self, id, state)
    }

    fn sync_receive(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        state: sync::State,
        message: Vec<u8>,
        signatures: Vec<Vec<u8>>,
    ) -> Result<(sync::State, Result<bool, Refusal>), WriteError> {
        Store::sync_receive(self, peer, id, state, message, signatures)
    }

    fn roster(&self) -> Arc<Roster> {
        Store::roster(self)
    }

    fn admit(&mut self, member: Member) -> Result<Admitted, WriteError> {
        self.admit_member(member)
    }

    fn revoke(&mut self, revocation: Revocation) -> Result<Admitted, WriteError> {
        Store::revoke(self, revocation)
    }
}
