//! The drug and service catalogs, as replicated from central.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lifeline_core::Record;
use lifeline_core::record::{CatalogKind, DrugCatalog, ServiceCatalog, catalog_id};

use crate::api::{ApiError, ApiState, Authed, blocking};

pub(super) async fn catalog<T: Record + Send + 'static>(
    s: &ApiState,
    kind: CatalogKind,
    name: &str,
) -> Result<T, ApiError> {
    let store = s.store.clone();
    let found = blocking(move || store.get::<T>(catalog_id(kind))).await?;
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "catalog_missing",
            format!(
                "the {name} catalog has not reached this node yet; it comes from central by replication"
            ),
        )
    })
}

pub(super) async fn drug_catalog(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<DrugCatalog>, ApiError> {
    Ok(Json(catalog(&s, CatalogKind::Drug, "drug").await?))
}

pub(super) async fn service_catalog(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<ServiceCatalog>, ApiError> {
    Ok(Json(catalog(&s, CatalogKind::Service, "service").await?))
}
