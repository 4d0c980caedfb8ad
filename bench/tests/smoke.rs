//! Smoke tests: every benchmark runs in quick mode, through the library and through the real
//! binary, and produces every figure. No timing is asserted; timing goals belong to the
//! benchmark's readers, not to tests.
//!
//! The failover, scale and chaos benchmarks run real `lifeline` daemons: their tests use
//! `$LIFELINE_BIN` or the `lifeline` binary of this target directory (`cargo test --workspace`
//! builds it). Without one they print a notice and skip, unless `CI` is set: then they build
//! one.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use lifeline_bench::failover::{self, FailoverArgs};
use lifeline_bench::his;
use lifeline_bench::store::{self, StoreArgs};
use serde_json::Value;

mod common;

use common::{positive, read_json, run_bench, serial};

fn quick_args(dir: &Path) -> StoreArgs {
    StoreArgs {
        iterations: None,
        writers: 16,
        per_writer: None,
        out: dir.join("results").join("store.json"),
        dir: Some(dir.to_path_buf()),
        quick: true,
    }
}

fn check_results(json: &Value) {
    assert_eq!(json["benchmark"], "store");
    assert!(json["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(json["plan"]["quick"], true);
    positive(json, "/machine/nproc");
    positive(json, "/timestamp_unix_ms");
    let total = positive(json, "/commit/total_bytes");
    let parts = positive(json, "/commit/visit_doc_bytes")
        + positive(json, "/commit/audit_entry_bytes")
        + positive(json, "/commit/index_and_meta_bytes");
    assert_eq!(total, parts);
    for side in ["lifeline", "bare_redb"] {
        for run in ["single_writer", "concurrent"] {
            for figure in [
                "count",
                "elapsed_ms",
                "throughput_per_s",
                "latency_us_mean",
                "latency_us_p50",
                "latency_us_p99",
                "latency_us_max",
            ] {
                positive(json, &format!("/{side}/{run}/{figure}"));
            }
        }
        positive(json, &format!("/{side}/concurrency_speedup"));
    }
    assert_eq!(json["lifeline"]["single_writer"]["writers"], 1);
    assert_eq!(json["lifeline"]["concurrent"]["writers"], 16);
    assert_eq!(json["lifeline"]["concurrent"]["count"], 16 * 4);
    for ratio in [
        "latency_p50_single_writer",
        "latency_p99_single_writer",
        "throughput_single_writer",
        "throughput_concurrent",
    ] {
        positive(json, &format!("/ratios/{ratio}"));
    }
    // The floor: the registration's documents built alone, as many times as it registered
    // one after another, no faster than the whole registration.
    assert_eq!(
        json["floor"]["build"]["count"],
        json["lifeline"]["single_writer"]["count"]
    );
    let fastest_build = positive(json, "/floor/build/latency_us_min");
    assert!(fastest_build <= positive(json, "/floor/build/latency_us_p50"));
    assert!(fastest_build < positive(json, "/lifeline/single_writer/latency_us_p50"));
    positive(json, "/floor/build_min_over_bare_p99");
}

#[test]
fn a_quick_run_writes_every_figure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = quick_args(dir.path());
    let report = store::run(&args).expect("the benchmark runs");
    check_results(&read_json(&args.out));
    assert!(
        report
            .table()
            .contains("lifeline register_visit, 16 writers")
    );
    // The temporary databases are gone; only the results are left.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec!["results"]);
}

#[test]
fn the_binary_prints_the_table_and_writes_the_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("store.json");
    let stdout = run_bench([
        OsStr::new("store"),
        OsStr::new("--writers"),
        OsStr::new("4"),
        OsStr::new("--iterations"),
        OsStr::new("5"),
        OsStr::new("--out"),
        out.as_os_str(),
        OsStr::new("--dir"),
        dir.path().as_os_str(),
    ]);
    assert!(stdout.contains("lifeline / bare redb"), "{stdout}");
    assert!(stdout.contains("bare redb commit, 4 writers"), "{stdout}");
    let json = read_json(&out);
    assert_eq!(json["plan"]["quick"], true);
    assert_eq!(json["plan"]["iterations"], 5);
    assert_eq!(json["lifeline"]["concurrent"]["count"], 4 * 4);
}

#[test]
fn zero_writers_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = quick_args(dir.path());
    args.writers = 0;
    let err = store::run(&args).expect_err("refused").to_string();
    assert!(err.contains("--writers"), "{err}");
}

/// The `lifeline` binary for the benchmarks of real daemons, or `None` (with a notice) to skip.
fn lifeline_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(failover::LIFELINE_BIN_ENV) {
        return Some(PathBuf::from(path));
    }
    // This test runs from <target>/<profile>/deps; cargo puts binaries in <target>/<profile>.
    let exe = std::env::current_exe().expect("this test's path");
    let profile_dir = exe.parent()?.parent()?.to_path_buf();
    let bin = profile_dir.join(format!("lifeline{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        return Some(bin);
    }
    if std::env::var_os("CI").is_none() {
        eprintln!(
            "NOTICE: skipping a smoke test of real daemons: no lifeline binary at {} (run \
             `cargo build -p lifeline-node` first, or set {})",
            bin.display(),
            failover::LIFELINE_BIN_ENV
        );
        return None;
    }
    // In CI, build it, in a target directory of its own: the one running this test may be
    // locked by the cargo that runs it.
    let target = profile_dir.parent()?.join("bench-smoke");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--locked",
            "-p",
            "lifeline-node",
            "--bin",
            "lifeline",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(workspace)
        .status()
        .expect("cargo starts");
    assert!(
        status.success(),
        "cargo build -p lifeline-node failed: {status}"
    );
    let built = target
        .join("debug")
        .join(format!("lifeline{}", std::env::consts::EXE_SUFFIX));
    assert!(built.is_file(), "no {} after the build", built.display());
    Some(built)
}

/// Runs a benchmark of real daemons in quick mode through the binary, with its files under
/// `dir`; returns what it printed and the JSON it wrote (`dir/<name>.json`).
fn quick_daemon_run(name: &str, bin: &Path, dir: &Path) -> (String, Value) {
    let out = dir.join(format!("{name}.json"));
    let stdout = run_bench([
        OsStr::new(name),
        OsStr::new("--quick"),
        OsStr::new("--lifeline-bin"),
        bin.as_os_str(),
        OsStr::new("--out"),
        out.as_os_str(),
        OsStr::new("--dir"),
        dir.as_os_str(),
    ]);
    (stdout, read_json(&out))
}

#[test]
fn a_quick_failover_run_writes_every_figure() {
    let Some(bin) = lifeline_bin() else {
        return;
    };
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout, json) = quick_daemon_run("failover", &bin, dir.path());
    assert!(
        stdout.contains("heartbeat 200 ms, peer timeout 1000 ms"),
        "{stdout}"
    );
    assert!(stdout.contains("unreconciled count is 0"), "{stdout}");
    assert_eq!(json["benchmark"], "failover");
    assert_eq!(json["plan"]["quick"], true);
    assert_eq!(json["plan"]["windows"], 5);
    assert_eq!(json["plan"]["per_window"], 20);
    assert_eq!(json["thresholds"]["emergency_after_ms"], 2000);
    for figure in [
        "degraded_ms",
        "first_write_ms",
        "first_write_on_standby_ms",
        "episode_ms",
        "desk_write_latency_ms_max",
        "write_per_s",
        "central_ready_ms",
        "central_has_all_ms",
        "reconciled_ms",
        "episode_left_ms",
    ] {
        positive(&json, &format!("/medians/{figure}"));
    }
    let run = &json["failover"][0];
    assert_eq!(run["windows"].as_array().map(Vec::len), Some(5));
    assert_eq!(run["desk_writes"]["failed"], 0);
    assert_eq!(json["reconcile"][0]["patients_written"], 100);
    // The hospital's files are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec!["failover.json"]);
}

#[test]
fn a_quick_chaos_run_loses_nothing_and_every_store_verifies() {
    let Some(bin) = lifeline_bin() else {
        return;
    };
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout, json) = quick_daemon_run("chaos", &bin, dir.path());
    assert!(stdout.contains("replay: "), "{stdout}");
    assert!(stdout.contains("stores verify"), "{stdout}");
    assert_eq!(json["benchmark"], "chaos");
    assert_eq!(json["plan"]["quick"], true);
    assert_eq!(json["totals"]["cycles"], 3);
    assert_eq!(json["plan"]["relayed"], serde_json::json!(["W02", "W03"]));
    assert_eq!(json["failures"], serde_json::json!([]), "{stdout}");
    let acknowledged = positive(&json, "/totals/writes/acknowledged");
    positive(&json, "/totals/restart_ms_max");
    positive(&json, "/end/converge_ms");
    let nodes = json["end"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 5);
    for node in nodes {
        assert_eq!(node["writes_held"].as_f64(), Some(acknowledged), "{node}");
        assert_eq!(node["verify_passed"], true, "{node}");
        assert_eq!(node["table_check"], "passed", "{node}");
    }
    // The hospital's files are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec!["chaos.json"]);
}

#[test]
fn a_missing_lifeline_binary_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = FailoverArgs {
        windows: 5,
        per_window: None,
        runs: None,
        lifeline_bin: Some(dir.path().join("no-such-lifeline")),
        out: dir.path().join("failover.json"),
        dir: Some(dir.path().to_path_buf()),
        quick: true,
    };
    let err = failover::run(&args).expect_err("refused").to_string();
    assert!(err.contains("no-such-lifeline"), "{err}");
}

#[test]
fn console_quick_run_fetches_every_page() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("results").join("console.json");
    let report = lifeline_bench::console::run(&lifeline_bench::console::ConsoleArgs {
        records: None,
        today: None,
        days: None,
        iterations: None,
        out: out.clone(),
        dir: Some(dir.path().to_path_buf()),
        quick: true,
    })
    .expect("the console benchmark runs");
    assert_eq!(report.records, 2_000);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("JSON");
    assert_eq!(json["benchmark"], "console");
    let pages = json["pages"].as_array().expect("pages");
    assert_eq!(json["drugs"], 200);
    // The pages have something to show: patients waiting, an outage's after-work, duplicates.
    positive(&json, "/triage_queue");
    positive(&json, "/pharmacy_queue");
    assert_eq!(json["open_conflicts"], 50);
    positive(&json, "/worklist_items");
    assert!(json["records_held"].as_u64().expect("records held") >= 2_000);
    assert_eq!(pages.len(), 15);
    for p in pages {
        positive(p, "/p50_ms");
        positive(p, "/p99_ms");
        positive(p, "/bytes");
    }
}

#[test]
fn a_quick_his_run_writes_every_figure() {
    if let Err(e) = lifeline_node::his::cluster::find_bin() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have PostgreSQL (scripts/test installs it): {e}"
        );
        eprintln!("skipped: {e}");
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let args = his::HisArgs {
        patients: None,
        push_records: None,
        quiet_pulls: None,
        out: dir.path().join("results").join("his.json"),
        dir: Some(dir.path().to_path_buf()),
        quick: true,
    };
    let report = his::run(&args).expect("the benchmark runs");
    let json = read_json(&args.out);
    assert_eq!(json["benchmark"], "his");
    assert_eq!(json["plan"]["quick"], true);
    for figure in [
        "/first_pull/patients",
        "/first_pull/patients_per_s",
        "/first_pull/rows_per_s",
        "/incremental/quiet_ms_p50",
        "/incremental/changed_ms",
        "/push/records",
        "/push/rows",
        "/push/records_per_s",
        "/push/again_ms",
    ] {
        positive(&json, figure);
    }
    assert_eq!(json["first_pull"]["patients"], json["plan"]["patients"]);
    assert_eq!(
        json["push"]["again_written"], 0,
        "a second push writes nothing"
    );
    assert!(
        report.table().contains("first pull: 2000 patients"),
        "{}",
        report.table()
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        left,
        vec!["results"],
        "the cluster and the store are removed"
    );
}

#[test]
fn a_quick_scale_run_writes_every_figure() {
    let Some(bin) = lifeline_bin() else {
        return;
    };
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout, json) = quick_daemon_run("scale", &bin, dir.path());
    assert!(stdout.contains("new window ready in"), "{stdout}");
    assert!(stdout.contains("every window reconciled"), "{stdout}");
    assert_eq!(json["benchmark"], "scale");
    assert_eq!(json["plan"]["quick"], true);
    let stages = json["volume"]["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 2);
    for (i, _) in stages.iter().enumerate() {
        for figure in [
            "records",
            "daemon_ready_ms",
            "status_ms_p50",
            "conflicts_ms_p50",
            "worklist_ms_p50",
        ] {
            positive(&json, &format!("/volume/stages/{i}/{figure}"));
        }
        // The open items loaded for the reports are found at every size.
        assert_eq!(json["volume"]["stages"][i]["open_conflicts"], 50);
        assert_eq!(json["volume"]["stages"][i]["worklist_items"], 100);
    }
    for figure in [
        "catalog_import_ms",
        "load_s",
        "desk_writes_alone/latency_us_p99",
        "desk_writes_during_sync/latency_us_p99",
        "new_window/ready_ms",
        "new_window/records_held",
        "new_window/bytes_from_central",
        "store_open_ms",
        "bytes_per_record",
        "backup_bytes_per_record",
        "backup_ms",
        "compact_ms",
        "compacted_bytes_per_record",
        "compacted_open_ms",
    ] {
        positive(&json, &format!("/volume/{figure}"));
    }
    assert!(stdout.contains("a backup of it"), "{stdout}");
    assert!(stdout.contains("lifeline compact of it"), "{stdout}");
    // The compacted store holds what the live one did, in less: the backup's layout.
    let volume = &json["volume"];
    let (live, compacted) = (
        volume["bytes_per_record"].as_f64().expect("live"),
        volume["compacted_bytes_per_record"]
            .as_f64()
            .expect("compacted"),
    );
    assert!(compacted < live, "{compacted} compacted, {live} live");
    for figure in ["central_has_all_ms", "reconciled_ms", "records"] {
        positive(&json, &format!("/outage/{figure}"));
    }
    // The hospital's files are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec!["scale.json"]);
}

/// The peers benchmark in quick mode: every figure, and what central notes of its peers'
/// holdings stays one row per record as peers are added (a row per (peer, record) would make
/// it three times as many at 3 peers).
#[test]
fn a_quick_peers_run_keeps_one_row_per_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = lifeline_bench::peers::PeersArgs {
        records: 0,
        peers: vec![3, 1],
        quick: true,
        dir: Some(dir.path().to_path_buf()),
        out: dir.path().join("results/peers.json"),
    };
    let report = lifeline_bench::peers::run(&args).expect("the benchmark runs");
    assert!(report.table().contains("knowledge B/record"));
    let json = read_json(&args.out);
    assert_eq!(json["records"], 2_000);
    let steps = json["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    for (i, peers) in [1, 3].into_iter().enumerate() {
        assert_eq!(steps[i]["peers"], peers);
        positive(&json, &format!("/steps/{i}/acks_per_s"));
        positive(&json, &format!("/steps/{i}/knowledge_bytes_per_record"));
        let rows: u64 = steps[i]["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .filter(|t| t["name"] == "peer_holds")
            .map(|t| t["rows"].as_u64().expect("rows"))
            .sum();
        assert_eq!(rows, 2_000, "step {i}: {}", steps[i]);
    }
    let bytes = |i: usize| {
        steps[i]["knowledge_bytes_per_record"]
            .as_f64()
            .expect("bytes")
    };
    assert!(bytes(1) < 1.5 * bytes(0), "{} then {}", bytes(0), bytes(1));
}
