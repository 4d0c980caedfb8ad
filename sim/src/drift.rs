//! A drift of what a node believes a peer holds, and the repair it needs.
//!
//! At the heal, one run in three (and one in five at a random time while the desks work)
//! makes every honest peer of a node believe it holds some records at their heads when it
//! lacks them (a bookkeeping bug, however it came): their feeds then pass them by, and no
//! offer names them. Replication alone never sends them; the digest comparison, finding the
//! same buckets different for a whole period, repairs it (`lifeline_sync::proto`'s repair),
//! and the run's checks then find every record everywhere, none left waiting.
//!
//! The other way round, a repair is a sign of a bug: in a run without a drift, no session
//! between honest nodes may need one (`no_repairs_needed`). The hostile window's sessions are
//! left out: the forgeries it holds keep its digest different from every honest node's.

use std::collections::BTreeMap;

use lifeline_core::RecordId;
use lifeline_core::automerge::ChangeHash;
use lifeline_core::store::{DIGEST_BUCKETS, Scope};

use crate::backing::Backing;
use crate::sim::Sim;

/// Most records a drift hides.
const MOST_DRIFTED: usize = 5;
/// The chance of a drift at the heal.
pub(crate) const DRIFT_CHANCE: f64 = 1.0 / 3.0;
/// The chance of a drift while the desks work (its own random stream, so that the heal's
/// drifts stay where they were): lower, so that most runs still check `no_repairs_needed`.
const MID_DRIFT_CHANCE: f64 = 1.0 / 5.0;

impl<R: Backing> Sim<R> {
    /// One run in five, a drift at a random time while the desks work: records that wait
    /// for changes the drift hid, completed by the repair through another peer, must not be
    /// left waiting (`cursors_caught_up`).
    pub(crate) fn schedule_drift(&mut self) {
        if self.cfg.writes == 0 || !self.mid_drift_rng.chance(MID_DRIFT_CHANCE) {
            return;
        }
        let work_ms = u64::from(self.cfg.writes)
            .saturating_mul(self.cfg.write_gap_ms)
            .max(1001);
        let at = self.mid_drift_rng.range(1000, work_ms);
        self.queue.push(at, crate::sim::Event::Drift);
    }

    /// Makes every honest peer of an honest node believe it holds some records it lacks: the
    /// first node, in a random order, that lacks any (none if none does).
    pub(crate) fn drift(&mut self) {
        if self.phase == crate::sim::Phase::Done {
            return;
        }
        let mut victims: Vec<usize> = (0..self.nodes.len())
            .filter(|n| Some(*n) != self.hostile)
            .collect();
        while !victims.is_empty() {
            let victim = victims.swap_remove(self.drift_rng.index(victims.len()));
            if self.drift_at(victim) {
                return;
            }
        }
    }

    /// Hides from `victim` up to [`MOST_DRIFTED`] records it lacks, at every honest peer
    /// that holds them; `false` if it lacks none.
    fn drift_at(&mut self, victim: usize) -> bool {
        let peers: Vec<usize> = self.nodes[victim]
            .links
            .iter()
            .map(|&l| self.links[l].ends)
            .map(|[a, b]| if a == victim { b } else { a })
            .filter(|n| Some(*n) != self.hostile)
            .collect();
        let mut lacking: BTreeMap<RecordId, ()> = BTreeMap::new();
        for &peer in &peers {
            for (id, _) in self.lacking(peer, victim) {
                lacking.insert(id, ());
            }
        }
        let mut lacking: Vec<RecordId> = lacking.into_keys().collect();
        let mut hidden = Vec::new();
        while hidden.len() < MOST_DRIFTED && !lacking.is_empty() {
            hidden.push(lacking.swap_remove(self.drift_rng.index(lacking.len())));
        }
        if hidden.is_empty() {
            return false;
        }
        let victim_name = self.nodes[victim].name.clone();
        for peer in peers {
            let held: Vec<_> = self
                .lacking(peer, victim)
                .into_iter()
                .filter(|(id, _)| hidden.contains(id))
                .collect();
            let mut replica = self.nodes[peer].replica().clone();
            let Ok(state) = replica.peer_state(&victim_name) else {
                continue;
            };
            if replica
                .record_ack(&victim_name, state.acked_by_peer, held)
                .is_err()
            {
                continue;
            }
        }
        self.faults.drifts += 1;
        let count = hidden.len();
        self.note(|| {
            format!(
                "fault: {victim_name}'s peers believe it holds {count} records it lacks (drift)"
            )
        });
        true
    }

    /// The records `node` holds that `other` does not hold at the same heads, with `node`'s
    /// heads.
    fn lacking(&self, node: usize, other: usize) -> Vec<(RecordId, Vec<ChangeHash>)> {
        let all: Vec<u8> = (0..DIGEST_BUCKETS)
            .filter_map(|b| u8::try_from(b).ok())
            .collect();
        let Ok(held) = self.nodes[node]
            .replica()
            .bucket_heads(Scope::All, &all, usize::MAX)
        else {
            return Vec::new();
        };
        let other = self.nodes[other].replica();
        held.into_iter()
            .filter(|(id, heads)| {
                other
                    .whole(&[*id])
                    .ok()
                    .and_then(|mut d| d.pop())
                    .is_none_or(|d| sorted(d.heads) != sorted(heads.clone()))
            })
            .collect()
    }

    /// Adds the repairs of a link's sessions (about to be dropped) to the run's count: those
    /// between honest nodes, and those of the hostile window's links apart.
    pub(crate) fn count_repairs(&mut self, link: usize) {
        let Some(conn) = &self.links[link].conn else {
            return;
        };
        let repairs: u64 = conn.sessions.iter().map(|s| s.stats().repairs).sum();
        if self.links[link]
            .ends
            .iter()
            .any(|n| Some(*n) == self.hostile)
        {
            self.faults.hostile_repairs += repairs;
        } else {
            self.faults.repairs += repairs;
        }
    }

    /// `no_repairs_needed`: in a run without a drift, no two honest nodes needed a repair.
    pub(crate) fn check_repairs(&mut self) {
        for link in 0..self.links.len() {
            self.count_repairs(link);
        }
        self.checked("no_repairs_needed", 1);
        if self.faults.drifts == 0 && self.faults.repairs > 0 {
            let n = self.faults.repairs;
            self.fail(
                "no_repairs_needed",
                format!("{n} digest repairs between honest nodes in a run without a drift"),
            );
        }
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}
