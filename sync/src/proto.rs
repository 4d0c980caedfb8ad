//! The replication protocol between two nodes, as a state machine without network I/O.
//!
//! Frames and the time go in ([`Session::handle_frame`], [`Session::handle_timeout`],
//! [`Session::local_commit`]); frames and the next deadline come out
//! ([`Session::poll_transmit`], [`Session::poll_timeout`]). The driver moves the frames over a
//! QUIC stream; tests move them between two sessions directly, with controlled time and
//! dropped connections. Storage is reached only through lifeline-core's [`Store`] API.
//!
//! Both sides run the same session. Each pushes what changed in its feed since the cursor the
//! peer acknowledged, as per-record deltas from the heads the peer is known to have, in
//! bounded batches: one round trip per batch. The receiver applies a batch in one durable
//! commit, which also records how far into the sender's feed it has applied, and acks. On
//! (re)connect each side's hello tells the other where to resume, so nothing the peer already
//! has is resent and a peer that lost history (restored from a backup) is sent it again.
//! Records created during an emergency episode go first. A record whose delta lacks
//! dependencies continues with Automerge's sync protocol.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use lifeline_core::automerge::ChangeHash;
use lifeline_core::automerge::sync;
use lifeline_core::store::{IncomingDoc, PeerState, Refusal};
use lifeline_core::{NodeName, ReadError, RecordId, Store, WriteError};

use crate::frame::{Ack, Batch, Frame, Hello, PROTOCOL_VERSION, WireDigest, WireDoc, WireId};
use crate::identity::NodeIdentity;
use crate::permissions::{self, SharedRoster};

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
        }
    }
}

/// Why a session ended. The driver closes the connection with this as the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("protocol violation by {peer}: {reason}")]
    Protocol { peer: NodeName, reason: String },
    #[error("{peer} has been silent for {silent_ms} ms")]
    Timeout { peer: NodeName, silent_ms: u128 },
    #[error("{peer} said goodbye: {reason}")]
    PeerClosed { peer: NodeName, reason: String },
    #[error("store error: {0}")]
    Read(#[from] ReadError),
    #[error("store error: {0}")]
    Write(#[from] WriteError),
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
    pub rejected_received: u64,
    pub sync_messages: u64,
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

/// One peer's replication session.
pub struct Session {
    store: Store,
    cfg: SessionConfig,
    peer: NodeIdentity,
    roster: SharedRoster,
    outbox: VecDeque<Frame>,
    peer_hello: Option<Hello>,
    send_cursor: u64,
    emergency: Option<VecDeque<RecordId>>,
    in_flight: Option<InFlight>,
    next_batch: u64,
    caught_up: bool,
    syncing: HashMap<RecordId, sync::State>,
    last_received: Instant,
    next_ping: Instant,
    ping: Option<(u64, Instant)>,
    rtt: Option<Duration>,
    next_digest: Instant,
    convergence: Option<Convergence>,
    stats: SessionStats,
}

impl std::fmt::Debug for Session {
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

impl Session {
    /// A session with an authenticated peer. Queues our hello.
    pub fn new(
        store: Store,
        cfg: SessionConfig,
        peer: NodeIdentity,
        roster: SharedRoster,
        now: Instant,
    ) -> Result<Session, SessionError> {
        let state = store.peer_state(&peer.name)?;
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            node: store.node().to_string(),
            incarnation: store.incarnation()?,
            feed_head: store.feed_head()?,
            applied_from_you: state.applied_from_peer,
        };
        let mut s = Session {
            store,
            peer,
            roster,
            outbox: VecDeque::new(),
            peer_hello: None,
            send_cursor: state.acked_by_peer,
            emergency: None,
            in_flight: None,
            next_batch: 1,
            caught_up: false,
            syncing: HashMap::new(),
            last_received: now,
            next_ping: now + cfg.heartbeat,
            ping: None,
            rtt: None,
            next_digest: now + cfg.digest_every,
            convergence: None,
            stats: SessionStats::default(),
            cfg,
        };
        s.push(Frame::Hello(hello));
        Ok(s)
    }

    pub fn peer(&self) -> &NodeIdentity {
        &self.peer
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
        self.caught_up && self.in_flight.is_none() && self.syncing.is_empty()
    }

    /// The last digest comparison with the peer.
    pub fn convergence(&self) -> Option<&Convergence> {
        self.convergence.as_ref()
    }

    /// The peer's feed head as of its hello.
    pub fn peer_feed_head(&self) -> Option<u64> {
        self.peer_hello.as_ref().map(|h| h.feed_head)
    }

    fn push(&mut self, frame: Frame) {
        self.stats.frames_sent += 1;
        self.outbox.push_back(frame);
    }

    fn protocol(&self, reason: impl Into<String>) -> SessionError {
        SessionError::Protocol {
            peer: self.peer.name.clone(),
            reason: reason.into(),
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
        if self.caught_up {
            t = t.min(self.next_digest);
        }
        t
    }

    /// Something was committed locally: push it.
    pub fn local_commit(&mut self) -> Result<(), SessionError> {
        self.caught_up = false;
        self.fill()
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        let silent = now.saturating_duration_since(self.last_received);
        if silent >= self.cfg.peer_timeout {
            return Err(SessionError::Timeout {
                peer: self.peer.name.clone(),
                silent_ms: silent.as_millis(),
            });
        }
        if now >= self.next_ping {
            let nonce = self.next_ping.elapsed().as_nanos() as u64 ^ self.stats.frames_sent;
            self.ping = Some((nonce, now));
            self.push(Frame::Ping { nonce });
            self.next_ping = now + self.cfg.heartbeat;
        }
        if self.caught_up && now >= self.next_digest {
            self.push(Frame::DigestRequest);
            self.next_digest = now + self.cfg.digest_every;
        }
        Ok(())
    }

    pub fn handle_frame(&mut self, frame: Frame, now: Instant) -> Result<(), SessionError> {
        self.last_received = now;
        self.stats.frames_received += 1;
        if self.peer_hello.is_none() && !matches!(frame, Frame::Hello(_) | Frame::Goodbye { .. }) {
            return Err(self.protocol(format!("{} before hello", frame.kind())));
        }
        match frame {
            Frame::Hello(hello) => self.on_hello(hello),
            Frame::Batch(batch) => self.on_batch(batch),
            Frame::Ack(ack) => self.on_ack(ack),
            Frame::Rewind { applied_from_you } => {
                tracing::warn!(peer = %self.peer.name, applied_from_you, "peer asked to rewind");
                self.store.reset_peer(&self.peer.name, applied_from_you)?;
                self.send_cursor = applied_from_you;
                self.emergency = None;
                self.in_flight = None;
                self.caught_up = false;
                self.fill()
            }
            Frame::Sync { id, message } => self.on_sync(RecordId::from_bytes(id), message),
            Frame::DigestRequest => {
                let d = self.store.digest()?;
                self.push(Frame::Digest(WireDigest {
                    records: d.records,
                    buckets: d.buckets,
                }));
                Ok(())
            }
            Frame::Digest(theirs) => {
                let ours = self.store.digest()?;
                self.convergence = Some(Convergence {
                    in_sync: ours.records == theirs.records && ours.buckets == theirs.buckets,
                    our_records: ours.records,
                    peer_records: theirs.records,
                });
                Ok(())
            }
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
            Frame::Goodbye { reason } => Err(SessionError::PeerClosed {
                peer: self.peer.name.clone(),
                reason,
            }),
        }
    }

    fn on_hello(&mut self, hello: Hello) -> Result<(), SessionError> {
        if self.peer_hello.is_some() {
            return Err(self.protocol("a second hello"));
        }
        if hello.protocol != PROTOCOL_VERSION {
            return Err(self.protocol(format!(
                "speaks protocol {}, we speak {PROTOCOL_VERSION}",
                hello.protocol
            )));
        }
        permissions::check_hello_name(&self.peer, &hello.node).map_err(|r| self.protocol(r))?;
        let state: PeerState = self.store.peer_state(&self.peer.name)?;
        let new_incarnation = state
            .peer_incarnation
            .as_ref()
            .is_some_and(|seen| *seen != hello.incarnation);
        // The peer has less of our feed than it acknowledged: it lost history.
        if hello.applied_from_you < state.acked_by_peer || new_incarnation {
            tracing::warn!(
                peer = %self.peer.name,
                acked = state.acked_by_peer,
                peer_has = hello.applied_from_you,
                new_incarnation,
                "peer came back with less than it had: resending from its cursor"
            );
            self.store
                .reset_peer(&self.peer.name, hello.applied_from_you)?;
        }
        self.send_cursor = hello.applied_from_you;
        // We have applied more of the peer's feed than the peer now has: its feed restarted.
        let rewind = state.applied_from_peer > hello.feed_head || new_incarnation;
        let incarnation = hello.incarnation.clone();
        self.store.update_peer(&self.peer.name, move |s| {
            s.peer_incarnation = Some(incarnation);
            if rewind {
                s.applied_from_peer = 0;
            }
        })?;
        if rewind {
            tracing::warn!(peer = %self.peer.name, "peer's feed restarted: asking for everything");
            self.push(Frame::Rewind {
                applied_from_you: 0,
            });
        }
        self.peer_hello = Some(hello);
        self.fill()
    }

    fn check(
        &self,
    ) -> impl Fn(&lifeline_core::record::Header, &[String]) -> Result<(), Refusal> + Send + 'static
    {
        let roster = self.roster.clone();
        let peer = self.peer.clone();
        move |header, authors| match roster.read() {
            Ok(r) => permissions::check(&r, &peer, header, authors),
            Err(_) => Err(Refusal::RosterUnavailable),
        }
    }

    fn on_batch(&mut self, batch: Batch) -> Result<(), SessionError> {
        let mut items = Vec::with_capacity(batch.docs.len());
        for doc in batch.docs {
            let heads = doc.heads.into_iter().map(ChangeHash).collect();
            items.push(IncomingDoc {
                id: RecordId::from_bytes(doc.id),
                bytes: doc.bytes,
                sender_heads: heads,
                seq: doc.seq,
            });
        }
        self.stats.docs_received += items.len() as u64;
        let outcome = self
            .store
            .apply_batch(&self.peer.name, items, batch.upto, self.check())?;
        self.stats.rejected_received += outcome.rejected.len() as u64;
        self.push(Frame::Ack(Ack {
            batch: batch.batch,
            applied_upto: outcome.applied_upto,
            missing: outcome.missing_deps.iter().map(|id| to_wire(*id)).collect(),
            rejected: outcome
                .rejected
                .iter()
                .map(|r| (to_wire(r.id), r.reason.detail()))
                .collect(),
        }));
        Ok(())
    }

    fn on_ack(&mut self, ack: Ack) -> Result<(), SessionError> {
        let Some(flight) = self.in_flight.take() else {
            return Err(self.protocol(format!("ack for batch {} that is not in flight", ack.batch)));
        };
        if flight.batch != ack.batch {
            return Err(self.protocol(format!(
                "ack for batch {} while batch {} is in flight",
                ack.batch, flight.batch
            )));
        }
        let missing: Vec<RecordId> = ack
            .missing
            .iter()
            .map(|w| RecordId::from_bytes(*w))
            .collect();
        let rejected: Vec<RecordId> = ack
            .rejected
            .iter()
            .map(|(w, _)| RecordId::from_bytes(*w))
            .collect();
        for (id, reason) in &ack.rejected {
            tracing::warn!(peer = %self.peer.name, id = %RecordId::from_bytes(*id), %reason, "peer refused a record");
        }
        let heads: Vec<(RecordId, Vec<ChangeHash>)> = flight
            .heads
            .into_iter()
            .filter(|(id, _)| !missing.contains(id) && !rejected.contains(id))
            .collect();
        // The sync protocol takes over the records that lacked dependencies, so the cursor
        // moves past them within this session; the peer's own cursor stays before them, so
        // after a reconnect they are sent again.
        let upto = flight
            .upto
            .unwrap_or(self.send_cursor)
            .max(self.send_cursor);
        self.store.record_ack(&self.peer.name, upto, heads)?;
        self.send_cursor = upto;
        for id in missing {
            self.start_sync(id)?;
        }
        self.fill()
    }

    fn start_sync(&mut self, id: RecordId) -> Result<(), SessionError> {
        if self.syncing.len() >= self.cfg.max_syncing || self.syncing.contains_key(&id) {
            return Ok(());
        }
        let mut state = self.store.sync_state(&self.peer.name, id)?;
        if let Some(message) = self.store.sync_generate(id, &mut state)? {
            self.stats.sync_messages += 1;
            self.syncing.insert(id, state);
            self.push(Frame::Sync {
                id: to_wire(id),
                message,
            });
        }
        Ok(())
    }

    fn on_sync(&mut self, id: RecordId, message: Vec<u8>) -> Result<(), SessionError> {
        let state = match self.syncing.remove(&id) {
            Some(s) => s,
            None if self.syncing.len() >= self.cfg.max_syncing => {
                return Err(self.protocol("too many records in the sync protocol at once"));
            }
            None => self.store.sync_state(&self.peer.name, id)?,
        };
        let (mut state, result) =
            self.store
                .sync_receive(&self.peer.name, id, state, message, Box::new(self.check()))?;
        if let Err(reason) = result {
            tracing::warn!(peer = %self.peer.name, %id, %reason, "refused a sync message");
            self.stats.rejected_received += 1;
            return Ok(());
        }
        if let Some(reply) = self.store.sync_generate(id, &mut state)? {
            self.stats.sync_messages += 1;
            self.syncing.insert(id, state);
            self.push(Frame::Sync {
                id: to_wire(id),
                message: reply,
            });
        }
        Ok(())
    }

    /// Sends the next batch if none is in flight: emergency records first, then the feed.
    fn fill(&mut self) -> Result<(), SessionError> {
        if self.peer_hello.is_none() || self.in_flight.is_some() {
            return Ok(());
        }
        if self.emergency.is_none() {
            self.emergency = Some(self.store.unreconciled()?.into_iter().collect());
        }
        // Bounded: each pass sends a batch, or skips emergency records the peer already has.
        for _ in 0..64 {
            let pending: Vec<RecordId> = match self.emergency.as_mut() {
                Some(q) if !q.is_empty() => {
                    let n = q.len().min(self.cfg.batch_docs);
                    q.drain(..n).collect()
                }
                _ => Vec::new(),
            };
            if !pending.is_empty() {
                let docs = self.store.outgoing(&self.peer.name, &pending)?;
                let wire: Vec<(u64, lifeline_core::store::OutgoingDoc)> =
                    docs.into_iter().map(|d| (0, d)).collect();
                if !wire.is_empty() {
                    self.send_batch(None, wire);
                    return Ok(());
                }
                continue;
            }
            let page = self
                .store
                .feed_since(self.send_cursor, self.cfg.batch_docs)?;
            let Some(&(last_seq, _)) = page.last() else {
                self.caught_up = true;
                return Ok(());
            };
            let mut docs = Vec::new();
            let mut bytes = 0;
            let mut upto = last_seq;
            for (seq, id) in page {
                if let Some(doc) = self.store.outgoing(&self.peer.name, &[id])?.pop() {
                    if !docs.is_empty() && bytes + doc.bytes.len() > self.cfg.batch_bytes {
                        upto = seq - 1;
                        break;
                    }
                    bytes += doc.bytes.len();
                    docs.push((seq, doc));
                }
                upto = seq;
            }
            // Even when the peer has all of this page already (e.g. records it sent us), the
            // batch goes, empty: the peer's cursor into our feed is the one that counts on
            // reconnect, and it must move too.
            self.send_batch(Some(upto), docs);
            return Ok(());
        }
        Ok(())
    }

    fn send_batch(
        &mut self,
        upto: Option<u64>,
        docs: Vec<(u64, lifeline_core::store::OutgoingDoc)>,
    ) {
        let batch = self.next_batch;
        self.next_batch += 1;
        let heads = docs.iter().map(|(_, d)| (d.id, d.heads.clone())).collect();
        self.stats.batches_sent += 1;
        self.stats.docs_sent += docs.len() as u64;
        let wire = docs
            .into_iter()
            .map(|(seq, d)| {
                self.stats.doc_bytes_sent += d.bytes.len() as u64;
                WireDoc {
                    id: to_wire(d.id),
                    seq,
                    heads: d.heads.iter().map(|h| h.0).collect(),
                    bytes: d.bytes,
                }
            })
            .collect();
        self.in_flight = Some(InFlight { batch, upto, heads });
        self.push(Frame::Batch(Batch {
            batch,
            upto,
            docs: wire,
        }));
    }
}
