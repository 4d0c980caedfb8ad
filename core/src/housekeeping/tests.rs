//! Tests of the housekeeping's decisions.

use super::*;

const NOW: i64 = 10_000_000;

fn away_since(since: Option<i64>) -> ModeInfo {
    ModeInfo {
        mode: Mode::Degraded,
        since_ms: since.unwrap_or(NOW),
        central_lost_since_ms: since,
        primary: Some("standby".into()),
        other_records_up: true,
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
    assert!(!central.top_up_ranges);
    assert!(!duties(NodeRole::Standby, Mode::Normal).fill_requests);
    for mode in [Mode::Degraded, Mode::Isolated] {
        assert!(duties(NodeRole::Standby, mode).fill_requests);
    }
    let window = duties(NodeRole::Window, Mode::Isolated);
    assert!(window.top_up_ranges);
    assert!(!window.acknowledge && !window.fill_requests);
}

fn back() -> ModeInfo {
    ModeInfo {
        mode: Mode::Normal,
        since_ms: NOW,
        central_lost_since_ms: None,
        primary: Some("central".into()),
        other_records_up: true,
        his_lost_since_ms: None,
    }
}

fn state(current: Option<Current>, reconciling: bool, unreconciled: usize) -> EpisodeState {
    EpisodeState {
        current,
        reconciling,
        unreconciled,
        central_in_outage: false,
    }
}

const AFTER: Thresholds = Thresholds {
    emergency_after: Duration::from_secs(30),
    his_emergency_after: Some(Duration::from_secs(60)),
};

/// "业务库(HISSERVER)恢复运行后 … 即可停止应急库,以上传门诊应急数据": the outage ends when
/// the system of record is back, whatever is still unreconciled: the node stops tagging
/// at once (recover), and leaves once everything written in the episode reached central.
#[test]
fn an_automatic_episode_ends_when_the_system_of_record_is_back_not_when_traffic_stops() {
    let busy = state(Some(Current::Automatic), false, 400);
    let plan = plan_episodes(NodeRole::Window, &back(), NOW, AFTER, busy);
    assert!(plan.recover, "central is back: the outage is over");
    assert!(!plan.leave, "400 records still to reach central");
    assert_eq!(plan.open, None);
    // Still away: nothing ends.
    let away = away_since(Some(NOW - 60_000));
    let plan = plan_episodes(NodeRole::Window, &away, NOW, AFTER, busy);
    assert!(!plan.recover && !plan.leave);
    // Central back but the HIS it relies on is not: not over yet.
    let his_away = ModeInfo {
        other_records_up: false,
        ..back()
    };
    assert!(!plan_episodes(NodeRole::Window, &his_away, NOW, AFTER, busy).recover);
    // Reconciling, with desks writing normal records: left once nothing is unreconciled.
    let draining = state(None, true, 3);
    assert!(!plan_episodes(NodeRole::Window, &back(), NOW, AFTER, draining).leave);
    let drained = state(None, true, 0);
    let plan = plan_episodes(NodeRole::Window, &back(), NOW, AFTER, drained);
    assert!(plan.leave && !plan.recover && plan.open.is_none());
}

#[test]
fn a_declared_episode_or_a_drill_is_ended_by_a_person() {
    for current in [Current::Declared, Current::Drill] {
        let plan = plan_episodes(
            NodeRole::Window,
            &back(),
            NOW,
            AFTER,
            state(Some(current), false, 0),
        );
        assert!(!plan.recover && !plan.leave, "{current:?}");
    }
}

/// A real outage during a drill: the node leaves the drill and opens (joins) the real
/// episode; a node already in a real one opens nothing.
#[test]
fn a_real_outage_ends_a_drill_first() {
    let away = away_since(Some(NOW - 60_000));
    let plan = plan_episodes(
        NodeRole::Window,
        &away,
        NOW,
        AFTER,
        state(Some(Current::Drill), false, 0),
    );
    assert!(plan.end_drill);
    assert_eq!(
        plan.open,
        Some(Trigger::CentralAway(Duration::from_secs(60)))
    );
    let plan = plan_episodes(
        NodeRole::Window,
        &away,
        NOW,
        AFTER,
        state(Some(Current::Automatic), false, 0),
    );
    assert!(!plan.end_drill && plan.open.is_none());
    let plan = plan_episodes(NodeRole::Central, &away, NOW, AFTER, state(None, false, 0));
    assert_eq!(plan.open, None, "central never opens one");
}

/// The plan's real trigger: the HIS down while central is up. Central opens the episode
/// once the HIS has been away `his.emergency_after`; the others join it while central is
/// in its outage, and their outage ends with central's.
#[test]
fn the_his_away_opens_an_episode_on_central_and_the_others_follow_it() {
    let his_away = |since: i64| ModeInfo {
        other_records_up: false,
        his_lost_since_ms: Some(since),
        ..back()
    };
    let fresh = state(None, false, 0);
    let central = |info: &ModeInfo| plan_episodes(NodeRole::Central, info, NOW, AFTER, fresh);
    assert_eq!(central(&his_away(NOW - 59_999)).open, None);
    assert_eq!(
        central(&his_away(NOW - 60_000)).open,
        Some(Trigger::HisAway(Duration::from_secs(60)))
    );
    let no_bridge = Thresholds {
        his_emergency_after: None,
        ..AFTER
    };
    assert_eq!(
        plan_episodes(NodeRole::Central, &his_away(0), NOW, no_bridge, fresh).open,
        None
    );
    // A window reaches central, which is in its outage: it joins, and does not recover.
    let following = EpisodeState {
        central_in_outage: true,
        ..fresh
    };
    let plan = plan_episodes(NodeRole::Window, &back(), NOW, AFTER, following);
    assert_eq!(plan.open, Some(Trigger::CentralInOutage));
    let joined = EpisodeState {
        current: Some(Current::Automatic),
        ..following
    };
    let plan = plan_episodes(NodeRole::Standby, &back(), NOW, AFTER, joined);
    assert!(
        plan.open.is_none() && !plan.recover,
        "central is still in the outage"
    );
    // The HIS back: central recovers; then so do the others.
    let central_in = state(Some(Current::Automatic), false, 0);
    assert!(plan_episodes(NodeRole::Central, &back(), NOW, AFTER, central_in).recover);
    let over = EpisodeState {
        central_in_outage: false,
        ..joined
    };
    assert!(plan_episodes(NodeRole::Window, &back(), NOW, AFTER, over).recover);
}

/// From what central's monitor observes to what housekeeping does: the HIS found down,
/// still down `his.emergency_after` later (an episode opens), then answering again (the
/// outage ends), all while central itself is up.
#[test]
fn the_his_health_observed_opens_and_ends_the_episode_on_central() {
    use super::super::health::{Observation, decide};
    let look = |now_ms, his_up| Observation {
        role: NodeRole::Central,
        now_ms,
        started_ms: 0,
        central_up: false,
        standby_up: true,
        central_seen: true,
        other_records_up: his_up,
    };
    let mut info = ModeInfo::initial(NodeRole::Central, 0);
    let mut plan_at = |now_ms, his_up, current| {
        info = decide(&info, &look(now_ms, his_up));
        plan_episodes(
            NodeRole::Central,
            &info,
            now_ms,
            AFTER,
            state(current, false, 0),
        )
    };
    assert_eq!(plan_at(NOW, false, None).open, None, "just found down");
    assert_eq!(
        plan_at(NOW + 60_000, false, None).open,
        Some(Trigger::HisAway(Duration::from_secs(60)))
    );
    let during = plan_at(NOW + 90_000, false, Some(Current::Automatic));
    assert!(during.open.is_none() && !during.recover, "still down");
    let back = plan_at(NOW + 95_000, true, Some(Current::Automatic));
    assert!(back.recover && back.open.is_none(), "the HIS answers again");
}
