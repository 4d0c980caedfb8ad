//! What the episode record (in the parent module) keeps of the information department's
//! work during an outage: its estimates of the recovery time.

use autosurgeon::{Hydrate, Reconcile};
use serde::Serialize;

use super::Episode;
use crate::clock::UnixMs;
use crate::id::{NodeName, OperatorName};

/// The information department's estimate of when service comes back (the plan: within 30
/// minutes, find the cause and the time needed to recover).
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Estimate {
    pub at_ms: UnixMs,
    pub node: NodeName,
    pub operator: OperatorName,
    /// Hours from `at_ms` until the system is expected back.
    pub hours: u32,
    /// When that is.
    pub expected_back_ms: UnixMs,
}

impl Episode {
    /// The latest estimate of the recovery time.
    pub fn latest_estimate(&self) -> Option<&Estimate> {
        self.estimates.values().max_by_key(|e| (e.at_ms, &e.node))
    }

    /// Estimates in the order they were made.
    pub fn estimates_in_order(&self) -> Vec<&Estimate> {
        let mut all: Vec<&Estimate> = self.estimates.values().collect();
        all.sort_by_key(|e| (e.at_ms, e.node.to_string()));
        all
    }
}
