//! `lifeline-bench failover`: how long a hospital of real `lifeline daemon` processes takes to
//! fail over when central dies, and to reconcile the outage's work when it comes back.
//!
//! The hospital (see [`lifeline_node::hospital::Hospital`]) is central, a standby and
//! `windows` windows with a registration desk, on loopback, with failover thresholds in
//! seconds ([`thresholds`]). Each run:
//!
//! (a) central is killed (SIGKILL) while every window's desk writes a patient every
//!     [`PACE`]. A desk's write never waits for the network, so "the first write accepted"
//!     alone would say nothing: measured from the kill are the time until every window's
//!     status says degraded with the standby as primary, the first desk write each window
//!     accepts after that (and when that write is readable on the standby), and the time
//!     until every window is in an emergency episode. The desks' write latencies over the
//!     failover are reported too.
//! (b) with central still down, every window writes `per_window` patients; then central is
//!     started again, and measured from its start is the time until central holds every
//!     patient and every window's unreconciled count is 0 (and, after that, until every
//!     window is back to normal and out of the episode).
//!
//! The daemons are the `lifeline` binary, which this benchmark does not build: run
//! `cargo build --release -p lifeline-node` first (see [`find_lifeline_bin`]).
//!
//! - [`hospital`]: the hospital and the runs on it; [`kill`]: (a); [`outage`]: (b);
//! - [`report`]: the figures, as JSON and as a table.

pub(crate) mod desk;
pub(crate) mod hospital;
mod kill;
mod outage;
mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::Hospital;
use serde::Serialize;

pub use report::{DeskWrites, FailoverReport, FailoverRun, Medians, ReconcileRun, WindowFailover};

use crate::measure::median;
use crate::{Machine, now_unix_ms, publish, quick_mode, rfc3339_utc, scratch_dir};
use hospital::{Measured, measure_in, print_log_tails, specs, window_names};

/// The environment variable naming the `lifeline` binary.
pub const LIFELINE_BIN_ENV: &str = "LIFELINE_BIN";

pub(crate) const CENTRAL: &str = "central";
pub(crate) const STANDBY: &str = "standby";

/// Pause between a desk's writes during (a).
pub const PACE: Duration = Duration::from_millis(25);
/// How often the windows' status is read during (a).
pub const STATUS_POLL: Duration = Duration::from_millis(20);
/// How often the nodes' status is read during (b).
const RECONCILE_POLL: Duration = Duration::from_millis(50);
/// How often the standby is asked for a record during (a).
const STANDBY_POLL: Duration = Duration::from_millis(5);
/// Longest wait for any one state before the run fails.
const PATIENCE: Duration = Duration::from_secs(120);
/// Longest wait for the reconciliation of an outage.
const RECONCILE_WITHIN: Duration = Duration::from_secs(900);

/// Options of `lifeline-bench failover`.
#[derive(Debug, Clone, clap::Args)]
pub struct FailoverArgs {
    /// Windows with a registration desk.
    #[arg(long, default_value_t = 5)]
    pub windows: usize,
    /// Patients each window writes while central is down (default 2000; 20 in quick mode).
    #[arg(long)]
    pub per_window: Option<usize>,
    /// Failovers measured, one after the other on the same hospital; the figures are their
    /// medians (default 3; 1 in quick mode).
    #[arg(long)]
    pub runs: Option<usize>,
    /// The `lifeline` binary (default: $LIFELINE_BIN, else the one next to this executable,
    /// as `cargo build --release -p lifeline-node` leaves it).
    #[arg(long)]
    pub lifeline_bin: Option<PathBuf>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results/failover.json")]
    pub out: PathBuf,
    /// Directory for the hospital's files (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Small counts, for a smoke test; also set by LIFELINE_BENCH_QUICK=1.
    #[arg(long)]
    pub quick: bool,
}

/// Failover in seconds instead of minutes; (a)'s figures follow from these.
pub fn thresholds() -> Thresholds {
    Thresholds {
        heartbeat: Duration::from_millis(200),
        peer_timeout: Duration::from_secs(1),
        emergency_after: Duration::from_secs(2),
        low_water: 50,
        lease_size: 1000,
    }
}

/// The thresholds as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdsMs {
    pub heartbeat_ms: u128,
    pub peer_timeout_ms: u128,
    pub emergency_after_ms: u128,
}

impl ThresholdsMs {
    pub(crate) fn of(t: &Thresholds) -> ThresholdsMs {
        ThresholdsMs {
            heartbeat_ms: t.heartbeat.as_millis(),
            peer_timeout_ms: t.peer_timeout.as_millis(),
            emergency_after_ms: t.emergency_after.as_millis(),
        }
    }
}

/// How much a run does.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub windows: usize,
    pub per_window: usize,
    pub runs: usize,
    pub pace_ms: u128,
    pub status_poll_ms: u128,
}

impl Plan {
    pub fn from_args(args: &FailoverArgs) -> anyhow::Result<Plan> {
        let quick = quick_mode(args.quick);
        let plan = Plan {
            quick,
            windows: args.windows,
            per_window: args.per_window.unwrap_or(if quick { 20 } else { 2_000 }),
            runs: args.runs.unwrap_or(if quick { 1 } else { 3 }),
            pace_ms: PACE.as_millis(),
            status_poll_ms: STATUS_POLL.as_millis(),
        };
        ensure!(
            (1..=99).contains(&plan.windows),
            "--windows must be between 1 and 99"
        );
        ensure!(plan.per_window > 0, "--per-window must be at least 1");
        ensure!(plan.runs > 0, "--runs must be at least 1");
        Ok(plan)
    }
}

/// Where the `lifeline` binary is: `explicit`, else `$LIFELINE_BIN`, else next to this
/// executable or one directory up (a test runs from `target/<profile>/deps`).
pub fn find_lifeline_bin(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let named = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(LIFELINE_BIN_ENV).map(PathBuf::from));
    if let Some(path) = named {
        ensure!(
            path.is_file(),
            "the lifeline binary {} does not exist",
            path.display()
        );
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let name = format!("lifeline{}", std::env::consts::EXE_SUFFIX);
    let mut tried = Vec::new();
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(&name);
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    bail!(
        "no lifeline binary at {}: build it first with `cargo build --release -p lifeline-node`, \
         or name it with --lifeline-bin or ${LIFELINE_BIN_ENV}",
        tried.join(" or ")
    )
}

/// Runs the benchmark, prints its table and writes its JSON to `args.out`.
pub fn run(args: &FailoverArgs) -> anyhow::Result<FailoverReport> {
    let plan = Plan::from_args(args)?;
    let bin = find_lifeline_bin(args.lifeline_bin.as_deref())?;
    let report = measure(&plan, &bin, args.dir.as_deref())?;
    publish(&report.table(), &report, &args.out)?;
    Ok(report)
}

/// Sets the hospital up in a new temporary directory under `dir` and measures.
pub fn measure(plan: &Plan, bin: &Path, dir: Option<&Path>) -> anyhow::Result<FailoverReport> {
    let (parent, tmp) = scratch_dir(dir, "lifeline-bench-failover-")?;
    let windows = window_names(plan.windows);
    let thresholds = thresholds();
    let mut hospital = Hospital::create(bin, tmp.path(), &specs(&windows), thresholds.clone())
        .context("cannot create the hospital")?;
    let result = measure_in(plan, &mut hospital, &windows);
    if result.is_err() {
        print_log_tails(&hospital);
    }
    let Measured {
        failovers: failover,
        reconciles: reconcile,
        stopped_early,
    } = result?;
    drop(hospital);

    let of_failover =
        |f: fn(&FailoverRun) -> f64| median(&failover.iter().map(f).collect::<Vec<_>>());
    let of_reconcile =
        |f: fn(&ReconcileRun) -> f64| median(&reconcile.iter().map(f).collect::<Vec<_>>());
    let medians = Medians {
        degraded_ms: of_failover(|r| r.degraded_ms),
        first_write_ms: of_failover(|r| r.first_write_ms),
        first_write_on_standby_ms: of_failover(|r| r.first_write_on_standby_ms),
        episode_ms: of_failover(|r| r.episode_ms),
        desk_write_latency_ms_max: of_failover(|r| r.desk_writes.latency_ms_max),
        write_per_s: of_reconcile(|r| {
            if r.write_ms > 0.0 {
                r.patients_written as f64 / (r.write_ms / 1e3)
            } else {
                0.0
            }
        }),
        spread_ms: of_reconcile(|r| r.spread_ms),
        central_ready_ms: of_reconcile(|r| r.central_ready_ms),
        central_has_all_ms: of_reconcile(|r| r.central_has_all_ms),
        reconciled_ms: of_reconcile(|r| r.reconciled_ms),
        episode_left_ms: of_reconcile(|r| r.episode_left_ms),
    };
    let timestamp_unix_ms = now_unix_ms();
    Ok(FailoverReport {
        benchmark: "failover",
        timestamp: rfc3339_utc(timestamp_unix_ms),
        timestamp_unix_ms,
        machine: Machine::here(&parent),
        plan: plan.clone(),
        thresholds: ThresholdsMs::of(&thresholds),
        daemon_binary: bin.display().to_string(),
        failover,
        reconcile,
        medians,
        stopped_early,
    })
}

/// Milliseconds from `t0` to `t`.
pub(crate) fn ms_since(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_binary_that_is_missing_is_refused() {
        let err = find_lifeline_bin(Some(Path::new("/nonexistent/lifeline")))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("/nonexistent/lifeline"), "{err}");
    }
}
