//! The status's values in words: modes, roles, and why a node is not in sync (judged again
//! from what the status holds, so each reason can be said in the reader's language).

use lifeline_core::NodeRole;

use crate::api::status::StatusReport;
use crate::daemon::health::Mode;
use crate::daemon::in_sync::{self, Reason, SyncFacts};
use crate::i18n::{Lang, t, tr};

/// A mode (`normal`, `degraded`, `isolated`) in `l`; an unknown one as it is, in capitals.
pub fn mode_words(l: Lang, mode: &str) -> String {
    match mode {
        "normal" | "degraded" | "isolated" => t(l, &format!("cli-mode-{mode}")),
        other => other.to_uppercase(),
    }
}

pub(super) fn role_words(l: Lang, role: NodeRole) -> String {
    t(l, &format!("cli-role-{}", role.name()))
}

/// Why the node is not in sync, in `l`: judged again from what the status holds (the same
/// pure judgement the daemon made); the daemon's English reasons if the two disagree (a
/// daemon of another version).
pub(super) fn not_in_sync(r: &StatusReport, l: Lang) -> Vec<String> {
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
            his: r.his.as_ref().map(in_sync::HisFacts::of),
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
        Reason::HisNotReached { tried: true } => t(l, "cli-why-his-down"),
        Reason::HisNotReached { tried: false } => t(l, "cli-why-his-untried"),
        Reason::HisWaiting(n) => tr(l, "cli-why-his-waiting", &[("n", (*n).into())]),
        Reason::HisRefused(n) => tr(l, "cli-why-his-refused", &[("n", (*n).into())]),
    }
}
