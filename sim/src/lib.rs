//! lifeline-sim: a deterministic simulation of a whole Lifeline hospital.
//!
//! Central, the standby and three to eight windows, each with its own records (an in-memory
//! replica, or with [`Storage::Redb`] the node's real redb store, see `backing`) and one
//! protocol [`Session`](lifeline_sync::proto::Session) per connected peer, run in one thread
//! under a seeded scheduler: no sleeps, no wall clock, no threads of the simulation's own (a
//! store's writer thread is called and waited for, one call at a time). Desks write at every
//! node, sometimes two at once on one record, sometimes the same family at two windows, and an
//! admin at a server merges some of the duplicates and settles some of the conflicts it finds;
//! faults (lost frames, slow links, partitions of one node, of a side or of one direction,
//! crashes, a store restored from its latest backup or restored empty, clock skew) come on a
//! seeded schedule, and every node is backed up on one of its own; in half the runs one window
//! is hostile and slips forged changes among its own. Then everything heals (in a third of the
//! runs a node's peers are then made to believe it holds records it lacks, for the digest
//! repair to find), the hospital runs to quiescence and the invariants are checked
//! ([`check`]; with stores, also each store's audit chain and kept figures, `kept`; then
//! people at central take every action of the recovery worklist, `worklist`, and the hospital
//! runs to quiescence once more, every node's list to be empty). With stores, windows'
//! cashiers also issue and void invoices from their ranges (`cashier`). A seed
//! replays the same run exactly, with a readable trace, and makes the same run with either
//! kind of records.
//!
//! The scheduler is purpose-built: the protocol is already a state machine without I/O
//! (frames and `now` in, frames and deadlines out), so the simulation only has to carry
//! frames and fire deadlines; an async-runtime simulator (turmoil, madsim) would add a
//! runtime, tasks and sockets that the protocol does not use.

mod admin;
mod backing;
mod cashier;
pub mod check;
mod drift;
mod emergency;
mod family;
mod faults;
mod his;
mod his_master;
mod hostile;
mod identities;
mod kept;
mod network;
mod numbers;
mod outage;
mod perform;
mod queue;
mod records;
pub mod report;
mod rng;
mod sim;
mod time;
mod trace;
mod work;
mod worklist;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use lifeline_core::Store;
use lifeline_sync::replica::MemoryReplica;

pub use report::{Failure, Faults, RunReport, Summary};
use sim::Sim;
pub use sim::{Bug, Config, Storage};
pub use work::Kind;

/// Runs one seed. A panic anywhere in the run is a failure of the run (`no_panic`), not of
/// the caller.
pub fn run(cfg: Config) -> RunReport {
    let seed = cfg.seed;
    let outcome = catch_unwind(AssertUnwindSafe(|| match cfg.storage {
        Storage::Memory => Sim::<MemoryReplica>::new(cfg, None).map(Sim::run),
        Storage::Redb => {
            let dir = run_dir().map_err(|e| format!("cannot make the run's directory: {e}"))?;
            let report = Sim::<Store>::new(cfg, Some(dir.path())).map(Sim::run);
            // The stores are closed (the simulation is gone) before their files are removed.
            drop(dir);
            report
        }
    }));
    let failure = |invariant, detail| RunReport {
        seed,
        failures: vec![Failure { invariant, detail }],
        ..RunReport::default()
    };
    match outcome {
        Ok(Ok(mut report)) => {
            *report.checks.entry("no_panic").or_default() += 1;
            report
        }
        Ok(Err(e)) => failure("setup", e),
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned());
            failure("no_panic", text)
        }
    }
}

/// A directory for one run's store files: in memory (`/dev/shm`) where the machine has it,
/// as a run's thousands of commits need no disk; removed when dropped.
fn run_dir() -> std::io::Result<tempfile::TempDir> {
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("lifeline-sim-");
        b
    };
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = builder().tempdir_in(shm)
    {
        return Ok(dir);
    }
    builder().tempdir()
}

/// Runs `count` seeds from `from`, each as `template` says, telling `each` about every run
/// in seed order. With `jobs` above 1, that many runs go side by side on threads of their
/// own; each run is still one thread and replays alone exactly the same.
pub fn sweep(
    template: &Config,
    from: u64,
    count: u64,
    jobs: usize,
    mut each: impl FnMut(&RunReport),
) -> (Summary, std::time::Duration) {
    let started = Instant::now();
    let mut summary = Summary::default();
    let seeds: Vec<u64> = (from..from.saturating_add(count)).collect();
    // Bounded: a chunk of seeds at a time, one thread per job, reports kept until the chunk
    // is done so that they are told in seed order.
    for chunk in seeds.chunks(jobs.max(1) * 8) {
        for report in run_chunk(template, chunk, jobs.max(1)) {
            each(&report);
            summary.add(&report);
        }
    }
    (summary, started.elapsed())
}

fn config_for(template: &Config, seed: u64) -> Config {
    Config {
        seed,
        trace: false,
        ..template.clone()
    }
}

/// The reports of `seeds`, in their order, run on `jobs` threads.
fn run_chunk(template: &Config, seeds: &[u64], jobs: usize) -> Vec<RunReport> {
    if jobs == 1 {
        return seeds
            .iter()
            .map(|&s| run(config_for(template, s)))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut reports: Vec<(usize, RunReport)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&seed) = seeds.get(i) else { break };
                        done.push((i, run(config_for(template, seed))));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a run catches its own panics"))
            .collect()
    });
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// A failed run's failures, each with its invariant, and the command that replays it.
pub fn describe_failures(report: &RunReport, cfg: &Config) -> String {
    let failures: Vec<String> = report
        .failures
        .iter()
        .map(|f| format!("  {}: {}", f.invariant, f.detail))
        .collect();
    format!(
        "seed {} failed:\n{}\n  replay: {}",
        report.seed,
        failures.join("\n"),
        replay_command(cfg)
    )
}

/// The one command that replays a run.
pub fn replay_command(cfg: &Config) -> String {
    let mut cmd = format!("cargo run -p lifeline-sim -- --seed {}", cfg.seed);
    if let Some(w) = cfg.windows {
        cmd.push_str(&format!(" --windows {w}"));
    }
    let default = Config::new(cfg.seed);
    if cfg.writes != default.writes {
        cmd.push_str(&format!(" --writes {}", cfg.writes));
    }
    if cfg.write_gap_ms != default.write_gap_ms {
        cmd.push_str(&format!(" --write-gap-ms {}", cfg.write_gap_ms));
    }
    if cfg.storage == Storage::Redb {
        cmd.push_str(" --store");
    }
    if cfg.check_every_event {
        cmd.push_str(" --check-every-event");
    }
    match cfg.bug {
        Some(Bug::AckBeforeCommit) => cmd.push_str(" --bug-ack-before-commit"),
        Some(Bug::DropKind(kind)) => {
            cmd.push_str(&format!(
                " --bug-drop-kind {}",
                format!("{kind:?}").to_lowercase()
            ));
        }
        Some(Bug::MergeDuplicates) => cmd.push_str(" --bug-merge-duplicates"),
        None => {}
    }
    cmd
}
