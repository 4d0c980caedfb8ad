//! The seam between the protocol and storage: [`Replica`] is exactly what a
//! [`Session`](crate::proto::Session) asks of the node's records, and nothing else.
//!
//! Two implementations:
//! - [`lifeline_core::Store`] (in [`store`]): the durable one. Every write is an fsync'd redb
//!   commit, so its methods block; the mesh runs sessions on a blocking thread.
//! - [`MemoryReplica`] (in [`memory`]): Automerge documents in memory, for protocol tests and
//!   simulation. It applies peers' changes under the same checks as the store and is kept
//!   equal to it by tests that drive both the same way; it is not durable.
//!
//! Reads return [`ReadError`], writes [`WriteError`]: the store's own errors, so a session
//! reports a storage failure with its whole chain.

mod memory;
mod store;

use std::sync::Arc;

use lifeline_core::automerge::ChangeHash;
use lifeline_core::automerge::sync;
use lifeline_core::store::{
    ApplyOutcome, Ask, Digest, FeedPage, IncomingDoc, OutgoingDoc, PeerState, Refusal, Scope,
    SyncOut,
};
use lifeline_core::trust::{Admitted, Member, Revocation, Roster};
use lifeline_core::{NodeName, ReadError, RecordId, RecordKind, WriteError};

pub use memory::{MemoryBackup, MemoryError, MemoryReplica, Refused};

/// What a peer's hello says about its feed compared with what we applied of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerFeed {
    /// The peer's feed goes on from where we are: keep our cursor into it.
    Continues,
    /// The peer's feed restarted (a new or restored store): we have applied none of it.
    Restarted,
}

/// A node's records and replication bookkeeping, as the protocol sees them.
///
/// A handle: implementations are cheap to clone and every clone is the same replica, so each
/// of a node's sessions (one per peer) holds its own handle. Methods that change something
/// take `&mut self`; each is one atomic (and, for the store, durable) step.
pub trait Replica {
    /// This node's name, as its hello gives it.
    fn node(&self) -> &NodeName;

    /// Identifies this copy of the node's data: it changes when the data is replaced (a
    /// restore, a new store), so peers know to send history again.
    fn incarnation(&self) -> Result<String, ReadError>;

    /// The latest sequence number of our feed (0 when it is empty).
    fn feed_head(&self) -> Result<u64, ReadError>;

    /// Records changed after sequence `after` to offer `peer`, oldest change first, at most
    /// `limit`: those in `scope` (what the peer keeps) and those it is known to hold. Each
    /// record appears once, at its latest change; with `kinds`, of those kinds only (what
    /// goes ahead of the feed). Looks at a bounded number of feed rows and says how far it
    /// went, whatever their kinds.
    fn feed_page(
        &self,
        peer: &NodeName,
        after: u64,
        limit: usize,
        scope: Scope,
        kinds: Option<&[RecordKind]>,
    ) -> Result<FeedPage, ReadError>;

    /// What we keep about a peer (default for a peer never seen).
    fn peer_state(&self, peer: &NodeName) -> Result<PeerState, ReadError>;

    /// This opening of the node's data: an id new at every open and the feed's head then
    /// (see [`lifeline_core::Store::opening`]).
    fn opening(&self) -> Result<(String, u64), ReadError>;

    /// Remembers the incarnation and opening a peer's hello gave; with
    /// [`PeerFeed::Restarted`], also forgets how far into its feed we had applied.
    fn remember_hello(
        &mut self,
        peer: &NodeName,
        incarnation: String,
        opening: String,
        feed: PeerFeed,
    ) -> Result<(), WriteError>;

    /// A peer found our feed restarted (it rewinds us): this node lost history, and a lessor
    /// relearns it before it leases from its cursor again
    /// ([`lifeline_core::Store::note_history_lost`]).
    fn history_lost(&mut self) -> Result<(), WriteError>;

    /// We hold everything `peer`'s feed held when it greeted us in this opening
    /// ([`lifeline_core::Store::note_caught_up`]).
    fn caught_up(&mut self, peer: &NodeName) -> Result<(), WriteError>;

    /// Forgets what we believed a peer has (it came back with less): its cursor into our
    /// feed restarts at `acked_by_peer` and every record is sent whole.
    fn reset_peer(&mut self, peer: &NodeName, acked_by_peer: u64) -> Result<(), WriteError>;

    /// For each record, the changes the peer is not known to have; records it has entirely
    /// are left out.
    fn outgoing(&self, peer: &NodeName, ids: &[RecordId]) -> Result<Vec<OutgoingDoc>, ReadError>;

    /// Our heads of each record, to offer `peer` before sending its changes: records not
    /// held, and those the peer is known to hold at our heads, are left out.
    fn offer(
        &self,
        peer: &NodeName,
        ids: &[RecordId],
    ) -> Result<Vec<(RecordId, Vec<ChangeHash>)>, ReadError>;

    /// For each record, whether this node wrote its latest changes (all of its heads).
    fn written_here(&self, ids: &[RecordId]) -> Result<Vec<bool>, ReadError>;

    /// A peer offers records at these heads: those held here at every offered head are
    /// recorded as held by the peer (one step), and the others returned, to be asked for
    /// now, or later if another peer was asked for them already ([`Asks`](lifeline_core::store::Asks)).
    fn peer_offers(
        &mut self,
        peer: &NodeName,
        offered: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Result<Vec<(RecordId, Ask)>, WriteError>;

    /// Applies a peer's batch in one step, each record under the rules (checked against the
    /// signed commits that came with it, encoded), and with `peer_cursor` records how far into
    /// the peer's feed everything is now applied. Refused records are left exactly as they
    /// were, counted by reason and recorded.
    fn apply_batch(
        &mut self,
        peer: &NodeName,
        items: Vec<IncomingDoc>,
        signatures: Vec<Vec<u8>>,
        peer_cursor: Option<u64>,
    ) -> Result<ApplyOutcome, WriteError>;

    /// The peer acknowledged our feed up to `upto`, having these records at these heads.
    fn record_ack(
        &mut self,
        peer: &NodeName,
        upto: u64,
        heads: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Result<(), WriteError>;

    /// A summary of the records in a scope and their heads, for the convergence check.
    fn digest(&self, scope: Scope) -> Result<Digest, ReadError>;

    /// Whole records and their heads, to answer a peer's fetch; records not held are left
    /// out.
    fn whole(&self, ids: &[RecordId]) -> Result<Vec<OutgoingDoc>, ReadError>;

    /// The records in `scope` whose digest bucket is one of `buckets`, with our heads, at
    /// most `limit`: offered to a peer whose digest stays different in those buckets.
    fn bucket_heads(
        &self,
        scope: Scope,
        buckets: &[u8],
        limit: usize,
    ) -> Result<Vec<(RecordId, Vec<ChangeHash>)>, ReadError>;

    /// Forgets what we believed `peer` holds of these records (it asked for them after all):
    /// they go to it whole.
    fn forget_peer_heads(&mut self, peer: &NodeName, ids: &[RecordId]) -> Result<(), WriteError>;

    /// Records from `peer` waiting for their dependencies whose digest bucket of `scope` was
    /// just found to agree with the peer's (`agreeing`): they are whole here, however they
    /// were completed, and wait no more. Returns how many were waiting so.
    fn settle_waiting(
        &mut self,
        peer: &NodeName,
        scope: Scope,
        agreeing: &[u8],
    ) -> Result<usize, WriteError>;

    /// Records created during an emergency episode that central has not acknowledged: they
    /// go first on (re)connect.
    fn unreconciled(&self) -> Result<Vec<RecordId>, ReadError>;

    /// The sync-protocol state kept for a record with a peer, or a fresh one.
    fn sync_state(&self, peer: &NodeName, id: RecordId) -> Result<sync::State, ReadError>;

    /// Automerge's sync protocol: our next message for a record, if any, with the signed
    /// commits of the changes it carries.
    fn sync_generate(
        &self,
        id: RecordId,
        state: &mut sync::State,
    ) -> Result<Option<SyncOut>, ReadError>;

    /// Automerge's sync protocol: applies a peer's message under the rules (with the signed
    /// commits that came with it), keeping the state. Returns the new state and whether the
    /// record changed, or why it was refused.
    fn sync_receive(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        state: sync::State,
        message: Vec<u8>,
        signatures: Vec<Vec<u8>>,
    ) -> Result<(sync::State, Result<bool, Refusal>), WriteError>;

    /// Every member and revocation this node holds.
    fn roster(&self) -> Arc<Roster>;

    /// Admits a member whose certificate the caller checked against the CA.
    fn admit(&mut self, member: Member) -> Result<Admitted, WriteError>;

    /// Records a revocation whose CA signature the caller checked.
    fn revoke(&mut self, revocation: Revocation) -> Result<Admitted, WriteError>;
}
