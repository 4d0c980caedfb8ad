//! The peers table of `lifeline status`: each peer's role, state, round trip, last contact,
//! backlogs and convergence, and what it sent that was refused; the HIS as one of them.

use super::role_words;
use crate::api::status::StatusReport;
use crate::commands::ago;
use crate::i18n::codes::refusal;
use crate::i18n::width::{pad, pad_left};
use crate::i18n::{Lang, t, tr};

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

/// The peers table, the HIS as one of them.
pub(super) fn table(r: &StatusReport, l: Lang) -> String {
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
        let last = p.last_contact_ms.map_or_else(never, |at| ago(l, now, at));
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
                .map(|(code, n)| format!("{} {n}", refusal(l, code)))
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
        if p.repairs > 0 {
            note(
                &mut out,
                tr(
                    l,
                    "cli-status-peer-repairs",
                    &[
                        ("n", p.repairs.into()),
                        ("records", p.records_repaired.into()),
                    ],
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
            .map_or_else(never, |at| ago(l, now, at));
        let mut pulled = his.last_pull_ms.map_or_else(
            || t(l, "cli-status-not-pulled"),
            |at| tr(l, "cli-status-pulled", &[("ago", ago(l, now, at).into())]),
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
