//! The mesh: the thin async layer that runs [`Session`](crate::proto::Session)s with every
//! peer over QUIC (quinn, mutual TLS).
//!
//! One endpoint per node listens and dials every configured peer, reconnecting with backoff
//! ([`dial`]). Each connection carries one bidirectional stream of length-prefixed frames
//! ([`connection`]). When two nodes dial each other at once, both keep the connection dialed
//! by the node with the smaller name ([`shared`]). The session is fed frames, local commits
//! (from the store's commit hook, so new records go out as they land, without polling) and
//! timeouts; what it emits is written to the stream.
//!
//! The session's work (which makes fsync'd commits) runs on tokio's blocking pool, one call
//! at a time, the session moved there and back ([`step`]); the async tasks only do I/O, so
//! the mesh runs on any tokio runtime, single-threaded included.

mod connection;
mod dial;
mod end;
mod fetch;
mod shared;
mod step;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lifeline_core::{NodeName, NodeRole, RecordId, Store};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::identity::{self, AcceptPolicy, IdentityError, LoadedIdentity};
use crate::proto::{FetchAnswer, MAX_FETCH, SessionConfig};
use shared::Shared;

pub use fetch::{FETCH_TIMEOUT, FetchError};
pub use shared::PeerStatus;

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
    /// How long a dial waits for the peer to answer at all before it is tried again after
    /// `reconnect_min` (see `dial.rs`: quinn does not hear that nobody listens). A peer that
    /// answers has the rest of `connect_timeout`.
    pub answer_timeout: Duration,
    /// On a window: the days of records it keeps (`[retention] window_days`), told to peers
    /// in the hello so that they offer only those (with the records every node keeps).
    /// `None` keeps everything.
    pub window_days: Option<u32>,
    /// Merge and judge each batch a peer sends as it is read, ahead of its session, so that
    /// the store's writer only persists it (see `Store::prepare_batch`). On by default; off,
    /// every batch is merged on the writer (the replication benchmark compares the two).
    pub prepare_batches: bool,
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
            answer_timeout: Duration::from_millis(500),
            window_days: None,
            prepare_batches: true,
        }
    }
}

/// Why the mesh could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the store cannot take the node's signing key")]
    Signing(#[source] lifeline_core::WriteError),
    #[error("the store's thread failed")]
    Worker(#[source] tokio::task::JoinError),
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

impl Mesh {
    /// Gives the store the node's signing key (its changes made without one are signed as
    /// they first leave it),
    /// binds the endpoint and starts accepting and dialing. Peers whose keys the roster says
    /// are revoked are refused at every handshake.
    pub async fn start(
        store: Store,
        mut identity: LoadedIdentity,
        cfg: MeshConfig,
    ) -> Result<Mesh, MeshError> {
        identity::install_crypto_provider();
        let credentials = identity.credentials()?;
        let signing = store.clone();
        tokio::task::spawn_blocking(move || signing.take_credentials(credentials))
            .await
            .map_err(MeshError::Worker)?
            .map_err(MeshError::Signing)?;
        let roster = store.clone();
        identity.set_revocations(Arc::new(move |key| roster.roster().is_revoked(key)));
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
        let shared = Arc::new(Shared::new(store, identity, cfg, commits, shutdown));
        let mut tasks = JoinSet::new();
        let span = tracing::info_span!("mesh", node = %shared.me.name);
        tasks.spawn(dial::accept_loop(shared.clone(), endpoint.clone()).instrument(span.clone()));
        for peer in shared.cfg.peers.clone() {
            shared.set_status(&peer.name, |s| s.role = Some(peer.role));
            let dialing = dial::dial_loop(shared.clone(), endpoint.clone(), peer);
            tasks.spawn(dialing.instrument(span.clone()));
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

    /// One line per peer, for the status command. Reads the store.
    pub fn status(&self) -> Vec<PeerStatus> {
        self.shared.status()
    }

    pub fn is_connected(&self, peer: &NodeName) -> bool {
        self.shared.is_connected(peer)
    }

    /// A handle that fetches records through this mesh (see [`Fetcher::fetch`]).
    pub fn fetcher(&self) -> Fetcher {
        Fetcher {
            shared: self.shared.clone(),
        }
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

/// Fetches records from a server through a running mesh; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Fetches whole records from a connected server (central first, then the standby),
    /// without storing them: for a window asked for records it no longer keeps. Waits at most
    /// [`FETCH_TIMEOUT`].
    pub async fn fetch(&self, ids: Vec<RecordId>) -> Result<(NodeName, FetchAnswer), FetchError> {
        if ids.len() > MAX_FETCH {
            return Err(FetchError::TooMany { asked: ids.len() });
        }
        let connected: Vec<(NodeName, Option<NodeRole>)> = self
            .shared
            .status()
            .into_iter()
            .filter(|p| p.connected)
            .filter_map(|p| NodeName::new(p.name).ok().map(|n| (n, p.role)))
            .collect();
        let Some(server) = fetch::servers(&connected).into_iter().next() else {
            return Err(FetchError::NoServer);
        };
        let queue = self
            .shared
            .fetchers
            .lock()
            .ok()
            .and_then(|f| f.get(&server).map(|(_, q)| q.clone()));
        let Some(queue) = queue else {
            return Err(FetchError::NoServer);
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let lost = || FetchError::ConnectionLost {
            server: server.clone(),
        };
        queue
            .send(fetch::FetchRequest { ids, reply })
            .await
            .map_err(|_| lost())?;
        match tokio::time::timeout(FETCH_TIMEOUT, answer).await {
            Ok(Ok(answer)) => Ok((server, answer)),
            Ok(Err(_)) => Err(lost()),
            Err(_) => Err(FetchError::Timeout { server }),
        }
    }
}

/// The round trip a connection assumes before it has measured one. quinn's default (333 ms,
/// RFC 9002's for an unknown path) paces the retransmission of a handshake's first packet
/// at about 1 s, then 2 s: a dial sent while its peer was down (a window dialing central
/// through an outage) hears nothing until then after the peer comes back, or times out
/// first (`connect_timeout`, 3 s) and waits for the next dial. The mesh runs on the
/// hospital's network, where a round trip is a millisecond or less: with 50 ms the first
/// packet is sent again after about 175 ms, 350, 700, 1,400, and a node back from an outage
/// hears its peers within a second or so. Measured round trips replace it at once.
const INITIAL_RTT: Duration = Duration::from_millis(50);

fn transport(session: &SessionConfig) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.initial_rtt(INITIAL_RTT);
    t.keep_alive_interval(Some(session.heartbeat));
    if let Ok(idle) = quinn::IdleTimeout::try_from(session.peer_timeout) {
        t.max_idle_timeout(Some(idle));
    }
    t.max_concurrent_uni_streams(0u32.into());
    t.max_concurrent_bidi_streams(1u32.into());
    Arc::new(t)
}
