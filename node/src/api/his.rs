//! The HIS bridge's administration endpoints (`lifeline his status|pull|push|check`), for the
//! information department: what was pulled and pushed per table, what is waiting and what
//! the HIS refused; a pull or push now; the mapping checked against the live HIS.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{ApiError, ApiState, Authed, admin_only};
use crate::his::bridge::{HisLink, LinkHealth, Progress, Ran, Request};
use crate::his::check::CheckReport;
use crate::his::push::PushSummary;
use crate::his::state::{ImportState, TableRun};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/his/status", get(status))
        .route("/admin/his/pull", post(pull))
        .route("/admin/his/push", post(push))
        .route("/admin/his/check", post(check))
}

const ADMINISTER: &str = "use the HIS bridge's endpoints";

/// One interface row the HIS refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefusedRow {
    pub table: String,
    pub ext_id: String,
    pub record: String,
    pub revision: i64,
    pub reason: String,
}

/// `lifeline his status --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HisStatus {
    pub url: String,
    /// This node pulls and pushes now (central; the standby while primary).
    pub active: bool,
    pub health: LinkHealth,
    pub progress: Option<Progress>,
    pub last_pull: Option<Ran>,
    pub last_push: Option<Ran>,
    /// Table → its last pull (and where its cursor stands).
    pub pulls: Vec<(String, TableRun)>,
    /// Interface table → its last push.
    pub pushes: Vec<(String, TableRun)>,
    /// Rows written that the HIS has not imported yet.
    pub waiting: u64,
    /// Rows whose latest revision the HIS refused, with its reasons.
    pub refused: Vec<RefusedRow>,
    /// Records that could not be written as interface rows, with why.
    pub unwritable: Vec<(String, String)>,
}

/// The HIS peer line of `lifeline status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HisPeer {
    pub url: String,
    pub active: bool,
    pub health: LinkHealth,
    pub last_pull_ms: Option<i64>,
    pub waiting: u64,
    pub refused: u64,
}

impl HisPeer {
    pub fn of(link: &HisLink) -> HisPeer {
        link.with(|s| HisPeer {
            url: s.url.clone(),
            active: s.active,
            health: s.health.clone(),
            last_pull_ms: s.last_pull.as_ref().map(|r| r.finished_ms),
            waiting: s.waiting,
            refused: s.refused,
        })
    }
}

fn link(state: &ApiState) -> Result<std::sync::Arc<HisLink>, ApiError> {
    state.runtime.his().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_his",
            "this node runs no HIS bridge (no [his] section in its config)",
        )
    })
}

async fn status(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<HisStatus>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let s = link(&state)?.snapshot();
    let refused = s
        .state
        .ledger
        .iter()
        .filter_map(|(ext, p)| match &p.outcome {
            ImportState::Refused { reason } => Some(RefusedRow {
                table: p.table.clone(),
                ext_id: ext.clone(),
                record: p.record.clone(),
                revision: p.revision,
                reason: reason.clone(),
            }),
            _ => None,
        })
        .collect();
    Ok(Json(HisStatus {
        url: s.url,
        active: s.active,
        health: s.health,
        progress: s.progress,
        last_pull: s.last_pull,
        last_push: s.last_push,
        pulls: s.state.pulls.into_iter().collect(),
        pushes: s.state.pushes.into_iter().collect(),
        waiting: s.waiting,
        refused,
        unwritable: s.unwritable,
    }))
}

/// The answer to a pull started: follow it in `/admin/his/status`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Started {
    pub started_ms: i64,
}

async fn pull(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    admin_only(&op, ADMINISTER)?;
    let link = link(&state)?;
    let (tx, rx) = oneshot::channel();
    link.ask(Request::Pull(tx))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "his", e))?;
    // The pull may take minutes (a first pull of the patient master): it goes on after this
    // answer; its outcome is in the status.
    tokio::spawn(async move {
        let _ = rx.await;
    });
    tracing::info!(by = %op.name, "HIS pull asked for");
    Ok((
        StatusCode::ACCEPTED,
        Json(Started {
            started_ms: state.store.now_ms(),
        }),
    ))
}

async fn push(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<PushSummary>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    tracing::info!(by = %op.name, "HIS push asked for");
    Ok(Json(ask(&state, Request::Push).await?))
}

async fn check(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<CheckReport>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    Ok(Json(ask(&state, Request::Check).await?))
}

/// Asks the bridge for a push or a check and waits for its answer.
async fn ask<T>(
    state: &ApiState,
    request: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Request,
) -> Result<T, ApiError> {
    let link = link(state)?;
    let (tx, rx) = oneshot::channel();
    link.ask(request(tx))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "his", e))?;
    rx.await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "his",
                "the HIS bridge stopped",
            )
        })?
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "his", e))
}
