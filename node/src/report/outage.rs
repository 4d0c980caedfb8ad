//! The outage report of one emergency episode, as the daemon sends it
//! (`GET /admin/episodes/{id}/report`) and the CLI reads it back, and the lines of the
//! episode list (`GET /admin/episodes`). The daemon builds both from its store
//! ([`super::build::outage`]).

use lifeline_core::Fen;
use lifeline_core::desk::ChannelAmount;
use lifeline_core::record::ReasonCode;
use serde::{Deserialize, Serialize};

use super::conflicts::About;

/// One line of `GET /admin/episodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeLine {
    pub id: String,
    pub record: String,
    pub reason: String,
    /// The reason as a code (automatic openings), said in the reader's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<ReasonCode>,
    pub automatic: bool,
    pub opened_ms: i64,
    pub opened_local: String,
    pub closed_ms: Option<i64>,
    pub closed_local: Option<String>,
    /// Open and not merged into another.
    pub open: bool,
    /// The episode it was merged into (reported under that one).
    pub merged_into: Option<String>,
    pub duration_ms: i64,
    pub grade: String,
    pub nodes: Vec<String>,
    /// A drill: listed and graded apart from the outages.
    #[serde(default)]
    pub drill: bool,
}

/// The outage report (`lifeline episode report`). Times are given in milliseconds since the
/// epoch and as hospital local time (`*_local`, in the offset `timezone` names, `UTC+8` by
/// default). Fields are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageReport {
    /// The node whose store the report was read from.
    pub node: String,
    pub generated_ms: i64,
    pub generated_local: String,
    /// The hospital's offset from UTC, as `UTC+8`.
    pub timezone: String,
    pub episode: String,
    /// Episodes opened independently during the same outage and merged into this one.
    pub merged_episodes: Vec<String>,
    pub reason: String,
    /// The reason as a code (automatic openings), said in the reader's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<ReasonCode>,
    /// Opened automatically (central unreachable) or declared by an administrator.
    pub automatic: bool,
    pub opened_by_node: String,
    pub opened_by_operator: String,
    pub opened_ms: i64,
    pub opened_local: String,
    pub closed_ms: Option<i64>,
    pub closed_local: Option<String>,
    pub closed_by: Option<String>,
    pub open: bool,
    /// Until closed, or until now while open.
    pub duration_ms: i64,
    pub duration: String,
    /// IV, III, II or I, by duration.
    pub grade: String,
    pub grade_meaning: String,
    /// Grade III and above are reported to leadership.
    pub report_to_leadership: bool,
    /// Whether the outage ended on the day it began (local time): then the pharmacy reconciles
    /// re-entered dispensing against the paper slips; otherwise that day's slips go to
    /// billing. `None` while open.
    pub ended_same_day: Option<bool>,
    pub nodes: Vec<NodeLine>,
    pub records: RecordCounts,
    pub invoices: Vec<RangeInvoices>,
    pub conflicts: EpisodeConflicts,
    pub worklist: Vec<WorkProgress>,
    /// A drill, not a real outage: graded and reported apart, never an outage statistic.
    #[serde(default)]
    pub drill: bool,
    /// The cause of the fault, as the information department recorded it.
    #[serde(default)]
    pub cause: Option<String>,
    /// While open: the grade expected from the latest estimate (or the length so far).
    #[serde(default)]
    pub expected_grade: Option<String>,
    /// When the written report to the leadership is due: 2 days after the outage ended
    /// ("故障排除后2天内 … 完成故障排除报告院领导").
    #[serde(default)]
    pub written_report_due_ms: Option<i64>,
    #[serde(default)]
    pub written_report_due_local: Option<String>,
    /// Opened, estimates, the plan's escalation steps reached, each node's recovery, closed;
    /// in time order.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// Money collected during the episode, by channel, and what awaits re-settlement.
    #[serde(default)]
    pub money: EpisodeMoney,
}

/// One moment of an episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at_ms: i64,
    pub at_local: String,
    /// `opened`, `estimate`, `assess`, `escalate_6h`, `escalate_24h`, `recovered`, `closed`.
    pub event: String,
    /// In English words (a report in another language says it from the fields below).
    pub what: String,
    /// The node that estimated, or recovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Who estimated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// An estimate: hours until the system is back, and when that is (hospital time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_back_local: Option<String>,
}

/// The money of an episode's charges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeMoney {
    pub charges_settled: usize,
    /// Settled, by channel.
    pub collected: Vec<ChannelAmount>,
    pub collected_total: Fen,
    /// Paid as self-pay when the insurance link failed, not re-settled yet.
    pub awaiting_resettlement_charges: usize,
    pub awaiting_resettlement: Fen,
}

/// One node's part in the episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLine {
    pub node: String,
    pub joined_ms: i64,
    pub joined_local: String,
    pub left_ms: Option<i64>,
    pub left_local: Option<String>,
    /// The reference data it worked from.
    pub drug_catalog_version: u64,
    pub service_catalog_version: u64,
    pub catalog_changed_ms: Option<i64>,
    pub catalog_changed_local: Option<String>,
    /// How old that reference data was when the node joined.
    pub reference_age_ms: Option<i64>,
    pub reference_age: Option<String>,
    /// Records it created during the episode.
    pub records_created: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCounts {
    pub total: usize,
    /// Every kind created during the episode, in kind order.
    pub by_kind: Vec<KindCount>,
    /// Of those, records that central has not acknowledged yet (as this node knows).
    pub awaiting_central: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    pub kind: String,
    pub count: usize,
}

/// Invoices issued during the episode from one number range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeInvoices {
    pub range_id: String,
    pub series: String,
    /// The node that issued them.
    pub node: String,
    pub issued: usize,
    pub first: u64,
    pub last: u64,
    pub voided: usize,
    pub voided_numbers: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeConflicts {
    /// Conflicts touching the episode.
    pub touching: usize,
    pub open: usize,
    pub resolved: usize,
    /// Every open conflict this node knows, episode or not.
    pub open_in_hospital: usize,
    pub list: Vec<ConflictLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictLine {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub records: Vec<String>,
    pub field: Option<String>,
    pub subject: Option<String>,
    /// One line: status, kind, records, field and the competing values.
    pub summary: String,
    /// The review decision, in words, with who and where.
    pub decision: Option<String>,
    /// The patient `subject` names, in parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<About>,
    /// The review decision in parts (set with `decision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewLine>,
}

/// A review decision: what, who, where and when (hospital time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewLine {
    /// As core words it (`chose value 1: "139…"`).
    pub decision: String,
    pub operator: String,
    pub node: String,
    pub at_local: String,
}

/// Recovery progress of one worklist category, over the episode's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkProgress {
    pub category: String,
    pub title: String,
    /// Still to do.
    pub open: usize,
    /// Done since: prescriptions dispensed (or cancelled) in the system, paused visits
    /// resumed (or cancelled), settlements redone, conflicts resolved.
    pub done: usize,
    pub total: usize,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::words::{duration, grade_meaning};
    use crate::time::UtcOffset;

    fn local(ms: i64) -> String {
        UtcOffset::CHINA.local(ms)
    }

    pub(crate) fn sample() -> OutageReport {
        OutageReport {
            node: "central".into(),
            generated_ms: 1_795_570_000_000,
            generated_local: local(1_795_570_000_000),
            timezone: "UTC+8".into(),
            episode: "YJ-20261125-0900-W01".into(),
            merged_episodes: vec!["YJ-20261125-0900-W02".into()],
            reason: "central unreachable <since> 09:00".into(),
            reason_code: None,
            automatic: true,
            opened_by_node: "W01".into(),
            opened_by_operator: "system".into(),
            opened_ms: 1_795_568_400_000,
            opened_local: local(1_795_568_400_000),
            closed_ms: Some(1_795_569_000_000),
            closed_local: Some(local(1_795_569_000_000)),
            closed_by: Some("system".into()),
            open: false,
            duration_ms: 600_000,
            duration: duration(600_000),
            grade: "IV".into(),
            grade_meaning: grade_meaning("IV").into(),
            report_to_leadership: false,
            ended_same_day: Some(true),
            nodes: vec![NodeLine {
                node: "W01".into(),
                joined_ms: 1_795_568_400_000,
                joined_local: local(1_795_568_400_000),
                left_ms: Some(1_795_569_000_000),
                left_local: Some(local(1_795_569_000_000)),
                drug_catalog_version: 1,
                service_catalog_version: 1,
                catalog_changed_ms: Some(1_795_568_000_000),
                catalog_changed_local: Some(local(1_795_568_000_000)),
                reference_age_ms: Some(400_000),
                reference_age: Some(duration(400_000)),
                records_created: 3,
            }],
            records: RecordCounts {
                total: 3,
                by_kind: vec![
                    KindCount {
                        kind: "patient".into(),
                        count: 2,
                    },
                    KindCount {
                        kind: "visit".into(),
                        count: 1,
                    },
                ],
                awaiting_central: 0,
            },
            invoices: vec![RangeInvoices {
                range_id: "invoice:W02:1000-1999".into(),
                series: "invoice".into(),
                node: "W02".into(),
                issued: 3,
                first: 1000,
                last: 1002,
                voided: 1,
                voided_numbers: vec![1001],
            }],
            conflicts: EpisodeConflicts {
                touching: 1,
                open: 1,
                resolved: 0,
                open_in_hospital: 1,
                list: vec![ConflictLine {
                    id: "field:01AAA:phone".into(),
                    kind: "field_conflict".into(),
                    status: "open".into(),
                    records: vec!["01AAA".into()],
                    field: Some("phone".into()),
                    subject: Some("王小明 & <i>".into()),
                    summary: "[open] field_conflict patient 01AAA phone".into(),
                    decision: None,
                    about: Some(About {
                        name: "王小明 & <i>".into(),
                        age: Some("5岁".into()),
                        patient_no: "W01-7".into(),
                    }),
                    review: None,
                }],
            },
            worklist: vec![WorkProgress {
                category: "restore_paused_visit".into(),
                title: "Paused triage entries to restore".into(),
                open: 1,
                done: 2,
                total: 3,
            }],
            drill: false,
            cause: Some("core switch failed".into()),
            expected_grade: None,
            written_report_due_ms: Some(1_795_569_000_000 + 172_800_000),
            written_report_due_local: Some(local(1_795_569_000_000 + 172_800_000)),
            timeline: vec![
                TimelineEntry {
                    at_ms: 1_795_568_400_000,
                    at_local: local(1_795_568_400_000),
                    event: "opened".into(),
                    what: "opened by system on W01: central unreachable <since> 09:00".into(),
                    node: None,
                    operator: None,
                    hours: None,
                    expected_back_local: None,
                },
                TimelineEntry {
                    at_ms: 1_795_568_700_000,
                    at_local: local(1_795_568_700_000),
                    event: "estimate".into(),
                    what: "li.na on W01 estimated the system back in 1 h, at 2026-11-25 09:05:00"
                        .into(),
                    node: Some("W01".into()),
                    operator: Some("li.na".into()),
                    hours: Some(1),
                    expected_back_local: Some(local(1_795_572_300_000)),
                },
                TimelineEntry {
                    at_ms: 1_795_569_000_000,
                    at_local: local(1_795_569_000_000),
                    event: "closed".into(),
                    what: "the outage ended".into(),
                    node: None,
                    operator: None,
                    hours: None,
                    expected_back_local: None,
                },
            ],
            money: EpisodeMoney {
                charges_settled: 2,
                collected: vec![ChannelAmount {
                    channel: lifeline_core::record::PaymentChannel::Cash,
                    amount: Fen(3000),
                }],
                collected_total: Fen(3000),
                awaiting_resettlement_charges: 1,
                awaiting_resettlement: Fen(1000),
            },
        }
    }

    #[test]
    fn the_report_round_trips_through_json() {
        let r = sample();
        let json = serde_json::to_string(&r).expect("serializes");
        let back: OutageReport = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, r);
    }
}
