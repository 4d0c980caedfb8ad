//! After the run: waiting for quiescence, then the invariants.
//!
//! - `quiescence`: once healed, the hospital goes quiet (every node up, every link
//!   connected, nothing but heartbeats in flight, every session caught up) within a bounded
//!   simulated time.
//! - `acknowledged_writes_kept`: every write a desk heard "saved" for was committed, and its
//!   changes are on every node (every node keeps every record here: windows do not prune).
//! - `replicas_equal`: every record has the same heads on every node, every node holds the
//!   same number of records, and every node's digest is the same.
//! - `statuses_forward`: every state an acknowledged status move reached is in the record's
//!   log on every node, and the current status is at least that state.
//! - `duplicates_flagged`: the two records of each person of a family registered at two
//!   windows (`family`) are on every node, neither merged into anything, and the review's
//!   duplicate detector flags them as a pair (the in-memory replica keeps no open-item index:
//!   the detector behind the store's index is run over each node's converged copies).
//! - `conflicts_flagged`: two desks changing one patient's phone at the same moment at two
//!   nodes leave a field conflict for a person on every node exactly when neither change saw
//!   the other (the review's detector, run over each node's copy).
//! - `no_refusals`: no node refused a change of an honest node: the only refusals are of the
//!   hostile window's forgeries (`hostile`), in runs that have one.
//! - `forgeries_refused`: every forgery that reached a node was refused there for the rule it
//!   breaks (its refusal code), and no node holds a forged change.
//! - `digests_agree`: the protocol's own digest comparison, run while settling, says every
//!   pair of connected nodes is in sync.
//! - `no_repairs_needed`: in a run without a drift (`drift`), no two honest nodes needed
//!   a digest repair.
//! - `honest_sessions`: no session between honest nodes ended but by a timeout or a
//!   goodbye (checked as the run goes; counted once per run).
//! - `wire`, `desk_writes`: every frame survived its encoding; every desk write the node took
//!   could be written (checked as the run goes).
//! - `no_panic`: nothing in the run panicked (`lifeline_sim::run` catches a panic and fails
//!   the run with it); `bounded_run`: the run ended within its event budget.
//! - With stores: `stores_verify` (`kept`); `outages_reconciled`, `episode_tags`,
//!   `ranges_unique` (`outage`); `numbers_accounted` (`numbers`); `worklist_drains`
//!   (`worklist`).

use std::collections::BTreeMap;

use lifeline_core::RecordId;
use lifeline_core::automerge::{Automerge, ChangeHash};
use lifeline_core::record::Patient;
use lifeline_core::review::{ConflictKind, duplicate_patients};
use lifeline_core::store::Scope;

use crate::admin::phone_in_conflict;
use crate::backing::Backing;
use crate::family::Pair;
use crate::hostile::{Forged, Judged};
use crate::records::reached;
use crate::sim::{Event, Phase, Power, Sim};
use crate::work::{Ack, Kind};

/// Most simulated time from the heal to quiescence.
const QUIESCENCE_LIMIT_MS: u64 = 300_000;
/// Quiet time before the checks: long enough for every session's digest round (10 s).
const SETTLE_MS: u64 = 12_000;
/// Most quiet time before the checks: for digests that differ, two rounds to find the same
/// buckets different, the repair, and a round that agrees.
const SETTLE_LIMIT_MS: u64 = 60_000;
/// Failures of one invariant described in full; the rest are counted.
const MAX_DESCRIBED: usize = 5;

impl<R: Backing> Sim<R> {
    /// Every second after the heal: quiet yet?
    pub(crate) fn probe(&mut self) {
        let Phase::Healing { since_ms } = self.phase else {
            return;
        };
        self.stop_declared();
        if let Some(busy) = self.noise() {
            if self.now_ms - since_ms > QUIESCENCE_LIMIT_MS {
                self.fail(
                    "quiescence",
                    format!("not quiet {QUIESCENCE_LIMIT_MS} ms after the heal: {busy}"),
                );
                self.phase = Phase::Done;
            } else {
                self.queue.push(self.now_ms + 1000, Event::Probe);
            }
            return;
        }
        self.checked("quiescence", 1);
        let after = self.now_ms - since_ms;
        self.note(|| format!("quiet {after} ms after the heal; settling for the digest round"));
        self.phase = Phase::Settling {
            since_ms: self.now_ms,
        };
        self.queue.push(self.now_ms + SETTLE_MS, Event::Finish);
    }

    /// Settled once every session's last digest comparison agrees and nothing moves, or
    /// [`SETTLE_LIMIT_MS`] after the quiet began (the checks then say what is wrong).
    pub(crate) fn settle(&mut self) {
        let Phase::Settling { since_ms } = self.phase else {
            self.phase = Phase::Done;
            return;
        };
        let agreed = self.links.iter().all(|l| {
            l.conn.as_ref().is_some_and(|c| {
                c.sessions
                    .iter()
                    .all(|s| s.convergence().is_some_and(|c| c.in_sync))
            })
        });
        if (agreed && self.noise().is_none()) || self.now_ms - since_ms >= SETTLE_LIMIT_MS {
            self.phase = Phase::Done;
        } else {
            self.queue.push(self.now_ms + 1000, Event::Finish);
        }
    }

    /// What still moves, if anything.
    pub(crate) fn noise(&self) -> Option<String> {
        if let Some(n) = self.nodes.iter().find(|n| n.power == Power::Down) {
            return Some(format!("{} is down", n.name));
        }
        if let Some(n) = self.nodes.iter().find(|n| !n.pending.is_empty()) {
            return Some(format!("{} has writes to commit", n.name));
        }
        if let Some(outage) = self.outage_noise() {
            return Some(outage);
        }
        if let Some(his) = self.his_noise() {
            return Some(his);
        }
        if self.busy_in_flight > 0 {
            return Some(format!("{} frames in flight", self.busy_in_flight));
        }
        for (i, link) in self.links.iter().enumerate() {
            let Some(conn) = &link.conn else {
                return Some(format!("link {} is not connected", self.link_name(i)));
            };
            for (side, s) in conn.sessions.iter().enumerate() {
                if !s.is_caught_up() {
                    let name = self.name(link.ends[side]);
                    return Some(format!(
                        "{name}'s session with {} is not caught up",
                        s.peer().name
                    ));
                }
            }
        }
        None
    }

    pub(crate) fn check_invariants(&mut self) {
        if let Some(busy) = self.noise() {
            self.fail("quiescence", format!("activity after quiescence: {busy}"));
        }
        self.check_records();
        self.check_counts_and_digests();
        self.check_statuses();
        self.check_refusals();
        self.check_duplicates();
        self.check_phone_conflicts();
        self.check_protocol_digests();
        self.check_cursors();
        self.check_repairs();
        self.check_stores();
        self.check_outages();
        self.check_numbers();
        self.check_worklist();
        self.checked("honest_sessions", 1);
        self.checked("wire", 1);
        self.checked("desk_writes", self.ledger.acked());
    }

    pub(crate) fn fail_some(&mut self, invariant: &'static str, details: Vec<String>) {
        let extra = details.len().saturating_sub(MAX_DESCRIBED);
        for d in details.into_iter().take(MAX_DESCRIBED) {
            self.fail(invariant, d);
        }
        if extra > 0 {
            self.fail(invariant, format!("and {extra} more"));
        }
    }

    /// Each record's heads on every node, and each acknowledged write's changes in them.
    fn check_records(&mut self) {
        let mut acks: BTreeMap<RecordId, Vec<&Ack>> = BTreeMap::new();
        let mut lost = Vec::new();
        for ack in self.ledger.acks.iter().filter(|a| !a.lost_to_restore) {
            match ack.heads {
                Some(_) => acks.entry(ack.id).or_default().push(ack),
                None => lost.push(format!(
                    "{:?} {} acknowledged at {} was never committed",
                    ack.kind,
                    ack.id,
                    self.name(ack.node)
                )),
            }
        }
        let (mut unequal, mut missing, mut checks) = (Vec::new(), Vec::new(), (0, 0));
        for (&id, &kind) in self.ledger.records() {
            let heads: Vec<Option<Vec<ChangeHash>>> =
                self.nodes.iter().map(|n| n.replica().heads(id)).collect();
            checks.0 += 1;
            if heads.iter().any(|h| *h != heads[0]) {
                unequal.push(format!(
                    "{kind:?} {id} has different heads: {}",
                    self.by_node(&heads)
                ));
            }
            for ack in acks.get(&id).into_iter().flatten() {
                checks.1 += self.nodes.len() as u64;
                let made = ack.heads.as_deref().unwrap_or_default();
                // Equal heads are equal histories: the first node's copy answers for every
                // node whose heads are the same, and only the others are looked at one by one.
                let looked_at =
                    (0..self.nodes.len()).filter(|node| *node == 0 || heads[*node] != heads[0]);
                for node in looked_at {
                    if !self.nodes[node].replica().holds_changes(id, made) {
                        missing.push(format!(
                            "{:?} {} saved at {} is missing its write on {}",
                            kind,
                            id,
                            self.name(ack.node),
                            self.name(node)
                        ));
                    }
                }
            }
        }
        missing.splice(0..0, lost);
        self.checked("replicas_equal", checks.0);
        self.checked("acknowledged_writes_kept", checks.1);
        self.fail_some("replicas_equal", unequal);
        self.fail_some("acknowledged_writes_kept", missing);
    }

    fn by_node(&self, heads: &[Option<Vec<ChangeHash>>]) -> String {
        heads
            .iter()
            .enumerate()
            .map(|(i, h)| match h {
                None => format!("{} none", self.name(i)),
                Some(h) => format!("{} {} heads", self.name(i), h.len()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn check_counts_and_digests(&mut self) {
        // Every record a desk created, and every record the HIS bridges did (`his_master`).
        let expected = self.ledger.records().len() + self.his_master.records();
        let mut wrong = Vec::new();
        let mut digests = Vec::new();
        for n in &self.nodes {
            if n.replica().records() != expected {
                wrong.push(format!(
                    "{} holds {} records, {expected} were created",
                    n.name,
                    n.replica().records()
                ));
            }
            match n.replica().digest(Scope::All) {
                Ok(d) => digests.push(d),
                Err(e) => wrong.push(format!("{}: no digest: {e}", n.name)),
            }
        }
        if digests.iter().any(|d| *d != digests[0]) {
            wrong.push("the nodes' digests differ".to_owned());
        }
        self.checked("replicas_equal", self.nodes.len() as u64);
        self.fail_some("replicas_equal", wrong);
    }

    /// Every acknowledged status move is reached on every node, and nothing went back.
    fn check_statuses(&mut self) {
        let moves: Vec<(RecordId, Kind, &'static str)> = self
            .ledger
            .acks
            .iter()
            .filter(|a| a.heads.is_some() && !a.lost_to_restore)
            .filter_map(|a| a.state.map(|s| (a.id, a.kind, s)))
            .collect();
        let mut wrong = Vec::new();
        for (id, kind, state) in &moves {
            for n in &self.nodes {
                if let Err(why) = reached(n.replica(), *id, *kind, state) {
                    wrong.push(format!("{:?} {id} on {}: {why}", kind, n.name));
                }
            }
        }
        self.checked("statuses_forward", (moves.len() * self.nodes.len()) as u64);
        self.fail_some("statuses_forward", wrong);
    }

    /// Every refusal is of a forgery the hostile window got to a node (honest nodes refuse
    /// nothing of each other); every forgery a node judged was refused, with its rule's code;
    /// no node holds a forged change.
    fn check_refusals(&mut self) {
        let hostile = self.hostile.map(|h| self.nodes[h].name.clone());
        let mut unrefused: Vec<&Forged> = self
            .forged
            .iter()
            .filter(|f| f.state == Judged::Yes)
            .collect();
        let judged = unrefused.len() as u64;
        self.faults.forgeries_judged = judged;
        let mut wrong = Vec::new();
        for (node, n) in self.nodes.iter().enumerate() {
            for r in n.replica().refusals() {
                let forgery = unrefused.iter().position(|f| {
                    hostile.as_ref() == Some(&r.peer)
                        && f.to == node
                        && f.id == r.id
                        && f.kind.code() == r.code
                });
                match forgery {
                    Some(i) => {
                        unrefused.swap_remove(i);
                    }
                    None => wrong.push(format!(
                        "{} refused {} from {}: {}",
                        n.name, r.id, r.peer, r.reason
                    )),
                }
            }
        }
        let mut taken: Vec<String> = unrefused
            .iter()
            .map(|f| {
                format!(
                    "{} judged a forgery ({:?}) of {} and did not refuse it for {}",
                    self.name(f.to),
                    f.kind,
                    f.id,
                    f.kind.code()
                )
            })
            .collect();
        for f in &self.forged {
            for n in &self.nodes {
                if f.hashes
                    .iter()
                    .any(|h| n.replica().holds_changes(f.id, &[*h]))
                {
                    taken.push(format!(
                        "{} holds a forged change ({:?}) of {}",
                        n.name, f.kind, f.id
                    ));
                }
            }
        }
        self.checked("no_refusals", self.nodes.len() as u64);
        self.checked(
            "forgeries_refused",
            judged + (self.forged.len() * self.nodes.len()) as u64,
        );
        self.fail_some("no_refusals", wrong);
        self.fail_some("forgeries_refused", taken);
    }

    /// Each person of a family registered at two windows: both records on every node, neither
    /// merged into anything, and the two a duplicate pair the review's detector flags. Pairs
    /// of which a record was never committed (lost in a crash before its commit) or went with
    /// a restored store are left out.
    fn check_duplicates(&mut self) {
        let records = self.ledger.records();
        let pairs: Vec<Pair> = self
            .ledger
            .families
            .iter()
            .filter(|pair| pair.iter().all(|id| records.contains_key(id)))
            .copied()
            .collect();
        let mut wrong = Vec::new();
        let mut merges_held = 0;
        let mut merges_wrong = Vec::new();
        for [a, b] in &pairs {
            let asked = self.ledger.merges_asked.contains(&[*a, *b]);
            // An admin's merge holds everywhere or (lost with its server before the commit)
            // nowhere: as the first node has it.
            let merged_here = |n: &crate::sim::Node<R>| {
                n.replica()
                    .get::<Patient>(*b)
                    .ok()
                    .flatten()
                    .is_some_and(|p| p.merged_into == Some(*a))
            };
            let merged = asked && self.nodes.first().is_some_and(merged_here);
            for n in &self.nodes {
                let read = |id| n.replica().get::<Patient>(id).ok().flatten();
                let (Some(pa), Some(pb)) = (read(*a), read(*b)) else {
                    wrong.push(format!("{} lacks one of duplicates {a} and {b}", n.name));
                    continue;
                };
                if merged {
                    merges_held += 1;
                    if pa.merged_into.is_some() || pb.merged_into != Some(*a) {
                        merges_wrong.push(format!(
                            "{}: the admin's merge of {b} into {a} does not hold",
                            n.name
                        ));
                    }
                    continue;
                }
                if pa.merged_into.is_some() || pb.merged_into.is_some() {
                    wrong.push(format!(
                        "{} merged duplicates {a} and {b} by itself",
                        n.name
                    ));
                }
                let flagged = duplicate_patients(&pa, &pb)
                    .is_some_and(|c| c.kind == ConflictKind::DuplicatePatient);
                if !flagged {
                    wrong.push(format!(
                        "{}: duplicates {a} and {b} are not flagged",
                        n.name
                    ));
                }
            }
        }
        self.checked(
            "duplicates_flagged",
            (pairs.len() * self.nodes.len()) as u64 - merges_held,
        );
        self.checked("admin_merges_held", merges_held);
        self.fail_some("admin_merges_held", merges_wrong);
        self.fail_some("duplicates_flagged", wrong);
    }

    /// Each pair of phone edits of one patient at two nodes at the same moment: where neither
    /// change saw the other (concurrent, in the converged history) and the phones differ,
    /// every node's review flags a field conflict on the phone, for a person to settle; where
    /// one saw the other, no node does (the later write simply holds). Pairs whose record had
    /// other writes besides its creation and the pair (a later edit settles or reopens the
    /// conflict), or whose changes are not all on the first node, are left out.
    fn check_phone_conflicts(&mut self) {
        let mut wrong = Vec::new();
        let mut checks = 0;
        let mut unsettled = Vec::new();
        let mut resolutions = 0;
        for e in &self.ledger.phone_edits {
            let [Some(x), Some(y)] = e.changes else {
                continue;
            };
            let writes = self.ledger.acks.iter().filter(|a| a.id == e.id).count();
            // An admin's committed resolution, and no other write since the pair: settled on
            // every node, to the chosen phone.
            let settled = e.resolved.as_ref().filter(|(ack, _)| {
                self.ledger
                    .acks
                    .get(*ack)
                    .is_some_and(|a| a.heads.is_some() && !a.lost_to_restore)
            });
            if let Some((_, phone)) = settled
                && writes == 4
            {
                for n in &self.nodes {
                    resolutions += 1;
                    let conflict = phone_in_conflict(n.replica(), e.id);
                    let shown = n
                        .replica()
                        .get::<Patient>(e.id)
                        .ok()
                        .flatten()
                        .map(|p| p.phone);
                    if conflict || shown.as_ref() != Some(phone) {
                        unsettled.push(format!(
                            "{} on {}: the admin chose phone {phone}, the node shows {shown:?}{}",
                            e.id,
                            n.name,
                            if conflict { " in conflict" } else { "" }
                        ));
                    }
                }
                continue;
            }
            if writes != 3 || !self.nodes[0].replica().holds_changes(e.id, &[x, y]) {
                continue;
            }
            let concurrent = self.nodes[0]
                .replica()
                .with_doc(e.id, |doc| neither_saw_the_other(doc, x, y))
                .unwrap_or(false);
            let expected = concurrent && e.phones[0] != e.phones[1];
            for n in &self.nodes {
                checks += 1;
                let flagged = phone_in_conflict(n.replica(), e.id);
                if flagged != expected {
                    let what = if expected {
                        "concurrent phones not flagged"
                    } else {
                        "phones written one after the other flagged as a conflict"
                    };
                    wrong.push(format!("{} on {}: {what}", e.id, n.name));
                }
            }
        }
        self.checked("conflicts_flagged", checks);
        self.fail_some("conflicts_flagged", wrong);
        self.checked("admin_resolutions_held", resolutions);
        self.fail_some("admin_resolutions_held", unsettled);
    }

    fn check_protocol_digests(&mut self) {
        let mut wrong = Vec::new();
        let mut checks = 0;
        for (i, link) in self.links.iter().enumerate() {
            let Some(conn) = &link.conn else { continue };
            for (side, s) in conn.sessions.iter().enumerate() {
                checks += 1;
                let name = self.name(link.ends[side]);
                match s.convergence() {
                    Some(c) if c.in_sync => {}
                    Some(c) => wrong.push(format!(
                        "{name} on link {}: out of sync ({} records here, {} there)",
                        self.link_name(i),
                        c.our_records,
                        c.peer_records
                    )),
                    None => wrong.push(format!(
                        "{name} on link {}: no digest comparison while settling",
                        self.link_name(i)
                    )),
                }
            }
        }
        self.checked("digests_agree", checks);
        self.fail_some("digests_agree", wrong);
    }

    /// Each node's cursor into each peer's feed has passed every record it lacks there, with
    /// none left waiting for its dependencies: a reconnect would bring nothing new. (The
    /// cursor may stop short of the head by records the node already holds as they are
    /// there, such as those it sent itself.)
    fn check_cursors(&mut self) {
        let mut wrong = Vec::new();
        let mut checks = 0;
        for link in &self.links {
            for side in 0..2 {
                let (sender, receiver) = (
                    &self.nodes[link.ends[side]],
                    &self.nodes[link.ends[1 - side]],
                );
                let state = receiver
                    .replica()
                    .peer_state(&sender.name)
                    .unwrap_or_default();
                checks += 1;
                if !state.waiting.is_empty() {
                    wrong.push(format!(
                        "{} has {} records from {} waiting for their dependencies",
                        receiver.name,
                        state.waiting.len(),
                        sender.name
                    ));
                }
                let beyond = sender
                    .replica()
                    .feed_page(
                        &receiver.name,
                        state.applied_from_peer,
                        4096,
                        Scope::All,
                        None,
                    )
                    .map(|page| page.entries)
                    .unwrap_or_default();
                for (seq, id) in beyond {
                    let theirs = sender.replica().doc(id).map(|d| d.get_heads());
                    let ours = receiver.replica().doc(id).map(|d| d.get_heads());
                    if ours.is_some() && ours != theirs {
                        wrong.push(format!(
                            "{}'s cursor into {}'s feed stopped before {id} (at {seq}), which it holds otherwise",
                            receiver.name, sender.name
                        ));
                    }
                }
            }
        }
        self.checked("cursors_caught_up", checks);
        self.fail_some("cursors_caught_up", wrong);
    }
}

/// Whether neither change is in the other's history: each is among the changes the document
/// holds beyond the other.
fn neither_saw_the_other(doc: &Automerge, x: ChangeHash, y: ChangeHash) -> bool {
    let beyond =
        |h: ChangeHash, other: ChangeHash| doc.get_changes(&[h]).iter().any(|c| c.hash() == other);
    beyond(x, y) && beyond(y, x)
}
