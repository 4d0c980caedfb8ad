//! Smoke tests: the store benchmark runs in quick mode, through the library and through the
//! real binary, and produces every figure. No timing is asserted; timing goals belong to the
//! benchmark's readers, not to tests.

use std::path::Path;
use std::process::Command;

use lifeline_bench::store::{self, StoreArgs};
use serde_json::Value;

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

fn positive(json: &Value, pointer: &str) -> f64 {
    let v = json
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} is missing or not a number in {json:#}"));
    assert!(v > 0.0, "{pointer} should be positive, is {v}");
    v
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
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the results file was written");
    serde_json::from_str(&text).expect("the results file is JSON")
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
    let output = Command::new(env!("CARGO_BIN_EXE_lifeline-bench"))
        .args(["store", "--writers", "4", "--iterations", "5", "--out"])
        .arg(&out)
        .arg("--dir")
        .arg(dir.path())
        .env(store::QUICK_ENV, "1")
        .output()
        .expect("the binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
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
