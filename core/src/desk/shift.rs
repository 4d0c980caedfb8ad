//! The start of a cashier's shift: the invoice numbers belong to the cashier, and the
//! cashier checks them against the stock in hand before the first invoice.
//!
//! The plan: "以下为收款员的票号设置,如有不对的可以修改 … 如果发票号码没问题的话,请点击'完成'。
//! 进入系统后,按此号码进行收费" (the cashier's invoice numbers are shown; if they are wrong
//! they are corrected; once the numbers are right the cashier bills from them). The cashier
//! confirms the invoice code and first number of the paper or e-invoice stock in hand:
//!
//! - the cashier's own range (preset by the lease) continues at that number, or, if the
//!   cashier has none, the node's next free range becomes the cashier's;
//! - a first number further on than the range's next one skips the numbers in between, each
//!   recorded voided ("not in the stock in hand"), so that none is lost without a trace;
//! - a first number already used, past the range, or a code other than the range's (once
//!   numbers are used from it) is refused: the stock and the range disagree, and a person
//!   has to find out why.

use serde::{Deserialize, Serialize};

use super::leasing::check_code;
use super::{Saved, permit, set_field};
use crate::WriteError;
use crate::numbers::{NumberError, RangeState, Series, ShiftConfirmation};
use crate::record::RecordKind;
use crate::roles::Operator;
use crate::rules::RuleError;
use crate::store::{ReadError, Store, audit_event};

/// What the cashier reads off the stock in hand.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftStart {
    /// The invoice code printed on the stock (发票代码 / 票据代码).
    pub code: String,
    /// The number of the first invoice in hand.
    pub first_number: u64,
}

/// The cashier's range as the desk shows it: to check at the start of a shift, and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CashierRange {
    pub range_id: String,
    pub code: Option<String>,
    /// The next number that will be printed.
    pub next: u64,
    pub end: u64,
    pub remaining: u64,
    /// The confirmation of the current shift, if it was made today.
    pub confirmed: Option<ShiftConfirmation>,
    /// Numbers recorded voided because the stock in hand started further on.
    pub skipped: Vec<u64>,
}

fn shown(state: &RangeState, skipped: Vec<u64>) -> CashierRange {
    CashierRange {
        range_id: state.range.id.clone(),
        code: state.range.code.clone(),
        next: state.next,
        end: state.range.end,
        remaining: state.remaining(),
        confirmed: state.confirmed.clone(),
        skipped,
    }
}

/// Most numbers a shift start may skip (a stock further on than the range by more than this
/// is a different stock: lease its range instead).
pub const MAX_SKIP: u64 = 1000;

impl Store {
    /// The range the cashier bills from now (or will, once the shift is started).
    pub fn cashier_range(&self, who: &Operator) -> Result<Option<CashierRange>, ReadError> {
        let node = self.node().clone();
        Ok(self
            .ranges()?
            .into_iter()
            .filter(|r| {
                r.range.series == Series::Invoice
                    && r.range.holder == node
                    && r.range.operator.as_ref() == Some(&who.name)
                    && r.remaining() > 0
            })
            .min_by_key(|r| r.range.start)
            .map(|r| shown(&r, Vec::new())))
    }

    /// Starts a cashier's shift: confirms (or corrects) the invoice code and the first number
    /// of the stock in hand against the cashier's range. See the module docs.
    pub fn start_shift(
        &self,
        who: &Operator,
        start: ShiftStart,
    ) -> Result<Saved<CashierRange>, WriteError> {
        permit(who, RecordKind::Invoice, "start a cashier's shift")?;
        check_code(&start.code)?;
        let who = who.clone();
        self.write(move |tx| {
            let node = tx.node().clone();
            let ranges: Vec<RangeState> = tx
                .ranges()?
                .into_iter()
                .filter(|r| r.range.series == Series::Invoice && r.range.holder == node)
                .collect();
            let mine = ranges
                .iter()
                .filter(|r| r.range.operator.as_ref() == Some(&who.name) && r.remaining() > 0)
                .min_by_key(|r| r.range.start);
            let free = || {
                ranges
                    .iter()
                    .filter(|r| r.range.operator.is_none() && r.next == r.range.start)
                    .min_by_key(|r| r.range.start)
            };
            let mut state = match mine.or_else(free) {
                Some(r) => r.clone(),
                None => {
                    return Err(RuleError::from(NumberError::NoFreeRange {
                        operator: who.name.clone(),
                    })
                    .into());
                }
            };
            let unused = state.next == state.range.start;
            let before_code = state.range.code.clone();
            match &state.range.code {
                Some(code) if *code != start.code && !unused => {
                    return Err(RuleError::from(NumberError::CodeMismatch {
                        range: state.range.id.clone(),
                        expected: code.clone(),
                        given: start.code.clone(),
                    })
                    .into());
                }
                _ => state.range.code = Some(start.code.clone()),
            }
            let first = start.first_number;
            if first < state.next || first > state.range.end || first - state.next > MAX_SKIP {
                return Err(RuleError::from(NumberError::FirstNumberOutside {
                    range: state.range.id.clone(),
                    given: first,
                    next: state.next,
                    end: state.range.end,
                })
                .into());
            }
            let claimed = state.range.operator.is_none();
            let recoded = state.range.code.as_deref() != before_code.as_deref();
            state.range.operator = Some(who.name.clone());
            // The lease record says whose range it is now, for every node's report.
            if let Some(lease) = state.lease_record.filter(|_| claimed || recoded)
                && tx.doc(lease)?.is_some()
            {
                let (operator, code) = (who.name.clone(), start.code.clone());
                tx.edit(lease, &who, "range.assign", |t| {
                    set_field(t, "operator", Some(&operator))?;
                    set_field(t, "code", Some(code.as_str()))
                })?;
            }
            let skipped: Vec<u64> = (state.next..first).collect();
            for &number in &skipped {
                tx.spoil_number(
                    &state,
                    number,
                    "not in the stock in hand at the start of the shift",
                    &who,
                )?;
            }
            state.next = first;
            state.confirmed = Some(ShiftConfirmation {
                operator: who.name.clone(),
                at_ms: tx.now_ms(),
                code: start.code.clone(),
                first_number: first,
            });
            tx.put_range(&state)?;
            tx.audit(audit_event(
                &who,
                "cashier.shift",
                None,
                Some(format!(
                    "{} code {} from {first} ({} skipped)",
                    state.range.id,
                    start.code,
                    skipped.len()
                )),
            ))?;
            Ok(Saved::new(shown(&state, skipped)))
        })
    }
}
