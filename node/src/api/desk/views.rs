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
    /// Set when a window no longer keeps the record and fetched it from this server on
    /// request (`?fetch=true`); it is shown, not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_from: Option<String>,
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
    Shown {
        record,
        status,
        fetched_from: None,
    }
}

/// `?fetch=true`: on a window, fetch a record it no longer keeps from a server. A query that
/// is not this is a 422 naming `fetch`.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    #[serde(default)]
    pub fetch: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<Remote>::from_request_parts(parts, state)
            .await
            .map(|q| q.0)
            .map_err(|e| ApiError::bad_request("fetch", e.body_text()))
    }
}

/// What a window answers for a record it does not hold, when not asked to fetch it.
fn not_held(kind: lifeline_core::RecordKind, id: RecordId, days: u32) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_held",
        format!(
            "{kind} {id} is not held on this window: a window keeps the last {days} days of \
             records (and every patient); ask again with ?fetch=true to fetch it from central"
        ),
    )
}

/// Reads one record with a workflow: from this node, or on a window that no longer keeps it
/// and is asked to (`remote.fetch`), from a server, without storing it.
pub async fn read_shown<T: Record + Workflow + Send + 'static>(
    state: &ApiState,
    id: RecordId,
    remote: Remote,
) -> Result<Shown<T>, ApiError> {
    if let Some(record) = held::<T>(state, id).await? {
        return Ok(shown(record));
    }
    // Only a record older than the window's working set can be one it no longer keeps.
    let keep_since = state
        .runtime
        .config
        .window_days()
        .map(|days| (days, state.store.now_ms() - i64::from(days) * 86_400_000));
    let Some((days, _)) = keep_since.filter(|(_, since)| id.created_ms() < *since) else {
        return Err(ApiError::from(RuleError::NotFound { kind: T::KIND, id }));
    };
    if !remote.fetch {
        return Err(not_held(T::KIND, id, days));
    }
    let fetcher = state.runtime.fetcher().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_connected",
            "the mesh is not running yet",
        )
    })?;
    let (server, answer) = fetcher
        .fetch(vec![id])
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_fetched", chain(&e)))?;
    let Some(doc) = answer.docs.into_iter().find(|d| d.id == id) else {
        return Err(ApiError::from(RuleError::NotFound { kind: T::KIND, id }));
    };
    let record = match lifeline_core::store::record_from_bytes::<T>(id, &doc.bytes, &doc.heads) {
        Ok(record) => record,
        Err(lifeline_core::ReadError::WrongKind { .. }) => {
            return Err(ApiError::from(RuleError::NotFound { kind: T::KIND, id }));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "not_fetched",
                format!("{server} sent it: {}", chain(&e)),
            ));
        }
    };
    let mut out = shown(record);
    out.fetched_from = Some(server.to_string());
    Ok(out)
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
    held::<T>(state, id)
        .await?
        .ok_or_else(|| ApiError::from(RuleError::NotFound { kind: T::KIND, id }))
}

/// One record of a kind held here; `None` when missing or of another kind.
async fn held<T: Record + Send + 'static>(
    state: &ApiState,
    id: RecordId,
) -> Result<Option<T>, ApiError> {
    let store = state.store.clone();
    blocking(move || match store.get::<T>(id) {
        Ok(found) => Ok(found),
        Err(lifeline_core::ReadError::WrongKind { .. }) => Ok(None),
        Err(e) => Err(ApiError::from(e)),
    })
    .await
}
