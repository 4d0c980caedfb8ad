//! Two bridges' concurrent values of an HIS patient's field, settled by the HIS. Central and
//! the standby split apart both run the HIS bridge (each by its rule), and when the HIS
//! changes a patient between their pulls, both write the patient's record: its phone, say,
//! holds two concurrent values, and Automerge's pick may be the older (simulator seed 5035
//! `--store`). Each pull writes the row's change mark (`his_changed`, the HIS's `updated_at`)
//! in the same change as the fields it writes, so the value written from the HIS's later
//! state is known: central takes it, as a review decision by the system, in the report and
//! the audit trail like a reviewer's. A value written by a desk (its change carries no mark)
//! leaves the conflict to the information department, as does a tie.

use automerge::{Automerge, ChangeHash, ROOT, ReadDoc};

use super::WorkCategory;
use super::conflict::ConflictKind;
use super::decide::{Resolution, resolve_field};
use super::target::Target;
use crate::WriteError;
use crate::record::RecordKind;
use crate::roles::Operator;
use crate::store::Store;

/// The document key of the HIS change mark ([`crate::record::Patient::his_changed`]).
pub(crate) const HIS_CHANGED: &str = "his_changed";

/// What a decision taken by the HIS's later state says before its value (the report words
/// it in the reader's language).
pub const HIS_LATER_DECISION: &str = "took the HIS's later state, value";

/// The change mark the change `hash` wrote, if it wrote one.
fn mark_written_by(doc: &Automerge, hash: ChangeHash) -> Option<i64> {
    let at = doc.get_all_at(ROOT, HIS_CHANGED, &[hash]).ok()?;
    at.iter()
        .find(|(_, op)| doc.hash_for_opid(op) == Some(hash))
        .and_then(|(value, _)| value.as_i64())
}

/// Of `field`'s concurrent values, the index of the one written from the HIS's latest state:
/// every value's change must have written a change mark, and one value alone the latest.
pub(crate) fn his_later_value(doc: &Automerge, field: &str) -> Option<usize> {
    let all = doc.get_all(ROOT, field).ok()?;
    if all.len() < 2 {
        return None;
    }
    let marks = all
        .iter()
        .map(|(_, op)| mark_written_by(doc, doc.hash_for_opid(op)?))
        .collect::<Option<Vec<i64>>>()?;
    let latest = *marks.iter().max()?;
    let mut at_latest = marks.iter().enumerate().filter(|(_, m)| **m == latest);
    let (index, _) = at_latest.next()?;
    at_latest.next().is_none().then_some(index)
}

impl Store {
    /// Settles every open conflict on a field of a patient whose concurrent values were all
    /// pulled from the HIS, by the HIS's later state (see the module's documentation): what
    /// central's housekeeping does each round. Reads the open-item index, so it costs what the
    /// open conflicts cost. Returns how many it settled.
    pub fn settle_his_conflicts(&self, who: &Operator) -> Result<usize, WriteError> {
        let mut settled = 0;
        for item in self.open_items(&[WorkCategory::ReviewConflict])? {
            if item.conflict != Some(ConflictKind::FieldConflict) {
                continue;
            }
            let Some(Target::Field { record, field }) = Target::parse(&item.id) else {
                continue;
            };
            if self.header(record)?.map(|h| h.kind) != Some(RecordKind::Patient) {
                continue;
            }
            // Judged on a read first: a conflict the HIS cannot settle (a desk's value) is
            // looked at every round, and needs no turn of the writer.
            let decidable = self
                .doc(record)?
                .is_some_and(|doc| his_later_value(&doc, &field).is_some());
            if !decidable {
                continue;
            }
            let who = who.clone();
            // Judged again in the commit that settles it: the record may have changed since.
            let done = self.write(move |tx| {
                let Some(doc) = tx.doc(record)? else {
                    return Ok(false);
                };
                let Some(index) = his_later_value(doc, &field) else {
                    return Ok(false);
                };
                resolve_field(
                    tx,
                    &who,
                    record,
                    &field,
                    Resolution::ChooseValue(index),
                    Some(HIS_LATER_DECISION),
                )?;
                Ok(true)
            })?;
            if done {
                tracing::info!(%record, field = %item.id, "settled by the HIS's later state");
                settled += 1;
            }
        }
        Ok(settled)
    }
}
