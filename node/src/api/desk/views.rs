//! What the desk handlers share: the path extractors that name the parameter at fault, records
//! shown with their current status, and the answers to writes and reads.

use axum::Json;
use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use lifeline_core::desk::Saved;
use lifeline_core::numbers::Series;
use lifeline_core::record::{Charge, Dispense, Invoice, Prescription, Visit};
use lifeline_core::status::{
    ChargeStatus, DispenseStatus, InvoiceStatus, PrescriptionStatus, Status, StatusLog, VisitStatus,
};
use lifeline_core::{Record, RecordId, RuleError};
use serde::Serialize;

use crate::api::{ApiError, ApiState, Written, blocking};
use crate::error::chain;

/// The `{id}` path parameter, parsed as a record id; anything else is a 422 naming `id`.
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub RecordId);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("id", e.body_text()))?;
        raw.parse::<RecordId>()
            .map(IdPath)
            .map_err(|e| ApiError::bad_request("id", chain(&e)))
    }
}

/// The `{series}` path parameter: `invoice` or `emergency_registration`.
#[derive(Debug, Clone, Copy)]
pub struct SeriesPath(pub Series);

impl<S: Send + Sync> FromRequestParts<S> for SeriesPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("series", e.body_text()))?;
        Series::parse(&raw).map(SeriesPath).ok_or_else(|| {
            ApiError::bad_request(
                "series",
                format!(
                    "{raw:?} is not a number series (expected one of: {})",
                    Series::ALL.map(Series::name).join(", ")
                ),
            )
        })
    }
}

/// A record with a workflow, shown with its current status.
#[derive(Debug, Serialize)]
pub struct Shown<T: Serialize> {
    #[serde(flatten)]
    pub record: T,
    /// The furthest state in `status_log`; null if the log holds no state this node knows.
    pub status: Option<&'static str>,
}

/// Records whose current status can be read off their status log.
pub trait Workflow: Serialize {
    fn status(&self) -> Option<&'static str>;
}

fn current<S: Status>(log: &StatusLog) -> Option<&'static str> {
    log.current::<S>().ok().map(S::name)
}

macro_rules! workflow {
    ($ty:ty, $status:ty) => {
        impl Workflow for $ty {
            fn status(&self) -> Option<&'static str> {
                current::<$status>(&self.status_log)
            }
        }
    };
}
workflow!(Visit, VisitStatus);
workflow!(Prescription, PrescriptionStatus);
workflow!(Charge, ChargeStatus);
workflow!(Invoice, InvoiceStatus);
workflow!(Dispense, DispenseStatus);

pub fn shown<T: Workflow>(record: T) -> Shown<T> {
    let status = record.status();
    Shown { record, status }
}

pub type Answer<T> = Result<(StatusCode, Json<Written<T>>), ApiError>;

pub fn created<T: Serialize>(saved: Saved<T>) -> Answer<T> {
    Ok((StatusCode::CREATED, Json(Written::from_saved(saved))))
}

pub fn ok<T: Serialize>(saved: Saved<T>) -> Answer<T> {
    Ok((StatusCode::OK, Json(Written::from_saved(saved))))
}

pub fn with_status<T: Workflow>(saved: Saved<T>) -> Saved<Shown<T>> {
    Saved {
        value: shown(saved.value),
        warnings: saved.warnings,
    }
}

/// Reads one record of a kind; a missing record, or one of another kind, is a 404.
pub async fn fetch<T: Record + Send + 'static>(
    state: &ApiState,
    id: RecordId,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    let found = blocking(move || match store.get::<T>(id) {
        Ok(found) => Ok(found),
        Err(lifeline_core::ReadError::WrongKind { .. }) => Ok(None),
        Err(e) => Err(ApiError::from(e)),
    })
    .await?;
    found.ok_or_else(|| ApiError::from(RuleError::NotFound { kind: T::KIND, id }))
}
