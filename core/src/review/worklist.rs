//! The recovery worklist after an emergency episode: what people still have to do so that
//! the system of record is whole again. Each item names its record and the operation that
//! clears it; doing that operation removes the item, so the list drains to zero.
//!
//! The items come from the store's open-item index, kept in the commit of every change, so
//! building the list costs what the open items cost, whatever the history: every emergency
//! prescription not yet dispensed, every paused registration and every charge awaiting a
//! re-settlement, whatever their age (an overdue re-settlement stays on the list until it is
//! done), and the open entries of [`Store::conflicts`] for duplicates and other conflicts.
//! A re-settlement is due 7 working days (by the hospital's calendar) after the day the fault
//! was cleared: the day its episode ended, or for an insurance link that failed outside an
//! episode, the settlement day; while the episode goes on there is no due date yet. Records
//! the HIS refused on the way back carry the HIS's refusal ([`crate::import::HisRejection`])
//! and are open items too, until the HIS takes a later revision.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::conflict::{Conflict, ConflictKind, ConflictStatus};
use crate::clock::{Age, Date, UnixMs};
use crate::desk::RESETTLE_WORKING_DAYS;
use crate::id::{EpisodeId, NodeName, OperatorName, RecordId};
use crate::money::Fen;
use crate::record::{Charge, Patient, Prescription, RecordKind, Visit};
use crate::status::{PrescriptionStatus, Status, VisitStatus};
use crate::store::{ReadError, Store};

/// What kind of after-work an item is, in the order the list shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkCategory {
    /// (a) An emergency prescription to dispense in the system.
    DispenseEmergencyPrescription,
    /// (b) A paused emergency registration to restore into the triage queue.
    RestorePausedVisit,
    /// (c) A charge paid as self-pay when the insurance link failed, to re-settle.
    ResettleInsurance,
    /// (d) Two patient records of one person, to merge.
    MergeDuplicatePatient,
    /// (e) Any other conflict to review.
    ReviewConflict,
    /// (f) An emergency record the HIS refused to import, with the HIS's reason.
    FixHisRejection,
}

impl WorkCategory {
    pub const ALL: [WorkCategory; 6] = [
        WorkCategory::DispenseEmergencyPrescription,
        WorkCategory::RestorePausedVisit,
        WorkCategory::ResettleInsurance,
        WorkCategory::MergeDuplicatePatient,
        WorkCategory::ReviewConflict,
        WorkCategory::FixHisRejection,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WorkCategory::DispenseEmergencyPrescription => "dispense_emergency_prescription",
            WorkCategory::RestorePausedVisit => "restore_paused_visit",
            WorkCategory::ResettleInsurance => "resettle_insurance",
            WorkCategory::MergeDuplicatePatient => "merge_duplicate_patient",
            WorkCategory::ReviewConflict => "review_conflict",
            WorkCategory::FixHisRejection => "fix_his_rejection",
        }
    }

    /// A heading for the list.
    pub fn title(self) -> &'static str {
        match self {
            WorkCategory::DispenseEmergencyPrescription => {
                "Emergency prescriptions to dispense in the system"
            }
            WorkCategory::RestorePausedVisit => "Paused triage entries to restore",
            WorkCategory::ResettleInsurance => "Insurance settlements to redo",
            WorkCategory::MergeDuplicatePatient => "Duplicate patients to merge",
            WorkCategory::ReviewConflict => "Conflicts to review",
            WorkCategory::FixHisRejection => "Records the HIS refused to import",
        }
    }
}

impl fmt::Display for WorkCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkItem {
    pub category: WorkCategory,
    /// The record to act on (for a duplicate pair, the first of the pair).
    pub record: RecordId,
    pub record_kind: RecordKind,
    pub patient: Option<RecordId>,
    pub patient_name: Option<String>,
    /// The patient's age today (`2岁6个月`).
    pub patient_age: Option<Age>,
    /// The emergency episode the record was created in.
    pub episode: Option<EpisodeId>,
    pub created_ms: UnixMs,
    /// What is pending, in English words (for engineers and logs).
    pub what: String,
    /// What is pending, as a code and its parts, for the node to say in the reader's
    /// language.
    pub pending: Pending,
    /// The operation that clears the item.
    pub clears_by: String,
    /// Re-settlements: the date by which it must be done.
    pub due: Option<Date>,
    /// Re-settlements: past the due date.
    pub overdue: bool,
    /// Emergency prescriptions: whether central has the prescription (until it has, it
    /// cannot be dispensed in the system).
    pub central_acked: Option<bool>,
    /// Duplicates and conflicts: the conflict id to resolve.
    pub conflict: Option<String>,
}

/// What is pending on a work item, as a code (`code` in JSON) and the parts a sentence
/// about it is made of. Core says it in English ([`WorkItem::what`]); the node says it in
/// the reader's language from these parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Pending {
    /// An emergency prescription not yet dispensed in the system.
    EmergencyPrescription {
        /// Its current status's name (`prescribed`, `paid`, ...).
        status: &'static str,
        items: usize,
        operator: OperatorName,
        origin: NodeName,
    },
    /// A paused emergency registration.
    PausedRegistration {
        registration_no: String,
        department: String,
    },
    /// A charge paid as self-pay when the insurance settlement failed; due by `due`, or 7
    /// working days after the outage ends while it goes on.
    SelfPaid { amount: Fen, due: Option<Date> },
    /// The HIS refused a revision of the record; `reason` is the HIS's own words.
    HisRefused {
        revision: i64,
        table: String,
        reason: String,
    },
    /// A conflict to review: its kind, the record kind and field, the competing values.
    Conflict {
        kind: ConflictKind,
        record_kind: RecordKind,
        field: Option<String>,
        /// The competing values as JSON text, in index order.
        values: Vec<String>,
    },
}

impl Pending {
    pub fn code(&self) -> &'static str {
        match self {
            Pending::EmergencyPrescription { .. } => "emergency_prescription",
            Pending::PausedRegistration { .. } => "paused_registration",
            Pending::SelfPaid { .. } => "self_paid",
            Pending::HisRefused { .. } => "his_refused",
            Pending::Conflict { .. } => "conflict",
        }
    }
}

/// How many items of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CategoryCount {
    pub category: WorkCategory,
    pub count: usize,
}

/// The recovery worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Worklist {
    pub generated_ms: UnixMs,
    /// Every category, in order, with its count (zero included).
    pub counts: Vec<CategoryCount>,
    /// By category, then oldest first.
    pub items: Vec<WorkItem>,
}

impl Worklist {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn count(&self, category: WorkCategory) -> usize {
        self.of(category).count()
    }

    pub fn of(&self, category: WorkCategory) -> impl Iterator<Item = &WorkItem> {
        self.items.iter().filter(move |i| i.category == category)
    }

    /// The overdue view: re-settlements past their due date, oldest due first.
    pub fn overdue(&self) -> impl Iterator<Item = &WorkItem> {
        self.items.iter().filter(|i| i.overdue)
    }

    /// Only the overdue items (what `GET /admin/worklist?overdue=true` answers).
    pub fn only_overdue(mut self) -> Worklist {
        self.items.retain(|i| i.overdue);
        for c in &mut self.counts {
            c.count = self
                .items
                .iter()
                .filter(|i| i.category == c.category)
                .count();
        }
        self
    }
}

impl Store {
    /// The recovery worklist (see the module docs for what is read).
    pub fn worklist(&self) -> Result<Worklist, ReadError> {
        let now = self.now_ms();
        let today = Date::at(now, self.options().utc_offset_min);
        let mut ended: BTreeMap<EpisodeId, Option<Date>> = BTreeMap::new();
        let after_work = [
            WorkCategory::DispenseEmergencyPrescription,
            WorkCategory::RestorePausedVisit,
            WorkCategory::ResettleInsurance,
            WorkCategory::FixHisRejection,
        ];
        let mut items = Vec::new();
        for item in self.open_items(&after_work)? {
            let Some(&id) = item.records.first() else {
                continue;
            };
            let found = match item.category {
                WorkCategory::DispenseEmergencyPrescription => self.prescription_item(id)?,
                WorkCategory::RestorePausedVisit => self.visit_item(id)?,
                WorkCategory::FixHisRejection => self.his_rejection_item(id)?,
                _ => self.charge_item(id, today, &mut ended)?,
            };
            items.extend(found);
        }
        for c in self.conflicts()? {
            if c.status == ConflictStatus::Open {
                items.push(self.conflict_item(c)?);
            }
        }
        items.sort_by(|a, b| {
            (a.category, a.due, a.created_ms, a.record, &a.conflict).cmp(&(
                b.category,
                b.due,
                b.created_ms,
                b.record,
                &b.conflict,
            ))
        });
        let counts = WorkCategory::ALL
            .into_iter()
            .map(|category| CategoryCount {
                category,
                count: items.iter().filter(|i| i.category == category).count(),
            })
            .collect();
        Ok(Worklist {
            generated_ms: now,
            counts,
            items,
        })
    }

    /// How many re-settlements are past their due date: reads only the open re-settlements.
    pub fn resettlements_overdue(&self) -> Result<u64, ReadError> {
        let today = Date::at(self.now_ms(), self.options().utc_offset_min);
        let mut ended = BTreeMap::new();
        let mut overdue = 0;
        for item in self.open_items(&[WorkCategory::ResettleInsurance])? {
            if let Some(&id) = item.records.first()
                && self
                    .charge_item(id, today, &mut ended)?
                    .is_some_and(|i| i.overdue)
            {
                overdue += 1;
            }
        }
        Ok(overdue)
    }

    fn patient_name(&self, id: RecordId) -> Option<String> {
        self.get::<Patient>(id).ok().flatten().map(|p| p.name)
    }

    fn patient_age(&self, id: RecordId) -> Option<Age> {
        let p = self.get::<Patient>(id).ok().flatten()?;
        self.age_today(p.birth_date)
    }

    fn prescription_item(&self, id: RecordId) -> Result<Option<WorkItem>, ReadError> {
        let Some(rx) = self.get::<Prescription>(id).ok().flatten() else {
            return Ok(None);
        };
        let Some(episode) = rx.header.episode.clone() else {
            return Ok(None);
        };
        let Ok(status) = rx.status_log.current::<PrescriptionStatus>() else {
            return Ok(None);
        };
        if matches!(
            status,
            PrescriptionStatus::Dispensed | PrescriptionStatus::Cancelled
        ) {
            return Ok(None);
        }
        let acked = self.central_acked(id)?;
        let clears_by = if acked {
            "pharmacy: dispense it in the system (dispense_prescription), or cancel it if the \
             drugs were not handed out"
        } else {
            "central must acknowledge it first (acknowledge_emergency_records); then the \
             pharmacy dispenses it in the system (dispense_prescription)"
        };
        Ok(Some(WorkItem {
            category: WorkCategory::DispenseEmergencyPrescription,
            record: id,
            record_kind: RecordKind::Prescription,
            patient: Some(rx.patient),
            patient_name: self.patient_name(rx.patient),
            patient_age: self.patient_age(rx.patient),
            what: format!(
                "emergency prescription ({status}), {} item(s), written by {} on {}",
                rx.items.len(),
                rx.header.operator,
                rx.header.origin
            ),
            pending: Pending::EmergencyPrescription {
                status: status.name(),
                items: rx.items.len(),
                operator: rx.header.operator.clone(),
                origin: rx.header.origin.clone(),
            },
            episode: Some(episode),
            created_ms: rx.header.created_ms,
            clears_by: clears_by.into(),
            due: None,
            overdue: false,
            central_acked: Some(acked),
            conflict: None,
        }))
    }

    fn visit_item(&self, id: RecordId) -> Result<Option<WorkItem>, ReadError> {
        let Some(visit) = self.get::<Visit>(id).ok().flatten() else {
            return Ok(None);
        };
        if visit.status_log.current::<VisitStatus>() != Ok(VisitStatus::Paused) {
            return Ok(None);
        }
        Ok(Some(WorkItem {
            category: WorkCategory::RestorePausedVisit,
            record: id,
            record_kind: RecordKind::Visit,
            patient: Some(visit.patient),
            patient_name: self.patient_name(visit.patient),
            patient_age: self.patient_age(visit.patient),
            what: format!(
                "paused emergency registration {} ({})",
                visit.registration_no, visit.department
            ),
            pending: Pending::PausedRegistration {
                registration_no: visit.registration_no.clone(),
                department: visit.department.clone(),
            },
            episode: visit.header.episode.clone(),
            created_ms: visit.header.created_ms,
            clears_by: "triage: resume it into the queue (resume_visit), or cancel it".into(),
            due: None,
            overdue: false,
            central_acked: None,
            conflict: None,
        }))
    }

    /// When a charge paid as self-pay after an insurance failure must be re-settled: its date
    /// (the failure was outside an episode), or 7 working days after the day its episode
    /// ended. `None` while that episode goes on, or for a charge that never owed one.
    pub fn resettle_due_date(&self, charge: &Charge) -> Result<Option<Date>, ReadError> {
        self.resettle_due(charge, &mut BTreeMap::new())
    }

    /// When a charge's re-settlement is due: its date, or 7 working days after the day its
    /// episode ended (`None` while the episode goes on).
    fn resettle_due(
        &self,
        charge: &Charge,
        ended: &mut BTreeMap<EpisodeId, Option<Date>>,
    ) -> Result<Option<Date>, ReadError> {
        if let Some(due) = charge.resettle_due {
            return Ok(Some(due));
        }
        let Some(episode) = &charge.resettle_after else {
            return Ok(None);
        };
        let opts = self.options();
        let end_day = match ended.get(episode) {
            Some(day) => *day,
            None => {
                let day = self
                    .episode_by_id(episode)?
                    .and_then(|(s, _)| s.episode.closed_ms)
                    .map(|c| Date::at(c, opts.utc_offset_min));
                ended.insert(episode.clone(), day);
                day
            }
        };
        Ok(end_day.map(|d| opts.calendar.add_working_days(d, RESETTLE_WORKING_DAYS)))
    }

    fn charge_item(
        &self,
        id: RecordId,
        today: Date,
        ended: &mut BTreeMap<EpisodeId, Option<Date>>,
    ) -> Result<Option<WorkItem>, ReadError> {
        let Some(charge) = self.get::<Charge>(id).ok().flatten() else {
            return Ok(None);
        };
        if !charge.awaits_resettlement() {
            return Ok(None);
        }
        let due = self.resettle_due(&charge, ended)?;
        let by = match due {
            Some(d) => format!("re-settle by {d}"),
            None => "due 7 working days after the outage ends".to_owned(),
        };
        Ok(Some(WorkItem {
            category: WorkCategory::ResettleInsurance,
            record: id,
            record_kind: RecordKind::Charge,
            patient: Some(charge.patient),
            patient_name: self.patient_name(charge.patient),
            patient_age: self.patient_age(charge.patient),
            what: format!(
                "{} yuan paid as self-pay when the insurance settlement failed; {by}",
                charge.amount
            ),
            pending: Pending::SelfPaid {
                amount: charge.amount,
                due,
            },
            episode: charge.header.episode.clone(),
            created_ms: charge.header.created_ms,
            clears_by: "cashier: re-settle it by insurance (resettle_charge)".into(),
            overdue: due.is_some_and(|d| today > d),
            due,
            central_acked: None,
            conflict: None,
        }))
    }

    fn his_rejection_item(&self, id: RecordId) -> Result<Option<WorkItem>, ReadError> {
        let Some(header) = self.header(id).ok().flatten() else {
            return Ok(None);
        };
        let Some(rejection) = self.his_rejection(id)? else {
            return Ok(None);
        };
        let patient = match header.kind {
            RecordKind::Patient => Some(id),
            _ => self
                .doc(id)?
                .and_then(|d| autosurgeon::hydrate_prop(&*d, automerge::ROOT, "patient").ok()),
        };
        Ok(Some(WorkItem {
            category: WorkCategory::FixHisRejection,
            record: id,
            record_kind: header.kind,
            patient_name: patient.and_then(|p| self.patient_name(p)),
            patient_age: patient.and_then(|p| self.patient_age(p)),
            patient,
            episode: header.episode.clone(),
            created_ms: header.created_ms,
            what: format!(
                "the HIS refused revision {} in {}: {}",
                rejection.revision, rejection.table, rejection.reason
            ),
            pending: Pending::HisRefused {
                revision: rejection.revision,
                table: rejection.table.clone(),
                reason: rejection.reason.clone(),
            },
            clears_by: "correct the record (the bridge pushes a new revision), or have the HIS \
                        import it by hand; the item clears when the HIS takes a revision"
                .into(),
            due: None,
            overdue: false,
            central_acked: None,
            conflict: None,
        }))
    }

    fn conflict_item(&self, c: Conflict) -> Result<WorkItem, ReadError> {
        let record = c
            .records
            .first()
            .copied()
            .unwrap_or_else(|| RecordId::from_bytes([0; 16]));
        let header = self.header(record).ok().flatten();
        let (category, clears_by) = match c.kind {
            ConflictKind::DuplicatePatient => (
                WorkCategory::MergeDuplicatePatient,
                "admin: merge the pair (merge_patients SURVIVOR DUPLICATE), or keep them \
                 separate (resolve_conflict keep_separate)",
            ),
            ConflictKind::FieldConflict => (
                WorkCategory::ReviewConflict,
                "admin: choose one of the values (resolve_conflict choose_value N)",
            ),
            _ => (
                WorkCategory::ReviewConflict,
                "admin: check, then confirm (resolve_conflict confirm)",
            ),
        };
        let patient = match c.record_kind {
            RecordKind::Patient => Some(record),
            _ => self
                .doc(record)?
                .and_then(|d| autosurgeon::hydrate_prop(&*d, automerge::ROOT, "patient").ok()),
        };
        Ok(WorkItem {
            category,
            record,
            record_kind: c.record_kind,
            patient_name: patient.and_then(|p| self.patient_name(p)),
            patient_age: patient.and_then(|p| self.patient_age(p)),
            patient,
            episode: header.as_ref().and_then(|h| h.episode.clone()),
            created_ms: header.map_or(0, |h| h.created_ms),
            what: c.summary(),
            pending: Pending::Conflict {
                kind: c.kind,
                record_kind: c.record_kind,
                field: c.field.clone(),
                values: c.values.iter().map(|v| v.value.clone()).collect(),
            },
            clears_by: clears_by.into(),
            due: None,
            overdue: false,
            central_acked: None,
            conflict: Some(c.id),
        })
    }
}
