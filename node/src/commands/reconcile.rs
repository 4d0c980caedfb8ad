//! `lifeline reconcile -c node.toml [--timeout 10m]`: follows reconciliation after an outage
//! on one node until it is done, with a progress bar: emergency records waiting for central's
//! acknowledgement and records waiting to be sent to each peer. Reconciliation itself is
//! automatic; this only watches it, so an operator can see it finish.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::api::status::StatusReport;
use crate::commands::backup::Progress;
use crate::i18n::{Lang, t, tr};

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

pub fn run(args: &ReconcileArgs, l: Lang) -> anyhow::Result<()> {
    let (_, client) = super::admin_client(&args.config)?;
    let started = Instant::now();
    let first: StatusReport = client.get("/admin/status")?;
    let total = outstanding(&first).max(1);
    let progress = Progress::bar(&t(l, "cli-reconcile-bar"));
    loop {
        let s: StatusReport = client.get("/admin/status")?;
        let left = outstanding(&s);
        let central_up = s.mode.mode == "normal";
        progress.update(total.saturating_sub(left.min(total)), total);
        if central_up && left == 0 && s.episode.is_none() {
            progress.finish();
            let seconds = format!("{:.1}", started.elapsed().as_secs_f64());
            println!(
                "{}",
                tr(
                    l,
                    "cli-reconciled",
                    &[
                        ("node", s.node.as_str().into()),
                        ("seconds", seconds.into())
                    ],
                )
            );
            return Ok(());
        }
        if started.elapsed() > args.timeout {
            progress.finish();
            let episode = match s.episode {
                Some(e) => e.id,
                None => t(l, "cli-none"),
            };
            anyhow::bail!(
                "{}",
                tr(
                    l,
                    "cli-not-reconciled",
                    &[
                        ("node", s.node.as_str().into()),
                        (
                            "timeout",
                            humantime_serde::re::humantime::format_duration(args.timeout)
                                .to_string()
                                .into()
                        ),
                        ("mode", super::status::mode_words(l, &s.mode.mode).into()),
                        ("unacknowledged", s.unreconciled.into()),
                        ("waiting", (left - s.unreconciled).into()),
                        ("episode", episode.into()),
                    ],
                )
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
