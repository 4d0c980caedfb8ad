//! The number-range ledger in the store: issuing and voiding numbers from the ranges a node
//! holds. Invoice numbers come from the cashier's own ranges, confirmed at the start of the
//! shift ([`super::shift`]); leasing is in [`super::leasing`], the range report in
//! [`super::range_report`].

use super::Saved;
use crate::WriteError;
use crate::clock::Date;
use crate::id::RecordId;
use crate::numbers::{IssuedNumber, NumberError, NumberUse, RangeState, Series, next_number};
use crate::record::Spoiled;
use crate::roles::Operator;
use crate::rules::RuleError;
use crate::store::audit_event;
use crate::store::{AbortCause, ReadError, Store, Tx};

impl Tx<'_, '_> {
    /// The ranges `who` numbers from in a series, as of this batch: for invoices the
    /// cashier's own ranges (refused unless the cashier confirmed the stock in hand today),
    /// for emergency registration numbers the node's.
    pub(crate) fn ranges_for(
        &self,
        series: Series,
        who: &Operator,
    ) -> Result<Vec<RangeState>, WriteError> {
        let node = self.node().clone();
        let mut ranges: Vec<RangeState> = self
            .ranges()?
            .into_iter()
            .filter(|r| r.range.series == series && r.range.holder == node)
            .collect();
        if series != Series::Invoice {
            return Ok(ranges);
        }
        // A free range the node holds (leased for no cashier, unused): the next cashier to
        // start a shift takes it.
        let free = ranges
            .iter()
            .any(|r| r.range.operator.is_none() && r.next == r.range.start);
        ranges.retain(|r| r.range.operator.as_ref() == Some(&who.name));
        ranges.sort_by_key(|r| r.range.start);
        let Some(current) = ranges.iter().find(|r| r.remaining() > 0) else {
            // The cashier has no range with numbers left: with a free one here, the cashier
            // starts a shift on its stock (a range used up, or retired with a restore, is not
            // the end of invoicing while the node holds another).
            if ranges.is_empty() || free {
                return Err(RuleError::from(NumberError::NoCashierRange {
                    operator: who.name.clone(),
                })
                .into());
            }
            return Ok(ranges);
        };
        let offset = self.opts().utc_offset_min;
        let today = Date::at(self.now_ms(), offset);
        let confirmed_today = current
            .confirmed
            .as_ref()
            .is_some_and(|c| Date::at(c.at_ms, offset) == today);
        if !confirmed_today {
            return Err(RuleError::from(NumberError::ShiftNotConfirmed {
                operator: who.name.clone(),
                range: current.range.id.clone(),
            })
            .into());
        }
        Ok(ranges)
    }

    /// Hands out the next number of a series to `record`, from `who`'s ranges. Fails with
    /// nothing written when they are used up.
    pub(crate) fn issue_number(
        &mut self,
        series: Series,
        record: RecordId,
        who: &Operator,
    ) -> Result<IssuedNumber, WriteError> {
        let mut ranges = self.ranges_for(series, who)?;
        let (idx, number) = next_number(series, &mut ranges).map_err(RuleError::from)?;
        if let Some(existing) = self.number_use(series, number)? {
            // The cursor and the ledger disagree: never hand a number out twice.
            return Err(WriteError::Aborted {
                cause: AbortCause::NumberInLedger {
                    series,
                    number,
                    existing,
                },
            });
        }
        let state = ranges[idx].clone();
        let remaining: u64 = ranges.iter().map(RangeState::remaining).sum();
        self.put_range(&state)?;
        let used = NumberUse::Issued {
            record,
            operator: who.name.clone(),
            at_ms: self.now_ms(),
        };
        self.put_number(series, number, &used)?;
        let low_water = remaining <= self.opts().low_water;
        if low_water {
            tracing::warn!(%series, remaining, "number range low-water mark reached: lease another range");
        }
        Ok(IssuedNumber {
            series,
            number,
            range_id: state.range.id,
            remaining_in_series: remaining,
            low_water,
            code: state.range.code,
        })
    }

    /// Records a number as spoiled without a record: in the ledger, and on the range's lease
    /// record so that every node's range report accounts for it.
    pub(crate) fn spoil_number(
        &mut self,
        state: &RangeState,
        number: u64,
        reason: &str,
        who: &Operator,
    ) -> Result<(), WriteError> {
        let series = state.range.series;
        let used = NumberUse::Voided {
            record: None,
            reason: reason.to_owned(),
            operator: who.name.clone(),
            at_ms: self.now_ms(),
        };
        self.put_number(series, number, &used)?;
        if let Some(lease) = state.lease_record
            && self.doc(lease)?.is_some()
        {
            let spoiled = Spoiled {
                reason: reason.to_owned(),
                operator: who.name.clone(),
                at_ms: self.now_ms(),
            };
            let key = number.to_string();
            self.edit(lease, who, "number.void", |t| {
                let map = crate::store::put_map(t, "spoiled")?;
                autosurgeon::reconcile_prop(t, map, key.as_str(), &spoiled)
                    .map_err(|e| WriteError::document("spoiled", e))
            })?;
        }
        self.audit(audit_event(
            who,
            "number.void",
            None,
            Some(format!("{series} {number}: {reason}")),
        ))?;
        Ok(())
    }

    /// Marks an issued number voided (its record was voided). Numbers held by another node
    /// are voided on their record only.
    pub(crate) fn void_issued(
        &mut self,
        series: Series,
        number: u64,
        record: RecordId,
        reason: &str,
        who: &Operator,
    ) -> Result<(), WriteError> {
        match self.number_use(series, number)? {
            Some(NumberUse::Issued { .. }) => {
                let used = NumberUse::Voided {
                    record: Some(record),
                    reason: reason.to_owned(),
                    operator: who.name.clone(),
                    at_ms: self.now_ms(),
                };
                self.put_number(series, number, &used)?;
                Ok(())
            }
            Some(NumberUse::Voided { .. }) => {
                Err(RuleError::from(NumberError::AlreadyVoided { series, number }).into())
            }
            None => Ok(()),
        }
    }
}

impl Store {
    /// voided and never handed out.
    pub fn void_next_number(
        &self,
        who: &Operator,
        series: Series,
        reason: &str,
    ) -> Result<Saved<u64>, WriteError> {
        crate::rules::check_text("reason", reason, true)?;
        let (who, reason) = (who.clone(), reason.to_owned());
        self.write(move |tx| {
            let mut ranges = tx.ranges_for(series, &who)?;
            let (idx, number) = next_number(series, &mut ranges).map_err(RuleError::from)?;
            tx.put_range(&ranges[idx])?;
            tx.spoil_number(&ranges[idx], number, &reason, &who)?;
            Ok(Saved::new(number))
        })
    }

    /// Numbers left on this node in a series.
    pub fn numbers_left(&self, series: Series) -> Result<u64, ReadError> {
        Ok(self
            .ranges()?
            .iter()
            .filter(|r| r.range.series == series && &r.range.holder == self.node())
            .map(RangeState::remaining)
            .sum())
    }
}
