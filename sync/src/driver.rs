//! The thin async layer that runs [`Session`]s over QUIC (quinn, mutual TLS).
//!
//! One endpoint per node listens and dials every configured peer, reconnecting with backoff.
//! Each connection carries one bidirectional stream of length-prefixed frames. When two nodes
//! dial each other at once, both keep the connection dialed by the node with the smaller name.
//! The session is fed frames, local commits (from the store's commit hook, so new records go
//! out as they land, without polling) and timeouts; what it emits is written to the stream.
//! Malformed, oversized or undecodable frames close that peer's connection with a logged
//! reason.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeline_core::{NodeName, NodeRole, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::frame::{Frame, FrameError};
use crate::identity::{self, AcceptPolicy, IdentityError, LoadedIdentity, NodeIdentity};
use crate::permissions::{Roster, SharedRoster};
use crate::proto::{Session, SessionConfig, SessionError};

/// A peer this node dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    pub name: NodeName,
    pub role: NodeRole,
    pub addr: SocketAddr,
}

/// How the mesh runs; see the daemon's config for the documented defaults.
#[derive(Debug, Clone)]
pub struct MeshConfig {
    pub listen: SocketAddr,
    pub peers: Vec<PeerAddr>,
    pub accept: AcceptPolicy,
    pub session: SessionConfig,
    /// First and longest wait between dial attempts.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How long a dial may take.
    pub connect_timeout: Duration,
}

impl MeshConfig {
    pub fn new(listen: SocketAddr, peers: Vec<PeerAddr>, accept: AcceptPolicy) -> Self {
        MeshConfig {
            listen,
            peers,
            accept,
            session: SessionConfig::default(),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// Why the mesh could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What the status command shows for one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub name: String,
    pub role: Option<NodeRole>,
    pub connected: bool,
    pub rtt_ms: Option<u64>,
    /// When we last heard from the peer (ms since the epoch).
    pub last_contact_ms: Option<i64>,
    /// Records changed here that the peer has not acknowledged.
    pub to_send: u64,
    /// Changes the peer has that we have not applied (by the peer's feed sequence).
    pub to_receive: u64,
    /// From the last digest comparison: whether both hold exactly the same records.
    pub in_sync: Option<bool>,
    pub peer_records: Option<u64>,
    /// Records from this peer we refused.
    pub rejected: u64,
    pub last_error: Option<String>,
}

struct Active {
    conn_id: u64,
    dialer: NodeName,
    conn: quinn::Connection,
}

struct Shared {
    store: Store,
    me: NodeIdentity,
    identity: LoadedIdentity,
    cfg: MeshConfig,
    roster: SharedRoster,
    active: Mutex<HashMap<NodeName, Active>>,
    status: Mutex<BTreeMap<String, PeerStatus>>,
    commits: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    next_conn: AtomicU64,
}

/// A running mesh. Dropping it without [`Mesh::shutdown`] aborts its tasks.
pub struct Mesh {
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("node", &self.shared.me.name)
            .finish_non_exhaustive()
    }
}

/// Maximum concurrent incoming handshakes, so a flood cannot exhaust the node.
const MAX_INCOMING: usize = 256;

impl Mesh {
    /// Binds the endpoint and starts accepting and dialing.
    pub async fn start(
        store: Store,
        identity: LoadedIdentity,
        cfg: MeshConfig,
    ) -> Result<Mesh, MeshError> {
        identity::install_crypto_provider();
        let mut server = identity::server_config(&identity, cfg.accept.clone())?;
        server.transport_config(transport(&cfg.session));
        let endpoint =
            quinn::Endpoint::server(server, cfg.listen).map_err(|source| MeshError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let (commit_tx, commits) = watch::channel(0u64);
        store.subscribe(Box::new(move |seq| {
            let _ = commit_tx.send(seq);
        }));
        let (stop, shutdown) = watch::channel(false);
        // Who may write what: this node, the nodes it has seen (kept in the store, so a
        // restart does not forget them) and the configured peers' roles.
        let mut roster = Roster::new();
        roster.learn(identity.identity());
        let known = tokio::task::block_in_place(|| store.peers()).unwrap_or_default();
        for (name, state) in known {
            if let Some(role) = state.role {
                roster.learn(&NodeIdentity::new(name, role, state.desks));
            }
        }
        for peer in &cfg.peers {
            roster.learn_role(&peer.name, peer.role);
        }
        let shared = Arc::new(Shared {
            me: identity.identity().clone(),
            store,
            identity,
            roster: roster.shared(),
            active: Mutex::new(HashMap::new()),
            status: Mutex::new(BTreeMap::new()),
            commits,
            shutdown,
            next_conn: AtomicU64::new(1),
            cfg,
        });
        let mut tasks = JoinSet::new();
        let span = tracing::info_span!("mesh", node = %shared.me.name);
        tasks.spawn(accept_loop(shared.clone(), endpoint.clone()).instrument(span.clone()));
        for peer in shared.cfg.peers.clone() {
            shared.set_status(&peer.name, |s| s.role = Some(peer.role));
            tasks.spawn(dial_loop(shared.clone(), endpoint.clone(), peer).instrument(span.clone()));
        }
        tracing::info!(node = %shared.me.name, addr = ?endpoint.local_addr().ok(), "mesh started");
        Ok(Mesh {
            shared,
            endpoint,
            tasks,
            stop,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// One line per peer, for the status command.
    pub fn status(&self) -> Vec<PeerStatus> {
        let store = &self.shared.store;
        let mut out: Vec<PeerStatus> = self
            .shared
            .status
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        for s in &mut out {
            if let Ok(name) = NodeName::new(s.name.clone())
                && let Ok(state) = store.peer_state(&name)
            {
                s.rejected = state.rejected;
                if !s.connected {
                    s.to_send = pending_after(store, state.acked_by_peer);
                }
                if s.last_contact_ms.is_none() && state.last_contact_ms > 0 {
                    s.last_contact_ms = Some(state.last_contact_ms);
                }
            }
        }
        out
    }

    pub fn is_connected(&self, peer: &NodeName) -> bool {
        self.shared
            .active
            .lock()
            .map(|a| a.contains_key(peer))
            .unwrap_or(false)
    }

    /// Says goodbye to every peer and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = self.tasks.join_next() => if next.is_none() { break },
                _ = &mut deadline => { self.tasks.abort_all(); break }
            }
        }
        self.endpoint.close(0u32.into(), b"shutting down");
        self.endpoint.wait_idle().await;
    }
}

/// Records changed after `cursor`, counted up to a bound.
fn pending_after(store: &Store, cursor: u64) -> u64 {
    const BOUND: usize = 1_000_000;
    store
        .feed_since(cursor, BOUND)
        .map(|v| v.len() as u64)
        .unwrap_or(0)
}

fn transport(session: &SessionConfig) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(session.heartbeat));
    if let Ok(idle) = quinn::IdleTimeout::try_from(session.peer_timeout) {
        t.max_idle_timeout(Some(idle));
    }
    t.max_concurrent_uni_streams(0u32.into());
    t.max_concurrent_bidi_streams(1u32.into());
    Arc::new(t)
}

impl Shared {
    fn set_status(&self, peer: &NodeName, f: impl FnOnce(&mut PeerStatus)) {
        if let Ok(mut all) = self.status.lock() {
            let s = all.entry(peer.to_string()).or_insert_with(|| PeerStatus {
                name: peer.to_string(),
                ..PeerStatus::default()
            });
            f(s);
        }
    }

    /// Registers a connection with `peer`; false if a preferred one is already there.
    fn register(
        &self,
        peer: &NodeName,
        conn_id: u64,
        dialer: &NodeName,
        conn: &quinn::Connection,
    ) -> bool {
        let Ok(mut active) = self.active.lock() else {
            return false;
        };
        let preferred = std::cmp::min(&self.me.name, peer).clone();
        if let Some(existing) = active.get(peer) {
            // The same side dialing again means it gave the old connection up (a timeout
            // this side may not have noticed yet): the new one replaces it. Between a
            // connection each side dialed, both keep the one the smaller name dialed.
            let redial = existing.dialer == *dialer;
            if !redial && (existing.dialer == preferred || *dialer != preferred) {
                return false;
            }
            existing
                .conn
                .close(1u32.into(), b"replaced by a newer connection");
        }
        active.insert(
            peer.clone(),
            Active {
                conn_id,
                dialer: dialer.clone(),
                conn: conn.clone(),
            },
        );
        true
    }

    fn unregister(&self, peer: &NodeName, conn_id: u64) {
        if let Ok(mut active) = self.active.lock()
            && active.get(peer).is_some_and(|a| a.conn_id == conn_id)
        {
            active.remove(peer);
        }
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }
}

async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    let mut shutdown = shared.shutdown.clone();
    let mut handshakes = JoinSet::new();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i { Some(i) => i, None => break },
            _ = shutdown.changed() => break,
        };
        while handshakes.try_join_next().is_some() {}
        if handshakes.len() >= MAX_INCOMING {
            incoming.refuse();
            continue;
        }
        let shared = shared.clone();
        handshakes.spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(conn) => match identity::peer_identity(&conn) {
                    Ok(peer) => {
                        let dialer = peer.name.clone();
                        run_connection(shared, conn, peer, dialer, Side::Acceptor).await;
                    }
                    Err(e) => {
                        tracing::warn!(%remote, error = %e, "refused a peer without a usable identity");
                        conn.close(2u32.into(), b"no usable identity");
                    }
                },
                Err(e) => tracing::warn!(%remote, error = %e, "incoming handshake failed"),
            }
        });
    }
    handshakes.abort_all();
}

async fn dial_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint, peer: PeerAddr) {
    let mut backoff = shared.cfg.reconnect_min;
    let mut shutdown = shared.shutdown.clone();
    let client = match identity::client_config_for(&shared.identity, &peer.name, peer.role) {
        Ok(mut c) => {
            c.transport_config(transport(&shared.cfg.session));
            c
        }
        Err(e) => {
            tracing::error!(peer = %peer.name, error = %e, "cannot build a client config; not dialing");
            return;
        }
    };
    while !shared.stopping() {
        let connected = shared
            .active
            .lock()
            .map(|a| a.contains_key(&peer.name))
            .unwrap_or(false);
        if !connected {
            let server_name = identity::server_name(&peer.name);
            let attempt = endpoint.connect_with(client.clone(), peer.addr, &server_name);
            match attempt {
                Ok(connecting) => {
                    match tokio::time::timeout(shared.cfg.connect_timeout, connecting).await {
                        Ok(Ok(conn)) => {
                            backoff = shared.cfg.reconnect_min;
                            match identity::peer_identity(&conn) {
                                Ok(id) => {
                                    let me = shared.me.name.clone();
                                    run_connection(shared.clone(), conn, id, me, Side::Dialer)
                                        .await;
                                }
                                Err(e) => {
                                    tracing::warn!(peer = %peer.name, error = %e, "peer has no usable identity");
                                    conn.close(2u32.into(), b"no usable identity");
                                }
                            }
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %peer.name, error = %e, "dial failed");
                            shared.set_status(&peer.name, |s| s.last_error = Some(e.to_string()));
                        }
                        Err(_) => {
                            tracing::debug!(peer = %peer.name, "dial timed out");
                            shared.set_status(&peer.name, |s| {
                                s.last_error = Some("dial timed out".into())
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(peer = %peer.name, error = %e, "cannot dial");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => break,
        }
        backoff = (backoff * 2).min(shared.cfg.reconnect_max);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Dialer,
    Acceptor,
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnEnd {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("stream: {0}")]
    Io(String),
    #[error("closed")]
    Closed,
    #[error("shutting down")]
    Shutdown,
}

async fn run_connection(
    shared: Arc<Shared>,
    conn: quinn::Connection,
    peer: NodeIdentity,
    dialer: NodeName,
    side: Side,
) {
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let span =
        tracing::info_span!("peer", node = %shared.me.name, peer = %peer.name, conn = conn_id);
    async move {
        if !shared.register(&peer.name, conn_id, &dialer, &conn) {
            tracing::debug!("duplicate connection; keeping the preferred one");
            conn.close(1u32.into(), b"duplicate connection");
            return;
        }
        if let Ok(mut r) = shared.roster.write() {
            r.learn(&peer);
        }
        let (role, desks) = (peer.role, peer.desks.clone());
        let remembered = tokio::task::block_in_place(|| {
            shared.store.update_peer(&peer.name, move |s| {
                s.role = Some(role);
                s.desks = desks;
            })
        });
        if let Err(e) = remembered {
            tracing::warn!(error = %e, "cannot remember the peer's identity");
        }
        shared.set_status(&peer.name, |s| {
            s.connected = true;
            s.role = Some(peer.role);
            s.last_error = None;
        });
        tracing::info!(role = %peer.role, "connected");
        let end = drive(&shared, &conn, &peer, side).await;
        let reason = end.to_string();
        match &end {
            ConnEnd::Shutdown => tracing::info!("disconnected: shutting down"),
            ConnEnd::Closed => tracing::info!("disconnected"),
            _ => tracing::warn!(reason = %reason, "closing the connection"),
        }
        conn.close(3u32.into(), reason.as_bytes());
        shared.unregister(&peer.name, conn_id);
        shared.set_status(&peer.name, |s| {
            s.connected = false;
            s.rtt_ms = None;
            if !matches!(end, ConnEnd::Shutdown | ConnEnd::Closed) {
                s.last_error = Some(reason);
            }
        });
    }
    .instrument(span)
    .await;
}

async fn read_frames(mut recv: quinn::RecvStream, tx: mpsc::Sender<Result<Frame, ConnEnd>>) {
    loop {
        let mut prefix = [0u8; 4];
        let result = match recv.read_exact(&mut prefix).await {
            Err(quinn::ReadExactError::FinishedEarly(0)) => Err(ConnEnd::Closed),
            Err(e) => Err(ConnEnd::Io(e.to_string())),
            Ok(()) => match Frame::body_len(prefix) {
                Err(e) => Err(ConnEnd::Frame(e)),
                Ok(len) => {
                    let mut body = vec![0u8; len];
                    match recv.read_exact(&mut body).await {
                        Err(e) => {
                            tracing::debug!(error = %e, "stream ended inside a frame");
                            Err(ConnEnd::Frame(FrameError::Truncated { have: 0, need: len }))
                        }
                        Ok(()) => Frame::decode_body(&body).map_err(ConnEnd::Frame),
                    }
                }
            },
        };
        let stop = result.is_err();
        if tx.send(result).await.is_err() || stop {
            return;
        }
    }
}

async fn drive(
    shared: &Arc<Shared>,
    conn: &quinn::Connection,
    peer: &NodeIdentity,
    side: Side,
) -> ConnEnd {
    let streams = match side {
        Side::Dialer => conn.open_bi().await,
        Side::Acceptor => conn.accept_bi().await,
    };
    let (mut send, recv) = match streams {
        Ok(s) => s,
        Err(e) => return ConnEnd::Io(e.to_string()),
    };
    let (tx, mut rx) = mpsc::channel(16);
    let reader = tokio::spawn(read_frames(recv, tx));
    let roster = shared.roster.clone();
    let session = tokio::task::block_in_place(|| {
        Session::new(
            shared.store.clone(),
            shared.cfg.session.clone(),
            peer.clone(),
            roster,
            Instant::now(),
        )
    });
    let mut session = match session {
        Ok(s) => s,
        Err(e) => return ConnEnd::Session(e),
    };
    let mut commits = shared.commits.clone();
    commits.borrow_and_update();
    let mut shutdown = shared.shutdown.clone();
    let end = loop {
        while let Some(frame) = session.poll_transmit() {
            let bytes = match frame.encode() {
                Ok(b) => b,
                Err(e) => return ConnEnd::Frame(e),
            };
            if let Err(e) = send.write_all(&bytes).await {
                return ConnEnd::Io(e.to_string());
            }
        }
        publish(shared, &session);
        let deadline = tokio::time::Instant::from_std(session.poll_timeout());
        let step = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Ok(frame)) => tokio::task::block_in_place(|| session.handle_frame(frame, Instant::now())).map_err(ConnEnd::from),
                Some(Err(end)) => Err(end),
                None => Err(ConnEnd::Closed),
            },
            changed = commits.changed() => match changed {
                Ok(()) => tokio::task::block_in_place(|| session.local_commit()).map_err(ConnEnd::from),
                Err(_) => Err(ConnEnd::Shutdown),
            },
            _ = tokio::time::sleep_until(deadline) => {
                tokio::task::block_in_place(|| session.handle_timeout(Instant::now())).map_err(ConnEnd::from)
            }
            _ = shutdown.changed() => Err(ConnEnd::Shutdown),
        };
        if let Err(end) = step {
            break end;
        }
    };
    if matches!(end, ConnEnd::Shutdown) {
        if let Ok(bytes) = (Frame::Goodbye {
            reason: "shutting down".into(),
        })
        .encode()
        {
            let _ = send.write_all(&bytes).await;
        }
        let _ = send.finish();
    }
    reader.abort();
    end
}

fn publish(shared: &Shared, session: &Session) {
    let to_send = if session.is_caught_up() {
        0
    } else {
        pending_after(&shared.store, session.send_cursor())
    };
    let applied = shared
        .store
        .peer_state(&session.peer().name)
        .map(|s| s.applied_from_peer)
        .unwrap_or(0);
    let to_receive = session
        .peer_feed_head()
        .map(|h| h.saturating_sub(applied))
        .unwrap_or(0);
    let now_ms = shared.store.now_ms();
    shared.set_status(&session.peer().name, |s| {
        s.rtt_ms = session.rtt().map(|d| d.as_millis() as u64);
        s.last_contact_ms = Some(now_ms);
        s.to_send = to_send;
        s.to_receive = to_receive;
        if let Some(c) = session.convergence() {
            s.in_sync = Some(c.in_sync);
            s.peer_records = Some(c.peer_records);
        }
    });
}
