//! The outage report of one emergency episode, built by the daemon from its store.
//!
//! An episode's records are those tagged with it or with an episode merged into it (two
//! nodes cut off from each other may each have opened one). The report reads each of them
//! once: their kinds and origin nodes, the invoices and their ranges, and how far recovery
//! has come: emergency prescriptions dispensed in the system since, paused registrations
//! resumed, failed insurance settlements redone. The conflicts it lists are those touching
//! the episode: about a record created in it, or with a competing value written during it.

use std::collections::{BTreeMap, BTreeSet};

use lifeline_core::desk::EpisodeSummary;
use lifeline_core::record::{Charge, Episode, EpisodeNode, Invoice, Prescription, Visit};
use lifeline_core::review::{Conflict, ConflictKind, ConflictStatus, WorkCategory};
use lifeline_core::status::{InvoiceStatus, PrescriptionStatus, VisitStatus};
use lifeline_core::{Date, EpisodeId, ReadError, RecordId, RecordKind, Store};
use serde::{Deserialize, Serialize};

use super::{duration, grade_meaning, local};

/// One line of `GET /admin/episodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeLine {
    pub id: String,
    pub record: String,
    pub reason: String,
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
}

impl EpisodeLine {
    pub fn of(s: &EpisodeSummary) -> EpisodeLine {
        let e = &s.episode;
        EpisodeLine {
            id: e.episode_id.to_string(),
            record: s.record.to_string(),
            reason: e.reason.clone(),
            automatic: e.automatic,
            opened_ms: e.opened_ms,
            opened_local: local(e.opened_ms),
            closed_ms: e.closed_ms,
            closed_local: e.closed_ms.map(local),
            open: s.open,
            merged_into: e.merged_into.as_ref().map(ToString::to_string),
            duration_ms: s.duration_ms,
            grade: s.grade.to_owned(),
            nodes: e.nodes.keys().cloned().collect(),
        }
    }
}

/// The outage report (`lifeline episode report`). Times are given in milliseconds since the
/// epoch and as hospital local time (`*_local`, UTC+8). Fields are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeReport {
    /// The node whose store the report was read from.
    pub node: String,
    pub generated_ms: i64,
    pub generated_local: String,
    pub timezone: String,
    pub episode: String,
    /// Episodes opened independently during the same outage and merged into this one.
    pub merged_episodes: Vec<String>,
    pub reason: String,
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

/// The episode `which` names: `latest` (the newest), `current` (the one this node is in, else
/// the newest) or an episode id.
pub fn select(store: &Store, which: &str) -> Result<Selection, ReadError> {
    let newest = |store: &Store| -> Result<Option<EpisodeId>, ReadError> {
        Ok(store
            .episodes()?
            .into_iter()
            .next()
            .map(|s| s.episode.episode_id))
    };
    Ok(match which {
        "latest" => newest(store)?.map_or(Selection::None, Selection::Found),
        "current" => match store.episode()? {
            Some(id) => Selection::Found(id),
            None => newest(store)?.map_or(Selection::None, Selection::Found),
        },
        other => match EpisodeId::new(other) {
            Ok(id) => Selection::Found(id),
            Err(e) => Selection::Invalid(e.to_string()),
        },
    })
}

/// What [`select`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Found(EpisodeId),
    /// No episode on record.
    None,
    /// Not an episode id.
    Invalid(String),
}

/// Builds the report of episode `id` (following merges). `None` if this node does not know it.
pub fn build(store: &Store, id: &EpisodeId) -> Result<Option<EpisodeReport>, ReadError> {
    let Some((summary, merged)) = store.episode_by_id(id)? else {
        return Ok(None);
    };
    let now = store.now_ms();
    let e = &summary.episode;
    let all_episodes = store.episodes()?;
    let mut ids: Vec<EpisodeId> = vec![e.episode_id.clone()];
    ids.extend(merged.iter().cloned());
    let parts: Vec<&Episode> = all_episodes
        .iter()
        .map(|s| &s.episode)
        .filter(|x| ids.contains(&x.episode_id))
        .collect();

    let mut records: BTreeSet<RecordId> = BTreeSet::new();
    for eid in &ids {
        records.extend(store.ids_in_episode(eid)?);
    }
    let window_start = parts
        .iter()
        .map(|p| p.opened_ms)
        .min()
        .unwrap_or(e.opened_ms);
    let window_end = e.closed_ms.unwrap_or(now);

    let mut scan = Scan::default();
    for &rid in &records {
        scan.read(store, rid)?;
    }
    let unreconciled: BTreeSet<RecordId> = store.unreconciled()?.into_iter().collect();
    let awaiting_central = records.intersection(&unreconciled).count();

    let conflicts = store.conflicts()?;
    let open_in_hospital = conflicts
        .iter()
        .filter(|c| c.status == ConflictStatus::Open)
        .count();
    let touching: Vec<&Conflict> = conflicts
        .iter()
        .filter(|c| {
            let during = |t: &i64| (window_start..=window_end).contains(t);
            c.records.iter().any(|r| records.contains(r))
                || c.values
                    .iter()
                    .any(|v| v.at_ms.as_ref().is_some_and(during))
                || decided_value_times(store, c).iter().any(during)
        })
        .collect();
    let conflict_lines: Vec<ConflictLine> = touching
        .iter()
        .map(|c| ConflictLine {
            id: c.id.clone(),
            kind: c.kind.to_string(),
            status: c.status.to_string(),
            records: c.records.iter().map(ToString::to_string).collect(),
            field: c.field.clone(),
            subject: super::conflicts::subject(store, c),
            summary: c.summary(),
            decision: c
                .decision
                .as_ref()
                .filter(|_| c.status == ConflictStatus::Resolved)
                .map(|d| {
                    format!(
                        "{} by {} on {} at {}",
                        d.decision,
                        d.operator,
                        d.node,
                        local(d.at_ms)
                    )
                }),
        })
        .collect();
    let touching_open = touching
        .iter()
        .filter(|c| c.status == ConflictStatus::Open)
        .count();

    let worklist = worklist(&scan, &touching);
    let nodes = nodes(&parts, &scan.by_node);
    let opened_day = Date::at(e.opened_ms, 480);
    Ok(Some(EpisodeReport {
        node: store.node().to_string(),
        generated_ms: now,
        generated_local: local(now),
        timezone: "UTC+8".into(),
        episode: e.episode_id.to_string(),
        merged_episodes: merged.iter().map(ToString::to_string).collect(),
        reason: e.reason.clone(),
        automatic: e.automatic,
        opened_by_node: e.header.origin.to_string(),
        opened_by_operator: e.header.operator.to_string(),
        opened_ms: e.opened_ms,
        opened_local: local(e.opened_ms),
        closed_ms: e.closed_ms,
        closed_local: e.closed_ms.map(local),
        closed_by: e.closed_by.as_ref().map(ToString::to_string),
        open: summary.open,
        duration_ms: summary.duration_ms,
        duration: duration(summary.duration_ms),
        grade: summary.grade.to_owned(),
        grade_meaning: grade_meaning(summary.grade).to_owned(),
        report_to_leadership: matches!(summary.grade, "III" | "II" | "I"),
        ended_same_day: e.closed_ms.map(|c| Date::at(c, 480) == opened_day),
        nodes,
        records: RecordCounts {
            total: scan.by_kind.values().sum(),
            by_kind: scan
                .by_kind
                .iter()
                .map(|(k, n)| KindCount {
                    kind: k.to_string(),
                    count: *n,
                })
                .collect(),
            awaiting_central,
        },
        invoices: scan.ranges.into_values().collect(),
        conflicts: EpisodeConflicts {
            touching: touching.len(),
            open: touching_open,
            resolved: touching.len() - touching_open,
            open_in_hospital,
            list: conflict_lines,
        },
        worklist,
    }))
}

/// When the competing values of a decided field conflict were written. Once a reviewer has
/// chosen a value the others are gone from the record; the decision keeps the operations it
/// saw (`counter@actor`), and the changes holding them carry their times.
fn decided_value_times(store: &Store, c: &Conflict) -> Vec<i64> {
    let (Some(decision), Some(&record)) = (&c.decision, c.records.first()) else {
        return Vec::new();
    };
    if c.kind != ConflictKind::FieldConflict || !c.values.is_empty() {
        return Vec::new();
    }
    let ops: Vec<(u64, &str)> = decision
        .evidence
        .split(',')
        .filter_map(|op| {
            let (counter, actor) = op.split_once('@')?;
            Some((counter.parse().ok()?, actor))
        })
        .collect();
    if ops.is_empty() {
        return Vec::new();
    }
    let Ok(Some(doc)) = store.doc(record) else {
        return Vec::new();
    };
    doc.get_changes_meta(&[])
        .into_iter()
        .filter(|m| {
            let actor = m.actor.to_hex_string();
            ops.iter()
                .any(|(counter, a)| *a == actor && (m.start_op..=m.max_op).contains(counter))
        })
        .map(|m| m.timestamp)
        .collect()
}

/// Open and done counts of one category.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    open: usize,
    done: usize,
}

/// What one pass over the episode's records gathers.
#[derive(Debug, Default)]
struct Scan {
    by_kind: BTreeMap<RecordKind, usize>,
    by_node: BTreeMap<String, usize>,
    ranges: BTreeMap<String, RangeInvoices>,
    prescriptions: Tally,
    visits: Tally,
    resettle: Tally,
}

impl Scan {
    fn read(&mut self, store: &Store, id: RecordId) -> Result<(), ReadError> {
        let header = match store.header(id) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(e @ (ReadError::Corrupt { .. } | ReadError::WrongKind { .. })) => {
                tracing::warn!(%id, error = %e, "record skipped by the outage report");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if header.kind == RecordKind::Episode {
            return Ok(());
        }
        *self.by_kind.entry(header.kind).or_default() += 1;
        *self.by_node.entry(header.origin.to_string()).or_default() += 1;
        match header.kind {
            RecordKind::Prescription => {
                if let Some(rx) = store.get::<Prescription>(id).ok().flatten() {
                    match rx.status_log.current::<PrescriptionStatus>() {
                        Ok(PrescriptionStatus::Dispensed | PrescriptionStatus::Cancelled) => {
                            self.prescriptions.done += 1;
                        }
                        Ok(_) => self.prescriptions.open += 1,
                        Err(_) => {}
                    }
                }
            }
            RecordKind::Visit => {
                if let Some(v) = store.get::<Visit>(id).ok().flatten()
                    && v.status_log.reached(VisitStatus::Paused).is_some()
                {
                    match v.status_log.current::<VisitStatus>() {
                        Ok(VisitStatus::Paused) => self.visits.open += 1,
                        Ok(_) => self.visits.done += 1,
                        Err(_) => {}
                    }
                }
            }
            RecordKind::Charge => {
                if let Some(c) = store.get::<Charge>(id).ok().flatten()
                    && c.resettle_due.is_some()
                {
                    if c.resettled.is_some() {
                        self.resettle.done += 1;
                    } else {
                        self.resettle.open += 1;
                    }
                }
            }
            RecordKind::Invoice => {
                if let Some(inv) = store.get::<Invoice>(id).ok().flatten() {
                    self.invoice(&inv);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn invoice(&mut self, inv: &Invoice) {
        let line = self
            .ranges
            .entry(inv.range_id.clone())
            .or_insert_with(|| RangeInvoices {
                range_id: inv.range_id.clone(),
                series: inv.series.clone(),
                node: inv.header.origin.to_string(),
                issued: 0,
                first: inv.number,
                last: inv.number,
                voided: 0,
                voided_numbers: Vec::new(),
            });
        line.issued += 1;
        line.first = line.first.min(inv.number);
        line.last = line.last.max(inv.number);
        let voided = inv.void_reason.is_some()
            || inv.status_log.current::<InvoiceStatus>() == Ok(InvoiceStatus::Voided);
        if voided {
            line.voided += 1;
            line.voided_numbers.push(inv.number);
            line.voided_numbers.sort_unstable();
        }
    }
}

fn worklist(scan: &Scan, touching: &[&Conflict]) -> Vec<WorkProgress> {
    let conflicts = |duplicates: bool| {
        let mut t = Tally::default();
        for c in touching
            .iter()
            .filter(|c| (c.kind == ConflictKind::DuplicatePatient) == duplicates)
        {
            match c.status {
                ConflictStatus::Open => t.open += 1,
                ConflictStatus::Resolved => t.done += 1,
            }
        }
        t
    };
    WorkCategory::ALL
        .into_iter()
        .map(|category| {
            let t = match category {
                WorkCategory::DispenseEmergencyPrescription => scan.prescriptions,
                WorkCategory::RestorePausedVisit => scan.visits,
                WorkCategory::ResettleInsurance => scan.resettle,
                WorkCategory::MergeDuplicatePatient => conflicts(true),
                WorkCategory::ReviewConflict => conflicts(false),
            };
            WorkProgress {
                category: category.name().to_owned(),
                title: category.title().to_owned(),
                open: t.open,
                done: t.done,
                total: t.open + t.done,
            }
        })
        .collect()
}

/// The nodes of the episode and of those merged into it: earliest join, latest leave (none
/// while any part is still open), the reference data of the earliest join.
fn nodes(parts: &[&Episode], created: &BTreeMap<String, usize>) -> Vec<NodeLine> {
    let mut by_node: BTreeMap<&str, (EpisodeNode, bool)> = BTreeMap::new();
    for part in parts {
        for (name, n) in &part.nodes {
            match by_node.get_mut(name.as_str()) {
                None => {
                    by_node.insert(name, (n.clone(), n.left_ms.is_none()));
                }
                Some((acc, still_in)) => {
                    *still_in |= n.left_ms.is_none();
                    if n.joined_ms < acc.joined_ms {
                        let left = acc.left_ms.max(n.left_ms);
                        *acc = n.clone();
                        acc.left_ms = left;
                    } else {
                        acc.left_ms = acc.left_ms.max(n.left_ms);
                    }
                }
            }
        }
    }
    by_node
        .into_iter()
        .map(|(name, (n, still_in))| {
            let left_ms = if still_in { None } else { n.left_ms };
            let age = n.catalog_changed_ms.map(|c| (n.joined_ms - c).max(0));
            NodeLine {
                node: name.to_owned(),
                joined_ms: n.joined_ms,
                joined_local: local(n.joined_ms),
                left_ms,
                left_local: left_ms.map(local),
                drug_catalog_version: n.drug_catalog_version,
                service_catalog_version: n.service_catalog_version,
                catalog_changed_ms: n.catalog_changed_ms,
                catalog_changed_local: n.catalog_changed_ms.map(local),
                reference_age_ms: age,
                reference_age: age.map(duration),
                records_created: created.get(name).copied().unwrap_or(0),
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> EpisodeReport {
        EpisodeReport {
            node: "central".into(),
            generated_ms: 1_795_570_000_000,
            generated_local: local(1_795_570_000_000),
            timezone: "UTC+8".into(),
            episode: "YJ-20261125-0900-W01".into(),
            merged_episodes: vec!["YJ-20261125-0900-W02".into()],
            reason: "central unreachable <since> 09:00".into(),
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
                }],
            },
            worklist: vec![WorkProgress {
                category: "restore_paused_visit".into(),
                title: "Paused triage entries to restore".into(),
                open: 1,
                done: 2,
                total: 3,
            }],
        }
    }

    #[test]
    fn the_report_round_trips_through_json() {
        let r = sample();
        let json = serde_json::to_string(&r).expect("serializes");
        let back: EpisodeReport = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, r);
    }
}
