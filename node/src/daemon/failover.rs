//! Peer health into modes, and the housekeeping that follows from them.
//!
//! - normal: central reachable (central itself is always normal);
//! - degraded: central unreachable, standby reachable: the standby acts as primary (it fills
//!   number-range requests and takes every window's records);
//! - isolated: no server reachable: desks keep writing locally and replicate with the windows
//!   they reach.
//!
//! Central unreachable for longer than `thresholds.emergency_after` opens (or joins) an
//! emergency episode. Back to normal with every emergency record acknowledged by central, an
//! automatically opened episode is left. Central acknowledges emergency records as they
//! arrive; lessors fill range requests; windows ask for ranges before they run out. None of
//! this ever blocks a desk: a desk's write goes straight to the local store.

use std::sync::Arc;
use std::time::Duration;

use lifeline_core::numbers::Series;
use lifeline_core::{DeskRole, NodeRole, Store};
use serde::Serialize;
use tokio::sync::watch;

use super::{Runtime, system_operator};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Normal,
    Degraded,
    Isolated,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Degraded => "degraded",
            Mode::Isolated => "isolated",
        }
    }
}

/// The node's mode and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModeInfo {
    pub mode: Mode,
    pub since_ms: i64,
    /// When central was last seen going away, while it is still away.
    pub central_lost_since_ms: Option<i64>,
    /// Which server acts as primary: "central", "standby" or none.
    pub primary: Option<String>,
}

impl ModeInfo {
    pub fn initial(role: NodeRole, now_ms: i64) -> ModeInfo {
        ModeInfo {
            mode: Mode::Normal,
            since_ms: now_ms,
            central_lost_since_ms: None,
            primary: (role == NodeRole::Central).then(|| "central".to_owned()),
        }
    }
}

/// How often the monitor looks at the peers.
const TICK: Duration = Duration::from_millis(250);
/// How often it does the store housekeeping.
const HOUSEKEEPING_EVERY: u32 = 4;

/// Runs until `stop` changes.
pub async fn monitor(store: Store, runtime: Arc<Runtime>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let role = runtime.config.node.role;
    let started = store.now_ms();
    let mut central_seen = role == NodeRole::Central;
    let mut ticks: u32 = 0;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => return,
        }
        let now = store.now_ms();
        let peers = runtime.peers();
        let up = |r: NodeRole| role == r || peers.iter().any(|p| p.role == Some(r) && p.connected);
        let (central_up, standby_up) = (up(NodeRole::Central), up(NodeRole::Standby));
        central_seen |= central_up;
        let mode = if central_up {
            Mode::Normal
        } else if standby_up {
            Mode::Degraded
        } else {
            Mode::Isolated
        };
        let previous = runtime.mode();
        let lost_since = if central_up {
            None
        } else {
            // A node that has not reached central since it started counts from its start.
            previous
                .central_lost_since_ms
                .or(Some(if central_seen { now } else { started }))
        };
        let info = ModeInfo {
            mode,
            since_ms: if previous.mode == mode {
                previous.since_ms
            } else {
                now
            },
            central_lost_since_ms: lost_since,
            primary: if central_up {
                Some("central".into())
            } else if standby_up {
                Some("standby".into())
            } else {
                None
            },
        };
        if previous.mode != mode {
            tracing::warn!(
                from = previous.mode.name(),
                to = mode.name(),
                "mode changed"
            );
        }
        runtime.set_mode(info.clone());
        ticks = ticks.wrapping_add(1);
        if !ticks.is_multiple_of(HOUSEKEEPING_EVERY) {
            continue;
        }
        let store = store.clone();
        let runtime = runtime.clone();
        let result =
            tokio::task::spawn_blocking(move || housekeeping(&store, &runtime, &info, now)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
            Err(e) => tracing::error!(error = %e, "housekeeping task failed"),
        }
    }
}

fn housekeeping(
    store: &Store,
    runtime: &Runtime,
    info: &ModeInfo,
    now_ms: i64,
) -> anyhow::Result<()> {
    let config = &runtime.config;
    let role = config.node.role;
    let system = system_operator();
    // Episodes: enter when central has been away long enough; follow merges and closures.
    if role != NodeRole::Central
        && let Some(since) = info.central_lost_since_ms
    {
        let away = Duration::from_millis(u64::try_from(now_ms - since).unwrap_or(0));
        if away >= config.thresholds.emergency_after && store.episode()?.is_none() {
            let reason = format!("central unreachable for {} s", away.as_secs());
            let id = store.open_episode(&system, &reason, true)?.value;
            tracing::warn!(episode = %id, "emergency episode entered automatically");
        }
    }
    if !store
        .ids_of_kind(lifeline_core::RecordKind::Episode)?
        .is_empty()
    {
        store.reconcile_episodes(&system)?;
    }
    match role {
        NodeRole::Central => {
            if !store.unreconciled()?.is_empty() {
                let n = store.acknowledge_emergency_records(&system)?.value;
                tracing::info!(records = n, "acknowledged emergency records");
            }
            fill_requests(store)?;
        }
        NodeRole::Standby => {
            if info.mode != Mode::Normal {
                fill_requests(store)?;
            }
            // The standby enters the episode too; unless it leaves, the episode never closes
            // and the next outage joins it.
            leave_when_reconciled(store, info)?;
        }
        NodeRole::Window => {
            if store.accept_granted_leases(&system)? > 0 {
                tracing::info!("took new number ranges into the ledger");
            }
            let desks = &config.node.desks;
            let needs = [
                (Series::Invoice, desks.contains(&DeskRole::Cashier)),
                (
                    Series::EmergencyRegistration,
                    desks.contains(&DeskRole::Registration),
                ),
            ];
            for (series, needed) in needs {
                if needed && store.numbers_left(series)? <= config.thresholds.low_water {
                    store.request_lease(&system, series, config.thresholds.lease_size)?;
                }
            }
            leave_when_reconciled(store, info)?;
        }
    }
    Ok(())
}

fn fill_requests(store: &Store) -> anyhow::Result<()> {
    if store.leases()?.iter().any(|l| l.range.is_none()) {
        let n = store.fill_lease_requests(&system_operator())?.value;
        tracing::info!(ranges = n, "leased number ranges");
    }
    Ok(())
}

/// Back to normal and every emergency record acknowledged by central: an automatic episode
/// ends for this node.
fn leave_when_reconciled(store: &Store, info: &ModeInfo) -> anyhow::Result<()> {
    let Some(current) = store.episode()? else {
        return Ok(());
    };
    if info.mode != Mode::Normal || !store.unreconciled()?.is_empty() {
        return Ok(());
    }
    let automatic = store
        .episode_by_id(&current)?
        .is_some_and(|(e, _)| e.episode.automatic);
    if automatic {
        store.leave_episode(
            &system_operator(),
            lifeline_core::desk::LeaveScope::ThisNode,
        )?;
        tracing::warn!(episode = %current, "central is back and has every emergency record: episode left");
    }
    Ok(())
}
