//! Smoke tests of `lifeline-bench replication`: a quick run through the library and through
//! the real binary, with every figure. No timing is asserted.

use std::ffi::OsStr;
use std::path::Path;

use lifeline_bench::replication::{self, ReplicationArgs};
use serde_json::Value;

mod common;

use common::{positive, read_json, run_bench, serial};

fn replication_args(dir: &Path) -> ReplicationArgs {
    ReplicationArgs {
        registrations: None,
        catch_up_records: None,
        runs: None,
        // Smaller than the registrations: Lifeline is measured again at samod's size.
        samod_registrations: Some(50),
        skip_samod: false,
        // One desk: every registration its own commit.
        setup_writers: 1,
        out: dir.join("results").join("replication.json"),
        dir: Some(dir.to_path_buf()),
        quick: true,
    }
}

fn check_phase(json: &Value, side: &str, phase: &str) {
    for figure in [
        "registrations",
        "documents",
        "saved_bytes",
        "elapsed_ms",
        "registrations_per_s",
        "wire_bytes",
        "to_central_bytes",
        "from_central_bytes",
        "wire_bytes_per_registration",
        "wire_bytes_per_document",
        "wire_over_saved",
    ] {
        positive(json, &format!("/{side}/{phase}/{figure}"));
    }
    let runs = json
        .pointer(&format!("/{side}/{phase}/runs"))
        .and_then(Value::as_array)
        .expect("runs");
    assert_eq!(
        runs.len(),
        json["plan"]["runs"].as_u64().expect("runs") as usize
    );
}

#[test]
fn a_quick_replication_run_writes_every_figure() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let args = replication_args(dir.path());
    let report = replication::run(&args).expect("the benchmark runs");
    let json = read_json(&args.out);
    assert_eq!(json["benchmark"], "replication");
    assert!(json["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(json["plan"]["quick"], true);
    positive(&json, "/machine/nproc");
    let registrations = positive(&json, "/plan/registrations");
    assert_eq!(positive(&json, "/plan/records"), 3.0 * registrations);
    assert_eq!(
        json["lifeline"]["initial"]["documents"],
        json["plan"]["records"]
    );
    assert_eq!(
        json["lifeline"]["catch_up"]["documents"],
        json["plan"]["catch_up_records"]
    );
    for side in [
        "lifeline",
        "lifeline_unsigned",
        "lifeline_on_the_writer",
        "lifeline_at_samod_size",
        "samod",
    ] {
        for phase in ["initial", "catch_up"] {
            check_phase(&json, side, phase);
        }
    }
    // What signatures cost, side by side with the same runs without them.
    positive(&json, "/signing/changes_per_commit");
    // One desk wrote every record in a commit of its own; the window signed them together
    // when it first sent them.
    let per_commit = json
        .pointer("/signing/changes_per_commit")
        .and_then(Value::as_f64)
        .expect("changes per commit");
    assert!(per_commit > 50.0, "{per_commit} changes per signed commit");
    positive(&json, "/signing/sign_us_per_change");
    positive(&json, "/signing/verify_us_per_change");
    for phase in ["initial", "catch_up"] {
        positive(&json, &format!("/signing/{phase}/records_per_s_signed"));
        positive(&json, &format!("/signing/{phase}/records_per_s_unsigned"));
    }
    // What preparing batches as they are read gains, against merging them on the writer.
    for phase in ["initial", "catch_up"] {
        positive(
            &json,
            &format!("/prepared_ahead/{phase}/records_per_s_signed"),
        );
        positive(
            &json,
            &format!("/prepared_ahead/{phase}/records_per_s_unsigned"),
        );
    }
    assert_eq!(
        json["lifeline_on_the_writer"]["initial"]["documents"],
        json["plan"]["records"]
    );
    assert_eq!(json["plan"]["samod_registrations"], 50);
    assert_eq!(json["samod"]["initial"]["documents"], 50);
    assert_eq!(
        json["lifeline_at_samod_size"]["initial"]["registrations"],
        50
    );
    // A patient, a visit and its fee charge per registration.
    assert_eq!(json["lifeline_at_samod_size"]["initial"]["documents"], 150);
    assert!(json["samod_unavailable"].is_null(), "{json:#}");
    for ratio in [
        "initial_time",
        "initial_wire_bytes",
        "catch_up_time",
        "catch_up_wire_bytes",
    ] {
        positive(&json, &format!("/ratios/{ratio}"));
    }
    let table = report.table();
    assert!(table.contains("lifeline initial sync"), "{table}");
    assert!(table.contains("samod catch-up"), "{table}");
    assert!(
        table.contains("lifeline / samod at 50 registrations"),
        "{table}"
    );
    assert!(table.contains("like for like with samod"), "{table}");
    assert!(table.contains("µs per change"), "{table}");
    assert!(table.contains("without signatures"), "{table}");
    assert!(table.contains("on the writer"), "{table}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec!["results"], "the temporary stores are gone");
}

#[test]
fn the_binary_runs_the_replication_benchmark_without_samod() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("replication.json");
    let stdout = run_bench([
        OsStr::new("replication"),
        OsStr::new("--registrations"),
        OsStr::new("10"),
        OsStr::new("--catch-up-records"),
        OsStr::new("6"),
        OsStr::new("--skip-samod"),
        OsStr::new("--out"),
        out.as_os_str(),
        OsStr::new("--dir"),
        dir.path().as_os_str(),
    ]);
    assert!(stdout.contains("lifeline catch-up"), "{stdout}");
    assert!(stdout.contains("--skip-samod"), "{stdout}");
    let json = read_json(&out);
    assert_eq!(json["plan"]["registrations"], 10);
    assert_eq!(json["lifeline"]["initial"]["documents"], 30);
    assert_eq!(json["lifeline"]["catch_up"]["documents"], 6);
    assert!(json["samod"].is_null());
    positive(&json, "/lifeline/catch_up/wire_bytes");
}
