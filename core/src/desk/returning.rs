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
//! number below its cursor.
//!
//! What the desks handed out after the copy and before the records came back may be on two
//! records: nothing could tell the node sooner. When the second comes back the node says so
//! (an error in its log, `number.duplicate` in its audit trail), and the range report shows
//! the number on both.

use crate::WriteError;
use crate::id::{OperatorName, RecordId};
use crate::numbers::{NumberUse, Series, emergency_number};
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
                if lease.holder != *self.node() || lease.spoiled.is_empty() {
                    return Ok(());
                }
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

    /// Notes `number` as `used` if it falls in a range of ours the ledger says nothing of (or
    /// only that its cursor skipped it), and moves the range's cursor past it.
    fn learn_number(
        &mut self,
        series: Series,
        number: u64,
        used: NumberUse,
    ) -> Result<(), WriteError> {
        let node = self.node().clone();
        let Some(mut state) = self.ranges()?.into_iter().find(|r| {
            r.range.series == series && r.range.holder == node && r.range.contains(number)
        }) else {
            return Ok(());
        };
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
        tracing::warn!(%series, number, range = %state.range.id, "a number of ours came back on a record this node had lost: never handed out again");
        self.put_number(series, number, &used)?;
        if state.next <= number {
            let skipped_by = OperatorName::new(SKIPPED_BY).expect("a valid operator name");
            for skipped in state.next..number {
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
            state.next = number + 1;
            self.put_range(&state)?;
        }
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
    use crate::roles::{DeskRole, NodeRole, Operator};
    use crate::test_support::temp_store;

    /// Records come back out of order: a number skipped is voided until its own record comes,
    /// then issued; a number the ledger already holds is left as it is.
    #[test]
    fn a_skipped_number_is_voided_until_its_record_comes() {
        let (_d, w01, _) = temp_store("W01", NodeRole::Window);
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
        w01.accept_lease(&admin, range).expect("accept");
        fn used(n: u8) -> NumberUse {
            NumberUse::Issued {
                record: RecordId::from_bytes([n; 16]),
                operator: OperatorName::new("reg1").expect("valid"),
                at_ms: 1,
            }
        }
        let series = Series::EmergencyRegistration;
        let ledger = |n: u64| {
            let ranges = w01.ranges().expect("ranges");
            let entries = w01.ledger_entries(&ranges).expect("ledger");
            let found = entries[0].iter().find(|(k, _)| *k == n);
            found.map(|(_, used)| used.clone())
        };
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
