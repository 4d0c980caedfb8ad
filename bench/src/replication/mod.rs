//! `lifeline-bench replication`: what replicating a window's work to central costs, in time
//! and in bytes on the wire, through the real mesh (QUIC, mutual TLS) on loopback.
//!
//! Measures, per run:
//! - the initial sync: a window store holding `registrations` registrations (a new patient,
//!   a visit and its registration-fee charge each: [`RECORDS_PER_REGISTRATION`] records,
//!   written with core's desk operations) meets a central that holds only the catalogs; from the window's mesh starting (handshake included) until central's
//!   digest equals the window's;
//! - the catch-up: the window's mesh stops, the window writes `catch_up_records` more
//!   records (whole registrations), the mesh starts again; until the digests agree again;
//! - what signatures cost: each run again without them (nothing signed, sent or checked),
//!   interleaved, and signing and verifying a commit per change ([`signing`]).
//!
//! Bytes on the wire are counted by a UDP relay between the window and central (the window
//! dials the relay): QUIC as sent, with its handshake, encryption and acknowledgements. They
//! are set against the records' own saved size (`Store::doc(id).save()`).
//!
//! The same workload then goes through samod, the Rust port of automerge-repo (see
//! [`samod`]), through a counting TCP relay, so that Lifeline's figures read as ratios.
//! Figures of several runs are medians.
//!
//! - [`setup`]: the stores, certificates and workload every run starts from;
//! - [`lifeline`]: Lifeline's runs; [`samod`] and [`samod_doc`]: samod's;
//! - [`phase`]: the figures of a phase over the runs; [`table`]: the table for people.

mod lifeline;
mod phase;
pub mod samod;
mod samod_doc;
mod setup;
mod signing;
mod table;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, ensure};
use lifeline_node::error::chain;
use serde::Serialize;

pub use phase::{Phase, PhaseRun, Side};
pub use signing::{CommitCost, SigningCost, Throughput};

use crate::{Machine, now_unix_ms, publish, quick_mode, rfc3339_utc, scratch_dir};

/// Options of `lifeline-bench replication`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplicationArgs {
    /// Registrations on the window before it first meets central, each a new patient and a
    /// visit and its fee charge: three records (default 10000; 100 in quick mode).
    #[arg(long)]
    pub registrations: Option<usize>,
    /// Records written while the window is disconnected, whole registrations (a patient, a
    /// visit and its fee charge each), so a multiple of 3 (default 999; 21 in quick mode).
    #[arg(long)]
    pub catch_up_records: Option<usize>,
    /// Runs of each side; the figures are their medians (default 3; 1 in quick mode).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Registrations of the samod comparison, Lifeline being measured again at that size
    /// when it differs (default: as many as --registrations, at most 2000: samod's time grows
    /// with the square of the documents in a repo, see `SAMOD_DEFAULT_CAP`).
    #[arg(long)]
    pub samod_registrations: Option<usize>,
    /// Leave out the samod baseline.
    #[arg(long)]
    pub skip_samod: bool,
    /// Desks writing the window's registrations at once (setup, not measured). The store
    /// folds writes that wait together into one commit and signs each commit once, so this
    /// sets the changes per signature the receiver verifies: 1 is one desk writing alone
    /// (one signature per change, the most a receiver can be asked to verify), 8 the
    /// default.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub setup_writers: u16,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results/replication.json")]
    pub out: PathBuf,
    /// Directory for the temporary stores (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Small counts, for a smoke test in seconds; also set by LIFELINE_BENCH_QUICK=1.
    #[arg(long)]
    pub quick: bool,
}

/// The samod comparison's default size, in registrations (one document each). samod 0.16's
/// hub walks every document of the repo for every connection on every event it handles
/// (`ensure_connections` in samod-core's `actors/hub/state.rs`), so syncing n documents costs
/// about n² steps: on a 2-core machine 500 documents synced in about 1 s and 2,000 in 9 to
/// 25 s (depending on other load), and 10,000 would take tens of minutes a run. Lifeline is measured again at this size, so
/// the ratios compare like with like.
pub const SAMOD_DEFAULT_CAP: usize = 2_000;

/// Records one registration writes: the patient, the visit and the visit's registration-fee
/// charge. Checked against the store when the workload is written, so the records/s figures
/// cannot drift from what the desk really writes.
pub const RECORDS_PER_REGISTRATION: usize = 3;

/// How much a run replicates.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub registrations: usize,
    /// Records of the initial sync: [`RECORDS_PER_REGISTRATION`] per registration.
    pub records: usize,
    pub catch_up_registrations: usize,
    pub catch_up_records: usize,
    pub runs: usize,
    pub samod: bool,
    /// Registrations of the samod comparison.
    pub samod_registrations: usize,
    /// Threads writing the workload (setup only, not measured): the store folds their writes
    /// into shared commits.
    pub setup_writers: usize,
}

impl Plan {
    pub fn from_args(args: &ReplicationArgs) -> anyhow::Result<Plan> {
        let quick = quick_mode(args.quick);
        let registrations = args
            .registrations
            .unwrap_or(if quick { 100 } else { 10_000 });
        let catch_up_records = args
            .catch_up_records
            .unwrap_or(if quick { 21 } else { 999 });
        ensure!(registrations > 0, "--registrations must be at least 1");
        ensure!(
            catch_up_records >= RECORDS_PER_REGISTRATION
                && catch_up_records.is_multiple_of(RECORDS_PER_REGISTRATION),
            "--catch-up-records must be a multiple of {RECORDS_PER_REGISTRATION}, at least \
             {RECORDS_PER_REGISTRATION} (a patient, a visit and its fee charge each)"
        );
        let runs = args.runs.unwrap_or(if quick { 1 } else { 3 });
        ensure!(runs > 0, "--runs must be at least 1");
        let samod_registrations = args
            .samod_registrations
            .unwrap_or(registrations.min(SAMOD_DEFAULT_CAP));
        ensure!(
            samod_registrations > 0,
            "--samod-registrations must be at least 1"
        );
        Ok(Plan {
            quick,
            registrations,
            records: RECORDS_PER_REGISTRATION * registrations,
            catch_up_registrations: catch_up_records / RECORDS_PER_REGISTRATION,
            catch_up_records,
            runs,
            samod: !args.skip_samod,
            samod_registrations,
            setup_writers: usize::from(args.setup_writers),
        })
    }
}

/// Lifeline over samod: below 1 is Lifeline faster or smaller.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    pub initial_time: f64,
    pub initial_wire_bytes: f64,
    pub catch_up_time: f64,
    pub catch_up_wire_bytes: f64,
}

/// What preparing batches as they are read gains: in each [`Throughput`], "signed" is the
/// runs as nodes run and "unsigned" the signed runs merged on the writer.
#[derive(Debug, Clone, Serialize)]
pub struct PreparedAhead {
    pub initial: Throughput,
    pub catch_up: Throughput,
}

/// Everything a `replication` run measured; written as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicationReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub timestamp_unix_ms: i64,
    pub machine: Machine,
    pub plan: Plan,
    pub lifeline: Side,
    /// The same runs without signatures (nothing signed, sent or checked), interleaved.
    pub lifeline_unsigned: Side,
    /// The same signed runs with every batch merged and judged on central's writer thread
    /// instead of as it is read (`MeshConfig::prepare_batches` off), interleaved.
    pub lifeline_on_the_writer: Side,
    /// Records per second of the signed runs against those merged on the writer.
    pub prepared_ahead: PreparedAhead,
    /// What signatures cost: per change, and in records per second against the runs
    /// without them.
    pub signing: SigningCost,
    /// Lifeline again at the samod comparison's size, when that differs.
    pub lifeline_at_samod_size: Option<Side>,
    pub samod: Option<Side>,
    /// Why there are no samod figures, when there are none.
    pub samod_unavailable: Option<String>,
    pub ratios: Option<Ratios>,
}

/// Runs the benchmark, prints its table and writes its JSON to `args.out`.
pub fn run(args: &ReplicationArgs) -> anyhow::Result<ReplicationReport> {
    let plan = Plan::from_args(args)?;
    let report = measure(&plan, args.dir.as_deref())?;
    publish(&report.table(), &report, &args.out)?;
    Ok(report)
}

/// Longest wait for one phase to converge before the run fails.
const CONVERGE_WITHIN: Duration = Duration::from_secs(600);

/// Sets everything up in a new temporary directory under `dir` and measures.
pub fn measure(plan: &Plan, dir: Option<&Path>) -> anyhow::Result<ReplicationReport> {
    let (parent, tmp) = scratch_dir(dir, "lifeline-bench-")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    let main = lifeline::series(&rt, &tmp.path().join("lifeline"), plan.registrations, plan)?;
    let mut lifeline_at_samod_size = None;
    let (samod, samod_unavailable) = if plan.samod {
        if plan.samod_registrations != plan.registrations {
            lifeline_at_samod_size = Some(lifeline::series(
                &rt,
                &tmp.path().join("lifeline-samod-size"),
                plan.samod_registrations,
                plan,
            )?);
        }
        let reference = lifeline_at_samod_size.as_ref().unwrap_or(&main);
        match samod::side(
            &rt,
            &reference.initial_json,
            &reference.catch_up_json,
            tmp.path(),
            plan,
        ) {
            Ok(side) => (Some(side), None),
            Err(e) => (
                None,
                Some(format!("samod could not be measured: {}", chain(&*e))),
            ),
        }
    } else {
        (None, Some("left out (--skip-samod)".to_owned()))
    };
    let reference = lifeline_at_samod_size.as_ref().unwrap_or(&main);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let ratios = samod.as_ref().map(|s| Ratios {
        initial_time: ratio(reference.side.initial.elapsed_ms, s.initial.elapsed_ms),
        initial_wire_bytes: ratio(reference.side.initial.wire_bytes, s.initial.wire_bytes),
        catch_up_time: ratio(reference.side.catch_up.elapsed_ms, s.catch_up.elapsed_ms),
        catch_up_wire_bytes: ratio(reference.side.catch_up.wire_bytes, s.catch_up.wire_bytes),
    });
    let signing = signing::measure(
        main.changes_per_commit,
        plan.quick,
        (&main.side.initial, &main.side.catch_up),
        (&main.unsigned.initial, &main.unsigned.catch_up),
    )?;
    let prepared_ahead = PreparedAhead {
        initial: Throughput::of(&main.side.initial, &main.on_the_writer.initial),
        catch_up: Throughput::of(&main.side.catch_up, &main.on_the_writer.catch_up),
    };
    let timestamp_unix_ms = now_unix_ms();
    Ok(ReplicationReport {
        benchmark: "replication",
        timestamp: rfc3339_utc(timestamp_unix_ms),
        timestamp_unix_ms,
        machine: Machine::here(&parent),
        plan: plan.clone(),
        lifeline: main.side,
        prepared_ahead,
        lifeline_unsigned: main.unsigned,
        lifeline_on_the_writer: main.on_the_writer,
        signing,
        lifeline_at_samod_size: lifeline_at_samod_size.map(|l| l.side),
        samod,
        samod_unavailable,
        ratios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_ups_of_partial_registrations_are_refused() {
        let args = ReplicationArgs {
            registrations: Some(5),
            catch_up_records: Some(4),
            runs: None,
            samod_registrations: None,
            skip_samod: true,
            setup_writers: 8,
            out: PathBuf::from("x.json"),
            dir: None,
            quick: true,
        };
        let err = Plan::from_args(&args).expect_err("refused").to_string();
        assert!(err.contains("--catch-up-records"), "{err}");
    }
}
