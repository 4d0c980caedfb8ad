//! The conflict review report as the CLI reads it back (`GET /admin/conflicts`), and the
//! commands it suggests to a reviewer.
//!
//! The daemon serializes core's conflicts as they are, adding only a `subject` per conflict
//! ([`super::build::conflicts`]). The view types here mirror core's JSON and tolerate fields
//! added later.

use serde::{Deserialize, Serialize};

use super::RenderOptions;
use super::words::display_value;

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
    /// Who the records are about, e.g. `林小雨 (patient W01-3)`.
    #[serde(default)]
    pub subject: Option<String>,
}

impl ConflictView {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    /// A heading: `Field conflict: patient 01J… (林小雨), field phone`.
    pub fn title(&self) -> String {
        let mut s = format!("{}: {}", kind_title(&self.kind), self.record_kind);
        if self.kind == "duplicate_patient" {
            s.push('s');
        }
        s.push(' ');
        s.push_str(&self.records.join(" / "));
        if let Some(subject) = &self.subject {
            s.push_str(&format!(" ({subject})"));
        }
        if let Some(field) = self.field.as_deref().filter(|f| *f != "status_log") {
            s.push_str(&format!(", field {field}"));
        }
        s
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
    /// `national_id` or `name_birth_date_phone`.
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

/// A kind's heading.
pub fn kind_title(kind: &str) -> &str {
    match kind {
        "field_conflict" => "Field conflict",
        "duplicate_patient" => "Duplicate patient",
        "double_dispense" => "Double dispense",
        "dispensed_and_cancelled" => "Dispensed and cancelled",
        "double_settlement" => "Double settlement",
        "double_invoice" => "Double invoice",
        other => other,
    }
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'=')
        })
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What every decision command ends with: the reviewer decides under their own name.
pub const AS_REVIEWER: &str = "--operator YOUR_NAME";

/// A reviewer's action as the exact command to run, and what it does.
pub fn action_command(
    c: &ConflictView,
    action: &ActionView,
    opts: &RenderOptions,
) -> (String, String) {
    let (cmd, what) = action_command_for(c, action, opts);
    if cmd.is_empty() {
        return (cmd, what);
    }
    (format!("{cmd} {AS_REVIEWER}"), what)
}

fn action_command_for(
    c: &ConflictView,
    action: &ActionView,
    opts: &RenderOptions,
) -> (String, String) {
    let cfg = shell_word(&opts.config);
    let id = shell_word(&c.id);
    match action {
        ActionView::ChooseValue { index, value } => (
            format!("lifeline resolve -c {cfg} {id} --choose {index}"),
            format!("keep value {index}: {}", display_value(value)),
        ),
        ActionView::Confirm => (
            format!("lifeline resolve -c {cfg} {id} --confirm"),
            "confirm what the rules kept, after checking".into(),
        ),
        ActionView::MergePatients {
            survivor,
            duplicate,
        } => {
            let name = |id: &str| {
                c.duplicate
                    .as_ref()
                    .and_then(|d| d.patients.iter().find(|p| p.header.id == id))
                    .map(|p| format!("{} ({}, {})", p.header.id, p.patient_no, p.header.origin))
                    .unwrap_or_else(|| id.to_owned())
            };
            (
                format!(
                    "lifeline merge-patients -c {cfg} --survivor {} --duplicate {}",
                    shell_word(survivor),
                    shell_word(duplicate)
                ),
                format!("keep {}, merge {} into it", name(survivor), name(duplicate)),
            )
        }
        ActionView::KeepSeparate => (
            format!("lifeline resolve -c {cfg} {id} --keep-separate"),
            "they are different people: keep both records".into(),
        ),
        ActionView::Other => (String::new(), "an action this version cannot show".into()),
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
                },
            ],
        }
    }

    #[test]
    fn actions_are_exact_commands() {
        let r = sample();
        let opts = RenderOptions {
            config: "/etc/lifeline/central node.toml".into(),
            ..RenderOptions::default()
        };
        let (cmd, what) = action_command(&r.conflicts[0], &r.conflicts[0].actions[0], &opts);
        assert_eq!(
            cmd,
            "lifeline resolve -c '/etc/lifeline/central node.toml' field:01AAA:phone --choose 0 \
             --operator YOUR_NAME"
        );
        assert_eq!(what, "keep value 0: 13811112222");
        let (cmd, what) = action_command(&r.conflicts[1], &r.conflicts[1].actions[0], &opts);
        assert!(
            cmd.ends_with("--survivor 01BBB --duplicate 01CCC --operator YOUR_NAME"),
            "{cmd}"
        );
        assert!(what.contains("W01-1"), "{what}");
    }

    #[test]
    fn unknown_actions_and_fields_are_tolerated() {
        let json = r#"{"id":"x:1","kind":"new_kind","status":"open","record_kind":"visit",
            "records":["1"],"actions":[{"action":"something_new","n":1}],"extra":true}"#;
        let c: ConflictView = serde_json::from_str(json).expect("parses");
        assert_eq!(c.actions, vec![ActionView::Other]);
        assert_eq!(kind_title(&c.kind), "new_kind");
    }
}
