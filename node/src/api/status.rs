//! `GET /admin/status`: what `lifeline status` shows. It reads counts the store keeps in its
//! own commits and the runtime's view of the mesh, never a scan of the records.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use lifeline_core::desk::{DrillStatus, drill_status, escalation};
use lifeline_core::numbers::Series;
use lifeline_core::store::StoreStats;
use lifeline_core::{Date, DeskRole, NodeRole};
use lifeline_sync::mesh::PeerStatus;
use serde::{Deserialize, Serialize};

use super::admin::ADMINISTER;
use super::{ApiError, ApiState, Authed, admin_only, blocking};
use crate::daemon::health::ModeInfo;
use crate::daemon::in_sync::{self, WorkingSet};
use crate::daemon::table_check::TableCheck;

pub fn routes() -> Router<ApiState> {
    Router::new().route("/admin/status", get(status))
}

/// The `lifeline status --json` document. Stable: fields are only ever added.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusReport {
    pub node: String,
    pub role: NodeRole,
    pub desks: Vec<DeskRole>,
    pub generated_ms: i64,
    pub started_ms: i64,
    pub mode: ModeReport,
    pub episode: Option<CurrentEpisode>,
    pub peers: Vec<PeerStatus>,
    /// Emergency records on this node that central has not acknowledged yet.
    pub unreconciled: u64,
    pub open_conflicts: u64,
    pub worklist: u64,
    /// Of the worklist, re-settlements past their due date.
    #[serde(default)]
    pub worklist_overdue: u64,
    /// The episode whose outage is over for this node and whose records are still on their
    /// way to central; the node leaves it once they are all acknowledged.
    #[serde(default)]
    pub reconciling: Option<String>,
    pub ranges: Vec<RangeLeft>,
    /// On a lessor that lost history (restored, or its store copied back): the members it
    /// must catch up with before it leases from its cursor again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leasing_held_for: Vec<String>,
    /// On a lessor: the holders of lease requests it answers once it has caught up with them
    /// since it started, as of its last housekeeping round (`Store::requests_wait_for`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests_wait_for: Vec<String>,
    pub store: StoreReport,
    /// Whether everything is replicated and reconciled (see docs/status.md), and why not.
    #[serde(default)]
    pub in_sync: bool,
    #[serde(default)]
    pub not_in_sync_because: Vec<String>,
    /// Recovery worklist items per category.
    #[serde(default)]
    pub worklist_by_category: Vec<(String, u64)>,
    /// A window's working set and how far it has arrived; absent on central and the standby.
    #[serde(default)]
    pub working_set: Option<WorkingSet>,
    /// The last restore drill, and whether one is overdue (the plan: monthly).
    #[serde(default)]
    pub restore_drill: Option<DrillStatus>,
    /// The working-day calendar in use and how far it reaches.
    #[serde(default)]
    pub calendar: Option<CalendarStatus>,
    /// The HIS link, on nodes that run the bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub his: Option<super::his::HisPeer>,
}

/// The working-day calendar a node counts deadlines with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalendarStatus {
    pub source: String,
    /// The last day it has holidays for; beyond it, Monday to Friday are counted.
    pub covered_until: Option<Date>,
    /// It covers today and the next 30 days.
    pub covers_next_30_days: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModeReport {
    pub mode: String,
    pub since_ms: i64,
    pub central_lost_since_ms: Option<i64>,
    pub primary: Option<String>,
    /// When the HIS was first found unreachable, while it still is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub his_lost_since_ms: Option<i64>,
}

/// The emergency episode this node is in (the outage report is [`crate::report::OutageReport`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct CurrentEpisode {
    pub id: String,
    pub reason: String,
    /// The reason as a code (an automatic opening's), said in the reader's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<lifeline_core::record::ReasonCode>,
    /// When this node entered it.
    pub started_ms: i64,
    /// When the episode opened (on whichever node).
    #[serde(default)]
    pub opened_ms: i64,
    /// A drill, not a real outage.
    #[serde(default)]
    pub drill: bool,
    #[serde(default)]
    pub automatic: bool,
    /// The grade the outage is expected to have (from the latest estimate, or its length).
    #[serde(default)]
    pub expected_grade: String,
    /// The next step of the plan's escalation timeline.
    #[serde(default)]
    pub next_step: Option<NextStep>,
    /// When the system is expected back, from the latest estimate.
    #[serde(default)]
    pub expected_back_ms: Option<i64>,
    /// 30 minutes have passed with no estimate of the recovery time.
    #[serde(default)]
    pub estimate_missing: bool,
    #[serde(default)]
    pub cause: Option<String>,
}

/// A step of the escalation timeline still to come.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NextStep {
    pub step: String,
    pub due_ms: i64,
    /// What it asks of people.
    pub what: String,
}

/// The status's view of the episode this node is in.
pub(crate) fn current_episode(
    store: &lifeline_core::Store,
    info: lifeline_core::store::EpisodeInfo,
) -> Result<CurrentEpisode, ApiError> {
    let found = store.episode_by_id(&info.id)?;
    let now = store.now_ms();
    // The code is the episode's; it says this node's reason only where the words are the same.
    let reason_code = found
        .as_ref()
        .filter(|(s, _)| s.episode.reason == info.reason)
        .and_then(|(s, _)| s.episode.reason_code.clone());
    let (opened_ms, automatic, drill, cause, esc) = match &found {
        Some((s, _)) => {
            let e = &s.episode;
            let esc = escalation(e.opened_ms, e.closed_ms, now, e.latest_estimate());
            (
                e.opened_ms,
                e.automatic,
                e.drill,
                e.cause.clone(),
                Some(esc),
            )
        }
        None => (info.started_ms, false, info.id.is_drill(), None, None),
    };
    let esc = esc.unwrap_or_else(|| escalation(opened_ms, None, now, None));
    Ok(CurrentEpisode {
        id: info.id.to_string(),
        reason: info.reason,
        reason_code,
        started_ms: info.started_ms,
        opened_ms,
        drill,
        automatic,
        expected_grade: esc.expected_grade.to_owned(),
        next_step: esc.next.map(|s| NextStep {
            step: s.step.name().to_owned(),
            due_ms: s.due_ms,
            what: s.step.what().to_owned(),
        }),
        expected_back_ms: esc.expected_back_ms,
        estimate_missing: esc.estimate_missing,
        cause,
    })
}

fn calendar_status(store: &lifeline_core::Store) -> CalendarStatus {
    let cal = &store.options().calendar;
    let today = Date::at(store.now_ms(), store.options().utc_offset_min);
    CalendarStatus {
        source: cal.source.clone(),
        covered_until: cal.last_covered(),
        covers_next_30_days: cal.covers(today) && cal.covers(today.add_days(30)),
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RangeLeft {
    pub range_id: String,
    pub series: Series,
    pub start: u64,
    pub end: u64,
    pub next: u64,
    pub remaining: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StoreReport {
    pub path: String,
    pub file_bytes: u64,
    /// What the store takes on disk (redb grows the file ahead of its pages).
    #[serde(default)]
    pub disk_bytes: u64,
    pub records: u64,
    pub records_by_kind: Vec<(String, u64)>,
    pub audit_entries: u64,
    pub feed_seq: u64,
    /// The check of every table the daemon runs beside the work after it opens the store.
    #[serde(default)]
    pub check: TableCheck,
}

fn mode_report(m: ModeInfo) -> ModeReport {
    ModeReport {
        mode: m.mode.name().to_owned(),
        since_ms: m.since_ms,
        central_lost_since_ms: m.central_lost_since_ms,
        primary: m.primary,
        his_lost_since_ms: m.his_lost_since_ms,
    }
}

async fn status(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<StatusReport>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let runtime = state.runtime.clone();
    let peers = runtime.peers();
    let mode = mode_report(runtime.mode());
    let his = runtime.his().map(|link| super::his::HisPeer::of(&link));
    let store = state.store.clone();
    let report = blocking(move || -> Result<StatusReport, ApiError> {
        let stats: StoreStats = store.stats()?;
        let episode = match store.episode_info()? {
            Some(info) => Some(current_episode(&store, info)?),
            None => None,
        };
        let reconciling = store.reconciling_episode()?.map(|e| e.to_string());
        let drill = drill_status(store.restore_drills()?.pop(), store.now_ms());
        let ranges = store
            .ranges()?
            .into_iter()
            .map(|r| RangeLeft {
                remaining: r.remaining(),
                range_id: r.range.id,
                series: r.range.series,
                start: r.range.start,
                end: r.range.end,
                next: r.next,
            })
            .collect();
        let (leasing_held_for, requests_wait_for) = match store.role() {
            NodeRole::Window => (Vec::new(), Vec::new()),
            NodeRole::Central | NodeRole::Standby => (
                store
                    .leasing_held_for()?
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                store
                    .requests_wait_for()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
        };
        let worklist = stats.worklist_by_category.iter().map(|(_, n)| n).sum();
        let worklist_overdue = store.resettlements_overdue()?;
        let (working_set, judged) = in_sync::of_node(
            store.role(),
            &runtime.config,
            runtime.mode().mode,
            episode.is_some(),
            stats.unreconciled,
            &peers,
            his.as_ref().map(in_sync::HisFacts::of),
        );
        Ok(StatusReport {
            node: store.node().to_string(),
            role: store.role(),
            desks: runtime.config.node.desks.clone(),
            generated_ms: store.now_ms(),
            started_ms: runtime.started_ms,
            mode,
            episode,
            peers,
            unreconciled: stats.unreconciled,
            open_conflicts: stats.open_conflicts,
            worklist,
            worklist_overdue,
            reconciling,
            ranges,
            leasing_held_for,
            requests_wait_for,
            in_sync: judged.in_sync,
            not_in_sync_because: judged.not_in_sync_because,
            worklist_by_category: stats
                .worklist_by_category
                .iter()
                .map(|(c, n)| (c.name().to_owned(), *n))
                .collect(),
            working_set,
            store: StoreReport {
                path: store.path().display().to_string(),
                file_bytes: stats.file_bytes,
                disk_bytes: stats.disk_bytes,
                records: stats.records,
                records_by_kind: stats
                    .records_by_kind
                    .iter()
                    .map(|(k, n)| (k.to_string(), *n))
                    .collect(),
                audit_entries: stats.audit_entries,
                feed_seq: stats.feed_seq,
                check: runtime.table_check(),
            },
            restore_drill: Some(drill),
            calendar: Some(calendar_status(&store)),
            his,
        })
    })
    .await?;
    Ok(Json(report))
}
