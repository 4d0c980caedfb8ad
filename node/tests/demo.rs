//! `lifeline demo` end to end: a whole local hospital through an outage, with its reports,
//! and nothing left behind.

use std::process::Command;

#[test]
fn the_demo_runs_a_hospital_through_an_outage_and_cleans_up() {
    let tmp = tempfile::tempdir().expect("dir");
    let reports = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_lifeline"))
        .args(["demo", "--patients", "3", "--reports"])
        .arg(reports.path())
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "CENTRAL FAILS",
        "mode degraded, primary standby, emergency episode YJ-",
        "registered as YJ",
        "cannot be marked dispensed in the system until central has it",
        "reconciled:",
        "confirmed the invoice stock in hand",
        "expected grade",
        "cashier summary",
        "by channel:",
        "number ranges of every node",
        "no gaps, no duplicates",
        "OUTAGE REPORT",
        "written report due",
        "Money collected during the episode",
        "CONFLICT REVIEW REPORT",
        "Field conflict",
        "Duplicate patient",
    ] {
        assert!(
            stdout.contains(line),
            "the demo did not say {line:?}:\n{stdout}"
        );
    }
    for file in ["conflicts.html", "conflicts.json", "episode.txt"] {
        assert!(reports.path().join(file).exists(), "{file} was not written");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("read").collect();
    assert!(left.is_empty(), "the demo left files behind: {left:?}");
}
