//! The triage, doctor and pharmacy desks' pages.
//!
//! - triage: the queue by department; emergency (YJ) visits held and marked until restored;
//!   call and restore.
//! - doctor: today's visits; prescribe from the drug catalog, searched by code, name or pinyin
//!   initials ([`super::drugs`]); during an episode, or while a new window's working set is
//!   still arriving, the page says plainly that history is not available.
//! - pharmacy: the queue; emergency prescriptions with the patient's name in red; printing
//!   allowed; dispensing refused with the reason until central has acknowledged them.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lifeline_core::desk::{NewPrescription, NewPrescriptionItem, PharmacyEntry, QueueEntry};
use lifeline_core::record::Visit;
use lifeline_core::status::Status;
use lifeline_core::{DeskRole, RecordId};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::banner::{Banner, banner};
use super::drugs::{DrugEntry, SEARCH_LIMIT, resolve, search};
use super::session::Staff;
use super::{ConsoleState, csrf_field, guard, only, page, problem};
use crate::api::{ApiError, blocking};
use crate::i18n::{Lang, money, t};

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/triage", get(triage))
        .route("/console/triage/{id}/{action}", post(triage_action))
        .route("/console/doctor", get(doctor))
        .route("/console/doctor/visits/{id}", get(doctor_visit))
        .route("/console/doctor/visits/{id}/prescribe", post(prescribe))
        .route("/console/doctor/drugs", get(drug_search))
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

async fn desk_page(
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

async fn queue(state: &ConsoleState) -> Result<Vec<QueueEntry>, ApiError> {
    let store = state.api.store.clone();
    blocking(move || store.triage_queue()).await
}

fn parse_id(raw: &str) -> Result<RecordId, ApiError> {
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

pub(super) async fn doctor(State(state): State<ConsoleState>, s: Staff) -> Response {
    if let Some(r) = only(&s, DeskRole::Doctor) {
        return r;
    }
    let l = s.lang;
    let entries = queue(&state).await;
    desk_page(&state, &s, "doctor-title", None, |b| {
        html! {
            (history_notice(l, b))
            @match &entries {
                Err(e) => (problem(l, e)),
                Ok(list) if list.is_empty() => p.empty { (t(l, "queue-empty")) },
                Ok(list) => table.list {
                    thead { tr {
                        th { (t(l, "slip-number")) } th { (t(l, "slip-patient")) }
                        th { (t(l, "reg-department")) } th { (t(l, "queue-status")) } th {}
                    } }
                    tbody {
                        @for (i, e) in list.iter().enumerate() {
                            tr {
                                td { (e.registration_no) }
                                td { (e.patient_name) " " (e.patient_age.as_ref().map(|a| a.text.clone()).unwrap_or_default()) }
                                td { (e.department) }
                                td { (status_text(l, e.status.name())) }
                                td { a href={ "/console/doctor/visits/" (e.visit) } autofocus[i == 0] { (t(l, "doctor-open")) } }
                            }
                        }
                    }
                },
            }
        }
    })
    .await
}

fn history_notice(l: Lang, b: &Banner) -> Markup {
    html! {
        @if b.episode.is_some() || b.isolated() {
            p.notice role="note" { (t(l, "doctor-no-history")) }
        } @else if b.arriving.is_some() {
            p.notice role="note" { (t(l, "doctor-history-arriving")) }
        }
    }
}

/// Every drug in force, from the console's drug list (built again when the catalog changes).
async fn drugs(state: &ConsoleState) -> Result<Arc<Vec<DrugEntry>>, ApiError> {
    let store = state.api.store.clone();
    let index = state.drugs.clone();
    blocking(move || index.entries(&store)).await
}

#[derive(Debug, Deserialize)]
pub(super) struct DrugQuery {
    #[serde(default)]
    q: String,
}

/// One answer of the drug search, as the visit page's list offers it.
#[derive(Debug, Serialize)]
pub(super) struct DrugHit {
    code: String,
    label: String,
}

/// `/console/doctor/drugs?q=`: the drugs answering a code, a name or pinyin initials, best
/// first, for the prescription lines' lists (`console.js`).
pub(super) async fn drug_search(
    State(state): State<ConsoleState>,
    s: Staff,
    Query(query): Query<DrugQuery>,
) -> Response {
    if let Some(r) = only(&s, DeskRole::Doctor) {
        return r;
    }
    let entries = match drugs(&state).await {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    let hits: Vec<DrugHit> = search(&entries, &query.q, SEARCH_LIMIT)
        .into_iter()
        .map(|d| DrugHit {
            code: d.code.clone(),
            label: format!("{} {} {}/{}", d.name_zh, d.spec, money(d.price), d.unit),
        })
        .collect();
    Json(hits).into_response()
}

async fn visit_page(
    state: &ConsoleState,
    s: &Staff,
    raw: &str,
    error: Option<ApiError>,
) -> Response {
    let l = s.lang;
    let id = match parse_id(raw) {
        Ok(id) => id,
        Err(e) => return desk_page(state, s, "doctor-title", Some(e), |_| html! {}).await,
    };
    let store = state.api.store.clone();
    let visit = blocking(move || store.get::<Visit>(id)).await;
    desk_page(state, s, "doctor-title", error, |b| {
        html! {
            (history_notice(l, b))
            @match &visit {
                Err(e) => (problem(l, e)),
                Ok(None) => p { (t(l, "error-not_found")) },
                Ok(Some(v)) => {
                    p { (t(l, "slip-number")) ": " strong { (v.registration_no) } " · " (v.department) }
                    form.card #rx-form method="post" action={ "/console/doctor/visits/" (v.header.id) "/prescribe" } {
                        (csrf_field(s))
                        p.hint { (t(l, "doctor-drug-hint")) }
                        @for i in 0..3 {
                            fieldset.rx-line {
                                legend { (t(l, "doctor-item")) " " (i + 1) }
                                label for={ "drug" (i) } { (t(l, "doctor-drug")) }
                                input id={ "drug" (i) } name={ "drug" (i) } type="text" list={ "drugs" (i) } data-drug-search autocomplete="off" required[i == 0] autofocus[i == 0];
                                datalist id={ "drugs" (i) } {}
                                label for={ "qty" (i) } { (t(l, "rx-quantity")) }
                                input id={ "qty" (i) } name={ "qty" (i) } type="number" min="1" value="1";
                                label for={ "dosage" (i) } { (t(l, "rx-dosage")) }
                                input id={ "dosage" (i) } name={ "dosage" (i) } type="text";
                            }
                        }
                        button type="submit" { (t(l, "doctor-prescribe")) }
                    }
                },
            }
        }
    })
    .await
}

pub(super) async fn doctor_visit(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
) -> Response {
    if let Some(r) = only(&s, DeskRole::Doctor) {
        return r;
    }
    visit_page(&state, &s, &raw, None).await
}

pub(super) async fn prescribe(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Response {
    let csrf = f.get("csrf").map(String::as_str).unwrap_or_default();
    if let Some(r) = guard(&s, csrf, DeskRole::Doctor) {
        return r;
    }
    let visit = match parse_id(&raw) {
        Ok(id) => id,
        Err(e) => return visit_page(&state, &s, &raw, Some(e)).await,
    };
    let catalog = match drugs(&state).await {
        Ok(c) => c,
        Err(e) => return visit_page(&state, &s, &raw, Some(e)).await,
    };
    let mut items = Vec::new();
    for i in 0..3 {
        let typed = f
            .get(&format!("drug{i}"))
            .map(|d| d.trim())
            .unwrap_or_default();
        if typed.is_empty() {
            continue;
        }
        // A code, a drug's name, or initials naming one drug; what names none is taken as a
        // code, which the core refuses as unknown.
        let code = match resolve(&catalog, typed) {
            Ok(found) => found.unwrap_or_else(|| typed.to_owned()),
            Err(several) => {
                let e = ApiError::bad_request(
                    &format!("items[{i}].drug_code"),
                    format!(
                        "{typed:?} names several drugs ({}); choose one from the list",
                        several.join(", ")
                    ),
                );
                return visit_page(&state, &s, &raw, Some(e)).await;
            }
        };
        let quantity = match f.get(&format!("qty{i}")).map(|q| q.trim().parse::<u32>()) {
            Some(Ok(q)) => q,
            _ => {
                let e = ApiError::bad_request(&format!("items[{i}].quantity"), "a whole number");
                return visit_page(&state, &s, &raw, Some(e)).await;
            }
        };
        let dosage = f.get(&format!("dosage{i}")).cloned().unwrap_or_default();
        items.push(NewPrescriptionItem {
            drug_code: code,
            quantity,
            dosage: dosage.trim().to_owned(),
        });
    }
    let new = NewPrescription {
        visit,
        items,
        payment: None,
        occurred_at: None,
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    match blocking(move || store.create_prescription(&op, new)).await {
        Ok(saved) => Redirect::to(&format!(
            "/console/print/prescription/{}",
            saved.value.header.id
        ))
        .into_response(),
        Err(e) => visit_page(&state, &s, &raw, Some(e)).await,
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
