//! Money after the payment, each as a record of its own that never edits the payment:
//!
//! - a **refund** (退费) gives a charge's money back, by channel, with a reason and who did
//!   it; an invoiced charge is refunded once its invoice has been voided (taken back);
//! - a **re-settlement** (重新划卡结算) redoes, through the insurance, a charge paid as
//!   self-pay when the insurance link failed: the insurance pays now, what the patient paid
//!   is given back, and it gets an invoice of its own. The plan: "财务结算部门在故障排除后7个
//!   工作日内凭原手工收据,为医保病人重新划卡结算".

use serde::{Deserialize, Serialize};

use super::billing::{InsuranceUse, check_parts};
use super::{Saved, permit, set_field};
use crate::WriteError;
use crate::id::RecordId;
use crate::record::{
    Charge, ChargeSource, Header, Invoice, PaymentChannel, PaymentPart, Prescription, RecordKind,
    Refund, Resettlement,
};
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::status::{ChargeStatus, PrescriptionStatus, Status};
use crate::store::{Store, Tx, put_stamp};

/// A refund as the cashier enters it. Without `parts`, the money goes back the way it came.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    pub reason: String,
    #[serde(default)]
    pub parts: Option<Vec<PaymentPart>>,
}

/// A re-settlement done: the charge (its payment as it was), the re-settlement and its
/// invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resettled {
    pub charge: Charge,
    pub resettlement: Resettlement,
    pub invoice: Invoice,
}

impl Tx<'_, '_> {
    /// The re-settlement of a charge, if it has one (found through the patient's records).
    pub(crate) fn resettlement_of(
        &mut self,
        charge: &Charge,
    ) -> Result<Option<Resettlement>, WriteError> {
        if charge.resettled.is_none() {
            return Ok(None);
        }
        for other in self.ids_for_patient(charge.patient)? {
            let Some(doc) = self.doc(other)? else {
                continue;
            };
            let kind = Header::of(doc).map(|h| h.kind).ok();
            if kind != Some(RecordKind::Resettlement) {
                continue;
            }
            let r: Resettlement = self.read(other)?;
            if r.charge == charge.header.id {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

impl Store {
    /// Gives a charge's money back: a refund record, by channel, with its reason; the charge
    /// is marked refunded and its payment stays as it was.
    pub fn refund_charge(
        &self,
        who: &Operator,
        id: RecordId,
        refund: NewRefund,
    ) -> Result<Saved<Refund>, WriteError> {
        permit(who, RecordKind::Refund, "refund charges")?;
        check_text("reason", &refund.reason, true)?;
        let who = who.clone();
        self.write(move |tx| {
            let charge: Charge = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Charge, id, charge.his_id.as_ref())?;
            charge
                .status_log
                .check_move(ChargeStatus::Refunded)
                .map_err(RuleError::from)?;
            if charge.refund.is_some() {
                return Err(RuleError::AlreadyRefunded { charge: id }.into());
            }
            if let Some(invoice) = charge.invoice {
                return Err(RuleError::OnInvoice {
                    charge: id,
                    invoice,
                }
                .into());
            }
            if charge.source == ChargeSource::Prescription
                && let Some(rx) = charge.prescription
                && tx
                    .read::<Prescription>(rx)?
                    .status_log
                    .reached(PrescriptionStatus::Dispensed)
                    .is_some()
            {
                return Err(RuleError::DrugsHandedOut { charge: id }.into());
            }
            // Back the way it came: through the re-settlement's channels if there was one.
            let came_in = match tx.resettlement_of(&charge)? {
                Some(r) => r.parts,
                None => charge.payments.clone(),
            };
            let parts = refund.parts.clone().unwrap_or(came_in);
            check_parts("parts", &parts, charge.amount, InsuranceUse::Allowed)?;
            let record = Refund {
                header: tx.new_header(RecordKind::Refund, &who)?,
                charge: id,
                visit: charge.visit,
                patient: charge.patient,
                amount: charge.amount,
                parts,
                reason: refund.reason.trim().to_owned(),
            };
            tx.create(&record, &who, "refund.create")?;
            let stamp = tx.stamp(&who);
            let refund_id = record.header.id;
            tx.edit(id, &who, "charge.refund", |t| {
                set_field(t, "refund", Some(refund_id))?;
                put_stamp(t, ChargeStatus::Refunded.name(), &stamp)
            })?;
            Ok(Saved::new(record))
        })
    }

    /// Re-settles by insurance a charge paid as self-pay when the link failed, the whole
    /// amount from the insurance fund.
    pub fn resettle_charge(
        &self,
        who: &Operator,
        id: RecordId,
    ) -> Result<Saved<Resettled>, WriteError> {
        self.resettle_charge_with(who, id, None)
    }

    /// Re-settles by insurance a charge paid as self-pay when the link failed: a
    /// re-settlement record (what pays now, what goes back to the patient) with an invoice of
    /// its own, numbered from the cashier's range. The charge's payment stays as it was.
    pub fn resettle_charge_with(
        &self,
        who: &Operator,
        id: RecordId,
        parts: Option<Vec<PaymentPart>>,
    ) -> Result<Saved<Resettled>, WriteError> {
        permit(who, RecordKind::Resettlement, "re-settle charges")?;
        let who = who.clone();
        self.write(move |tx| {
            let charge: Charge = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Charge, id, charge.his_id.as_ref())?;
            if !charge.awaits_resettlement() {
                return Err(RuleError::NothingToResettle { charge: id }.into());
            }
            let parts = parts.clone().unwrap_or_else(|| {
                vec![PaymentPart {
                    channel: PaymentChannel::InsuranceFund,
                    amount: charge.amount,
                }]
            });
            check_parts("parts", &parts, charge.amount, InsuranceUse::Allowed)?;
            if !parts.iter().any(|p| p.channel.is_insurance()) {
                return Err(RuleError::invalid(
                    "parts",
                    "a re-settlement goes through the insurance (insurance_fund or personal_account)",
                )
                .into());
            }
            let invoice_header = tx.new_header(RecordKind::Invoice, &who)?;
            let resettlement = Resettlement {
                header: tx.new_header(RecordKind::Resettlement, &who)?,
                charge: id,
                patient: charge.patient,
                amount: charge.amount,
                parts,
                returned: charge.payments.clone(),
                invoice: invoice_header.id,
            };
            let rid = resettlement.header.id;
            let invoice = tx.create_invoice(
                &who,
                invoice_header,
                vec![id],
                charge.amount,
                Some(rid),
            )?;
            tx.create(&resettlement, &who, "resettlement.create")?;
            let stamp = tx.stamp(&who);
            tx.edit(id, &who, "charge.resettle", |t| {
                set_field(t, "resettled", Some(&stamp))
            })?;
            Ok(Saved {
                value: Resettled {
                    charge: tx.read(id)?,
                    resettlement,
                    invoice: invoice.value,
                },
                warnings: invoice.warnings,
            })
        })
    }
}
