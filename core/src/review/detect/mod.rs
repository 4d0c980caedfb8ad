//! The detectors: each reads one document (or two patients) and returns the conflicts a
//! person has to review. Shared here: how competing values are listed and fingerprinted.

mod charge;
mod dispense;
mod duplicate;
mod field;

use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, Value};

pub(crate) use charge::charge_conflicts;
pub(crate) use dispense::{DispenseFact, dispense_fact, prescription_conflicts};
pub(crate) use duplicate::duplicate_conflict;
pub(crate) use field::{field_conflict, field_conflicts};

use super::conflict::{CompetingValue, Conflict, ConflictKind, ConflictStatus, ReviewAction};
use super::target::Target;
use super::value;
use crate::id::RecordId;
use crate::record::Header;

pub(crate) fn fingerprint<I: IntoIterator<Item = String>>(parts: I) -> String {
    let mut parts: Vec<String> = parts.into_iter().collect();
    parts.sort();
    parts.join(",")
}

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

/// Every concurrent value of a state key in the status log, with its operation id.
fn status_values(doc: &Automerge, state: &str) -> Vec<(serde_json::Value, ObjId)> {
    let mut out = Vec::new();
    for (log, log_id) in doc.get_all(ROOT, "status_log").unwrap_or_default() {
        if !matches!(log, Value::Object(ObjType::Map)) {
            continue;
        }
        for (v, op) in doc.get_all(&log_id, state).unwrap_or_default() {
            let mut json = value::json(doc, &v, &op);
            if let serde_json::Value::Object(map) = &mut json {
                map.insert("state".into(), serde_json::Value::String(state.to_owned()));
            }
            out.push((json, op));
        }
    }
    out
}

fn status_conflict(
    kind: ConflictKind,
    header: &Header,
    records: Vec<RecordId>,
    values: Vec<CompetingValue>,
    fingerprint: String,
    automatic: &str,
) -> Conflict {
    Conflict {
        id: Target::Status {
            kind,
            record: header.id,
        }
        .id(),
        kind,
        status: ConflictStatus::Open,
        record_kind: header.kind,
        records,
        field: Some("status_log".into()),
        values,
        duplicate: None,
        automatic_decision: Some(automatic.to_owned()),
        actions: vec![ReviewAction::Confirm],
        decision: None,
        fingerprint,
    }
}

/// Values of a state key, as competing values numbered from `start`; the last is shown.
fn state_values(
    doc: &Automerge,
    header: &Header,
    found: &[(serde_json::Value, ObjId)],
    start: usize,
    shown: bool,
) -> Vec<CompetingValue> {
    let last = found.len().saturating_sub(1);
    found
        .iter()
        .enumerate()
        .map(|(i, (json, op))| competing(doc, start + i, header.id, json, op, shown && i == last))
        .collect()
}
