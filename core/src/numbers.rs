//! Human numbers that never collide offline: leased ranges.
//!
//! Central (or the standby acting as primary) leases each node ranges of numbers in advance,
//! per series. A node consumes its ranges strictly in order, records every number it hands
//! out or voids in a ledger, warns when few are left, refuses to go past the end, and never
//! reuses a number. Two nodes never share a range, so two desks can never print the same
//! number: there is no shared counter anywhere.
//!
//! This module is the pure logic; the store keeps the ledger in redb and calls it inside its
//! single writer.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMs;
use crate::id::{NodeName, OperatorName, RecordId};

/// A numbering series. The discriminant is part of redb keys: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    /// Invoice numbers, printed on the cashier's invoices.
    Invoice = 1,
    /// Registration numbers handed out during an emergency, printed as `YJ` + number.
    EmergencyRegistration = 2,
}

impl Series {
    pub const ALL: [Series; 2] = [Series::Invoice, Series::EmergencyRegistration];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Series::Invoice => "invoice",
            Series::EmergencyRegistration => "emergency_registration",
        }
    }

    pub fn parse(s: &str) -> Option<Series> {
        Series::ALL.into_iter().find(|x| x.name() == s)
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A block of numbers `start..=end` leased to one node, and for invoices to one cashier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberRange {
    /// `series:start-end`, unique hospital-wide because ranges never overlap.
    pub id: String,
    pub series: Series,
    pub holder: NodeName,
    pub start: u64,
    pub end: u64,
    pub leased_by: NodeName,
    pub leased_ms: UnixMs,
    /// The cashier the range belongs to (invoice ranges): preset by the lease, or taken from
    /// the node's free ranges when the cashier starts a shift.
    #[serde(default)]
    pub operator: Option<OperatorName>,
    /// The invoice code of the paper or e-invoice stock, as leased or as the cashier confirmed
    /// it at the start of the shift. Every invoice numbered from the range carries it.
    #[serde(default)]
    pub code: Option<String>,
}

impl NumberRange {
    pub fn new(
        series: Series,
        holder: NodeName,
        start: u64,
        end: u64,
        leased_by: NodeName,
        leased_ms: UnixMs,
    ) -> Result<NumberRange, NumberError> {
        if start == 0 || end < start {
            return Err(NumberError::EmptyRange { start, end });
        }
        let len = end - start;
        if len >= MAX_LEASE {
            return Err(NumberError::BadLeaseSize {
                size: len.saturating_add(1),
                max: MAX_LEASE,
            });
        }
        Ok(NumberRange {
            id: format!("{}:{start}-{end}", series.name()),
            series,
            holder,
            start,
            end,
            leased_by,
            leased_ms,
            operator: None,
            code: None,
        })
    }

    /// The same range, preset for a cashier and a stock's code.
    pub fn preset(mut self, operator: Option<OperatorName>, code: Option<String>) -> Self {
        self.operator = operator;
        self.code = code;
        self
    }

    pub fn contains(&self, number: u64) -> bool {
        (self.start..=self.end).contains(&number)
    }

    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn overlaps(&self, other: &NumberRange) -> bool {
        self.series == other.series && self.start <= other.end && other.start <= self.end
    }
}

/// A range as held by this node: the lease and how far into it the node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeState {
    pub range: NumberRange,
    /// The next number to hand out; `end + 1` once the range is used up.
    pub next: u64,
    /// The lease record the range came in, where spoiled numbers are recorded for every
    /// node to see.
    #[serde(default)]
    pub lease_record: Option<RecordId>,
    /// The cashier's confirmation at the start of the shift (invoice ranges).
    #[serde(default)]
    pub confirmed: Option<ShiftConfirmation>,
}

/// A cashier's check of the stock in hand against the range, at the start of a shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftConfirmation {
    pub operator: OperatorName,
    pub at_ms: UnixMs,
    /// The invoice code on the stock.
    pub code: String,
    /// The first number on the stock, where the range continues.
    pub first_number: u64,
}

impl RangeState {
    pub fn remaining(&self) -> u64 {
        // Never overflows, even for a range ending at u64::MAX (which no lessor grants).
        (self.range.end - self.next.min(self.range.end)) + u64::from(self.next <= self.range.end)
    }
}

/// What happened to one number, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "use", rename_all = "snake_case")]
pub enum NumberUse {
    /// Printed on a record.
    Issued {
        record: RecordId,
        operator: OperatorName,
        at_ms: UnixMs,
    },
    /// Spoiled or cancelled; never handed out again.
    Voided {
        record: Option<RecordId>,
        reason: String,
        operator: OperatorName,
        at_ms: UnixMs,
    },
}

/// A number handed out, and how many are left in the series on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedNumber {
    pub series: Series,
    pub number: u64,
    pub range_id: String,
    pub remaining_in_series: u64,
    /// True when `remaining_in_series` is at or below the low-water mark: ask for a new lease.
    pub low_water: bool,
    /// The invoice code the number carries, if its range has one.
    pub code: Option<String>,
}

/// Why a number could not be leased, issued or voided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    #[error("a range must hold at least one number and start at 1 or above (got {start}..={end})")]
    EmptyRange { start: u64, end: u64 },
    #[error(
        "no {series} numbers left on this node: every leased range is used up; lease a new range from central"
    )]
    Exhausted { series: Series },
    #[error("range {new} overlaps range {existing} already held")]
    Overlap { new: String, existing: String },
    #[error("range {range} is leased to {holder}, not to this node")]
    NotOurs { range: String, holder: NodeName },
    #[error("{series} number {number} was never issued on this node")]
    NotIssued { series: Series, number: u64 },
    #[error("{series} number {number} is already voided")]
    AlreadyVoided { series: Series, number: u64 },
    #[error("only central, or the standby acting as primary, may lease number ranges")]
    NotLessor,
    #[error(
        "this node lost history (restored, or its store copied back) and may have leased \
         numbers it no longer knows of: it leases from its cursor again once it has caught up \
         with {waiting_for}; meanwhile lease a range by hand with its first number given"
    )]
    Relearning { waiting_for: String },
    #[error("a lease must hold between 1 and {max} numbers (asked for {size})")]
    BadLeaseSize { size: u64, max: u64 },
    #[error(
        "cashier {operator} has no invoice range with numbers left on this node: start the \
         shift first (confirm the invoice code and first number of the stock in hand)"
    )]
    NoCashierRange { operator: OperatorName },
    #[error(
        "cashier {operator} has not confirmed today the stock in hand for range {range}: start \
         the shift (confirm the invoice code and first number)"
    )]
    ShiftNotConfirmed {
        operator: OperatorName,
        range: String,
    },
    #[error(
        "no free invoice range on this node for cashier {operator}: the information \
         department leases one (lifeline ranges lease --series invoice --holder NODE \
         --operator {operator})"
    )]
    NoFreeRange { operator: OperatorName },
    #[error(
        "range {range} is for invoice code {expected}, but the stock in hand has code {given}: \
         check the stock, or ask for a range of that code"
    )]
    CodeMismatch {
        range: String,
        expected: String,
        given: String,
    },
    #[error(
        "the stock in hand starts at {given}, but range {range} continues at {next} \
         (numbers before it are already used) and ends at {end}: check the stock"
    )]
    FirstNumberOutside {
        range: String,
        given: u64,
        next: u64,
        end: u64,
    },
}

/// The largest range one lease may hand out.
pub const MAX_LEASE: u64 = 1_000_000;

/// First number the standby leases. Central and the standby lease from disjoint halves of the
/// number space, so that the standby acting as primary during an outage can never hand out a
/// range central also handed out.
pub const STANDBY_LESSOR_BASE: u64 = 500_000_001;

/// Picks the range to take the next number from: the lowest range with numbers left.
/// `ranges` are this node's ranges of one series.
pub fn next_number(series: Series, ranges: &mut [RangeState]) -> Result<(usize, u64), NumberError> {
    ranges.sort_by_key(|r| r.range.start);
    let idx = ranges
        .iter()
        .position(|r| r.range.series == series && r.remaining() > 0)
        .ok_or(NumberError::Exhausted { series })?;
    let number = ranges[idx].next;
    ranges[idx].next += 1;
    Ok((idx, number))
}

/// One range's line in the range report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeLine {
    pub range_id: String,
    pub series: Series,
    pub holder: NodeName,
    /// The cashier the range belongs to, if any.
    #[serde(default)]
    pub operator: Option<OperatorName>,
    /// The invoice code its numbers carry, if any.
    #[serde(default)]
    pub code: Option<String>,
    pub start: u64,
    pub end: u64,
    pub issued: u64,
    pub voided: u64,
    pub unused: u64,
    /// Numbers before `next` with no ledger entry. Must be empty.
    pub gaps: Vec<u64>,
    /// Ledger entries at or past `next` (handed out beyond the cursor). Must be empty.
    pub beyond_cursor: Vec<u64>,
    /// Numbers of this range printed on two or more records. Must be empty.
    #[serde(default)]
    pub duplicates: Vec<u64>,
}

/// Whose ranges a report covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportScope {
    /// The ranges this node holds, from its own ledger.
    #[default]
    Node,
    /// Every range leased to any node, from the lease records and the numbered records
    /// that reached this node (central, the standby).
    Hospital,
}

/// The range report: per range, the numbers issued, voided and unused, with the proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeReport {
    pub node: NodeName,
    #[serde(default)]
    pub scope: ReportScope,
    pub ranges: Vec<RangeLine>,
    /// Numbers printed on two or more different records (across every invoice this node
    /// holds, from any node). Must be empty.
    pub duplicates: Vec<Duplicate>,
    /// Pairs of ranges of one series that overlap. Must be empty.
    pub overlapping_ranges: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    pub series: Series,
    pub number: u64,
    pub records: Vec<RecordId>,
}

impl RangeReport {
    /// True when no range has a gap, nothing was issued past a cursor, no number is on two
    /// records and no ranges overlap.
    pub fn is_clean(&self) -> bool {
        self.duplicates.is_empty()
            && self.overlapping_ranges.is_empty()
            && self
                .ranges
                .iter()
                .all(|r| r.gaps.is_empty() && r.beyond_cursor.is_empty())
    }
}

/// Builds one range's line from its state and the ledger entries that fall inside it.
pub fn range_line<'a>(
    state: &RangeState,
    ledger: impl IntoIterator<Item = (u64, &'a NumberUse)>,
) -> RangeLine {
    let r = &state.range;
    let mut issued = 0;
    let mut voided = 0;
    let mut seen = std::collections::BTreeSet::new();
    let mut beyond_cursor = Vec::new();
    for (number, used) in ledger {
        if number >= state.next {
            beyond_cursor.push(number);
        }
        seen.insert(number);
        match used {
            NumberUse::Issued { .. } => issued += 1,
            NumberUse::Voided { .. } => voided += 1,
        }
    }
    let gaps = (r.start..state.next.min(r.end + 1))
        .filter(|n| !seen.contains(n))
        .collect();
    RangeLine {
        range_id: r.id.clone(),
        series: r.series,
        holder: r.holder.clone(),
        operator: r.operator.clone(),
        code: r.code.clone(),
        start: r.start,
        end: r.end,
        issued,
        voided,
        unused: state.remaining(),
        gaps,
        beyond_cursor,
        duplicates: Vec::new(),
    }
}

/// Formats an emergency registration number as printed on the slip.
pub fn emergency_registration_no(number: u64) -> String {
    format!("YJ{number:08}")
}

/// The number of an emergency registration number printed on a slip (`YJ00000001`).
pub fn emergency_number(registration_no: &str) -> Option<u64> {
    let digits = registration_no.strip_prefix("YJ")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: &str) -> NodeName {
        NodeName::new(n).expect("valid")
    }

    fn state(start: u64, end: u64) -> RangeState {
        RangeState {
            range: NumberRange::new(Series::Invoice, node("W01"), start, end, node("central"), 0)
                .expect("valid range"),
            next: start,
            lease_record: None,
            confirmed: None,
        }
    }

    /// Hole 2: a range ending at `u64::MAX` overflowed; and a range larger than any lease is
    /// not a range.
    #[test]
    fn ranges_at_the_end_of_the_numbers_do_not_overflow_and_none_exceeds_a_lease() {
        let mut last = state(u64::MAX - 1, u64::MAX);
        assert_eq!(last.remaining(), 2);
        last.next = u64::MAX;
        assert_eq!(last.remaining(), 1);
        let mut used_up = state(5, 9);
        used_up.next = 10;
        assert_eq!(used_up.remaining(), 0);
        let err = NumberRange::new(
            Series::Invoice,
            node("W01"),
            1,
            MAX_LEASE,
            node("central"),
            0,
        );
        assert!(err.is_ok());
        let err = NumberRange::new(
            Series::Invoice,
            node("W01"),
            1,
            MAX_LEASE + 1,
            node("central"),
            0,
        );
        assert!(
            matches!(err, Err(NumberError::BadLeaseSize { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn numbers_come_in_order_across_ranges_then_run_out() {
        let mut ranges = vec![state(200, 201), state(100, 101)];
        let got: Vec<u64> = (0..4)
            .map(|_| next_number(Series::Invoice, &mut ranges).map(|(_, n)| n))
            .collect::<Result<_, _>>()
            .expect("four numbers");
        assert_eq!(got, vec![100, 101, 200, 201]);
        let err = next_number(Series::Invoice, &mut ranges).unwrap_err();
        assert_eq!(
            err,
            NumberError::Exhausted {
                series: Series::Invoice
            }
        );
        assert!(err.to_string().contains("lease a new range"));
    }

    #[test]
    fn empty_and_overlapping_ranges_are_refused() {
        assert!(NumberRange::new(Series::Invoice, node("W01"), 5, 4, node("c"), 0).is_err());
        assert!(NumberRange::new(Series::Invoice, node("W01"), 0, 4, node("c"), 0).is_err());
        let a = state(1, 10).range;
        let b = state(10, 20).range;
        let c = state(11, 20).range;
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
    }

    #[test]
    fn range_line_finds_gaps() {
        let mut s = state(1, 5);
        s.next = 4;
        let op = OperatorName::new("c1").expect("valid");
        let issued = NumberUse::Issued {
            record: RecordId::generate(),
            operator: op.clone(),
            at_ms: 0,
        };
        let voided = NumberUse::Voided {
            record: None,
            reason: "jam".into(),
            operator: op,
            at_ms: 0,
        };
        let line = range_line(&s, [(1, &issued), (3, &voided)]);
        assert_eq!((line.issued, line.voided, line.unused), (1, 1, 2));
        assert_eq!(line.gaps, vec![2]);
        assert_eq!(emergency_number(&emergency_registration_no(42)), Some(42));
        assert_eq!(emergency_number("W01-R000001"), None);
        assert_eq!(emergency_number("YJ"), None);
        let line = range_line(&s, [(1, &issued), (2, &issued), (3, &voided), (5, &issued)]);
        assert!(line.gaps.is_empty());
        assert_eq!(line.beyond_cursor, vec![5]);
    }
}
