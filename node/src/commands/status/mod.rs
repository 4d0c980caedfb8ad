//! `lifeline status [--json] [--watch]`: what the information department looks at first, in
//! the language of `--lang` (the JSON is the same in every language).

use std::path::PathBuf;
use std::time::Duration;

use crate::api::status::StatusReport;
use crate::daemon::table_check::TableCheck;
use crate::i18n::codes::episode_reason;
use crate::i18n::width::{pad, pad_left};
use crate::i18n::{Lang, t, tr};
use crate::time::UtcOffset;

mod peers;
mod words;

pub use words::mode_words;
use words::{not_in_sync, role_words};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// The stable JSON form (see docs/status.md).
    #[arg(long)]
    pub json: bool,
    /// Refresh every 2 seconds until interrupted.
    #[arg(long)]
    pub watch: bool,
}

pub fn run(args: &StatusArgs, l: Lang) -> anyhow::Result<()> {
    let (config, client) = super::admin_client(&args.config)?;
    loop {
        let report: StatusReport = client.get("/admin/status")?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            if args.watch {
                print!("\x1b[2J\x1b[H");
            }
            print!("{}", render(&report, config.hospital.utc_offset, l));
        }
        if !args.watch {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The human form of the status in `l`, times in the hospital's offset.
pub fn render(r: &StatusReport, offset: UtcOffset, l: Lang) -> String {
    let mut out = head(r, offset, l);
    out.push_str(&episode(r, offset, l));
    out.push_str(&format!("\n{}\n", t(l, "cli-status-peers")));
    out.push_str(&peers::table(r, l));
    out.push_str(&totals(r, offset, l));
    out
}

/// The node, its mode, sync, working set and what it cannot reach.
fn head(r: &StatusReport, offset: UtcOffset, l: Lang) -> String {
    let now = r.generated_ms;
    let mut out = String::new();
    let args = [
        ("node", r.node.as_str().into()),
        ("role", role_words(l, r.role).into()),
        ("mode", mode_words(l, &r.mode.mode).into()),
        ("since", offset.local(r.mode.since_ms).into()),
    ];
    if r.desks.is_empty() {
        out.push_str(&tr(l, "cli-status-head", &args));
    } else {
        let desks: Vec<String> = r
            .desks
            .iter()
            .map(|d| crate::console::desk_name(l, *d))
            .collect();
        let mut args = args.to_vec();
        args.push(("desks", desks.join(&t(l, "report-list-separator")).into()));
        out.push_str(&tr(l, "cli-status-head-desks", &args));
    }
    if let Some(p) = &r.mode.primary {
        out.push_str("  ");
        out.push_str(&tr(l, "cli-status-primary", &[("primary", p.into())]));
    }
    out.push('\n');
    if r.in_sync {
        out.push_str(&format!("{}\n", t(l, "cli-status-in-sync")));
    } else {
        let why = not_in_sync(r, l).join(&t(l, "report-clause-separator"));
        out.push_str(&format!(
            "{}\n",
            tr(l, "cli-status-not-in-sync", &[("reasons", why.into())])
        ));
    }
    if let Some(ws) = &r.working_set {
        let from = ws
            .from
            .clone()
            .unwrap_or_else(|| t(l, "cli-status-no-server"));
        let line = if ws.ready {
            tr(
                l,
                "cli-status-working-set-ready",
                &[("days", ws.window_days.into()), ("from", from.into())],
            )
        } else {
            tr(
                l,
                "cli-status-working-set-arriving",
                &[
                    ("from", from.into()),
                    ("bar", crate::daemon::in_sync::bar(ws.progress, 30).into()),
                    ("applied", ws.applied.into()),
                    ("of", ws.of.into()),
                ],
            )
        };
        out.push_str(&format!("{line}\n"));
    }
    for (lost, key) in [
        (r.mode.central_lost_since_ms, "cli-status-central-lost"),
        (r.mode.his_lost_since_ms, "cli-status-his-lost"),
    ] {
        if let Some(lost) = lost {
            out.push_str(&format!(
                "{}\n",
                tr(
                    l,
                    key,
                    &[
                        ("since", offset.local(lost).into()),
                        ("ago", super::ago(l, now, lost).into()),
                    ],
                )
            ));
        }
    }
    out
}

/// The emergency episode, if any, and the reconciliation after one.
fn episode(r: &StatusReport, offset: UtcOffset, l: Lang) -> String {
    let local_time = |ms| offset.local(ms);
    let mut out = String::new();
    match &r.episode {
        Some(e) => {
            let key = if e.drill {
                "cli-status-drill"
            } else {
                "cli-status-episode"
            };
            out.push_str(&format!(
                "{}\n",
                tr(
                    l,
                    key,
                    &[
                        ("id", e.id.as_str().into()),
                        ("since", local_time(e.started_ms).into()),
                        (
                            "reason",
                            episode_reason(l, &e.reason, e.reason_code.as_ref()).into(),
                        ),
                    ],
                )
            ));
            let grade = ("grade", e.expected_grade.as_str().into());
            let expected = match e.expected_back_ms {
                Some(back) => tr(
                    l,
                    "cli-status-expected-grade-back",
                    &[grade, ("back", local_time(back).into())],
                ),
                None => tr(l, "cli-status-expected-grade", &[grade]),
            };
            out.push_str(&format!("  {expected}\n"));
            if let Some(step) = &e.next_step {
                let what = match step.step.as_str() {
                    name @ ("assess" | "escalate_6h" | "escalate_24h") => {
                        t(l, &format!("report-step-{name}"))
                    }
                    _ => step.what.clone(),
                };
                out.push_str(&format!(
                    "  {}\n",
                    tr(
                        l,
                        "cli-status-next-step",
                        &[
                            ("at", local_time(step.due_ms).into()),
                            ("what", what.into())
                        ],
                    )
                ));
            }
            if e.estimate_missing {
                out.push_str(&format!("  {}\n", t(l, "cli-status-no-estimate")));
            }
            if let Some(cause) = &e.cause {
                out.push_str(&format!(
                    "  {}\n",
                    tr(l, "cli-status-cause", &[("cause", cause.into())])
                ));
            }
        }
        None => out.push_str(&format!("{}\n", t(l, "cli-status-no-episode"))),
    }
    if let Some(id) = &r.reconciling {
        out.push_str(&format!(
            "{}\n",
            tr(
                l,
                "cli-status-reconciling",
                &[("id", id.into()), ("n", r.unreconciled.into())],
            )
        ));
    }
    out
}

/// Where the daemon's check of every table of its store is; nothing outside a daemon.
fn table_check_line(check: &TableCheck, offset: UtcOffset, l: Lang) -> Option<String> {
    Some(match check {
        TableCheck::NotRun => return None,
        TableCheck::Running { since_ms } => tr(
            l,
            "cli-status-check-running",
            &[("since", offset.local(*since_ms).into())],
        ),
        TableCheck::Passed {
            finished_ms,
            took_ms,
        } => tr(
            l,
            "cli-status-check-passed",
            &[
                ("at", offset.local(*finished_ms).into()),
                ("seconds", format!("{:.1}", *took_ms as f64 / 1000.0).into()),
            ],
        ),
        TableCheck::Damaged { finished_ms, error } => tr(
            l,
            "cli-status-check-damaged",
            &[
                ("at", offset.local(*finished_ms).into()),
                ("error", error.as_str().into()),
            ],
        ),
    })
}

/// What waits, the number ranges, the store, the restore drill and the calendar.
fn totals(r: &StatusReport, offset: UtcOffset, l: Lang) -> String {
    let mut out = format!(
        "\n{}\n{}",
        tr(
            l,
            "cli-status-unreconciled",
            &[("n", r.unreconciled.into())]
        ),
        tr(
            l,
            "cli-status-open-work",
            &[
                ("conflicts", r.open_conflicts.into()),
                ("worklist", r.worklist.into()),
            ],
        )
    );
    if r.worklist_overdue > 0 {
        out.push_str(&tr(
            l,
            "cli-status-overdue",
            &[("n", r.worklist_overdue.into())],
        ));
    }
    out.push('\n');
    out.push_str(&format!("\n{}\n", t(l, "cli-status-ranges")));
    for range in &r.ranges {
        out.push_str(&format!(
            "  {} {}\n",
            pad(&range.range_id, 40),
            tr(
                l,
                "cli-status-range-left",
                &[
                    (
                        "remaining",
                        pad_left(&range.remaining.to_string(), 8).into()
                    ),
                    ("next", range.next.into()),
                ],
            )
        ));
    }
    if r.ranges.is_empty() {
        out.push_str(&format!("  {}\n", t(l, "cli-status-no-ranges")));
    }
    // A lessor's leasing waits: on relearning what it lost, and on requests' holders.
    for (key, nodes) in [
        ("cli-status-leasing-held", &r.leasing_held_for),
        ("cli-status-requests-wait", &r.requests_wait_for),
    ] {
        if !nodes.is_empty() {
            let line = tr(l, key, &[("nodes", nodes.join(", ").into())]);
            out.push_str(&format!("  {line}\n"));
        }
    }
    out.push_str(&format!(
        "\n{}\n",
        tr(
            l,
            "cli-status-store",
            &[
                ("path", r.store.path.as_str().into()),
                ("records", r.store.records.into()),
                (
                    "mib",
                    format!("{:.1}", r.store.disk_bytes as f64 / 1_048_576.0).into()
                ),
                ("audit", r.store.audit_entries.into()),
            ],
        )
    ));
    if let Some(line) = table_check_line(&r.store.check, offset, l) {
        out.push_str(&format!("{line}\n"));
    }
    if let Some(d) = &r.restore_drill {
        let line = match (&d.last, d.overdue) {
            (Some(last), false) => tr(
                l,
                "cli-status-restore-drill",
                &[
                    ("at", offset.local(last.at_ms).into()),
                    ("operator", last.operator.as_str().into()),
                    (
                        "result",
                        if last.passed {
                            t(l, "cli-status-passed")
                        } else {
                            t(l, "cli-status-failed")
                        }
                        .into(),
                    ),
                ],
            ),
            (Some(last), true) => tr(
                l,
                "cli-status-drill-overdue",
                &[("at", offset.local(last.at_ms).into())],
            ),
            (None, _) => t(l, "cli-status-no-drill"),
        };
        out.push_str(&format!("{line}\n"));
    }
    if let Some(c) = r.calendar.as_ref().filter(|c| !c.covers_next_30_days) {
        let until = c
            .covered_until
            .map_or_else(|| t(l, "cli-never"), |d| d.to_string());
        out.push_str(&format!(
            "{}\n",
            tr(
                l,
                "cli-status-calendar",
                &[
                    ("source", c.source.as_str().into()),
                    ("until", until.into())
                ],
            )
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lessor's status as `status --json` gives it, with `waiting` in `requests_wait_for`.
    fn lessor_status(waiting: &[&str]) -> StatusReport {
        let json = serde_json::json!({
            "node": "central", "role": "central", "desks": [],
            "generated_ms": 1_796_083_200_000_i64, "started_ms": 1_796_083_100_000_i64,
            "mode": { "mode": "normal", "since_ms": 1_796_083_100_000_i64,
                      "central_lost_since_ms": null, "primary": "central" },
            "episode": null, "peers": [], "unreconciled": 0, "open_conflicts": 0,
            "worklist": 0, "ranges": [], "requests_wait_for": waiting,
            "store": { "path": "/var/lib/lifeline/store.redb", "file_bytes": 1,
                       "records": 1, "records_by_kind": [], "audit_entries": 1, "feed_seq": 1 },
        });
        serde_json::from_value(json).expect("a status document")
    }

    #[test]
    fn a_lessor_names_the_nodes_whose_range_requests_wait() {
        let waiting = lessor_status(&["W03", "W07"]);
        assert_eq!(waiting.requests_wait_for, ["W03", "W07"]);
        let zh = render(&waiting, UtcOffset::CHINA, Lang::Zh);
        assert!(
            zh.contains("号段申请待处理") && zh.contains("W03, W07"),
            "{zh}"
        );
        let en = render(&waiting, UtcOffset::CHINA, Lang::En);
        assert!(
            en.contains("Range requests waiting") && en.contains("W03, W07"),
            "{en}"
        );
        let none = render(&lessor_status(&[]), UtcOffset::CHINA, Lang::Zh);
        assert!(!none.contains("号段申请待处理"), "{none}");
    }
}
