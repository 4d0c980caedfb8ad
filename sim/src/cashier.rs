//! A window's cashier, in store-backed runs with housekeeping (the nodes that keep numbers):
//! now and then it invoices one to three settled charges the window holds, numbered at the
//! commit from the cashier's invoice range (leased by housekeeping like the emergency
//! registration ranges, and made the cashier's by its shift start), or voids an issued
//! invoice, its number recorded voided and its charges released. The first invoice of a
//! shift starts the shift as the desk does: the cashier confirms the stock in hand, which one
//! time in ten starts a few numbers further on (those recorded voided, "not in the stock").
//!
//! Half the charges are to be paid by the insurance; one settled in an episode is settled at
//! the desk as the store does it (`Backing::settle`), as self-pay, the insurance link being
//! down with the HIS: the recovery worklist then lists it to re-settle (`worklist`).
//!
//! After the run (`numbers_accounted`, with [`crate::numbers`]): the range reports account
//! for every invoice number as for every registration number, and every invoice carries a
//! number of an invoice range leased to the window that issued it.

use lifeline_core::RecordId;
use lifeline_core::numbers::{RangeReport, Series};
use lifeline_core::record::{Charge, Invoice};
use lifeline_core::status::{ChargeStatus, InvoiceStatus};

use crate::backing::Backing;
use crate::sim::{Sim, Storage};
use crate::work::{Job, Kind};

/// Chance that a cashier's turn voids an issued invoice.
const VOID: f64 = 0.15;
/// Chance that a cashier's turn (not a void) invoices charges.
const INVOICE: f64 = 0.8;
/// Most charges on one invoice here.
const MOST_CHARGES: usize = 3;

impl<R: Backing> Sim<R> {
    /// Whether the cashiers work in this run: its nodes keep numbers.
    fn cashiers_work(&self) -> bool {
        self.cfg.storage == Storage::Redb && self.cfg.housekeeping
    }

    /// The cashier's turn at `node` (a window), if it does something.
    pub(crate) fn cashier_job(&mut self, node: usize) -> Option<Job> {
        if node < 2 || !self.cashiers_work() {
            return None;
        }
        if self.work_rng.chance(VOID)
            && let Some(id) = self.issued_invoice(node)
        {
            return Some(Job::Void { id });
        }
        if !self.work_rng.chance(INVOICE) {
            return None;
        }
        let charges = self.charges_to_invoice(node);
        if charges.is_empty() {
            return None;
        }
        let skip = if self.work_rng.chance(0.1) {
            self.work_rng.range(1, 3)
        } else {
            0
        };
        Some(Job::Invoice {
            header: Box::new(self.header(node, Kind::Invoice)),
            charges,
            skip,
        })
    }

    /// Settled charges `node` holds on no invoice (a few picks).
    fn charges_to_invoice(&mut self, node: usize) -> Vec<RecordId> {
        let want = self.work_rng.range(1, MOST_CHARGES as u64) as usize;
        let mut found = Vec::new();
        for _ in 0..4 * MOST_CHARGES {
            let Some(charge) = self.held::<Charge>(node, Kind::Charge) else {
                break;
            };
            let settled =
                charge.status_log.current::<ChargeStatus>().ok() == Some(ChargeStatus::Settled);
            if settled && charge.invoice.is_none() && !found.contains(&charge.header.id) {
                found.push(charge.header.id);
                if found.len() == want {
                    break;
                }
            }
        }
        found
    }

    /// An issued (not voided) invoice `node` holds.
    fn issued_invoice(&mut self, node: usize) -> Option<RecordId> {
        let invoice = self.held::<Invoice>(node, Kind::Invoice)?;
        let issued =
            invoice.status_log.current::<InvoiceStatus>().ok() == Some(InvoiceStatus::Issued);
        issued.then_some(invoice.header.id)
    }

    /// The run's invoices issued and voided, for its report.
    pub(crate) fn count_invoices(&mut self) {
        self.faults.invoices_issued = self.ledger.records_of(Kind::Invoice).len() as u64;
        self.faults.invoices_voided = (self.ledger.acks.iter())
            .filter(|a| a.kind == Kind::Invoice && a.state.is_some())
            .count() as u64;
    }

    /// What is wrong with the invoices `replica` (at node `at`) holds: each must carry a
    /// number of an invoice range `hospital` shows leased to the window that issued it.
    pub(crate) fn misnumbered_invoices(
        &self,
        at: &str,
        replica: &R,
        hospital: &RangeReport,
    ) -> (u64, Vec<String>) {
        let mut checked = 0;
        let mut wrong = Vec::new();
        for c in self.created.iter().filter(|c| c.kind == Kind::Invoice) {
            let Ok(Some(invoice)) = replica.get::<Invoice>(c.id) else {
                continue;
            };
            checked += 1;
            let origin = self.name(c.node);
            let range = hospital.ranges.iter().find(|l| {
                l.series == Series::Invoice && (l.start..=l.end).contains(&invoice.number)
            });
            let fault = match range {
                None => "has a number of no invoice range leased",
                Some(l) if l.holder.as_str() != origin => "has a number of another node's range",
                Some(l) if l.range_id != invoice.range_id => {
                    "names another range than its number's"
                }
                Some(_) => continue,
            };
            wrong.push(format!(
                "{at}: invoice {} (issued at {origin}, number {}) {fault}",
                c.id, invoice.number
            ));
        }
        (checked, wrong)
    }
}
