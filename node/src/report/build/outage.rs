//! The outage report of one emergency episode, built by the daemon from its store.
//!
//! An episode's records are those tagged with it or with an episode merged into it (two
//! nodes cut off from each other may each have opened one). The report reads each of them
//! once ([`super::scan`]): their kinds and origin nodes, the invoices and their ranges, and
//! how far recovery has come. The conflicts it lists are those touching the episode: about a
//! record created in it, or with a competing value written during it.

use std::collections::BTreeSet;

use lifeline_core::desk::{EpisodeSummary, Escalation, escalation};
use lifeline_core::record::Episode;
use lifeline_core::review::{Conflict, ConflictKind, ConflictStatus};
use lifeline_core::{EpisodeId, ReadError, RecordId, Store};

use super::scan::{Scan, nodes, worklist};
use crate::error::chain;
use crate::report::outage::{
    ConflictLine, EpisodeConflicts, EpisodeLine, EpisodeMoney, KindCount, OutageReport,
    RecordCounts, ReviewLine, TimelineEntry,
};
use crate::report::words::{duration, grade_meaning};
use crate::time::UtcOffset;

/// One line of the episode list, times in the hospital's offset.
pub fn episode_line(s: &EpisodeSummary, offset: UtcOffset) -> EpisodeLine {
    let e = &s.episode;
    EpisodeLine {
        id: e.episode_id.to_string(),
        record: s.record.to_string(),
        reason: e.reason.clone(),
        reason_code: e.reason_code.clone(),
        automatic: e.automatic,
        opened_ms: e.opened_ms,
        opened_local: offset.local(e.opened_ms),
        closed_ms: e.closed_ms,
        closed_local: e.closed_ms.map(|t| offset.local(t)),
        open: s.open,
        merged_into: e.merged_into.as_ref().map(ToString::to_string),
        duration_ms: s.duration_ms,
        grade: s.grade.to_owned(),
        nodes: e.nodes.keys().cloned().collect(),
        drill: e.drill,
    }
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
            Err(e) => Selection::Invalid(chain(&e)),
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

/// Builds the report of episode `id` (following merges), times in the hospital's offset.
/// `None` if this node does not know it.
pub fn build(
    store: &Store,
    id: &EpisodeId,
    offset: UtcOffset,
) -> Result<Option<OutageReport>, ReadError> {
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
        .map(|c| {
            let (subject, about) = super::conflicts::subject(store, c);
            let review = c
                .decision
                .as_ref()
                .filter(|_| c.status == ConflictStatus::Resolved)
                .map(|d| ReviewLine {
                    decision: d.decision.clone(),
                    operator: d.operator.to_string(),
                    node: d.node.to_string(),
                    at_local: offset.local(d.at_ms),
                });
            ConflictLine {
                id: c.id.clone(),
                kind: c.kind.to_string(),
                status: c.status.to_string(),
                records: c.records.iter().map(ToString::to_string).collect(),
                field: c.field.clone(),
                subject,
                summary: c.summary(),
                decision: review.as_ref().map(|r| {
                    format!(
                        "{} by {} on {} at {}",
                        r.decision, r.operator, r.node, r.at_local
                    )
                }),
                about,
                review,
            }
        })
        .collect();
    let touching_open = touching
        .iter()
        .filter(|c| c.status == ConflictStatus::Open)
        .count();

    let worklist = worklist(&scan, &touching);
    let nodes = nodes(&parts, &scan.by_node, offset);
    let opened_day = offset.date(e.opened_ms);
    let esc = escalation(e.opened_ms, e.closed_ms, now, e.latest_estimate());
    let money = EpisodeMoney {
        charges_settled: scan.money.settled,
        collected_total: scan.money.by_channel.total(),
        collected: scan.money.by_channel.list(),
        awaiting_resettlement_charges: scan.money.awaiting,
        awaiting_resettlement: scan.money.awaiting_amount,
    };
    Ok(Some(OutageReport {
        node: store.node().to_string(),
        generated_ms: now,
        generated_local: offset.local(now),
        timezone: offset.label(),
        episode: e.episode_id.to_string(),
        merged_episodes: merged.iter().map(ToString::to_string).collect(),
        reason: e.reason.clone(),
        reason_code: e.reason_code.clone(),
        automatic: e.automatic,
        opened_by_node: e.header.origin.to_string(),
        opened_by_operator: e.header.operator.to_string(),
        opened_ms: e.opened_ms,
        opened_local: offset.local(e.opened_ms),
        closed_ms: e.closed_ms,
        closed_local: e.closed_ms.map(|t| offset.local(t)),
        closed_by: e.closed_by.as_ref().map(ToString::to_string),
        open: summary.open,
        duration_ms: summary.duration_ms,
        duration: duration(summary.duration_ms),
        grade: summary.grade.to_owned(),
        grade_meaning: grade_meaning(summary.grade).to_owned(),
        report_to_leadership: matches!(summary.grade, "III" | "II" | "I"),
        ended_same_day: e.closed_ms.map(|c| offset.date(c) == opened_day),
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
        drill: e.drill,
        cause: e.cause.clone(),
        expected_grade: summary.open.then(|| esc.expected_grade.to_owned()),
        written_report_due_ms: esc.report_due_ms,
        written_report_due_local: esc.report_due_ms.map(|t| offset.local(t)),
        timeline: timeline(e, &parts, &esc, offset),
        money,
    }))
}

/// The episode's moments in time order: opened, each estimate, the plan's steps the outage
/// reached, each node's recovery, closed.
fn timeline(
    e: &Episode,
    parts: &[&Episode],
    esc: &Escalation,
    offset: UtcOffset,
) -> Vec<TimelineEntry> {
    let entry = |at_ms: i64, event: &str, what: String| TimelineEntry {
        at_ms,
        at_local: offset.local(at_ms),
        event: event.to_owned(),
        what,
        node: None,
        operator: None,
        hours: None,
        expected_back_local: None,
    };
    let mut out = vec![entry(
        e.opened_ms,
        "opened",
        format!(
            "opened by {} on {}: {}",
            e.header.operator, e.header.origin, e.reason
        ),
    )];
    for part in parts {
        for est in part.estimates_in_order() {
            let back = offset.local(est.expected_back_ms);
            out.push(TimelineEntry {
                node: Some(est.node.to_string()),
                operator: Some(est.operator.to_string()),
                hours: Some(est.hours),
                expected_back_local: Some(back.clone()),
                ..entry(
                    est.at_ms,
                    "estimate",
                    format!(
                        "{} on {} estimated the system back in {} h, at {back}",
                        est.operator, est.node, est.hours,
                    ),
                )
            });
        }
        for (node, n) in &part.nodes {
            if let Some(at) = n.recovered_ms {
                out.push(TimelineEntry {
                    node: Some(node.to_string()),
                    ..entry(
                        at,
                        "recovered",
                        format!("{node} saw the system of record back"),
                    )
                });
            }
        }
    }
    for step in esc.steps.iter().filter(|s| s.reached) {
        out.push(entry(
            step.due_ms,
            step.step.name(),
            step.step.what().to_owned(),
        ));
    }
    if let Some(closed) = e.closed_ms {
        out.push(entry(closed, "closed", "the outage ended".to_owned()));
    }
    out.sort_by_key(|t| t.at_ms);
    out
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
