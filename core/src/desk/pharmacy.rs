//! Doctors write prescriptions; the pharmacy prints and dispenses them.
//!
//! A prescription brings its drug charge with it, in the same commit, at the catalog prices
//! it was written with. The pharmacy dispenses paid prescriptions ("药房把有应急标志的已收费处方
//! 进行发药"): marking one dispensed in the system needs its charge settled.
//!
//! During an emergency episode the pharmacy may print a prescription and hand the drugs out,
//! but may not mark it dispensed in the system until central has the prescription: its
//! dispense stays on hold and it is listed (in red, at the desk) for the pharmacy to dispense
//! in the system once it has been reconciled.

use serde::{Deserialize, Serialize};

use super::billing::{LinkedCharge, default_payment};
use super::catalog::Priced;
use super::paper::PaperTime;
use super::{Saved, permit};
use crate::WriteError;
use crate::clock::{Age, UnixMs};
use crate::id::RecordId;
use crate::record::{
    CatalogKind, Charge, ChargeLine, ChargeSource, Dispense, Header, Patient, PaymentMethod,
    Prescription, PrescriptionItem, RecordKind, Visit,
};
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::status::{ChargeStatus, DispenseStatus, PrescriptionStatus, Status, StatusLog};
use crate::store::{ReadError, Store, put_stamp};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrescriptionItem {
    pub drug_code: String,
    pub quantity: u32,
    pub dosage: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrescription {
    pub visit: RecordId,
    pub items: Vec<NewPrescriptionItem>,
    /// How the drugs are to be paid; by default as the patient's insurance says.
    #[serde(default)]
    pub payment: Option<PaymentMethod>,
    /// Typed in later from a paper form: the time written on it (hospital time).
    #[serde(default)]
    pub occurred_at: Option<PaperTime>,
}

/// One line of the pharmacy queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PharmacyEntry {
    pub prescription: RecordId,
    pub patient: RecordId,
    pub patient_name: String,
    /// The patient's age today (`2岁6个月`).
    pub patient_age: Option<Age>,
    pub status: PrescriptionStatus,
    /// Written during an emergency episode ("YJ"): shown in red.
    pub emergency: bool,
    /// Printed but cannot be dispensed in the system until central has it.
    pub on_hold: bool,
    pub created_ms: UnixMs,
}

/// A line of `quantity` of the drug `code`, priced from its catalog item.
pub(crate) fn priced_item(
    code: &str,
    drug: Priced,
    quantity: u32,
    dosage: &str,
) -> PrescriptionItem {
    PrescriptionItem {
        drug_code: code.to_owned(),
        drug_name: drug.name,
        quantity,
        dosage: dosage.to_owned(),
        unit_price: drug.price,
        catalog_version: drug.catalog_version,
    }
}

/// Most items on one prescription.
pub const MAX_ITEMS: usize = 50;

impl Store {
    pub fn create_prescription(
        &self,
        who: &Operator,
        new: NewPrescription,
    ) -> Result<Saved<Prescription>, WriteError> {
        permit(who, RecordKind::Prescription, "write prescriptions")?;
        permit(
            who,
            RecordKind::Charge,
            "write prescriptions (they charge the drugs)",
        )?;
        if new.items.is_empty() || new.items.len() > MAX_ITEMS {
            return Err(RuleError::invalid("items", "a prescription holds 1 to 50 items").into());
        }
        for (i, item) in new.items.iter().enumerate() {
            check_text(&format!("items[{i}].dosage"), &item.dosage, true)?;
            if item.quantity == 0 || item.quantity > 1000 {
                return Err(RuleError::invalid(
                    format!("items[{i}].quantity"),
                    "must be 1 to 1000",
                )
                .into());
            }
        }
        let who = who.clone();
        self.write(move |tx| {
            let visit: Visit = tx.read(new.visit)?;
            let mut items = Vec::with_capacity(new.items.len());
            let mut lines = Vec::with_capacity(new.items.len());
            for (i, item) in new.items.iter().enumerate() {
                let drug = tx.priced(CatalogKind::Drug, &item.drug_code)?;
                let amount = drug
                    .price
                    .times(item.quantity)
                    .ok_or_else(|| RuleError::invalid(format!("items[{i}]"), "amount too large"))?;
                lines.push(ChargeLine {
                    catalog: CatalogKind::Drug,
                    code: item.drug_code.clone(),
                    name: drug.name.clone(),
                    quantity: item.quantity,
                    unit_price: drug.price,
                    amount,
                    catalog_version: drug.catalog_version,
                });
                items.push(priced_item(
                    &item.drug_code,
                    drug,
                    item.quantity,
                    &item.dosage,
                ));
            }
            let header = tx.header_for(RecordKind::Prescription, &who, new.occurred_at)?;
            let charge_header = Header {
                id: tx.new_record_id(),
                kind: RecordKind::Charge,
                ..header.clone()
            };
            let payment = match new.payment {
                Some(p) => p,
                None => default_payment(tx.read::<Patient>(visit.patient)?.insurance),
            };
            let rx = Prescription {
                header,
                visit: new.visit,
                patient: visit.patient,
                items,
                charge: Some(charge_header.id),
                status_log: StatusLog::starting(PrescriptionStatus::Issued, tx.stamp(&who)),
                his_id: None,
            };
            tx.create(&rx, &who, "prescription.create")?;
            tx.create_linked_charge(
                &who,
                &visit,
                LinkedCharge {
                    header: charge_header,
                    source: ChargeSource::Prescription,
                    prescription: Some(rx.header.id),
                    lines,
                    payment,
                },
            )?;
            Ok(Saved::new(rx))
        })
    }

    /// Prints a prescription: it moves to printed and a dispense is opened, on hold.
    pub fn print_prescription(
        &self,
        who: &Operator,
        id: RecordId,
    ) -> Result<Saved<Dispense>, WriteError> {
        permit(who, RecordKind::Dispense, "print prescriptions")?;
        let who = who.clone();
        self.write(move |tx| {
            let rx: Prescription = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Prescription, id, rx.his_id.as_ref())?;
            rx.status_log
                .check_move(PrescriptionStatus::Printed)
                .map_err(RuleError::from)?;
            let dispense = Dispense {
                header: tx.new_header(RecordKind::Dispense, &who)?,
                prescription: id,
                patient: rx.patient,
                status_log: StatusLog::starting(DispenseStatus::OnHold, tx.stamp(&who)),
            };
            let stamp = tx.stamp(&who);
            tx.edit(id, &who, "prescription.print", |t| {
                put_stamp(t, PrescriptionStatus::Printed.name(), &stamp)
            })?;
            tx.create(&dispense, &who, "dispense.print")?;
            Ok(Saved::new(dispense))
        })
    }

    /// Marks a prescription dispensed in the system. Refused for an emergency prescription
    /// that central has not acknowledged yet.
    pub fn dispense_prescription(
        &self,
        who: &Operator,
        id: RecordId,
    ) -> Result<Saved<Prescription>, WriteError> {
        permit(who, RecordKind::Dispense, "dispense prescriptions")?;
        let who = who.clone();
        self.write(move |tx| {
            let rx: Prescription = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Prescription, id, rx.his_id.as_ref())?;
            rx.status_log
                .check_move(PrescriptionStatus::Dispensed)
                .map_err(RuleError::from)?;
            if let Some(episode) = rx.header.episode.clone()
                && !tx.central_acked(id)?
            {
                return Err(RuleError::EmergencyDispenseOnHold {
                    prescription: id,
                    episode,
                }
                .into());
            }
            if let Some(charge) = rx.charge {
                let charge: Charge = tx.read(charge)?;
                let paid = matches!(
                    charge.status_log.current::<ChargeStatus>(),
                    Ok(ChargeStatus::Settled | ChargeStatus::Invoiced)
                );
                if !paid {
                    return Err(RuleError::NotPaid {
                        prescription: id,
                        charge: charge.header.id,
                    }
                    .into());
                }
            }
            let mut on_hold = Vec::new();
            for other in tx.ids_dispensing(id)? {
                let d: Dispense = tx.read(other)?;
                if d.prescription != id {
                    continue;
                }
                if d.status_log.current::<DispenseStatus>() == Ok(DispenseStatus::OnHold) {
                    on_hold.push(other);
                }
            }
            let stamp = tx.stamp(&who);
            tx.edit(id, &who, "prescription.dispense", |t| {
                put_stamp(t, PrescriptionStatus::Dispensed.name(), &stamp)
            })?;
            if on_hold.is_empty() {
                let mut log = StatusLog::starting(DispenseStatus::OnHold, stamp.clone());
                log.0
                    .insert(DispenseStatus::Dispensed.name().to_owned(), stamp.clone());
                let dispense = Dispense {
                    header: tx.new_header(RecordKind::Dispense, &who)?,
                    prescription: id,
                    patient: rx.patient,
                    status_log: log,
                };
                tx.create(&dispense, &who, "dispense.dispense")?;
            }
            for d in on_hold {
                tx.edit(d, &who, "dispense.dispense", |t| {
                    put_stamp(t, DispenseStatus::Dispensed.name(), &stamp)
                })?;
            }
            Ok(Saved::new(tx.read(id)?))
        })
    }

    pub fn cancel_prescription(
        &self,
        who: &Operator,
        id: RecordId,
    ) -> Result<Saved<Prescription>, WriteError> {
        permit(who, RecordKind::Prescription, "cancel prescriptions")?;
        let who = who.clone();
        self.write(move |tx| {
            let rx: Prescription = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Prescription, id, rx.his_id.as_ref())?;
            rx.status_log
                .check_move(PrescriptionStatus::Cancelled)
                .map_err(RuleError::from)?;
            let stamp = tx.stamp(&who);
            tx.edit(id, &who, "prescription.cancel", |t| {
                put_stamp(t, PrescriptionStatus::Cancelled.name(), &stamp)
            })?;
            Ok(Saved::new(tx.read(id)?))
        })
    }

    /// Today's prescriptions waiting at the pharmacy (issued or printed), plus every
    /// emergency prescription still on hold whatever its day. Reads the queue's rows (the
    /// `queues` index) and each waiting patient's name and birth date, not every prescription
    /// of the day. A prescription both servers pulled from the HIS is listed once
    /// (`store::twins`).
    pub fn pharmacy_queue(&self) -> Result<Vec<PharmacyEntry>, ReadError> {
        let today = self.today_start_ms();
        // An emergency record central has not acknowledged is unreconciled: its prescription
        // is on hold.
        let unreconciled: std::collections::BTreeSet<RecordId> =
            self.unreconciled()?.into_iter().collect();
        let mut rows = self.queued_since(RecordKind::Prescription, Some(today))?;
        for &id in &unreconciled {
            if RecordId::lowest_at(today) <= id {
                continue; // today's, listed already
            }
            if let Some(row) = self.queued_one(RecordKind::Prescription, id)? {
                rows.push((id, row));
            }
        }
        let mut out = Vec::new();
        for (id, row) in self.one_per_his_row(RecordKind::Prescription, rows, |(id, row)| {
            (*id, row.his_id.as_deref())
        })? {
            let Some(status) = PrescriptionStatus::parse(&row.status) else {
                continue;
            };
            let (patient_name, patient_age) = self.name_and_age(row.patient);
            out.push(PharmacyEntry {
                prescription: id,
                patient: row.patient,
                patient_name: patient_name.unwrap_or_default(),
                patient_age,
                status,
                emergency: row.emergency,
                on_hold: row.emergency && unreconciled.contains(&id),
                created_ms: row.created_ms,
            });
        }
        out.sort_by_key(|e| e.created_ms);
        Ok(out)
    }
}
