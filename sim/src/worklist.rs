//! The recovery worklist after the run (`worklist_drains`), on every node that keeps one (a
//! store-backed node): what people still have to do once the outage is over.
//! - Its counts by category are the same on every node (the replicas are equal, and each
//!   node's list comes from its own open-item index, kept in its commits).
//! - Its emergency prescriptions to dispense are exactly the prescriptions desks wrote in an
//!   episode that are neither dispensed nor cancelled, as the records themselves say.
//! - It drains when its actions are taken. People take every item's action, as the list
//!   names it: at central the pharmacy dispenses each emergency prescription, triage resumes
//!   each paused emergency registration into its queue, the information department merges
//!   each duplicate pair (the second of the pair into the first) and confirms every other
//!   conflict (`lifeline resolve <id> confirm`); the first window's cashier re-settles by the
//!   insurance each charge paid as self-pay when the link failed. Central's list then holds
//!   nothing but those re-settlements on their way, and once the hospital is quiet again
//!   every node's list is empty, its kept figures still equal to their scan and the replicas
//!   still equal.

use std::collections::BTreeSet;

use lifeline_core::record::Prescription;
use lifeline_core::status::{PrescriptionStatus, Status};
use lifeline_core::{DeskRole, Operator, RecordId};

use crate::backing::{Backing, Decision, Todo, WriteFailure};
use crate::perform::{Done, perform};
use crate::sim::{Event, Phase, Power, Sim};
use crate::work::{Job, Kind, admin_operator, operator, triage_operator};

/// The node whose cashier re-settles charges: the first window.
const CASHIER_AT: usize = 2;

/// The worklist's categories the simulator acts on.
const DISPENSE: &str = "dispense_emergency_prescription";
const RESUME: &str = "restore_paused_visit";
const RESETTLE: &str = "resettle_insurance";
const MERGE: &str = "merge_duplicate_patient";
const REVIEW: &str = "review_conflict";
const FIX: &str = "fix_his_rejection";

impl<R: Backing> Sim<R> {
    pub(crate) fn check_worklist(&mut self) {
        let mut wrong = Vec::new();
        let mut checked = 0;
        let mut first: Option<(String, Vec<(&'static str, usize)>)> = None;
        for n in &self.nodes {
            let counts = match n.replica().worklist_view() {
                None => continue,
                Some(Ok(list)) => list.counts,
                Some(Err(e)) => {
                    wrong.push(format!("{}: no worklist: {e}", n.name));
                    continue;
                }
            };
            checked += 1;
            let expected = self.emergency_prescriptions_open(n.replica()).len();
            let listed = count(&counts, DISPENSE);
            if listed != expected {
                wrong.push(format!(
                    "{}: {listed} emergency prescriptions to dispense listed, {expected} open",
                    n.name
                ));
            }
            match &first {
                None => first = Some((n.name.to_string(), counts)),
                Some((at, theirs)) if *theirs != counts => wrong.push(format!(
                    "{}'s worklist {counts:?} differs from {at}'s {theirs:?}",
                    n.name
                )),
                Some(_) => {}
            }
        }
        self.checked("worklist_drains", checked);
        self.fail_some("worklist_drains", wrong);
    }

    /// The hospital is quiet: the checks, then people take the worklist's actions and the
    /// hospital must go quiet again (`drained` then set), its replicas still equal, and
    /// every list empty. Returns whether the run is over.
    pub(crate) fn at_quiet(&mut self, drained: &mut bool) -> bool {
        if *drained {
            self.check_drained();
            return true;
        }
        self.check_invariants();
        *drained = true;
        if !self.drain_worklist() {
            return true;
        }
        self.phase = Phase::Healing {
            since_ms: self.now_ms,
        };
        self.queue.push(self.now_ms + 1000, Event::Probe);
        false
    }

    /// People at central take every item's action. Returns whether they did (central keeps a
    /// worklist and is up): the hospital must then go quiet again before
    /// [`Sim::check_drained`]. Not without housekeeping: such a run must stay event for event
    /// the in-memory one.
    pub(crate) fn drain_worklist(&mut self) -> bool {
        if !self.cfg.housekeeping
            || self.nodes[0].power != Power::Up
            || self.nodes[0].replica().worklist_view().is_none()
        {
            return false;
        }
        let mut wrong = self.dispense_at_central();
        // A merge can settle another pair's item (a pair with a patient merged meanwhile is no
        // longer a duplicate), so the list is read again after each pass. A re-settlement is
        // done at a window's cashier: central lists it until the change reaches it.
        let mut at_window = BTreeSet::new();
        let mut left = Vec::new();
        for _ in 0..3 {
            left = match self.nodes[0].replica().worklist_view() {
                Some(Ok(list)) => list.items,
                Some(Err(e)) => {
                    wrong.push(format!("central: no worklist: {e}"));
                    break;
                }
                None => break,
            };
            left.retain(|todo| !at_window.contains(&todo.record));
            if left.is_empty() {
                break;
            }
            for todo in &left {
                if todo.category == RESETTLE {
                    at_window.insert(todo.record);
                }
                if let Err(why) = self.take_action(todo) {
                    wrong.push(why);
                }
            }
        }
        if !left.is_empty() {
            wrong.push(format!(
                "central: {} items still listed once every action was taken: {:?}",
                left.len(),
                &left[..left.len().min(3)]
            ));
        }
        for problem in self.nodes[0].replica().self_check().unwrap_or_default() {
            wrong.push(format!("central, once drained: {problem}"));
        }
        self.fail_some("worklist_drains", wrong);
        // As a daemon's sessions hear of every commit to its store.
        self.wake(0, None);
        self.wake(CASHIER_AT, None);
        true
    }

    /// Once quiet again after the drain: every node's worklist is empty, and the replicas
    /// and the stores' kept figures still hold.
    pub(crate) fn check_drained(&mut self) {
        if let Some(busy) = self.noise() {
            self.fail(
                "quiescence",
                format!("activity after the drain's quiet: {busy}"),
            );
        }
        self.check_counts_and_digests();
        self.check_stores();
        self.check_his_master();
        let mut wrong = Vec::new();
        let mut checked = 0;
        for n in &self.nodes {
            match n.replica().worklist_view() {
                None => {}
                Some(Ok(list)) => {
                    checked += 1;
                    if !list.items.is_empty() {
                        wrong.push(format!(
                            "{}: {} items listed after central drained the list: {:?}",
                            n.name,
                            list.items.len(),
                            &list.items[..list.items.len().min(3)]
                        ));
                    }
                }
                Some(Err(e)) => wrong.push(format!("{}: no worklist: {e}", n.name)),
            }
        }
        self.checked("worklist_drains", checked);
        self.fail_some("worklist_drains", wrong);
    }

    /// The pharmacy at central dispenses every emergency prescription still open.
    fn dispense_at_central(&mut self) -> Vec<String> {
        let replica = self.nodes[0].replica().clone();
        let open = self.emergency_prescriptions_open(&replica);
        let n = open.len();
        if n > 0 {
            self.note(|| {
                format!(
                    "central: the pharmacy dispenses the worklist's {n} emergency prescriptions"
                )
            });
        }
        let mut wrong = Vec::new();
        for id in open {
            let job = Job::Advance {
                id,
                kind: Kind::Prescription,
                state: PrescriptionStatus::Dispensed.name(),
            };
            match perform(&replica, job, self.stamp(0, Kind::Prescription)) {
                Ok(Done::Saved) => self.faults.worklist_actions += 1,
                Ok(Done::Refused(why)) | Err(why) => {
                    wrong.push(format!("central: cannot dispense {id}: {why}"));
                }
            }
        }
        wrong
    }

    /// People take the action `todo` names: at central, or a re-settlement at the cashier of
    /// the first window.
    fn take_action(&mut self, todo: &Todo) -> Result<(), String> {
        let decision = match (todo.category, &todo.conflict) {
            (FIX, None) => Decision::HisTook {
                record: todo.record,
            },
            (RESUME, None) => Decision::Resume { visit: todo.record },
            (RESETTLE, None) => Decision::Resettle {
                charge: todo.record,
            },
            // The merge the review suggests (of two records of one HIS patient, the one
            // written from the HIS's later state is kept).
            (MERGE, Some((_, records))) if records.len() == 2 => {
                let (mut survivor, duplicate) = todo.suggested.unwrap_or((records[0], records[1]));
                // A survivor merged meanwhile (an earlier item of this drain): the department
                // uses the record it was merged into, as the refusal tells it to.
                for _ in 0..16 {
                    let held = self.nodes[0]
                        .replica()
                        .get::<lifeline_core::record::Patient>(survivor);
                    match held.ok().flatten().and_then(|p| p.merged_into) {
                        Some(into) if into != duplicate => survivor = into,
                        _ => break,
                    }
                }
                Decision::Merge {
                    survivor,
                    duplicate,
                }
            }
            // Two bridges' values of an HIS patient central settled already, by the HIS's
            // later state (`Store::settle_his_conflicts`): what is left is confirmed.
            (REVIEW, Some((conflict, _))) => Decision::Confirm {
                conflict: conflict.clone(),
            },
            _ => {
                return Err(format!(
                    "central: no action in the simulator for the worklist's {todo:?}"
                ));
            }
        };
        let (node, who) = match decision {
            Decision::Resume { .. } => (0, Operator::new(triage_operator(), DeskRole::Triage)),
            Decision::Resettle { .. } => (
                CASHIER_AT,
                Operator::new(operator(Kind::Invoice), DeskRole::Cashier),
            ),
            _ => (0, Operator::new(admin_operator(), DeskRole::Admin)),
        };
        let name = self.name(node).to_owned();
        let shown = format!("{decision:?}");
        self.note(|| format!("{name}, draining the worklist: {shown}"));
        match self.nodes[node].replica().decide(&who, &decision) {
            Ok(made) => {
                self.faults.worklist_actions += 1;
                if let Some(invoice) = made {
                    self.ledger.created(invoice, Kind::Invoice);
                    self.note_created(node, invoice, Kind::Invoice);
                }
                Ok(())
            }
            // Settled meanwhile by another decision (read again on the next pass).
            Err(WriteFailure::Refused(why)) => {
                self.note(|| format!("{name}: refused: {why}"));
                Ok(())
            }
            Err(e) => Err(format!("{name}: {decision:?}: {e}")),
        }
    }

    /// The prescriptions desks wrote in an episode that `replica` holds neither dispensed
    /// nor cancelled.
    fn emergency_prescriptions_open(&self, replica: &R) -> Vec<RecordId> {
        self.created
            .iter()
            .filter(|c| c.kind == Kind::Prescription && c.episode.is_some())
            .filter(|c| {
                let held = replica.get::<Prescription>(c.id).ok().flatten();
                held.and_then(|rx| rx.status_log.current::<PrescriptionStatus>().ok())
                    .is_some_and(|s| {
                        !matches!(
                            s,
                            PrescriptionStatus::Dispensed | PrescriptionStatus::Cancelled
                        )
                    })
            })
            .map(|c| c.id)
            .collect()
    }
}

fn count(counts: &[(&'static str, usize)], category: &str) -> usize {
    counts
        .iter()
        .find(|(name, _)| *name == category)
        .map_or(0, |(_, n)| *n)
}
