//! Whether a record document reads as its kind: every field present with the right type and
//! every enum value known (autosurgeon's hydration), a status this version knows, and names
//! free of control and bidirectional-override characters. A record that fails is never kept,
//! so no reader (the triage queue, a report) meets it later.

use crate::error::Shared;
use crate::record::{
    Charge, Dispense, DrugCatalog, DrugItem, Episode, Invoice, Lease, MAX_RECEIPT_RECORDS, Patient,
    Prescription, Receipt, RecordKind, Refund, Resettlement, ServiceCatalog, ServiceItem, Visit,
};
use crate::rules::{RuleError, check_text};
use crate::status::{
    ChargeStatus, DispenseStatus, InvoiceStatus, PrescriptionStatus, StatusLog, UnknownStatus,
    VisitStatus,
};

/// Why a record does not read as its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    #[error("its fields do not read")]
    Fields(#[source] Shared<autosurgeon::HydrateError>),
    #[error(transparent)]
    Status(#[from] UnknownStatus),
    #[error(transparent)]
    Text(#[from] RuleError),
}

fn read<T: autosurgeon::Hydrate>(doc: &impl autosurgeon::ReadDoc) -> Result<T, Invalid> {
    autosurgeon::hydrate(doc).map_err(|e| Invalid::Fields(e.into()))
}

fn status<S: crate::status::Status>(log: &StatusLog) -> Result<(), Invalid> {
    log.current::<S>().map(drop).map_err(Invalid::from)
}

/// Checks that `doc` reads as a record of `kind`. Give it a [`crate::record::Snapshot`]: a
/// record's fields are read one by one.
pub fn validate(kind: RecordKind, doc: &impl autosurgeon::ReadDoc) -> Result<(), Invalid> {
    validate_reading(kind, doc).map(drop)
}

/// [`validate`], handing back the patient it read when the record is one: the store indexes
/// a patient by its identifying fields, and need not read them again.
pub fn validate_reading(
    kind: RecordKind,
    doc: &impl autosurgeon::ReadDoc,
) -> Result<Option<Patient>, Invalid> {
    match kind {
        RecordKind::Patient => {
            let p: Patient = read(doc)?;
            check_text("name", &p.name, true)?;
            check_text("patient_no", &p.patient_no, true)?;
            return Ok(Some(p));
        }
        RecordKind::Visit => status::<VisitStatus>(&read::<Visit>(doc)?.status_log)?,
        RecordKind::Prescription => {
            status::<PrescriptionStatus>(&read::<Prescription>(doc)?.status_log)?;
        }
        RecordKind::Charge => status::<ChargeStatus>(&read::<Charge>(doc)?.status_log)?,
        RecordKind::Invoice => status::<InvoiceStatus>(&read::<Invoice>(doc)?.status_log)?,
        RecordKind::Dispense => status::<DispenseStatus>(&read::<Dispense>(doc)?.status_log)?,
        RecordKind::DrugCatalog => drop(read::<DrugCatalog>(doc)?),
        RecordKind::ServiceCatalog => drop(read::<ServiceCatalog>(doc)?),
        RecordKind::DrugItem => {
            let item: DrugItem = read(doc)?;
            check_text("code", &item.code, false)?;
            check_text("name_zh", &item.drug.name_zh, false)?;
        }
        RecordKind::ServiceItem => {
            let item: ServiceItem = read(doc)?;
            check_text("code", &item.code, false)?;
            check_text("name_zh", &item.service.name_zh, false)?;
        }
        RecordKind::Episode => {
            if let Some(code) = read::<Episode>(doc)?.reason_code {
                check_text("reason_code", &code.code, true)?;
            }
        }
        RecordKind::Lease => drop(read::<Lease>(doc)?),
        RecordKind::Receipt => {
            let receipt: Receipt = read(doc)?;
            if receipt.records.len() > MAX_RECEIPT_RECORDS {
                return Err(RuleError::invalid(
                    "records",
                    format!("a receipt names at most {MAX_RECEIPT_RECORDS} records"),
                )
                .into());
            }
            // A receipt in an episode would itself wait for one, for ever.
            if receipt.header.episode.is_some() {
                return Err(RuleError::invalid("header.episode", "a receipt has none").into());
            }
        }
        RecordKind::Refund => check_text("reason", &read::<Refund>(doc)?.reason, false)?,
        RecordKind::Resettlement => drop(read::<Resettlement>(doc)?),
    }
    Ok(None)
}
