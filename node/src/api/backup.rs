//! `POST /admin/backup {"out": "/abs/path"}`: a consistent snapshot of the running node's
//! store, written by the daemon while the desks keep working (administrators only). Answers
//! with the [`BackupInfo`] once the file and its `.sha256` are durable. And the restore drills
//! (`POST|GET /admin/restore-drills`), which `lifeline verify` records.

use std::path::PathBuf;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use lifeline_core::desk::RestoreDrill;
use lifeline_core::store::{BackupError, BackupInfo};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, Authed, Body, Written, admin_only, blocking};
use crate::error::chain;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/backup", post(backup))
        .route("/admin/restore-drills", post(record_drill).get(list_drills))
}

/// `POST /admin/restore-drills`: records a restore drill (`lifeline verify` does it).
async fn record_drill(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(drill): Body<RestoreDrill>,
) -> Result<Json<Written<RestoreDrill>>, ApiError> {
    admin_only(&op, "record restore drills")?;
    let store = state.store.clone();
    let saved = blocking(move || store.record_restore_drill(&op, drill)).await?;
    Ok(Json(Written::from_saved(saved)))
}

/// `GET /admin/restore-drills`: the drills recorded on this node, oldest first.
async fn list_drills(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<Vec<RestoreDrill>>, ApiError> {
    admin_only(&op, "read restore drills")?;
    let store = state.store.clone();
    Ok(Json(blocking(move || store.restore_drills()).await?))
}

/// Where to write the backup: an absolute path on the node, which must not exist yet.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    pub out: PathBuf,
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        let message = chain(&e);
        match e {
            BackupError::Exists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "exists", message).field("out")
            }
            BackupError::BadPath { .. } => ApiError::bad_request("out", message),
            _ => {
                tracing::error!(error = message, "backup failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "backup_failed", message)
            }
        }
    }
}

async fn backup(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<BackupRequest>,
) -> Result<Json<BackupInfo>, ApiError> {
    admin_only(&op, "take backups")?;
    if !req.out.is_absolute() {
        return Err(ApiError::bad_request(
            "out",
            format!(
                "{} is not an absolute path (the daemon resolves paths from its own directory)",
                req.out.display()
            ),
        ));
    }
    let store = state.store.clone();
    let out = req.out;
    tracing::info!(out = %out.display(), by = %op.name, "backup requested");
    let info = blocking(move || store.backup_to(&out, &|_, _| {})).await?;
    tracing::info!(
        out = %info.path.display(),
        records = info.records,
        bytes = info.bytes,
        sha256 = %info.sha256,
        "backup written"
    );
    Ok(Json(info))
}
