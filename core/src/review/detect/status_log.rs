//! Conflicts in a status log that the furthest-state rule settles but a person must check:
//! one prescription dispensed on two nodes, or dispensed on one and cancelled on another
//! (drugs may have been handed out twice); one charge settled or invoiced on two nodes (money
//! taken or an invoice issued twice).

use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, Value};

use super::{competing, fingerprint};
use crate::id::RecordId;
use crate::record::{Dispense, Header};
use crate::review::conflict::{
    CompetingValue, Conflict, ConflictKind, ConflictStatus, ReviewAction,
};
use crate::review::target::Target;
use crate::review::value;
use crate::status::{DispenseStatus, Stamp};

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

/// A dispense record in state dispensed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DispenseFact {
    pub id: RecordId,
    pub stamp: Stamp,
}

/// The prescription a dispense document belongs to, if it is one in state dispensed.
pub(crate) fn dispense_fact(doc: &Automerge) -> Option<(RecordId, DispenseFact)> {
    let d: Dispense = crate::record::hydrate(doc).ok()?;
    let stamp = d.status_log.reached(DispenseStatus::Dispensed)?.clone();
    Some((
        d.prescription,
        DispenseFact {
            id: d.header.id,
            stamp,
        },
    ))
}

/// A prescription dispensed twice, or dispensed and cancelled. `dispenses` are its dispense
/// records in state dispensed.
pub(crate) fn prescription_conflicts(
    doc: &Automerge,
    header: &Header,
    dispenses: &[DispenseFact],
) -> Vec<Conflict> {
    let mut out = Vec::new();
    let dispensed = status_values(doc, "dispensed");
    // One dispense operation stamps all the prescription's on-hold dispenses alike; only
    // different stamps are different hand-outs.
    let mut stamps: Vec<&Stamp> = dispenses.iter().map(|d| &d.stamp).collect();
    stamps.sort_by(|a, b| (a.at_ms, &a.node, &a.operator).cmp(&(b.at_ms, &b.node, &b.operator)));
    stamps.dedup();
    if dispensed.len() > 1 || stamps.len() > 1 {
        let mut values = state_values(doc, header, &dispensed, 0, true);
        let mut records = vec![header.id];
        let mut parts: Vec<String> = dispensed.iter().map(|(_, op)| op.to_string()).collect();
        if stamps.len() > 1 {
            for d in dispenses {
                records.push(d.id);
                parts.push(format!("dispense:{}", d.id));
                let json = serde_json::json!({
                    "state": "dispensed",
                    "dispense": d.id,
                    "at_ms": d.stamp.at_ms,
                    "node": d.stamp.node,
                    "operator": d.stamp.operator,
                });
                values.push(CompetingValue {
                    index: values.len(),
                    record: d.id,
                    value: json.to_string(),
                    node: Some(d.stamp.node.to_string()),
                    operator: Some(d.stamp.operator.to_string()),
                    desk: None,
                    action: None,
                    at_ms: Some(d.stamp.at_ms),
                    shown: false,
                });
            }
        }
        out.push(status_conflict(
            ConflictKind::DoubleDispense,
            header,
            records,
            values,
            fingerprint(parts),
            "the prescription stays dispensed (furthest state), but the drugs may have been \
             handed out twice: check the stock and the patient, then confirm",
        ));
    }
    let cancelled = status_values(doc, "cancelled");
    if !dispensed.is_empty() && !cancelled.is_empty() {
        let mut values = state_values(doc, header, &dispensed, 0, true);
        values.extend(state_values(doc, header, &cancelled, values.len(), false));
        let parts = dispensed
            .iter()
            .chain(&cancelled)
            .map(|(_, op)| op.to_string());
        out.push(status_conflict(
            ConflictKind::DispensedAndCancelled,
            header,
            vec![header.id],
            values,
            fingerprint(parts),
            "kept dispensed: the furthest-state rule outranks the cancel; a person must confirm \
             the drugs were handed out",
        ));
    }
    out
}

/// A charge settled twice (the patient may have paid twice) or invoiced twice.
pub(crate) fn charge_conflicts(doc: &Automerge, header: &Header) -> Vec<Conflict> {
    let mut out = Vec::new();
    for (state, kind, automatic) in [
        (
            "settled",
            ConflictKind::DoubleSettlement,
            "the charge stays settled, but it was settled on two nodes: the patient may have \
             paid twice; refund one payment, then confirm",
        ),
        (
            "invoiced",
            ConflictKind::DoubleInvoice,
            "the charge stays invoiced, but two invoices cover it: void one, then confirm",
        ),
    ] {
        let found = status_values(doc, state);
        if found.len() > 1 {
            let values = state_values(doc, header, &found, 0, true);
            let parts = found.iter().map(|(_, op)| op.to_string());
            out.push(status_conflict(
                kind,
                header,
                vec![header.id],
                values,
                fingerprint(parts),
                automatic,
            ));
        }
    }
    out
}
