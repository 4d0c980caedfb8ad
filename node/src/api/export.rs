//! `GET /admin/export/fhir?episode=ID`: an emergency episode as FHIR R4 resources (see
//! [`crate::fhir`]); `lifeline export fhir` writes them out in the Bulk Data layout.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use lifeline_core::EpisodeId;
use serde::Deserialize;

use super::{ApiError, ApiState, Authed, admin_only, blocking};
use crate::fhir::{self, Export};

pub fn routes() -> Router<ApiState> {
    Router::new().route("/admin/export/fhir", get(export_fhir))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    pub episode: String,
}

async fn export_fhir(
    State(state): State<ApiState>,
    Authed(op): Authed,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Json<Export>, ApiError> {
    admin_only(&op, "export episodes")?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("episode", e.body_text()))?;
    let id = EpisodeId::new(q.episode.trim())
        .map_err(|e| ApiError::bad_request("episode", crate::error::chain(&e)))?;
    let store = state.store.clone();
    let offset = state.runtime.config.hospital.utc_offset;
    let wanted = id.clone();
    let export = blocking(move || fhir::build(&store, &wanted, offset)).await?;
    export.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no emergency episode {id} on this node"),
        )
    })
}
