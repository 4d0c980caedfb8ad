//! The information department's emergency desk at a server (central, or the standby when
//! central is down), as `lifeline emergency start|stop` and `lifeline ranges lease` do: now and
//! then, while the desks work, it declares an emergency (one time in four a drill), stops the
//! episode central is in, or leases a window a range of emergency registration numbers by
//! hand. From the heal on it stops, every second, what it declared and central shows open, as
//! the department does when the planned work is over and it sees one still open (a declared
//! episode may come back to central only after the heal, central's store having been restored
//! from before it). An action is a write at the server like a
//! housekeeping round's, judged by the outage checks (`outages_reconciled`, `episode_tags`,
//! `ranges_unique`, `numbers_accounted`) rather than acknowledged to a desk.

use lifeline_core::NodeName;

use crate::backing::{Backing, WriteFailure};
use crate::sim::{Power, Sim};

/// How many numbers a range leased by hand holds.
const LEASE_BY_HAND: u64 = 50;

/// What the department does at the emergency desk.
#[derive(Debug, Clone)]
pub(crate) enum EmergencyAct {
    /// `lifeline emergency start [--drill]`.
    Declare { drill: bool },
    /// `lifeline emergency stop`: the episode the server is in (or, in none, every open one)
    /// closes for every node. At the heal, only while one declared by hand is open.
    Stop { declared_only: bool },
    /// `lifeline ranges lease`: emergency registration numbers for `holder`.
    Lease { holder: NodeName, size: u64 },
}

impl<R: Backing> Sim<R> {
    /// One action at the emergency desk, when the nodes keep episodes. Returns whether it
    /// did something.
    pub(crate) fn emergency_desk(&mut self) -> bool {
        if !self.cfg.housekeeping {
            return false;
        }
        let Some(server) = (0..2.min(self.nodes.len())).find(|&n| self.nodes[n].power == Power::Up)
        else {
            return false;
        };
        let act = match self.work_rng.range(0, 9) {
            0..=3 => EmergencyAct::Declare {
                drill: self.work_rng.chance(0.25),
            },
            4..=6 => EmergencyAct::Stop {
                declared_only: false,
            },
            _ => {
                let holder = 2 + self
                    .work_rng
                    .index(self.nodes.len().saturating_sub(2).max(1));
                let Some(window) = self.nodes.get(holder) else {
                    return false;
                };
                EmergencyAct::Lease {
                    holder: window.name.clone(),
                    size: LEASE_BY_HAND,
                }
            }
        };
        self.act_at(server, act)
    }

    /// From the heal on: the department stops at central what it declared and is still open
    /// (a stop ends central's own episode first, when it is in an automatic one: a few stops).
    pub(crate) fn stop_declared(&mut self) {
        if !self.cfg.housekeeping || self.nodes[0].power != Power::Up {
            return;
        }
        for _ in 0..3 {
            let act = EmergencyAct::Stop {
                declared_only: true,
            };
            if !self.act_at(0, act) {
                return;
            }
        }
    }

    fn act_at(&mut self, server: usize, act: EmergencyAct) -> bool {
        let name = self.name(server).to_owned();
        match self.nodes[server].replica().emergency_desk(&act) {
            Ok(None) => false,
            Ok(Some(done)) => {
                match act {
                    EmergencyAct::Declare { .. } => self.faults.emergencies_declared += 1,
                    EmergencyAct::Stop { .. } => self.faults.emergencies_stopped += 1,
                    EmergencyAct::Lease { .. } => self.faults.ranges_leased_by_hand += 1,
                }
                self.note(|| format!("{name} admin: {done}"));
                // As a daemon's sessions hear of every commit to its store.
                self.wake(server, None);
                true
            }
            // A drill while an outage is under way, or the reverse: refused, as the department
            // hears it.
            Err(WriteFailure::Refused(why)) if matches!(act, EmergencyAct::Declare { .. }) => {
                self.note(|| format!("{name} admin: {act:?} refused: {why}"));
                true
            }
            Err(e) => {
                self.fail("desk_writes", format!("{name} admin: {act:?}: {e}"));
                true
            }
        }
    }
}
