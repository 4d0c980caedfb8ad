//! Today's invoices and charges from the HIS. Each HIS charge row (one item) is one Lifeline
//! charge of one line, paid through the channel the HIS names; a charge on an HIS invoice is
//! covered by it (`Charge::invoice`, and the invoice's charges). Pull invoices before
//! charges, so that the charges find them.

use automerge::transaction::Transaction;

use super::{ImportOutcome, Upsert, catalog_item, department, existing, referred};
use crate::WriteError;
use crate::clock::UnixMs;
use crate::desk::set_field;
use crate::money::Fen;
use crate::record::{
    CatalogKind, Charge, ChargeLine, ChargeSource, Invoice, PaymentChannel, PaymentMethod,
    PaymentPart, RecordKind, Visit,
};
use crate::roles::Operator;
use crate::status::{ChargeStatus, InvoiceStatus};
use crate::store::Tx;

/// The range every HIS invoice is filed under in Lifeline (its numbers are the HIS's, not
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
    /// Pending, settled or refunded (on an invoice: settled, and covered by it).
    pub status: ChargeStatus,
    /// How it was paid (settled charges).
    pub channel: Option<PaymentChannel>,
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
    pub code: String,
    pub total: Fen,
    pub voided: bool,
    pub issued_ms: UnixMs,
    pub updated_ms: UnixMs,
}

fn charge_states(status: ChargeStatus) -> Vec<ChargeStatus> {
    use ChargeStatus as C;
    match status {
        C::Pending => vec![C::Pending],
        C::Settled | C::Invoiced => vec![C::Pending, C::Settled],
        C::Refunded => vec![C::Pending, C::Settled, C::Refunded],
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

pub(super) fn import_invoice(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    row: &HisInvoice,
    outcome: &mut ImportOutcome,
) -> Result<(), WriteError> {
    if let Err(reason) = super::text_ok("invoice_code", &row.code, true) {
        outcome.skip(&row.his_id, reason);
        return Ok(());
    }
    let void_reason = row.voided.then(|| VOIDED_IN_HIS.to_owned());
    let code = Some(row.code.clone());
    let (_, change) = Upsert {
        his_id: &row.his_id,
        fresh: |tx: &Tx<'_, '_>, status_log| Invoice {
            header: tx.his_header(RecordKind::Invoice, row.issued_ms, who),
            number: row.number,
            series: HIS_INVOICE_RANGE.to_owned(),
            range_id: HIS_INVOICE_RANGE.to_owned(),
            code: code.clone(),
            charges: Vec::new(),
            total: row.total,
            resettlement: None,
            void_reason: void_reason.clone(),
            status_log,
            his_id: Some(row.his_id.clone()),
        },
        differs: |inv: &Invoice| {
            inv.number != row.number
                || inv.code != code
                || inv.total != row.total
                || (row.voided && inv.void_reason.is_none())
        },
        write: |t: &mut Transaction<'_>| {
            set_field(t, "number", row.number)?;
            set_field(t, "code", &code)?;
            set_field(t, "total", row.total)?;
            if row.voided {
                set_field(t, "void_reason", &void_reason)?;
            }
            Ok(())
        },
        states: invoice_states(row.voided),
        stamp: tx.his_stamp(row.updated_ms, who),
    }
    .run(tx, who)?;
    outcome.count(change);
    Ok(())
}

/// The name, unit price and catalog version of a charged item, or why not.
fn priced(
    tx: &mut Tx<'_, '_>,
    catalog: CatalogKind,
    code: &str,
) -> Result<Result<(String, Fen, u64), String>, WriteError> {
    Ok(match catalog {
        CatalogKind::Drug | CatalogKind::Service => {
            catalog_item(tx, catalog, code)?.map(|p| (p.name, p.price, p.catalog_version))
        }
        CatalogKind::Department => {
            department(tx, code)?.map(|(d, v)| (d.name_zh, d.registration_fee, v))
        }
    })
}

pub(super) fn import_charge(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    row: &HisCharge,
    outcome: &mut ImportOutcome,
) -> Result<(), WriteError> {
    let Some(visit) =
        referred::<Visit>(tx, outcome, &row.his_id, "registration", &row.visit_his_id)?
    else {
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
    let method = |c: PaymentChannel| {
        if c.is_insurance() {
            PaymentMethod::Insurance
        } else {
            PaymentMethod::SelfPay
        }
    };
    let requested = row.channel.map_or(PaymentMethod::SelfPay, method);
    let settled = row.status != ChargeStatus::Pending;
    let payment = settled.then_some(requested);
    let payments: Vec<PaymentPart> = match (settled, row.channel) {
        (true, Some(channel)) => vec![PaymentPart {
            channel,
            amount: row.amount,
        }],
        _ => Vec::new(),
    };
    let invoice_id = invoice.as_ref().map(|i| i.header.id);
    let (visit_id, patient) = (visit.header.id, visit.patient);
    let (id, mut change) = Upsert {
        his_id: &row.his_id,
        fresh: |tx: &Tx<'_, '_>, status_log| Charge {
            header: tx.his_header(RecordKind::Charge, row.charged_ms, who),
            visit: visit_id,
            patient,
            lines: vec![line.clone()],
            amount: row.amount,
            requested_payment: requested,
            payment,
            payments: payments.clone(),
            resettle_due: None,
            resettle_after: None,
            resettled: None,
            source: ChargeSource::Desk,
            prescription: None,
            invoice: invoice_id,
            refund: None,
            status_log,
            his_id: Some(row.his_id.clone()),
        },
        // As for prescriptions, a price or version change in the catalog alone does not
        // rewrite a charge: only what the HIS row says (item, quantity, amount) does.
        differs: |c: &Charge| {
            c.visit != visit_id
                || c.lines.len() != 1
                || c.lines.iter().any(|l| {
                    l.catalog != line.catalog
                        || l.code != line.code
                        || l.quantity != line.quantity
                        || l.amount != line.amount
                })
                || c.requested_payment != requested
                || (payment.is_some() && c.payment.is_none())
                || (invoice_id.is_some() && c.invoice != invoice_id)
        },
        write: |t: &mut Transaction<'_>| {
            set_field(t, "visit", visit_id)?;
            set_field(t, "patient", patient)?;
            set_field(t, "lines", vec![&line])?;
            set_field(t, "amount", row.amount)?;
            set_field(t, "requested_payment", requested)?;
            if payment.is_some() {
                set_field(t, "payment", payment)?;
                set_field(t, "payments", &payments)?;
            }
            if invoice_id.is_some() {
                set_field(t, "invoice", invoice_id)?;
            }
            Ok(())
        },
        states: charge_states(row.status),
        stamp: tx.his_stamp(row.updated_ms, who),
    }
    .run(tx, who)?;
    if let Some(invoice) = invoice
        && !invoice.charges.contains(&id)
    {
        let mut charges = invoice.charges.clone();
        charges.push(id);
        tx.edit(invoice.header.id, who, super::PULL_ACTION, |t| {
            set_field(t, "charges", &charges)
        })?;
        if change == super::Change::Unchanged {
            change = super::Change::Updated;
        }
    }
    outcome.count(change);
    Ok(())
}
