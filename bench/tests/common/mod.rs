//! What the benchmarks' smoke tests share: one heavy benchmark at a time, and reading
//! their JSON.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

/// The heavier benchmarks one at a time: on a 2-core machine, a mesh or a hospital of
/// daemons next to another one makes every heartbeat late.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The number at `pointer`, which must be there and positive.
pub fn positive(json: &Value, pointer: &str) -> f64 {
    let v = json
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} is missing or not a number in {json:#}"));
    assert!(v > 0.0, "{pointer} should be positive, is {v}");
    v
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the results file was written");
    serde_json::from_str(&text).expect("the results file is JSON")
}

/// Runs `lifeline-bench` with `args` (quick mode), requires it to succeed, and returns what
/// it printed.
pub fn run_bench<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new(env!("CARGO_BIN_EXE_lifeline-bench"))
        .args(args)
        .env(lifeline_bench::store::QUICK_ENV, "1")
        .output()
        .expect("the binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
