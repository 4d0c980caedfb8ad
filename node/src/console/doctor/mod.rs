//! The doctor's page: today's visits; on a visit, prescribe from the drug catalog and order
//! service items (examinations, lab tests, treatments) from the service catalog, both searched
//! by code, name or pinyin initials ([`search`], over the lists [`lists`] keeps). A
//! prescription charges its drugs; an order is a charge of the visit that the cashier settles
//! ([`orders`]). During an episode, or while a new window's working set is still arriving, the
//! page says plainly that history is not available; the orders of the visit being seen are
//! shown all the same.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lifeline_core::desk::{NewPrescription, NewPrescriptionItem};
use lifeline_core::record::Visit;
use lifeline_core::status::Status;
use lifeline_core::{DeskRole, RecordId};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, blocking};
use crate::console::banner::Banner;
use crate::console::clinic::{desk_page, parse_id, queue, status_text};
use crate::console::session::Staff;
use crate::console::{ConsoleState, csrf_field, guard, only, problem};
use crate::i18n::{Lang, t};
use lines::{Lines, Unknown};
use lists::CatalogIndex;
use search::{Entry, SEARCH_LIMIT, search};

mod lines;
pub mod lists;
mod orders;
pub mod search;

pub use orders::lines_text;

/// Lines of each form on a visit's page.
const LINES: usize = 3;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/doctor", get(doctor))
        .route("/console/doctor/visits/{id}", get(doctor_visit))
        .route("/console/doctor/visits/{id}/prescribe", post(prescribe))
        .route("/console/doctor/visits/{id}/order", post(orders::order))
        .route("/console/doctor/drugs", get(drug_search))
        .route("/console/doctor/services", get(service_search))
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

/// Every item of a console list (built again when the catalog changes).
/// What both of the doctor's forms (prescribe, order) begin with: the desk and its CSRF
/// token, the visit's id and the catalog the form chooses from; or the page to answer with.
pub(super) async fn form_start(
    state: &ConsoleState,
    s: &Staff,
    raw: &str,
    f: &BTreeMap<String, String>,
    index: &Arc<CatalogIndex>,
) -> Result<(RecordId, Arc<Vec<Entry>>), Response> {
    let csrf = f.get("csrf").map(String::as_str).unwrap_or_default();
    if let Some(r) = guard(s, csrf, DeskRole::Doctor) {
        return Err(r);
    }
    let visit = match parse_id(raw) {
        Ok(id) => id,
        Err(e) => return Err(visit_page(state, s, raw, None, Some(e)).await),
    };
    match entries(state, index).await {
        Ok(catalog) => Ok((visit, catalog)),
        Err(e) => Err(visit_page(state, s, raw, None, Some(e)).await),
    }
}

pub(super) async fn entries(
    state: &ConsoleState,
    index: &Arc<CatalogIndex>,
) -> Result<Arc<Vec<Entry>>, ApiError> {
    let store = state.api.store.clone();
    let index = index.clone();
    blocking(move || index.entries(&store)).await
}

#[derive(Debug, Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// One answer of a search, as the visit page's lists offer it.
#[derive(Debug, Serialize)]
pub(super) struct Hit {
    code: String,
    label: String,
}

/// The items of `index` answering `q`, best first, for the lines' lists (`console.js`).
async fn answer(state: &ConsoleState, s: &Staff, index: &Arc<CatalogIndex>, q: &str) -> Response {
    if let Some(r) = only(s, DeskRole::Doctor) {
        return r;
    }
    let entries = match entries(state, index).await {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    let hits: Vec<Hit> = search(&entries, q, SEARCH_LIMIT)
        .into_iter()
        .map(|e| Hit {
            code: e.code.clone(),
            label: e.label(),
        })
        .collect();
    Json(hits).into_response()
}

/// `/console/doctor/drugs?q=`: the drugs answering a code, a name or pinyin initials.
pub(super) async fn drug_search(
    State(state): State<ConsoleState>,
    s: Staff,
    Query(query): Query<SearchQuery>,
) -> Response {
    answer(&state, &s, &state.drugs, &query.q).await
}

/// `/console/doctor/services?q=`: the service items a doctor orders answering a code, a name
/// or pinyin initials.
pub(super) async fn service_search(
    State(state): State<ConsoleState>,
    s: Staff,
    Query(query): Query<SearchQuery>,
) -> Response {
    answer(&state, &s, &state.services, &query.q).await
}

/// What a visit's page was reached with: the charge just ordered, to confirm it.
#[derive(Debug, Default, Deserialize)]
pub(super) struct VisitQuery {
    #[serde(default)]
    ordered: Option<String>,
}

async fn visit_page(
    state: &ConsoleState,
    s: &Staff,
    raw: &str,
    ordered: Option<&str>,
    error: Option<ApiError>,
) -> Response {
    let l = s.lang;
    let id = match parse_id(raw) {
        Ok(id) => id,
        Err(e) => return desk_page(state, s, "doctor-title", Some(e), |_| html! {}).await,
    };
    let store = state.api.store.clone();
    let found = blocking(move || {
        let Some(visit) = store.get::<Visit>(id)? else {
            return Ok::<_, ApiError>(None);
        };
        let orders = orders::of_visit(&store, &visit)?;
        Ok(Some((visit, orders)))
    })
    .await;
    desk_page(state, s, "doctor-title", error, |b| {
        html! {
            (history_notice(l, b))
            @match &found {
                Err(e) => (problem(l, e)),
                Ok(None) => p { (t(l, "error-not_found")) },
                Ok(Some((v, listed))) => {
                    p { (t(l, "slip-number")) ": " strong { (v.registration_no) } " · " (v.department) }
                    (orders::confirmation(l, listed, ordered))
                    (prescription_form(s, v))
                    (orders::form(s, v))
                    (orders::listed(l, listed))
                },
            }
        }
    })
    .await
}

fn prescription_form(s: &Staff, v: &Visit) -> Markup {
    let l = s.lang;
    html! {
        form.card #rx-form method="post" action={ "/console/doctor/visits/" (v.header.id) "/prescribe" } {
            (csrf_field(s))
            h2 { (t(l, "doctor-prescription")) }
            p.hint { (t(l, "doctor-drug-hint")) }
            @for i in 0..LINES {
                fieldset.rx-line {
                    legend { (t(l, "doctor-item")) " " (i + 1) }
                    label for={ "drug" (i) } { (t(l, "doctor-drug")) }
                    input id={ "drug" (i) } name={ "drug" (i) } type="text" list={ "drugs" (i) } data-search="/console/doctor/drugs" autocomplete="off" required[i == 0] autofocus[i == 0];
                    datalist id={ "drugs" (i) } {}
                    label for={ "qty" (i) } { (t(l, "rx-quantity")) }
                    input id={ "qty" (i) } name={ "qty" (i) } type="number" min="1" value="1";
                    label for={ "dosage" (i) } { (t(l, "rx-dosage")) }
                    input id={ "dosage" (i) } name={ "dosage" (i) } type="text";
                }
            }
            button type="submit" { (t(l, "doctor-prescribe")) }
        }
    }
}

pub(super) async fn doctor_visit(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
    Query(shown): Query<VisitQuery>,
) -> Response {
    if let Some(r) = only(&s, DeskRole::Doctor) {
        return r;
    }
    visit_page(&state, &s, &raw, shown.ordered.as_deref(), None).await
}

pub(super) async fn prescribe(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Response {
    let (visit, catalog) = match form_start(&state, &s, &raw, &f, &state.drugs).await {
        Ok(started) => started,
        Err(page) => return page,
    };
    // A drug that names nothing in the list is taken as a code, which the core refuses as
    // unknown with its own message.
    let form = Lines {
        item: "drug",
        quantity: "qty",
        field: "items",
        code: "drug_code",
        unknown: Unknown::AsCode,
    };
    let lines = match form.read(&f, &catalog, LINES) {
        Ok(lines) => lines,
        Err(e) => return visit_page(&state, &s, &raw, None, Some(e)).await,
    };
    let items = lines
        .into_iter()
        .map(|line| NewPrescriptionItem {
            drug_code: line.code,
            quantity: line.quantity,
            dosage: f
                .get(&format!("dosage{}", line.index))
                .map(|d| d.trim().to_owned())
                .unwrap_or_default(),
        })
        .collect();
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
        Err(e) => visit_page(&state, &s, &raw, None, Some(e)).await,
    }
}
