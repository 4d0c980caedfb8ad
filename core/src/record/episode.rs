//! The emergency episode as a record: one per outage, replicated so that every node agrees
//! on it; the nodes that took part, when each saw the system of record back and when each
//! had reconciled; the information department's estimates and the cause; drills apart.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use super::{Header, Record, RecordKind};
use crate::clock::UnixMs;
use crate::id::{EpisodeId, NodeName, OperatorName};

/// Document key reserved to central in every record. Central once stamped each emergency
/// record it had received here; it now writes receipts ([`super::Receipt`]) and nothing reads
/// the key, but the rules still refuse it from any other author, so no record carries a
/// forged acknowledgement.
pub const CENTRAL_ACK_KEY: &str = "central_ack";

/// Document key of the episodes a desk changed a record from the HIS in: a map of episode id
/// to when it was first changed in it. Such a record was not created in the episode (its
/// header names none) but what was done to it in the outage (a morning prescription
/// dispensed, a morning charge settled) goes back to the HIS with the episode's records.
pub const EPISODE_EDITS_KEY: &str = "episode_edits";

/// One node's part in an emergency episode.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct EpisodeNode {
    pub joined_ms: UnixMs,
    /// When this node saw the system of record back (the outage over for it): from then on
    /// it writes normal records again.
    #[autosurgeon(missing = "Default::default")]
    pub recovered_ms: Option<UnixMs>,
    /// When this node left the episode: everything it held from the episode reached central
    /// (or an administrator stopped it).
    pub left_ms: Option<UnixMs>,
    /// The reference data this node worked from: catalog versions and when they last
    /// changed, so the report can say how old the prices were.
    pub drug_catalog_version: u64,
    pub service_catalog_version: u64,
    pub catalog_changed_ms: Option<UnixMs>,
}

/// An emergency episode ("YJ"), replicated so that every node agrees on one per outage.
///
/// It is *open* while the outage lasts. It *closes* (`closed_ms`, which fixes its duration
/// and grade) when every node in it has seen the system of record back, or when an
/// administrator stops it; each node then *leaves* once what it wrote during the episode
/// has reached central.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Episode {
    pub header: Header,
    pub episode_id: EpisodeId,
    pub reason: String,
    /// Opened automatically (central unreachable) or by an administrator.
    pub automatic: bool,
    pub opened_ms: UnixMs,
    /// When the outage ended.
    pub closed_ms: Option<UnixMs>,
    pub closed_by: Option<OperatorName>,
    pub nodes: BTreeMap<String, EpisodeNode>,
    /// Set when this episode was opened independently during the same outage as another:
    /// the survivor that every node now reports under.
    pub merged_into: Option<EpisodeId>,
    /// A drill (`lifeline emergency start --drill`): the whole procedure, on records marked
    /// as a drill, graded and reported apart, never counted as an outage.
    #[autosurgeon(missing = "Default::default")]
    pub drill: bool,
    /// Estimates of the recovery time, keyed by `<at_ms>-<node>` so that estimates made on
    /// two nodes at once merge side by side.
    #[autosurgeon(missing = "Default::default")]
    pub estimates: BTreeMap<String, Estimate>,
    /// The cause, once found.
    #[autosurgeon(missing = "Default::default")]
    pub cause: Option<String>,
    /// Why it opened, as a code a reader's language can say (automatic openings); `reason`
    /// keeps the words as written, which readers fall back to. Openings by hand and records
    /// from older versions have none.
    #[autosurgeon(missing = "Default::default")]
    pub reason_code: Option<ReasonCode>,
}

/// Why an episode opened automatically, as a code and its parameters: the node says it in
/// the reader's language; an unknown code (from a newer version) is read as the episode's
/// `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct ReasonCode {
    /// `central_unreachable`, `his_unreachable` or `central_in_outage`.
    pub code: String,
    /// How long the system had been unreachable when the episode opened, where the code
    /// says so.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub seconds: Option<u64>,
}

impl ReasonCode {
    /// Central unreachable for `seconds`.
    pub const CENTRAL_UNREACHABLE: &str = "central_unreachable";
    /// The HIS unreachable for `seconds` (central watches it).
    pub const HIS_UNREACHABLE: &str = "his_unreachable";
    /// Central is in an episode, which the node joins.
    pub const CENTRAL_IN_OUTAGE: &str = "central_in_outage";
    /// Every code this version writes.
    pub const ALL: [&str; 3] = [
        ReasonCode::CENTRAL_UNREACHABLE,
        ReasonCode::HIS_UNREACHABLE,
        ReasonCode::CENTRAL_IN_OUTAGE,
    ];
}

impl Record for Episode {
    const KIND: RecordKind = RecordKind::Episode;
    fn header(&self) -> &Header {
        &self.header
    }
}

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
