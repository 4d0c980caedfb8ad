//! Today's registrations and prescriptions from the HIS, so that work begun there before an
//! outage can go on in Lifeline: the triage queue and the pharmacy see them.

use super::{
    Change, ImportOutcome, PULL_ACTION, add_states, catalog_entry, existing, import_page, log_of,
};
use crate::WriteError;
use crate::clock::UnixMs;
use crate::desk::set_field;
use crate::money::Fen;
use crate::record::{
    CatalogKind, Department, Drug, Patient, Prescription, PrescriptionItem, RecordKind, Visit,
};
use crate::roles::Operator;
use crate::status::{PrescriptionStatus, VisitStatus};
use crate::store::{Store, Tx};

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

impl Store {
    /// Upserts one page of HIS registrations in one commit.
    pub fn import_his_visits(
        &self,
        who: &Operator,
        rows: Vec<HisVisit>,
    ) -> Result<ImportOutcome, WriteError> {
        import_page(self, who, rows, import_visit)
    }

    /// Upserts one page of HIS prescriptions (with their lines) in one commit. Drug names
    /// and prices come from the drug catalog, as for a prescription written at a desk.
    pub fn import_his_prescriptions(
        &self,
        who: &Operator,
        rows: Vec<HisPrescription>,
    ) -> Result<ImportOutcome, WriteError> {
        import_page(self, who, rows, import_prescription)
    }
}

fn import_visit(
    tx: &mut Tx<'_>,
    who: &Operator,
    row: &HisVisit,
    outcome: &mut ImportOutcome,
) -> Result<(), WriteError> {
    if let Err(reason) = super::text_ok("registration_no", &row.registration_no, true) {
        outcome.skip(&row.his_id, reason);
        return Ok(());
    }
    if let Err(reason) =
        catalog_entry::<Department>(tx, CatalogKind::Service, "departments", &row.department)?
    {
        outcome.skip(&row.his_id, reason);
        return Ok(());
    }
    let Some(patient) = existing::<Patient>(tx, &row.patient_his_id)? else {
        outcome.skip(
            &row.his_id,
            format!("patient {} is not in Lifeline (yet)", row.patient_his_id),
        );
        return Ok(());
    };
    let stamp = tx.his_stamp(row.updated_ms, who);
    let states = visit_states(row.status);
    let Some(current) = existing::<Visit>(tx, &row.his_id)? else {
        let visit = Visit {
            header: tx.his_header(RecordKind::Visit, row.registered_ms, who),
            patient: patient.header.id,
            department: row.department.clone(),
            doctor: row.doctor.clone(),
            fee: row.fee,
            registration_no: row.registration_no.clone(),
            status_log: log_of(&states, &stamp),
            his_id: Some(row.his_id.clone()),
        };
        tx.create(&visit, who, PULL_ACTION)?;
        outcome.count(Change::Created);
        return Ok(());
    };
    let id = current.header.id;
    let fields_changed = current.patient != patient.header.id
        || current.department != row.department
        || current.doctor != row.doctor
        || current.fee != row.fee
        || current.registration_no != row.registration_no;
    if fields_changed {
        tx.edit(id, who, PULL_ACTION, |t| {
            set_field(t, "patient", patient.header.id)?;
            set_field(t, "department", &row.department)?;
            set_field(t, "doctor", &row.doctor)?;
            set_field(t, "fee", row.fee)?;
            set_field(t, "registration_no", &row.registration_no)
        })?;
    }
    let moved = add_states(tx, who, id, &current.status_log, &states, &stamp)?;
    outcome.count(if fields_changed || moved {
        Change::Updated
    } else {
        Change::Unchanged
    });
    Ok(())
}

fn import_prescription(
    tx: &mut Tx<'_>,
    who: &Operator,
    row: &HisPrescription,
    outcome: &mut ImportOutcome,
) -> Result<(), WriteError> {
    let Some(visit) = existing::<Visit>(tx, &row.visit_his_id)? else {
        outcome.skip(
            &row.his_id,
            format!("registration {} is not in Lifeline (yet)", row.visit_his_id),
        );
        return Ok(());
    };
    let mut items = Vec::with_capacity(row.items.len());
    for item in &row.items {
        let (drug, version) =
            match catalog_entry::<Drug>(tx, CatalogKind::Drug, "drugs", &item.drug_code)? {
                Ok(found) => found,
                Err(reason) => {
                    outcome.skip(&row.his_id, reason);
                    return Ok(());
                }
            };
        if let Err(reason) = super::text_ok("dosage", &item.dosage, false) {
            outcome.skip(&row.his_id, reason);
            return Ok(());
        }
        items.push(PrescriptionItem {
            drug_code: item.drug_code.clone(),
            drug_name: drug.name_zh.clone(),
            quantity: item.quantity,
            dosage: item.dosage.clone(),
            unit_price: drug.price,
            catalog_version: version,
        });
    }
    if items.is_empty() {
        outcome.skip(&row.his_id, "a prescription without lines");
        return Ok(());
    }
    let stamp = tx.his_stamp(row.updated_ms, who);
    let states = prescription_states(row.status);
    let Some(current) = existing::<Prescription>(tx, &row.his_id)? else {
        let rx = Prescription {
            header: tx.his_header(RecordKind::Prescription, row.written_ms, who),
            visit: visit.header.id,
            patient: visit.patient,
            items,
            status_log: log_of(&states, &stamp),
            his_id: Some(row.his_id.clone()),
        };
        tx.create(&rx, who, PULL_ACTION)?;
        outcome.count(Change::Created);
        return Ok(());
    };
    let id = current.header.id;
    // A price change in the catalog alone does not rewrite a prescription: only what the HIS
    // row says (drug, quantity, dosage) does.
    let same_lines = current.items.len() == items.len()
        && current.items.iter().zip(&items).all(|(a, b)| {
            a.drug_code == b.drug_code && a.quantity == b.quantity && a.dosage == b.dosage
        });
    let fields_changed =
        !same_lines || current.visit != visit.header.id || current.patient != visit.patient;
    if fields_changed {
        tx.edit(id, who, PULL_ACTION, |t| {
            set_field(t, "visit", visit.header.id)?;
            set_field(t, "patient", visit.patient)?;
            set_field(t, "items", &items)
        })?;
    }
    let moved = add_states(tx, who, id, &current.status_log, &states, &stamp)?;
    outcome.count(if fields_changed || moved {
        Change::Updated
    } else {
        Change::Unchanged
    });
    Ok(())
}
