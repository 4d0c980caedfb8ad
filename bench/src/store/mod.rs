//! `lifeline-bench store`: the durable write path.
//!
//! Measures, in one run and on one disk:
//! - the latency of one registration (`Store::register_visit` on a window store, which returns
//!   after its redb commit), one writer at a time;
//! - registrations per second with many writers at once, which the store's single writer folds
//!   into shared commits (group commit);
//! - the same two figures for a bare redb database committing as many bytes per write, so the
//!   store's overhead reads as a ratio. The two sides run interleaved (call by call, or round
//!   by round when concurrent) so that both see the same disk on a shared machine;
//! - building a registration's two documents with no store at all ([`floor`]): the part of
//!   its latency no Automerge store can skip.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use serde::Serialize;

pub mod floor;

use crate::bare::Bare;
use crate::fixture::{self, Window};
use crate::measure::{self, Summary};
use crate::{DEBUG_WARNING, Machine, now_unix_ms, publish, rfc3339_utc, scratch_dir};

pub use crate::QUICK_ENV;

/// Options of `lifeline-bench store`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Registrations timed one after another (default 500; 20 in quick mode).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Threads writing at once for the throughput run.
    #[arg(long, default_value_t = 16)]
    pub writers: usize,
    /// Writes per thread in the throughput run (default 100; 4 in quick mode).
    #[arg(long)]
    pub per_writer: Option<usize>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results/store.json")]
    pub out: PathBuf,
    /// Directory for the temporary databases (default: the system's temporary directory).
    /// Put it on the disk whose durable commits you want to measure.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Tiny counts, for a smoke test in seconds; also set by LIFELINE_BENCH_QUICK=1.
    #[arg(long)]
    pub quick: bool,
}

/// How many of each measurement a run makes.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    /// Unmeasured calls before each sequential run.
    pub warmup: usize,
    pub iterations: usize,
    pub writers: usize,
    pub per_writer: usize,
    /// The concurrent runs alternate, Lifeline then bare redb, in this many rounds that share
    /// out each writer's calls; the sequential runs alternate call by call.
    pub rounds: usize,
}

impl Plan {
    pub fn from_args(args: &StoreArgs) -> anyhow::Result<Plan> {
        let quick = crate::quick_mode(args.quick);
        let plan = Plan {
            quick,
            warmup: if quick { 2 } else { 20 },
            iterations: args.iterations.unwrap_or(if quick { 20 } else { 500 }),
            writers: args.writers,
            per_writer: args.per_writer.unwrap_or(if quick { 4 } else { 100 }),
            rounds: if quick { 1 } else { 5 },
        };
        ensure!(plan.iterations > 0, "--iterations must be at least 1");
        ensure!(plan.writers > 0, "--writers must be at least 1");
        ensure!(plan.per_writer > 0, "--per-writer must be at least 1");
        Ok(plan)
    }
}

/// Feed, feed position, index and metadata rows one registration commits besides the visit
/// document and the audit entry, in key and value bytes: the document chunk's key (id, chunk
/// number), the feed row (sequence, id), the feed position (id, sequence), the by-kind and
/// by-patient index keys, the audit key, and the metadata rows for the registration counter,
/// feed sequence, audit sequence and audit head (64 hex digits), counting 6 digits a number.
pub const INDEX_AND_META_BYTES: usize = (16 + 4)
    + (8 + 16)
    + (16 + 8)
    + (1 + 16)
    + (16 + 16)
    + 8
    + (20 + 6)
    + (8 + 6)
    + (9 + 6)
    + (10 + 64);

/// What one registration commits, and so what each baseline commit writes.
#[derive(Debug, Clone, Serialize)]
pub struct CommitBytes {
    /// The visit document as saved (`Store::doc(id).save()`).
    pub visit_doc_bytes: usize,
    /// The registration's audit entry as stored (JSON).
    pub audit_entry_bytes: usize,
    /// See [`INDEX_AND_META_BYTES`].
    pub index_and_meta_bytes: usize,
    pub total_bytes: usize,
    /// What the bare redb baseline writes per commit, in words.
    pub baseline_writes: String,
}

/// One side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub single_writer: Summary,
    pub concurrent: Summary,
    /// Concurrent throughput over single-writer throughput: what writing at once gains.
    pub concurrency_speedup: f64,
}

impl Side {
    fn new(single_writer: Summary, concurrent: Summary) -> Side {
        Side {
            concurrency_speedup: ratio(concurrent.throughput_per_s, single_writer.throughput_per_s),
            single_writer,
            concurrent,
        }
    }
}

/// Lifeline's figures over the bare redb ones: above 1 for latency is overhead, above 1 for
/// throughput is a gain.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    pub latency_p50_single_writer: f64,
    pub latency_p99_single_writer: f64,
    pub throughput_single_writer: f64,
    pub throughput_concurrent: f64,
}

/// Everything a `store` run measured; written as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct StoreReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub timestamp_unix_ms: i64,
    pub machine: Machine,
    pub plan: Plan,
    pub commit: CommitBytes,
    pub lifeline: Side,
    pub bare_redb: Side,
    /// Lifeline over bare redb.
    pub ratios: Ratios,
    /// Building a registration's documents alone.
    pub floor: floor::Floor,
}

fn ratio(ours: f64, bare: f64) -> f64 {
    if bare > 0.0 { ours / bare } else { 0.0 }
}

/// Runs the benchmark, prints its table and writes its JSON to `args.out`.
pub fn run(args: &StoreArgs) -> anyhow::Result<StoreReport> {
    let plan = Plan::from_args(args)?;
    let report = measure(&plan, args.dir.as_deref())?;
    publish(&report.table(), &report, &args.out)?;
    Ok(report)
}

/// Sets up the stores in a new temporary directory under `dir` and measures.
pub fn measure(plan: &Plan, dir: Option<&Path>) -> anyhow::Result<StoreReport> {
    let (parent, tmp) = scratch_dir(dir, "lifeline-bench-")?;
    let window = fixture::window(tmp.path())?;

    // The payload of the baseline is what a registration commits, so register one first.
    let commit = commit_bytes(&window)?;
    let bare = Bare::create(&tmp.path().join("bare.redb"), commit.total_bytes)?;
    let register = || window.register().map(drop);
    let bare_commit = || bare.commit_one();
    let (ours_single, bare_single) =
        measure::sequential_pair(plan.warmup, plan.iterations, register, bare_commit)?;
    let (ours_concurrent, bare_concurrent) = measure::concurrent_pair(
        plan.writers,
        plan.per_writer,
        plan.rounds,
        register,
        bare_commit,
    )?;

    let floor = floor::measure(&window, plan, bare_single.latency_us_p99)?;

    let timestamp_unix_ms = now_unix_ms();
    let lifeline = Side::new(ours_single, ours_concurrent);
    let bare_redb = Side::new(bare_single, bare_concurrent);
    let ratios = Ratios {
        latency_p50_single_writer: ratio(
            lifeline.single_writer.latency_us_p50,
            bare_redb.single_writer.latency_us_p50,
        ),
        latency_p99_single_writer: ratio(
            lifeline.single_writer.latency_us_p99,
            bare_redb.single_writer.latency_us_p99,
        ),
        throughput_single_writer: ratio(
            lifeline.single_writer.throughput_per_s,
            bare_redb.single_writer.throughput_per_s,
        ),
        throughput_concurrent: ratio(
            lifeline.concurrent.throughput_per_s,
            bare_redb.concurrent.throughput_per_s,
        ),
    };
    Ok(StoreReport {
        benchmark: "store",
        timestamp: rfc3339_utc(timestamp_unix_ms),
        timestamp_unix_ms,
        machine: Machine::here(&parent),
        plan: plan.clone(),
        commit,
        lifeline,
        bare_redb,
        ratios,
        floor,
    })
}

/// Registers one more visit and measures what its commit wrote.
fn commit_bytes(window: &Window) -> anyhow::Result<CommitBytes> {
    let visit = window.register()?;
    let visit_doc_bytes = window
        .store
        .doc(visit)?
        .context("the visit just registered is not in the store")?
        .save()
        .len();
    let last = window.store.stats()?.audit_entries;
    let entry = window
        .store
        .audit_entries(last.saturating_sub(8), 16)?
        .into_iter()
        .rev()
        .find(|e| e.action == "visit.register" && e.record == Some(visit))
        .context("the registration has no audit entry")?;
    let audit_entry_bytes = serde_json::to_vec(&entry)?.len();
    let total_bytes = visit_doc_bytes + audit_entry_bytes + INDEX_AND_META_BYTES;
    Ok(CommitBytes {
        visit_doc_bytes,
        audit_entry_bytes,
        index_and_meta_bytes: INDEX_AND_META_BYTES,
        total_bytes,
        baseline_writes: format!(
            "one row of {total_bytes} bytes (u64 key) into one table, \
             one Durability::Immediate commit per write"
        ),
    })
}

impl StoreReport {
    /// The figures as a table for people.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let m = &self.machine;
        let c = &self.commit;
        t.push_str(&m.title(
            "store",
            &self.timestamp,
            self.plan.quick,
            &format!(", data in {}", m.data_dir),
        ));
        if m.profile == "debug" {
            t.push_str(DEBUG_WARNING);
        }
        let _ = writeln!(
            t,
            "one registration commits ~{} bytes: visit document {} + audit entry {} + feed, \
             index and metadata rows {}",
            c.total_bytes, c.visit_doc_bytes, c.audit_entry_bytes, c.index_and_meta_bytes
        );
        let _ = writeln!(t, "bare redb baseline: {}", c.baseline_writes);
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<34} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "", "writes", "p50 µs", "p99 µs", "mean µs", "max µs", "writes/s"
        );
        let rows = [
            ("lifeline register_visit", &self.lifeline.single_writer),
            ("bare redb commit", &self.bare_redb.single_writer),
            ("lifeline register_visit", &self.lifeline.concurrent),
            ("bare redb commit", &self.bare_redb.concurrent),
        ];
        for (name, s) in rows {
            let label = format!(
                "{name}, {} writer{}",
                s.writers,
                if s.writers == 1 { "" } else { "s" }
            );
            let _ = writeln!(
                t,
                "{label:<34} {:>7} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>10.0}",
                s.count,
                s.latency_us_p50,
                s.latency_us_p99,
                s.latency_us_mean,
                s.latency_us_max,
                s.throughput_per_s
            );
        }
        let r = &self.ratios;
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "lifeline / bare redb: p50 latency {:.2}x, p99 latency {:.2}x (1 writer); \
             throughput {:.2}x (1 writer), {:.2}x ({} writers)",
            r.latency_p50_single_writer,
            r.latency_p99_single_writer,
            r.throughput_single_writer,
            r.throughput_concurrent,
            self.plan.writers
        );
        let _ = writeln!(
            t,
            "{} writers at once over 1 writer: lifeline {:.2}x (group commit), bare redb {:.2}x",
            self.plan.writers,
            self.lifeline.concurrency_speedup,
            self.bare_redb.concurrency_speedup
        );
        let f = &self.floor;
        let _ = writeln!(
            t,
            "building the registration's two documents alone (Automerge, no store): \
             min {:.0} µs, p50 {:.0} µs, p99 {:.0} µs; the fastest is {:.2}x the bare \
             commit's p99, so a registration's p99 is at least {:.2}x that commit's",
            f.build.latency_us_min,
            f.build.latency_us_p50,
            f.build.latency_us_p99,
            f.build_min_over_bare_p99,
            1.0 + f.build_min_over_bare_p99
        );
        t
    }
}
