//! The simulator's CI set: a fixed range of seeds that must all pass, the proof that the
//! checks catch a node that acknowledges before it commits or that leaves a record kind out
//! of replication, and the proof that a seed replays exactly.

use lifeline_sim::{Bug, Config, Kind, RunReport, replay_command, run};

/// The fixed seeds CI runs. A seed that once failed stays in this range (or is added to
/// `REGRESSIONS`) once fixed.
const CI_SEEDS: std::ops::Range<u64> = 0..500;

/// Seeds that found bugs, kept after their fix.
const REGRESSIONS: &[u64] = &[];

/// Desk writes per CI run: enough for every record kind, a crash mid-write, concurrent edits
/// and several faults in most runs, few enough that the set runs in a debug build in about a
/// minute. `--seeds` runs the full 200 writes.
const CI_WRITES: u32 = 20;

fn ci(seed: u64) -> Config {
    Config {
        writes: CI_WRITES,
        ..Config::new(seed)
    }
}

fn describe(report: &RunReport, cfg: &Config) -> String {
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

#[test]
fn every_ci_seed_passes() {
    let mut failed = Vec::new();
    let mut acked = 0;
    for seed in CI_SEEDS.chain(REGRESSIONS.iter().copied()) {
        let cfg = ci(seed);
        let report = run(cfg.clone());
        acked += report.writes_acked;
        if !report.passed() {
            failed.push(describe(&report, &cfg));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    // The runs did work: a set of runs that wrote nothing would pass vacuously.
    assert!(acked > CI_SEEDS.end * u64::from(CI_WRITES) / 2, "{acked} writes saved");
}

/// The first CI seed that fails with `bug`, and the invariant it broke.
fn first_catch(bug: Bug) -> Option<(u64, Vec<&'static str>)> {
    CI_SEEDS.clone().find_map(|seed| {
        let report = run(Config {
            bug: Some(bug),
            ..ci(seed)
        });
        (!report.passed()).then(|| (seed, report.failures.iter().map(|f| f.invariant).collect()))
    })
}

#[test]
fn a_node_that_acknowledges_before_it_commits_is_caught() {
    let (seed, broken) = first_catch(Bug::AckBeforeCommit).expect("some CI seed catches it");
    assert!(
        broken.contains(&"acknowledged_writes_kept"),
        "seed {seed} broke {broken:?}"
    );
}

#[test]
fn a_node_that_leaves_a_kind_out_of_replication_is_caught() {
    let (seed, broken) =
        first_catch(Bug::DropKind(Kind::Prescription)).expect("some CI seed catches it");
    assert!(
        broken.contains(&"replicas_equal") && broken.contains(&"acknowledged_writes_kept"),
        "seed {seed} broke {broken:?}"
    );
}

#[test]
fn a_seed_replays_exactly() {
    let cfg = Config {
        trace: true,
        ..ci(42)
    };
    let first = run(cfg.clone());
    let second = run(cfg);
    assert!(first.trace.len() > 50, "a trace of {} lines", first.trace.len());
    assert_eq!(first.trace, second.trace);
    assert_eq!(first.faults, second.faults);
    assert_eq!(first.writes_acked, second.writes_acked);
}

#[test]
fn different_seeds_make_different_runs() {
    let traces: Vec<Vec<String>> = (1..4)
        .map(|seed| {
            run(Config {
                trace: true,
                ..ci(seed)
            })
            .trace
        })
        .collect();
    assert_ne!(traces[0], traces[1]);
    assert_ne!(traces[1], traces[2]);
}
