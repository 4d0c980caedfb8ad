//! The cashier's daily summary, by payment channel.
//!
//! The plan: "请不要在应急系统中做报表,等正式数据库恢复,再做报表" (no reports in emergency
//! mode: wait for the system of record). The summary refuses to run on a node in emergency
//! mode, whose data is incomplete by nature, unless asked explicitly; then it is stamped
//! incomplete.
//!
//! A day's money is what was settled that day (by channel), less what was refunded that day,
//! plus what re-settlements moved that day (the insurance in, the self-pay given back). The
//! payment of a charge is never edited, so a day's summary stays what it was. A charge typed
//! in later from paper counts on the day written on the paper. Drill records are left out
//! (and counted apart).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::WriteError;
use crate::clock::Date;
use crate::id::{EpisodeId, OperatorName};
use crate::money::Fen;
use crate::record::{
    Charge, Header, Invoice, PaymentChannel, PaymentMethod, PaymentPart, Record, RecordKind,
    Refund, Resettlement,
};
use crate::rules::RuleError;
use crate::status::{ChargeStatus, InvoiceStatus};
use crate::store::{ReadError, Store};

/// Whether to run a report on a node in emergency mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportMode {
    /// Refuse in emergency mode.
    Complete,
    /// Run anyway, stamped incomplete.
    AllowIncomplete,
}

/// An amount through one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelAmount {
    pub channel: PaymentChannel,
    pub amount: Fen,
}

/// Amounts by payment channel, summed with overflow saturating (a report never panics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channels([Fen; PaymentChannel::ALL.len()]);

fn add(a: Fen, b: Fen) -> Fen {
    a.checked_add(b).unwrap_or(Fen(i64::MAX))
}

impl Channels {
    /// Adds each part's amount to its channel, times `sign`.
    pub fn add(&mut self, parts: &[PaymentPart], sign: i64) {
        for p in parts {
            let e = &mut self.0[p.channel.index()];
            *e = add(*e, Fen(p.amount.0.saturating_mul(sign)));
        }
    }

    /// Adds every amount of `other`, times `sign`.
    pub fn merge(&mut self, other: &Channels, sign: i64) {
        for (e, a) in self.0.iter_mut().zip(other.0) {
            *e = add(*e, Fen(a.0.saturating_mul(sign)));
        }
    }

    /// The channels with money, in the order of [`PaymentChannel::ALL`].
    pub fn list(&self) -> Vec<ChannelAmount> {
        PaymentChannel::ALL
            .into_iter()
            .zip(self.0)
            .filter(|(_, a)| a.0 != 0)
            .map(|(channel, amount)| ChannelAmount { channel, amount })
            .collect()
    }

    pub fn total(&self) -> Fen {
        self.0.iter().fold(Fen::ZERO, |t, a| add(t, *a))
    }
}

/// One cashier's day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashierLine {
    pub operator: String,
    pub charges_settled: u64,
    /// Settled that day through the insurance (the whole charge), and as self-pay.
    pub insurance: Fen,
    pub self_pay: Fen,
    /// Settled that day, by channel.
    pub collected: Vec<ChannelAmount>,
    /// Given back that day by refunds, by channel (positive amounts).
    pub refunded: Vec<ChannelAmount>,
    pub refunds: u64,
    /// Re-settlements that day: what the insurance paid, by channel.
    pub resettled: Vec<ChannelAmount>,
    /// Re-settlements that day: what went back to the patients, by channel.
    pub resettled_returned: Vec<ChannelAmount>,
    pub resettlements: u64,
    /// The day's net, by channel: collected − refunded + re-settled − returned.
    pub net: Vec<ChannelAmount>,
    pub net_total: Fen,
    /// Insurance charges paid as self-pay that day and not re-settled yet.
    pub awaiting_resettlement: u64,
    pub awaiting_resettlement_amount: Fen,
    pub invoices_issued: u64,
    pub invoices_voided: u64,
    pub invoiced_total: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashierSummary {
    pub date: Date,
    pub node: String,
    pub lines: Vec<CashierLine>,
    /// Every cashier's settlements that day, summed.
    pub total_settled: Fen,
    /// The day's net by channel, every cashier.
    pub by_channel: Vec<ChannelAmount>,
    pub net_total: Fen,
    /// Set when the report was run in emergency mode: its figures are incomplete.
    pub incomplete: Option<EpisodeId>,
    /// Records of drills that fell on the day, left out of every figure above.
    pub drill_records_left_out: u64,
}

#[derive(Debug, Default)]
struct Day {
    line: CashierLine,
    collected: Channels,
    refunded: Channels,
    resettled: Channels,
    returned: Channels,
}

fn day<'a>(days: &'a mut BTreeMap<OperatorName, Day>, op: &OperatorName) -> &'a mut Day {
    days.entry(op.clone()).or_insert_with(|| Day {
        line: CashierLine {
            operator: op.to_string(),
            ..CashierLine::default()
        },
        ..Day::default()
    })
}

impl Store {
    /// The records of a kind created since `since_ms` whose money moved on the day, drills
    /// left out and counted in `drill`.
    fn of_day<T: Record>(
        &self,
        since_ms: i64,
        on_day: &dyn Fn(&Header) -> bool,
        drill: &mut u64,
    ) -> Result<Vec<T>, ReadError> {
        let mut out = Vec::new();
        for id in self.ids_of_kind_since(T::KIND, since_ms)? {
            let Some(r) = self.get::<T>(id)? else {
                continue;
            };
            if !on_day(r.header()) {
                continue;
            }
            if r.header().is_drill() {
                *drill += 1;
                continue;
            }
            out.push(r);
        }
        Ok(out)
    }

    /// The cashier summary for one day (hospital time), per operator.
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
        // When a record's money moved: the time on the paper for a record typed in later.
        let when = |h: &Header, stamp_ms: i64| h.paper.map_or(stamp_ms, |p| p.occurred_ms);
        let day_start = date.start_ms(offset);
        let mut days: BTreeMap<OperatorName, Day> = BTreeMap::new();
        let mut drill = 0;
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
            if !on_day(when(&charge.header, settled.at_ms)) {
                continue;
            }
            if charge.header.is_drill() {
                drill += 1;
                continue;
            }
            let d = day(&mut days, &settled.operator);
            d.line.charges_settled += 1;
            match charge.payment {
                Some(PaymentMethod::Insurance) => {
                    d.line.insurance = add(d.line.insurance, charge.amount);
                }
                _ => d.line.self_pay = add(d.line.self_pay, charge.amount),
            }
            d.collected.add(&charge.payments, 1);
            if charge.awaits_resettlement() {
                d.line.awaiting_resettlement += 1;
                d.line.awaiting_resettlement_amount =
                    add(d.line.awaiting_resettlement_amount, charge.amount);
            }
        }
        let moved_on_day = |h: &Header| on_day(when(h, h.created_ms));
        for r in self.of_day::<Refund>(since, &moved_on_day, &mut drill)? {
            let d = day(&mut days, &r.header.operator);
            d.line.refunds += 1;
            d.refunded.add(&r.parts, 1);
        }
        for r in self.of_day::<Resettlement>(since, &moved_on_day, &mut drill)? {
            let d = day(&mut days, &r.header.operator);
            d.line.resettlements += 1;
            d.resettled.add(&r.parts, 1);
            d.returned.add(&r.returned, 1);
        }
        for id in self.ids_of_kind_since(RecordKind::Invoice, since)? {
            let Some(invoice) = self.get::<Invoice>(id)? else {
                continue;
            };
            if invoice.header.is_drill() {
                continue;
            }
            if let Some(issued) = invoice.status_log.reached(InvoiceStatus::Issued)
                && on_day(issued.at_ms)
            {
                let d = day(&mut days, &issued.operator);
                d.line.invoices_issued += 1;
                d.line.invoiced_total = add(d.line.invoiced_total, invoice.total);
            }
            if let Some(voided) = invoice.status_log.reached(InvoiceStatus::Voided)
                && on_day(voided.at_ms)
            {
                day(&mut days, &voided.operator).line.invoices_voided += 1;
            }
        }
        let mut all = Channels::default();
        let mut lines = Vec::with_capacity(days.len());
        for (_, d) in days {
            let mut net = d.collected.clone();
            net.merge(&d.refunded, -1);
            net.merge(&d.resettled, 1);
            net.merge(&d.returned, -1);
            all.merge(&net, 1);
            lines.push(CashierLine {
                collected: d.collected.list(),
                refunded: d.refunded.list(),
                resettled: d.resettled.list(),
                resettled_returned: d.returned.list(),
                net: net.list(),
                net_total: net.total(),
                ..d.line
            });
        }
        let total_settled = lines
            .iter()
            .fold(Fen::ZERO, |t, l| add(t, add(l.insurance, l.self_pay)));
        Ok(CashierSummary {
            date,
            node: self.node().to_string(),
            lines,
            total_settled,
            by_channel: all.list(),
            net_total: all.total(),
            incomplete,
            drill_records_left_out: drill,
        })
    }
}
