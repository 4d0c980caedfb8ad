//! Today's invoices and charges from the HIS. Each HIS charge row (one item) is one Lifeline
//! charge of one line; a charge on an HIS invoice is added to that invoice's charges. Pull
//! invoices before charges, so that the charges find them.

use super::{
    Change, ImportOutcome, PULL_ACTION, add_states, catalog_entry, existing, import_page, log_of,
};
use crate::WriteError;
use crate::clock::UnixMs;
use crate::desk::set_field;
use crate::money::Fen;
use crate::record::{
    CatalogKind, Charge, ChargeLine, Drug, Invoice, PaymentMethod, RecordKind, Service, Visit,
};
use crate::roles::Operator;
use crate::status::{ChargeStatus, InvoiceStatus};
use crate::store::{Store, Tx};

/// The series every HIS invoice is filed under in Lifeline (its numbers are the HIS's, not
/// from Lifeline's leased ranges).
pub const HIS_INVOICE_RANGE: &str = "his";

/// A charge as the HIS holds it (one item), mapped to Lifeline's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HisCharge {
    pub his_id: String,
    pub visit_his_id: String,
    pub catalog: CatalogKind,
    pub code: String,
    pub quantity: u32,
    /// What the HIS charged, exactly.
    pub amount: Fen,
    pub status: ChargeStatus,
    pub payment: PaymentMethod,
    /// The HIS key of the invoice it is on.
    pub invoice_his_id: Option<String>,
    pub charged_ms: UnixMs,
    pub updated_ms: UnixMs,
}

/// An invoice as the HIS holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HisInvoice {
    pub his_id: String,
    /// The printed number.
    pub number: u64,
    /// The invoice code printed on the stock.
    pub series: String,
    pub total: Fen,
    pub voided: bool,
    pub issued_ms: UnixMs,
    pub updated_ms: UnixMs,
}

fn charge_states(status: ChargeStatus) -> Vec<ChargeStatus> {
    use ChargeStatus as C;
    match status {
        C::Pending => vec![C::Pending],
        C::Settled => vec![C::Pending, C::Settled],
        C::Invoiced => vec![C::Pending, C::Settled, C::Invoiced],
    }
}

fn invoice_states(voided: bool) -> Vec<InvoiceStatus> {
    if voided {
        vec![InvoiceStatus::Issued, InvoiceStatus::Voided]
    } else {
        vec![InvoiceStatus::Issued]
    }
}

const VOIDED_IN_HIS: &str = "voided in the HIS";

impl Store {
    /// Upserts one page of HIS invoices in one commit.
    pub fn import_his_invoices(
        &self,
        who: &Operator,
        rows: Vec<HisInvoice>,
    ) -> Result<ImportOutcome, WriteError> {
        import_page(self, who, rows, import_invoice)
    }

    /// Upserts one page of HIS charges in one commit; each joins its invoice's charges.
    pub fn import_his_charges(
        &self,
        who: &Operator,
        rows: Vec<HisCharge>,
    ) -> Result<ImportOutcome, WriteError> {
        import_page(self, who, rows, import_charge)
    }
}

fn import_invoice(
    tx: &mut Tx<'_>,
    who: &Operator,
    row: &HisInvoice,
    outcome: &mut ImportOutcome,
) -> Result<(), WriteError> {
    if let Err(reason) = super::text_ok("invoice_code", &row.series, true) {
        outcome.skip(&row.his_id, reason);
        return Ok(());
    }
    let stamp = tx.his_stamp(row.updated_ms, who);
    let states = invoice_states(row.voided);
    let void_reason = row.voided.then(|| VOIDED_IN_HIS.to_owned());
    let Some(current) = existing::<Invoice>(tx, &row.his_id)? else {
        let invoice = Invoice {
            header: tx.his_header(RecordKind::Invoice, row.issued_ms, who),
            number: row.number,
            series: row.series.clone(),
            range_id: HIS_INVOICE_RANGE.to_owned(),
            charges: Vec::new(),
            total: row.total,
            void_reason,
            status_log: log_of(&states, &stamp),
            his_id: Some(row.his_id.clone()),
        };
        tx.create(&invoice, who, PULL_ACTION)?;
        outcome.count(Change::Created);
        return Ok(());
    };
    let id = current.header.id;
    let fields_changed = current.number != row.number
        || current.series != row.series
        || current.total != row.total
        || (row.voided && current.void_reason.is_none());
    if fields_changed {
        tx.edit(id, who, PULL_ACTION, |t| {
            set_field(t, "number", row.number)?;
            set_field(t, "series", &row.series)?;
            set_field(t, "total", row.total)?;
            if row.voided && current.void_reason.is_none() {
                set_field(t, "void_reason", &void_reason)?;
            }
            Ok(())
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

/// The name, unit price and catalog version of a charged item, or why not.
fn priced(
    tx: &mut Tx<'_>,
    catalog: CatalogKind,
    code: &str,
) -> Result<Result<(String, Fen, u64), String>, WriteError> {
    Ok(match catalog {
        CatalogKind::Drug => {
            catalog_entry::<Drug>(tx, catalog, "drugs", code)?.map(|(d, v)| (d.name_zh, d.price, v))
        }
        CatalogKind::Service => catalog_entry::<Service>(tx, catalog, "services", code)?
            .map(|(s, v)| (s.name_zh, s.price, v)),
    })
}

fn import_charge(
    tx: &mut Tx<'_>,
    who: &Operator,
    row: &HisCharge,
    outcome: &mut ImportOutcome,
) -> Result<(), WriteError> {
    let Some(visit) = existing::<Visit>(tx, &row.visit_his_id)? else {
        outcome.skip(
            &row.his_id,
            format!("registration {} is not in Lifeline (yet)", row.visit_his_id),
        );
        return Ok(());
    };
    if row.amount < Fen::ZERO {
        outcome.skip(&row.his_id, format!("a negative amount ({})", row.amount));
        return Ok(());
    }
    let (name, unit_price, version) = match priced(tx, row.catalog, &row.code)? {
        Ok(p) => p,
        Err(reason) => {
            outcome.skip(&row.his_id, reason);
            return Ok(());
        }
    };
    let invoice = match &row.invoice_his_id {
        Some(inv) => existing::<Invoice>(tx, inv)?,
        None => None,
    };
    let line = ChargeLine {
        catalog: row.catalog,
        code: row.code.clone(),
        name,
        quantity: row.quantity,
        unit_price,
        amount: row.amount,
        catalog_version: version,
    };
    let payment = (row.status != ChargeStatus::Pending).then_some(row.payment);
    let stamp = tx.his_stamp(row.updated_ms, who);
    let states = charge_states(row.status);
    let (id, change) = match existing::<Charge>(tx, &row.his_id)? {
        None => {
            let charge = Charge {
                header: tx.his_header(RecordKind::Charge, row.charged_ms, who),
                visit: visit.header.id,
                patient: visit.patient,
                lines: vec![line],
                amount: row.amount,
                requested_payment: row.payment,
                payment,
                resettle_due: None,
                resettled: None,
                status_log: log_of(&states, &stamp),
                his_id: Some(row.his_id.clone()),
            };
            tx.create(&charge, who, PULL_ACTION)?;
            (charge.header.id, Change::Created)
        }
        Some(current) => {
            let id = current.header.id;
            let same_line = current.lines.len() == 1
                && current.lines[0].catalog == line.catalog
                && current.lines[0].code == line.code
                && current.lines[0].quantity == line.quantity
                && current.lines[0].amount == line.amount;
            let fields_changed = !same_line
                || current.visit != visit.header.id
                || current.amount != row.amount
                || current.requested_payment != row.payment
                || (payment.is_some() && current.payment.is_none());
            if fields_changed {
                tx.edit(id, who, PULL_ACTION, |t| {
                    set_field(t, "visit", visit.header.id)?;
                    set_field(t, "patient", visit.patient)?;
                    set_field(t, "lines", vec![&line])?;
                    set_field(t, "amount", row.amount)?;
                    set_field(t, "requested_payment", row.payment)?;
                    if payment.is_some() && current.payment.is_none() {
                        set_field(t, "payment", payment)?;
                    }
                    Ok(())
                })?;
            }
            let moved = add_states(tx, who, id, &current.status_log, &states, &stamp)?;
            let change = if fields_changed || moved {
                Change::Updated
            } else {
                Change::Unchanged
            };
            (id, change)
        }
    };
    let mut change = change;
    if let Some(invoice) = invoice
        && !invoice.charges.contains(&id)
    {
        let mut charges = invoice.charges.clone();
        charges.push(id);
        tx.edit(invoice.header.id, who, PULL_ACTION, |t| {
            set_field(t, "charges", &charges)
        })?;
        if change == Change::Unchanged {
            change = Change::Updated;
        }
    }
    outcome.count(change);
    Ok(())
}
