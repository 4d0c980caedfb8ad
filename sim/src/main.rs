//! `lifeline-sim`: replays one seed with its trace (`--seed N`), or runs many and prints a
//! table (`--seeds N [--from S]`).

use std::process::ExitCode;

use clap::Parser;
use lifeline_sim::{Bug, Config, Kind, Storage, replay_command};

/// mimalloc instead of glibc's allocator (bench/README, "allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process, as the daemon does (`lifeline_node`'s
/// `process`): mimalloc asks the kernel for them, and the first touch of each zeroes 2 MiB,
/// which was 8% of an in-memory sweep's CPU. A refusal only leaves the kernel's default.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// Deterministic simulation of a whole Lifeline hospital under faults.
#[derive(Debug, Parser)]
#[command(name = "lifeline-sim")]
struct Args {
    /// Replay this seed and print its trace.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run this many seeds and print a table.
    #[arg(long)]
    seeds: Option<u64>,
    /// Runs of `--seeds` side by side (each run is still one thread).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// The first seed of `--seeds`.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Windows (1 to 8); by default the seed chooses 3 to 8.
    #[arg(long)]
    windows: Option<usize>,
    /// Desk writes per run.
    #[arg(long, default_value_t = 200)]
    writes: u32,
    /// Mean time between two desk writes, hospital-wide.
    #[arg(long, default_value_t = 250)]
    write_gap_ms: u64,
    /// Keep each node's records in its real redb store (in a file of the run's own
    /// directory, under /dev/shm where there is one) instead of in memory: slower, and checks
    /// each store's audit chain and kept figures after the run.
    #[arg(long)]
    store: bool,
    /// With --store: check every store's kept figures after every event, and stop at the
    /// first that differs (slow; to find the event behind a stores_verify failure).
    #[arg(long, requires = "store")]
    check_every_event: bool,
    /// With --store: no housekeeping (no episodes, acknowledgements or number ranges), so
    /// that the run is the in-memory one's.
    #[arg(long, requires = "store")]
    no_housekeeping: bool,
    /// Injected bug: the node acknowledges a write before committing it.
    #[arg(long)]
    bug_ack_before_commit: bool,
    /// Injected bug: every node leaves records of this kind out of what it sends.
    #[arg(long, value_enum)]
    bug_drop_kind: Option<Kind>,
    /// Injected bug: a node merges duplicate patients by itself.
    #[arg(long)]
    bug_merge_duplicates: bool,
}

fn main() -> ExitCode {
    without_huge_pages();
    let args = Args::parse();
    let bug = match (
        args.bug_ack_before_commit,
        args.bug_drop_kind,
        args.bug_merge_duplicates,
    ) {
        (true, _, _) => Some(Bug::AckBeforeCommit),
        (false, Some(kind), _) => Some(Bug::DropKind(kind)),
        (false, None, true) => Some(Bug::MergeDuplicates),
        (false, None, false) => None,
    };
    let template = Config {
        windows: args.windows,
        writes: args.writes,
        write_gap_ms: args.write_gap_ms,
        bug,
        storage: if args.store {
            Storage::Redb
        } else {
            Storage::Memory
        },
        check_every_event: args.check_every_event,
        housekeeping: !args.no_housekeeping,
        ..Config::new(args.seed.unwrap_or(args.from))
    };
    match args.seeds {
        Some(count) => sweep(&template, args.from, count, args.jobs),
        None => replay(template),
    }
}

fn replay(cfg: Config) -> ExitCode {
    let report = lifeline_sim::run(Config {
        trace: true,
        ..cfg.clone()
    });
    for line in &report.trace {
        println!("{line}");
    }
    println!(
        "\nseed {}: {} nodes, {} writes saved, {} refused, {} events, {:.1} s simulated",
        report.seed,
        report.nodes,
        report.writes_acked,
        report.writes_refused,
        report.events,
        report.sim_ms as f64 / 1000.0
    );
    let checks: u64 = report.checks.values().sum();
    if report.passed() {
        println!("every invariant held ({checks} checks)");
        return ExitCode::SUCCESS;
    }
    for f in &report.failures {
        println!("FAILED {}: {}", f.invariant, f.detail);
    }
    println!("replay: {}", replay_command(&cfg));
    ExitCode::FAILURE
}

fn sweep(template: &Config, from: u64, count: u64, jobs: usize) -> ExitCode {
    let (summary, elapsed) = lifeline_sim::sweep(template, from, count, jobs, |run| {
        if !run.passed() {
            let cfg = Config {
                seed: run.seed,
                ..template.clone()
            };
            let first = &run.failures[0];
            eprintln!(
                "seed {} FAILED {}: {} ({} failures)\n  replay: {}",
                run.seed,
                first.invariant,
                first.detail,
                run.failures.len(),
                replay_command(&cfg)
            );
        }
    });
    print!("{}", summary.table(elapsed));
    if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
