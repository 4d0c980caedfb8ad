//! Peer health into a mode: a pure function of what the node observed, with no I/O and no
//! clock of its own, so every transition is a unit test.
//!
//! - normal: central reachable (central itself is always normal);
//! - degraded: central unreachable, standby reachable: the standby acts as primary (it fills
//!   number-range requests and takes every window's records);
//! - isolated: no server reachable: desks keep writing locally and replicate with the windows
//!   they reach.
//!
//! A server counts itself as reachable. How long central has been away starts when it was
//! last seen going; a node that has not reached central since it started counts from its
//! start, so a window that boots during an outage still opens an emergency episode in time.
//!
//! The outage ends when the hospital's *system of record* is back: central reachable, and
//! every other system of record the node watches reachable too (the HIS, where a bridge
//! runs: whatever watches it reports through [`Observation::other_records_up`]).
//! [`ModeInfo::system_of_record_back`] is what ends an episode for the node
//! (`housekeeping`), so records written after that are normal records.
//!
//! How long the HIS has been unreachable is counted like central's absence, from the look
//! that first found it down ([`ModeInfo::his_lost_since_ms`]): on central it is the plan's
//! real trigger for an episode, even while central itself is up.

use crate::roles::NodeRole;
use serde::Serialize;

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
    /// Every other system of record this node watches was reachable on the last look.
    pub other_records_up: bool,
    /// When another system of record (the HIS) was first found unreachable, while it still
    /// is.
    #[serde(default)]
    pub his_lost_since_ms: Option<i64>,
}

impl ModeInfo {
    pub fn initial(role: NodeRole, now_ms: i64) -> ModeInfo {
        ModeInfo {
            mode: Mode::Normal,
            since_ms: now_ms,
            central_lost_since_ms: None,
            primary: (role == NodeRole::Central).then(|| "central".to_owned()),
            other_records_up: true,
            his_lost_since_ms: None,
        }
    }

    /// The hospital's system of record is back for this node: central reachable and every
    /// other system of record it watches reachable. The outage is over for it.
    pub fn system_of_record_back(&self) -> bool {
        self.mode == Mode::Normal && self.other_records_up
    }

    /// How long central has been away at `now_ms`; `None` while it is reachable.
    pub fn central_away_ms(&self, now_ms: i64) -> Option<i64> {
        self.central_lost_since_ms
            .map(|since| now_ms.saturating_sub(since).max(0))
    }

    /// Whether a node of `role` in this mode runs the HIS bridge (pulls from the HIS and
    /// pushes back to it) at `now_ms`: central always; the standby while it acts as primary
    /// and central has been away at least `takeover_after_ms` (a silence of a few heartbeats
    /// on a loaded machine is not central gone); a window never.
    pub fn runs_his_bridge(&self, role: NodeRole, now_ms: i64, takeover_after_ms: i64) -> bool {
        match role {
            NodeRole::Central => true,
            NodeRole::Standby => {
                self.mode != Mode::Normal
                    && self
                        .central_away_ms(now_ms)
                        .is_some_and(|ms| ms >= takeover_after_ms)
            }
            NodeRole::Window => false,
        }
    }

    /// How long the HIS (another system of record) has been unreachable at `now_ms`; `None`
    /// while it answers or is not watched.
    pub fn his_away_ms(&self, now_ms: i64) -> Option<i64> {
        self.his_lost_since_ms
            .map(|since| now_ms.saturating_sub(since).max(0))
    }
}

/// What the monitor saw on one look at its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// This node's role.
    pub role: NodeRole,
    pub now_ms: i64,
    /// When this node started.
    pub started_ms: i64,
    /// A connection to central is up.
    pub central_up: bool,
    /// A connection to the standby is up.
    pub standby_up: bool,
    /// Central was reachable at some point since this node started (before this look).
    pub central_seen: bool,
    /// Every system of record besides central that this node watches is reachable (true when
    /// it watches none). The HIS bridge reports the HIS here.
    pub other_records_up: bool,
}

/// The mode after `obs`, given the mode before it.
pub fn decide(previous: &ModeInfo, obs: &Observation) -> ModeInfo {
    let central_up = obs.central_up || obs.role == NodeRole::Central;
    let standby_up = obs.standby_up || obs.role == NodeRole::Standby;
    let (mode, primary) = if central_up {
        (Mode::Normal, Some("central"))
    } else if standby_up {
        (Mode::Degraded, Some("standby"))
    } else {
        (Mode::Isolated, None)
    };
    let central_lost_since_ms = if central_up {
        None
    } else {
        let start = if obs.central_seen {
            obs.now_ms
        } else {
            obs.started_ms
        };
        Some(previous.central_lost_since_ms.unwrap_or(start))
    };
    ModeInfo {
        mode,
        since_ms: if previous.mode == mode {
            previous.since_ms
        } else {
            obs.now_ms
        },
        central_lost_since_ms,
        primary: primary.map(str::to_owned),
        other_records_up: obs.other_records_up,
        his_lost_since_ms: if obs.other_records_up {
            None
        } else {
            Some(previous.his_lost_since_ms.unwrap_or(obs.now_ms))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_000_000;

    /// A window's view of the servers at `now_ms`, after having seen central.
    fn window(now_ms: i64, central_up: bool, standby_up: bool) -> Observation {
        Observation {
            role: NodeRole::Window,
            now_ms,
            started_ms: START,
            central_up,
            standby_up,
            central_seen: true,
            other_records_up: true,
        }
    }

    /// Runs the observations in order from the initial mode, returning every mode decided.
    fn run(role: NodeRole, observations: &[Observation]) -> Vec<ModeInfo> {
        let mut info = ModeInfo::initial(role, START);
        observations
            .iter()
            .map(|obs| {
                info = decide(&info, obs);
                info.clone()
            })
            .collect()
    }

    fn expect(mode: Mode, since_ms: i64, lost: Option<i64>, primary: Option<&str>) -> ModeInfo {
        ModeInfo {
            mode,
            since_ms,
            central_lost_since_ms: lost,
            primary: primary.map(str::to_owned),
            other_records_up: true,
            his_lost_since_ms: None,
        }
    }

    /// "业务库(HISSERVER)恢复运行后 … 即可停止应急库" (once the system of record runs again,
    /// emergency mode stops): the system of record is back when central is reachable and so
    /// is every other system of record the node watches (the HIS); either missing, it is not.
    #[test]
    fn the_system_of_record_is_back_when_central_and_the_his_are() {
        let modes = run(
            NodeRole::Window,
            &[
                window(START + 100, false, true),
                window(START + 200, true, true),
                Observation {
                    other_records_up: false,
                    ..window(START + 300, true, true)
                },
                window(START + 400, true, true),
            ],
        );
        let back: Vec<bool> = modes.iter().map(ModeInfo::system_of_record_back).collect();
        assert_eq!(back, vec![false, true, false, true]);
        // The HIS away does not make central away: the mode stays normal.
        assert_eq!(modes[2].mode, Mode::Normal);
        // Central itself: back only while the HIS it watches is.
        let central = Observation {
            role: NodeRole::Central,
            other_records_up: false,
            ..window(START + 100, false, false)
        };
        let info = decide(&ModeInfo::initial(NodeRole::Central, START), &central);
        assert!(!info.system_of_record_back());
    }

    #[test]
    fn normal_then_degraded_then_isolated_then_normal() {
        let modes = run(
            NodeRole::Window,
            &[
                window(START + 100, true, true),
                window(START + 200, false, true),
                window(START + 300, false, true),
                window(START + 400, false, false),
                window(START + 500, true, false),
            ],
        );
        assert_eq!(
            modes,
            vec![
                expect(Mode::Normal, START, None, Some("central")),
                expect(
                    Mode::Degraded,
                    START + 200,
                    Some(START + 200),
                    Some("standby")
                ),
                expect(
                    Mode::Degraded,
                    START + 200,
                    Some(START + 200),
                    Some("standby")
                ),
                // Losing the standby too keeps counting central's absence from its loss.
                expect(Mode::Isolated, START + 400, Some(START + 200), None),
                expect(Mode::Normal, START + 500, None, Some("central")),
            ]
        );
    }

    #[test]
    fn a_flapping_link_restarts_the_absence_each_time_central_is_back() {
        let modes = run(
            NodeRole::Window,
            &[
                window(START + 100, false, true),
                window(START + 200, true, true),
                window(START + 300, false, true),
                window(START + 400, true, true),
                window(START + 500, false, true),
            ],
        );
        let summary: Vec<(Mode, i64, Option<i64>)> = modes
            .iter()
            .map(|m| (m.mode, m.since_ms, m.central_lost_since_ms))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Mode::Degraded, START + 100, Some(START + 100)),
                (Mode::Normal, START + 200, None),
                (Mode::Degraded, START + 300, Some(START + 300)),
                (Mode::Normal, START + 400, None),
                (Mode::Degraded, START + 500, Some(START + 500)),
            ]
        );
        assert_eq!(modes[4].central_away_ms(START + 800), Some(300));
        assert_eq!(modes[3].central_away_ms(START + 800), None);
    }

    #[test]
    fn central_back_before_the_standby_is_normal_with_central_as_primary() {
        let modes = run(
            NodeRole::Window,
            &[
                window(START + 100, false, false),
                window(START + 200, true, false),
                window(START + 300, true, true),
            ],
        );
        assert_eq!(
            modes,
            vec![
                expect(Mode::Isolated, START + 100, Some(START + 100), None),
                expect(Mode::Normal, START + 200, None, Some("central")),
                expect(Mode::Normal, START + 200, None, Some("central")),
            ]
        );
    }

    #[test]
    fn a_node_that_never_saw_central_counts_its_absence_from_its_start() {
        let never = Observation {
            central_seen: false,
            ..window(START + 5_000, false, true)
        };
        let info = decide(&ModeInfo::initial(NodeRole::Window, START), &never);
        assert_eq!(info.mode, Mode::Degraded);
        assert_eq!(info.central_lost_since_ms, Some(START));
        assert_eq!(info.central_away_ms(START + 5_000), Some(5_000));
    }

    #[test]
    fn central_itself_is_always_normal() {
        let alone = Observation {
            role: NodeRole::Central,
            ..window(START + 100, false, false)
        };
        let info = decide(&ModeInfo::initial(NodeRole::Central, START), &alone);
        assert_eq!(info, expect(Mode::Normal, START, None, Some("central")));
    }

    #[test]
    fn the_standby_without_central_is_degraded_and_primary_itself() {
        let alone = Observation {
            role: NodeRole::Standby,
            ..window(START + 100, false, false)
        };
        let info = decide(&ModeInfo::initial(NodeRole::Standby, START), &alone);
        assert_eq!(
            info,
            expect(
                Mode::Degraded,
                START + 100,
                Some(START + 100),
                Some("standby")
            )
        );
    }

    #[test]
    fn the_his_down_is_counted_from_the_look_that_found_it_and_forgotten_when_back() {
        let central = |now_ms, his_up| Observation {
            role: NodeRole::Central,
            other_records_up: his_up,
            ..window(now_ms, false, false)
        };
        let modes = run(
            NodeRole::Central,
            &[
                central(START + 100, true),
                central(START + 200, false),
                central(START + 300, false),
                central(START + 400, true),
                central(START + 500, false),
            ],
        );
        let lost: Vec<Option<i64>> = modes.iter().map(|m| m.his_lost_since_ms).collect();
        assert_eq!(
            lost,
            vec![
                None,
                Some(START + 200),
                Some(START + 200),
                None,
                Some(START + 500)
            ]
        );
        assert_eq!(modes[2].his_away_ms(START + 1_200), Some(1_000));
        assert!(
            modes.iter().all(|m| m.mode == Mode::Normal),
            "the HIS down does not change the mesh's mode"
        );
        assert!(!modes[2].system_of_record_back() && modes[3].system_of_record_back());
    }
}
