//! The drug and service catalogs, as replicated from central.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lifeline_core::desk::{DrugList, ServiceList};

use crate::api::{ApiError, ApiState, Authed, blocking};

fn missing(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "catalog_missing",
        format!(
            "the {name} catalog has not reached this node yet; it comes from central by replication"
        ),
    )
}

pub(super) async fn drug_catalog(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<DrugList>, ApiError> {
    let store = s.store.clone();
    let found = blocking(move || store.drug_list()).await?;
    Ok(Json(found.ok_or_else(|| missing("drug"))?))
}

pub(super) async fn service_catalog(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<ServiceList>, ApiError> {
    let store = s.store.clone();
    let found = blocking(move || store.service_list()).await?;
    Ok(Json(found.ok_or_else(|| missing("service"))?))
}
