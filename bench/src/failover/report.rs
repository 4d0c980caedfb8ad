//! What a failover run measured, as JSON and as a table for people.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::{Plan, ThresholdsMs};
use crate::Machine;
use crate::measure::median;

/// One window's figures of (a), in ms from the kill.
#[derive(Debug, Clone, Serialize)]
pub struct WindowFailover {
    pub window: String,
    pub degraded_ms: f64,
    pub first_write_ms: f64,
    pub first_write_on_standby_ms: f64,
    pub episode_ms: f64,
}

/// Desk writes from the kill until every window was in the episode.
#[derive(Debug, Clone, Serialize)]
pub struct DeskWrites {
    pub count: usize,
    pub failed: usize,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
}

/// (a) of one run; the hospital-wide figures are the slowest window's.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverRun {
    pub degraded_ms: f64,
    pub first_write_ms: f64,
    pub first_write_on_standby_ms: f64,
    pub episode_ms: f64,
    pub desk_writes: DeskWrites,
    pub windows: Vec<WindowFailover>,
}

/// (b) of one run.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileRun {
    pub patients_written: usize,
    pub write_ms: f64,
    /// From the last desk write until the standby and every window held every patient
    /// written, central still down (before central restarts).
    pub spread_ms: f64,
    /// Central's daemon start until it said it was ready.
    pub central_ready_ms: f64,
    /// From central's start until it holds every patient written so far.
    pub central_has_all_ms: f64,
    /// ... and every window's unreconciled count is 0: the figure.
    pub reconciled_ms: f64,
    /// ... and every window is back to normal and out of the episode.
    pub episode_left_ms: f64,
    pub central_patients: u64,
    /// Records central received from its peers, and sent them, from its start until every
    /// window left the episode (its peers' counters then): copies of what it held already
    /// count too.
    pub central_received: u64,
    pub central_sent: u64,
    /// The records central received, by peer.
    pub central_received_from: Vec<(String, u64)>,
}

/// Medians over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Medians {
    pub degraded_ms: f64,
    pub first_write_ms: f64,
    pub first_write_on_standby_ms: f64,
    pub episode_ms: f64,
    pub desk_write_latency_ms_max: f64,
    pub write_per_s: f64,
    pub spread_ms: f64,
    pub central_ready_ms: f64,
    pub central_has_all_ms: f64,
    pub reconciled_ms: f64,
    pub episode_left_ms: f64,
}

/// Everything a `failover` run measured; written as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub timestamp_unix_ms: i64,
    pub machine: Machine,
    pub plan: Plan,
    pub thresholds: ThresholdsMs,
    pub daemon_binary: String,
    pub failover: Vec<FailoverRun>,
    pub reconcile: Vec<ReconcileRun>,
    pub medians: Medians,
    /// Why fewer runs than planned were measured, if so.
    pub stopped_early: Option<String>,
}

impl FailoverReport {
    /// The figures as a table for people.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let m = &self.machine;
        let p = &self.plan;
        let th = &self.thresholds;
        let runs = self.reconcile.len();
        let medians = format!(
            "; medians of {runs} run{}{}",
            if runs == 1 { "" } else { "s" },
            if runs < p.runs {
                format!(" of {} planned", p.runs)
            } else {
                String::new()
            }
        );
        t.push_str(&m.title("failover", &self.timestamp, p.quick, &medians));
        let _ = writeln!(t, "daemons: {}", self.daemon_binary);
        t.push_str(&m.load_line());
        let debug_daemons = Path::new(&self.daemon_binary)
            .components()
            .any(|c| c.as_os_str() == "debug");
        if m.profile == "debug" || debug_daemons {
            let _ = writeln!(
                t,
                "warning: a debug build of the bench or the daemons; these figures are not \
                 comparable"
            );
        }
        let _ = writeln!(
            t,
            "hospital: central, standby, {} windows with a registration desk (real `lifeline \
             daemon` processes on loopback)",
            p.windows
        );
        let _ = writeln!(
            t,
            "thresholds: heartbeat {} ms, peer timeout {} ms, emergency after {} ms — (a) \
             follows from these",
            th.heartbeat_ms, th.peer_timeout_ms, th.emergency_after_ms
        );
        let _ = writeln!(
            t,
            "(a): status polled every {} ms; each desk writes a patient every {} ms; figures \
             are the slowest window's",
            p.status_poll_ms, p.pace_ms
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<64} {:>9} {:>9} {:>9}",
            "(a) central killed (SIGKILL) at 0", "median ms", "min ms", "max ms"
        );
        let f = &self.failover;
        let rows: [(&str, Figure<FailoverRun>); 4] = [
            ("every window degraded, standby as primary", |r| {
                r.degraded_ms
            }),
            ("first desk write accepted after that, every window", |r| {
                r.first_write_ms
            }),
            ("  that write readable on the standby", |r| {
                r.first_write_on_standby_ms
            }),
            ("emergency episode open on every window", |r| r.episode_ms),
        ];
        for (name, get) in rows {
            row(&mut t, name, &f.iter().map(get).collect::<Vec<_>>());
        }
        let writes: usize = f.iter().map(|r| r.desk_writes.count).sum();
        let failed: usize = f.iter().map(|r| r.desk_writes.failed).sum();
        let p50 = median(
            &f.iter()
                .map(|r| r.desk_writes.latency_ms_p50)
                .collect::<Vec<_>>(),
        );
        let p99 = median(
            &f.iter()
                .map(|r| r.desk_writes.latency_ms_p99)
                .collect::<Vec<_>>(),
        );
        let max = f
            .iter()
            .map(|r| r.desk_writes.latency_ms_max)
            .fold(0.0, f64::max);
        let _ = writeln!(
            t,
            "desk writes from the kill to the episode: {writes} ({failed} failed), latency p50 \
             {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
        );
        let _ = writeln!(t);
        let r = &self.reconcile;
        let _ = writeln!(
            t,
            "{:<64} {:>9} {:>9} {:>9}",
            format!(
                "(b) outage: {} windows × {} patients; central restarted at 0",
                p.windows, p.per_window
            ),
            "median ms",
            "min ms",
            "max ms"
        );
        let rows: [(&str, Figure<ReconcileRun>); 4] = [
            ("central's daemon ready", |r| r.central_ready_ms),
            ("central holds every patient", |r| r.central_has_all_ms),
            ("... and every window's unreconciled count is 0", |r| {
                r.reconciled_ms
            }),
            ("... and every window normal, out of the episode", |r| {
                r.episode_left_ms
            }),
        ];
        for (name, get) in rows {
            row(&mut t, name, &r.iter().map(get).collect::<Vec<_>>());
        }
        let _ = writeln!(
            t,
            "written while central was down: {} patients in {:.0} ms (median), {:.0} desk \
             writes/s over all windows; held by the standby and every window {:.0} ms after \
             the last write, before central restarted",
            p.windows * p.per_window,
            median(&r.iter().map(|r| r.write_ms).collect::<Vec<_>>()),
            self.medians.write_per_s,
            self.medians.spread_ms
        );
        let _ = writeln!(
            t,
            "records central received from its peers until then: {:.0}, and sent them: {:.0} \
             (medians)",
            median(
                &r.iter()
                    .map(|r| r.central_received as f64)
                    .collect::<Vec<_>>()
            ),
            median(&r.iter().map(|r| r.central_sent as f64).collect::<Vec<_>>()),
        );
        if let Some(reason) = &self.stopped_early {
            let _ = writeln!(t, "stopped early: {reason}");
        }
        t
    }
}

/// How a table row reads its figure from a run.
type Figure<R> = fn(&R) -> f64;

fn row(t: &mut String, name: &str, values: &[f64]) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    let _ = writeln!(
        t,
        "{name:<64} {:>9.0} {:>9.0} {:>9.0}",
        median(values),
        if min.is_finite() { min } else { 0.0 },
        max
    );
}
