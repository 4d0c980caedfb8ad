//! The store housekeeping that follows from the mode, done every few looks at the peers.
//!
//! Central unreachable for longer than `thresholds.emergency_after` opens (or joins) an
//! emergency episode (ending a drill on this node first: a real outage comes before a
//! drill). On central, the HIS unreachable for longer than `his.emergency_after` does (the
//! plan's real trigger); every other node that reaches central then joins the episode
//! central is in, and its outage lasts as long as central's. The outage ends for the node when the system of record is back
//! ([`ModeInfo::system_of_record_back`]): from then on it writes normal records, and it
//! leaves the episode once central has acknowledged everything written in it, however busy
//! the desks are meanwhile. Central acknowledges emergency records as they arrive; lessors
//! fill range requests; windows ask for ranges before they run out. None of this ever blocks
//! a desk: a desk's write goes straight to the local store.
//!
//! What to do is decided by the pure functions here ([`duties`], [`emergency_due`],
//! [`leases_to_request`], [`plan_episodes`]); [`run`] reads the store, asks them and writes.

use std::time::Duration;

use crate::desk::{LeaveScope, Opening};
use crate::health::{Mode, ModeInfo};
use crate::numbers::Series;
use crate::record::{ReasonCode, RecordKind};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::store::{Store, WriteError};

/// The system operator the daemon acts as (automatic episodes, leases, acknowledgements).
pub fn system_operator() -> Operator {
    Operator::system()
}

/// What a node does on a housekeeping round, besides following episodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duties {
    /// Acknowledge the emergency records that have arrived (central).
    pub acknowledge: bool,
    /// Fill other nodes' number-range requests (central; the standby while acting primary).
    pub fill_requests: bool,
    /// Take granted ranges into the ledger and ask for more before running out (windows).
    pub top_up_ranges: bool,
}

/// What a node of `role` does in `mode`.
pub fn duties(role: NodeRole, mode: Mode) -> Duties {
    match role {
        NodeRole::Central => Duties {
            acknowledge: true,
            fill_requests: true,
            top_up_ranges: false,
        },
        NodeRole::Standby => Duties {
            acknowledge: false,
            fill_requests: mode != Mode::Normal,
            top_up_ranges: false,
        },
        NodeRole::Window => Duties {
            acknowledge: false,
            fill_requests: false,
            top_up_ranges: true,
        },
    }
}

/// Why a node opens (or joins) an emergency episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Central has been unreachable this long.
    CentralAway(Duration),
    /// The HIS has been unreachable this long (central, watching it).
    HisAway(Duration),
    /// Central is in an outage (the HIS is away): the node joins central's episode.
    CentralInOutage,
}

impl Trigger {
    /// The episode's reason as a code, which staff read in their language.
    pub fn code(self) -> ReasonCode {
        let (code, seconds) = match self {
            Trigger::CentralAway(d) => (ReasonCode::CENTRAL_UNREACHABLE, Some(d.as_secs())),
            Trigger::HisAway(d) => (ReasonCode::HIS_UNREACHABLE, Some(d.as_secs())),
            Trigger::CentralInOutage => (ReasonCode::CENTRAL_IN_OUTAGE, None),
        };
        ReasonCode {
            code: code.to_owned(),
            seconds,
        }
    }

    /// The episode's reason, in English words (the record's `reason`, the log).
    pub fn reason(self) -> String {
        match self {
            Trigger::CentralAway(d) => format!("central unreachable for {} s", d.as_secs()),
            Trigger::HisAway(d) => format!("the HIS unreachable for {} s", d.as_secs()),
            Trigger::CentralInOutage => "central is in an emergency episode".to_owned(),
        }
    }
}

fn at_least(away_ms: i64, threshold: Duration) -> Option<Duration> {
    let away = Duration::from_millis(u64::try_from(away_ms).unwrap_or(0));
    (away >= threshold).then_some(away)
}

/// Whether a node of `role` opens an emergency episode: central away long enough (any node
/// but central), or the HIS away longer than `his_emergency_after` (central only: the others
/// follow central).
pub fn emergency_due(
    role: NodeRole,
    info: &ModeInfo,
    now_ms: i64,
    emergency_after: Duration,
    his_emergency_after: Option<Duration>,
) -> Option<Trigger> {
    if role == NodeRole::Central {
        let after = his_emergency_after?;
        return at_least(info.his_away_ms(now_ms)?, after).map(Trigger::HisAway);
    }
    at_least(info.central_away_ms(now_ms)?, emergency_after).map(Trigger::CentralAway)
}

/// The series a window's desks hand out numbers of: invoices at a cashier, emergency
/// registration numbers at registration.
pub fn series_used(desks: &[DeskRole]) -> Vec<Series> {
    [
        (Series::Invoice, DeskRole::Cashier),
        (Series::EmergencyRegistration, DeskRole::Registration),
    ]
    .into_iter()
    .filter(|(_, desk)| desks.contains(desk))
    .map(|(series, _)| series)
    .collect()
}

/// The series to ask a lessor for: those the desks use with `low_water` or fewer numbers left.
pub fn leases_to_request<E>(
    desks: &[DeskRole],
    low_water: u64,
    mut left: impl FnMut(Series) -> Result<u64, E>,
) -> Result<Vec<Series>, E> {
    let mut wanted = Vec::new();
    for series in series_used(desks) {
        if left(series)? <= low_water {
            wanted.push(series);
        }
    }
    Ok(wanted)
}

/// The episode a node tags its records with, as housekeeping sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Current {
    /// Opened (or joined) because central was away: it ends when the system of record is
    /// back.
    Automatic,
    /// Declared by the information department: a person ends it.
    Declared,
    /// A drill: a person ends it; a real outage ends it on this node first.
    Drill,
}

/// What housekeeping knows of the node's episodes at the start of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpisodeState {
    pub current: Option<Current>,
    /// The node saw an episode's outage end and still reconciles it.
    pub reconciling: bool,
    /// Records created in an episode that central has not acknowledged, on this node.
    pub unreconciled: usize,
    /// Central is in an open episode whose outage has not ended for it (the HIS is away):
    /// the system of record is not back, even with central reachable.
    pub central_in_outage: bool,
}

/// What to do about episodes on a round, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpisodePlan {
    /// End this node's part in a drill: a real outage has come.
    pub end_drill: bool,
    /// Open (or join) an episode, and why.
    pub open: Option<Trigger>,
    /// The system of record is back: end the outage for this node (it writes normal records
    /// from now on, whatever the desks' traffic).
    pub recover: bool,
    /// Central has everything written in the episode: leave it.
    pub leave: bool,
}

/// The thresholds that open episodes: central away (`thresholds.emergency_after`), the HIS
/// away (`his.emergency_after`, where a bridge runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub emergency_after: Duration,
    pub his_emergency_after: Option<Duration>,
}

/// Decides what a node does about its episodes on a round.
pub fn plan_episodes(
    role: NodeRole,
    info: &ModeInfo,
    now_ms: i64,
    after: Thresholds,
    state: EpisodeState,
) -> EpisodePlan {
    let follows = role != NodeRole::Central && info.mode == Mode::Normal && state.central_in_outage;
    let due = emergency_due(
        role,
        info,
        now_ms,
        after.emergency_after,
        after.his_emergency_after,
    )
    .or(follows.then_some(Trigger::CentralInOutage));
    let open = match state.current {
        None | Some(Current::Drill) => due,
        Some(_) => None,
    };
    let back = info.system_of_record_back() && !state.central_in_outage;
    EpisodePlan {
        end_drill: open.is_some() && state.current == Some(Current::Drill),
        open,
        recover: state.current == Some(Current::Automatic) && back,
        leave: state.reconciling && state.unreconciled == 0,
    }
}

/// What a node's housekeeping needs to know of it (from its config, in a node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub role: NodeRole,
    /// The desks of a window (the number series it hands out).
    pub desks: Vec<DeskRole>,
    pub thresholds: Thresholds,
    /// Ask for a new range with this many numbers or fewer left.
    pub low_water: u64,
    /// Numbers per range asked for.
    pub lease_size: u64,
    /// Central's node name, for a node that follows central's episode.
    pub central: Option<String>,
}

/// One housekeeping round (blocking: it reads and writes the store).
pub fn run(
    store: &Store,
    settings: &Settings,
    info: &ModeInfo,
    now_ms: i64,
) -> Result<(), WriteError> {
    let role = settings.role;
    let system = system_operator();
    let state = episode_state(store, settings)?;
    let plan = plan_episodes(role, info, now_ms, settings.thresholds, state);
    if plan.end_drill {
        let drill = store.leave_episode(&system, LeaveScope::ThisNode)?.value;
        tracing::warn!(drill = ?drill, "a real outage: this node left the drill");
    }
    if let Some(trigger) = plan.open {
        let id = store
            .open_episode_because(
                &system,
                &trigger.reason(),
                Some(trigger.code()),
                Opening::Automatic,
            )?
            .value;
        tracing::warn!(episode = %id, "emergency episode entered automatically");
    }
    if !store.ids_of_kind(RecordKind::Episode)?.is_empty() {
        store.reconcile_episodes(&system)?;
    }
    if plan.recover
        && let Some(id) = store.recover_from_episode(&system)?.value
    {
        tracing::warn!(episode = %id, "the system of record is back: the outage is over for this node");
    }
    let duties = duties(role, info.mode);
    if duties.acknowledge && !store.unreconciled()?.is_empty() {
        let n = store.acknowledge_emergency_records(&system)?.value;
        tracing::info!(records = n, "acknowledged emergency records");
    }
    if duties.acknowledge {
        // Central settles what the two bridges wrote apart by the HIS's later state.
        store.settle_his_conflicts(&system)?;
    }
    if duties.fill_requests && store.leases()?.iter().any(|l| l.range.is_none()) {
        // A lessor that lost history leases once it has relearned it (`lifeline status`
        // names the members it waits for).
        let waiting = store.leasing_held_for()?;
        if waiting.is_empty() {
            let n = store.fill_lease_requests(&system)?.value;
            tracing::info!(ranges = n, "leased number ranges");
        } else {
            tracing::debug!(
                ?waiting,
                "lease requests wait until this node has relearned its history"
            );
        }
    }
    if duties.top_up_ranges {
        if store.accept_granted_leases(&system)? > 0 {
            tracing::info!("took new number ranges into the ledger");
        }
        let low_water = settings.low_water;
        for series in leases_to_request(&settings.desks, low_water, |s| store.numbers_left(s))? {
            store.request_lease(&system, series, settings.lease_size)?;
        }
    }
    if (plan.leave || plan.recover)
        && let Some(id) = store.leave_reconciled_episode(&system)?.value
    {
        tracing::warn!(episode = %id, "central has every record of the episode: episode left");
    }
    Ok(())
}

/// Whether central (named `central`) is in an open episode whose outage has not ended for it.
fn central_in_outage(store: &Store, central: Option<&str>) -> Result<bool, WriteError> {
    let Some(central) = central else {
        return Ok(false);
    };
    if store.ids_of_kind(RecordKind::Episode)?.is_empty() {
        return Ok(false);
    }
    Ok(store.episodes()?.iter().any(|e| {
        e.open
            && e.episode
                .nodes
                .get(central)
                .is_some_and(|n| n.recovered_ms.is_none() && n.left_ms.is_none())
    }))
}

/// The node's episodes as [`plan_episodes`] takes them.
fn episode_state(store: &Store, settings: &Settings) -> Result<EpisodeState, WriteError> {
    let current = match store.episode()? {
        None => None,
        Some(id) if id.is_drill() => Some(Current::Drill),
        Some(id) => {
            let automatic = store
                .episode_by_id(&id)?
                .is_some_and(|(e, _)| e.episode.automatic);
            Some(if automatic {
                Current::Automatic
            } else {
                Current::Declared
            })
        }
    };
    Ok(EpisodeState {
        current,
        reconciling: store.reconciling_episode()?.is_some(),
        unreconciled: store.unreconciled()?.len(),
        central_in_outage: match settings.role {
            NodeRole::Central => false,
            _ => central_in_outage(store, settings.central.as_deref())?,
        },
    })
}

#[cfg(test)]
mod tests;
