//! What the information department does about hostile or broken peers: the quarantine of
//! refused records, and the CA's revocations handed to the node.
//!
//! - `GET /admin/quarantine?from=SEQ&limit=N`: refused records, oldest first (without their
//!   bytes);
//! - `GET /admin/quarantine/{seq}`: one, with its bytes (hex);
//! - `POST /admin/revocations` with `{"proof": "<the CA-signed revocation, as written by
//!   lifeline ca revoke>"}`: checked against this node's CA, kept, refused at every handshake
//!   from then on and sent to every peer with the roster.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use lifeline_core::store::Quarantined;
use lifeline_core::trust::Admitted;
use lifeline_sync::identity::Anchor;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, Authed, Body, admin_only, blocking};
use crate::error::chain;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/quarantine", get(list))
        .route("/admin/quarantine/{seq}", get(show))
        .route("/admin/revocations", post(take_revocation))
}

/// What the other desks may not do here.
const INSPECT: &str = "inspect refused records or revoke certificates";

/// Most quarantine entries one request answers with.
const LIST_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub from: u64,
    pub limit: Option<usize>,
}

async fn list(
    State(state): State<ApiState>,
    Authed(op): Authed,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Quarantined>>, ApiError> {
    admin_only(&op, INSPECT)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(LIST_LIMIT).min(LIST_LIMIT);
    let store = state.store.clone();
    let mut entries = blocking(move || store.quarantined(q.from, limit)).await?;
    for e in &mut entries {
        e.bytes_hex.clear();
    }
    Ok(Json(entries))
}

async fn show(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Path(seq): Path<String>,
) -> Result<Json<Quarantined>, ApiError> {
    admin_only(&op, INSPECT)?;
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no quarantined record {seq}"),
        )
    };
    // Taken as text: axum's own refusal of a path that is no number is not JSON.
    let number: u64 = seq.parse().map_err(|_| missing())?;
    let store = state.store.clone();
    blocking(move || store.quarantine_entry(number))
        .await?
        .map(Json)
        .ok_or_else(missing)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    /// The revocation as `lifeline ca revoke` wrote it.
    pub proof: String,
}

/// What taking a revocation did.
#[derive(Debug, Serialize, Deserialize)]
pub struct RevocationTaken {
    pub name: String,
    pub key: String,
    pub reason: String,
    /// False when this node held it already.
    pub new: bool,
}

async fn take_revocation(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<RevocationRequest>,
) -> Result<Json<RevocationTaken>, ApiError> {
    admin_only(&op, INSPECT)?;
    let anchor = Anchor::load(&state.runtime.config.tls.ca)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", chain(&e)))?;
    let revocation = anchor
        .revocation(req.proof.as_bytes())
        .map_err(|e| ApiError::bad_request("proof", chain(&e)))?;
    let store = state.store.clone();
    let taken = revocation.clone();
    let admitted = blocking(move || -> Result<Admitted, ApiError> {
        let admitted = store.revoke(taken.clone())?;
        store.audit_admin(
            &op,
            "revocation.take",
            format!("{} key {}: {}", taken.name, taken.key, taken.reason),
        )?;
        Ok(admitted)
    })
    .await?;
    tracing::warn!(node = %revocation.name, key = %revocation.key.short(), "took a revocation");
    Ok(Json(RevocationTaken {
        name: revocation.name.to_string(),
        key: revocation.key.to_string(),
        reason: revocation.reason,
        new: admitted == Admitted::New,
    }))
}
