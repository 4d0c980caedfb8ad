//! The triage and pharmacy desks' pages, and what the doctor's page ([`super::doctor`])
//! shares with them.
//!
//! - triage: the queue by department; emergency (YJ) visits held and marked until restored;
//!   call and restore.
//! - pharmacy: the queue; emergency prescriptions with the patient's name in red; printing
//!   allowed; dispensing refused with the reason until central has acknowledged them.

use std::collections::BTreeMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lifeline_core::desk::{PharmacyEntry, QueueEntry};
use lifeline_core::status::Status;
use lifeline_core::{DeskRole, RecordId};
use maud::{Markup, html};
use serde::Deserialize;

use super::banner::{Banner, banner};
use super::session::Staff;
use super::{ConsoleState, csrf_field, guard, only, page, problem};
use crate::api::{ApiError, blocking};
use crate::i18n::{Lang, t};

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/triage", get(triage))
        .route("/console/triage/{id}/{action}", post(triage_action))
        .route("/console/pharmacy", get(pharmacy))
        .route("/console/pharmacy/{id}/{action}", post(pharmacy_action))
}

/// A status as staff read it (`status-queued` ...).
pub(super) fn status_text(l: Lang, name: &str) -> String {
    crate::i18n::t(l, &format!("status-{name}"))
}

/// Every status name shown, for the catalog test.
#[cfg(test)]
pub fn status_names() -> Vec<&'static str> {
    use lifeline_core::status::{ChargeStatus, PrescriptionStatus, VisitStatus};
    let mut out: Vec<&'static str> = VisitStatus::ALL.iter().map(|s| s.name()).collect();
    out.extend(PrescriptionStatus::ALL.iter().map(|s| s.name()));
    out.extend(ChargeStatus::ALL.iter().map(|s| s.name()));
    out
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfOnly {
    csrf: String,
}

pub(super) async fn desk_page(
    state: &ConsoleState,
    s: &Staff,
    title_key: &str,
    error: Option<ApiError>,
    body: impl FnOnce(&Banner) -> Markup,
) -> Response {
    let l = s.lang;
    let banner = banner(state).await;
    let inner = body(&banner);
    let status = error.as_ref().map(|e| e.status);
    let markup = html! {
        @if let Some(e) = &error { (problem(l, e)) }
        (inner)
    };
    let html = page(l, Some(s), &banner, &t(l, title_key), markup);
    match status {
        Some(code) => (code, html).into_response(),
        None => html.into_response(),
    }
}

pub(super) async fn queue(state: &ConsoleState) -> Result<Vec<QueueEntry>, ApiError> {
    let store = state.api.store.clone();
    blocking(move || store.triage_queue()).await
}

pub(super) fn parse_id(raw: &str) -> Result<RecordId, ApiError> {
    raw.parse::<RecordId>()
        .map_err(|e| ApiError::bad_request("id", e.to_string()))
}

async fn triage_page(state: &ConsoleState, s: &Staff, error: Option<ApiError>) -> Response {
    let l = s.lang;
    let entries = queue(state).await;
    let depts = super::registration::departments(state).await;
    desk_page(state, s, "triage-title", error, |_| {
        let mut by_dept: BTreeMap<&str, Vec<&QueueEntry>> = BTreeMap::new();
        if let Ok(list) = &entries {
            for e in list {
                by_dept.entry(e.department.as_str()).or_default().push(e);
            }
        }
        let mut first = true;
        html! {
            @if let Err(e) = &entries { (problem(l, e)) }
            @if by_dept.is_empty() { p.empty { (t(l, "queue-empty")) } }
            @for (dept, list) in &by_dept {
                section.queue {
                    h2 { (super::print::department_name(&depts, l, dept)) " (" (list.len()) ")" }
                    table.list {
                        thead { tr {
                            th { (t(l, "slip-number")) } th { (t(l, "slip-patient")) }
                            th { (t(l, "queue-status")) } th { (t(l, "slip-time")) } th {}
                        } }
                        tbody {
                            @for e in list {
                                tr.held[e.status.name() == "paused"] data-visit=(e.visit) {
                                    td { (e.registration_no)
                                        @if e.emergency { " " span.yj-tag { (t(l, "emergency-mark")) } } }
                                    td { (e.patient_name) " " (e.patient_age.as_ref().map(|a| a.text.clone()).unwrap_or_default()) }
                                    td { (status_text(l, e.status.name()))
                                        @if e.status.name() == "paused" { " · " (t(l, "triage-held")) } }
                                    td { (super::clock_time(state, e.created_ms)) }
                                    td {
                                        @let action = match e.status.name() { "paused" => Some(("resume", "triage-restore")), "queued" => Some(("call", "triage-call")), _ => None };
                                        @if let Some((action, key)) = action {
                                            form.inline method="post" action={ "/console/triage/" (e.visit) "/" (action) } {
                                                (csrf_field(s))
                                                @let focus = std::mem::replace(&mut first, false);
                                                button type="submit" autofocus[focus] { (t(l, key)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
    .await
}

pub(super) async fn triage(State(state): State<ConsoleState>, s: Staff) -> Response {
    if let Some(r) = only(&s, DeskRole::Triage) {
        return r;
    }
    triage_page(&state, &s, None).await
}

pub(super) async fn triage_action(
    State(state): State<ConsoleState>,
    s: Staff,
    Path((raw, action)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(r) = guard(&s, &f.csrf, DeskRole::Triage) {
        return r;
    }
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(e) => return triage_page(&state, &s, Some(e)).await,
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    let done = match action.as_str() {
        "call" => blocking(move || store.call_visit(&op, id)).await,
        "resume" => blocking(move || store.resume_visit(&op, id)).await,
        _ => Err(ApiError::bad_request("action", "call or resume")),
    };
    match done {
        Ok(_) => Redirect::to("/console/triage").into_response(),
        Err(e) => triage_page(&state, &s, Some(e)).await,
    }
}

async fn pharmacy_page(state: &ConsoleState, s: &Staff, error: Option<ApiError>) -> Response {
    let l = s.lang;
    let store = state.api.store.clone();
    let entries: Result<Vec<PharmacyEntry>, ApiError> =
        blocking(move || store.pharmacy_queue()).await;
    desk_page(state, s, "pharmacy-title", error, |_| {
        html! {
            @match &entries {
                Err(e) => (problem(l, e)),
                Ok(list) if list.is_empty() => p.empty { (t(l, "queue-empty")) },
                Ok(list) => table.list {
                    thead { tr {
                        th { (t(l, "slip-patient")) } th { (t(l, "queue-status")) }
                        th { (t(l, "slip-time")) } th {}
                    } }
                    tbody {
                        @for (i, e) in list.iter().enumerate() {
                            tr.emergency[e.emergency] data-rx=(e.prescription) {
                                td {
                                    span.patient-name.red[e.emergency] { (e.patient_name) }
                                    " " (e.patient_age.as_ref().map(|a| a.text.clone()).unwrap_or_default())
                                    @if e.emergency { " " span.yj-tag { (t(l, "emergency-mark")) } }
                                }
                                td { (status_text(l, e.status.name()))
                                    @if e.on_hold { " · " (t(l, "pharmacy-on-hold")) } }
                                td { (super::clock_time(state, e.created_ms)) }
                                td {
                                    form.inline method="post" action={ "/console/pharmacy/" (e.prescription) "/print" } {
                                        (csrf_field(s))
                                        button type="submit" autofocus[i == 0] { (t(l, "pharmacy-print")) }
                                    }
                                    form.inline method="post" action={ "/console/pharmacy/" (e.prescription) "/dispense" } {
                                        (csrf_field(s))
                                        button type="submit" { (t(l, "pharmacy-dispense")) }
                                    }
                                }
                            }
                        }
                    }
                },
            }
        }
    })
    .await
}

pub(super) async fn pharmacy(State(state): State<ConsoleState>, s: Staff) -> Response {
    if let Some(r) = only(&s, DeskRole::Pharmacy) {
        return r;
    }
    pharmacy_page(&state, &s, None).await
}

pub(super) async fn pharmacy_action(
    State(state): State<ConsoleState>,
    s: Staff,
    Path((raw, action)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(r) = guard(&s, &f.csrf, DeskRole::Pharmacy) {
        return r;
    }
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(e) => return pharmacy_page(&state, &s, Some(e)).await,
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    let done = match action.as_str() {
        // Printing opens the dispense on hold; printing again only shows the page again.
        "print" => blocking(move || {
            let rx = store
                .get::<lifeline_core::record::Prescription>(id)?
                .ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::NOT_FOUND,
                        "not_found",
                        "no such prescription",
                    )
                })?;
            let printed = rx
                .status_log
                .current::<lifeline_core::status::PrescriptionStatus>()
                != Ok(lifeline_core::status::PrescriptionStatus::Issued);
            if !printed {
                store.print_prescription(&op, id)?;
            }
            Ok::<_, ApiError>(())
        })
        .await
        .map(|()| format!("/console/print/prescription/{id}")),
        "dispense" => blocking(move || store.dispense_prescription(&op, id))
            .await
            .map(|_| "/console/pharmacy".to_owned()),
        _ => Err(ApiError::bad_request("action", "print or dispense")),
    };
    match done {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => pharmacy_page(&state, &s, Some(e)).await,
    }
}
