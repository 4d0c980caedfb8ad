//! The simulator's CI set: a fixed range of seeds that must all pass, the proof that the
//! checks catch a node that acknowledges before it commits or that leaves a record kind out
//! of replication, and the proof that a seed replays exactly.

use lifeline_sim::{Bug, Config, Kind, describe_failures, run, sweep};

/// The fixed seeds CI runs, in two halves that the test harness runs side by side. A seed
/// that once failed stays in this range (or is added to `REGRESSIONS`) once fixed.
const CI_SEEDS: std::ops::Range<u64> = 0..500;
const CI_HALF: u64 = 250;

/// Seeds that found bugs, kept after their fix (each with the CI runs' settings).
/// - 1150 and 2651: a window's store copied back from an older backup by hand (the same
///   incarnation, a shorter feed) was not forgotten by its peers, which went on believing it
///   held what it had written since (proto/receive.rs, `feed_went_back`).
/// - 92 (in `CI_SEEDS`): a record waiting at central for a change a drift hid, completed by a
///   repair through another peer, stayed waiting for its sender (whose exchange then ended
///   with nothing to apply); settled now at the digest comparison (`Replica::settle_waiting`).
const REGRESSIONS: &[u64] = &[1150, 2651];

/// Seeds that found bugs in a full run (`lifeline-sim --seeds`: 200 writes, a write every
/// 250 ms), kept after their fix with those settings.
/// - 7301077: a node's store replaced by an empty one and then restored from a backup taken
///   after it refused a forgery held that refusal again, which the simulation had written off
///   with the empty store (`faults.rs`, `refusals_lost_with_store`; a bug of the simulation).
/// - 7301106: two drifts of one window's beliefs ten seconds apart: the first repair (about a
///   period after the first drift) held every repair with that peer back for six periods, so
///   the second drift's bucket stayed different for a minute more (past the simulation's
///   settling); each bucket now has its own gap (`proto/repair.rs`).
/// - 7400370: a standby's store replaced by an empty one, then its older backup copied back
///   by hand: the records only that backup held came back, which the simulation had
///   forgotten with the empty store (`Ledger::recall`; a bug of the simulation).
/// - 7502470: a window got an edit before the change it depended on (its peers' beliefs of
///   it had drifted); Automerge held the edit back and let it out when a sync message brought
///   the dependency, judged then without its signature, which had come with the first batch:
///   the standby's honest edit refused as unsigned. A document kept now holds no change
///   waiting for its dependencies (`store/merge.rs`, `without_orphans`), and a sync message
///   names every change it may carry (`generate_sync`).
/// - 7800000: a window's edit reached only the standby; the window's store was replaced,
///   then the standby restored from a backup older than the edit: lost with the two stores,
///   which the simulation counted only for writes of the node being restored (a bug of the
///   simulation; `faults.rs`, `lost_with_store`).
/// - 31250: a window got a sync message carrying a change without one it depends on (its
///   peers took the window to hold it); the change was left out, as 7502470 asks, and the
///   window's next messages asked only for the peers' head, which they counted as sent: some
///   20,000 sync frames to the end of the run. A message whose changes wait now asks for what
///   they wait on and has the peer forget what it sent (`store/merge.rs`, `receive_sync`).
const FULL_RUN_REGRESSIONS: &[u64] = &[7301077, 7301106, 7400370, 7502470, 7800000, 31250];

/// Desk writes per CI run, and their mean gap: about seven simulated seconds of work, enough
/// for most record kinds, a crash mid-write, a concurrent edit and a few faults in most runs,
/// little enough for a debug build (this file's tests, the 500 runs and the bugs' hunts: about
/// 30 s of CPU in a debug build; the two halves run side by side). `--seeds` runs the full 200
/// writes.
const CI_WRITES: u32 = 10;
const CI_WRITE_GAP_MS: u64 = 700;

fn ci(seed: u64) -> Config {
    Config {
        writes: CI_WRITES,
        write_gap_ms: CI_WRITE_GAP_MS,
        ..Config::new(seed)
    }
}

/// Runs seeds and fails with each failure's invariants and replay command.
fn all_pass(seeds: impl Iterator<Item = u64>) {
    let mut failed = Vec::new();
    let (mut runs, mut acked, mut judged, mut families) = (0, 0, 0, 0);
    let mut checks = std::collections::BTreeMap::new();
    for seed in seeds {
        let cfg = ci(seed);
        let report = run(cfg.clone());
        runs += 1;
        acked += report.writes_acked;
        judged += report.faults.forgeries_judged;
        families += report.faults.families_registered_twice;
        for (name, n) in &report.checks {
            *checks.entry(*name).or_insert(0) += n;
        }
        if !report.passed() {
            failed.push(describe_failures(&report, &cfg));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    // The runs did work: runs that wrote nothing would pass vacuously.
    assert!(
        acked > runs * u64::from(CI_WRITES) / 2,
        "{acked} writes saved in {runs} runs"
    );
    // And the hostile windows forged, families were registered twice, desks edited one phone
    // at two nodes at once, admins merged and settled some of those, with the checks of each
    // run on what reached the nodes.
    let checked = |name| checks.get(name).copied().unwrap_or(0);
    assert!(
        judged > 0 && checked("forgeries_refused") > judged,
        "{judged} forgeries reached a node, {checks:?}"
    );
    assert!(
        families > 0 && checked("duplicates_flagged") > 0,
        "{families} families registered twice, {checks:?}"
    );
    assert!(checked("conflicts_flagged") > 0, "{checks:?}");
    assert!(checked("admin_merges_held") > 0, "{checks:?}");
    assert!(checked("admin_resolutions_held") > 0, "{checks:?}");
    assert!(checked("cursors_caught_up") > 0, "{checks:?}");
}

#[test]
fn the_first_half_of_the_ci_seeds_passes() {
    all_pass(CI_SEEDS.start..CI_HALF);
}

#[test]
fn the_second_half_of_the_ci_seeds_and_the_regressions_pass() {
    all_pass((CI_HALF..CI_SEEDS.end).chain(REGRESSIONS.iter().copied()));
}

#[test]
fn the_full_run_regressions_pass() {
    let failed: Vec<String> = FULL_RUN_REGRESSIONS
        .iter()
        .map(|&seed| (run(Config::new(seed)), Config::new(seed)))
        .filter(|(report, _)| !report.passed())
        .map(|(report, cfg)| describe_failures(&report, &cfg))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
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
fn a_node_that_merges_duplicates_by_itself_is_caught() {
    let (seed, broken) = first_catch(Bug::MergeDuplicates).expect("some CI seed catches it");
    assert!(
        broken.contains(&"duplicates_flagged"),
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
    assert!(
        first.trace.len() > 50,
        "a trace of {} lines",
        first.trace.len()
    );
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

#[test]
fn runs_side_by_side_report_what_runs_one_by_one_report() {
    let template = ci(0);
    let one_by_one = sweep(&template, 100, 6, 1, |_| {}).0;
    let mut seen = Vec::new();
    let side_by_side = sweep(&template, 100, 6, 2, |r| seen.push(r.seed)).0;
    assert_eq!(seen, (100..106).collect::<Vec<u64>>(), "told in seed order");
    assert_eq!(one_by_one.runs, 6);
    assert_eq!(one_by_one.writes_acked, side_by_side.writes_acked);
    assert_eq!(one_by_one.faults, side_by_side.faults);
    assert_eq!(one_by_one.checks, side_by_side.checks);
}
