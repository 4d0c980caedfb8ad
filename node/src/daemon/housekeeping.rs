//! The store housekeeping that follows from the mode, done every few looks at the peers.
//!
//! Central unreachable for longer than `thresholds.emergency_after` opens (or joins) an
//! emergency episode; so does, on central, the HIS unreachable for longer than
//! `his.emergency_after` (the plan's real trigger): the other nodes then join the episode
//! central is in, and leave it only after central has (central leaves once the HIS is back
//! and the bridge has pushed the episode's records to it). Back to normal with every emergency record acknowledged by central, an
//! automatically opened episode is left. Central acknowledges emergency records as they
//! arrive; lessors fill range requests; windows ask for ranges before they run out. None of
//! this ever blocks a desk: a desk's write goes straight to the local store.
//!
//! What to do is decided by the pure functions here ([`duties`], [`emergency_due`],
//! [`follows_central`], [`leases_to_request`], [`may_leave`], [`central_may_leave`]); [`run`]
//! reads the store, asks them and writes.

use std::time::Duration;

use lifeline_core::desk::LeaveScope;
use lifeline_core::numbers::Series;
use lifeline_core::{DeskRole, NodeRole, Operator, OperatorName, RecordKind, Store};

use super::health::{HisSeen, Mode, ModeInfo};
use crate::config::Config;

/// The system operator the daemon acts as (automatic episodes, leases, acknowledgements).
pub fn system_operator() -> Operator {
    Operator::new(
        OperatorName::new("lifeline-system").expect("\"lifeline-system\" is a valid operator name"),
        DeskRole::Admin,
    )
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

/// Why a node opens an emergency episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Central has been unreachable this long.
    CentralAway(Duration),
    /// The HIS has been unreachable this long (central, watching it).
    HisAway(Duration),
}

impl Trigger {
    /// The episode's reason, in words.
    pub fn reason(self) -> String {
        match self {
            Trigger::CentralAway(d) => format!("central unreachable for {} s", d.as_secs()),
            Trigger::HisAway(d) => format!("the HIS unreachable for {} s", d.as_secs()),
        }
    }
}

fn at_least(away_ms: i64, threshold: Duration) -> Option<Duration> {
    let away = Duration::from_millis(u64::try_from(away_ms).unwrap_or(0));
    (away >= threshold).then_some(away)
}

/// Whether a node of `role` opens an emergency episode now: central away long enough (any
/// node but central), or the HIS away longer than `his_emergency_after` (central only: the
/// others follow it, see [`follows_central`]).
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

/// Whether a node that reaches central joins the episode central is in (central opened it
/// because the HIS is unreachable, or a person declared it there).
pub fn follows_central(
    role: NodeRole,
    mode: Mode,
    central_in_episode: bool,
    in_episode: bool,
) -> bool {
    role != NodeRole::Central && mode == Mode::Normal && central_in_episode && !in_episode
}

/// Whether central leaves the automatic episode it opened when the HIS went away: the HIS
/// answers again and the bridge has pushed the episode's records since.
pub fn central_may_leave(his: HisSeen, pushed_since_up: bool, automatic: bool) -> bool {
    his == HisSeen::Up && pushed_since_up && automatic
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

/// Whether this node leaves its episode: an automatic one, back to normal, central has
/// acknowledged every emergency record, and central is not in the episode itself (it is
/// while the HIS is away). A declared episode is ended by a person.
pub fn may_leave(
    mode: Mode,
    unreconciled: usize,
    automatic: bool,
    central_in_episode: bool,
) -> bool {
    mode == Mode::Normal && unreconciled == 0 && automatic && !central_in_episode
}

/// What this node's HIS bridge says, for the housekeeping (not watched: no bridge here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HisSignal {
    pub seen: HisSeen,
    /// A push finished since the HIS came back.
    pub pushed_since_up: bool,
}

impl HisSignal {
    pub const NONE: HisSignal = HisSignal {
        seen: HisSeen::NotWatched,
        pushed_since_up: false,
    };
}

/// Whether central (named `central`) is in an open episode it has not left.
fn central_in_open_episode(store: &Store, central: Option<&str>) -> anyhow::Result<bool> {
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
                .is_some_and(|n| n.left_ms.is_none())
    }))
}

/// One housekeeping round (blocking: it reads and writes the store).
pub fn run(
    store: &Store,
    config: &Config,
    info: &ModeInfo,
    his: HisSignal,
    now_ms: i64,
) -> anyhow::Result<()> {
    let role = config.node.role;
    let system = system_operator();
    let his_after = config.his.as_ref().map(|h| h.emergency_after);
    // Episodes: enter when central (or, on central, the HIS) has been away long enough, or
    // join the one central is in; follow merges and closures.
    if let Some(trigger) = emergency_due(
        role,
        info,
        now_ms,
        config.thresholds.emergency_after,
        his_after,
    ) && store.episode()?.is_none()
    {
        let id = store.open_episode(&system, &trigger.reason(), true)?.value;
        tracing::warn!(episode = %id, "emergency episode entered automatically");
    }
    let central = match role {
        NodeRole::Central => Some(config.node.name.as_str()),
        _ => config
            .peer_with_role(NodeRole::Central)
            .map(|p| p.name.as_str()),
    };
    let central_in = central_in_open_episode(store, central)?;
    if follows_central(role, info.mode, central_in, store.episode()?.is_some()) {
        let id = store
            .open_episode(&system, "central is in an emergency episode", true)?
            .value;
        tracing::warn!(episode = %id, "joined the emergency episode central is in");
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
        leave_when_reconciled(store, info.mode, central_in)?;
    }
    if role == NodeRole::Central {
        leave_when_his_back(store, his)?;
    }
    Ok(())
}

fn current_automatic(store: &Store) -> anyhow::Result<Option<(lifeline_core::EpisodeId, bool)>> {
    let Some(current) = store.episode()? else {
        return Ok(None);
    };
    let automatic = store
        .episode_by_id(&current)?
        .is_some_and(|(e, _)| e.episode.automatic);
    Ok(Some((current, automatic)))
}

fn leave_when_reconciled(store: &Store, mode: Mode, central_in: bool) -> anyhow::Result<()> {
    let Some((current, automatic)) = current_automatic(store)? else {
        return Ok(());
    };
    if may_leave(mode, store.unreconciled()?.len(), automatic, central_in) {
        store.leave_episode(&system_operator(), LeaveScope::ThisNode)?;
        tracing::warn!(episode = %current, "central is back and has every emergency record: episode left");
    }
    Ok(())
}

fn leave_when_his_back(store: &Store, his: HisSignal) -> anyhow::Result<()> {
    let Some((current, automatic)) = current_automatic(store)? else {
        return Ok(());
    };
    if central_may_leave(his.seen, his.pushed_since_up, automatic) {
        store.leave_episode(&system_operator(), LeaveScope::ThisNode)?;
        tracing::warn!(episode = %current, "the HIS is back and has the episode's records: central left the episode");
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
            his_lost_since_ms: None,
        }
    }

    #[test]
    fn an_episode_is_due_once_central_has_been_away_long_enough() {
        let after = Duration::from_secs(30);
        let due = |role, since| emergency_due(role, &away_since(since), NOW, after, None);
        assert_eq!(due(NodeRole::Window, Some(NOW - 29_999)), None);
        assert_eq!(
            due(NodeRole::Window, Some(NOW - 30_000)),
            Some(Trigger::CentralAway(Duration::from_secs(30)))
        );
        assert_eq!(
            due(NodeRole::Standby, Some(NOW - 45_000)),
            Some(Trigger::CentralAway(Duration::from_secs(45)))
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
        assert!(may_leave(Mode::Normal, 0, true, false));
        assert!(
            !may_leave(Mode::Normal, 1, true, false),
            "central lacks a record"
        );
        assert!(
            !may_leave(Mode::Degraded, 0, true, false),
            "central still away"
        );
        assert!(
            !may_leave(Mode::Normal, 0, false, false),
            "declared by a person"
        );
        assert!(
            !may_leave(Mode::Normal, 0, true, true),
            "central is still in it (the HIS is away)"
        );
    }

    #[test]
    fn the_his_away_opens_an_episode_on_central_and_the_others_follow() {
        let his_after = Some(Duration::from_secs(60));
        let his_away = |since: i64| ModeInfo {
            his_lost_since_ms: Some(since),
            ..ModeInfo::initial(NodeRole::Central, 0)
        };
        let due = |role, info: &ModeInfo, after| {
            emergency_due(role, info, NOW, Duration::from_secs(30), after)
        };
        assert_eq!(
            due(NodeRole::Central, &his_away(NOW - 59_999), his_after),
            None
        );
        assert_eq!(
            due(NodeRole::Central, &his_away(NOW - 60_000), his_after),
            Some(Trigger::HisAway(Duration::from_secs(60)))
        );
        assert_eq!(
            due(NodeRole::Central, &his_away(0), None),
            None,
            "no bridge configured"
        );
        assert_eq!(
            due(NodeRole::Standby, &his_away(0), his_after),
            None,
            "only central opens for the HIS; the standby follows central"
        );
        assert!(follows_central(NodeRole::Window, Mode::Normal, true, false));
        assert!(follows_central(
            NodeRole::Standby,
            Mode::Normal,
            true,
            false
        ));
        assert!(
            !follows_central(NodeRole::Window, Mode::Normal, true, true),
            "already in"
        );
        assert!(!follows_central(
            NodeRole::Window,
            Mode::Normal,
            false,
            false
        ));
        assert!(!follows_central(
            NodeRole::Central,
            Mode::Normal,
            true,
            false
        ));
        assert!(central_may_leave(HisSeen::Up, true, true));
        assert!(
            !central_may_leave(HisSeen::Up, false, true),
            "not pushed yet"
        );
        assert!(!central_may_leave(HisSeen::Down, true, true));
        assert!(
            !central_may_leave(HisSeen::Up, true, false),
            "declared by a person"
        );
    }
}
