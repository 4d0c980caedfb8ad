//! Today's registrations and prescriptions from the HIS, so that work begun there before an
//! outage can go on in Lifeline: the triage queue and the pharmacy see them.

use automerge::transaction::Transaction;

use super::{ImportOutcome, Upsert, catalog_item, department, referred};
use crate::WriteError;
use crate::clock::UnixMs;
use crate::desk::set_field;
use crate::money::Fen;
use crate::record::{CatalogKind, Patient, Prescription, RecordKind, Visit};
use crate::roles::Operator;
use crate::status::{PrescriptionStatus, VisitStatus};
use crate::store::Tx;

/// A registration as the HIS holds it, mapped to Lifeline's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HisVisit {
    pub his_id: String,
    pub patient_his_id: String,
    /// A department code of the service catalog.
    pub department: String,
    pub doctor: Option<String>,
    pub fee: Fen,
    /// The number on the slip.
    pub registration_no: String,
    pub status: VisitStatus,
    /// When the patient registered.
    pub registered_ms: UnixMs,
    /// When the HIS last changed the row (stamps the states it reached).
    pub updated_ms: UnixMs,
}

/// One line of an HIS prescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HisPrescriptionItem {
    pub drug_code: String,
    pub quantity: u32,
    /// How to take it, in words (dose, frequency, days).
    pub dosage: String,
}

/// A prescription as the HIS holds it, with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HisPrescription {
    pub his_id: String,
    /// The HIS key of the registration it was written in.
    pub visit_his_id: String,
    pub items: Vec<HisPrescriptionItem>,
    pub status: PrescriptionStatus,
    pub written_ms: UnixMs,
    pub updated_ms: UnixMs,
}

/// The states a visit in `status` has passed through.
fn visit_states(status: VisitStatus) -> Vec<VisitStatus> {
    use VisitStatus as V;
    match status {
        V::Registered | V::Paused | V::Queued => vec![V::Registered, V::Queued],
        V::Called => vec![V::Registered, V::Queued, V::Called],
        V::Seen => vec![V::Registered, V::Queued, V::Seen],
        V::Cancelled => vec![V::Registered, V::Cancelled],
    }
}

fn prescription_states(status: PrescriptionStatus) -> Vec<PrescriptionStatus> {
    use PrescriptionStatus as P;
    match status {
        P::Issued => vec![P::Issued],
        P::Printed => vec![P::Issued, P::Printed],
        P::Dispensed => vec![P::Issued, P::Dispensed],
        P::Cancelled => vec![P::Issued, P::Cancelled],
    }
}

pub(super) fn import_visit(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    row: &HisVisit,
    outcome: &mut ImportOutcome,
) -> Result<(), WriteError> {
    if let Err(reason) = super::text_ok("registration_no", &row.registration_no, true) {
        outcome.skip(&row.his_id, reason);
        return Ok(());
    }
    if let Err(reason) = department(tx, &row.department)? {
        outcome.skip(&row.his_id, reason);
        return Ok(());
    }
    let Some(patient) =
        referred::<Patient>(tx, outcome, &row.his_id, "patient", &row.patient_his_id)?
    else {
        return Ok(());
    };
    let patient = patient.header.id;
    let (_, change) = Upsert {
        his_id: &row.his_id,
        fresh: |tx: &Tx<'_, '_>, status_log| Visit {
            header: tx.his_header(RecordKind::Visit, row.registered_ms, who),
            patient,
            department: row.department.clone(),
            doctor: row.doctor.clone(),
            fee: row.fee,
            registration_no: row.registration_no.clone(),
            fee_charge: None,
            status_log,
            his_id: Some(row.his_id.clone()),
        },
        differs: |v: &Visit| {
            v.patient != patient
                || v.department != row.department
                || v.doctor != row.doctor
                || v.fee != row.fee
                || v.registration_no != row.registration_no
        },
        write: |t: &mut Transaction<'_>| {
            set_field(t, "patient", patient)?;
            set_field(t, "department", &row.department)?;
            set_field(t, "doctor", &row.doctor)?;
            set_field(t, "fee", row.fee)?;
            set_field(t, "registration_no", &row.registration_no)
        },
        states: visit_states(row.status),
        stamp: tx.his_stamp(row.updated_ms, who),
    }
    .run(tx, who)?;
    outcome.count(change);
    Ok(())
}

pub(super) fn import_prescription(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    row: &HisPrescription,
    outcome: &mut ImportOutcome,
) -> Result<(), WriteError> {
    let Some(visit) =
        referred::<Visit>(tx, outcome, &row.his_id, "registration", &row.visit_his_id)?
    else {
        return Ok(());
    };
    let mut items = Vec::with_capacity(row.items.len());
    for item in &row.items {
        let found = catalog_item(tx, CatalogKind::Drug, &item.drug_code)?;
        let checked = found.and_then(|d| {
            super::text_ok("dosage", &item.dosage, false)?;
            Ok(d)
        });
        let drug = match checked {
            Ok(found) => found,
            Err(reason) => {
                outcome.skip(&row.his_id, reason);
                return Ok(());
            }
        };
        items.push(crate::desk::priced_item(
            &item.drug_code,
            drug,
            item.quantity,
            &item.dosage,
        ));
    }
    if items.is_empty() {
        outcome.skip(&row.his_id, "a prescription without lines");
        return Ok(());
    }
    let (visit_id, patient) = (visit.header.id, visit.patient);
    let (_, change) = Upsert {
        his_id: &row.his_id,
        fresh: |tx: &Tx<'_, '_>, status_log| Prescription {
            header: tx.his_header(RecordKind::Prescription, row.written_ms, who),
            visit: visit_id,
            patient,
            items: items.clone(),
            charge: None,
            status_log,
            his_id: Some(row.his_id.clone()),
        },
        // A price change in the catalog alone does not rewrite a prescription: only what the
        // HIS row says (drug, quantity, dosage) does.
        differs: |rx: &Prescription| {
            rx.visit != visit_id
                || rx.patient != patient
                || rx.items.len() != items.len()
                || rx.items.iter().zip(&items).any(|(a, b)| {
                    a.drug_code != b.drug_code || a.quantity != b.quantity || a.dosage != b.dosage
                })
        },
        write: |t: &mut Transaction<'_>| {
            set_field(t, "visit", visit_id)?;
            set_field(t, "patient", patient)?;
            set_field(t, "items", &items)
        },
        states: prescription_states(row.status),
        stamp: tx.his_stamp(row.updated_ms, who),
    }
    .run(tx, who)?;
    outcome.count(change);
    Ok(())
}
