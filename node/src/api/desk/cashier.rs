//! The cashier's own: the start of a shift (the invoice code and first number of the stock
//! in hand, checked against the cashier's range) and the daily summary by payment channel.
//!
//! - `GET /cashier/shift`: the cashier's range as it stands (to show before confirming);
//! - `POST /cashier/shift` with `{"code": "...", "first_number": N}`;
//! - `GET /reports/cashier?date=YYYY-MM-DD[&allow_incomplete=true]`: refused in emergency
//!   mode unless `allow_incomplete`, and then marked incomplete.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use lifeline_core::desk::{CashierRange, CashierSummary, ReportMode, ShiftStart};
use lifeline_core::{Date, DeskRole, RecordKind, RuleError};
use serde::Deserialize;

use super::views::{Answer, ok};
use crate::api::{ApiError, ApiState, Authed, Body, blocking};

pub(super) async fn cashier_range(
    State(s): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<Option<CashierRange>>, ApiError> {
    Ok(Json(blocking(move || s.store.cashier_range(&op)).await?))
}

pub(super) async fn start_shift(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(body): Body<ShiftStart>,
) -> Answer<CashierRange> {
    ok(blocking(move || s.store.start_shift(&op, body)).await?)
}

/// The query of `GET /reports/cashier`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashierQuery {
    pub date: Date,
    #[serde(default)]
    pub allow_incomplete: bool,
}

pub(super) async fn cashier_report(
    State(s): State<ApiState>,
    Authed(op): Authed,
    query: Result<Query<CashierQuery>, QueryRejection>,
) -> Result<Json<CashierSummary>, ApiError> {
    if !matches!(op.desk, DeskRole::Cashier | DeskRole::Admin) {
        return Err(RuleError::NotPermitted {
            desk: op.desk,
            action: "read the cashier summary",
            kind: RecordKind::Charge,
        }
        .into());
    }
    let Query(q) = query.map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text()).field("date")
    })?;
    let mode = if q.allow_incomplete {
        ReportMode::AllowIncomplete
    } else {
        ReportMode::Complete
    };
    Ok(Json(
        blocking(move || s.store.cashier_summary(q.date, mode)).await?,
    ))
}
