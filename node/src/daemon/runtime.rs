//! The daemon's live state, shared with the API: its config, when it started, the mesh once
//! it runs, and the mode the monitor last decided.

use std::sync::Mutex;

use lifeline_sync::mesh::{Fetcher, Mesh, PeerStatus};

use super::health::ModeInfo;
use crate::config::Config;

/// The daemon's live state, shared with the API.
pub struct Runtime {
    pub config: Config,
    pub started_ms: i64,
    /// The histograms `/metrics` serves.
    pub metrics: crate::metrics::Metrics,
    mesh: Mutex<Option<Mesh>>,
    mode: Mutex<ModeInfo>,
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
            mode: Mutex::new(initial),
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
        if let Ok(mut m) = self.mode.lock() {
            *m = info;
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
