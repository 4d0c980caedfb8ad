//! Administration endpoints for the information department (desk role `admin`): status,
//! operators and the admin token, catalogs. (Emergency mode is in [`super::emergency`],
//! number ranges in [`super::ranges`].) The CLI uses these with the admin token the daemon
//! keeps in its data directory.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use lifeline_core::desk::{
    CatalogImport, DrillStatus, drill_status, escalation, parse_departments, parse_drugs,
    parse_services,
};
use lifeline_core::numbers::Series;
use lifeline_core::store::StoreStats;
use lifeline_core::trust::Rights;
use lifeline_core::{Date, DeskRole, NodeRole, Operator, OperatorName};
use lifeline_sync::mesh::PeerStatus;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, Authed, Body, Written, admin_only, blocking};
use crate::daemon::desk_list;
use crate::daemon::health::ModeInfo;
use crate::daemon::in_sync::{self, WorkingSet};
use crate::error::chain;
use crate::operators::{BUILT_IN_ADMIN, NewEntry, admin_name};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/operators", get(list_operators).post(add_operator))
        .route(
            "/admin/operators/{name}",
            axum::routing::delete(remove_operator),
        )
        .route("/admin/token/rotate", post(rotate_admin_token))
        .route("/admin/catalog/import", post(catalog_import))
}

/// What the other desks may not do here.
const ADMINISTER: &str = "use the administration endpoints";

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
    pub records: u64,
    pub records_by_kind: Vec<(String, u64)>,
    pub audit_entries: u64,
    pub feed_seq: u64,
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
        let worklist = stats.worklist_by_category.iter().map(|(_, n)| n).sum();
        let worklist_overdue = store.resettlements_overdue()?;
        let (working_set, judged) = in_sync::of_node(
            store.role(),
            &runtime.config,
            runtime.mode().mode,
            episode.is_some(),
            stats.unreconciled,
            &peers,
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
                records: stats.records,
                records_by_kind: stats
                    .records_by_kind
                    .iter()
                    .map(|(k, n)| (k.to_string(), *n))
                    .collect(),
                audit_entries: stats.audit_entries,
                feed_seq: stats.feed_seq,
            },
            restore_drill: Some(drill),
            calendar: Some(calendar_status(&store)),
            his,
        })
    })
    .await?;
    Ok(Json(report))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OperatorLine {
    pub name: String,
    pub desk: DeskRole,
    pub created_ms: i64,
    #[serde(default)]
    pub expires_ms: Option<i64>,
    #[serde(default)]
    pub added_by: Option<String>,
}

async fn list_operators(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<Vec<OperatorLine>>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    Ok(Json(
        state
            .operators
            .list()
            .into_iter()
            .map(|e| OperatorLine {
                name: e.name.to_string(),
                desk: e.desk,
                created_ms: e.created_ms,
                expires_ms: e.expires_ms,
                added_by: e.added_by.map(|n| n.to_string()),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    pub name: OperatorName,
    pub desk: DeskRole,
    /// The token stops working this many seconds after it is issued; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for_s: Option<u64>,
    /// The console password (at least 8 characters); without one, a one-time setup code is
    /// issued instead, with which the operator logs in once to choose their password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The answer to adding an operator: the token, shown this once.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddedOperator {
    pub name: String,
    pub desk: DeskRole,
    pub token: String,
    #[serde(default)]
    pub expires_ms: Option<i64>,
    /// The one-time code for the console's first log-in (when no password was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_code: Option<String>,
}

/// Runs a change to the operators file on a blocking thread, an error as the API's.
async fn operators_change<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    blocking(move || {
        f().map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", chain(&*e)))
    })
    .await
}

/// Records an operator change in the audit chain, under the administrator's name.
async fn audit(
    state: &ApiState,
    op: Operator,
    action: &'static str,
    detail: String,
) -> Result<(), ApiError> {
    let store = state.store.clone();
    blocking(move || store.audit_admin(&op, action, detail)).await
}

async fn add_operator(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewOperator>,
) -> Result<(StatusCode, Json<AddedOperator>), ApiError> {
    admin_only(&op, ADMINISTER)?;
    if new.name.as_str() == BUILT_IN_ADMIN {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            "\"admin\" is the node's built-in administrator; choose a person's own name",
        )
        .field("name"));
    }
    // A desk the node's certificate does not name would hear "saved" for records no other
    // node accepts: refused here, before anyone works at it.
    let certified = state.store.options().desks.clone();
    let rights = Rights {
        role: state.store.role(),
        desks: &certified,
    };
    if !rights.serves_desk(new.desk) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this {}'s certificate names the desks {}; an operator of the {} desk cannot work here",
                state.store.role(),
                desk_list(&certified),
                new.desk
            ),
        )
        .field("desk"));
    }
    if let Some(password) = &new.password {
        crate::operators::check_password_rules(password)
            .map_err(|e| ApiError::bad_request("password", e.to_string()))?;
    }
    let now = state.store.now_ms();
    let expires_ms = new
        .valid_for_s
        .map(|s| now.saturating_add(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)));
    let operators = state.operators.clone();
    let (name, desk) = (new.name.clone(), new.desk);
    let entry = NewEntry {
        name: new.name,
        desk: new.desk,
        expires_ms,
        added_by: Some(op.name.clone()),
    };
    let password = new.password;
    let (token, setup_code) = operators_change(move || {
        let who = entry.name.clone();
        let token = operators.add_entry(entry, now)?;
        let code = match password {
            Some(p) => {
                operators.set_password(&who, &p)?;
                None
            }
            None => operators.issue_setup_code(&who)?,
        };
        Ok((token, code))
    })
    .await?;
    let login = if setup_code.is_some() {
        "console setup code issued"
    } else {
        "console password set"
    };
    let until = expires_ms.map_or("no expiry".to_owned(), |ms| format!("expires at {ms} ms"));
    let until = format!("{until}, {login}");
    audit(
        &state,
        op.clone(),
        "operator.add",
        format!("{name} ({desk} desk), {until}"),
    )
    .await?;
    tracing::info!(operator = %name, %desk, by = %op.name, "operator added");
    Ok((
        StatusCode::CREATED,
        Json(AddedOperator {
            name: name.to_string(),
            desk,
            token,
            expires_ms,
            setup_code,
        }),
    ))
}

async fn remove_operator(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Path(name): Path<String>,
) -> Result<Json<Written<String>>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let name = OperatorName::new(name).map_err(|e| ApiError::bad_request("name", chain(&e)))?;
    if name.as_str() == BUILT_IN_ADMIN {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            "the CLI's own administrator cannot be removed (give it a new token with `lifeline operator rotate-admin-token`)",
        )
        .field("name"));
    }
    let operators = state.operators.clone();
    let gone = name.clone();
    if !operators_change(move || operators.remove(&gone)).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no operator {name}"),
        ));
    }
    audit(&state, op.clone(), "operator.remove", name.to_string()).await?;
    tracing::info!(operator = %name, by = %op.name, "operator removed");
    Ok(Json(Written::from_saved(lifeline_core::desk::Saved {
        value: name.to_string(),
        warnings: Vec::new(),
    })))
}

/// Catalog CSV texts; absent ones are left as they are.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogCsv {
    pub drugs_csv: Option<String>,
    pub services_csv: Option<String>,
    pub departments_csv: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CatalogVersions {
    pub drug_catalog_version: u64,
    pub service_catalog_version: u64,
}

async fn catalog_import(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<CatalogCsv>,
) -> Result<Json<Written<CatalogVersions>>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let csv = |e: lifeline_core::desk::CsvError| ApiError::bad_request(e.file, chain(&e));
    let import = CatalogImport {
        drugs: req
            .drugs_csv
            .as_deref()
            .map(parse_drugs)
            .transpose()
            .map_err(csv)?,
        services: req
            .services_csv
            .as_deref()
            .map(parse_services)
            .transpose()
            .map_err(csv)?,
        departments: req
            .departments_csv
            .as_deref()
            .map(parse_departments)
            .transpose()
            .map_err(csv)?,
        doctors: None,
    };
    let store = state.store.clone();
    let saved = blocking(move || store.import_catalog(&op, import)).await?;
    Ok(Json(Written::from_saved(lifeline_core::desk::Saved {
        value: CatalogVersions {
            drug_catalog_version: saved.value.0,
            service_catalog_version: saved.value.1,
        },
        warnings: saved.warnings,
    })))
}

/// The new admin token, written to the data directory (and answered, for the caller).
#[derive(Debug, Serialize, Deserialize)]
pub struct RotatedToken {
    pub path: String,
    pub token: String,
}

/// Gives the `admin` operator a new token and writes it to `admin.token`; the old one stops
/// working at once.
async fn rotate_admin_token(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<RotatedToken>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let operators = state.operators.clone();
    let path = state.runtime.config.admin_token_path();
    let now = state.store.now_ms();
    let internal =
        |e: anyhow::Error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", chain(&*e));
    let shown = path.display().to_string();
    let token = blocking(move || {
        let token = operators
            .add(admin_name(), DeskRole::Admin, now)
            .map_err(internal)?;
        crate::operators::write_secret(&path, &token).map_err(internal)?;
        Ok::<_, ApiError>(token)
    })
    .await?;
    audit(
        &state,
        op.clone(),
        "operator.rotate_admin_token",
        BUILT_IN_ADMIN.to_owned(),
    )
    .await?;
    tracing::warn!(by = %op.name, "the admin token was rotated");
    Ok(Json(RotatedToken { path: shown, token }))
}
