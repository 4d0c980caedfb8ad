//! The conflict review report as the CLI reads it back (`GET /admin/conflicts`), and the
//! commands it suggests to a reviewer.
//!
//! The daemon serializes core's conflicts as they are, adding only a `subject` per conflict
//! ([`super::build::conflicts`]). The view types here mirror core's JSON and tolerate fields
//! added later.

use serde::{Deserialize, Serialize};

use crate::i18n::{Lang, t, tr};

/// The conflict review report of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictReport {
    /// The node whose store the report was read from.
    pub node: String,
    pub generated_ms: i64,
    /// How many conflicts wait for a person.
    pub open: usize,
    /// How many carry a review decision that covers them.
    pub resolved: usize,
    /// Open conflicts first, then resolved ones; each kind together, in id order.
    pub conflicts: Vec<ConflictView>,
}

impl ConflictReport {
    pub fn open_conflicts(&self) -> impl Iterator<Item = &ConflictView> {
        self.conflicts.iter().filter(|c| c.is_open())
    }
}

/// One conflict (core's `Conflict`, plus `subject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictView {
    /// Stable across nodes, e.g. `field:<record>:<field>` or `duplicate:<a>:<b>`.
    pub id: String,
    /// `field_conflict`, `duplicate_patient`, `double_dispense`, `dispensed_and_cancelled`,
    /// `double_settlement` or `double_invoice`.
    pub kind: String,
    /// `open` or `resolved`.
    pub status: String,
    pub record_kind: String,
    pub records: Vec<String>,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub values: Vec<ValueView>,
    #[serde(default)]
    pub duplicate: Option<DuplicateView>,
    #[serde(default)]
    pub automatic_decision: Option<String>,
    #[serde(default)]
    pub actions: Vec<ActionView>,
    #[serde(default)]
    pub decision: Option<DecisionView>,
    /// Who the records are about, e.g. `林小雨 (3岁), patient W01-3`.
    #[serde(default)]
    pub subject: Option<String>,
    /// The patient the subject names, in parts (absent from older nodes and duplicates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<About>,
}

/// The patient a conflict is about, in parts, so each language can say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct About {
    pub name: String,
    /// `2岁6个月`, as the desks show ages.
    #[serde(default)]
    pub age: Option<String>,
    pub patient_no: String,
}

impl About {
    /// `林小雨 (3岁), patient W01-3`: the `subject` of the JSON documents.
    pub fn subject(&self) -> String {
        match &self.age {
            Some(age) => format!("{} ({age}), patient {}", self.name, self.patient_no),
            None => format!("{}, patient {}", self.name, self.patient_no),
        }
    }

    /// The same in `l`.
    pub fn words(&self, l: Lang) -> String {
        match &self.age {
            Some(age) => tr(
                l,
                "report-about-aged",
                &[
                    ("name", self.name.as_str().into()),
                    ("age", age.as_str().into()),
                    ("number", self.patient_no.as_str().into()),
                ],
            ),
            None => tr(
                l,
                "report-about",
                &[
                    ("name", self.name.as_str().into()),
                    ("number", self.patient_no.as_str().into()),
                ],
            ),
        }
    }
}

/// Who a conflict is about, in `l`: from its parts when the node sent them, else as sent.
pub fn subject_words(l: Lang, about: Option<&About>, subject: Option<&str>) -> Option<String> {
    about
        .map(|a| a.words(l))
        .or_else(|| subject.map(str::to_owned))
}

impl ConflictView {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    /// A heading: `Field conflict: patient 01J… (林小雨), field phone`.
    pub fn title(&self, l: Lang) -> String {
        let records = self.records.join(" / ");
        // The kind names the first record, or every record of a duplicate pair.
        let count = if self.kind == "duplicate_patient" {
            self.records.len()
        } else {
            1
        };
        let mut s = tr(
            l,
            "report-conflict-title",
            &[
                ("kind", kind_title(l, &self.kind).into()),
                ("records", records.into()),
                (
                    "record_kind",
                    record_kind(l, &self.record_kind, count).into(),
                ),
            ],
        );
        if let Some(subject) = subject_words(l, self.about.as_ref(), self.subject.as_deref()) {
            s.push_str(&tr(
                l,
                "report-conflict-title-about",
                &[("subject", subject.into())],
            ));
        }
        if let Some(field) = self.field.as_deref().filter(|f| *f != "status_log") {
            s.push_str(&tr(
                l,
                "report-conflict-title-field",
                &[("field", field.into())],
            ));
        }
        s
    }

    /// `open` or `resolved` in `l`.
    pub fn status_words(&self, l: Lang) -> String {
        status_words(l, &self.status)
    }
}

/// A conflict's status (`open`, `resolved`) in `l`; an unknown one as it is.
pub fn status_words(l: Lang, status: &str) -> String {
    match status {
        "open" => t(l, "report-status-open"),
        "resolved" => t(l, "report-status-resolved"),
        other => other.to_owned(),
    }
}

/// `count` records of a kind (`patient`, `visit`, ...) in `l`; an unknown kind as it is.
pub fn record_kind(l: Lang, kind: &str, count: usize) -> String {
    if lifeline_core::RecordKind::ALL
        .iter()
        .any(|k| k.name() == kind)
    {
        tr(
            l,
            &format!("report-record-{kind}"),
            &[("count", count.into())],
        )
    } else {
        kind.to_owned()
    }
}

/// One competing value and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueView {
    pub index: usize,
    pub record: String,
    /// JSON text (strings quoted).
    pub value: String,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub desk: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub at_ms: Option<i64>,
    /// What the record shows now.
    #[serde(default)]
    pub shown: bool,
}

/// Why two patient records look like one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateView {
    pub matched: Vec<MatchedKeyView>,
    pub patients: Vec<PatientView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedKeyView {
    /// `his_id`, `national_id` or `name_birth_date_phone`.
    pub key: String,
    pub value: String,
}

/// A patient record as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientView {
    pub header: HeaderView,
    pub patient_no: String,
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    pub phone: String,
    #[serde(default)]
    pub national_id: Option<String>,
    pub insurance: String,
    #[serde(default)]
    pub merged_into: Option<String>,
    /// Set on a patient of the HIS master: the HIS candidate of a duplicate pair.
    #[serde(default)]
    pub his_id: Option<String>,
    /// The HIS deleted the patient (shown beside its HIS id).
    #[serde(default)]
    pub his_deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderView {
    pub id: String,
    pub kind: String,
    /// The node that created the record.
    pub origin: String,
    pub operator: String,
    pub created_ms: i64,
    #[serde(default)]
    pub episode: Option<String>,
}

/// What a reviewer can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ActionView {
    ChooseValue {
        index: usize,
        value: String,
    },
    Confirm,
    MergePatients {
        survivor: String,
        duplicate: String,
    },
    KeepSeparate,
    /// An action this version does not know.
    #[serde(other)]
    Other,
}

/// A review decision as stored with the records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionView {
    pub conflict: String,
    pub kind: String,
    pub record_kind: String,
    pub records: Vec<String>,
    #[serde(default)]
    pub field: Option<String>,
    /// In words: `chose value 1: "13900000000"`, `merged A into B`, ...
    pub decision: String,
    pub operator: String,
    pub node: String,
    pub at_ms: i64,
    #[serde(default)]
    pub evidence: String,
}

/// The conflict kinds this version knows, as core names them.
pub const KINDS: [&str; 6] = [
    "field_conflict",
    "duplicate_patient",
    "double_dispense",
    "dispensed_and_cancelled",
    "double_settlement",
    "double_invoice",
];

/// A kind's heading in `l`; a kind this version does not know, as it is.
pub fn kind_title(l: Lang, kind: &str) -> String {
    if KINDS.contains(&kind) {
        t(l, &format!("report-kind-{kind}"))
    } else {
        kind.to_owned()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A report with a field conflict and a duplicate, names as desks type them.
    pub(crate) fn sample() -> ConflictReport {
        let patient = |id: &str, node: &str| PatientView {
            header: HeaderView {
                id: id.into(),
                kind: "patient".into(),
                origin: node.into(),
                operator: format!("registration-{}", node.to_lowercase()),
                created_ms: 1_795_568_400_000,
                episode: Some("YJ-20261125-0900-W01".into()),
            },
            patient_no: format!("{node}-1"),
            name: "林小雨 <b>&amp;".into(),
            sex: "female".into(),
            birth_date: "2021-03-14".into(),
            phone: "13912345678".into(),
            national_id: Some("11010520210314003X".into()),
            insurance: "resident".into(),
            merged_into: None,
            his_id: None,
            his_deleted: false,
        };
        let value = |index: usize, v: &str, node: &str| ValueView {
            index,
            record: "01AAA".into(),
            value: format!("\"{v}\""),
            node: Some(node.into()),
            operator: Some(format!("registration-{}", node.to_lowercase())),
            desk: Some("registration".into()),
            action: Some("patient.update".into()),
            at_ms: Some(1_795_568_460_000),
            shown: index == 1,
        };
        ConflictReport {
            node: "central".into(),
            generated_ms: 1_795_568_500_000,
            open: 2,
            resolved: 0,
            conflicts: vec![
                ConflictView {
                    id: "field:01AAA:phone".into(),
                    kind: "field_conflict".into(),
                    status: "open".into(),
                    record_kind: "patient".into(),
                    records: vec!["01AAA".into()],
                    field: Some("phone".into()),
                    values: vec![
                        value(0, "13811112222", "W01"),
                        value(1, "<script>x</script>", "W02"),
                    ],
                    duplicate: None,
                    automatic_decision: Some("currently shown: value 1".into()),
                    actions: vec![
                        ActionView::ChooseValue {
                            index: 0,
                            value: "\"13811112222\"".into(),
                        },
                        ActionView::ChooseValue {
                            index: 1,
                            value: "\"<script>x</script>\"".into(),
                        },
                    ],
                    decision: None,
                    subject: Some("张三, patient W01-9".into()),
                    about: Some(About {
                        name: "张三".into(),
                        age: None,
                        patient_no: "W01-9".into(),
                    }),
                },
                ConflictView {
                    id: "duplicate:01BBB:01CCC".into(),
                    kind: "duplicate_patient".into(),
                    status: "open".into(),
                    record_kind: "patient".into(),
                    records: vec!["01BBB".into(), "01CCC".into()],
                    field: None,
                    values: Vec::new(),
                    duplicate: Some(DuplicateView {
                        matched: vec![MatchedKeyView {
                            key: "national_id".into(),
                            value: "11010520210314003X".into(),
                        }],
                        patients: vec![patient("01BBB", "W01"), patient("01CCC", "W02")],
                    }),
                    automatic_decision: None,
                    actions: vec![
                        ActionView::MergePatients {
                            survivor: "01BBB".into(),
                            duplicate: "01CCC".into(),
                        },
                        ActionView::KeepSeparate,
                    ],
                    decision: None,
                    subject: Some("林小雨 / 林小雨".into()),
                    about: None,
                },
            ],
        }
    }

    #[test]
    fn unknown_actions_and_fields_are_tolerated() {
        let json = r#"{"id":"x:1","kind":"new_kind","status":"open","record_kind":"visit",
            "records":["1"],"actions":[{"action":"something_new","n":1}],"extra":true}"#;
        let c: ConflictView = serde_json::from_str(json).expect("parses");
        assert_eq!(c.actions, vec![ActionView::Other]);
        assert_eq!(kind_title(Lang::Zh, &c.kind), "new_kind");
        assert_eq!(kind_title(Lang::Zh, "field_conflict"), "字段冲突");
        assert_eq!(kind_title(Lang::En, "field_conflict"), "Field conflict");
    }
}
