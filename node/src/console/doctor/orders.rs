//! The doctor's orders of service items (examinations, lab tests, treatments): chosen from
//! the service catalog's list ([`super::search`]) with quantities, and made one charge of the
//! visit, which the cashier's page shows to be settled. The charge is the core's
//! `create_charge`, as the JSON API's `POST /charges` makes it, priced by the core from the
//! catalog items; it asks for the payment the patient's insurance type asks for, as a
//! prescription's charge does. During an episode it is an emergency record like any other.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lifeline_core::desk::{NewCharge, NewChargeLine, default_payment};
use lifeline_core::record::{CatalogKind, Charge, ChargeLine, ChargeSource, Patient, Visit};
use lifeline_core::status::{ChargeStatus, Status};
use lifeline_core::store::ReadError;
use lifeline_core::{RecordId, Store};
use maud::{Markup, html};

use super::lines::{Lines, Unknown};
use super::{LINES, form_start, visit_page};
use crate::api::{ApiError, blocking};
use crate::console::clinic::status_text;
use crate::console::session::Staff;
use crate::console::{ConsoleState, csrf_field};
use crate::i18n::{Lang, money, t, ta};

/// The order form's lines: `svc{i}` and `svcqty{i}`, named in errors as `POST /charges`
/// names them. Only the list's items: the catalog also holds what a doctor does not order.
const ORDER: Lines = Lines {
    item: "svc",
    quantity: "svcqty",
    field: "lines",
    code: "code",
    unknown: Unknown::Refused,
};

/// The charges of `visit` made at a desk (the doctor's orders; the cashier's lines too),
/// oldest first. Reads the patient's records, as the cashier's page does.
pub(super) fn of_visit(store: &Store, visit: &Visit) -> Result<Vec<Charge>, ReadError> {
    let mut out = Vec::new();
    for id in store.ids_for_patient(visit.patient)? {
        // Only charges are wanted; the patient's other records read as another kind.
        if let Ok(Some(c)) = store.get::<Charge>(id)
            && c.visit == visit.header.id
            && c.source == ChargeSource::Desk
        {
            out.push(c);
        }
    }
    out.sort_by_key(|c| c.header.created_ms);
    Ok(out)
}

/// The items of charge lines as one cell reads them: `血常规 ×2、尿常规 ×1`.
pub fn lines_text(lines: &[ChargeLine]) -> String {
    lines
        .iter()
        .map(|line| format!("{} ×{}", line.name, line.quantity))
        .collect::<Vec<_>>()
        .join("、")
}

/// The order form of a visit's page.
pub(super) fn form(s: &Staff, v: &Visit) -> Markup {
    let l = s.lang;
    html! {
        form.card #order-form method="post" action={ "/console/doctor/visits/" (v.header.id) "/order" } {
            (csrf_field(s))
            h2 { (t(l, "doctor-orders")) }
            p.hint { (t(l, "doctor-service-hint")) }
            @for i in 0..LINES {
                fieldset.rx-line {
                    legend { (t(l, "doctor-service-item")) " " (i + 1) }
                    label for={ "svc" (i) } { (t(l, "doctor-service")) }
                    input id={ "svc" (i) } name={ "svc" (i) } type="text" list={ "services" (i) } data-search="/console/doctor/services" autocomplete="off" required[i == 0];
                    datalist id={ "services" (i) } {}
                    label for={ "svcqty" (i) } { (t(l, "rx-quantity")) }
                    input id={ "svcqty" (i) } name={ "svcqty" (i) } type="number" min="1" value="1";
                }
            }
            button type="submit" { (t(l, "doctor-order")) }
        }
    }
}

/// The confirmation of the order just made (`ordered`, its id), if it is among `orders`.
pub(super) fn confirmation(l: Lang, orders: &[Charge], ordered: Option<&str>) -> Markup {
    let id = ordered.and_then(|raw| raw.parse::<RecordId>().ok());
    let just = orders.iter().find(|c| Some(c.header.id) == id);
    html! {
        @if let Some(c) = just {
            p.done #ordered role="status" {
                (ta(l, "doctor-ordered", &[("items", &lines_text(&c.lines)), ("amount", &money(c.amount))]))
            }
        }
    }
}

/// The visit's orders, with their status at the cashier.
pub(super) fn listed(l: Lang, orders: &[Charge]) -> Markup {
    html! {
        @if !orders.is_empty() {
            section #orders {
                h2 { (t(l, "doctor-visit-orders")) }
                table.list {
                    thead { tr {
                        th { (t(l, "cashier-items")) } th { (t(l, "cashier-amount")) } th { (t(l, "queue-status")) }
                    } }
                    tbody {
                        @for c in orders {
                            tr data-charge=(c.header.id) {
                                td { (lines_text(&c.lines)) }
                                td { (money(c.amount)) }
                                td { (c.status_log.current::<ChargeStatus>().map(|st| status_text(l, st.name())).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /console/doctor/visits/{id}/order`: the chosen items as one charge of the visit;
/// back to the visit's page, which confirms it.
pub(super) async fn order(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Response {
    let (visit, catalog) = match form_start(&state, &s, &raw, &f, &state.services).await {
        Ok(started) => started,
        Err(page) => return page,
    };
    let lines: Vec<NewChargeLine> = match ORDER.read(&f, &catalog, LINES) {
        Ok(lines) => lines
            .into_iter()
            .map(|line| NewChargeLine {
                catalog: CatalogKind::Service,
                code: line.code,
                quantity: line.quantity,
            })
            .collect(),
        Err(e) => return visit_page(&state, &s, &raw, None, Some(e)).await,
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    let made = blocking(move || {
        let not_found = |what: &str| ApiError::new(StatusCode::NOT_FOUND, "not_found", what);
        let v = store
            .get::<Visit>(visit)?
            .ok_or_else(|| not_found("no such visit"))?;
        let patient = store
            .get::<Patient>(v.patient)?
            .ok_or_else(|| not_found("the visit's patient is missing"))?;
        let new = NewCharge {
            visit,
            lines,
            payment: default_payment(patient.insurance),
            occurred_at: None,
        };
        Ok::<_, ApiError>(store.create_charge(&op, new)?)
    })
    .await;
    match made {
        Ok(saved) => Redirect::to(&format!(
            "/console/doctor/visits/{visit}?ordered={}",
            saved.value.header.id
        ))
        .into_response(),
        Err(e) => visit_page(&state, &s, &raw, None, Some(e)).await,
    }
}
