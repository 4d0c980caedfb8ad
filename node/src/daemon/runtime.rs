//! The daemon's live state, shared with the API: its config, when it started, the mesh once
//! it runs, the mode the monitor last decided, the HIS bridge where there is one, and where
//! the store's table check is.

use std::sync::{Arc, Mutex};

use lifeline_sync::mesh::{Fetcher, Mesh, PeerStatus};
use tokio::sync::watch;

use super::health::ModeInfo;
use super::table_check::TableCheck;
use crate::config::Config;
use crate::his::bridge::HisLink;

/// The daemon's live state, shared with the API.
pub struct Runtime {
    pub config: Config,
    pub started_ms: i64,
    /// The histograms `/metrics` serves.
    pub metrics: crate::metrics::Metrics,
    mesh: Mutex<Option<Mesh>>,
    mode: Mutex<ModeInfo>,
    /// The mode as a channel, for the HIS bridge (the standby acts only as primary, once
    /// central has been away long enough).
    mode_watch: watch::Sender<ModeInfo>,
    his: Mutex<Option<Arc<HisLink>>>,
    table_check: Mutex<TableCheck>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("node", &self.config.node.name)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with no mesh (tests, and nodes before the mesh starts).
    pub fn new(config: Config, started_ms: i64) -> Runtime {
        let initial = ModeInfo::initial(config.node.role, started_ms);
        Runtime {
            config,
            started_ms,
            metrics: crate::metrics::Metrics::default(),
            mesh: Mutex::new(None),
            mode_watch: watch::Sender::new(initial.clone()),
            mode: Mutex::new(initial),
            his: Mutex::new(None),
            table_check: Mutex::new(TableCheck::NotRun),
        }
    }

    /// Where the store's table check is ([`super::table_check`]).
    pub fn table_check(&self) -> TableCheck {
        self.table_check
            .lock()
            .map(|c| c.clone())
            .unwrap_or(TableCheck::NotRun)
    }

    pub(crate) fn set_table_check(&self, check: TableCheck) {
        if let Ok(mut c) = self.table_check.lock() {
            *c = check;
        }
    }

    pub fn peers(&self) -> Vec<PeerStatus> {
        self.mesh
            .lock()
            .ok()
            .and_then(|m| m.as_ref().map(Mesh::status))
            .unwrap_or_default()
    }

    /// A handle to fetch records from a server through the mesh, once it runs.
    pub fn fetcher(&self) -> Option<Fetcher> {
        self.mesh
            .lock()
            .ok()
            .and_then(|m| m.as_ref().map(Mesh::fetcher))
    }

    pub fn mode(&self) -> ModeInfo {
        self.mode
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub(crate) fn set_mode(&self, info: ModeInfo) {
        self.mode_watch.send_if_modified(|m| {
            let changed = *m != info;
            m.clone_from(&info);
            changed
        });
        if let Ok(mut m) = self.mode.lock() {
            *m = info;
        }
    }

    /// The mode, as it changes.
    pub fn watch_mode(&self) -> watch::Receiver<ModeInfo> {
        self.mode_watch.subscribe()
    }

    /// The HIS bridge, where this node runs one.
    pub fn his(&self) -> Option<Arc<HisLink>> {
        self.his.lock().ok().and_then(|h| h.clone())
    }

    /// Hands the HIS bridge's link over (the daemon, when it starts the bridge).
    pub fn set_his(&self, link: Arc<HisLink>) {
        if let Ok(mut h) = self.his.lock() {
            *h = Some(link);
        }
    }

    /// Hands the running mesh over (once it has started).
    pub(crate) fn set_mesh(&self, mesh: Mesh) {
        if let Ok(mut m) = self.mesh.lock() {
            *m = Some(mesh);
        }
    }

    /// Takes the mesh back, to shut it down.
    pub(crate) fn take_mesh(&self) -> Option<Mesh> {
        self.mesh.lock().ok().and_then(|mut m| m.take())
    }
}
