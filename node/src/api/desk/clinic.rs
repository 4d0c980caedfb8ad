//! Visits and triage, prescriptions and the pharmacy.

use axum::Json;
use axum::extract::State;
use lifeline_core::desk::{NewPrescription, NewVisit, PharmacyEntry, QueueEntry};
use lifeline_core::record::{Dispense, Prescription, Visit};

use super::views::{Answer, IdPath, Remote, Shown, created, ok, read_shown, with_status};
use crate::api::{ApiError, ApiState, Authed, Body, blocking};

pub(super) async fn register_visit(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewVisit>,
) -> Answer<Shown<Visit>> {
    created(with_status(
        blocking(move || s.store.register_visit(&op, new)).await?,
    ))
}

pub(super) async fn get_visit(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
    remote: Remote,
) -> Result<Json<Shown<Visit>>, ApiError> {
    Ok(Json(read_shown::<Visit>(&s, id, remote).await?))
}

macro_rules! visit_move {
    ($name:ident, $method:ident) => {
        pub(super) async fn $name(
            State(s): State<ApiState>,
            Authed(op): Authed,
            IdPath(id): IdPath,
        ) -> Answer<Shown<Visit>> {
            ok(with_status(
                blocking(move || s.store.$method(&op, id)).await?,
            ))
        }
    };
}
visit_move!(call_visit, call_visit);
visit_move!(resume_visit, resume_visit);
visit_move!(see_visit, see_visit);
visit_move!(cancel_visit, cancel_visit);

pub(super) async fn triage_queue(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<Vec<QueueEntry>>, ApiError> {
    Ok(Json(blocking(move || s.store.triage_queue()).await?))
}

pub(super) async fn create_prescription(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewPrescription>,
) -> Answer<Shown<Prescription>> {
    created(with_status(
        blocking(move || s.store.create_prescription(&op, new)).await?,
    ))
}

pub(super) async fn get_prescription(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
    remote: Remote,
) -> Result<Json<Shown<Prescription>>, ApiError> {
    Ok(Json(read_shown::<Prescription>(&s, id, remote).await?))
}

/// Printing answers with the dispense it opened (on hold), not the prescription.
pub(super) async fn print_prescription(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
) -> Answer<Shown<Dispense>> {
    created(with_status(
        blocking(move || s.store.print_prescription(&op, id)).await?,
    ))
}

pub(super) async fn dispense_prescription(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
) -> Answer<Shown<Prescription>> {
    ok(with_status(
        blocking(move || s.store.dispense_prescription(&op, id)).await?,
    ))
}

pub(super) async fn cancel_prescription(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
) -> Answer<Shown<Prescription>> {
    ok(with_status(
        blocking(move || s.store.cancel_prescription(&op, id)).await?,
    ))
}

pub(super) async fn pharmacy_queue(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<Vec<PharmacyEntry>>, ApiError> {
    Ok(Json(blocking(move || s.store.pharmacy_queue()).await?))
}
