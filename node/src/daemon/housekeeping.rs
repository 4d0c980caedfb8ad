//! The store housekeeping that follows from the mode, done every few looks at the peers.
//!
//! Central unreachable for longer than `thresholds.emergency_after` opens (or joins) an
//! emergency episode. Back to normal with every emergency record acknowledged by central, an
//! automatically opened episode is left. Central acknowledges emergency records as they
//! arrive; lessors fill range requests; windows ask for ranges before they run out. None of
//! this ever blocks a desk: a desk's write goes straight to the local store.
//!
//! What to do is decided by the pure functions here ([`duties`], [`emergency_due`],
//! [`leases_to_request`], [`may_leave`]); [`run`] reads the store, asks them and writes.

use std::time::Duration;

use lifeline_core::desk::LeaveScope;
use lifeline_core::numbers::Series;
use lifeline_core::{DeskRole, NodeRole, Operator, RecordKind, Store};

use super::health::{Mode, ModeInfo};
use crate::config::Config;

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
    /// Leave an automatic episode once reconciled (every node but central, which closes
    /// episodes rather than leaving them; the standby too, or the episode never closes and
    /// the next outage joins it).
    pub leave_when_reconciled: bool,
}

/// What a node of `role` does in `mode`.
pub fn duties(role: NodeRole, mode: Mode) -> Duties {
    match role {
        NodeRole::Central => Duties {
            acknowledge: true,
            fill_requests: true,
            top_up_ranges: false,
            leave_when_reconciled: false,
        },
        NodeRole::Standby => Duties {
            acknowledge: false,
            fill_requests: mode != Mode::Normal,
            top_up_ranges: false,
            leave_when_reconciled: true,
        },
        NodeRole::Window => Duties {
            acknowledge: false,
            fill_requests: false,
            top_up_ranges: true,
            leave_when_reconciled: true,
        },
    }
}

/// How long central has been away, when that is long enough for a node of `role` to open an
/// emergency episode (central never does by itself).
pub fn emergency_due(
    role: NodeRole,
    info: &ModeInfo,
    now_ms: i64,
    emergency_after: Duration,
) -> Option<Duration> {
    if role == NodeRole::Central {
        return None;
    }
    let away_ms = info.central_away_ms(now_ms)?;
    let away = Duration::from_millis(u64::try_from(away_ms).unwrap_or(0));
    (away >= emergency_after).then_some(away)
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

/// Whether this node leaves its episode: an automatic one, back to normal, and central has
/// acknowledged every emergency record. A declared episode is ended by a person.
pub fn may_leave(mode: Mode, unreconciled: usize, automatic: bool) -> bool {
    mode == Mode::Normal && unreconciled == 0 && automatic
}

/// One housekeeping round (blocking: it reads and writes the store).
pub fn run(store: &Store, config: &Config, info: &ModeInfo, now_ms: i64) -> anyhow::Result<()> {
    let role = config.node.role;
    let system = system_operator();
    // Episodes: enter when central has been away long enough; follow merges and closures.
    if let Some(away) = emergency_due(role, info, now_ms, config.thresholds.emergency_after)
        && store.episode()?.is_none()
    {
        let reason = format!("central unreachable for {} s", away.as_secs());
        let id = store.open_episode(&system, &reason, true)?.value;
        tracing::warn!(episode = %id, "emergency episode entered automatically");
    }
    if !store.ids_of_kind(RecordKind::Episode)?.is_empty() {
        store.reconcile_episodes(&system)?;
    }
    let duties = duties(role, info.mode);
    if duties.acknowledge && !store.unreconciled()?.is_empty() {
        let n = store.acknowledge_emergency_records(&system)?.value;
        tracing::info!(records = n, "acknowledged emergency records");
    }
    if duties.fill_requests && store.leases()?.iter().any(|l| l.range.is_none()) {
        let n = store.fill_lease_requests(&system)?.value;
        tracing::info!(ranges = n, "leased number ranges");
    }
    if duties.top_up_ranges {
        if store.accept_granted_leases(&system)? > 0 {
            tracing::info!("took new number ranges into the ledger");
        }
        let low_water = config.thresholds.low_water;
        for series in leases_to_request(&config.node.desks, low_water, |s| store.numbers_left(s))? {
            store.request_lease(&system, series, config.thresholds.lease_size)?;
        }
    }
    if duties.leave_when_reconciled {
        leave_when_reconciled(store, info.mode)?;
    }
    Ok(())
}

/// Records pruned per commit, so desks' writes never wait long behind a prune.
pub const PRUNE_BATCH: usize = 2000;

/// Commits one prune round makes at most; the rest waits for the next round.
pub const PRUNE_COMMITS: usize = 50;

/// Since when a window keeps records, at `now_ms`.
pub fn keep_since_ms(now_ms: i64, window_days: u32) -> i64 {
    now_ms - i64::from(window_days) * 86_400_000
}

/// On a window: prunes what it no longer keeps, in bounded commits (blocking).
pub fn prune(store: &Store, config: &Config, now_ms: i64) -> anyhow::Result<usize> {
    let Some(days) = config.window_days() else {
        return Ok(0);
    };
    let since = keep_since_ms(now_ms, days);
    let mut removed = 0;
    for _ in 0..PRUNE_COMMITS {
        let round = store.prune(since, PRUNE_BATCH)?;
        removed += round.removed;
        if !round.more {
            break;
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            window_days = days,
            "pruned records older than the working set"
        );
    }
    Ok(removed)
}

fn leave_when_reconciled(store: &Store, mode: Mode) -> anyhow::Result<()> {
    let Some(current) = store.episode()? else {
        return Ok(());
    };
    let automatic = store
        .episode_by_id(&current)?
        .is_some_and(|(e, _)| e.episode.automatic);
    if may_leave(mode, store.unreconciled()?.len(), automatic) {
        store.leave_episode(&system_operator(), LeaveScope::ThisNode)?;
        tracing::warn!(episode = %current, "central is back and has every emergency record: episode left");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 10_000_000;

    fn away_since(since: Option<i64>) -> ModeInfo {
        ModeInfo {
            mode: Mode::Degraded,
            since_ms: since.unwrap_or(NOW),
            central_lost_since_ms: since,
            primary: Some("standby".into()),
        }
    }

    #[test]
    fn an_episode_is_due_once_central_has_been_away_long_enough() {
        let after = Duration::from_secs(30);
        let due = |role, since| emergency_due(role, &away_since(since), NOW, after);
        assert_eq!(due(NodeRole::Window, Some(NOW - 29_999)), None);
        assert_eq!(
            due(NodeRole::Window, Some(NOW - 30_000)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            due(NodeRole::Standby, Some(NOW - 45_000)),
            Some(Duration::from_secs(45))
        );
        assert_eq!(due(NodeRole::Window, None), None, "central is back");
        assert_eq!(
            due(NodeRole::Central, Some(0)),
            None,
            "central never opens one"
        );
    }

    #[test]
    fn windows_lease_only_the_series_their_desks_use_when_low() {
        let left = |series: Series| -> Result<u64, ()> {
            Ok(match series {
                Series::Invoice => 50,
                Series::EmergencyRegistration => 51,
            })
        };
        let cashier = [DeskRole::Cashier, DeskRole::Triage];
        assert_eq!(
            leases_to_request(&cashier, 50, left),
            Ok(vec![Series::Invoice])
        );
        let both = [DeskRole::Registration, DeskRole::Cashier];
        assert_eq!(
            leases_to_request(&both, 51, left),
            Ok(vec![Series::Invoice, Series::EmergencyRegistration])
        );
        assert_eq!(
            leases_to_request(&[DeskRole::Doctor], 1000, left),
            Ok(vec![])
        );
    }

    #[test]
    fn each_role_has_its_duties() {
        let central = duties(NodeRole::Central, Mode::Normal);
        assert!(central.acknowledge && central.fill_requests);
        assert!(!central.leave_when_reconciled && !central.top_up_ranges);
        assert!(!duties(NodeRole::Standby, Mode::Normal).fill_requests);
        for mode in [Mode::Degraded, Mode::Isolated] {
            assert!(duties(NodeRole::Standby, mode).fill_requests);
        }
        assert!(duties(NodeRole::Standby, Mode::Normal).leave_when_reconciled);
        let window = duties(NodeRole::Window, Mode::Isolated);
        assert!(window.top_up_ranges && window.leave_when_reconciled);
        assert!(!window.acknowledge && !window.fill_requests);
    }

    #[test]
    fn only_an_automatic_episode_is_left_and_only_once_reconciled() {
        assert!(may_leave(Mode::Normal, 0, true));
        assert!(!may_leave(Mode::Normal, 1, true), "central lacks a record");
        assert!(!may_leave(Mode::Degraded, 0, true), "central still away");
        assert!(!may_leave(Mode::Normal, 0, false), "declared by a person");
    }
}
