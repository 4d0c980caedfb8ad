//! Numbers on this node's own records that come back from a peer.
//!
//! A store that went back with nothing on disk to tell (its whole data directory copied back
//! from an older copy: a disk image or a virtual machine's snapshot rolled back; a store file
//! copied back alone is told by the mark beside it, `store::mark`) keeps its ranges' cursors
//! as they were, and its desks would hand out again the numbers its lost records carry. Its
//! peers send those records back (they rewind it when they connect, `store::relearn`). As each
//! arrives, the number it carries (an emergency registration's, an invoice's, or one spoiled
//! on the lease) goes into the ledger, and the range's cursor moves past it; a number the
//! cursor skips is voided until its own record comes, so the range still accounts for every
//! number below its cursor. A record may come back before the lease that granted its range
//! (the copy went back to before the range was leased): the ledger holds its number all the
//! same, and the range, when it is taken again, starts past every number the ledger holds of
//! it (`Tx::start_past_returned`).
//!
//! A range a cashier's shift claimed after the copy was taken is the cashier's again when
//! its lease, which names the cashier, comes back.
//!
//! What the desks handed out after the copy and before the records came back may be on two
//! records: nothing could tell the node sooner. When the second comes back the node says so
//! (an error in its log, `number.duplicate` in its audit trail), and the range report shows
//! the number on both.

use crate::WriteError;
use crate::id::{OperatorName, RecordId};
use crate::numbers::{NumberUse, RangeState, Series, emergency_number};
use crate::record::{Header, Invoice, Lease, Record, RecordKind, Visit};
use crate::status::InvoiceStatus;
use crate::store::{AuditEvent, Tx};

/// Who the ledger says skipped a number when its cursor moved past it.
const SKIPPED_BY: &str = "lifeline-returning";

/// Why a skipped number is voided, until its own record comes.
const SKIPPED: &str =
    "skipped: a later number of this node came back from a peer, this one has not (yet)";

impl Tx<'_, '_> {
    /// After a peer's changes to `id` were merged: the numbers a record of ours that was not
    /// here carries (its `header` as the rules read it), and those spoiled on a lease of our
    /// ranges, are noted in the ledger.
    pub(crate) fn learn_returning_numbers(
        &mut self,
        id: RecordId,
        header: &Header,
        was_new: bool,
    ) -> Result<(), WriteError> {
        let ours = header.origin == *self.node();
        match header.kind {
            RecordKind::Visit if ours && was_new => {
                let Some(visit) = self.hydrated::<Visit>(id) else {
                    return Ok(());
                };
                if let Some(number) = emergency_number(&visit.registration_no) {
                    let used = issued(id, header);
                    self.learn_number(Series::EmergencyRegistration, number, used)?;
                }
            }
            RecordKind::Invoice if ours && was_new => {
                let Some(invoice) = self.hydrated::<Invoice>(id) else {
                    return Ok(());
                };
                let used = match invoice.status_log.reached(InvoiceStatus::Voided) {
                    Some(_) => NumberUse::Voided {
                        record: Some(id),
                        reason: "voided invoice".into(),
                        operator: header.operator.clone(),
                        at_ms: header.created_ms,
                    },
                    None => issued(id, header),
                };
                self.learn_number(Series::Invoice, invoice.number, used)?;
            }
            RecordKind::Lease => {
                let Some(lease) = self.hydrated::<Lease>(id) else {
                    return Ok(());
                };
                let Some(series) = Series::parse(&lease.series) else {
                    return Ok(());
                };
                if lease.holder != *self.node() {
                    return Ok(());
                }
                self.learn_assignment(id, &lease)?;
                for (number, spoiled) in lease.spoiled {
                    let Ok(number) = number.parse::<u64>() else {
                        continue;
                    };
                    let used = NumberUse::Voided {
                        record: None,
                        reason: spoiled.reason,
                        operator: spoiled.operator,
                        at_ms: spoiled.at_ms,
                    };
                    self.learn_number(series, number, used)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A range of ours whose cashier the ledger lost (the copy went back to before the
    /// cashier's first shift claimed it) is the cashier's again when its lease, which says
    /// whose it is (`range.assign`), comes back: otherwise the range, part used and no
    /// one's, would be no cashier's to bill from.
    fn learn_assignment(&mut self, id: RecordId, lease: &Lease) -> Result<(), WriteError> {
        let Some(operator) = &lease.operator else {
            return Ok(());
        };
        for mut state in self.ranges()? {
            if state.lease_record != Some(id) || state.range.operator.is_some() {
                continue;
            }
            tracing::warn!(range = %state.range.id, %operator, "whose range this is came back on its lease: the cashier's again");
            state.range.operator = Some(operator.clone());
            if state.range.code.is_none() {
                state.range.code.clone_from(&lease.code);
            }
            self.put_range(&state)?;
        }
        Ok(())
    }

    /// The record as merged, if it reads as its kind: one that does not is only not learned
    /// from (it was judged already; learning never refuses a peer's changes).
    fn hydrated<T: Record>(&mut self, id: RecordId) -> Option<T> {
        match self.read::<T>(id) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(%id, error = %crate::error::Chain(&e), "a returning record does not read: its number is not learned");
                None
            }
        }
    }

    /// Notes `number` as `used` if the ledger says nothing of it (or only that a cursor
    /// skipped it), and moves the cursor of its range past it. Its range may not be held yet
    /// (the records can come back before the lease that granted it is taken again): the
    /// ledger holds the number all the same, and the range starts past it when it is taken
    /// ([`Tx::start_past_returned`]).
    fn learn_number(
        &mut self,
        series: Series,
        number: u64,
        used: NumberUse,
    ) -> Result<(), WriteError> {
        match self.number_use(series, number)? {
            None => {}
            Some(NumberUse::Voided { operator, .. }) if operator.as_str() == SKIPPED_BY => {}
            Some(NumberUse::Issued { record, .. }) => {
                if let NumberUse::Issued { record: back, .. } = &used
                    && *back != record
                {
                    // Handed out again after the store went back and before this record came
                    // back: two records carry the number. Said, for the department to settle.
                    tracing::error!(%series, number, first = %back, again = %record, "a number of ours is on two records: handed out again before the record that carries it came back");
                    self.audit(AuditEvent {
                        actor: SKIPPED_BY.into(),
                        action: "number.duplicate".into(),
                        record: Some(*back),
                        changes: Vec::new(),
                        detail: Some(format!("{series} {number} is also on {record}")),
                    })?;
                }
                return Ok(());
            }
            Some(NumberUse::Voided { .. }) => return Ok(()),
        }
        tracing::warn!(%series, number, "a number of ours came back on a record this node had lost: never handed out again");
        self.put_number(series, number, &used)?;
        let node = self.node().clone();
        if let Some(mut state) = self.ranges()?.into_iter().find(|r| {
            r.range.series == series && r.range.holder == node && r.range.contains(number)
        }) && state.next <= number
        {
            self.skip_to(&mut state, number + 1)?;
            self.put_range(&state)?;
        }
        Ok(())
    }

    /// A range being taken into the ledger starts past every number of it the ledger already
    /// holds: numbers on records of ours that came back before the range did. Those below
    /// that it does not hold are voided until their own records come.
    pub(crate) fn start_past_returned(&mut self, state: &mut RangeState) -> Result<(), WriteError> {
        let range = &state.range;
        if let Some(last) = self.last_noted(range.series, state.next, range.end)? {
            tracing::warn!(range = %range.id, last, "a range taken again starts past the numbers of ours that came back before it");
            self.skip_to(state, last + 1)?;
        }
        Ok(())
    }

    /// Moves the cursor of `state` to `next`, voiding every number it passes that the ledger
    /// says nothing of.
    fn skip_to(&mut self, state: &mut RangeState, next: u64) -> Result<(), WriteError> {
        let series = state.range.series;
        let skipped_by = OperatorName::new(SKIPPED_BY).expect("a valid operator name");
        for skipped in state.next..next {
            if self.number_use(series, skipped)?.is_none() {
                let void = NumberUse::Voided {
                    record: None,
                    reason: SKIPPED.into(),
                    operator: skipped_by.clone(),
                    at_ms: self.now_ms(),
                };
                self.put_number(series, skipped, &void)?;
            }
        }
        state.next = state.next.max(next);
        Ok(())
    }
}

fn issued(id: RecordId, header: &Header) -> NumberUse {
    NumberUse::Issued {
        record: id,
        operator: header.operator.clone(),
        at_ms: header.created_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeName;
    use crate::numbers::NumberRange;
    use crate::roles::{DeskRole, NodeRole, Operator};
    use crate::test_support::temp_store;

    /// Records of ours come back before the lease of their range (a whole data directory
    /// copied back from before the range was leased): the range, when it is taken again,
    /// starts past their numbers and never hands them out again.
    #[test]
    fn numbers_that_come_back_before_their_range_are_never_handed_out_again() {
        let (_d, w01, admin, range) = w01_and_a_range();
        let series = Series::EmergencyRegistration;
        let (first, third) = (range.start, range.start + 2);
        w01.write(move |tx| tx.learn_number(series, third, used(3)))
            .expect("learn the third");
        assert!(
            w01.ranges().expect("ranges").is_empty(),
            "no range held yet"
        );
        let taken = w01.accept_lease(&admin, range).expect("accept").value;
        assert_eq!(
            taken.next,
            third + 1,
            "the range starts past what came back"
        );
        let ledger = ledger_of(&w01);
        assert_eq!(ledger.get(&third), Some(&used(3)));
        assert!(matches!(ledger.get(&first), Some(NumberUse::Voided { .. })));
        // The first number's record comes after: issued, and the cursor stays.
        w01.write(move |tx| tx.learn_number(series, first, used(1)))
            .expect("learn the first");
        assert_eq!(ledger_of(&w01).get(&first), Some(&used(1)));
        assert_eq!(w01.ranges().expect("ranges")[0].next, third + 1);
        assert!(w01.range_report().expect("report").is_clean());
    }

    /// A window, an admin, and a range of ten emergency registration numbers central leased
    /// it, not yet taken.
    fn w01_and_a_range() -> (
        tempfile::TempDir,
        crate::store::Store,
        Operator,
        NumberRange,
    ) {
        let (dir, w01, _) = temp_store("W01", NodeRole::Window);
        let (_c, central, _) = temp_store("central", NodeRole::Central);
        let admin = Operator::new(OperatorName::new("info1").expect("valid"), DeskRole::Admin);
        let range = central
            .lease_range(
                &admin,
                Series::EmergencyRegistration,
                NodeName::new("W01").expect("valid"),
                10,
            )
            .expect("lease")
            .value;
        (dir, w01, admin, range)
    }

    fn used(n: u8) -> NumberUse {
        NumberUse::Issued {
            record: RecordId::from_bytes([n; 16]),
            operator: OperatorName::new("reg1").expect("valid"),
            at_ms: 1,
        }
    }

    /// The ledger's entries for the numbers of the store's first range.
    fn ledger_of(store: &crate::store::Store) -> std::collections::BTreeMap<u64, NumberUse> {
        let ranges = store.ranges().expect("ranges");
        let entries = store.ledger_entries(&ranges).expect("ledger");
        entries
            .into_iter()
            .next()
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    /// Records come back out of order: a number skipped is voided until its own record comes,
    /// then issued; a number the ledger already holds is left as it is.
    #[test]
    fn a_skipped_number_is_voided_until_its_record_comes() {
        let (_d, w01, admin, range) = w01_and_a_range();
        w01.accept_lease(&admin, range).expect("accept");
        let series = Series::EmergencyRegistration;
        let ledger = |n: u64| ledger_of(&w01).get(&n).cloned();
        w01.write(move |tx| tx.learn_number(series, 3, used(3)))
            .expect("learn 3");
        assert!(matches!(ledger(1), Some(NumberUse::Voided { .. })));
        assert!(matches!(ledger(2), Some(NumberUse::Voided { .. })));
        assert_eq!(ledger(3), Some(used(3)));
        assert_eq!(w01.ranges().expect("ranges")[0].next, 4);
        w01.write(move |tx| tx.learn_number(series, 2, used(2)))
            .expect("learn 2");
        assert_eq!(ledger(2), Some(used(2)));
        w01.write(move |tx| tx.learn_number(series, 3, used(9)))
            .expect("learn 3 again");
        assert_eq!(ledger(3), Some(used(3)), "what the ledger holds stays");
        // and the second record carrying 3 is said, in the audit trail.
        let entries = w01.verify_audit().expect("read").expect("intact");
        let last = w01.audit_entries(entries, 1).expect("audit");
        assert_eq!(last[0].action, "number.duplicate", "{last:?}");
        assert_eq!(last[0].record, Some(RecordId::from_bytes([9; 16])));
        assert_eq!(w01.ranges().expect("ranges")[0].next, 4);
        assert!(w01.range_report().expect("report").is_clean());
    }
}
