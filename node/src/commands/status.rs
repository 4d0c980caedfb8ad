//! `lifeline status [--json] [--watch]`: what the information department looks at first, in
//! the language of `--lang` (the JSON is the same in every language).

use std::path::PathBuf;
use std::time::Duration;

use lifeline_core::NodeRole;

use crate::api::admin::StatusReport;
use crate::daemon::health::Mode;
use crate::daemon::in_sync::{self, Reason, SyncFacts};
use crate::i18n::width::{pad, pad_left};
use crate::i18n::{Lang, t, tr};
use crate::time::UtcOffset;

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

/// A mode (`normal`, `degraded`, `isolated`) in `l`; an unknown one as it is, in capitals.
pub fn mode_words(l: Lang, mode: &str) -> String {
    match mode {
        "normal" | "degraded" | "isolated" => t(l, &format!("cli-mode-{mode}")),
        other => other.to_uppercase(),
    }
}

fn role_words(l: Lang, role: NodeRole) -> String {
    t(l, &format!("cli-role-{}", role.name()))
}

/// Why the node is not in sync, in `l`: judged again from what the status holds (the same
/// pure judgement the daemon made); the daemon's English reasons if the two disagree (a
/// daemon of another version).
fn not_in_sync(r: &StatusReport, l: Lang) -> Vec<String> {
    let mode = match r.mode.mode.as_str() {
        "normal" => Some(Mode::Normal),
        "degraded" => Some(Mode::Degraded),
        "isolated" => Some(Mode::Isolated),
        _ => None,
    };
    let again = mode.map(|mode| {
        in_sync::reasons(&SyncFacts {
            role: r.role,
            mode,
            episode: r.episode.is_some(),
            unreconciled: r.unreconciled,
            peers: &r.peers,
            working_set: r.working_set.as_ref(),
        })
    });
    match again {
        Some(reasons) if reasons.len() == r.not_in_sync_because.len() => {
            reasons.iter().map(|why| reason_words(why, l)).collect()
        }
        _ => r.not_in_sync_because.clone(),
    }
}

fn reason_words(why: &Reason, l: Lang) -> String {
    match why {
        Reason::Mode(mode) => tr(l, "cli-why-mode", &[("mode", mode_words(l, mode).into())]),
        Reason::InEpisode => t(l, "cli-why-episode"),
        Reason::Unacknowledged(n) => tr(l, "cli-why-unacknowledged", &[("n", (*n).into())]),
        Reason::CentralNotConnected => t(l, "cli-why-central"),
        Reason::Backlog {
            peer,
            to_send,
            to_receive,
        } => tr(
            l,
            "cli-why-backlog",
            &[
                ("peer", peer.into()),
                ("send", (*to_send).into()),
                ("receive", (*to_receive).into()),
            ],
        ),
        Reason::DigestDiffers { peer } => tr(l, "cli-why-digest", &[("peer", peer.into())]),
        Reason::WorkingSetArriving(pct) => tr(
            l,
            "cli-why-working-set",
            &[("percent", format!("{pct:.0}").into())],
        ),
    }
}

/// A peers table line: name, role, state, rtt, last contact, to send, to receive, and the
/// last column.
fn peer_line(cells: [&str; 8]) -> String {
    const COLUMNS: [(usize, bool); 7] = [
        (10, false),
        (8, false),
        (12, false),
        (7, true),
        (14, false),
        (8, true),
        (8, true),
    ];
    let mut s = String::from("  ");
    for (c, (w, right)) in cells.iter().zip(COLUMNS) {
        s.push_str(&if right { pad_left(c, w) } else { pad(c, w) });
        s.push(' ');
    }
    s.push(' ');
    s.push_str(cells[7]);
    s.truncate(s.trim_end().len());
    s.push('\n');
    s
}

/// The human form of the status in `l`, times in the hospital's offset.
pub fn render(r: &StatusReport, offset: UtcOffset, l: Lang) -> String {
    let mut out = head(r, offset, l);
    out.push_str(&episode(r, offset, l));
    out.push_str(&format!("\n{}\n", t(l, "cli-status-peers")));
    out.push_str(&peers(r, l));
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
                        ("reason", e.reason.as_str().into()),
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

/// The peers table, the HIS as one of them.
fn peers(r: &StatusReport, l: Lang) -> String {
    let now = r.generated_ms;
    let never = || t(l, "cli-never");
    let mut out = peer_line([
        &t(l, "cli-status-col-name"),
        &t(l, "cli-status-col-role"),
        &t(l, "cli-status-col-state"),
        &t(l, "cli-status-col-rtt"),
        &t(l, "cli-status-col-last-contact"),
        &t(l, "cli-status-col-to-send"),
        &t(l, "cli-status-col-to-receive"),
        &t(l, "cli-status-col-convergence"),
    ]);
    let note = |out: &mut String, text: String| out.push_str(&format!("    {text}\n"));
    for p in &r.peers {
        let state = if p.connected {
            t(l, "cli-status-connected")
        } else {
            t(l, "cli-status-down")
        };
        let rtt = p.rtt_ms.map_or_else(|| "-".into(), |v| format!("{v} ms"));
        let last = p
            .last_contact_ms
            .map_or_else(never, |at| super::ago(l, now, at));
        let conv = match (p.in_sync, p.peer_records) {
            (Some(true), Some(n)) => tr(l, "cli-status-conv-in-sync", &[("n", n.into())]),
            (Some(false), Some(n)) => tr(l, "cli-status-conv-differs", &[("n", n.into())]),
            _ => t(l, "cli-status-conv-unknown"),
        };
        let role = p.role.map_or_else(|| "?".into(), |r| role_words(l, r));
        out.push_str(&peer_line([
            &p.name,
            &role,
            &state,
            &rtt,
            &last,
            &p.to_send.to_string(),
            &p.to_receive.to_string(),
            &conv,
        ]));
        if p.rejected > 0 {
            let reasons: Vec<String> = p
                .refused
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect();
            note(
                &mut out,
                tr(
                    l,
                    "cli-status-peer-refused",
                    &[
                        ("n", p.rejected.into()),
                        ("reasons", reasons.join(", ").into()),
                    ],
                ),
            );
        }
        if p.violations > 0 {
            note(
                &mut out,
                tr(
                    l,
                    "cli-status-peer-violations",
                    &[("n", p.violations.into())],
                ),
            );
        }
        if p.roster_refused > 0 {
            note(
                &mut out,
                tr(
                    l,
                    "cli-status-peer-roster",
                    &[("n", p.roster_refused.into())],
                ),
            );
        }
        if let (false, Some(err)) = (p.connected, &p.last_error) {
            note(
                &mut out,
                tr(l, "cli-status-last-error", &[("error", err.into())]),
            );
        }
    }
    if let Some(his) = &r.his {
        use crate::his::bridge::Reach;
        let state = match his.health.reach {
            Reach::Up => t(l, "cli-status-connected"),
            Reach::Down => t(l, "cli-status-down"),
            Reach::Unknown => t(l, "cli-status-not-tried"),
        };
        let rtt = his
            .health
            .rtt_ms
            .map_or_else(|| "-".into(), |v| format!("{v} ms"));
        let last = his
            .health
            .last_contact_ms
            .map_or_else(never, |at| super::ago(l, now, at));
        let mut pulled = his.last_pull_ms.map_or_else(
            || t(l, "cli-status-not-pulled"),
            |at| {
                tr(
                    l,
                    "cli-status-pulled",
                    &[("ago", super::ago(l, now, at).into())],
                )
            },
        );
        if !his.active {
            pulled.push_str(&t(l, "cli-status-watching"));
        }
        out.push_str(&peer_line([
            "HIS",
            "his",
            &state,
            &rtt,
            &last,
            &his.waiting.to_string(),
            "-",
            &pulled,
        ]));
        if his.refused > 0 {
            note(
                &mut out,
                tr(l, "cli-status-his-refused", &[("n", his.refused.into())]),
            );
        }
        if let (Reach::Down, Some(err)) = (his.health.reach, &his.health.last_error) {
            note(
                &mut out,
                tr(l, "cli-status-last-error", &[("error", err.into())]),
            );
        }
    }
    if r.peers.is_empty() && r.his.is_none() {
        out.push_str(&format!("  {}\n", t(l, "cli-status-no-peers")));
    }
    out
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
                    format!("{:.1}", r.store.file_bytes as f64 / 1_048_576.0).into()
                ),
                ("audit", r.store.audit_entries.into()),
            ],
        )
    ));
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
