//! The `lifeline-sim` binary: a replay prints its trace and verdict; a failing seed prints
//! the command that replays it; a sweep prints its table.

use std::process::Command;

fn sim(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lifeline-sim"))
        .args(args)
        .output()
        .expect("the binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn a_replay_prints_the_trace_and_the_verdict() {
    let (ok, text) = sim(&["--seed", "3", "--writes", "15"]);
    assert!(ok, "{text}");
    assert!(text.contains("heal: every partition lifted"), "{text}");
    assert!(text.contains("every invariant held"), "{text}");
}

#[test]
fn a_failing_seed_prints_its_replay_command() {
    let (ok, text) = sim(&[
        "--seeds",
        "40",
        "--writes",
        "20",
        "--bug-drop-kind",
        "patient",
    ]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("replay: cargo run -p lifeline-sim -- --seed ")
            && text.contains("--writes 20 --bug-drop-kind patient"),
        "{text}"
    );
    assert!(text.contains("runs per second"), "{text}");
}
