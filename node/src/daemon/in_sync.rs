//! One answer to "is this node in sync?", and a window's working set: pure functions of what
//! the status already holds (the mode, the episode, the kept counts, each peer's published
//! state), so a script reads one field instead of combining them, and every case is a unit
//! test.
//!
//! A node is in sync when it is in normal mode, in no emergency episode, holds no emergency
//! record central has not acknowledged, is connected to a server (central, or for central
//! itself nothing is needed), and every connected server peer is caught up both ways (nothing
//! to send, nothing in flight, nothing to receive) without a digest comparison that found a
//! difference. A window must also hold its working set. A node that is the active end of the
//! HIS bridge must also reach the HIS, and the HIS must have imported everything pushed into
//! its interface tables without refusing any of it: until then the outage's records are not
//! back in the system of record.

use lifeline_core::NodeRole;
use lifeline_sync::mesh::PeerStatus;
use serde::{Deserialize, Serialize};

use super::health::Mode;
use crate::his::bridge::Reach;

/// What a node's own sync judgement is made of.
#[derive(Debug, Clone)]
pub struct SyncFacts<'a> {
    pub role: NodeRole,
    pub mode: Mode,
    pub episode: bool,
    pub unreconciled: u64,
    pub peers: &'a [PeerStatus],
    /// A window's working set (`None` elsewhere).
    pub working_set: Option<&'a WorkingSet>,
    /// The HIS link, on a node that runs the bridge.
    pub his: Option<HisFacts>,
}

/// What the judgement needs of the HIS link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HisFacts {
    /// This node pulls and pushes (the standby only while it is primary).
    pub active: bool,
    /// Whether the HIS answered the last try; `None` before the first.
    pub reachable: Option<bool>,
    /// Rows pushed that the HIS has not imported yet.
    pub waiting: u64,
    /// Rows whose latest revision the HIS refused.
    pub refused: u64,
}

impl HisFacts {
    pub fn of(his: &crate::api::his::HisPeer) -> HisFacts {
        HisFacts {
            active: his.active,
            reachable: match his.health.reach {
                Reach::Up => Some(true),
                Reach::Down => Some(false),
                Reach::Unknown => None,
            },
            waiting: his.waiting,
            refused: his.refused,
        }
    }
}

/// Whether everything is replicated and reconciled, and if not, why (one line per reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InSync {
    pub in_sync: bool,
    pub not_in_sync_because: Vec<String>,
}

fn is_server(p: &PeerStatus) -> bool {
    matches!(p.role, Some(NodeRole::Central | NodeRole::Standby))
}

/// Why a node is not in sync: one reason, with what it needs to be said in any language.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// The mode (`degraded`, `isolated`).
    Mode(&'static str),
    InEpisode,
    Unacknowledged(u64),
    CentralNotConnected,
    Backlog {
        peer: String,
        to_send: u64,
        to_receive: u64,
    },
    DigestDiffers {
        peer: String,
    },
    /// The working set still arriving, in percent.
    WorkingSetArriving(f64),
    /// The HIS does not answer (`Some(false)`), or has not been tried yet (`None`).
    HisNotReached {
        tried: bool,
    },
    /// Rows pushed that the HIS has not imported yet.
    HisWaiting(u64),
    /// Rows the HIS refused (each a recovery worklist item).
    HisRefused(u64),
}

impl Reason {
    /// The reason in English, as `not_in_sync_because` gives it.
    pub fn english(&self) -> String {
        match self {
            Reason::Mode(mode) => format!("mode is {mode}"),
            Reason::InEpisode => "in an emergency episode".to_owned(),
            Reason::Unacknowledged(n) => {
                format!("{n} emergency records not yet acknowledged by central")
            }
            Reason::CentralNotConnected => "central is not connected".to_owned(),
            Reason::Backlog {
                peer,
                to_send,
                to_receive,
            } => format!("{peer}: {to_send} records to send, {to_receive} to receive"),
            Reason::DigestDiffers { peer } => {
                format!("{peer}: the last digest comparison found a difference")
            }
            Reason::WorkingSetArriving(pct) => {
                format!("the working set is still arriving ({pct:.0}%)")
            }
            Reason::HisNotReached { tried: true } => "the HIS does not answer".to_owned(),
            Reason::HisNotReached { tried: false } => "the HIS has not been reached yet".to_owned(),
            Reason::HisWaiting(n) => format!("{n} rows pushed that the HIS has not imported yet"),
            Reason::HisRefused(n) => format!("{n} rows the HIS refused"),
        }
    }
}

/// The node-level judgement (see the module docs).
pub fn judge(f: &SyncFacts<'_>) -> InSync {
    let why = reasons(f);
    InSync {
        in_sync: why.is_empty(),
        not_in_sync_because: why.iter().map(Reason::english).collect(),
    }
}

/// Why the node is not in sync; none when it is.
pub fn reasons(f: &SyncFacts<'_>) -> Vec<Reason> {
    let mut why = Vec::new();
    if f.mode != Mode::Normal {
        why.push(Reason::Mode(f.mode.name()));
    }
    if f.episode {
        why.push(Reason::InEpisode);
    }
    if f.unreconciled > 0 {
        why.push(Reason::Unacknowledged(f.unreconciled));
    }
    if f.role != NodeRole::Central
        && !f
            .peers
            .iter()
            .any(|p| p.connected && p.role == Some(NodeRole::Central))
    {
        why.push(Reason::CentralNotConnected);
    }
    for p in f.peers.iter().filter(|p| p.connected && is_server(p)) {
        if !p.caught_up || p.to_send > 0 || p.to_receive > 0 {
            why.push(Reason::Backlog {
                peer: p.name.clone(),
                to_send: p.to_send,
                to_receive: p.to_receive,
            });
        }
        if p.in_sync == Some(false) {
            why.push(Reason::DigestDiffers {
                peer: p.name.clone(),
            });
        }
    }
    if let Some(ws) = f.working_set
        && !ws.ready
    {
        why.push(Reason::WorkingSetArriving(ws.progress * 100.0));
    }
    if let Some(his) = f.his.filter(|h| h.active) {
        if his.reachable != Some(true) {
            why.push(Reason::HisNotReached {
                tried: his.reachable.is_some(),
            });
        }
        if his.waiting > 0 {
            why.push(Reason::HisWaiting(his.waiting));
        }
        if his.refused > 0 {
            why.push(Reason::HisRefused(his.refused));
        }
    }
    why
}

/// A node's working set (on a window) and its sync judgement, from what the status holds.
pub fn of_node(
    role: NodeRole,
    config: &crate::config::Config,
    mode: Mode,
    episode: bool,
    unreconciled: u64,
    peers: &[PeerStatus],
    his: Option<HisFacts>,
) -> (Option<WorkingSet>, InSync) {
    let working_set = config.window_days().map(|days| working_set(days, peers));
    let judged = judge(&SyncFacts {
        role,
        mode,
        episode,
        unreconciled,
        peers,
        working_set: working_set.as_ref(),
        his,
    });
    (working_set, judged)
}

/// A window's working set: the patient master, the reference data and the records of its last
/// `window_days` days, received from a server; `ready` once it has all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkingSet {
    pub window_days: u32,
    pub ready: bool,
    /// 0 to 1: how far into the server's feed this window has applied (of the feed as the
    /// server's hello gave it).
    pub progress: f64,
    /// The server it is received from.
    pub from: Option<String>,
    /// Records of the working set applied here so far, and the server's feed length.
    pub applied: u64,
    pub of: u64,
}

/// A window's working set from its server peers: the best-placed of them (central first).
pub fn working_set(window_days: u32, peers: &[PeerStatus]) -> WorkingSet {
    let best = [NodeRole::Central, NodeRole::Standby]
        .iter()
        .find_map(|role| {
            peers
                .iter()
                .filter(|p| p.role == Some(*role) && (p.connected || p.applied_from_peer > 0))
                .max_by_key(|p| p.applied_from_peer)
        });
    let Some(p) = best else {
        return WorkingSet {
            window_days,
            ready: false,
            progress: 0.0,
            from: None,
            applied: 0,
            of: 0,
        };
    };
    let of = p.peer_feed_head.unwrap_or(p.applied_from_peer);
    let applied = p.applied_from_peer.min(of);
    // A window that reached its server's feed head once, or that holds what it had applied
    // before a restart while the server is not connected yet, has its working set.
    let ready = if p.connected {
        p.peer_feed_head.is_some() && applied >= of
    } else {
        p.applied_from_peer > 0
    };
    WorkingSet {
        window_days,
        ready,
        progress: if of == 0 {
            1.0
        } else {
            applied as f64 / of as f64
        },
        from: Some(p.name.clone()),
        applied,
        of,
    }
}

/// A progress bar for people: `[#########...........]  45%`.
pub fn bar(progress: f64, width: usize) -> String {
    let done = ((progress.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!(
        "[{}{}] {:>3.0}%",
        "#".repeat(done),
        ".".repeat(width - done.min(width)),
        progress.clamp(0.0, 1.0) * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn central(connected: bool, caught_up: bool) -> PeerStatus {
        PeerStatus {
            name: "central".into(),
            role: Some(NodeRole::Central),
            connected,
            caught_up,
            peer_feed_head: Some(100),
            applied_from_peer: if caught_up { 100 } else { 40 },
            to_receive: if caught_up { 0 } else { 60 },
            ..PeerStatus::default()
        }
    }

    fn facts<'a>(peers: &'a [PeerStatus], ws: Option<&'a WorkingSet>) -> SyncFacts<'a> {
        SyncFacts {
            role: NodeRole::Window,
            mode: Mode::Normal,
            episode: false,
            unreconciled: 0,
            peers,
            working_set: ws,
            his: None,
        }
    }

    #[test]
    fn a_window_caught_up_with_central_is_in_sync_at_once() {
        let peers = [central(true, true)];
        let ws = working_set(7, &peers);
        assert!(ws.ready);
        assert!(judge(&facts(&peers, Some(&ws))).in_sync);
    }

    #[test]
    fn each_reason_is_named() {
        let peers = [central(true, false)];
        let ws = working_set(7, &peers);
        assert!(!ws.ready);
        assert!((ws.progress - 0.4).abs() < 1e-9);
        let mut f = facts(&peers, Some(&ws));
        f.mode = Mode::Degraded;
        f.episode = true;
        f.unreconciled = 3;
        let j = judge(&f);
        assert!(!j.in_sync);
        let text = j.not_in_sync_because.join("; ");
        for part in [
            "mode is degraded",
            "emergency episode",
            "3 emergency records",
            "60 to receive",
            "working set is still arriving (40%)",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        let gone = [central(false, false)];
        let text = judge(&facts(&gone, None)).not_in_sync_because.join("; ");
        assert!(text.contains("central is not connected"), "{text}");
    }

    #[test]
    fn a_digest_difference_is_not_in_sync() {
        let mut peer = central(true, true);
        peer.in_sync = Some(false);
        let j = judge(&facts(std::slice::from_ref(&peer), None));
        assert!(!j.in_sync);
    }

    /// Central caught up with its windows is still not in sync while the outage's records
    /// are not back in the HIS; the standby's idle bridge end is not judged.
    #[test]
    fn the_his_link_is_part_of_being_in_sync() {
        let mut f = facts(&[], None);
        f.role = NodeRole::Central;
        let up = HisFacts {
            active: true,
            reachable: Some(true),
            waiting: 0,
            refused: 0,
        };
        f.his = Some(up);
        assert!(judge(&f).in_sync);
        for (his, says) in [
            (
                HisFacts {
                    reachable: Some(false),
                    ..up
                },
                "the HIS does not answer",
            ),
            (
                HisFacts {
                    reachable: None,
                    ..up
                },
                "the HIS has not been reached yet",
            ),
            (
                HisFacts { waiting: 12, ..up },
                "12 rows pushed that the HIS has not imported yet",
            ),
            (HisFacts { refused: 2, ..up }, "2 rows the HIS refused"),
        ] {
            f.his = Some(his);
            let j = judge(&f);
            assert!(!j.in_sync, "{his:?}");
            assert_eq!(j.not_in_sync_because, vec![says.to_owned()]);
            f.his = Some(HisFacts {
                active: false,
                ..his
            });
            assert!(judge(&f).in_sync, "an inactive end is not judged: {his:?}");
        }
    }

    #[test]
    fn the_bar_fills_with_the_progress() {
        assert_eq!(bar(0.5, 10), "[#####.....]  50%");
        assert_eq!(bar(1.5, 4), "[####] 100%");
    }
}
