//! Administration endpoints for the information department (desk role `admin`): status,
//! operators, emergency mode, catalogs, number ranges. The CLI uses these with the admin
//! token the daemon writes to its data directory.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use lifeline_core::desk::{
    CatalogImport, LeaveScope, parse_departments, parse_drugs, parse_services,
};
use lifeline_core::numbers::{NumberRange, RangeReport, Series};
use lifeline_core::store::StoreStats;
use lifeline_core::{DeskRole, NodeName, NodeRole, OperatorName};
use lifeline_sync::mesh::PeerStatus;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, Authed, Body, Written, admin_only, blocking};
use crate::daemon::health::ModeInfo;
use crate::error::chain;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/operators", get(list_operators).post(add_operator))
        .route("/admin/emergency/start", post(emergency_start))
        .route("/admin/emergency/stop", post(emergency_stop))
        .route("/admin/catalog/import", post(catalog_import))
        .route("/admin/ranges/lease", post(lease))
        .route("/admin/ranges/report", get(range_report))
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
    pub ranges: Vec<RangeLeft>,
    pub store: StoreReport,
    /// The HIS link, on nodes that run the bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub his: Option<super::his::HisPeer>,
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
    pub started_ms: i64,
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
        let episode = store.episode_info()?.map(|e| CurrentEpisode {
            id: e.id.to_string(),
            reason: e.reason,
            started_ms: e.started_ms,
        });
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
        let (open_conflicts, worklist) = review_counts(&store)?;
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
            open_conflicts,
            worklist,
            ranges,
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
            his,
        })
    })
    .await?;
    Ok(Json(report))
}

#[derive(Debug, Serialize)]
struct OperatorLine {
    name: String,
    desk: DeskRole,
    created_ms: i64,
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
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    pub name: OperatorName,
    pub desk: DeskRole,
}

/// The answer to adding an operator: the token, shown this once.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddedOperator {
    pub name: String,
    pub desk: DeskRole,
    pub token: String,
}

async fn add_operator(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewOperator>,
) -> Result<(StatusCode, Json<AddedOperator>), ApiError> {
    admin_only(&op, ADMINISTER)?;
    let now = state.store.now_ms();
    let operators = state.operators.clone();
    let (name, desk) = (new.name.clone(), new.desk);
    let token = blocking(move || {
        operators
            .add(new.name, new.desk, now)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", chain(&*e)))
    })
    .await?;
    tracing::info!(operator = %name, %desk, by = %op.name, "operator added");
    Ok((
        StatusCode::CREATED,
        Json(AddedOperator {
            name: name.to_string(),
            desk,
            token,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartEmergency {
    pub reason: String,
}

async fn emergency_start(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<StartEmergency>,
) -> Result<Json<Written<String>>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let store = state.store.clone();
    let saved = blocking(move || store.open_episode(&op, &req.reason, false)).await?;
    Ok(Json(Written::from_saved(lifeline_core::desk::Saved {
        value: saved.value.to_string(),
        warnings: saved.warnings,
    })))
}

async fn emergency_stop(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<Written<Option<String>>>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let store = state.store.clone();
    let saved = blocking(move || store.leave_episode(&op, LeaveScope::HospitalWide)).await?;
    Ok(Json(Written::from_saved(lifeline_core::desk::Saved {
        value: saved.value.map(|e| e.to_string()),
        warnings: saved.warnings,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    pub series: Series,
    pub holder: NodeName,
    pub size: u64,
}

async fn lease(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<LeaseRequest>,
) -> Result<Json<Written<NumberRange>>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let store = state.store.clone();
    let saved = blocking(move || store.lease_range(&op, req.series, req.holder, req.size)).await?;
    Ok(Json(Written::from_saved(saved)))
}

async fn range_report(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<RangeReport>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let store = state.store.clone();
    Ok(Json(blocking(move || store.range_report()).await?))
}

/// Open conflicts and recovery worklist items.
fn review_counts(store: &lifeline_core::Store) -> Result<(u64, u64), ApiError> {
    let open = store
        .conflicts()?
        .iter()
        .filter(|c| c.status == lifeline_core::review::ConflictStatus::Open)
        .count() as u64;
    Ok((open, store.worklist()?.len() as u64))
}
