//! What the conflict review report is made of: the kinds of conflict, a conflict with its
//! competing values and the actions a reviewer can take, and a reviewer's stored decision.

use std::fmt;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::clock::UnixMs;
use crate::id::{NodeName, OperatorName, RecordId};
use crate::record::{Patient, RecordKind};

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
    pub(super) fn prefix(self) -> &'static str {
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
    pub(super) fn record_kind(self) -> Option<RecordKind> {
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
    /// Its position, as used by [`crate::review::Resolution::ChooseValue`].
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
    /// `his_id`, `national_id` or `name_birth_date_phone`.
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
    /// Keep value `index` ([`crate::review::Resolution::ChooseValue`]).
    ChooseValue { index: usize, value: String },
    /// Confirm the automatic decision after checking ([`crate::review::Resolution::Confirm`]).
    Confirm,
    /// Merge `duplicate` into `survivor` ([`crate::Store::merge_patients`]).
    MergePatients {
        survivor: RecordId,
        duplicate: RecordId,
    },
    /// They are different people ([`crate::review::Resolution::KeepSeparate`]).
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
    pub(super) fn decided(review: ReviewRecord) -> Conflict {
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
