//! What the mesh's tasks share: the store, this node's identity and configuration, the CA
//! that vouches for roster entries, the live connection per peer (at most one: the preferred
//! one when both sides dialed) and what the status command shows per peer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use std::sync::Arc;

use lifeline_core::{NodeName, NodeRole, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::MeshConfig;
use super::fetch::FetchRequest;
use crate::identity::{Anchor, LoadedIdentity, NodeIdentity};
use crate::proto::SessionStats;

/// What the status command shows for one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub name: String,
    pub role: Option<NodeRole>,
    pub connected: bool,
    pub rtt_ms: Option<u64>,
    /// When we last heard from the peer (ms since the epoch).
    pub last_contact_ms: Option<i64>,
    /// Records changed here that the peer has not acknowledged (kept by the store's commits).
    pub to_send: u64,
    /// Changes the peer has that we have not applied (by the peer's feed sequence).
    pub to_receive: u64,
    /// From the last digest comparison: whether both hold exactly the same records.
    pub in_sync: Option<bool>,
    pub peer_records: Option<u64>,
    /// Records from this peer we refused.
    pub rejected: u64,
    /// The same, by reason (see `lifeline_core::store::Refusal::code`).
    #[serde(default)]
    pub refused: BTreeMap<String, u64>,
    /// Roster entries from this peer the hospital CA does not vouch for (this connection).
    #[serde(default)]
    pub roster_refused: u64,
    /// Connections with this peer closed because it broke the protocol.
    #[serde(default)]
    pub violations: u64,
    pub last_error: Option<String>,
    /// Connected, and both sides have sent each other everything: nothing to send, nothing
    /// in flight, nothing to receive as of the peer's hello.
    #[serde(default)]
    pub caught_up: bool,
    /// The peer's feed sequence as of its hello, and ours applied of it: the progress of an
    /// initial sync.
    #[serde(default)]
    pub peer_feed_head: Option<u64>,
    #[serde(default)]
    pub applied_from_peer: u64,
    /// What the peer keeps, from its hello (a window's working set), if not everything.
    #[serde(default)]
    pub peer_keeps_since_ms: Option<i64>,
    /// Since the daemon started: records and bytes of changes sent to and received from the
    /// peer, and records refused from it by reason.
    #[serde(default)]
    pub records_sent: u64,
    #[serde(default)]
    pub bytes_sent: u64,
    #[serde(default)]
    pub records_received: u64,
    #[serde(default)]
    pub bytes_received: u64,
    #[serde(default)]
    pub refused_by_reason: BTreeMap<String, u64>,
    /// Batches in flight right now.
    #[serde(default)]
    pub batches_in_flight: u64,
    /// Since the daemon started: repairs of digests that stayed different with the peer, and
    /// the records it lacked that they sent whole (see `proto`'s repair). Any is a drift a
    /// bug or a hand-copied store left: worth a look.
    #[serde(default)]
    pub repairs: u64,
    #[serde(default)]
    pub records_repaired: u64,
    /// The session last published, to add only what it did since.
    #[serde(skip)]
    pub published: Option<(u64, SessionStats)>,
}

/// Closes a registered connection that a newer one replaces.
pub(super) type Closer = Arc<dyn Fn(&'static [u8]) + Send + Sync>;

struct Active {
    conn_id: u64,
    dialer: NodeName,
    close: Closer,
}

/// The live connection per peer: at most one, the preferred one when both sides dialed.
#[derive(Default)]
pub(super) struct Registry {
    active: Mutex<HashMap<NodeName, Active>>,
}

impl Registry {
    pub(super) fn is_connected(&self, peer: &NodeName) -> bool {
        self.active
            .lock()
            .map(|a| a.contains_key(peer))
            .unwrap_or(false)
    }

    /// Registers a connection with `peer`; false if a preferred one is already there.
    pub(super) fn register(
        &self,
        me: &NodeName,
        peer: &NodeName,
        conn_id: u64,
        dialer: &NodeName,
        close: Closer,
    ) -> bool {
        let Ok(mut active) = self.active.lock() else {
            return false;
        };
        let preferred = std::cmp::min(me, peer).clone();
        if let Some(existing) = active.get(peer) {
            // The same side dialing again means it gave the old connection up (a timeout
            // this side may not have noticed yet): the new one replaces it. Between a
            // connection each side dialed, both keep the one the smaller name dialed.
            let redial = existing.dialer == *dialer;
            if !redial && (existing.dialer == preferred || *dialer != preferred) {
                return false;
            }
            (existing.close)(b"replaced by a newer connection");
        }
        active.insert(
            peer.clone(),
            Active {
                conn_id,
                dialer: dialer.clone(),
                close,
            },
        );
        true
    }

    pub(super) fn unregister(&self, peer: &NodeName, conn_id: u64) {
        // A thread that panicked holding the lock left the map as it was: still usable.
        let mut active = self
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if active.get(peer).is_some_and(|a| a.conn_id == conn_id) {
            active.remove(peer);
        }
    }
}

pub(super) struct Shared {
    pub(super) store: Store,
    pub(super) me: NodeIdentity,
    pub(super) identity: LoadedIdentity,
    pub(super) cfg: MeshConfig,
    pub(super) anchor: Anchor,
    pub(super) registry: Registry,
    status: Mutex<BTreeMap<String, PeerStatus>>,
    pub(super) commits: watch::Receiver<u64>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) next_conn: AtomicU64,
    /// Where to hand a fetch for each connected peer: (connection, its request queue).
    pub(super) fetchers: Mutex<HashMap<NodeName, (u64, tokio::sync::mpsc::Sender<FetchRequest>)>>,
}

impl Shared {
    pub(super) fn new(
        store: Store,
        identity: LoadedIdentity,
        cfg: MeshConfig,
        commits: watch::Receiver<u64>,
        shutdown: watch::Receiver<bool>,
    ) -> Shared {
        Shared {
            me: identity.identity().clone(),
            anchor: identity.anchor().clone(),
            store,
            identity,
            cfg,
            registry: Registry::default(),
            status: Mutex::new(BTreeMap::new()),
            commits,
            shutdown,
            next_conn: AtomicU64::new(1),
            fetchers: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn set_status(&self, peer: &NodeName, f: impl FnOnce(&mut PeerStatus)) {
        if let Ok(mut all) = self.status.lock() {
            let s = all.entry(peer.to_string()).or_insert_with(|| PeerStatus {
                name: peer.to_string(),
                ..PeerStatus::default()
            });
            f(s);
        }
    }

    /// One line per peer: what the connections published, completed from the store for
    /// peers not connected now.
    pub(super) fn status(&self) -> Vec<PeerStatus> {
        let mut out: Vec<PeerStatus> = self
            .status
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        for s in &mut out {
            if let Ok(name) = NodeName::new(s.name.clone())
                && let Ok(state) = self.store.peer_state(&name)
            {
                s.rejected = state.rejected;
                s.applied_from_peer = state.applied_from_peer;
                s.refused = state.refused;
                s.violations = state.violations;
                if !s.connected {
                    s.to_send = self.store.peer_backlog(&name).unwrap_or(0);
                    s.caught_up = false;
                }
                if s.last_contact_ms.is_none() && state.last_contact_ms > 0 {
                    s.last_contact_ms = Some(state.last_contact_ms);
                }
            }
        }
        out
    }

    pub(super) fn is_connected(&self, peer: &NodeName) -> bool {
        self.registry.is_connected(peer)
    }

    pub(super) fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }
}
