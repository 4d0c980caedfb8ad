//! The desks' work: writes of several record kinds at every node on a seeded schedule, with
//! concurrent edits of one record at two nodes, committed by each node's group commit. Every
//! write the desk hears "saved" for is kept in the [`Ledger`] with the heads it left, for the
//! checks after the run.

use std::collections::BTreeMap;

use lifeline_core::automerge::ChangeHash;
use lifeline_core::record::{Charge, Dispense, Header, Patient, Prescription, Visit};
use lifeline_core::status::{
    ChargeStatus, DispenseStatus, InvoiceStatus, PrescriptionStatus, Status, StatusLog, VisitStatus,
};
use lifeline_core::{OperatorName, Record, RecordId, RecordKind};

use crate::backing::Backing;
use crate::family::Pair;
use crate::perform::{Done, perform};
use crate::records::{next_state, status_log};
use crate::sim::{Bug, Event, Power, Sim};

/// The record kinds the desks write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Kind {
    Patient,
    Visit,
    Prescription,
    Charge,
    Dispense,
    /// Issued by a window's cashier from its invoice range, in store-backed runs with
    /// housekeeping only (`cashier`).
    Invoice,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Patient,
        Kind::Visit,
        Kind::Prescription,
        Kind::Charge,
        Kind::Dispense,
        Kind::Invoice,
    ];

    pub fn core(self) -> RecordKind {
        match self {
            Kind::Patient => RecordKind::Patient,
            Kind::Visit => RecordKind::Visit,
            Kind::Prescription => RecordKind::Prescription,
            Kind::Charge => RecordKind::Charge,
            Kind::Dispense => RecordKind::Dispense,
            Kind::Invoice => RecordKind::Invoice,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A new record, typed.
#[derive(Debug, Clone)]
pub(crate) enum New {
    Patient(Box<Patient>),
    Visit(Box<Visit>),
    Prescription(Box<Prescription>),
    Charge(Box<Charge>),
    Dispense(Box<Dispense>),
}

impl New {
    /// The new record's header.
    pub(crate) fn header_mut(&mut self) -> &mut lifeline_core::record::Header {
        match self {
            New::Patient(r) => &mut r.header,
            New::Visit(r) => &mut r.header,
            New::Prescription(r) => &mut r.header,
            New::Charge(r) => &mut r.header,
            New::Dispense(r) => &mut r.header,
        }
    }
}

/// What a desk asked its node to do.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    Create(New),
    /// A patient's phone number changed.
    Phone {
        id: RecordId,
        phone: String,
    },
    /// A status moved forward.
    Advance {
        id: RecordId,
        kind: Kind,
        state: &'static str,
    },
    /// The cashier invoices settled charges: an invoice under `header`, numbered at the
    /// commit from the cashier's range. If the cashier must start a shift first, the stock in
    /// hand starts `skip` numbers past the range's next (those recorded voided).
    Invoice {
        header: Box<Header>,
        charges: Vec<RecordId>,
        skip: u64,
    },
    /// The cashier voids an invoice (its number recorded voided, its charges released).
    Void {
        id: RecordId,
    },
    /// An admin's review decision: `duplicate` is the same person as `survivor`.
    Merge {
        survivor: RecordId,
        duplicate: RecordId,
    },
    /// An admin's review decision on a phone written at two nodes at once: this one.
    Resolve {
        id: RecordId,
        phone: String,
        /// Which pair of edits (`Ledger::phone_edits`).
        edit: usize,
    },
}

impl Job {
    /// The record, its kind, and the state a status move reaches.
    pub(crate) fn target(&self) -> (RecordId, Kind, Option<&'static str>) {
        match self {
            Job::Create(new) => match new {
                New::Patient(r) => (r.header.id, Kind::Patient, None),
                New::Visit(r) => (r.header.id, Kind::Visit, None),
                New::Prescription(r) => (r.header.id, Kind::Prescription, None),
                New::Charge(r) => (r.header.id, Kind::Charge, None),
                New::Dispense(r) => (r.header.id, Kind::Dispense, None),
            },
            Job::Phone { id, .. } => (*id, Kind::Patient, None),
            Job::Advance { id, kind, state } => (*id, *kind, Some(state)),
            Job::Invoice { header, .. } => (header.id, Kind::Invoice, None),
            Job::Void { id } => (*id, Kind::Invoice, Some(InvoiceStatus::Voided.name())),
            Job::Merge { duplicate, .. } => (*duplicate, Kind::Patient, None),
            Job::Resolve { id, .. } => (*id, Kind::Patient, None),
        }
    }

    fn describe(&self) -> String {
        match self {
            Job::Create(_) => {
                let (id, kind, _) = self.target();
                format!("create {kind:?} {id}")
            }
            Job::Invoice {
                header, charges, ..
            } => format!("invoice {} of charges {charges:?}", header.id),
            Job::Void { id } => format!("void invoice {id}"),
            Job::Phone { id, phone } => format!("patient {id}: phone {phone}"),
            Job::Advance { id, kind, state } => format!("{kind:?} {id} -> {state}"),
            Job::Merge {
                survivor,
                duplicate,
            } => format!("admin: merge patient {duplicate} into {survivor}"),
            Job::Resolve { id, phone, .. } => format!("admin: patient {id}'s phone is {phone}"),
        }
    }
}

/// A job waiting for its node's group commit.
#[derive(Debug)]
pub(crate) struct Pending {
    job: Job,
    /// The acknowledgement already given, when the injected bug acknowledges before commit.
    early_ack: Option<usize>,
    /// For one of two concurrent phone edits: which pair in the ledger, and which side.
    pair: Option<(usize, usize)>,
}

/// Two desks changing one patient's phone at the same moment, at two nodes.
#[derive(Debug)]
pub(crate) struct PhoneEdits {
    pub id: RecordId,
    pub phones: [String; 2],
    /// The change each side's commit made, once made.
    pub changes: [Option<ChangeHash>; 2],
    /// An admin's resolution, once committed: its acknowledgement (in `Ledger::acks`) and
    /// the phone chosen.
    pub resolved: Option<(usize, String)>,
}

/// A write the desk heard "saved" for.
#[derive(Debug, Clone)]
pub(crate) struct Ack {
    pub node: usize,
    pub id: RecordId,
    pub kind: Kind,
    /// The record's heads right after the commit; `None` if no commit followed the
    /// acknowledgement (only the injected bug acknowledges so).
    pub heads: Option<Vec<ChangeHash>>,
    /// The state a status move reached.
    pub state: Option<&'static str>,
    /// Whether the write was lost with its node's store, replaced by a restore before any
    /// other node had it, or later with the stores of the nodes that had it: the one loss a
    /// restore is allowed.
    pub lost_to_restore: bool,
    /// Whether its node's store has been replaced by a restore since: from then on the write
    /// lives only on the nodes it reached, and a restore of theirs may lose it.
    pub store_replaced: bool,
}

/// Every record created and every acknowledged write.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    records: BTreeMap<RecordId, Kind>,
    by_kind: [Vec<RecordId>; 6],
    /// Records no node held after a store was replaced: a later restore of an older backup
    /// may bring them back.
    forgotten: BTreeMap<RecordId, Kind>,
    pub acks: Vec<Ack>,
    /// Each person of a family registered at two windows: their two records.
    pub families: Vec<Pair>,
    /// The pairs an admin decided to merge (the second into the first).
    pub merges_asked: Vec<Pair>,
    /// The phone conflicts (in `phone_edits`) an admin decided.
    pub resolutions_asked: Vec<usize>,
    pub phone_edits: Vec<PhoneEdits>,
    pub refused: u64,
    pub(crate) serial: u64,
}

impl Ledger {
    pub fn kind_of(&self, id: RecordId) -> Option<RecordKind> {
        self.records.get(&id).map(|k| k.core())
    }

    /// Every record committed somewhere, with its kind.
    pub fn records(&self) -> &BTreeMap<RecordId, Kind> {
        &self.records
    }

    pub fn acked(&self) -> u64 {
        self.acks.len() as u64
    }

    pub(crate) fn created(&mut self, id: RecordId, kind: Kind) {
        if self.records.insert(id, kind).is_none() {
            self.by_kind[kind.index()].push(id);
        }
    }

    /// The records of one kind, in the order they were first committed.
    pub fn records_of(&self, kind: Kind) -> &[RecordId] {
        &self.by_kind[kind.index()]
    }

    /// A record no node holds any more (its only copy went with a replaced store).
    pub fn forget(&mut self, id: RecordId) {
        if let Some(kind) = self.records.remove(&id) {
            self.by_kind[kind.index()].retain(|r| *r != id);
            self.forgotten.insert(id, kind);
        }
    }

    /// Records forgotten since, that a restored backup holds again: created after all.
    pub fn recall(&mut self, held: impl Fn(RecordId) -> bool) {
        let back: Vec<(RecordId, Kind)> = (self.forgotten.iter())
            .filter(|(id, _)| held(**id))
            .map(|(id, kind)| (*id, *kind))
            .collect();
        for (id, kind) in back {
            self.forgotten.remove(&id);
            self.created(id, kind);
        }
    }
}

/// A group commit follows its first job after this long.
const COMMIT_DELAY_MS: (u64, u64) = (2, 10);
/// Chance that a node crashes just after a write reaches it, before the commit.
const CRASH_MID_WRITE: f64 = 0.03;
/// Chance that a write is one of two concurrent edits of one record at two nodes.
const CONCURRENT_EDIT: f64 = 0.08;
/// Chance that a write is a family registered at two windows at once (`family`).
const FAMILY_TWICE: f64 = 0.03;
/// Chance that a write is an admin's review at a server, deciding one item (`admin`).
const ADMIN_REVIEW: f64 = 0.03;
/// Chance that a write is the information department's at the emergency desk (`emergency`).
const EMERGENCY_DESK: f64 = 0.02;

/// The admin who takes the review's decisions at a server.
pub(crate) fn admin_operator() -> OperatorName {
    OperatorName::new("admin1").expect("the simulation's operator names are valid")
}

/// The triage nurse who resumes paused registrations at central.
pub(crate) fn triage_operator() -> OperatorName {
    OperatorName::new("triage1").expect("the simulation's operator names are valid")
}

pub(crate) fn operator(kind: Kind) -> OperatorName {
    let name = match kind {
        Kind::Patient | Kind::Visit | Kind::Charge => "reg1",
        Kind::Prescription => "doc1",
        Kind::Dispense => "pharm1",
        Kind::Invoice => "cash1",
    };
    OperatorName::new(name).expect("the simulation's operator names are valid")
}

impl<R: Backing> Sim<R> {
    /// One desk write at a random node, and the next one scheduled (or, after the last, the
    /// heal).
    pub(crate) fn desk_write(&mut self) {
        if self.writes_left == 0 || self.phase != crate::sim::Phase::Running {
            return;
        }
        self.writes_left -= 1;
        if self.writes_left > 0 {
            let gap = self.work_rng.range(0, 2 * self.cfg.write_gap_ms);
            self.queue.push(self.now_ms + gap, Event::Write);
        } else {
            self.queue.push(self.now_ms + 1000, Event::Heal);
        }
        let node = self.work_rng.index(self.nodes.len());
        if self.nodes[node].power == Power::Down {
            self.ledger.refused += 1;
            let name = self.name(node).to_owned();
            self.note(|| format!("{name} desk: node is down, nothing written"));
            return;
        }
        if self.work_rng.chance(FAMILY_TWICE) && self.family_twice() {
            return;
        }
        if self.work_rng.chance(ADMIN_REVIEW) && self.admin_review() {
            return;
        }
        if self.work_rng.chance(EMERGENCY_DESK) && self.emergency_desk() {
            return;
        }
        if self.work_rng.chance(CONCURRENT_EDIT) && self.concurrent_edit(node) {
            return;
        }
        let job = self.plan(node);
        self.enqueue(node, job);
        if self.work_rng.chance(CRASH_MID_WRITE) {
            self.queue.push(
                self.now_ms + 1,
                Event::Crash {
                    node,
                    mid_write: true,
                },
            );
        }
    }

    /// What the desk at `node` does next.
    fn plan(&mut self, node: usize) -> Job {
        let roll = self.work_rng.range(0, 99);
        let planned = match roll {
            0..=29 => None,
            30..=49 => self.new_visit(node),
            50..=61 => self.new_prescription(node),
            62..=69 => self.cashier_job(node).or_else(|| self.new_charge(node)),
            70..=75 => self.new_dispense(node),
            76..=87 => self.status_move(node),
            _ => self.phone_edit(node),
        };
        planned.unwrap_or_else(|| self.new_patient(node))
    }

    /// Two nodes edit one record at the same moment: a patient's phone, or a visit's status.
    fn concurrent_edit(&mut self, node: usize) -> bool {
        let others: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| n != node && self.nodes[n].power == Power::Up)
            .collect();
        let Some(&other) = self.work_rng.pick(&others) else {
            return false;
        };
        let kind = if self.work_rng.chance(0.5) {
            Kind::Patient
        } else {
            Kind::Visit
        };
        let Some(id) = self.held_by_both(kind, node, other) else {
            return false;
        };
        let jobs = [node, other].map(|n| match kind {
            Kind::Visit => self.visit_move(n, id),
            _ => Some(self.phone_job(id)),
        });
        let [Some(a), Some(b)] = jobs else {
            return false;
        };
        self.faults.concurrent_edits += 1;
        let (x, y) = (self.name(node).to_owned(), self.name(other).to_owned());
        self.note(|| format!("concurrent edit of {kind:?} {id} at {x} and {y}"));
        let pair = match (&a, &b) {
            (Job::Phone { phone: p, .. }, Job::Phone { phone: q, .. }) => {
                self.ledger.phone_edits.push(PhoneEdits {
                    id,
                    phones: [p.clone(), q.clone()],
                    changes: [None, None],
                    resolved: None,
                });
                Some(self.ledger.phone_edits.len() - 1)
            }
            _ => None,
        };
        self.enqueue_paired(node, a, pair.map(|p| (p, 0)));
        self.enqueue_paired(other, b, pair.map(|p| (p, 1)));
        true
    }

    fn held_by_both(&mut self, kind: Kind, a: usize, b: usize) -> Option<RecordId> {
        for _ in 0..4 {
            let id = *self.work_rng.pick(&self.ledger.by_kind[kind.index()])?;
            if self.nodes[a].replica().heads(id).is_some()
                && self.nodes[b].replica().heads(id).is_some()
            {
                return Some(id);
            }
        }
        None
    }

    /// A record of kind `T` this node holds, picked at random (a few tries).
    pub(crate) fn held<T: Record>(&mut self, node: usize, kind: Kind) -> Option<T> {
        for _ in 0..4 {
            let id = *self.work_rng.pick(&self.ledger.by_kind[kind.index()])?;
            if let Ok(Some(record)) = self.nodes[node].replica().get::<T>(id) {
                return Some(record);
            }
        }
        None
    }

    fn phone_edit(&mut self, node: usize) -> Option<Job> {
        let patient: Patient = self.held(node, Kind::Patient)?;
        Some(self.phone_job(patient.header.id))
    }

    /// A record of `kind` this node holds, picked at random (a few tries), with its status
    /// log (read alone, not the whole record).
    fn held_log(&mut self, node: usize, kind: Kind) -> Option<(RecordId, StatusLog)> {
        for _ in 0..4 {
            let id = *self.work_rng.pick(&self.ledger.by_kind[kind.index()])?;
            if let Some(log) = status_log(self.nodes[node].replica(), id) {
                return Some((id, log));
            }
        }
        None
    }

    /// A status moved one step forward on a record of a random kind.
    fn status_move(&mut self, node: usize) -> Option<Job> {
        let kinds = [
            Kind::Visit,
            Kind::Prescription,
            Kind::Charge,
            Kind::Dispense,
        ];
        let kind = *self.work_rng.pick(&kinds)?;
        let (id, log) = self.held_log(node, kind)?;
        let state = match kind {
            Kind::Visit => next_state::<VisitStatus>(&log, &mut self.work_rng),
            Kind::Prescription => next_state::<PrescriptionStatus>(&log, &mut self.work_rng),
            Kind::Charge => next_state::<ChargeStatus>(&log, &mut self.work_rng),
            _ => next_state::<DispenseStatus>(&log, &mut self.work_rng),
        }?;
        Some(Job::Advance { id, kind, state })
    }

    fn visit_move(&mut self, node: usize, id: RecordId) -> Option<Job> {
        let log = status_log(self.nodes[node].replica(), id)?;
        let state = next_state::<VisitStatus>(&log, &mut self.work_rng)?;
        Some(Job::Advance {
            id,
            kind: Kind::Visit,
            state,
        })
    }

    /// Hands a job to the node's group commit (and, with the injected bug, acknowledges it
    /// at once).
    pub(crate) fn enqueue(&mut self, node: usize, job: Job) {
        self.enqueue_paired(node, job, None);
    }

    /// [`Sim::enqueue`], for one side of a pair of concurrent phone edits.
    fn enqueue_paired(&mut self, node: usize, job: Job, pair: Option<(usize, usize)>) {
        let name = self.name(node).to_owned();
        let what = job.describe();
        self.note(|| format!("{name} desk: {what}"));
        let early_ack = (self.cfg.bug == Some(Bug::AckBeforeCommit)).then(|| {
            let (id, kind, state) = job.target();
            self.ledger.acks.push(Ack {
                node,
                id,
                kind,
                heads: None,
                state,
                lost_to_restore: false,
                store_replaced: false,
            });
            self.ledger.acks.len() - 1
        });
        self.nodes[node].pending.push(Pending {
            job,
            early_ack,
            pair,
        });
        if self.nodes[node].commit_at.is_none() {
            let at = self.now_ms + self.work_rng.range(COMMIT_DELAY_MS.0, COMMIT_DELAY_MS.1);
            self.nodes[node].commit_at = Some(at);
            self.queue.push(at, Event::Commit { node });
        }
    }

    /// The node's group commit: every waiting job, then "saved" to each desk, then every
    /// session told.
    pub(crate) fn group_commit(&mut self, node: usize) {
        if self.nodes[node].commit_at != Some(self.now_ms) || self.nodes[node].power == Power::Down
        {
            return;
        }
        self.nodes[node].commit_at = None;
        let jobs = std::mem::take(&mut self.nodes[node].pending);
        for pending in jobs {
            self.commit_one(node, pending);
        }
        self.wake(node, None);
        self.merge_duplicates_by_itself(node);
    }

    fn commit_one(&mut self, node: usize, pending: Pending) {
        let (id, kind, state) = pending.job.target();
        let created = matches!(pending.job, Job::Create(_) | Job::Invoice { .. });
        let replica = self.nodes[node].replica().clone();
        let stamp = self.stamp(node, kind);
        let name = self.name(node).to_owned();
        let heads_before = pending.pair.and_then(|_| replica.heads(id));
        let resolving = match &pending.job {
            Job::Resolve { edit, phone, .. } => Some((*edit, phone.clone())),
            _ => None,
        };
        match perform(&replica, pending.job, stamp) {
            Ok(Done::Saved) => {
                if created {
                    self.ledger.created(id, kind);
                    self.note_created(node, id, kind);
                }
                let heads = replica.heads(id);
                // A desk's change on this node depends on every head it held: right after its
                // commit, it is the record's one head (unless it changed nothing).
                if let (Some((p, side)), Some([made])) = (pending.pair, heads.as_deref())
                    && heads != heads_before
                {
                    self.ledger.phone_edits[p].changes[side] = Some(*made);
                }
                let ack = match pending.early_ack {
                    Some(i) => {
                        self.ledger.acks[i].heads = heads;
                        i
                    }
                    None => {
                        self.ledger.acks.push(Ack {
                            node,
                            id,
                            kind,
                            heads,
                            state,
                            lost_to_restore: false,
                            store_replaced: false,
                        });
                        self.ledger.acks.len() - 1
                    }
                };
                if let Some((edit, phone)) = resolving {
                    self.ledger.phone_edits[edit].resolved = Some((ack, phone));
                }
                self.note(|| format!("{name} saved {kind:?} {id}"));
            }
            Ok(Done::Refused(why)) => {
                self.ledger.refused += 1;
                self.note(|| format!("{name} refused {kind:?} {id}: {why}"));
            }
            Err(e) => self.fail("desk_writes", format!("{name} could not write {id}: {e}")),
        }
    }
}
