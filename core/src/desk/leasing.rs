//! Leasing number ranges: a window asks the lessors for a range before it runs out (a lease
//! record that central, or the standby acting as primary, fills in); the information
//! department leases one by hand (for invoices, preset for a cashier and the invoice code of
//! a paper stock). Either way the range travels as a lease record, so it reaches its holder
//! through the mesh and every node can account for it.

use std::collections::BTreeMap;

use super::{Saved, information_department};
use crate::WriteError;
use crate::id::{NodeName, OperatorName, RecordId};
use crate::numbers::{MAX_LEASE, NumberError, NumberRange, NumberUse, RangeState, Series};
use crate::record::{Lease, LeasedRange, RecordKind};
use crate::roles::{NodeRole, Operator};
use crate::rules::RuleError;
use crate::store::audit_event;
use crate::store::{ReadError, Store, Tx};

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

impl Store {
    /// On a lessor (central, or the standby acting as primary): leases the next `size`
    /// numbers of a series to `holder`. See [`Store::lease_range_for`].
    pub fn lease_range(
        &self,
        who: &Operator,
        series: Series,
        holder: NodeName,
        size: u64,
    ) -> Result<Saved<NumberRange>, WriteError> {
        self.lease_range_for(
            who,
            LeaseOrder {
                series,
                holder,
                size,
                operator: None,
                code: None,
                start: None,
            },
        )
    }

    /// On a lessor: leases a range by hand, as a lease record that reaches the holder through
    /// the mesh, which takes it into its ledger ([`Store::accept_granted_leases`]). Without
    /// `start`, the range comes from the lessor's cursor (which only moves forward, so ranges
    /// never overlap); with it (the numbers of a paper stock), it is refused if it overlaps
    /// any range leased so far. An invoice range may be preset for a cashier and a stock's
    /// invoice code.
    pub fn lease_range_for(
        &self,
        who: &Operator,
        order: LeaseOrder,
    ) -> Result<Saved<NumberRange>, WriteError> {
        if self.role() == NodeRole::Window {
            return Err(RuleError::from(NumberError::NotLessor).into());
        }
        information_department(who, "leases number ranges")?;
        check_lease_size(order.size)?;
        if let Some(code) = &order.code {
            check_code(code)?;
        }
        if order.series != Series::Invoice && (order.operator.is_some() || order.code.is_some()) {
            return Err(RuleError::invalid(
                "series",
                "only invoice ranges belong to a cashier and carry an invoice code",
            )
            .into());
        }
        let who = who.clone();
        let leased = self.write(move |tx| {
            let (series, size) = (order.series, order.size);
            if order.start.is_none() {
                relearned(tx)?;
            }
            let cursor = tx.lessor_next(series)?;
            let start = order.start.unwrap_or(cursor);
            let too_big = || {
                RuleError::from(NumberError::BadLeaseSize {
                    size,
                    max: MAX_LEASE,
                })
            };
            let end = start.checked_add(size - 1).ok_or_else(too_big)?;
            let range = NumberRange::new(
                series,
                order.holder.clone(),
                start,
                end,
                tx.node().clone(),
                tx.now_ms(),
            )
            .map_err(RuleError::from)?
            .preset(order.operator.clone(), order.code.clone());
            for id in tx.ids_of_kind(RecordKind::Lease)? {
                let other: Lease = tx.read(id)?;
                if let Some(r) = &other.range
                    && other.series == series.name()
                    && r.start <= end
                    && start <= r.end
                {
                    return Err(RuleError::from(NumberError::Overlap {
                        new: range.id.clone(),
                        existing: format!("{}:{}-{}", other.series, r.start, r.end),
                    })
                    .into());
                }
            }
            tx.set_lessor_cursor(series, cursor.max(end + 1))?;
            let lease = Lease {
                header: tx.new_header(RecordKind::Lease, &who)?,
                series: series.name().to_owned(),
                holder: order.holder,
                size,
                range: Some(LeasedRange {
                    start,
                    end,
                    leased_by: tx.node().clone(),
                    leased_ms: tx.now_ms(),
                }),
                operator: order.operator,
                code: order.code,
                spoiled: BTreeMap::new(),
            };
            tx.create(&lease, &who, "range.lease")?;
            Ok(Saved::new(range))
        })?;
        Ok(leased)
    }

    /// Takes a range leased to this node into its ledger. Refuses a range leased to another
    /// node or overlapping one already held. Accepting the same range twice is a no-op.
    pub fn accept_lease(
        &self,
        who: &Operator,
        range: NumberRange,
    ) -> Result<Saved<RangeState>, WriteError> {
        self.accept_lease_from(who, range, None, false)
    }

    /// Takes `range` into the ledger; `earlier_life`: it was leased to this node as it was
    /// before its store was restored or made anew, which may have numbered from it, so it is
    /// taken retired, every number voided.
    fn accept_lease_from(
        &self,
        who: &Operator,
        range: NumberRange,
        lease_record: Option<RecordId>,
        earlier_life: bool,
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
        .map_err(RuleError::from)?
        .preset(range.operator.clone(), range.code.clone());
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
            let mut state = RangeState {
                next: checked.start,
                range: checked,
                lease_record,
                confirmed: None,
            };
            if earlier_life {
                tracing::warn!(range = %state.range.id, "a range leased before this store was restored came back: retired");
                retire_range(tx, &mut state, &who)?;
            } else {
                tx.start_past_returned(&mut state)?;
            }
            tx.put_range(&state)?;
            tx.audit(audit_event(
                &who,
                if earlier_life {
                    "range.accept_retired"
                } else {
                    "range.accept"
                },
                None,
                Some(state.range.id.clone()),
            ))?;
            Ok(Saved::new(state))
        })
    }
}

impl Tx<'_, '_> {
    /// Where this lessor's next range of `series` starts: its cursor, but never below a range
    /// it is known to have granted (a lessor restored from a backup, copied back, or made
    /// anew learns its earlier grants back from the windows), every grant of a request read.
    fn lessor_next(&mut self, series: Series) -> Result<u64, WriteError> {
        let mut next = self
            .lessor_cursor(series)?
            .unwrap_or(lessor_base(self.opts().role));
        let me = self.node().clone();
        for id in self.ids_of_kind(RecordKind::Lease)? {
            let lease: Lease = self.read(id)?;
            if lease.series != series.name() {
                continue;
            }
            let Some(doc) = self.doc(id)? else { continue };
            for granted in Lease::grants(doc) {
                if granted.leased_by == me {
                    next = next.max(granted.end.saturating_add(1));
                }
            }
        }
        Ok(next)
    }
}

/// Refuses to lease from the cursor while this node relearns the history it lost: its
/// earlier life may have leased the numbers the cursor points at (`store::relearn`).
fn relearned(tx: &mut Tx<'_, '_>) -> Result<(), WriteError> {
    let waiting = tx.leasing_held_for()?;
    if waiting.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = waiting.iter().map(NodeName::as_str).collect();
    Err(RuleError::from(NumberError::Relearning {
        waiting_for: names.join(", "),
    })
    .into())
}

/// Voids every number of a range this node may have numbered from in an earlier life, so
/// that the range report accounts for each and none is handed out.
fn retire_range(
    tx: &mut Tx<'_, '_>,
    state: &mut RangeState,
    who: &Operator,
) -> Result<(), WriteError> {
    let series = state.range.series;
    for number in state.next..=state.range.end {
        // A number on a record of ours that came back before the range did stays issued.
        if tx.number_use(series, number)?.is_some() {
            continue;
        }
        let used = NumberUse::Voided {
            record: None,
            reason: "retired: leased before this store was restored".into(),
            operator: who.name.clone(),
            at_ms: tx.now_ms(),
        };
        tx.put_number(series, number, &used)?;
    }
    state.next = state.range.end + 1;
    Ok(())
}

/// A lease request as the lessor and the holder see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseLine {
    pub record: RecordId,
    pub series: Series,
    pub holder: NodeName,
    pub size: u64,
    /// The range the merged request shows (one of `grants`), if filled.
    pub range: Option<(u64, u64)>,
    /// Every range granted on the request: more than one where both lessors filled it
    /// while apart ([`Lease::grants`]).
    pub grants: Vec<(u64, u64)>,
    pub operator: Option<OperatorName>,
    pub code: Option<String>,
}

/// A range leased by hand ([`Store::lease_range_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseOrder {
    pub series: Series,
    pub holder: NodeName,
    pub size: u64,
    /// The cashier the range is preset for (invoices).
    pub operator: Option<OperatorName>,
    /// The invoice code of the stock (invoices).
    pub code: Option<String>,
    /// The first number, when it is dictated by a paper stock; otherwise the lessor's cursor.
    pub start: Option<u64>,
}

/// An invoice code: 1 to 20 letters and digits.
pub(crate) fn check_code(code: &str) -> Result<(), RuleError> {
    if code.is_empty() || code.len() > 20 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(RuleError::invalid(
            "code",
            format!("{code:?} is not an invoice code (1 to 20 letters and digits)"),
        ));
    }
    Ok(())
}

impl Store {
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
                operator: None,
                code: None,
                spoiled: BTreeMap::new(),
            };
            tx.create(&lease, &who, "range.request")?;
            // Remembered as this store's own: a grant on it is this life's to number from.
            tx.note_lease_request(lease.header.id)?;
            Ok(Saved::new(Some(lease.header.id)))
        })
    }

    /// On a lessor: fills every open lease request from its own cursor. Returns how many.
    pub fn fill_lease_requests(&self, who: &Operator) -> Result<Saved<usize>, WriteError> {
        if self.role() == NodeRole::Window {
            return Err(RuleError::from(NumberError::NotLessor).into());
        }
        let who = who.clone();
        let filled = self.write(move |tx| {
            relearned(tx)?;
            let mut filled = 0;
            let mut waiting = Vec::new();
            for id in tx.ids_of_kind(RecordKind::Lease)? {
                let lease: Lease = tx.read(id)?;
                if lease.range.is_some() {
                    continue;
                }
                let Some(series) = Series::parse(&lease.series) else {
                    continue;
                };
                // Answered once its holder is caught up with in this opening: a grant this
                // lessor made it before its data directory was copied back is here by then
                // (`store::relearn`).
                if !tx.caught_up_with(&lease.holder)? {
                    tracing::debug!(request = %id, holder = %lease.holder,
                        "a lease request waits until this lessor has caught up with its holder");
                    waiting.push(lease.holder);
                    continue;
                }
                let size = lease.size.clamp(1, MAX_LEASE);
                let start = tx.lessor_next(series)?;
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
            waiting.sort();
            waiting.dedup();
            Ok((Saved::new(filled), waiting))
        });
        // What waits as of this fill (nothing known of when it failed: a relearning lessor
        // says what it waits for in its own words).
        let waiting = filled.as_ref().map(|(_, w)| w.clone()).unwrap_or_default();
        if let Ok(mut kept) = self.shared.requests_waiting.lock() {
            *kept = waiting;
        }
        filled.map(|(filled, _)| filled)
    }

    /// On a holder: takes every range granted to this node into its ledger. Returns how many
    /// were new.
    pub fn accept_granted_leases(&self, who: &Operator) -> Result<usize, WriteError> {
        let mut accepted = 0;
        let held: Vec<String> = self.ranges()?.into_iter().map(|r| r.range.id).collect();
        for line in self.leases()? {
            if &line.holder != self.node() || line.grants.is_empty() {
                continue;
            }
            let (Some(lease), Some(doc)) =
                (self.get::<Lease>(line.record)?, self.doc(line.record)?)
            else {
                continue;
            };
            // Every grant, not only the one the merged document shows: both lessors may have
            // filled the request, and this node may have numbered from either.
            for granted in Lease::grants(&doc) {
                // Only a lessor's grant (central, or the standby) is taken; every node refused
                // any other on receipt already, and this keeps a store that predates the rules
                // honest too.
                let lessor = self
                    .roster()
                    .member_named(granted.leased_by.as_str())
                    .map(|m| m.role);
                if !matches!(lessor, Some(NodeRole::Central | NodeRole::Standby)) {
                    tracing::error!(range = ?(granted.start, granted.end), leased_by = %granted.leased_by, "refused a range not granted by a lessor");
                    continue;
                }
                let range = NumberRange::new(
                    line.series,
                    line.holder.clone(),
                    granted.start,
                    granted.end,
                    granted.leased_by,
                    granted.leased_ms,
                )
                .map_err(RuleError::from)?
                .preset(lease.operator.clone(), lease.code.clone());
                if held.contains(&range.id) {
                    continue;
                }
                let earlier_life = self.of_an_earlier_life(&lease, line.record)?;
                match self.accept_lease_from(who, range, Some(line.record), earlier_life) {
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
        }
        Ok(accepted)
    }

    /// Whether a lease came to this node as it was before its store's life began (a restore,
    /// or a store made anew), which may have handed out any of its numbers. A request of this
    /// node's is this life's only if this store made it (its own list, which a restore
    /// clears): a clock set back across a restore cannot make an old request look new. A
    /// lease by hand is judged by when the lessor made it, against when this life began.
    fn of_an_earlier_life(&self, lease: &Lease, record: RecordId) -> Result<bool, ReadError> {
        if &lease.header.origin == self.node() {
            return Ok(!self.lease_requested_here(record)?);
        }
        Ok(record.created_ms() < self.incarnation_ms()?)
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
            let grants = match self.doc(id)? {
                Some(doc) => Lease::grants(&doc),
                None => Vec::new(),
            };
            out.push(LeaseLine {
                record: id,
                series,
                holder: lease.holder,
                size: lease.size,
                range: lease.range.map(|r| (r.start, r.end)),
                grants: grants.iter().map(|g| (g.start, g.end)).collect(),
                operator: lease.operator,
                code: lease.code,
            });
        }
        Ok(out)
    }
}
