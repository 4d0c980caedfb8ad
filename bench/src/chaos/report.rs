//! What a chaos run did and found, as JSON and as a table for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::Plan;
use super::check::EndReport;
use super::ledger::{Ledger, Tally};
use crate::Machine;
use crate::failover::ThresholdsMs;
use crate::measure::median;

/// One cycle.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    /// From 1.
    pub cycle: usize,
    pub victim: String,
    pub role: &'static str,
    /// From the SIGKILL to the restart.
    pub down_ms: f64,
    /// The restart until the daemon was ready (`None`: it did not start).
    pub restart_ms: Option<f64>,
    /// The relayed window whose link to central was cut, and for how long.
    pub cut: Option<String>,
    pub cut_ms: Option<u64>,
    pub writes: Tally,
    /// Acknowledged writes found in the killed window's store (0 for a server).
    pub store_checked: u64,
    /// From the heal (the victim ready, the link restored) until the hospital was quiescent.
    pub converge_ms: Option<f64>,
    pub failures: Vec<String>,
    /// The loop stopped after this cycle (the victim would not start again).
    pub fatal: bool,
}

impl CycleReport {
    /// The cycle's progress line.
    pub fn line(&self, cycles: usize) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"));
        let cut = match (&self.cut, self.cut_ms) {
            (Some(w), Some(d)) => format!(", {w}'s link cut for {d} ms"),
            _ => String::new(),
        };
        format!(
            "cycle {}/{cycles}: killed {} for {:.0} ms{cut}, ready again in {}; writes: {} \
             saved, {} refused, {} unanswered; quiescent after {}{}",
            self.cycle,
            self.victim,
            self.down_ms,
            ms(self.restart_ms),
            self.writes.acknowledged,
            self.writes.refused,
            self.writes.unanswered,
            ms(self.converge_ms),
            if self.failures.is_empty() {
                String::new()
            } else {
                format!("; FAILED: {}", self.failures.join("; "))
            }
        )
    }
}

/// The run's figures over its cycles.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub cycles: usize,
    /// Kills by the victim's role (central, standby, window).
    pub kills: BTreeMap<&'static str, u64>,
    pub link_cuts: u64,
    pub link_cuts_by_window: BTreeMap<String, u64>,
    pub writes: Tally,
    pub acknowledged_by_kind: BTreeMap<&'static str, u64>,
    /// Killed windows whose store was checked, and the acknowledged writes found in them.
    pub killed_stores_checked: u64,
    pub killed_store_writes_held: u64,
    pub restart_ms_p50: f64,
    pub restart_ms_max: f64,
    pub converge_ms_p50: f64,
    pub converge_ms_max: f64,
    /// Cycles after which the hospital was not quiescent within the deadline.
    pub not_converged: u64,
}

impl Totals {
    pub(super) fn of(cycles: &[CycleReport], ledger: &Ledger) -> Totals {
        let mut kills = BTreeMap::new();
        let mut link_cuts_by_window = BTreeMap::new();
        let mut writes = Tally::default();
        for c in cycles {
            *kills.entry(c.role).or_default() += 1;
            if let Some(w) = &c.cut {
                *link_cuts_by_window.entry(w.clone()).or_default() += 1;
            }
            writes.add(&c.writes);
        }
        let mut acknowledged_by_kind = BTreeMap::new();
        for a in ledger.all() {
            *acknowledged_by_kind.entry(a.kind.name()).or_default() += 1;
        }
        let restarts: Vec<f64> = cycles.iter().filter_map(|c| c.restart_ms).collect();
        let converged: Vec<f64> = cycles.iter().filter_map(|c| c.converge_ms).collect();
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        Totals {
            cycles: cycles.len(),
            kills,
            link_cuts: link_cuts_by_window.values().sum(),
            link_cuts_by_window,
            writes,
            acknowledged_by_kind,
            killed_stores_checked: cycles.iter().filter(|c| c.role == "window").count() as u64,
            killed_store_writes_held: cycles.iter().map(|c| c.store_checked).sum(),
            restart_ms_p50: median(&restarts),
            restart_ms_max: max(&restarts),
            converge_ms_p50: median(&converged),
            converge_ms_max: max(&converged),
            not_converged: (cycles.len() - converged.len()) as u64,
        }
    }
}

/// Everything a `chaos` run did and found; written as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub timestamp_unix_ms: i64,
    pub machine: Machine,
    pub plan: Plan,
    pub thresholds: ThresholdsMs,
    pub daemon_binary: String,
    /// The command that replays this run's choices.
    pub replay: String,
    /// Creating and starting the hospital.
    pub setup_ms: f64,
    pub totals: Totals,
    pub cycles: Vec<CycleReport>,
    pub end: EndReport,
    /// Every failure: a lost write, a store that does not verify, a node that would not
    /// start, a hospital that would not settle. Empty: the run passed.
    pub failures: Vec<String>,
    pub run_s: f64,
}

impl ChaosReport {
    /// The table people read.
    pub fn table(&self) -> String {
        let t = &self.totals;
        let p = &self.plan;
        let mut out = String::new();
        let relayed = if p.relayed.is_empty() {
            "no relayed link".to_owned()
        } else {
            format!("{} relayed to central", p.relayed.join(" and "))
        };
        out.push_str(&self.machine.title(
            "chaos",
            &self.timestamp,
            p.quick,
            &format!("; seed {}, {} windows, {relayed}", p.seed, p.windows.len()),
        ));
        if self.machine.profile == "debug" {
            out.push_str(crate::DEBUG_WARNING);
        }
        out.push_str(&self.machine.load_line());
        let th = &self.thresholds;
        let _ = writeln!(
            out,
            "thresholds: heartbeat {} ms, peer timeout {} ms, emergency after {} ms; desks write every {} ms",
            th.heartbeat_ms, th.peer_timeout_ms, th.emergency_after_ms, p.pace_ms
        );
        let mut row = |label: &str, value: String| {
            let _ = writeln!(out, "{label:<32}{value}");
        };
        row("cycles", format!("{} of {}", t.cycles, p.cycles));
        let kills: Vec<String> = ["central", "standby", "window"]
            .iter()
            .map(|r| format!("{r} {}", t.kills.get(r).copied().unwrap_or(0)))
            .collect();
        row("kills (SIGKILL) by role", kills.join(", "));
        let cuts: Vec<String> = t
            .link_cuts_by_window
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect();
        row(
            "link cuts",
            if cuts.is_empty() {
                t.link_cuts.to_string()
            } else {
                format!("{} ({})", t.link_cuts, cuts.join(", "))
            },
        );
        let kinds: Vec<String> = t
            .acknowledged_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        row(
            "writes acknowledged",
            format!("{} ({})", t.writes.acknowledged, kinds.join(", ")),
        );
        row(
            "writes refused",
            match &t.writes.first_refusal {
                Some(first) => format!("{} (the first: {first})", t.writes.refused),
                None => t.writes.refused.to_string(),
            },
        );
        row(
            "writes unanswered (node down)",
            t.writes.unanswered.to_string(),
        );
        row(
            "killed windows' stores",
            format!(
                "{} checked as the SIGKILL left them: {} acknowledged writes held",
                t.killed_stores_checked, t.killed_store_writes_held
            ),
        );
        row(
            "ready after a restart",
            format!(
                "p50 {:.0} ms, max {:.0} ms",
                t.restart_ms_p50, t.restart_ms_max
            ),
        );
        row(
            "time to converge",
            format!(
                "p50 {:.0} ms, max {:.0} ms (from the heal to quiescent; {} cycle(s) not within the deadline)",
                t.converge_ms_p50, t.converge_ms_max, t.not_converged
            ),
        );
        let e = &self.end;
        let ms = |v: Option<f64>| v.map_or_else(|| "not".to_owned(), |v| format!("{v:.0} ms"));
        row(
            "at the end",
            format!(
                "every node normal after {}, quiescent after {}; {} emergency episode(s) at central",
                ms(e.settled_ms),
                ms(e.converge_ms),
                e.episodes.map_or_else(|| "?".to_owned(), |n| n.to_string())
            ),
        );
        let held: Vec<String> = e
            .nodes
            .iter()
            .map(|n| {
                let mut s = format!("{} {}", n.node, n.writes_held);
                if n.writes_missing > 0 {
                    let _ = write!(s, " ({} MISSING)", n.writes_missing);
                }
                s
            })
            .collect();
        row(
            "acknowledged writes held",
            format!("of {}: {}", t.writes.acknowledged, held.join(", ")),
        );
        let verified: Vec<String> = e
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "{} {} ({} records, {} audit entries)",
                    n.node,
                    if n.verify_passed { "ok" } else { "FAILED" },
                    n.verify_records,
                    n.verify_audit_entries
                )
            })
            .collect();
        row("stores verify", verified.join(", "));
        let checks: Vec<String> = e
            .nodes
            .iter()
            .map(|n| format!("{} {}", n.node, n.table_check))
            .collect();
        row("table checks", checks.join(", "));
        row("failures", self.failures.len().to_string());
        for f in self.failures.iter().take(20) {
            let _ = writeln!(out, "  {f}");
        }
        if self.failures.len() > 20 {
            let _ = writeln!(out, "  ... and {} more", self.failures.len() - 20);
        }
        for n in &e.notes {
            let _ = writeln!(out, "note: {n}");
        }
        let _ = writeln!(out, "whole run: {:.0} s", self.run_s);
        let _ = writeln!(out, "replay: {}", self.replay);
        out
    }
}
