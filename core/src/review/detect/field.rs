//! Field conflicts: a record field that Automerge holds with several concurrent values (a
//! phone number corrected on two windows during a partition).

use automerge::{Automerge, ROOT, ReadDoc};

use super::{competing, fingerprint};
use crate::record::{CENTRAL_ACK_KEY, Header};
use crate::review::REVIEWS_KEY;
use crate::review::conflict::{
    CompetingValue, Conflict, ConflictKind, ConflictStatus, ReviewAction,
};
use crate::review::target::Target;
use crate::review::value;

/// Top-level document keys that are not reviewed as fields: the header never changes, the
/// status log and reviews are maps merged key by key, central's receipt is idempotent, and
/// an HIS patient's change mark only says which HIS state its fields' values came from.
const NOT_FIELDS: [&str; 5] = [
    "header",
    "status_log",
    REVIEWS_KEY,
    CENTRAL_ACK_KEY,
    crate::review::his_later::HIS_CHANGED,
];

/// Every field of a record that Automerge holds with concurrent values. One pass over the
/// record's fields finds those with several (asking each field for all its values would seek
/// each one afresh, and the store asks this of every record it writes).
pub(crate) fn field_conflicts(doc: &Automerge, header: &Header) -> Vec<Conflict> {
    doc.map_range(ROOT, ..)
        .filter(|item| item.conflict && !NOT_FIELDS.contains(&item.key.as_ref()))
        .filter_map(|item| field_conflict(doc, header, &item.key))
        .collect()
}

/// The conflict on one field, if it holds several concurrent values.
pub(crate) fn field_conflict(doc: &Automerge, header: &Header, field: &str) -> Option<Conflict> {
    let all = doc.get_all(ROOT, field).ok()?;
    if all.len() < 2 {
        return None;
    }
    let last = all.len() - 1;
    let values: Vec<CompetingValue> = all
        .iter()
        .enumerate()
        .map(|(i, (v, op))| {
            let json = value::json(doc, v, op);
            competing(doc, i, header.id, &json, op, i == last)
        })
        .collect();
    // The same value written on two nodes is no disagreement.
    if values.iter().all(|v| v.value == values[0].value) {
        return None;
    }
    let fingerprint = fingerprint(all.iter().map(|(_, op)| op.to_string()));
    let target = Target::Field {
        record: header.id,
        field: field.to_owned(),
    };
    let shown = &values[last].value;
    Some(Conflict {
        id: target.id(),
        kind: ConflictKind::FieldConflict,
        status: ConflictStatus::Open,
        record_kind: header.kind,
        records: vec![header.id],
        field: Some(field.to_owned()),
        automatic_decision: Some(format!(
            "currently shown: value {last} ({shown}), Automerge's deterministic pick; open until \
             a reviewer chooses"
        )),
        actions: values
            .iter()
            .map(|v| ReviewAction::ChooseValue {
                index: v.index,
                value: v.value.clone(),
            })
            .collect(),
        values,
        duplicate: None,
        decision: None,
        fingerprint,
    })
}
