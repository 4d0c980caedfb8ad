//! Printouts, each a page whose print style sheet lays it out on its paper: the registration
//! slip (80 mm roll), the prescription (A5; an emergency one marked 应急 with the patient's
//! name in red). The screen shows the same page with a print button (focused, so Enter
//! prints) and the banner; neither is printed.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lifeline_core::record::{Patient, Prescription, Visit};
use lifeline_core::{Record, RecordId, Store};
use maud::{Markup, html};

use super::banner::banner;
use super::session::Staff;
use super::{ConsoleState, desk_path, page, problem};
use crate::api::{ApiError, blocking};
use crate::i18n::{Lang, money, t};

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/print/slip/{id}", get(slip))
        .route("/console/print/prescription/{id}", get(prescription))
}

/// A record and its patient, read on the blocking pool.
pub(super) async fn with_patient<T: Record + Send + 'static>(
    state: &ConsoleState,
    raw: &str,
    patient_of: fn(&T) -> RecordId,
) -> Result<(T, Patient), ApiError> {
    let id = raw
        .parse::<RecordId>()
        .map_err(|e| ApiError::bad_request("id", e.to_string()))?;
    let store: Store = state.api.store.clone();
    blocking(move || {
        let record = store.get::<T>(id)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no record {id}"),
            )
        })?;
        let patient = store.get::<Patient>(patient_of(&record))?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "the record's patient is missing",
            )
        })?;
        Ok::<_, ApiError>((record, patient))
    })
    .await
}

/// The page around a printout: the print button and the way back, not printed.
pub(super) async fn printout(
    state: &ConsoleState,
    s: &Staff,
    title: &str,
    paper: Markup,
) -> Response {
    let l = s.lang;
    let banner = banner(state).await;
    let body = html! {
        div.print-actions.no-print {
            button #print type="button" data-print="1" autofocus { (t(l, "print")) }
            a href=(desk_path(s.op.desk)) { (t(l, "back-to-desk")) }
        }
        (paper)
    };
    page(l, Some(s), &banner, title, body).into_response()
}

pub(super) async fn failed(state: &ConsoleState, s: &Staff, e: ApiError) -> Response {
    let l = s.lang;
    let banner = banner(state).await;
    (
        e.status,
        page(l, Some(s), &banner, &t(l, "refused-title"), problem(l, &e)),
    )
        .into_response()
}

pub(super) fn department_name(
    depts: &[(String, lifeline_core::record::Department)],
    l: Lang,
    code: &str,
) -> String {
    depts
        .iter()
        .find(|(c, _)| c == code)
        .map(|(_, d)| match l {
            Lang::Zh => d.name_zh.clone(),
            Lang::En => d.name_en.clone(),
        })
        .unwrap_or_else(|| code.to_owned())
}

pub(super) async fn slip(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
) -> Response {
    let l = s.lang;
    let (visit, patient) = match with_patient::<Visit>(&state, &raw, |v| v.patient).await {
        Ok(found) => found,
        Err(e) => return failed(&state, &s, e).await,
    };
    let depts = super::registration::departments(&state).await;
    let emergency = visit.registration_no.starts_with("YJ");
    let age = state
        .api
        .store
        .age_today(patient.birth_date)
        .map(|a| a.text)
        .unwrap_or_default();
    let paper = html! {
        article.paper.slip {
            header {
                h2 { (t(l, "slip-title")) }
                @if emergency { div.yj { (t(l, "emergency-mark")) } }
            }
            div.regno {
                span.label { (t(l, "slip-number")) }
                strong #regno { (visit.registration_no) }
            }
            dl {
                dt { (t(l, "slip-patient")) } dd { (patient.name) " " (age) }
                dt { (t(l, "reg-number")) } dd { (patient.patient_no) }
                dt { (t(l, "reg-department")) } dd { (department_name(&depts, l, &visit.department)) }
                dt { (t(l, "slip-fee")) } dd { (money(visit.fee)) }
                dt { (t(l, "slip-time")) } dd { (super::local_time(&state, visit.header.created_ms)) }
                dt { (t(l, "slip-operator")) } dd { (visit.header.operator.as_str()) }
            }
            @if emergency { p.note { (t(l, "slip-emergency-note")) } }
        }
    };
    printout(&state, &s, &t(l, "slip-title"), paper).await
}

pub(super) async fn prescription(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
) -> Response {
    let l = s.lang;
    let (rx, patient) = match with_patient::<Prescription>(&state, &raw, |p| p.patient).await {
        Ok(found) => found,
        Err(e) => return failed(&state, &s, e).await,
    };
    let emergency = rx.header.episode.is_some();
    let age = state
        .api
        .store
        .age_today(patient.birth_date)
        .map(|a| a.text)
        .unwrap_or_default();
    let total = rx.items.iter().fold(0i64, |sum, i| {
        sum.saturating_add(i.unit_price.0.saturating_mul(i64::from(i.quantity)))
    });
    let paper = html! {
        article.paper.rx.emergency[emergency] {
            header {
                h2 { (t(l, "rx-title")) }
                @if emergency { div.yj #yj { (t(l, "emergency-mark")) } }
            }
            dl {
                dt { (t(l, "slip-patient")) }
                dd { span.patient-name.red[emergency] #rx-patient { (patient.name) } " " (age) }
                dt { (t(l, "reg-number")) } dd { (patient.patient_no) }
                dt { (t(l, "slip-time")) } dd { (super::local_time(&state, rx.header.created_ms)) }
                dt { (t(l, "rx-doctor")) } dd { (rx.header.operator.as_str()) }
            }
            table.items {
                thead { tr {
                    th { "Rp." } th { (t(l, "rx-quantity")) } th { (t(l, "rx-dosage")) } th { (t(l, "rx-price")) }
                } }
                tbody {
                    @for i in &rx.items {
                        tr {
                            td { (i.drug_name) }
                            td { (i.quantity) }
                            td { (i.dosage) }
                            td { (money(i.unit_price)) }
                        }
                    }
                }
                tfoot { tr { td colspan="3" { (t(l, "rx-total")) } td { (money(lifeline_core::Fen(total))) } } }
            }
            @if emergency { p.note { (t(l, "rx-emergency-note")) } }
            footer { span { (t(l, "rx-signature")) } }
        }
    };
    printout(&state, &s, &t(l, "rx-title"), paper).await
}
