//! Each node's health monitor and housekeeping, as its daemon runs them: every second the
//! node looks at its links (is central connected? the standby?) and decides its mode with
//! core's pure `health::decide`; then a store-backed node runs core's housekeeping round over its store (`housekeeping::run`, the daemon's): central away for
//! [`EMERGENCY_AFTER`] opens (or joins) an emergency episode, and the records desks write
//! then carry its tag ("YJ"); central acknowledges the emergency records that reach it;
//! once central is back the node ends the outage, and leaves the episode when central has
//! everything it wrote in it; windows ask for number ranges and the lessor fills them.
//!
//! After the heal the hospital is quiet only once every node is out of every episode with
//! nothing unreconciled, and then (`check_outages`):
//! - `outages_reconciled`: no node is in an episode or reconciling one, none holds a record
//!   central has not acknowledged, and every episode every node holds is closed, every node
//!   that took part has left it, and its grade is the plan's for its duration;
//! - `episode_tags`: every record a desk created carries, on every node, the episode its node
//!   was in when it was committed (or none), and that episode is held there and names the
//!   node;
//! - `ranges_unique`: no number of any series is leased to two holders (every range granted,
//!   as every node holds the leases), unless a lessor's backup was copied over its store by
//!   hand, taking its cursors back (`numbers`).

use std::collections::BTreeMap;
use std::time::Duration;

use lifeline_core::desk::grade;
use lifeline_core::health::{ModeInfo, Observation, decide};
use lifeline_core::housekeeping::{Settings, Thresholds};
use lifeline_core::{EpisodeId, NodeRole, RecordId};

use crate::backing::{Backing, EpisodeView};
use crate::sim::{Event, Phase, Power, Sim};
use crate::work::Kind;

/// How often a node looks at its peers (the daemon: every 250 ms; a second is enough for a
/// simulated outage of seconds).
pub(crate) const LOOK_MS: u64 = 1000;
/// Central away this long opens an episode (the daemon's default is minutes; a simulated
/// outage lasts seconds).
pub(crate) const EMERGENCY_AFTER: Duration = Duration::from_secs(2);

/// The HIS away from central's bridge this long opens an episode at central (the daemon's
/// `[his] emergency_after`).
pub(crate) const HIS_EMERGENCY_AFTER: Duration = Duration::from_secs(2);

/// What a node's monitor knows.
#[derive(Debug, Clone)]
pub(crate) struct Monitor {
    pub mode: ModeInfo,
    /// When the node (re)started, on its own clock.
    pub started_ms: i64,
    /// Whether central was connected on some look since then.
    pub central_seen: bool,
    pub looks: u64,
}

impl Monitor {
    pub(crate) fn new(role: NodeRole, now_ms: i64) -> Monitor {
        Monitor {
            mode: ModeInfo::initial(role, now_ms),
            started_ms: now_ms,
            central_seen: false,
            looks: 0,
        }
    }
}

/// A record a desk created, as committed: at which node, and the episode it was tagged with.
#[derive(Debug, Clone)]
pub(crate) struct Created {
    pub node: usize,
    pub id: RecordId,
    pub kind: Kind,
    pub episode: Option<EpisodeId>,
    /// Written while records the node lost with its whole data directory copied back were
    /// still on their way back to it: a number it handed out may be on one of them too.
    pub blind: bool,
}

/// The node's role, by its place in the hospital (central, the standby, then windows).
pub(crate) fn role_of(node: usize) -> NodeRole {
    match node {
        0 => NodeRole::Central,
        1 => NodeRole::Standby,
        _ => NodeRole::Window,
    }
}

impl<R: Backing> Sim<R> {
    /// Every node's first look, spread over the first second.
    pub(crate) fn schedule_looks(&mut self) {
        for node in 0..self.nodes.len() {
            let at = (node as u64 * 97) % LOOK_MS;
            self.queue.push(at, Event::Look { node });
        }
    }

    /// Whether `node` has a connection up with `peer`.
    fn connected(&self, node: usize, peer: usize) -> bool {
        self.links
            .iter()
            .any(|l| l.conn.is_some() && l.ends.contains(&node) && l.ends.contains(&peer))
    }

    /// One look of `node`'s monitor, and its housekeeping round (the daemon runs one every
    /// fourth look, at a quarter of the period).
    pub(crate) fn look(&mut self, node: usize) {
        self.queue.push(self.now_ms + LOOK_MS, Event::Look { node });
        if node == 0 {
            self.his_works();
        }
        if self.nodes[node].power == Power::Down || self.phase == Phase::Done {
            return;
        }
        let now_ms = self.wall_ms(node);
        let role = role_of(node);
        let (central_up, standby_up) = (self.connected(node, 0), self.connected(node, 1));
        let monitor = &self.nodes[node].monitor;
        let obs = Observation {
            role,
            now_ms,
            started_ms: monitor.started_ms,
            central_up,
            standby_up,
            central_seen: monitor.central_seen,
            // Central's bridge watches the HIS; no other node does.
            other_records_up: role != NodeRole::Central || self.his_away == 0,
        };
        let info = decide(&monitor.mode, &obs);
        let before = monitor.mode.mode;
        let n = &mut self.nodes[node];
        n.monitor.central_seen |= central_up;
        n.monitor.looks += 1;
        n.monitor.mode = info.clone();
        if info.mode != before {
            let name = n.name.to_string();
            let mode = info.mode.name();
            self.note(|| format!("{name}: mode {mode}"));
        }
        if self.cfg.housekeeping {
            self.housekeep(node, &info, now_ms);
        }
        self.bridge_pulls(node);
        if node == 0 {
            self.bridge_reads_his();
        }
    }

    fn housekeep(&mut self, node: usize, info: &ModeInfo, now_ms: i64) {
        let n = &self.nodes[node];
        let settings = Settings {
            role: role_of(node),
            desks: n.credentials.member().desks.clone(),
            thresholds: Thresholds {
                emergency_after: EMERGENCY_AFTER,
                his_emergency_after: (node == 0).then_some(HIS_EMERGENCY_AFTER),
            },
            low_water: 50,
            lease_size: 1000,
            central: Some(self.nodes[0].name.to_string()),
        };
        let before = n.replica().episode();
        let head = n.replica().feed_head().ok();
        if let Err(e) = n.replica().housekeep(&settings, info, now_ms) {
            let name = n.name.to_string();
            self.fail("housekeeping", format!("{name}: {e}"));
            return;
        }
        let after = self.nodes[node].replica().episode();
        if after != before {
            if after.is_some() {
                self.faults.episodes_entered += 1;
            }
            let name = self.name(node).to_owned();
            self.note(|| match (&before, &after) {
                (_, Some(e)) => format!("{name}: in emergency episode {e}"),
                (Some(e), None) => format!("{name}: the outage is over (episode {e})"),
                (None, None) => String::new(),
            });
        }
        // What the round wrote goes to the node's peers, as a desk's commit does.
        if self.nodes[node].replica().feed_head().ok() != head {
            self.wake(node, None);
        }
    }

    /// The node starts again: its monitor starts afresh, as the daemon's does.
    pub(crate) fn monitor_restarted(&mut self, node: usize) {
        let now_ms = self.wall_ms(node);
        self.nodes[node].monitor = Monitor::new(role_of(node), now_ms);
    }

    /// A desk's record is committed at `node`: kept with the episode it was tagged with.
    pub(crate) fn note_created(&mut self, node: usize, id: RecordId, kind: Kind) {
        let episode = self.nodes[node].replica().episode_of(id).flatten();
        self.faults.emergency_records += u64::from(episode.is_some());
        let blind = self.still_coming_back(node);
        self.created.push(Created {
            node,
            id,
            kind,
            episode,
            blind,
        });
    }

    /// What keeps the hospital's outages from being over, if anything.
    pub(crate) fn outage_noise(&self) -> Option<String> {
        if !self.cfg.housekeeping {
            return None;
        }
        self.nodes.iter().find_map(|n| {
            n.replica()
                .outage_work()
                .map(|w| format!("{}: {w}", n.name))
        })
    }

    pub(crate) fn check_outages(&mut self) {
        if !self.cfg.housekeeping {
            return;
        }
        let mut open = Vec::new();
        let mut tags = Vec::new();
        let mut ranges = Vec::new();
        let mut checked = (0, 0, 0);
        for n in &self.nodes {
            let Some(view) = n.replica().outages() else {
                continue;
            };
            checked.0 += 1;
            if let Some(w) = n.replica().outage_work() {
                open.push(format!("{}: {w}", n.name));
            }
            for e in &view.episodes {
                if e.open {
                    open.push(format!("{}: episode {} still open", n.name, e.id));
                }
                for (node, part) in &e.nodes {
                    if part.left_ms.is_none() {
                        open.push(format!(
                            "{}: {node} has not left {} (recovered at {:?}, the episode {})",
                            n.name,
                            e.id,
                            part.recovered_ms,
                            if e.open { "open" } else { "closed" }
                        ));
                    }
                }
                if e.grade != grade(e.duration_ms) {
                    open.push(format!(
                        "{}: {} graded {}, lasting {} ms",
                        n.name, e.id, e.grade, e.duration_ms
                    ));
                }
            }
            for c in &self.created {
                let Some(held) = n.replica().episode_of(c.id) else {
                    continue;
                };
                checked.1 += 1;
                if held != c.episode {
                    tags.push(format!(
                        "{}: {} tagged {held:?}, written in {:?}",
                        n.name, c.id, c.episode
                    ));
                }
                if let Some(wrong) = tag_agrees(&view.episodes, self.name(c.node), c) {
                    tags.push(format!("{}: {wrong}", n.name));
                }
            }
            let mut by_series: BTreeMap<&str, Vec<(u64, u64, &str)>> = BTreeMap::new();
            for r in &view.ranges {
                by_series.entry(r.series.as_str()).or_default().push((
                    r.first,
                    r.last,
                    r.holder.as_str(),
                ));
            }
            for (series, mut granted) in by_series {
                granted.sort_unstable();
                checked.2 += granted.len() as u64;
                for pair in granted.windows(2) {
                    if pair[1].0 <= pair[0].1 {
                        ranges.push(format!(
                            "{}: {series} {}-{} ({}) overlaps {}-{} ({})",
                            n.name,
                            pair[0].0,
                            pair[0].1,
                            pair[0].2,
                            pair[1].0,
                            pair[1].1,
                            pair[1].2
                        ));
                    }
                }
            }
        }
        if checked.0 == 0 {
            return;
        }
        self.checked("outages_reconciled", checked.0);
        self.checked("episode_tags", checked.1);
        self.checked("ranges_unique", checked.2);
        self.fail_some("outages_reconciled", open);
        self.fail_some("episode_tags", tags);
        self.fail_some("ranges_unique", ranges);
    }
}

/// Whether the episodes held say of the record `c` what its tag says: a tagged record's
/// episode (or the one it merged into) is held and names its node, which joined it before the
/// write. An episode keeps one part per node (a node in the outage again takes its old part
/// back, and a store restored empty starts a new one), so the parts do not tell when a node
/// was out of an episode between two spells in it, and an untagged record is not checked
/// against them.
fn tag_agrees(episodes: &[EpisodeView], origin: &str, c: &Created) -> Option<String> {
    let tag = c.episode.as_ref()?;
    let Some(e) = episodes.iter().find(|e| e.id == *tag) else {
        return Some(format!("{} tagged {tag}, which is not held", c.id));
    };
    let survivor = e
        .merged_into
        .as_ref()
        .and_then(|m| episodes.iter().find(|x| x.id == *m));
    let named = |e: &EpisodeView| e.nodes.contains_key(origin);
    if !named(e) && !survivor.is_some_and(named) {
        return Some(format!(
            "{} tagged {tag}, which does not name {origin}",
            c.id
        ));
    }
    None
}
