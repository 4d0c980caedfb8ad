//! `lifeline-bench scale`: a real hospital's volume. Builds a central store with the bulk
//! loader (1M patients and one day's 100k records by default; `--patients 2000000` for the
//! full size), then measures with real daemons:
//! - the catalog import (8,000 drugs and 5,000 services);
//! - at 10k, 100k and all records: the daemon's open (start to ready), its RSS idle, and the
//!   latency of `status`, the conflict report and the worklist with 100 items open;
//! - desk write latency alone, then while a new window syncs from the same node, and the
//!   daemon's RSS under that load; the time and bytes for the new window to be ready;
//! - the store's own open time and its disk bytes per record;
//! - reconciliation of an outage of 20 windows × 500 registrations after central returns.
//!
//! Quick mode (`--quick`) runs every step with small counts in seconds, for the smoke test.

pub(crate) mod data;
#[cfg(test)]
mod dictionary;
pub mod disk;
mod outage;
mod report;
mod volume;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::ensure;
use serde::Serialize;

pub use data::{catalog_csv, catalogs};
pub use report::ScaleReport;

use crate::failover::find_lifeline_bin;
use crate::{Machine, now_unix_ms, publish, rfc3339_utc, scratch_dir};

/// Options of `lifeline-bench scale`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// Patients in the master (default 1,000,000; 2,000 in quick mode).
    #[arg(long)]
    pub patients: Option<u64>,
    /// One day's outpatient records: visits, charges, invoices, prescriptions (default
    /// 100,000; 1,000 in quick mode).
    #[arg(long)]
    pub day_records: Option<u64>,
    /// Windows in the outage (default 20; 3 in quick mode).
    #[arg(long)]
    pub outage_windows: Option<usize>,
    /// Registrations per window in the outage (default 500; 20 in quick mode).
    #[arg(long)]
    pub per_window: Option<u64>,
    /// Desk writes timed in each of the two desk runs (default 300; 20 in quick mode).
    #[arg(long)]
    pub writes: Option<usize>,
    /// Nice steps the new window's daemon runs below the others (default 19). In a hospital
    /// the new window is another PC; on one machine it would otherwise take the CPU of the
    /// node it syncs from, whose desk is measured. 0 runs it beside central.
    #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(u8).range(0..=19))]
    pub window_nice: u8,
    /// Directory for the new window's store (default: beside central's, on the same disk).
    /// In a hospital the new window is another PC with a disk of its own; a directory on
    /// another device (`/dev/shm`, memory) keeps the window's fsyncs off the disk central's
    /// desk writes wait on, as `--window-nice` keeps its CPU off central's. Removed at the end.
    #[arg(long)]
    pub window_dir: Option<PathBuf>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results/scale.json")]
    pub out: PathBuf,
    /// Directory for the stores (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The `lifeline` binary (default: next to this one, or $LIFELINE_BIN).
    #[arg(long)]
    pub lifeline_bin: Option<PathBuf>,
    /// Small counts, for a smoke test in seconds; also set by LIFELINE_BENCH_QUICK=1.
    #[arg(long)]
    pub quick: bool,
}

/// How much a run loads and measures.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub patients: u64,
    pub day_records: u64,
    pub drugs: usize,
    pub services: usize,
    /// Record counts at which the daemon is measured (the last is everything loaded).
    pub stages: Vec<u64>,
    /// Items left open for the reports: duplicate pairs and emergency prescriptions.
    pub open_items: u64,
    pub requests: usize,
    pub writes: usize,
    pub outage_windows: usize,
    pub per_window: u64,
    /// Nice steps the new window runs below central (`--window-nice`).
    pub window_nice: u8,
    /// The new window's data directory when not beside central's (`--window-dir`).
    pub window_dir: Option<PathBuf>,
    /// Records written per bulk-load commit.
    pub load_batch: usize,
}

impl Plan {
    pub fn from_args(args: &ScaleArgs) -> anyhow::Result<Plan> {
        let quick = crate::quick_mode(args.quick);
        let patients = args
            .patients
            .unwrap_or(if quick { 2_000 } else { 1_000_000 });
        let day_records = args
            .day_records
            .unwrap_or(if quick { 1_000 } else { 100_000 });
        let total = patients + day_records;
        let mut stages: Vec<u64> = if quick {
            vec![1_000, total]
        } else {
            vec![10_000, 100_000, total]
        };
        stages.retain(|s| *s <= total);
        stages.dedup();
        if stages.last() != Some(&total) {
            stages.push(total);
        }
        let plan = Plan {
            quick,
            patients,
            day_records,
            drugs: if quick { 800 } else { 8_000 },
            services: if quick { 500 } else { 5_000 },
            stages,
            open_items: 100,
            requests: if quick { 5 } else { 20 },
            writes: args.writes.unwrap_or(if quick { 20 } else { 300 }),
            outage_windows: args.outage_windows.unwrap_or(if quick { 3 } else { 20 }),
            per_window: args.per_window.unwrap_or(if quick { 20 } else { 500 }),
            window_nice: args.window_nice,
            window_dir: args.window_dir.clone(),
            load_batch: 10_000,
        };
        ensure!(plan.patients >= 200, "--patients must be at least 200");
        ensure!(plan.writes > 0, "--writes must be at least 1");
        ensure!(
            plan.outage_windows > 0,
            "--outage-windows must be at least 1"
        );
        Ok(plan)
    }
}

/// Runs the benchmark, prints its table and writes its JSON to `args.out`.
pub fn run(args: &ScaleArgs) -> anyhow::Result<ScaleReport> {
    let plan = Plan::from_args(args)?;
    let bin = find_lifeline_bin(args.lifeline_bin.as_deref())?;
    let report = measure(&plan, &bin, args.dir.as_deref())?;
    publish(&report.table(), &report, &args.out)?;
    Ok(report)
}

/// Builds the hospital in a new temporary directory under `dir` and measures.
pub fn measure(plan: &Plan, bin: &Path, dir: Option<&Path>) -> anyhow::Result<ScaleReport> {
    let started = Instant::now();
    let (parent, tmp) = scratch_dir(dir, "lifeline-scale-")?;
    // The new window's own disk, when asked for: removed with `window` at the end.
    let window = match &plan.window_dir {
        Some(d) => Some(scratch_dir(Some(d), "lifeline-scale-window-")?.1),
        None => None,
    };
    let volume = volume::measure(
        plan,
        bin,
        &tmp.path().join("volume"),
        window.as_ref().map(|w| w.path()),
    )?;
    let outage = outage::measure(plan, bin, &tmp.path().join("outage"))?;
    let timestamp_unix_ms = now_unix_ms();
    Ok(ScaleReport {
        benchmark: "scale",
        timestamp: rfc3339_utc(timestamp_unix_ms),
        timestamp_unix_ms,
        machine: Machine::here(&parent),
        plan: plan.clone(),
        volume,
        outage,
        total_s: started.elapsed().as_secs_f64(),
    })
}

/// Options of `lifeline-bench catalogs`.
#[derive(Debug, Clone, clap::Args)]
pub struct CatalogArgs {
    #[arg(long, default_value_t = 8_000)]
    pub drugs: usize,
    #[arg(long, default_value_t = 5_000)]
    pub services: usize,
    /// Directory for drugs.csv, services.csv and departments.csv.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes generated catalogs as CSV files, for `lifeline catalog import`.
pub fn write_catalogs(args: &CatalogArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let (drugs, services, departments) = catalog_csv(&catalogs(args.drugs, args.services));
    for (name, text) in [
        ("drugs.csv", drugs),
        ("services.csv", services),
        ("departments.csv", departments),
    ] {
        std::fs::write(args.out.join(name), text)?;
    }
    println!(
        "wrote {} drugs and {} services to {}",
        args.drugs,
        args.services,
        args.out.display()
    );
    Ok(())
}

/// Milliseconds of a duration.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The resident memory of a process, from /proc (Linux), in MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
