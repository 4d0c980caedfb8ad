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
use crate::i18n::width::{pad, pad_left};
use crate::i18n::{Lang, t, tr};
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

pub fn run(cmd: HisCommand, l: Lang) -> anyhow::Result<()> {
    match cmd {
        HisCommand::Status { config, json } => {
            let (config, client) = super::admin_client(&config)?;
            let status: HisStatus = client.get("/admin/his/status")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", render(&status, config.hospital.utc_offset, l));
            }
            Ok(())
        }
        HisCommand::Pull { config } => {
            let (config, client) = super::admin_client(&config)?;
            pull(&client, config.hospital.utc_offset, l)
        }
        HisCommand::Push { config, json } => {
            let (_, client) = super::admin_client(&config)?;
            let summary: PushSummary = client.post("/admin/his/push", &serde_json::json!({}))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", render_push(&summary, l));
            }
            Ok(())
        }
        HisCommand::Check { config, json } => {
            let (_, client) = super::admin_client(&config)?;
            let report: CheckReport = client.post("/admin/his/check", &serde_json::json!({}))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render_check(&report, l));
            }
            if !report.ok() {
                anyhow::bail!(
                    "{}",
                    tr(
                        l,
                        "cli-his-check-failed",
                        &[("n", report.problems.len().into())]
                    )
                );
            }
            Ok(())
        }
    }
}

/// Starts a pull and follows it with a progress bar until it is done.
fn pull(client: &Client, offset: UtcOffset, l: Lang) -> anyhow::Result<()> {
    let started: Started = client.post("/admin/his/pull", &serde_json::json!({}))?;
    let bar = indicatif::ProgressBar::new_spinner();
    // The template is indicatif's; braces the catalog's words might hold are escaped.
    let words = t(l, "cli-his-pulling")
        .replace('{', "{{")
        .replace('}', "}}");
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {words} {{msg}} — {{pos}} ({{per_sec}}, {{elapsed}})"
        ))
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
            print!("{}", render(&status, offset, l));
            if let Some(error) = status.last_pull.and_then(|r| r.error) {
                anyhow::bail!(
                    "{}",
                    tr(l, "cli-his-pull-stopped", &[("error", error.into())])
                );
            }
            return Ok(());
        }
    }
}

/// The columns of a table of runs: name, then right-aligned counts, then when.
const COLUMNS: [(&str, usize); 8] = [
    ("cli-his-col-table", 14),
    ("cli-his-col-rows", 8),
    ("cli-his-col-created", 8),
    ("cli-his-col-updated", 8),
    ("cli-his-col-unchanged", 9),
    ("cli-his-col-skipped", 7),
    ("cli-his-col-ignored", 7),
    ("cli-his-col-when", 0),
];

fn row(cells: [&str; 8]) -> String {
    let mut line = format!("  {}", pad(cells[0], COLUMNS[0].1));
    for (cell, (_, w)) in cells[1..7].iter().zip(&COLUMNS[1..7]) {
        line.push(' ');
        line.push_str(&pad_left(cell, *w));
    }
    line.push_str("  ");
    line.push_str(cells[7]);
    line
}

fn heading(l: Lang) -> String {
    let words: Vec<String> = COLUMNS.iter().map(|(k, _)| t(l, k)).collect();
    let cells: [&str; 8] = std::array::from_fn(|i| words[i].as_str());
    format!("{}\n", row(cells))
}

fn run_line(name: &str, run: &TableRun, now_ms: i64, l: Lang) -> String {
    let when = if run.finished_ms > 0 {
        ago(l, now_ms, run.finished_ms)
    } else {
        t(l, "cli-never")
    };
    let counts = [
        run.rows,
        run.created,
        run.updated,
        run.unchanged,
        run.skipped,
        run.ignored,
    ]
    .map(|n| n.to_string());
    let mut line = row([
        name, &counts[0], &counts[1], &counts[2], &counts[3], &counts[4], &counts[5], &when,
    ]);
    if let Some(c) = &run.cursor {
        line.push_str(&tr(l, "cli-his-up-to", &[("cursor", c.into())]));
    }
    if let Some(n) = &run.note {
        line.push_str(&format!("  {n}"));
    }
    if run.rounded > 0 {
        line.push_str("  ");
        line.push_str(&tr(l, "cli-his-rounded", &[("n", run.rounded.into())]));
    }
    if run.rebuilt + run.reused > 0 {
        line.push_str("  ");
        line.push_str(&tr(
            l,
            "cli-his-rebuilt",
            &[
                ("rebuilt", run.rebuilt.into()),
                ("reused", run.reused.into()),
            ],
        ));
    }
    line.push('\n');
    for s in &run.last_skipped {
        line.push_str(&format!(
            "      {}\n",
            tr(
                l,
                "cli-his-skipped",
                &[
                    ("id", s.his_id.as_str().into()),
                    ("reason", s.reason.as_str().into())
                ],
            )
        ));
    }
    line
}

/// The human form of the bridge's status, in `l` (the HIS's and the database's own words
/// as they came).
pub fn render(s: &HisStatus, offset: UtcOffset, l: Lang) -> String {
    let now = s
        .last_pull
        .iter()
        .chain(s.last_push.iter())
        .map(|r| r.finished_ms)
        .chain(s.health.last_contact_ms)
        .max()
        .unwrap_or(s.health.since_ms);
    let state = match s.health.reach {
        Reach::Up => t(l, "cli-his-up"),
        Reach::Down => t(l, "cli-his-down"),
        Reach::Unknown => t(l, "cli-his-unknown"),
    };
    let rtt = s
        .health
        .rtt_ms
        .map(|r| tr(l, "cli-his-rtt", &[("ms", r.into())]))
        .unwrap_or_default();
    let mut out = format!(
        "{}\n",
        tr(
            l,
            "cli-his-head",
            &[
                ("url", s.url.as_str().into()),
                ("state", state.into()),
                ("since", offset.local(s.health.since_ms).into()),
                ("rtt", rtt.into()),
            ],
        )
    );
    if let (Reach::Down, Some(e)) = (s.health.reach, &s.health.last_error) {
        out.push_str(&format!(
            "  {}\n",
            tr(l, "cli-his-last-error", &[("error", e.into())])
        ));
    }
    out.push_str(&t(
        l,
        if s.active {
            "cli-his-active"
        } else {
            "cli-his-watching"
        },
    ));
    out.push('\n');
    if let Some(p) = &s.progress {
        let activity = match p.activity.as_str() {
            "pull" => t(l, "cli-his-activity-pull"),
            "push" => t(l, "cli-his-activity-push"),
            other => other.to_owned(),
        };
        out.push_str(&format!(
            "{}\n",
            tr(
                l,
                "cli-his-now",
                &[
                    ("activity", activity.into()),
                    ("table", p.table.as_str().into()),
                    ("rows", p.rows.into()),
                ],
            )
        ));
    }
    out.push_str(&format!("\n{}\n", t(l, "cli-his-pulled")));
    out.push_str(&heading(l));
    for (name, run) in &s.pulls {
        out.push_str(&run_line(name, run, now, l));
    }
    if let Some(e) = s.last_pull.as_ref().and_then(|r| r.error.as_ref()) {
        out.push_str(&format!(
            "  {}\n",
            tr(l, "cli-his-last-pull-stopped", &[("error", e.into())])
        ));
    }
    out.push_str(&format!("\n{}\n", t(l, "cli-his-pushed")));
    out.push_str(&heading(l));
    for (name, run) in &s.pushes {
        out.push_str(&run_line(name, run, now, l));
    }
    if let Some(e) = s.last_push.as_ref().and_then(|r| r.error.as_ref()) {
        out.push_str(&format!(
            "  {}\n",
            tr(l, "cli-his-last-push-stopped", &[("error", e.into())])
        ));
    }
    out.push_str(&format!(
        "\n{}\n{}\n",
        tr(l, "cli-his-waiting", &[("n", s.waiting.into())]),
        tr(l, "cli-his-refused", &[("n", s.refused.len().into())]),
    ));
    for r in &s.refused {
        out.push_str(&format!(
            "  {}\n",
            tr(
                l,
                "cli-his-refused-line",
                &[
                    ("table", r.table.as_str().into()),
                    ("ext", r.ext_id.to_string().into()),
                    ("revision", r.revision.into()),
                    ("record", r.record.to_string().into()),
                    ("reason", r.reason.as_str().into()),
                ],
            )
        ));
    }
    for (record, why) in &s.unwritable {
        out.push_str(&unwritable(l, record, why));
    }
    out
}

fn unwritable(l: Lang, record: &str, why: &str) -> String {
    format!(
        "{}\n",
        tr(
            l,
            "cli-his-unwritable",
            &[("record", record.into()), ("why", why.into())],
        )
    )
}

fn render_push(s: &PushSummary, l: Lang) -> String {
    let mut out = format!("{}\n", t(l, "cli-his-pushed"));
    out.push_str(&heading(l));
    for (name, run) in &s.tables {
        out.push_str(&run_line(name, run, run.finished_ms, l));
    }
    out.push_str(&format!(
        "{}\n",
        tr(
            l,
            "cli-his-push-summary",
            &[("waiting", s.waiting.into()), ("refused", s.refused.into())],
        )
    ));
    for (record, why) in &s.unwritable {
        out.push_str(&unwritable(l, record, why));
    }
    out
}

/// The mapping check, in `l` (each line names the HIS's tables and columns as they are).
fn render_check(r: &CheckReport, l: Lang) -> String {
    let mut out = String::new();
    let (ok, wrong) = (t(l, "cli-his-ok"), t(l, "cli-his-wrong"));
    for line in &r.checked {
        out.push_str(&format!("  {ok}  {line}\n"));
    }
    for line in &r.problems {
        out.push_str(&format!("  {wrong}  {line}\n"));
    }
    out.push_str(&t(
        l,
        if r.ok() {
            "cli-his-fits"
        } else {
            "cli-his-misfits"
        },
    ));
    out.push('\n');
    out
}
