//! `lifeline reconcile -c node.toml [--timeout 10m]`: follows reconciliation after an outage
//! on one node until it is done, with a progress bar: emergency records waiting for central's
//! acknowledgement and records waiting to be sent to each peer. Reconciliation itself is
//! automatic; this only watches it, so an operator can see it finish.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::api::admin::StatusReport;
use crate::commands::backup::Progress;

#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// Give up after this long (e.g. 90s, 10m).
    #[arg(long, default_value = "10m", value_parser = humantime_serde::re::humantime::parse_duration)]
    pub timeout: Duration,
}

/// Records still to reconcile on this node, as its status counts them.
fn outstanding(s: &StatusReport) -> u64 {
    s.unreconciled
        + s.peers
            .iter()
            .map(|p| p.to_send + p.to_receive)
            .sum::<u64>()
}

pub fn run(args: &ReconcileArgs) -> anyhow::Result<()> {
    let (_, client) = super::admin_client(&args.config)?;
    let started = Instant::now();
    let first: StatusReport = client.get("/admin/status")?;
    let total = outstanding(&first).max(1);
    let progress = Progress::bar("reconcile");
    loop {
        let s: StatusReport = client.get("/admin/status")?;
        let left = outstanding(&s);
        let central_up = s.mode.mode == "normal";
        progress.update(total.saturating_sub(left.min(total)), total);
        if central_up && left == 0 && s.episode.is_none() {
            progress.finish();
            println!(
                "{}: reconciled in {:.1} s (mode normal, nothing waiting, no episode open)",
                s.node,
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() > args.timeout {
            progress.finish();
            anyhow::bail!(
                "{}: not reconciled after {:?}: mode {}, {} emergency records unacknowledged, {} records waiting, episode {}",
                s.node,
                args.timeout,
                s.mode.mode,
                s.unreconciled,
                left - s.unreconciled,
                s.episode.map(|e| e.id).unwrap_or_else(|| "none".into())
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
