//! The detectors: each reads one document (or two patients) and returns the conflicts a
//! person has to review. Shared here: how competing values are listed and fingerprinted.

mod duplicate;
mod field;
mod status_log;

use automerge::{Automerge, ObjId};

pub(crate) use duplicate::duplicate_conflict;
pub(crate) use field::{field_conflict, field_conflicts};
pub(crate) use status_log::{
    DispenseFact, charge_conflicts, dispense_fact, prescription_conflicts,
};

use super::conflict::CompetingValue;
use super::value;
use crate::id::RecordId;

/// What a decision saw: the competing values' operation ids (or keys), in order.
pub(crate) fn fingerprint<I: IntoIterator<Item = String>>(parts: I) -> String {
    let mut parts: Vec<String> = parts.into_iter().collect();
    parts.sort();
    parts.join(",")
}

/// One competing value, with who wrote it.
fn competing(
    doc: &Automerge,
    index: usize,
    record: RecordId,
    value: &serde_json::Value,
    op: &ObjId,
    shown: bool,
) -> CompetingValue {
    let w = value::written(doc, op);
    CompetingValue {
        index,
        record,
        value: value.to_string(),
        node: w.node,
        operator: w.operator,
        desk: w.desk,
        action: w.action,
        at_ms: w.at_ms,
        shown,
    }
}
