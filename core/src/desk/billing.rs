//! The cashier: charges, settlement, invoices from leased number ranges, voids.
//!
//! When only the insurance settlement link fails, the patient pays as self-pay and the charge
//! carries a re-settlement due date 7 working days later (weekends skipped), so the cashier's
//! worklist can re-settle it in time.

use serde::Deserialize;

use super::{Saved, Warning, permit, set_field};
use crate::WriteError;
use crate::clock::Date;
use crate::id::RecordId;
use crate::money::Fen;
use crate::numbers::Series;
use crate::record::{
    CatalogKind, Charge, ChargeLine, DrugCatalog, Invoice, PaymentMethod, RecordKind,
    ServiceCatalog, Visit, catalog_id,
};
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::status::{ChargeStatus, InvoiceStatus, Status, StatusLog};
use crate::store::{Store, put_stamp};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChargeLine {
    pub catalog: CatalogKind,
    pub code: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCharge {
    pub visit: RecordId,
    pub lines: Vec<NewChargeLine>,
    pub payment: PaymentMethod,
}

/// How a settlement went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    /// Paid as requested.
    Paid,
    /// The insurance link failed: paid as self-pay, to be re-settled within 7 working days.
    InsuranceFailed,
}

/// Working days within which a failed insurance settlement must be re-settled.
pub const RESETTLE_WORKING_DAYS: u32 = 7;

/// Most lines on one charge.
pub const MAX_LINES: usize = 100;

impl Store {
    pub fn create_charge(
        &self,
        who: &Operator,
        new: NewCharge,
    ) -> Result<Saved<Charge>, WriteError> {
        permit(who, RecordKind::Charge, "create charges")?;
        if new.lines.is_empty() || new.lines.len() > MAX_LINES {
            return Err(RuleError::invalid("lines", "a charge holds 1 to 100 lines").into());
        }
        for (i, line) in new.lines.iter().enumerate() {
            if line.quantity == 0 || line.quantity > 1000 {
                return Err(RuleError::invalid(
                    format!("lines[{i}].quantity"),
                    "must be 1 to 1000",
                )
                .into());
            }
        }
        let who = who.clone();
        self.write(move |tx| {
            let visit: Visit = tx.read(new.visit)?;
            let needs = |kind: CatalogKind| new.lines.iter().any(|l| l.catalog == kind);
            let drugs: Option<DrugCatalog> = if needs(CatalogKind::Drug) {
                let id = catalog_id(CatalogKind::Drug);
                if tx.doc(id)?.is_none() {
                    return Err(RuleError::CatalogMissing { catalog: "drug" }.into());
                }
                Some(tx.read(id)?)
            } else {
                None
            };
            let services: Option<ServiceCatalog> = if needs(CatalogKind::Service) {
                let id = catalog_id(CatalogKind::Service);
                if tx.doc(id)?.is_none() {
                    return Err(RuleError::CatalogMissing { catalog: "service" }.into());
                }
                Some(tx.read(id)?)
            } else {
                None
            };
            let mut lines = Vec::with_capacity(new.lines.len());
            let mut amount = Fen::ZERO;
            for (i, line) in new.lines.iter().enumerate() {
                let unknown = || RuleError::UnknownCode {
                    catalog: match line.catalog {
                        CatalogKind::Drug => "drug",
                        CatalogKind::Service => "service",
                    },
                    code: line.code.clone(),
                };
                let (name, price, version) = match (line.catalog, &drugs, &services) {
                    (CatalogKind::Drug, Some(c), _) => {
                        let d = c.drugs.get(&line.code).ok_or_else(unknown)?;
                        (d.name_zh.clone(), d.price, c.version)
                    }
                    (CatalogKind::Service, _, Some(c)) => {
                        let s = c.services.get(&line.code).ok_or_else(unknown)?;
                        (s.name_zh.clone(), s.price, c.version)
                    }
                    _ => return Err(unknown().into()),
                };
                let overflow = || RuleError::invalid(format!("lines[{i}]"), "amount too large");
                let line_amount = price.times(line.quantity).ok_or_else(overflow)?;
                amount = amount.checked_add(line_amount).ok_or_else(overflow)?;
                lines.push(ChargeLine {
                    catalog: line.catalog,
                    code: line.code.clone(),
                    name,
                    quantity: line.quantity,
                    unit_price: price,
                    amount: line_amount,
                    catalog_version: version,
                });
            }
            let charge = Charge {
                header: tx.new_header(RecordKind::Charge, &who)?,
                visit: new.visit,
                patient: visit.patient,
                lines,
                amount,
                requested_payment: new.payment,
                payment: None,
                resettle_due: None,
                resettled: None,
                status_log: StatusLog::starting(ChargeStatus::Pending, tx.stamp(&who)),
                his_id: None,
            };
            tx.create(&charge, &who, "charge.create")?;
            Ok(Saved::new(charge))
        })
    }

    pub fn settle_charge(
        &self,
        who: &Operator,
        id: RecordId,
        outcome: Settlement,
    ) -> Result<Saved<Charge>, WriteError> {
        permit(who, RecordKind::Charge, "settle charges")?;
        let who = who.clone();
        self.write(move |tx| {
            let charge: Charge = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Charge, id, charge.his_id.as_ref())?;
            charge
                .status_log
                .check_move(ChargeStatus::Settled)
                .map_err(RuleError::from)?;
            let (payment, due) = match (outcome, charge.requested_payment) {
                (Settlement::Paid, method) => (method, None),
                (Settlement::InsuranceFailed, PaymentMethod::Insurance) => {
                    let today = Date::at(tx.now_ms(), tx.opts().utc_offset_min);
                    (
                        PaymentMethod::SelfPay,
                        Some(today.add_working_days(RESETTLE_WORKING_DAYS)),
                    )
                }
                (Settlement::InsuranceFailed, PaymentMethod::SelfPay) => {
                    return Err(RuleError::invalid(
                        "outcome",
                        "insurance_failed applies only to a charge paid by insurance",
                    )
                    .into());
                }
            };
            let stamp = tx.stamp(&who);
            tx.edit(id, &who, "charge.settle", |t| {
                set_field(t, "payment", Some(payment))?;
                if due.is_some() {
                    set_field(t, "resettle_due", due)?;
                }
                put_stamp(t, ChargeStatus::Settled.name(), &stamp)
            })?;
            Ok(Saved::new(tx.read(id)?))
        })
    }

    /// Re-settles by insurance a charge that was paid as self-pay when the link failed.
    pub fn resettle_charge(
        &self,
        who: &Operator,
        id: RecordId,
    ) -> Result<Saved<Charge>, WriteError> {
        permit(who, RecordKind::Charge, "re-settle charges")?;
        let who = who.clone();
        self.write(move |tx| {
            let charge: Charge = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Charge, id, charge.his_id.as_ref())?;
            if charge.resettle_due.is_none() || charge.resettled.is_some() {
                return Err(RuleError::NothingToResettle { charge: id }.into());
            }
            let stamp = tx.stamp(&who);
            tx.edit(id, &who, "charge.resettle", |t| {
                set_field(t, "payment", Some(PaymentMethod::Insurance))?;
                set_field(t, "resettled", Some(&stamp))
            })?;
            Ok(Saved::new(tx.read(id)?))
        })
    }

    /// Issues an invoice for settled charges, numbered from this node's leased range.
    pub fn issue_invoice(
        &self,
        who: &Operator,
        charges: Vec<RecordId>,
    ) -> Result<Saved<Invoice>, WriteError> {
        permit(who, RecordKind::Invoice, "issue invoices")?;
        if charges.is_empty() || charges.len() > MAX_LINES {
            return Err(RuleError::invalid("charges", "an invoice covers 1 to 100 charges").into());
        }
        let mut unique = charges.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != charges.len() {
            return Err(RuleError::invalid("charges", "a charge is listed twice").into());
        }
        let who = who.clone();
        self.write(move |tx| {
            let mut total = Fen::ZERO;
            for &id in &charges {
                let charge: Charge = tx.read(id)?;
                crate::import::check_writable(tx, RecordKind::Charge, id, charge.his_id.as_ref())?;
                match charge
                    .status_log
                    .current::<ChargeStatus>()
                    .map_err(|e| RuleError::from(crate::status::StatusError::from(e)))?
                {
                    ChargeStatus::Pending => {
                        return Err(RuleError::ChargeNotSettled { charge: id }.into());
                    }
                    ChargeStatus::Invoiced => {
                        return Err(RuleError::AlreadyInvoiced { charge: id }.into());
                    }
                    ChargeStatus::Settled => {}
                }
                total = total
                    .checked_add(charge.amount)
                    .ok_or_else(|| RuleError::invalid("charges", "total too large"))?;
            }
            let header = tx.new_header(RecordKind::Invoice, &who)?;
            let issued = tx.issue_number(Series::Invoice, header.id, &who)?;
            let invoice = Invoice {
                header,
                number: issued.number,
                series: Series::Invoice.name().to_owned(),
                range_id: issued.range_id.clone(),
                charges: charges.clone(),
                total,
                void_reason: None,
                status_log: StatusLog::starting(InvoiceStatus::Issued, tx.stamp(&who)),
                his_id: None,
            };
            tx.create(&invoice, &who, "invoice.issue")?;
            let stamp = tx.stamp(&who);
            for &id in &charges {
                tx.edit(id, &who, "charge.invoice", |t| {
                    put_stamp(t, ChargeStatus::Invoiced.name(), &stamp)
                })?;
            }
            Ok(Saved {
                value: invoice,
                warnings: Warning::from_issued(&issued).into_iter().collect(),
            })
        })
    }

    /// Voids an invoice. Its number is recorded voided in the ledger and never reused.
    pub fn void_invoice(
        &self,
        who: &Operator,
        id: RecordId,
        reason: &str,
    ) -> Result<Saved<Invoice>, WriteError> {
        permit(who, RecordKind::Invoice, "void invoices")?;
        check_text("reason", reason, true)?;
        let (who, reason) = (who.clone(), reason.to_owned());
        self.write(move |tx| {
            let invoice: Invoice = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Invoice, id, invoice.his_id.as_ref())?;
            invoice
                .status_log
                .check_move(InvoiceStatus::Voided)
                .map_err(RuleError::from)?;
            tx.void_issued(Series::Invoice, invoice.number, id, &reason, &who)?;
            let stamp = tx.stamp(&who);
            tx.edit(id, &who, "invoice.void", |t| {
                set_field(t, "void_reason", Some(reason.as_str()))?;
                put_stamp(t, InvoiceStatus::Voided.name(), &stamp)
            })?;
            Ok(Saved::new(tx.read(id)?))
        })
    }
}
