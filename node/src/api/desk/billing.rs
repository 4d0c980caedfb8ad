//! Charges and their settlement by channel, refunds and re-settlements, invoices, and
//! voiding spoilt numbers.

use axum::Json;
use axum::extract::State;
use lifeline_core::desk::{NewCharge, NewRefund, Resettled, Saved, SettleRequest};
use lifeline_core::numbers::Series;
use lifeline_core::record::{Charge, Invoice, PaymentPart, Refund};
use lifeline_core::{RecordId, RecordKind, RuleError};
use serde::{Deserialize, Serialize};

use super::views::{
    Answer, IdPath, Remote, SeriesPath, Shown, created, fetch, ok, read_shown, with_status,
};
use crate::api::{ApiError, ApiState, Authed, Body, blocking};

/// `POST /charges/{id}/resettle`: what the insurance pays now, by channel (by default the
/// whole amount from the insurance fund).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResettleBody {
    #[serde(default)]
    pub parts: Option<Vec<PaymentPart>>,
}

/// `POST /invoices`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceBody {
    pub charges: Vec<RecordId>,
}

/// `POST /invoices/{id}/void` and `POST /numbers/{series}/void-next`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    pub reason: String,
}

/// The answer to `POST /numbers/{series}/void-next`.
#[derive(Debug, Clone, Serialize)]
pub struct VoidedNumber {
    pub series: Series,
    pub number: u64,
    pub reason: String,
}

pub(super) async fn create_charge(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewCharge>,
) -> Answer<Shown<Charge>> {
    created(with_status(
        blocking(move || s.store.create_charge(&op, new)).await?,
    ))
}

pub(super) async fn get_charge(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
    remote: Remote,
) -> Result<Json<Shown<Charge>>, ApiError> {
    Ok(Json(read_shown::<Charge>(&s, id, remote).await?))
}

pub(super) async fn settle_charge(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
    Body(body): Body<SettleRequest>,
) -> Answer<Shown<Charge>> {
    ok(with_status(
        blocking(move || s.store.settle_charge_with(&op, id, body)).await?,
    ))
}

/// Answers with the charge (its payment as it was), the re-settlement and its invoice.
pub(super) async fn resettle_charge(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
    Body(body): Body<ResettleBody>,
) -> Answer<Resettled> {
    created(blocking(move || s.store.resettle_charge_with(&op, id, body.parts)).await?)
}

pub(super) async fn refund_charge(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
    Body(body): Body<NewRefund>,
) -> Answer<Refund> {
    created(blocking(move || s.store.refund_charge(&op, id, body)).await?)
}

pub(super) async fn get_refund(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
) -> Result<Json<Refund>, ApiError> {
    Ok(Json(fetch::<Refund>(&s, id).await?))
}

pub(super) async fn issue_invoice(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(body): Body<InvoiceBody>,
) -> Answer<Shown<Invoice>> {
    created(with_status(
        blocking(move || s.store.issue_invoice(&op, body.charges)).await?,
    ))
}

pub(super) async fn get_invoice(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
    remote: Remote,
) -> Result<Json<Shown<Invoice>>, ApiError> {
    Ok(Json(read_shown::<Invoice>(&s, id, remote).await?))
}

pub(super) async fn void_invoice(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
    Body(body): Body<ReasonBody>,
) -> Answer<Shown<Invoice>> {
    ok(with_status(
        blocking(move || s.store.void_invoice(&op, id, &body.reason)).await?,
    ))
}

/// The record kind whose desk hands out a series' numbers, and so may spoil them.
fn series_kind(series: Series) -> RecordKind {
    match series {
        Series::Invoice => RecordKind::Invoice,
        Series::EmergencyRegistration => RecordKind::Visit,
    }
}

pub(super) async fn void_next_number(
    State(s): State<ApiState>,
    Authed(op): Authed,
    SeriesPath(series): SeriesPath,
    Body(body): Body<ReasonBody>,
) -> Answer<VoidedNumber> {
    // The store does not check a desk for voids; the desk that prints the numbers may.
    let kind = series_kind(series);
    if !op.desk.may_write(kind) {
        return Err(RuleError::NotPermitted {
            desk: op.desk,
            action: "void numbers of this series",
            kind,
        }
        .into());
    }
    let reason = body.reason;
    let saved = blocking(move || {
        s.store
            .void_next_number(&op, series, &reason)
            .map(|saved| Saved {
                value: VoidedNumber {
                    series,
                    number: saved.value,
                    reason,
                },
                warnings: saved.warnings,
            })
    })
    .await?;
    ok(saved)
}
