//! Number ranges for the information department (desk role `admin`):
//!
//! - `POST /admin/ranges/lease` with `{"series", "holder", "size", "operator"?, "code"?,
//!   "start"?}`: on central or the standby, lease a range by hand to a node this lessor
//!   knows (for invoices, preset for a cashier and the invoice code of a paper stock). The
//!   lease is a record: it reaches the holder through the mesh, which takes it into its
//!   ledger and numbers from it;
//! - `GET /admin/ranges/report`: the range report; on central and the standby it covers
//!   every range of every node (from the lease records and the numbered records), on a
//!   window the ranges it holds (from its ledger).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use lifeline_core::desk::LeaseOrder;
use lifeline_core::numbers::{NumberRange, RangeReport, Series};
use lifeline_core::{NodeName, NodeRole, OperatorName};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, Authed, Body, Written, admin_only, blocking};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/ranges/lease", post(lease))
        .route("/admin/ranges/report", get(report))
}

/// What the other desks may not do here.
const RANGES: &str = "lease number ranges or read the range report";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    pub series: Series,
    pub holder: NodeName,
    pub size: u64,
    /// The cashier the range is preset for (invoices).
    #[serde(default)]
    pub operator: Option<OperatorName>,
    /// The invoice code of the stock (invoices).
    #[serde(default)]
    pub code: Option<String>,
    /// The first number, when a paper stock dictates it.
    #[serde(default)]
    pub start: Option<u64>,
}

async fn lease(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<LeaseRequest>,
) -> Result<Json<Written<NumberRange>>, ApiError> {
    admin_only(&op, RANGES)?;
    let known = state
        .runtime
        .peers()
        .iter()
        .any(|p| p.name == req.holder.as_str() && p.role == Some(NodeRole::Window));
    let store = state.store.clone();
    let holder = req.holder.clone();
    let leased_before =
        blocking(move || Ok::<_, ApiError>(store.leases()?.iter().any(|l| l.holder == holder)))
            .await?;
    if !known && !leased_before {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "{} is not a window this node knows (none of its peers is called so, and no \
                 range was ever leased to it): check the name; a window is known once it has \
                 connected",
                req.holder
            ),
        )
        .field("holder"));
    }
    let store = state.store.clone();
    let order = LeaseOrder {
        series: req.series,
        holder: req.holder,
        size: req.size,
        operator: req.operator,
        code: req.code,
        start: req.start,
    };
    let saved = blocking(move || store.lease_range_for(&op, order)).await?;
    Ok(Json(Written::from_saved(saved)))
}

async fn report(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<RangeReport>, ApiError> {
    admin_only(&op, RANGES)?;
    let store = state.store.clone();
    Ok(Json(
        blocking(move || match store.role() {
            NodeRole::Window => store.range_report(),
            NodeRole::Central | NodeRole::Standby => store.hospital_range_report(),
        })
        .await?,
    ))
}
