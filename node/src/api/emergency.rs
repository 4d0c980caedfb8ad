//! Emergency mode by hand, for the information department (desk role `admin`):
//!
//! - `POST /admin/emergency/start` with `{"reason": "...", "drill": false}`: declare an
//!   episode (or, with `"drill": true`, start a drill: the whole procedure on records marked
//!   as a drill);
//! - `POST /admin/emergency/stop`: end the episode (or drill) for the whole hospital;
//! - `POST /admin/emergency/estimate` with `{"hours": 4, "cause": "..."}`: the plan's
//!   30-minute assessment, the recovery time expected and the cause when known.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use lifeline_core::desk::{LeaveScope, Opening, Saved};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, Authed, Body, Written, admin_only, blocking};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/emergency/start", post(start))
        .route("/admin/emergency/stop", post(stop))
        .route("/admin/emergency/estimate", post(estimate))
}

/// What the other desks may not do here.
const EMERGENCY: &str = "declare, estimate or end emergency episodes";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartEmergency {
    pub reason: String,
    /// A drill rather than a real outage.
    #[serde(default)]
    pub drill: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    /// Hours until the system is expected back (1 to 720).
    pub hours: u32,
    /// The cause of the fault, once found.
    #[serde(default)]
    pub cause: Option<String>,
}

fn text(saved: Saved<lifeline_core::EpisodeId>) -> Written<String> {
    Written::from_saved(Saved {
        value: saved.value.to_string(),
        warnings: saved.warnings,
    })
}

async fn start(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<StartEmergency>,
) -> Result<Json<Written<String>>, ApiError> {
    admin_only(&op, EMERGENCY)?;
    let how = if req.drill {
        Opening::Drill
    } else {
        Opening::Declared
    };
    let store = state.store.clone();
    let saved = blocking(move || store.open_episode(&op, &req.reason, how)).await?;
    Ok(Json(text(saved)))
}

async fn stop(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<Written<Option<String>>>, ApiError> {
    admin_only(&op, EMERGENCY)?;
    let store = state.store.clone();
    let saved = blocking(move || store.leave_episode(&op, LeaveScope::HospitalWide)).await?;
    Ok(Json(Written::from_saved(Saved {
        value: saved.value.map(|e| e.to_string()),
        warnings: saved.warnings,
    })))
}

async fn estimate(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<EstimateRequest>,
) -> Result<Json<Written<String>>, ApiError> {
    admin_only(&op, EMERGENCY)?;
    let store = state.store.clone();
    let saved =
        blocking(move || store.estimate_recovery(&op, req.hours, req.cause.as_deref())).await?;
    Ok(Json(text(saved)))
}
