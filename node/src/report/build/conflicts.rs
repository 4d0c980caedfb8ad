//! The conflict review report as the daemon builds it from its store and sends it
//! (`GET /admin/conflicts`): core's conflicts as they are, each with the patient it is about.

use lifeline_core::record::{Charge, Dispense, Patient, Prescription, Visit};
use lifeline_core::review::{Conflict, ConflictStatus};
use lifeline_core::{ReadError, RecordId, RecordKind, Store};
use serde::Serialize;

use crate::report::conflicts::About;

/// One conflict as the daemon sends it.
#[derive(Debug, Serialize)]
pub struct ConflictOut {
    #[serde(flatten)]
    pub conflict: Conflict,
    pub subject: Option<String>,
    /// The patient `subject` names, in parts, so each language can say it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<About>,
}

/// The report as the daemon sends it (read back as [`crate::report::ConflictReport`]).
#[derive(Debug, Serialize)]
pub struct ConflictReportOut {
    pub node: String,
    pub generated_ms: i64,
    pub open: usize,
    pub resolved: usize,
    pub conflicts: Vec<ConflictOut>,
}

/// Builds the report from a store (blocking).
pub fn build(store: &Store) -> Result<ConflictReportOut, ReadError> {
    let conflicts = store.conflicts()?;
    let open = conflicts
        .iter()
        .filter(|c| c.status == ConflictStatus::Open)
        .count();
    let resolved = conflicts.len() - open;
    let conflicts = conflicts
        .into_iter()
        .map(|c| {
            let (subject, about) = subject(store, &c);
            ConflictOut {
                subject,
                about,
                conflict: c,
            }
        })
        .collect();
    Ok(ConflictReportOut {
        node: store.node().to_string(),
        generated_ms: store.now_ms(),
        open,
        resolved,
        conflicts,
    })
}

fn patient_label(store: &Store, id: RecordId) -> Option<About> {
    let p = store.get::<Patient>(id).ok().flatten()?;
    Some(About {
        age: store.age_today(p.birth_date).map(|a| a.text),
        name: p.name,
        patient_no: p.patient_no,
    })
}

/// Who a conflict is about, as the `subject` of the JSON (`林小雨 (3岁), patient W01-3`, or
/// the two names of a duplicate), and the patient in parts when it is one patient.
pub fn subject(store: &Store, c: &Conflict) -> (Option<String>, Option<About>) {
    if let Some(d) = &c.duplicate {
        let names: Vec<&str> = d.patients.iter().map(|p| p.name.as_str()).collect();
        return (Some(names.join(" / ")), None);
    }
    let about = patient(store, c);
    (about.as_ref().map(About::subject), about)
}

/// The patient a conflict's first record is about.
fn patient(store: &Store, c: &Conflict) -> Option<About> {
    let record = *c.records.first()?;
    let patient = match store.header(record).ok().flatten()?.kind {
        RecordKind::Patient => Some(record),
        RecordKind::Visit => store.get::<Visit>(record).ok().flatten().map(|v| v.patient),
        RecordKind::Prescription => store
            .get::<Prescription>(record)
            .ok()
            .flatten()
            .map(|r| r.patient),
        RecordKind::Charge => store
            .get::<Charge>(record)
            .ok()
            .flatten()
            .map(|r| r.patient),
        RecordKind::Dispense => store
            .get::<Dispense>(record)
            .ok()
            .flatten()
            .map(|r| r.patient),
        _ => None,
    }?;
    patient_label(store, patient)
}
