//! `lifeline his status|pull|push|check`: the HIS bridge of a running central or standby.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use super::ago;
use crate::api::his::{HisStatus, Started};
use crate::client::Client;
use crate::his::bridge::Reach;
use crate::his::check::CheckReport;
use crate::his::push::PushSummary;
use crate::his::state::TableRun;
use crate::time::UtcOffset;

#[derive(Debug, Subcommand)]
pub enum HisCommand {
    /// Last pull and push per table, with counts and lag; what is waiting; what the HIS refused.
    Status {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Pull from the HIS now, with progress, and show what came in.
    Pull {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
    },
    /// Push the episodes' records into the HIS's interface tables now.
    Push {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Check the mapping against the live HIS: every configured column exists, of a fitting type.
    Check {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: HisCommand) -> anyhow::Result<()> {
    match cmd {
        HisCommand::Status { config, json } => {
            let (config, client) = super::admin_client(&config)?;
            let status: HisStatus = client.get("/admin/his/status")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", render(&status, config.hospital.utc_offset));
            }
            Ok(())
        }
        HisCommand::Pull { config } => {
            let (config, client) = super::admin_client(&config)?;
            pull(&client, config.hospital.utc_offset)
        }
        HisCommand::Push { config, json } => {
            let (_, client) = super::admin_client(&config)?;
            let summary: PushSummary = client.post("/admin/his/push", &serde_json::json!({}))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", render_push(&summary));
            }
            Ok(())
        }
        HisCommand::Check { config, json } => {
            let (_, client) = super::admin_client(&config)?;
            let report: CheckReport = client.post("/admin/his/check", &serde_json::json!({}))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render_check(&report));
            }
            if !report.ok() {
                anyhow::bail!(
                    "the mapping does not fit the HIS: {} problem(s)",
                    report.problems.len()
                );
            }
            Ok(())
        }
    }
}

/// Starts a pull and follows it with a progress bar until it is done.
fn pull(client: &Client, offset: UtcOffset) -> anyhow::Result<()> {
    let started: Started = client.post("/admin/his/pull", &serde_json::json!({}))?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} pulling {msg} — {pos} rows ({per_sec}, {elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let status: HisStatus = client.get("/admin/his/status")?;
        if let Some(p) = &status.progress {
            bar.set_message(p.table.clone());
            bar.set_position(p.rows);
        }
        bar.tick();
        let done = status
            .last_pull
            .as_ref()
            .is_some_and(|r| r.finished_ms >= started.started_ms);
        if done && status.progress.is_none() {
            bar.finish_and_clear();
            print!("{}", render(&status, offset));
            if let Some(error) = status.last_pull.and_then(|r| r.error) {
                anyhow::bail!("the pull stopped: {error}");
            }
            return Ok(());
        }
    }
}

fn run_line(name: &str, t: &TableRun, now_ms: i64) -> String {
    let mut line = format!(
        "  {name:<14} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7}  {}",
        t.rows,
        t.created,
        t.updated,
        t.unchanged,
        t.skipped,
        t.ignored,
        if t.finished_ms > 0 {
            ago(crate::i18n::Lang::En, now_ms, t.finished_ms)
        } else {
            "never".into()
        }
    );
    if let Some(c) = &t.cursor {
        line.push_str(&format!("  (up to {c})"));
    }
    if let Some(n) = &t.note {
        line.push_str(&format!("  {n}"));
    }
    if t.rounded > 0 {
        line.push_str(&format!("  {} amounts rounded to the fen", t.rounded));
    }
    line.push('\n');
    for s in &t.last_skipped {
        line.push_str(&format!("      skipped {}: {}\n", s.his_id, s.reason));
    }
    line
}

const HEADING: &str =
    "  table              rows  created  updated unchanged skipped ignored  when\n";

/// The human form of the bridge's status.
pub fn render(s: &HisStatus, offset: UtcOffset) -> String {
    let now = s
        .last_pull
        .iter()
        .chain(s.last_push.iter())
        .map(|r| r.finished_ms)
        .chain(s.health.last_contact_ms)
        .max()
        .unwrap_or(s.health.since_ms);
    let mut out = format!(
        "HIS {}: {} since {}{}\n",
        s.url,
        match s.health.reach {
            Reach::Up => "UP",
            Reach::Down => "DOWN",
            Reach::Unknown => "not reached yet",
        },
        offset.local(s.health.since_ms),
        s.health
            .rtt_ms
            .map(|r| format!(", answers in {r} ms"))
            .unwrap_or_default()
    );
    if let (Reach::Down, Some(e)) = (s.health.reach, &s.health.last_error) {
        out.push_str(&format!("  last error: {e}\n"));
    }
    out.push_str(if s.active {
        "this node pulls and pushes\n"
    } else {
        "this node only watches the HIS (the standby pulls and pushes while central is away)\n"
    });
    if let Some(p) = &s.progress {
        out.push_str(&format!(
            "now: {} of {}: {} rows\n",
            p.activity, p.table, p.rows
        ));
    }
    out.push_str("\npulled (HIS -> Lifeline)\n");
    out.push_str(HEADING);
    for (name, t) in &s.pulls {
        out.push_str(&run_line(name, t, now));
    }
    if let Some(e) = s.last_pull.as_ref().and_then(|r| r.error.as_ref()) {
        out.push_str(&format!("  the last pull stopped: {e}\n"));
    }
    out.push_str("\npushed (Lifeline -> HIS interface tables)\n");
    out.push_str(HEADING);
    for (name, t) in &s.pushes {
        out.push_str(&run_line(name, t, now));
    }
    if let Some(e) = s.last_push.as_ref().and_then(|r| r.error.as_ref()) {
        out.push_str(&format!("  the last push stopped: {e}\n"));
    }
    out.push_str(&format!(
        "\nwaiting for the HIS to import: {} rows\nrefused by the HIS: {} rows\n",
        s.waiting,
        s.refused.len()
    ));
    for r in &s.refused {
        out.push_str(&format!(
            "  {} {} revision {} (record {}): {}\n",
            r.table, r.ext_id, r.revision, r.record, r.reason
        ));
    }
    for (record, why) in &s.unwritable {
        out.push_str(&format!("cannot be pushed: record {record}: {why}\n"));
    }
    out
}

fn render_push(s: &PushSummary) -> String {
    let mut out = String::from("pushed (Lifeline -> HIS interface tables)\n");
    out.push_str(HEADING);
    for (name, t) in &s.tables {
        out.push_str(&run_line(name, t, t.finished_ms));
    }
    out.push_str(&format!(
        "waiting for the HIS to import: {} rows; refused: {} rows\n",
        s.waiting, s.refused
    ));
    for (record, why) in &s.unwritable {
        out.push_str(&format!("cannot be pushed: record {record}: {why}\n"));
    }
    out
}

fn render_check(r: &CheckReport) -> String {
    let mut out = String::new();
    for line in &r.checked {
        out.push_str(&format!("  ok  {line}\n"));
    }
    for line in &r.problems {
        out.push_str(&format!("  WRONG  {line}\n"));
    }
    out.push_str(if r.ok() {
        "the mapping fits the HIS\n"
    } else {
        "the mapping does not fit the HIS\n"
    });
    out
}
