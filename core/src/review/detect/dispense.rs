//! Dispensing conflicts: one prescription dispensed on two nodes, or dispensed on one and
//! cancelled on another.

use automerge::Automerge;

use super::{fingerprint, state_values, status_conflict, status_values};
use crate::id::RecordId;
use crate::record::{Dispense, Header};
use crate::review::conflict::{CompetingValue, Conflict, ConflictKind};
use crate::status::{DispenseStatus, Stamp};

/// A dispense record in state dispensed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DispenseFact {
    pub id: RecordId,
    pub stamp: Stamp,
}

/// The prescription a dispense document belongs to, if it is one in state dispensed.
pub(crate) fn dispense_fact(doc: &Automerge) -> Option<(RecordId, DispenseFact)> {
    let d: Dispense = autosurgeon::hydrate(doc).ok()?;
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
