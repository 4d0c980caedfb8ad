//! What is open in one record, as the store's open-item index keeps it: the record's
//! conflicts that no decision covers, its after-work (an emergency prescription to dispense in
//! the system, a paused registration to restore, an insurance settlement to redo, a refusal
//! by the HIS to fix) and, for a patient, the duplicate pairs it makes with others. Pure: the
//! store calls these on every change (and the full check on every record), with the
//! documents it holds.

use automerge::{Automerge, ROOT};
use serde::{Deserialize, Serialize};

use super::conflict::{Conflict, ConflictKind};
use super::detect::{
    DispenseFact, charge_conflicts, duplicate_conflict, field_conflicts, prescription_conflicts,
};
use super::reviews::reviews_in;
use super::worklist::WorkCategory;
use crate::id::RecordId;
use crate::import::HIS_REJECTED_KEY;
use crate::record::{Charge, Header, Patient, RecordKind, Snapshot};
use crate::status::{PrescriptionStatus, StatusLog, VisitStatus};

/// One open item: a conflict to decide, or a record's after-work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenItem {
    pub category: WorkCategory,
    /// The conflict id, or the record id for a record's own after-work.
    pub id: String,
    pub entry: ItemEntry,
}

/// What the index keeps of an item: enough to build it again, for a report, from its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ItemEntry {
    pub records: Vec<RecordId>,
    pub conflict: Option<ConflictKind>,
}

impl WorkCategory {
    /// The category's code in the index. Never renumber.
    pub(crate) fn code(self) -> u8 {
        match self {
            WorkCategory::DispenseEmergencyPrescription => 1,
            WorkCategory::RestorePausedVisit => 2,
            WorkCategory::ResettleInsurance => 3,
            WorkCategory::MergeDuplicatePatient => 4,
            WorkCategory::ReviewConflict => 5,
            WorkCategory::FixHisRejection => 6,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<WorkCategory> {
        WorkCategory::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Whether items of this category are conflicts (counted as open conflicts).
    pub fn is_conflict(self) -> bool {
        matches!(
            self,
            WorkCategory::MergeDuplicatePatient | WorkCategory::ReviewConflict
        )
    }
}

/// The category a conflict's item is listed under.
pub(crate) fn conflict_category(kind: ConflictKind) -> WorkCategory {
    match kind {
        ConflictKind::DuplicatePatient => WorkCategory::MergeDuplicatePatient,
        _ => WorkCategory::ReviewConflict,
    }
}

/// Whether a record of this kind is reviewed at all: reference data has one writer, and node
/// records (episodes, leases) merge by their own rules.
pub(crate) fn reviewed(kind: RecordKind) -> bool {
    !(kind.is_catalog() || kind.is_node_record())
}

fn conflict_item(c: &Conflict) -> OpenItem {
    OpenItem {
        category: conflict_category(c.kind),
        id: c.id.clone(),
        entry: ItemEntry {
            records: c.records.clone(),
            conflict: Some(c.kind),
        },
    }
}

fn work_item(category: WorkCategory, id: RecordId) -> OpenItem {
    OpenItem {
        category,
        id: id.to_string(),
        entry: ItemEntry {
            records: vec![id],
            conflict: None,
        },
    }
}

/// The conflicts of one record (not pairs), decided or not. `dispenses` are a prescription's
/// dispense records in state dispensed.
pub(crate) fn record_conflicts(
    doc: &Automerge,
    header: &Header,
    dispenses: &[DispenseFact],
) -> Vec<Conflict> {
    if !reviewed(header.kind) {
        return Vec::new();
    }
    let mut found = field_conflicts(doc, header);
    match header.kind {
        RecordKind::Prescription => found.extend(prescription_conflicts(doc, header, dispenses)),
        RecordKind::Charge => found.extend(charge_conflicts(doc, header)),
        _ => {}
    }
    found
}

/// A record's own open items: its conflicts that no decision in it covers, and its after-work.
/// Read through `view`, which the caller may have read other fields of already (the writer
/// indexes a record through one); conflicts are read from its document, which holds every
/// concurrent value.
pub(crate) fn record_items(
    view: &Snapshot<'_>,
    header: &Header,
    dispenses: &[DispenseFact],
) -> Vec<OpenItem> {
    let doc = view.doc();
    let found = record_conflicts(doc, header, dispenses);
    let mut out = Vec::new();
    if !found.is_empty() {
        let reviews = reviews_in(doc);
        for c in &found {
            let decided = reviews
                .get(&c.id)
                .is_some_and(|r| r.evidence == c.fingerprint);
            if !decided {
                out.push(conflict_item(c));
            }
        }
    }
    out.extend(after_work(view, header));
    if his_rejected(view) {
        out.push(work_item(WorkCategory::FixHisRejection, header.id));
    }
    out
}

/// Whether the HIS refused the record's latest revision (the bridge marks it, and clears the
/// mark when the HIS takes a later one).
fn his_rejected(view: &Snapshot<'_>) -> bool {
    matches!(
        autosurgeon::ReadDoc::get(view, &ROOT, HIS_REJECTED_KEY),
        Ok(Some((automerge::Value::Object(_), _)))
    )
}

fn status_log(view: &Snapshot<'_>) -> Option<StatusLog> {
    autosurgeon::hydrate_prop(view, ROOT, "status_log").ok()
}

/// What a record leaves to do after an outage, if anything.
fn after_work(doc: &Snapshot<'_>, header: &Header) -> Option<OpenItem> {
    let id = header.id;
    match header.kind {
        RecordKind::Prescription if header.episode.is_some() => {
            let status = status_log(doc)?.current::<PrescriptionStatus>().ok()?;
            let done = matches!(
                status,
                PrescriptionStatus::Dispensed | PrescriptionStatus::Cancelled
            );
            (!done).then(|| work_item(WorkCategory::DispenseEmergencyPrescription, id))
        }
        RecordKind::Visit => {
            let status = status_log(doc)?.current::<VisitStatus>().ok()?;
            (status == VisitStatus::Paused).then(|| work_item(WorkCategory::RestorePausedVisit, id))
        }
        RecordKind::Charge => Charge::awaits_resettlement_in(doc)
            .ok()?
            .then(|| work_item(WorkCategory::ResettleInsurance, id)),
        _ => None,
    }
}

/// The open duplicate-patient item of two patients (with their documents, where their
/// decisions are), if they are two live records of one person that no decision covers.
pub(crate) fn pair_item(a: (&Patient, &Automerge), b: (&Patient, &Automerge)) -> Option<OpenItem> {
    let c = duplicate_conflict(a.0, b.0)?;
    let decided = [a.1, b.1].into_iter().any(|doc| {
        reviews_in(doc)
            .get(&c.id)
            .is_some_and(|r| r.evidence == c.fingerprint)
    });
    (!decided).then(|| conflict_item(&c))
}
