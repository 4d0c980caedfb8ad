//! The replication protocol between two nodes, as a state machine without network I/O.
//!
//! Frames and the time go in ([`Session::handle_frame`], [`Session::handle_timeout`],
//! [`Session::local_commit`]); frames and the next deadline come out
//! ([`Session::poll_transmit`], [`Session::poll_timeout`]). The mesh moves the frames over a
//! QUIC stream; tests move them between two sessions directly, with controlled time and
//! dropped connections. Storage is reached only through a [`Replica`] (the durable store, or
//! a [`MemoryReplica`](crate::replica::MemoryReplica) in tests), and time only through the
//! `now` arguments: nothing here reads a clock, so a session replays exactly.
//!
//! Both sides run the same session. Each pushes what changed in its feed since the cursor the
//! peer acknowledged, as per-record deltas from the heads the peer is known to have, in
//! bounded batches, several in flight at once (a bounded window, [`SessionConfig::window`]):
//! the feed streams without a round trip per batch. The receiver applies each batch in one
//! step (with the store, one durable commit), which also records how far into the sender's
//! feed it has applied, and acks, in order. On (re)connect each side's hello tells the other
//! where to resume, so nothing the peer already has is resent and a peer that lost history
//! (restored from a backup) is sent it again. Records created during an emergency episode go
//! first, offered by id and heads: the peer asks for the ones it lacks, and only those are
//! sent (after an outage every node holds most of the others'); those it has asked another
//! peer for already it asks for later, once. A feed page offers first the records of it
//! another node wrote, and goes once the peer answers, without those it holds: to a server
//! (central or the standby) always, as servers hear from every node and most often hold
//! such a record already; to a window while such offers find a quarter held (after an
//! outage, a window holds most of the others' records through the standby). A record whose
//! delta lacks dependencies continues with Automerge's sync protocol.
//!
//! A window says in its hello what it keeps (`keeps_since_ms`): the other side offers it
//! the records every node keeps and the recent ones, skipping the history it prunes, and
//! both compare digests of that scope only. A window may fetch whole records it no longer
//! keeps ([`Session::request_fetch`]).

mod ahead;
mod error;
mod quiet;
mod receive;
mod repair;
mod send;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use lifeline_core::RecordId;
use lifeline_core::automerge::ChangeHash;
use lifeline_core::automerge::sync;
use lifeline_core::store::Scope;
use lifeline_core::trust::KeyId;

use crate::frame::{Frame, Hello, PROTOCOL_VERSION, WireDigest, WireId};
use crate::identity::{Anchor, NodeIdentity};
use crate::replica::Replica;

pub use error::{SessionError, Violation};
pub(crate) use receive::incoming;

/// Tunables of a session; every field has a default.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Most records in one batch.
    pub batch_docs: usize,
    /// Most bytes of changes in one batch (a single larger record still goes alone).
    pub batch_bytes: usize,
    /// How often to ping the peer.
    pub heartbeat: Duration,
    /// A peer silent this long is gone.
    pub peer_timeout: Duration,
    /// How often to compare digests once caught up.
    pub digest_every: Duration,
    /// Most records in the sync-protocol fallback at once.
    pub max_syncing: usize,
    /// Batches sent and not yet acknowledged, at most: the in-flight window that streams the
    /// feed without waiting for each ack, bounded so that a slow peer is not flooded.
    pub window: usize,
    /// What this node keeps, for its hello: `Some(since)` on a window keeping the records
    /// created since then (besides patients, catalogs and node records); `None` keeps all.
    pub keeps_since_ms: Option<i64>,
    /// Most records a peer's batch may hold (the byte cap is the frame's, 16 MiB): a larger
    /// batch is a protocol violation, refused before anything of it is applied.
    pub max_batch_docs_received: usize,
    /// Most signed commits one batch or sync message may carry.
    pub max_signatures_received: usize,
    /// Most entries (members and revocations) one roster frame may carry.
    pub max_roster_entries: usize,
    /// Most records one offer from a peer may name.
    pub max_offer_docs_received: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            batch_docs: 256,
            batch_bytes: 4 * 1024 * 1024,
            heartbeat: Duration::from_millis(1000),
            peer_timeout: Duration::from_secs(5),
            digest_every: Duration::from_secs(10),
            max_syncing: 1024,
            window: 8,
            keeps_since_ms: None,
            max_batch_docs_received: 1024,
            max_signatures_received: 16_384,
            max_roster_entries: 4096,
            max_offer_docs_received: 4096,
        }
    }
}

/// Counters, for the status command and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub frames_sent: u64,
    pub frames_received: u64,
    pub batches_sent: u64,
    pub docs_sent: u64,
    pub doc_bytes_sent: u64,
    pub docs_received: u64,
    pub doc_bytes_received: u64,
    pub rejected_received: u64,
    /// Records refused from the peer, by the refusal's code.
    pub rejected_by_reason: std::collections::BTreeMap<&'static str, u64>,
    pub sync_messages: u64,
    /// The most batches in flight at once.
    pub max_in_flight: usize,
    /// Roster entries from the peer that the CA does not vouch for.
    pub roster_refused: u64,
    /// Digest repairs, the records they offered, and those sent whole (see `repair`).
    pub repairs: u64,
    pub repair_records_offered: u64,
    pub repair_records_sent: u64,
}

struct InFlight {
    batch: u64,
    upto: Option<u64>,
    heads: Vec<(RecordId, Vec<ChangeHash>)>,
}

/// What this session knows of the peer's convergence with us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convergence {
    pub in_sync: bool,
    pub our_records: u64,
    pub peer_records: u64,
}

/// A record fetched from a peer: its whole document, as stored there, and its heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedDoc {
    pub id: RecordId,
    pub bytes: Vec<u8>,
    pub heads: Vec<ChangeHash>,
}

/// The answer to one fetch: the records the peer holds, and those it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchAnswer {
    pub request: u64,
    pub docs: Vec<FetchedDoc>,
    pub missing: Vec<RecordId>,
}

/// Most records one fetch may ask for.
pub const MAX_FETCH: usize = 64;

/// Numbers sessions within a process, so that whoever publishes a session's counters can
/// tell a new session from the one before.
static NEXT_SESSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// One peer's replication session over a replica `R`.
pub struct Session<R> {
    id: u64,
    replica: R,
    cfg: SessionConfig,
    peer: NodeIdentity,
    anchor: Anchor,
    /// Members and revocations already sent on this connection.
    members_sent: HashSet<KeyId>,
    revocations_sent: HashSet<KeyId>,
    outbox: VecDeque<Frame>,
    peer_hello: Option<Hello>,
    /// Our feed sequence the peer has acknowledged.
    send_cursor: u64,
    /// Our feed sequence batches have been sent up to (ahead of the cursor by what is in
    /// flight).
    sent_upto: u64,
    /// Emergency records still to offer the peer (see [`send::emergency_queue`]): those this node
    /// wrote, then the others.
    own: VecDeque<RecordId>,
    emergency: VecDeque<RecordId>,
    /// This node wrote emergency records and the others' wait until those have landed.
    own_first: bool,
    /// Whether our last offer (the one that says so) is still to go.
    offering: bool,
    /// Offers sent and not answered yet, oldest first.
    offers: VecDeque<send::Offered>,
    /// Whether offering a feed page's relayed records to a window pays.
    relay_yield: send::RelayYield,
    /// Records the peer answered "later" to: a second "later" is taken as asking for it.
    told_later: HashSet<RecordId>,
    next_offer: u64,
    /// Records the peer asked for in its answers to our offers, to send first.
    wanted: VecDeque<RecordId>,
    /// The peer's hello said it offers its emergency records and its last offer has not
    /// come: our feed waits for it, so that nothing the peer offered is sent back to it.
    peer_offering: bool,
    /// We noted (durably) that we hold everything the peer's feed held at its hello.
    noted_caught_up: bool,
    /// Batches sent and not acknowledged yet, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Batches numbered below this were given up by a rewind: their acks, still on the way,
    /// are expected and ignored.
    abandoned_below: u64,
    next_batch: u64,
    next_fetch: u64,
    /// Answers to our fetches, for the caller to take.
    fetched: Vec<FetchAnswer>,
    caught_up: bool,
    syncing: HashMap<RecordId, sync::State>,
    /// Records to sync once fewer than `max_syncing` exchanges are open, oldest first (at
    /// most `send::MOST_QUEUED_SYNCS`; the peer keeps its cursor before any it still lacks, so
    /// one dropped here is sent again after a reconnect).
    sync_queue: VecDeque<RecordId>,
    last_received: Instant,
    next_ping: Instant,
    /// The outstanding ping's nonce and when it went.
    ping: Option<(u64, Instant)>,
    /// Pings sent so far: the next ping's nonce.
    pings_sent: u64,
    rtt: Option<Duration>,
    next_digest: Instant,
    convergence: Option<Convergence>,
    repair: repair::Repair,
    /// What goes ahead of the feed (see [`ahead`]).
    ahead: ahead::Ahead,
    /// Cursor-only pages not sent and acks not recorded yet (see [`quiet`]).
    unwritten: quiet::Unwritten,
    stats: SessionStats,
}

impl<R> std::fmt::Debug for Session<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("peer", &self.peer.name)
            .field("send_cursor", &self.send_cursor)
            .field("caught_up", &self.caught_up)
            .finish_non_exhaustive()
    }
}

fn to_wire(id: RecordId) -> WireId {
    id.to_bytes()
}

impl<R: Replica> Session<R> {
    /// A session with an authenticated peer, checking the roster entries it relays against
    /// `anchor` (the hospital CA). Queues our hello.
    pub fn new(
        replica: R,
        cfg: SessionConfig,
        peer: NodeIdentity,
        anchor: Anchor,
        now: Instant,
    ) -> Result<Session<R>, SessionError> {
        let state = replica.peer_state(&peer.name)?;
        let (own, emergency) = send::emergency_queue(&replica)?;
        let offering = !own.is_empty() || !emergency.is_empty();
        let (opening, opened_feed_head) = replica.opening()?;
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            node: replica.node().to_string(),
            incarnation: replica.incarnation()?,
            feed_head: replica.feed_head()?,
            opening,
            opened_feed_head,
            applied_from_you: state.applied_from_peer,
            keeps_since_ms: cfg.keeps_since_ms,
            offering,
        };
        let mut s = Session {
            id: NEXT_SESSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            replica,
            peer,
            anchor,
            members_sent: HashSet::new(),
            revocations_sent: HashSet::new(),
            outbox: VecDeque::new(),
            peer_hello: None,
            send_cursor: state.acked_by_peer,
            sent_upto: state.acked_by_peer,
            offering,
            own_first: !own.is_empty(),
            own,
            emergency,
            offers: VecDeque::new(),
            relay_yield: send::RelayYield::default(),
            told_later: HashSet::new(),
            next_offer: 1,
            wanted: VecDeque::new(),
            peer_offering: false,
            noted_caught_up: false,
            in_flight: VecDeque::new(),
            abandoned_below: 0,
            next_batch: 1,
            next_fetch: 1,
            fetched: Vec::new(),
            caught_up: false,
            syncing: HashMap::new(),
            sync_queue: VecDeque::new(),
            last_received: now,
            next_ping: now + cfg.heartbeat,
            ping: None,
            pings_sent: 0,
            rtt: None,
            next_digest: now + cfg.digest_every,
            convergence: None,
            repair: repair::Repair::default(),
            ahead: ahead::Ahead::default(),
            unwritten: quiet::Unwritten::new(hello.feed_head),
            stats: SessionStats::default(),
            cfg,
        };
        s.push(Frame::Hello(hello));
        Ok(s)
    }

    pub fn peer(&self) -> &NodeIdentity {
        &self.peer
    }

    /// This session's number, unique within the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The replica this session reads and writes.
    pub fn replica(&self) -> &R {
        &self.replica
    }

    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// Our feed sequence the peer has acknowledged.
    pub fn send_cursor(&self) -> u64 {
        self.send_cursor
    }

    /// True once everything in our feed has been acknowledged and nothing is in flight.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up
            && !self.offering
            && self.offers.is_empty()
            && self.wanted.is_empty()
            && self.in_flight.is_empty()
            && self.syncing.is_empty()
            && self.sync_queue.is_empty()
            && self.repair.queue.is_empty()
            && self.all_written()
    }

    /// Batches sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// What the peer keeps, as its hello said (`None`: everything, or no hello yet).
    pub fn peer_keeps_since_ms(&self) -> Option<i64> {
        self.peer_hello.as_ref().and_then(|h| h.keeps_since_ms)
    }

    /// The scope both sides compare digests over: everything, unless either keeps only a
    /// window's working set, then the records both keep.
    pub fn digest_scope(&self) -> Scope {
        let ours = self.cfg.keeps_since_ms;
        let theirs = self.peer_keeps_since_ms();
        match ours.into_iter().chain(theirs).max() {
            Some(since) => Scope::keeping_since(since),
            None => Scope::All,
        }
    }

    /// Asks the peer for whole records (at most [`MAX_FETCH`]); the answer comes back through
    /// [`Session::take_fetched`] with the returned request number.
    pub fn request_fetch(&mut self, ids: &[RecordId]) -> u64 {
        let request = self.next_fetch;
        self.next_fetch += 1;
        let ids = ids.iter().take(MAX_FETCH).map(|id| to_wire(*id)).collect();
        self.push(Frame::Fetch { request, ids });
        request
    }

    /// Answers to our fetches received so far.
    pub fn take_fetched(&mut self) -> Vec<FetchAnswer> {
        std::mem::take(&mut self.fetched)
    }

    /// The last digest comparison with the peer.
    pub fn convergence(&self) -> Option<&Convergence> {
        self.convergence.as_ref()
    }

    /// Whether the peer's hello has come.
    pub fn greeted(&self) -> bool {
        self.peer_hello.is_some()
    }

    /// The peer's feed head as of its hello.
    pub fn peer_feed_head(&self) -> Option<u64> {
        self.peer_hello.as_ref().map(|h| h.feed_head)
    }

    fn push(&mut self, frame: Frame) {
        self.stats.frames_sent += 1;
        self.outbox.push_back(frame);
    }

    /// Ends the session once the hospital CA has revoked the peer's key (learned from any
    /// peer): its connection closes within a heartbeat.
    fn check_not_revoked(&self) -> Result<(), SessionError> {
        match self.peer.key {
            Some(key) if self.replica.roster().is_revoked(&key) => Err(SessionError::Revoked {
                peer: self.peer.name.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn violation(&self, violation: impl Into<Violation>) -> SessionError {
        SessionError::Protocol {
            peer: self.peer.name.clone(),
            violation: violation.into(),
        }
    }

    /// The next frame to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.outbox.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Instant {
        let mut t = self
            .next_ping
            .min(self.last_received + self.cfg.peer_timeout);
        if self.is_caught_up() {
            t = t.min(self.next_digest);
        }
        t
    }

    /// The peer was heard from at `at`: a frame of its was read off the connection that the
    /// session has not handled yet (it waits behind batches still being applied). A peer
    /// whose frames are arriving is not silent, however slowly this node gets through them.
    pub fn heard_at(&mut self, at: Instant) {
        self.last_received = self.last_received.max(at);
    }

    /// Something was committed locally: push it.
    pub fn local_commit(&mut self) -> Result<(), SessionError> {
        self.caught_up = false;
        self.fill()
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.check_not_revoked()?;
        let silent = now.saturating_duration_since(self.last_received);
        if silent >= self.cfg.peer_timeout {
            return Err(SessionError::Timeout {
                peer: self.peer.name.clone(),
                silent_ms: silent.as_millis(),
            });
        }
        if now >= self.next_ping {
            self.pings_sent += 1;
            let nonce = self.pings_sent;
            self.ping = Some((nonce, now));
            self.push(Frame::Ping { nonce });
            self.next_ping = now + self.cfg.heartbeat;
            // However long this node takes the peer's feed, the peer hears its cursor every
            // heartbeat.
            self.send_unsent_cursor();
        }
        if self.is_caught_up() && now >= self.next_digest {
            let scope = self.digest_scope();
            if self.repair.ask(scope) {
                self.push(Frame::DigestRequest { scope });
            }
            self.next_digest = now + self.cfg.digest_every;
        }
        Ok(())
    }

    pub fn handle_frame(&mut self, frame: Frame, now: Instant) -> Result<(), SessionError> {
        self.check_not_revoked()?;
        self.last_received = now;
        self.stats.frames_received += 1;
        if self.peer_hello.is_none() && !matches!(frame, Frame::Hello(_) | Frame::Goodbye { .. }) {
            return Err(self.violation(Violation::BeforeHello {
                frame: frame.kind(),
            }));
        }
        match frame {
            Frame::Hello(hello) => self.on_hello(hello),
            Frame::Batch(batch) => self.on_batch(batch),
            Frame::Ack(ack) => self.on_ack(ack),
            Frame::Rewind { applied_from_you } => {
                tracing::warn!(peer = %self.peer.name, applied_from_you, "peer asked to rewind");
                // The peer found our feed restarted: this node lost history.
                self.replica.history_lost()?;
                self.replica.reset_peer(&self.peer.name, applied_from_you)?;
                self.send_cursor = applied_from_you;
                self.sent_upto = applied_from_you;
                (self.own, self.emergency) = send::emergency_queue(&self.replica)?;
                self.own_first = !self.own.is_empty();
                self.offering = self.own_first || !self.emergency.is_empty();
                self.ahead = ahead::Ahead::default();
                // What it acknowledged before is lost with it.
                self.drop_unwritten();
                // The peer may have sent acks for batches already in flight before it read
                // our hello: they are still on their way, and are no violation.
                self.abandoned_below = self.next_batch;
                self.in_flight.clear();
                // A page offered before the rewind is sent again from the new cursor; what
                // the peer asks of it goes on its own.
                for offered in &mut self.offers {
                    offered.page = None;
                }
                self.caught_up = false;
                self.fill()
            }
            Frame::Sync {
                id,
                message,
                signatures,
            } => self.on_sync(RecordId::from_bytes(id), message, signatures),
            Frame::Roster {
                members,
                revocations,
            } => self.on_roster(members, revocations),
            Frame::DigestRequest { scope } => {
                let d = self.replica.digest(scope)?;
                self.push(Frame::Digest(WireDigest {
                    scope,
                    records: d.records,
                    buckets: d.buckets,
                }));
                Ok(())
            }
            Frame::Digest(theirs) => self.on_digest(theirs, now),
            Frame::Fetch { request, ids } => self.on_fetch(request, ids),
            Frame::Fetched {
                request,
                docs,
                missing,
            } => {
                self.fetched.push(FetchAnswer {
                    request,
                    docs: docs
                        .into_iter()
                        .map(|d| FetchedDoc {
                            id: RecordId::from_bytes(d.id),
                            bytes: d.bytes,
                            heads: d.heads.into_iter().map(ChangeHash).collect(),
                        })
                        .collect(),
                    missing: missing.into_iter().map(RecordId::from_bytes).collect(),
                });
                Ok(())
            }
            Frame::Offer { offer, docs, last } => self.on_offer(offer, docs, last),
            Frame::Want { offer, ids, later } => self.on_want(offer, ids, later),
            Frame::Ping { nonce } => {
                self.push(Frame::Pong { nonce });
                Ok(())
            }
            Frame::Pong { nonce } => {
                if let Some((sent, at)) = self.ping
                    && sent == nonce
                {
                    self.rtt = Some(now.saturating_duration_since(at));
                    self.ping = None;
                }
                Ok(())
            }
            Frame::Goodbye { reason } => {
                // What it acknowledged before leaving holds.
                self.record_acks()?;
                Err(SessionError::PeerClosed {
                    peer: self.peer.name.clone(),
                    reason,
                })
            }
        }
    }
}
