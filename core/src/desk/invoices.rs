//! Invoices: numbered from the cashier's own range, carrying the invoice code of the stock
//! the cashier confirmed at the start of the shift. Voiding one with a reason records its
//! number voided (never reused) and releases its charges for a new invoice.

use super::{Saved, Warning, permit, set_field};
use crate::WriteError;
use crate::id::RecordId;
use crate::money::Fen;
use crate::numbers::Series;
use crate::record::{Charge, Invoice, RecordKind};
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::status::{ChargeStatus, InvoiceStatus, Status, StatusError, StatusLog};
use crate::store::{Store, Tx, put_stamp};

use super::billing::MAX_LINES;

impl Tx<'_, '_> {
    /// Creates an invoice numbered from `who`'s range, under a header made for it.
    pub(crate) fn create_invoice(
        &mut self,
        who: &Operator,
        header: crate::record::Header,
        charges: Vec<RecordId>,
        total: Fen,
        resettlement: Option<RecordId>,
    ) -> Result<Saved<Invoice>, WriteError> {
        let issued = self.issue_number(Series::Invoice, header.id, who)?;
        let invoice = Invoice {
            header,
            number: issued.number,
            series: Series::Invoice.name().to_owned(),
            range_id: issued.range_id.clone(),
            code: issued.code.clone(),
            charges,
            total,
            resettlement,
            void_reason: None,
            status_log: StatusLog::starting(InvoiceStatus::Issued, self.stamp(who)),
            his_id: None,
        };
        self.create(&invoice, who, "invoice.issue")?;
        Ok(Saved {
            value: invoice,
            warnings: Warning::from_issued(&issued).into_iter().collect(),
        })
    }

    /// Invoices settled `charges` under `header` (checked as [`Store::issue_invoice`] says):
    /// the invoice numbered from `who`'s range, each charge marked as on it.
    pub(crate) fn invoice_charges(
        &mut self,
        who: &Operator,
        header: crate::record::Header,
        charges: Vec<RecordId>,
    ) -> Result<Saved<Invoice>, WriteError> {
        let mut total = Fen::ZERO;
        for &id in &charges {
            let charge: Charge = self.read(id)?;
            crate::import::check_writable(self, RecordKind::Charge, id, charge.his_id.as_ref())?;
            let status = charge
                .status_log
                .current::<ChargeStatus>()
                .map_err(|e| RuleError::from(StatusError::from(e)))?;
            match status {
                ChargeStatus::Pending => {
                    return Err(RuleError::ChargeNotSettled { charge: id }.into());
                }
                ChargeStatus::Refunded => {
                    return Err(RuleError::AlreadyRefunded { charge: id }.into());
                }
                // Written before voids released charges: invoiced for good.
                ChargeStatus::Invoiced => {
                    return Err(RuleError::AlreadyInvoiced { charge: id }.into());
                }
                ChargeStatus::Settled => {}
            }
            if charge.invoice.is_some() {
                return Err(RuleError::AlreadyInvoiced { charge: id }.into());
            }
            total = total
                .checked_add(charge.amount)
                .ok_or_else(|| RuleError::invalid("charges", "total too large"))?;
        }
        let saved = self.create_invoice(who, header, charges.clone(), total, None)?;
        let invoice_id = saved.value.header.id;
        for &id in &charges {
            self.edit(id, who, "charge.invoice", |t| {
                set_field(t, "invoice", Some(invoice_id))
            })?;
        }
        Ok(saved)
    }
}

impl Store {
    /// Issues an invoice for settled charges, numbered from the cashier's confirmed range.
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
            let header = tx.new_header(RecordKind::Invoice, &who)?;
            tx.invoice_charges(&who, header, charges)
        })
    }

    /// Voids an invoice with a reason. Its number is recorded voided in the ledger and never
    /// reused; the charges it covered are released, to go on a new invoice.
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
            for &charge in &invoice.charges {
                let covered: Charge = tx.read(charge)?;
                if covered.invoice == Some(id) {
                    tx.edit(charge, &who, "charge.release", |t| {
                        set_field(t, "invoice", None::<RecordId>)
                    })?;
                }
            }
            Ok(Saved::new(tx.read(id)?))
        })
    }
}
