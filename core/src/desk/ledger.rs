//! The number-range ledger in the store: leasing (on a lessor), accepting leases, issuing and
//! voiding numbers, and the range report.

use std::collections::BTreeMap;

use super::Saved;
use crate::WriteError;
use crate::id::{NodeName, RecordId};
use crate::numbers::{
    Duplicate, IssuedNumber, MAX_LEASE, NumberError, NumberRange, NumberUse, RangeReport,
    RangeState, Series, next_number, range_line,
};
use crate::record::{Invoice, Lease, LeasedRange, RecordKind};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::store::audit_event;
use crate::store::{AbortCause, ReadError, Store, Tx};

/// Where a lessor's numbers start. Central and the standby lease from disjoint halves of the
/// number space, so that the standby acting as primary during an outage can never hand out a
/// range central also handed out.
pub fn lessor_base(role: NodeRole) -> u64 {
    match role {
        NodeRole::Standby => STANDBY_LESSOR_BASE,
        _ => 1,
    }
}

pub use crate::numbers::STANDBY_LESSOR_BASE;

fn check_lease_size(size: u64) -> Result<(), RuleError> {
    if size == 0 || size > MAX_LEASE {
        return Err(NumberError::BadLeaseSize {
            size,
            max: MAX_LEASE,
        }
        .into());
    }
    Ok(())
}

impl Tx<'_> {
    /// Hands out the next number of a series to `record`. Fails with nothing written when the
    /// node's ranges are used up.
    pub(crate) fn issue_number(
        &mut self,
        series: Series,
        record: RecordId,
        who: &Operator,
    ) -> Result<IssuedNumber, WriteError> {
        let mut ranges: Vec<RangeState> = self
            .ranges()?
            .into_iter()
            .filter(|r| r.range.series == series && &r.range.holder == self.node())
            .collect();
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
        })
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
    /// On a lessor (central, or the standby acting as primary): leases the next `size`
    /// numbers of a series to `holder`. Ranges never overlap because the lessor's cursor only
    /// moves forward. The lessor records the lease; the holder accepts it with
    /// [`Store::accept_lease`].
    pub fn lease_range(
        &self,
        who: &Operator,
        series: Series,
        holder: NodeName,
        size: u64,
    ) -> Result<Saved<NumberRange>, WriteError> {
        if self.role() == NodeRole::Window {
            return Err(RuleError::from(NumberError::NotLessor).into());
        }
        if who.desk != DeskRole::Admin {
            return Err(RuleError::invalid(
                "operator",
                "only the information department leases number ranges",
            )
            .into());
        }
        check_lease_size(size)?;
        let who = who.clone();
        self.write(move |tx| {
            let start = tx
                .lessor_cursor(series)?
                .unwrap_or(lessor_base(tx.opts().role));
            let end =
                start
                    .checked_add(size - 1)
                    .ok_or(RuleError::from(NumberError::BadLeaseSize {
                        size,
                        max: MAX_LEASE,
                    }))?;
            let range =
                NumberRange::new(series, holder, start, end, tx.node().clone(), tx.now_ms())
                    .map_err(RuleError::from)?;
            tx.set_lessor_cursor(series, end + 1)?;
            tx.audit(audit_event(
                &who,
                "range.lease",
                None,
                Some(range.id.clone()),
            ))?;
            Ok(Saved::new(range))
        })
    }

    /// Takes a range leased to this node into its ledger. Refuses a range leased to another
    /// node or overlapping one already held. Accepting the same range twice is a no-op.
    pub fn accept_lease(
        &self,
        who: &Operator,
        range: NumberRange,
    ) -> Result<Saved<RangeState>, WriteError> {
        if &range.holder != self.node() {
            return Err(RuleError::from(NumberError::NotOurs {
                range: range.id,
                holder: range.holder,
            })
            .into());
        }
        let checked = NumberRange::new(
            range.series,
            range.holder.clone(),
            range.start,
            range.end,
            range.leased_by.clone(),
            range.leased_ms,
        )
        .map_err(RuleError::from)?;
        let who = who.clone();
        self.write(move |tx| {
            let held = tx.ranges()?;
            if let Some(same) = held.iter().find(|r| r.range == checked) {
                return Ok(Saved::new(same.clone()));
            }
            if let Some(other) = held.iter().find(|r| r.range.overlaps(&checked)) {
                return Err(RuleError::from(NumberError::Overlap {
                    new: checked.id,
                    existing: other.range.id.clone(),
                })
                .into());
            }
            let state = RangeState {
                next: checked.start,
                range: checked,
            };
            tx.put_range(&state)?;
            tx.audit(audit_event(
                &who,
                "range.accept",
                None,
                Some(state.range.id.clone()),
            ))?;
            Ok(Saved::new(state))
        })
    }

    /// Spoils the next number of a series (a jammed printer, a torn slip): it is recorded as
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
            let node = tx.node().clone();
            let mut ranges: Vec<RangeState> = tx
                .ranges()?
                .into_iter()
                .filter(|r| r.range.series == series && r.range.holder == node)
                .collect();
            let (idx, number) = next_number(series, &mut ranges).map_err(RuleError::from)?;
            tx.put_range(&ranges[idx])?;
            let used = NumberUse::Voided {
                record: None,
                reason: reason.clone(),
                operator: who.name.clone(),
                at_ms: tx.now_ms(),
            };
            tx.put_number(series, number, &used)?;
            tx.audit(audit_event(
                &who,
                "number.void",
                None,
                Some(format!("{series} {number}: {reason}")),
            ))?;
            Ok(Saved::new(number))
        })
    }

    /// Per range: numbers issued, voided and unused, with the proof that there are no gaps,
    /// no duplicates across every invoice this node holds, and no overlapping ranges.
    pub fn range_report(&self) -> Result<RangeReport, ReadError> {
        let ranges = self.ranges()?;
        let lines = ranges
            .iter()
            .zip(self.ledger_entries(&ranges)?)
            .map(|(state, ledger)| range_line(state, ledger.iter().map(|(n, u)| (*n, u))))
            .collect();
        let mut overlapping = Vec::new();
        for (i, a) in ranges.iter().enumerate() {
            for b in &ranges[i + 1..] {
                if a.range.overlaps(&b.range) {
                    overlapping.push((a.range.id.clone(), b.range.id.clone()));
                }
            }
        }
        let mut by_number: BTreeMap<u64, Vec<RecordId>> = BTreeMap::new();
        for id in self.ids_of_kind(RecordKind::Invoice)? {
            if let Some(inv) = self.get::<Invoice>(id)? {
                by_number.entry(inv.number).or_default().push(id);
            }
        }
        let duplicates = by_number
            .into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(number, records)| Duplicate {
                series: Series::Invoice,
                number,
                records,
            })
            .collect();
        Ok(RangeReport {
            node: self.node().clone(),
            ranges: lines,
            duplicates,
            overlapping_ranges: overlapping,
        })
    }
}

/// A lease request as the lessor and the holder see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseLine {
    pub record: RecordId,
    pub series: Series,
    pub holder: NodeName,
    pub size: u64,
    pub range: Option<(u64, u64)>,
}

impl Store {
    /// Numbers left on this node in a series.
    pub fn numbers_left(&self, series: Series) -> Result<u64, ReadError> {
        Ok(self
            .ranges()?
            .iter()
            .filter(|r| r.range.series == series && &r.range.holder == self.node())
            .map(RangeState::remaining)
            .sum())
    }

    /// Asks the lessors for a new range: a lease record that central (or the standby acting
    /// as primary) fills in. A no-op while an earlier request of the series is unfilled.
    pub fn request_lease(
        &self,
        who: &Operator,
        series: Series,
        size: u64,
    ) -> Result<Saved<Option<RecordId>>, WriteError> {
        check_lease_size(size)?;
        let who = who.clone();
        self.write(move |tx| {
            let me = tx.node().clone();
            for id in tx.ids_of_kind(RecordKind::Lease)? {
                let lease: Lease = tx.read(id)?;
                if lease.holder == me && lease.series == series.name() && lease.range.is_none() {
                    return Ok(Saved::new(None));
                }
            }
            let lease = Lease {
                header: tx.new_header(RecordKind::Lease, &who)?,
                series: series.name().to_owned(),
                holder: me,
                size,
                range: None,
            };
            tx.create(&lease, &who, "range.request")?;
            Ok(Saved::new(Some(lease.header.id)))
        })
    }

    /// On a lessor: fills every open lease request from its own cursor. Returns how many.
    pub fn fill_lease_requests(&self, who: &Operator) -> Result<Saved<usize>, WriteError> {
        if self.role() == NodeRole::Window {
            return Err(RuleError::from(NumberError::NotLessor).into());
        }
        let who = who.clone();
        self.write(move |tx| {
            let mut filled = 0;
            for id in tx.ids_of_kind(RecordKind::Lease)? {
                let lease: Lease = tx.read(id)?;
                if lease.range.is_some() {
                    continue;
                }
                let Some(series) = Series::parse(&lease.series) else {
                    continue;
                };
                let size = lease.size.clamp(1, MAX_LEASE);
                let cursor = tx
                    .lessor_cursor(series)?
                    .unwrap_or(lessor_base(tx.opts().role));
                // Never below a range this node is known to have leased already (a lessor
                // restored from a backup learns its later leases back from the windows).
                let me = tx.node().clone();
                let mut start = cursor;
                for other in tx.ids_of_kind(RecordKind::Lease)? {
                    let l: Lease = tx.read(other)?;
                    if let (Some(r), true) = (&l.range, l.series == series.name())
                        && r.leased_by == me
                    {
                        start = start.max(r.end.saturating_add(1));
                    }
                }
                let end = start.checked_add(size - 1).ok_or(RuleError::from(
                    NumberError::BadLeaseSize {
                        size,
                        max: MAX_LEASE,
                    },
                ))?;
                tx.set_lessor_cursor(series, end + 1)?;
                let granted = LeasedRange {
                    start,
                    end,
                    leased_by: tx.node().clone(),
                    leased_ms: tx.now_ms(),
                };
                tx.edit(id, &who, "range.lease", |t| {
                    super::set_field(t, "range", Some(&granted))
                })?;
                filled += 1;
            }
            Ok(Saved::new(filled))
        })
    }

    /// On a holder: takes every range granted to this node into its ledger. Returns how many
    /// were new.
    pub fn accept_granted_leases(&self, who: &Operator) -> Result<usize, WriteError> {
        let mut accepted = 0;
        let held: Vec<String> = self.ranges()?.into_iter().map(|r| r.range.id).collect();
        for line in self.leases()? {
            let (Some((start, end)), true) = (line.range, &line.holder == self.node()) else {
                continue;
            };
            let Some(lease) = self.get::<Lease>(line.record)? else {
                continue;
            };
            let Some(granted) = lease.range else { continue };
            // Only a lessor's grant (central, or the standby) is taken; every node refused
            // any other on receipt already, and this keeps a store that predates the rules
            // honest too.
            let lessor = self
                .roster()
                .member_named(granted.leased_by.as_str())
                .map(|m| m.role);
            if !matches!(lessor, Some(NodeRole::Central | NodeRole::Standby)) {
                tracing::error!(range = ?(start, end), leased_by = %granted.leased_by, "refused a range not granted by a lessor");
                continue;
            }
            let range = NumberRange::new(
                line.series,
                line.holder.clone(),
                start,
                end,
                granted.leased_by,
                granted.leased_ms,
            )
            .map_err(RuleError::from)?;
            if held.contains(&range.id) {
                continue;
            }
            match self.accept_lease(who, range) {
                Ok(_) => accepted += 1,
                // A range that overlaps one already held (two lessors answered one request
                // with the same numbers) is refused and reported, never used.
                Err(WriteError::Rule(RuleError::Number(NumberError::Overlap {
                    new,
                    existing,
                }))) => {
                    tracing::error!(%new, %existing, "refused an overlapping range");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(accepted)
    }

    /// Every lease request this node knows.
    pub fn leases(&self) -> Result<Vec<LeaseLine>, ReadError> {
        let mut out = Vec::new();
        for id in self.ids_of_kind(RecordKind::Lease)? {
            let Some(lease) = self.get::<Lease>(id)? else {
                continue;
            };
            let Some(series) = Series::parse(&lease.series) else {
                continue;
            };
            out.push(LeaseLine {
                record: id,
                series,
                holder: lease.holder,
                size: lease.size,
                range: lease.range.map(|r| (r.start, r.end)),
            });
        }
        Ok(out)
    }
}
