//! lifeline-bench: Lifeline's benchmark harness. Each benchmark measures, prints a table for
//! people and writes JSON for machines; the binary (`lifeline-bench`) is a thin clap front.
//!
//! - [`store`]: durable write latency and group-commit throughput of the store, against a bare
//!   redb commit of the same bytes in the same run, so the store's overhead is a ratio.
//! - [`replication`]: time and bytes on the wire to replicate a window's registrations to an
//!   empty central through the real mesh (QUIC, mutual TLS), and to catch up after a
//!   disconnection; against samod (automerge-repo) with the same workload ([`replication::samod`]).
//! - [`failover`]: with real daemons, how long the windows take to fail over to the standby
//!   when central dies, and central to reconcile an outage's work when it comes back.
//! - [`scale`]: a real hospital's volume (a million patients, a day's 100k records, 60
//!   windows' worth of traffic): status, reports, open, memory, desk latency under a new
//!   window's sync, disk per record, an outage's reconciliation.
//! - [`console`]: the desk console's pages over the node's real router, with a window store
//!   bulk-loaded with a million records and a large hospital's day in its queues.
//! - [`his`]: the HIS bridge against a real PostgreSQL: the first pull of the patient master,
//!   incremental pulls, and the push of an episode's records.
//! - [`chaos`]: not a measurement but a bounded loop of faults over real daemons (SIGKILL,
//!   restarts, cut links) while desks write, and the proof at the end that every write a desk
//!   was told was saved is on every node and every store verifies.
//!
//! Every benchmark has a quick mode (`--quick`, or `LIFELINE_BENCH_QUICK=1`) with small counts
//! that finishes in seconds, for CI.
//!
//! Timing goals live here, never in tests: the smoke test only checks that a quick run
//! produces every figure.

pub mod bare;
pub mod chaos;
pub mod console;
pub mod failover;
pub mod fixture;
pub mod his;
pub mod measure;
pub mod peers;
pub mod relay;
pub mod replication;
pub mod scale;
pub mod store;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use tempfile::TempDir;

/// The environment variable that turns on quick mode, as `--quick` does.
pub const QUICK_ENV: &str = "LIFELINE_BENCH_QUICK";

/// Quick mode: asked for with `--quick` (`flag`) or `LIFELINE_BENCH_QUICK=1`.
pub fn quick_mode(flag: bool) -> bool {
    flag || std::env::var(QUICK_ENV).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// The machine a run was measured on, recorded next to its figures.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub nproc: usize,
    pub os: &'static str,
    pub arch: &'static str,
    /// `release` or `debug`; figures from a debug build are not comparable.
    pub profile: &'static str,
    /// Where the databases were written: the disk whose fsync is being measured.
    pub data_dir: String,
    /// The 1-minute load average when the run ended (Linux only): other work on a shared
    /// machine shows here.
    pub load_average_1m: Option<f64>,
}

impl Machine {
    pub fn here(data_dir: &Path) -> Machine {
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            data_dir: data_dir.display().to_string(),
            load_average_1m: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next()?.parse().ok()),
        }
    }
}

impl Machine {
    /// A benchmark table's first line: `lifeline-bench {name} — {timestamp} (quick run,
    /// release build, 2 CPUs, linux/x86_64{more})`.
    pub fn title(&self, name: &str, timestamp: &str, quick: bool, more: &str) -> String {
        format!(
            "lifeline-bench {name} — {timestamp} ({} run, {} build, {} CPUs, {}/{}{more})\n",
            if quick { "quick" } else { "full" },
            self.profile,
            self.nproc,
            self.os,
            self.arch
        )
    }

    /// The line saying how loaded the machine was, where that is known.
    pub fn load_line(&self) -> String {
        self.load_average_1m.map_or_else(String::new, |load| {
            format!(
                "load average (1 min) at the end: {load:.2} on {} CPUs\n",
                self.nproc
            )
        })
    }
}

/// The warning a table opens with when its figures come from a debug build.
pub const DEBUG_WARNING: &str = "warning: a debug build; these figures are not comparable\n";

/// A new temporary directory named `prefix...` under `dir` (default: the system's temporary
/// directory), removed when dropped; and `dir` itself, which the report names.
pub fn scratch_dir(dir: Option<&Path>, prefix: &str) -> anyhow::Result<(PathBuf, TempDir)> {
    let parent = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)
        .with_context(|| format!("cannot make a temporary directory in {}", parent.display()))?;
    Ok((parent, tmp))
}

/// Prints a benchmark's table and writes its JSON to `out`.
pub fn publish(table: &str, report: &impl Serialize, out: &Path) -> anyhow::Result<()> {
    print!("{table}");
    write_json(out, report)?;
    println!("results written to {}", out.display());
    Ok(())
}

/// Writes `value` as pretty JSON to `path`, creating its directory.
pub fn write_json(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut text = serde_json::to_string_pretty(value).context("cannot encode the results")?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_unix_ms() -> i64 {
    use lifeline_core::Clock;
    lifeline_core::SystemClock.now_ms()
}

/// `unix_ms` as an RFC 3339 UTC timestamp, to the second.
pub fn rfc3339_utc(unix_ms: i64) -> String {
    const MS_PER_DAY: i64 = 86_400_000;
    let date = lifeline_core::Date::at(unix_ms, 0);
    let secs = unix_ms.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_in_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        // 2026-11-25 09:00 in Beijing is 01:00 UTC.
        assert_eq!(rfc3339_utc(1_795_568_400_000), "2026-11-25T01:00:00Z");
        assert_eq!(rfc3339_utc(1_795_568_400_000 - 1), "2026-11-25T00:59:59Z");
    }
}
