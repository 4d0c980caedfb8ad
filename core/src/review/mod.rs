//! Conflict detection, the review queue and the recovery worklist.
//!
//! Automatic rules settle most concurrent edits (forward-only statuses take the furthest
//! state; set-like fields union). What they cannot settle goes to a person:
//! - [`ConflictKind::FieldConflict`]: a record field that Automerge holds with several
//!   concurrent values (a phone number corrected on two windows during a partition);
//! - [`ConflictKind::DuplicatePatient`]: two patient records sharing a national id, or the
//!   same name, birth date and phone, created on different nodes;
//! - [`ConflictKind::DoubleDispense`] and [`ConflictKind::DispensedAndCancelled`]: one
//!   prescription dispensed on two nodes, or dispensed on one and cancelled on another;
//! - [`ConflictKind::DoubleSettlement`] and [`ConflictKind::DoubleInvoice`]: one charge
//!   settled, or invoiced, on two nodes (money taken or an invoice issued twice).
//!
//! A conflict's id is derived from its kind, records and field, so the same conflict has the
//! same id on every node. A review decision is itself a change: it is written into the
//! affected document's `reviews` map (conflict id → [`ReviewRecord`]), so it replicates with
//! the record, is audited like any change, and shows in the report. A decision covers the
//! evidence it saw (its `evidence` fingerprint): new competing values reopen the conflict.
//!
//! Scope, so that a report stays cheap: every patient (the patient master, whatever its age),
//! the other records created within [`REVIEW_WINDOW_DAYS`], and every emergency record central
//! has not acknowledged yet. Duplicate patients come from the patient-key index, not a scan.

mod decide;
mod value;
mod worklist;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;

use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, Value};
use autosurgeon::{Hydrate, Reconcile};
use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

pub use decide::Resolution;
pub use worklist::{
    EPISODE_LOOKBACK_DAYS, RESETTLE_LOOKBACK_DAYS, WorkCategory, WorkItem, Worklist,
};

use crate::clock::UnixMs;
use crate::id::{NodeName, OperatorName, RecordId};
use crate::record::{CENTRAL_ACK_KEY, Dispense, Header, Patient, RecordKind};
use crate::status::{DispenseStatus, Stamp};
use crate::store::tables;
use crate::store::{ReadError, StorageContext, Store};

/// Records other than patients are reviewed when created within this many days (or when
/// they are emergency records central has not acknowledged, whatever their age).
pub const REVIEW_WINDOW_DAYS: i64 = 30;

/// Document key of the review decisions: conflict id → [`ReviewRecord`].
pub const REVIEWS_KEY: &str = "reviews";

pub(crate) const MS_PER_DAY: i64 = 86_400_000;

/// Most patients of one shared key compared pairwise (a placeholder national id shared by
/// hundreds of records would otherwise make a quadratic report).
const MAX_GROUP: usize = 16;

/// Ids read from an index per read transaction during a scan.
const PAGE: usize = 1024;

/// Top-level document keys that are not reviewed as fields: the header never changes, the
/// status log and reviews are maps merged key by key, and central's receipt is idempotent.
const NOT_FIELDS: [&str; 4] = ["header", "status_log", REVIEWS_KEY, CENTRAL_ACK_KEY];

/// What kind of conflict a person has to review.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Hydrate,
    Reconcile,
)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    #[autosurgeon(rename = "field_conflict")]
    FieldConflict,
    #[autosurgeon(rename = "duplicate_patient")]
    DuplicatePatient,
    #[autosurgeon(rename = "double_dispense")]
    DoubleDispense,
    #[autosurgeon(rename = "dispensed_and_cancelled")]
    DispensedAndCancelled,
    #[autosurgeon(rename = "double_settlement")]
    DoubleSettlement,
    #[autosurgeon(rename = "double_invoice")]
    DoubleInvoice,
}

impl ConflictKind {
    pub const ALL: [ConflictKind; 6] = [
        ConflictKind::FieldConflict,
        ConflictKind::DuplicatePatient,
        ConflictKind::DoubleDispense,
        ConflictKind::DispensedAndCancelled,
        ConflictKind::DoubleSettlement,
        ConflictKind::DoubleInvoice,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConflictKind::FieldConflict => "field_conflict",
            ConflictKind::DuplicatePatient => "duplicate_patient",
            ConflictKind::DoubleDispense => "double_dispense",
            ConflictKind::DispensedAndCancelled => "dispensed_and_cancelled",
            ConflictKind::DoubleSettlement => "double_settlement",
            ConflictKind::DoubleInvoice => "double_invoice",
        }
    }

    /// The first part of a conflict id.
    fn prefix(self) -> &'static str {
        match self {
            ConflictKind::FieldConflict => "field",
            ConflictKind::DuplicatePatient => "duplicate",
            ConflictKind::DoubleDispense => "double-dispense",
            ConflictKind::DispensedAndCancelled => "dispensed-cancelled",
            ConflictKind::DoubleSettlement => "double-settlement",
            ConflictKind::DoubleInvoice => "double-invoice",
        }
    }

    /// The kind of record a conflict of this kind is about, where the kind decides it.
    fn record_kind(self) -> Option<RecordKind> {
        match self {
            ConflictKind::FieldConflict => None,
            ConflictKind::DuplicatePatient => Some(RecordKind::Patient),
            ConflictKind::DoubleDispense | ConflictKind::DispensedAndCancelled => {
                Some(RecordKind::Prescription)
            }
            ConflictKind::DoubleSettlement | ConflictKind::DoubleInvoice => {
                Some(RecordKind::Charge)
            }
        }
    }
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a conflict still waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    Open,
    Resolved,
}

impl fmt::Display for ConflictStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConflictStatus::Open => "open",
            ConflictStatus::Resolved => "resolved",
        })
    }
}

/// One of the values in conflict, and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompetingValue {
    /// Its position, as used by [`Resolution::ChooseValue`].
    pub index: usize,
    /// The record holding the value.
    pub record: RecordId,
    /// The value as JSON text (strings quoted).
    pub value: String,
    /// The node that wrote it, from the Automerge change's actor.
    pub node: Option<String>,
    pub operator: Option<String>,
    pub desk: Option<String>,
    /// The operation that wrote it, e.g. `patient.update`.
    pub action: Option<String>,
    pub at_ms: Option<UnixMs>,
    /// What the record shows now (Automerge's deterministic pick, or the furthest state).
    pub shown: bool,
}

/// A search key two patient records share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedKey {
    /// `national_id` or `name_birth_date_phone`.
    pub key: &'static str,
    pub value: String,
}

/// Why two patient records look like one person: the keys they share and both records
/// (fields, origin node, operator, creation time, episode tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateEvidence {
    pub matched: Vec<MatchedKey>,
    pub patients: Vec<Patient>,
}

/// What a reviewer can do about a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ReviewAction {
    /// Keep value `index` ([`Resolution::ChooseValue`]).
    ChooseValue { index: usize, value: String },
    /// Confirm the automatic decision after checking ([`Resolution::Confirm`]).
    Confirm,
    /// Merge `duplicate` into `survivor` ([`Store::merge_patients`]).
    MergePatients {
        survivor: RecordId,
        duplicate: RecordId,
    },
    /// They are different people ([`Resolution::KeepSeparate`]).
    KeepSeparate,
}

impl fmt::Display for ReviewAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReviewAction::ChooseValue { index, value } => {
                write!(f, "choose value {index} ({value})")
            }
            ReviewAction::Confirm => f.write_str("confirm"),
            ReviewAction::MergePatients {
                survivor,
                duplicate,
            } => write!(f, "merge-patients {survivor} {duplicate}"),
            ReviewAction::KeepSeparate => f.write_str("keep-separate"),
        }
    }
}

/// A reviewer's decision, as stored in the affected document's `reviews` map.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct ReviewRecord {
    /// The conflict id (also the key in `reviews`).
    pub conflict: String,
    pub kind: ConflictKind,
    pub record_kind: RecordKind,
    pub records: Vec<RecordId>,
    pub field: Option<String>,
    /// What was decided, in words: `chose value 1: "13900000000"`, `merged A into B`, ...
    pub decision: String,
    pub operator: OperatorName,
    pub node: NodeName,
    pub at_ms: UnixMs,
    /// Fingerprint of the competing values the decision saw; other values reopen it.
    pub evidence: String,
}

/// One entry of the conflict review report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// Stable across nodes: `field:<record>:<field>`, `duplicate:<a>:<b>` (ids in order),
    /// `double-dispense:<rx>`, `dispensed-cancelled:<rx>`, `double-settlement:<charge>`,
    /// `double-invoice:<charge>`.
    pub id: String,
    pub kind: ConflictKind,
    pub status: ConflictStatus,
    pub record_kind: RecordKind,
    /// The records involved, the one holding the conflict first.
    pub records: Vec<RecordId>,
    pub field: Option<String>,
    pub values: Vec<CompetingValue>,
    /// For duplicate patients: the evidence.
    pub duplicate: Option<DuplicateEvidence>,
    /// What the rules did meanwhile, if anything.
    pub automatic_decision: Option<String>,
    /// What a reviewer can do (empty once resolved).
    pub actions: Vec<ReviewAction>,
    /// The latest review decision, if any (an open conflict may carry an older decision
    /// that new values reopened).
    pub decision: Option<ReviewRecord>,
    #[serde(skip)]
    pub(crate) fingerprint: String,
}

impl Conflict {
    /// One line for a list: status, kind, records, field and the competing values.
    pub fn summary(&self) -> String {
        let mut s = format!("[{}] {} {}", self.status, self.kind, self.record_kind);
        let ids: Vec<String> = self.records.iter().map(ToString::to_string).collect();
        s.push(' ');
        s.push_str(&ids.join("/"));
        if let Some(field) = &self.field {
            s.push_str(&format!(" {field}"));
        }
        if !self.values.is_empty() {
            let values: Vec<String> = self
                .values
                .iter()
                .map(|v| {
                    let who = [v.node.as_deref(), v.operator.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    let shown = if v.shown { ", shown" } else { "" };
                    format!("{} {} ({who}{shown})", v.index, v.value)
                })
                .collect();
            s.push_str(": ");
            s.push_str(&values.join("; "));
        }
        if let Some(d) = &self.decision
            && self.status == ConflictStatus::Resolved
        {
            s.push_str(&format!(
                " -- {} by {} on {}",
                d.decision, d.operator, d.node
            ));
        }
        s
    }

    /// A conflict no longer present in the records, known from its review decision.
    fn decided(review: ReviewRecord) -> Conflict {
        Conflict {
            id: review.conflict.clone(),
            kind: review.kind,
            status: ConflictStatus::Resolved,
            record_kind: review.record_kind,
            records: review.records.clone(),
            field: review.field.clone(),
            values: Vec::new(),
            duplicate: None,
            automatic_decision: None,
            actions: Vec::new(),
            fingerprint: review.evidence.clone(),
            decision: Some(review),
        }
    }
}

/// A conflict id, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Field {
        record: RecordId,
        field: String,
    },
    Pair {
        a: RecordId,
        b: RecordId,
    },
    Status {
        kind: ConflictKind,
        record: RecordId,
    },
}

impl Target {
    fn id(&self) -> String {
        match self {
            Target::Field { record, field } => {
                format!("{}:{record}:{field}", ConflictKind::FieldConflict.prefix())
            }
            Target::Pair { a, b } => {
                format!("{}:{a}:{b}", ConflictKind::DuplicatePatient.prefix())
            }
            Target::Status { kind, record } => format!("{}:{record}", kind.prefix()),
        }
    }

    /// A pair in id order, so that both nodes name it the same.
    fn pair(x: RecordId, y: RecordId) -> Target {
        Target::Pair {
            a: x.min(y),
            b: x.max(y),
        }
    }

    pub(crate) fn parse(id: &str) -> Option<Target> {
        let mut parts = id.splitn(3, ':');
        let prefix = parts.next()?;
        let kind = ConflictKind::ALL
            .into_iter()
            .find(|k| k.prefix() == prefix)?;
        let record: RecordId = parts.next()?.parse().ok()?;
        let rest = parts.next();
        match (kind, rest) {
            (ConflictKind::FieldConflict, Some(field)) if !field.is_empty() => {
                Some(Target::Field {
                    record,
                    field: field.to_owned(),
                })
            }
            (ConflictKind::DuplicatePatient, Some(other)) => {
                let other: RecordId = other.parse().ok()?;
                (record < other).then_some(Target::Pair {
                    a: record,
                    b: other,
                })
            }
            (ConflictKind::FieldConflict | ConflictKind::DuplicatePatient, _) => None,
            (kind, None) => Some(Target::Status { kind, record }),
            (_, Some(_)) => None,
        }
    }
}

pub(crate) fn header_of<D: ReadDoc + autosurgeon::ReadDoc>(doc: &D) -> Option<Header> {
    autosurgeon::hydrate_prop(doc, ROOT, "header").ok()
}

/// Every review decision in a document. Two nodes that recorded the first review of a
/// document concurrently each created a `reviews` map; both are read.
pub(crate) fn reviews_in<D: ReadDoc + autosurgeon::ReadDoc>(
    doc: &D,
) -> BTreeMap<String, ReviewRecord> {
    let mut out: BTreeMap<String, ReviewRecord> = BTreeMap::new();
    for (value, map) in doc.get_all(ROOT, REVIEWS_KEY).unwrap_or_default() {
        if !matches!(value, Value::Object(ObjType::Map)) {
            continue;
        }
        for key in doc.keys(&map) {
            let Ok(review) =
                autosurgeon::hydrate_prop::<_, ReviewRecord, _, _>(doc, &map, key.as_str())
            else {
                continue;
            };
            keep_latest(&mut out, review);
        }
    }
    out
}

fn keep_latest(reviews: &mut BTreeMap<String, ReviewRecord>, review: ReviewRecord) {
    match reviews.get(&review.conflict) {
        Some(old) if (old.at_ms, &old.operator) >= (review.at_ms, &review.operator) => {}
        _ => {
            reviews.insert(review.conflict.clone(), review);
        }
    }
}

fn fingerprint<I: IntoIterator<Item = String>>(parts: I) -> String {
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

/// Every field of a record that Automerge holds with concurrent values.
pub(crate) fn field_conflicts(doc: &Automerge, header: &Header) -> Vec<Conflict> {
    doc.keys(ROOT)
        .filter(|k| !NOT_FIELDS.contains(&k.as_str()))
        .filter_map(|k| field_conflict(doc, header, &k))
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

/// As the patient-key index normalizes names.
fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The search keys two patients share (the same keys the patient index groups by).
fn matched_keys(a: &Patient, b: &Patient) -> Vec<MatchedKey> {
    let mut out = Vec::new();
    if let (Some(x), Some(y)) = (&a.national_id, &b.national_id)
        && x.eq_ignore_ascii_case(y)
    {
        out.push(MatchedKey {
            key: "national_id",
            value: x.to_ascii_uppercase(),
        });
    }
    let person = |p: &Patient| {
        let digits: String = p.phone.chars().filter(char::is_ascii_digit).collect();
        format!("{}|{}|{digits}", normalize(&p.name), p.birth_date)
    };
    if person(a) == person(b) {
        out.push(MatchedKey {
            key: "name_birth_date_phone",
            value: person(a),
        });
    }
    out
}

/// The record to keep when merging: one registered outside an emergency, then the older.
fn suggested_survivor<'a>(a: &'a Patient, b: &'a Patient) -> (&'a Patient, &'a Patient) {
    let rank = |p: &Patient| (p.header.episode.is_some(), p.header.created_ms, p.header.id);
    if rank(a) <= rank(b) { (a, b) } else { (b, a) }
}

/// The duplicate-patient conflict between two live records that share a search key.
pub(crate) fn duplicate_conflict(a: &Patient, b: &Patient) -> Option<Conflict> {
    if a.header.id == b.header.id || a.merged_into.is_some() || b.merged_into.is_some() {
        return None;
    }
    let matched = matched_keys(a, b);
    if matched.is_empty() {
        return None;
    }
    let (a, b) = if a.header.id < b.header.id {
        (a, b)
    } else {
        (b, a)
    };
    let target = Target::pair(a.header.id, b.header.id);
    let values = [a, b]
        .iter()
        .enumerate()
        .map(|(index, p)| CompetingValue {
            index,
            record: p.header.id,
            value: serde_json::json!({
                "patient_no": p.patient_no,
                "name": p.name,
                "sex": p.sex,
                "birth_date": p.birth_date,
                "phone": p.phone,
                "national_id": p.national_id,
                "insurance": p.insurance,
            })
            .to_string(),
            node: Some(p.header.origin.to_string()),
            operator: Some(p.header.operator.to_string()),
            desk: None,
            action: Some("patient.create".into()),
            at_ms: Some(p.header.created_ms),
            shown: true,
        })
        .collect();
    let (survivor, duplicate) = suggested_survivor(a, b);
    let fingerprint = fingerprint(matched.iter().map(|m| format!("{}={}", m.key, m.value)));
    Some(Conflict {
        id: target.id(),
        kind: ConflictKind::DuplicatePatient,
        status: ConflictStatus::Open,
        record_kind: RecordKind::Patient,
        records: vec![a.header.id, b.header.id],
        field: None,
        values,
        duplicate: Some(DuplicateEvidence {
            matched,
            patients: vec![a.clone(), b.clone()],
        }),
        automatic_decision: None,
        actions: vec![
            ReviewAction::MergePatients {
                survivor: survivor.header.id,
                duplicate: duplicate.header.id,
            },
            ReviewAction::MergePatients {
                survivor: duplicate.header.id,
                duplicate: survivor.header.id,
            },
            ReviewAction::KeepSeparate,
        ],
        decision: None,
        fingerprint,
    })
}

/// What one report scan has gathered.
#[derive(Default)]
struct Scan {
    found: Vec<Conflict>,
    reviews: BTreeMap<String, ReviewRecord>,
    /// Prescription → its dispense records in state dispensed.
    dispenses: BTreeMap<RecordId, Vec<DispenseFact>>,
}

impl Store {
    /// The conflict review report: open conflicts first, then resolved ones (known from their
    /// review decisions), each kind together, in id order.
    ///
    /// Reads every patient, the other records created within [`REVIEW_WINDOW_DAYS`] and the
    /// emergency records central has not acknowledged; duplicates come from the patient-key
    /// index. A damaged record is skipped (and logged), not fatal to the report.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, ReadError> {
        let since_ms = self.now_ms() - REVIEW_WINDOW_DAYS * MS_PER_DAY;
        let old_unreconciled: Vec<RecordId> = self
            .unreconciled()?
            .into_iter()
            .filter(|id| id.created_ms() < since_ms)
            .collect();
        let mut scan = Scan::default();
        // Dispense records first, so that each prescription is checked with all of them.
        let mut dispense_ids = Vec::new();
        self.each_id(RecordKind::Dispense, Some(since_ms), |id| {
            dispense_ids.push(id);
            Ok(())
        })?;
        for id in dispense_ids
            .into_iter()
            .chain(old_unreconciled.iter().copied())
        {
            if let Some(doc) = self.doc_or_skip(id)?
                && let Some((rx, fact)) = dispense_fact(&doc)
            {
                scan.dispenses.entry(rx).or_default().push(fact);
            }
        }
        self.each_id(RecordKind::Patient, None, |id| {
            self.scan_record(&mut scan, id)
        })?;
        for kind in [
            RecordKind::Visit,
            RecordKind::Prescription,
            RecordKind::Charge,
            RecordKind::Invoice,
            RecordKind::Dispense,
        ] {
            self.each_id(kind, Some(since_ms), |id| self.scan_record(&mut scan, id))?;
        }
        for id in old_unreconciled {
            if self.header(id).ok().flatten().map(|h| h.kind) != Some(RecordKind::Patient) {
                self.scan_record(&mut scan, id)?;
            }
        }
        scan.found.extend(self.duplicate_patients()?);
        Ok(finish(scan))
    }

    /// Open and resolved conflicts of one record (and, for a patient, its duplicates).
    fn scan_record(&self, scan: &mut Scan, id: RecordId) -> Result<(), ReadError> {
        let Some(doc) = self.doc_or_skip(id)? else {
            return Ok(());
        };
        let Some(header) = header_of(&*doc) else {
            tracing::warn!(%id, "record without a readable header skipped by the review");
            return Ok(());
        };
        // Reference data has one writer; node records (episodes, leases) merge by their own
        // rules.
        if header.kind.is_catalog() || header.kind.is_node_record() {
            return Ok(());
        }
        for (_, review) in reviews_in(&*doc) {
            keep_latest(&mut scan.reviews, review);
        }
        scan.found.extend(field_conflicts(&doc, &header));
        match header.kind {
            RecordKind::Prescription => {
                let dispenses = scan.dispenses.get(&id).map_or(&[][..], Vec::as_slice);
                let found = prescription_conflicts(&doc, &header, dispenses);
                scan.found.extend(found);
            }
            RecordKind::Charge => scan.found.extend(charge_conflicts(&doc, &header)),
            _ => {}
        }
        Ok(())
    }

    /// Live patient pairs that share a national id, or a name, birth date and phone.
    fn duplicate_patients(&self) -> Result<Vec<Conflict>, ReadError> {
        let mut pairs: BTreeSet<(RecordId, RecordId)> = BTreeSet::new();
        for key_kind in ["nid", "person"] {
            for (_, ids) in self.patients_sharing(key_kind)? {
                let ids: Vec<RecordId> = ids.into_iter().take(MAX_GROUP).collect();
                for (i, &x) in ids.iter().enumerate() {
                    for &y in &ids[i + 1..] {
                        pairs.insert((x.min(y), x.max(y)));
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (a, b) in pairs {
            let (Some(pa), Some(pb)) = (self.patient_or_skip(a)?, self.patient_or_skip(b)?) else {
                continue;
            };
            out.extend(duplicate_conflict(&pa, &pb));
        }
        Ok(out)
    }

    fn patient_or_skip(&self, id: RecordId) -> Result<Option<Patient>, ReadError> {
        match self.get::<Patient>(id) {
            Ok(p) => Ok(p),
            Err(e @ (ReadError::Corrupt { .. } | ReadError::WrongKind { .. })) => {
                tracing::warn!(%id, error = %e, "patient skipped by the review");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A document, or `None` (logged) when it is stored damaged.
    pub(crate) fn doc_or_skip(
        &self,
        id: RecordId,
    ) -> Result<Option<std::sync::Arc<Automerge>>, ReadError> {
        match self.doc(id) {
            Ok(doc) => Ok(doc),
            Err(e @ ReadError::Corrupt { .. }) => {
                tracing::warn!(%id, error = %e, "damaged record skipped by the review");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Calls `f` with every record of `kind` (created at or after `since_ms`), oldest first,
    /// reading the index a page at a time so that memory does not grow with the store.
    pub(crate) fn each_id(
        &self,
        kind: RecordKind,
        since_ms: Option<i64>,
        mut f: impl FnMut(RecordId) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let first = since_ms.map_or([0u8; 16], |ms| RecordId::lowest_at(ms).to_bytes());
        let mut lower = Bound::Included((kind.code(), first));
        let upper = Bound::Included((kind.code(), [0xffu8; 16]));
        loop {
            let page: Vec<RecordId> = {
                let txn = self.shared.db.begin_read().ctx("beginning a read")?;
                let t = txn.open_table(tables::BY_KIND).ctx("reading an index")?;
                let mut page = Vec::with_capacity(PAGE);
                for entry in t.range((lower, upper)).ctx("reading an index")?.take(PAGE) {
                    let (k, _) = entry.ctx("reading an index")?;
                    page.push(RecordId::from_bytes(k.value().1));
                }
                page
            };
            for &id in &page {
                f(id)?;
            }
            match page.last() {
                Some(last) if page.len() == PAGE => {
                    lower = Bound::Excluded((kind.code(), last.to_bytes()));
                }
                _ => return Ok(()),
            }
        }
    }
}

/// Marks conflicts whose decision covers what is seen now as resolved, adds the decided
/// conflicts no longer present, and orders the report.
fn finish(scan: Scan) -> Vec<Conflict> {
    let mut by_id: BTreeMap<String, Conflict> = BTreeMap::new();
    for mut c in scan.found {
        if let Some(review) = scan.reviews.get(&c.id) {
            if review.evidence == c.fingerprint {
                c.status = ConflictStatus::Resolved;
                c.actions.clear();
            }
            c.decision = Some(review.clone());
        }
        by_id.insert(c.id.clone(), c);
    }
    for (id, review) in scan.reviews {
        by_id.entry(id).or_insert_with(|| Conflict::decided(review));
    }
    let mut out: Vec<Conflict> = by_id.into_values().collect();
    out.sort_by(|x, y| (x.status, x.kind, &x.id).cmp(&(y.status, y.kind, &y.id)));
    out
}
