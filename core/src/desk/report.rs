//! Reports. The daily cashier summary refuses to run on a node in emergency mode, whose data
//! is incomplete by nature, unless asked explicitly; then it is stamped incomplete.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::WriteError;
use crate::clock::Date;
use crate::id::{EpisodeId, OperatorName};
use crate::money::Fen;
use crate::record::{Charge, Invoice, PaymentMethod, RecordKind};
use crate::rules::RuleError;
use crate::status::{ChargeStatus, InvoiceStatus, Status};
use crate::store::{ReadError, Store};

/// Whether to run a report on a node in emergency mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportMode {
    /// Refuse in emergency mode.
    Complete,
    /// Run anyway, stamped incomplete.
    AllowIncomplete,
}

/// One cashier's day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CashierLine {
    pub operator: String,
    pub charges_settled: u64,
    pub insurance: Fen,
    pub self_pay: Fen,
    /// Insurance charges paid as self-pay, awaiting re-settlement.
    pub awaiting_resettlement: u64,
    pub invoices_issued: u64,
    pub invoices_voided: u64,
    pub invoiced_total: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CashierSummary {
    pub date: Date,
    pub node: String,
    pub lines: Vec<CashierLine>,
    pub total_settled: Fen,
    /// Set when the report was run in emergency mode: its figures are incomplete.
    pub incomplete: Option<EpisodeId>,
}

fn add(a: Fen, b: Fen) -> Fen {
    a.checked_add(b).unwrap_or(Fen(i64::MAX))
}

fn line<'a>(
    lines: &'a mut BTreeMap<OperatorName, CashierLine>,
    op: &OperatorName,
) -> &'a mut CashierLine {
    lines.entry(op.clone()).or_insert_with(|| CashierLine {
        operator: op.to_string(),
        ..CashierLine::default()
    })
}

impl Store {
    /// The cashier summary for one day (hospital time), per operator who settled.
    pub fn cashier_summary(
        &self,
        date: Date,
        mode: ReportMode,
    ) -> Result<CashierSummary, WriteError> {
        let episode = self.episode()?;
        if let (Some(episode), ReportMode::Complete) = (&episode, mode) {
            return Err(RuleError::ReportInEmergency {
                episode: episode.clone(),
            }
            .into());
        }
        Ok(self.summarize(date, episode)?)
    }

    fn summarize(
        &self,
        date: Date,
        incomplete: Option<EpisodeId>,
    ) -> Result<CashierSummary, ReadError> {
        let offset = self.options().utc_offset_min;
        let on_day = |ms: i64| Date::at(ms, offset) == date;
        let day_start = date.days_since_epoch() * 86_400_000 - i64::from(offset) * 60_000;
        let mut lines: BTreeMap<OperatorName, CashierLine> = BTreeMap::new();
        // Records settled on the day were created on the day or before; a week back is
        // enough for charges settled late.
        let since = day_start - 7 * 86_400_000;
        for id in self.ids_of_kind_since(RecordKind::Charge, since)? {
            let Some(charge) = self.get::<Charge>(id)? else {
                continue;
            };
            let Some(settled) = charge.status_log.reached(ChargeStatus::Settled) else {
                continue;
            };
            if !on_day(settled.at_ms) {
                continue;
            }
            let l = line(&mut lines, &settled.operator);
            l.charges_settled += 1;
            match charge.payment {
                Some(PaymentMethod::Insurance) => l.insurance = add(l.insurance, charge.amount),
                _ => l.self_pay = add(l.self_pay, charge.amount),
            }
            if charge.resettle_due.is_some() && charge.resettled.is_none() {
                l.awaiting_resettlement += 1;
            }
        }
        for id in self.ids_of_kind_since(RecordKind::Invoice, since)? {
            let Some(invoice) = self.get::<Invoice>(id)? else {
                continue;
            };
            if let Some(issued) = invoice.status_log.reached(InvoiceStatus::Issued)
                && on_day(issued.at_ms)
            {
                let l = line(&mut lines, &issued.operator);
                l.invoices_issued += 1;
                l.invoiced_total = add(l.invoiced_total, invoice.total);
            }
            if let Some(voided) = invoice.status_log.0.get(InvoiceStatus::Voided.name())
                && on_day(voided.at_ms)
            {
                line(&mut lines, &voided.operator).invoices_voided += 1;
            }
        }
        let lines: Vec<CashierLine> = lines.into_values().collect();
        let total_settled = lines
            .iter()
            .fold(Fen::ZERO, |t, l| add(t, add(l.insurance, l.self_pay)));
        Ok(CashierSummary {
            date,
            node: self.node().to_string(),
            lines,
            total_settled,
            incomplete,
        })
    }
}
