//! The cashier's printouts: the receipt (80 mm; a charge paid as self-pay after an insurance
//! failure says when to re-settle), the invoice (A5), and the re-settlement notice (80 mm), a
//! slip of its own the patient keeps: who, which visit, what was paid as self-pay, the
//! insurance type, by when and where to have the insurance settle it. The plan's rule: "财务
//! 结算部门在故障排除后7个工作日内凭原手工收据，为医保病人重新划卡结算".

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use lifeline_core::record::{Charge, Invoice, Patient, Visit};
use lifeline_core::status::ChargeStatus;
use lifeline_core::{Date, RecordId};
use maud::html;

use super::cashier::channel_text;
use super::doctor::lines_text;
use super::print::{department_name, failed, printout, with_patient};
use super::registration::insurance_text;
use super::session::Staff;
use super::{ConsoleState, local_time};
use crate::api::{ApiError, blocking};
use crate::i18n::{Lang, money, t, ta};

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/print/receipt/{id}", get(receipt))
        .route("/console/print/invoice/{id}", get(invoice_print))
        .route("/console/print/resettle/{id}", get(resettle_notice))
}

/// The due date as staff read it: the date, or "within 7 working days of the system's
/// recovery" while the episode it was settled in goes on.
fn due_text(l: Lang, due: Option<Date>) -> String {
    match due {
        Some(date) => date.to_string(),
        None => t(l, "receipt-due-after-episode"),
    }
}

fn parse_id(raw: &str) -> Result<RecordId, ApiError> {
    raw.parse::<RecordId>()
        .map_err(|e| ApiError::bad_request("id", e.to_string()))
}

pub(super) async fn receipt(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
) -> Response {
    let l = s.lang;
    let (charge, patient) = match with_patient::<Charge>(&state, &raw, |c| c.patient).await {
        Ok(found) => found,
        Err(e) => return failed(&state, &s, e).await,
    };
    // The section stays on a receipt printed again after the re-settlement, as on the first;
    // the link to the notice only while it is owed.
    let owes = charge.awaits_resettlement();
    let due = if charge.resettle_due.is_some() || charge.resettle_after.is_some() {
        let store = state.api.store.clone();
        let c = charge.clone();
        match blocking(move || store.resettle_due_date(&c)).await {
            Ok(due) => Some(due_text(l, due)),
            Err(e) => return failed(&state, &s, e).await,
        }
    } else {
        None
    };
    let paper = html! {
        @if owes {
            p.no-print {
                a #resettle-link href={ "/console/print/resettle/" (charge.header.id) } { (t(l, "cashier-resettle-notice")) }
            }
        }
        article.paper.slip.receipt {
            header { h2 { (t(l, "receipt-title")) } @if charge.header.episode.is_some() { div.yj { (t(l, "emergency-mark")) } } }
            dl {
                dt { (t(l, "slip-patient")) } dd { (patient.name) " " (patient.patient_no) }
                dt { (t(l, "slip-time")) } dd { (local_time(&state, charge.header.created_ms)) }
                @for line in &charge.lines {
                    dt { (line.name) " ×" (line.quantity) } dd { (money(line.amount)) }
                }
                dt { (t(l, "rx-total")) } dd #receipt-total { strong { (money(charge.amount)) } }
                @for p in &charge.payments {
                    dt { (channel_text(l, p.channel)) } dd { (money(p.amount)) }
                }
                dt { (t(l, "slip-operator")) } dd { (charge.header.operator.as_str()) }
            }
            @if let Some(due) = &due {
                section.notice #resettle-notice {
                    strong { (t(l, "resettle-title")) }
                    p { (ta(l, "resettle-text", &[("due", due)])) }
                }
            }
        }
    };
    printout(&state, &s, &t(l, "receipt-title"), paper).await
}

/// What the re-settlement notice prints: the charge, its patient and visit, and its due date.
struct Owed {
    charge: Charge,
    patient: Patient,
    visit: Option<Visit>,
    due: Option<Date>,
}

async fn owed(state: &ConsoleState, raw: &str) -> Result<Owed, ApiError> {
    let id = parse_id(raw)?;
    let store = state.api.store.clone();
    blocking(move || {
        let missing = |what: String| ApiError::new(StatusCode::NOT_FOUND, "not_found", what);
        let charge = store
            .get::<Charge>(id)?
            .ok_or_else(|| missing(format!("no charge {id}")))?;
        if !charge.awaits_resettlement() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "refused",
                format!(
                    "charge {id} owes no insurance re-settlement (its insurance settlement did \
                     not fail, or it has been re-settled or refunded)"
                ),
            ));
        }
        let patient = store
            .get::<Patient>(charge.patient)?
            .ok_or_else(|| missing("the charge's patient is missing".to_owned()))?;
        // A visit not on this node yet leaves its lines blank: the notice is still printed.
        let visit = store.get::<Visit>(charge.visit)?;
        let due = store.resettle_due_date(&charge)?;
        Ok(Owed {
            charge,
            patient,
            visit,
            due,
        })
    })
    .await
}

/// `/console/print/resettle/{charge}`: the re-settlement notice of a charge paid as self-pay
/// when the insurance settlement failed; refused for any other charge.
pub(super) async fn resettle_notice(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
) -> Response {
    let l = s.lang;
    let o = match owed(&state, &raw).await {
        Ok(o) => o,
        Err(e) => return failed(&state, &s, e).await,
    };
    let depts = super::registration::departments(&state).await;
    let due = due_text(l, o.due);
    let settled = o.charge.status_log.reached(ChargeStatus::Settled);
    let place = t(l, "notice-place-text");
    let paper = html! {
        article.paper.slip.resettle {
            header {
                h2 { (t(l, "notice-title")) }
                @if o.charge.header.episode.is_some() { div.yj { (t(l, "emergency-mark")) } }
            }
            dl {
                dt { (t(l, "slip-patient")) } dd #notice-patient { (o.patient.name) }
                dt { (t(l, "reg-number")) } dd { (o.patient.patient_no) }
                dt { (t(l, "reg-insurance")) } dd #notice-insurance { (insurance_text(l, o.patient.insurance)) }
                @if let Some(v) = &o.visit {
                    dt { (t(l, "slip-number")) } dd { (v.registration_no) }
                    dt { (t(l, "reg-department")) } dd { (department_name(&depts, l, &v.department)) }
                    dt { (t(l, "notice-visit-date")) } dd { (local_date(&state, v.header.created_ms)) }
                }
                dt { (t(l, "cashier-items")) } dd { (lines_text(&o.charge.lines)) }
                dt { (t(l, "notice-self-paid")) } dd #notice-amount { strong { (money(o.charge.amount)) } }
                @for p in &o.charge.payments {
                    dt { (channel_text(l, p.channel)) } dd { (money(p.amount)) }
                }
                @if let Some(stamp) = settled {
                    dt { (t(l, "notice-settled-at")) } dd { (local_time(&state, stamp.at_ms)) }
                    dt { (t(l, "slip-operator")) } dd { (stamp.operator.as_str()) }
                }
                dt { (t(l, "notice-due")) } dd #notice-due { strong { (due) } }
                dt { (t(l, "notice-place")) } dd { (place) }
            }
            p.notice { (ta(l, "notice-text", &[("place", &place)])) }
        }
    };
    printout(&state, &s, &t(l, "notice-title"), paper).await
}

/// The hospital's date of a moment, `YYYY-MM-DD`.
fn local_date(state: &ConsoleState, ms: i64) -> String {
    super::offset(state).date(ms).to_string()
}

pub(super) async fn invoice_print(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
) -> Response {
    let l = s.lang;
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(e) => return failed(&state, &s, e).await,
    };
    let store = state.api.store.clone();
    let found = blocking(move || {
        let inv = store
            .get::<Invoice>(id)?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such invoice"))?;
        let mut charges = Vec::new();
        for c in &inv.charges {
            if let Some(c) = store.get::<Charge>(*c)? {
                charges.push(c);
            }
        }
        let patient = match charges.first() {
            Some(c) => store.get::<Patient>(c.patient)?,
            None => None,
        };
        Ok::<_, ApiError>((inv, charges, patient))
    })
    .await;
    let (inv, charges, patient) = match found {
        Ok(f) => f,
        Err(e) => return failed(&state, &s, e).await,
    };
    let paper = html! {
        article.paper.invoice {
            header { h2 { (t(l, "invoice-title")) } }
            dl {
                dt { (t(l, "invoice-code")) } dd { (inv.code.clone().unwrap_or_default()) }
                dt { (t(l, "invoice-number")) } dd #invoice-number { strong { (inv.number) } }
                dt { (t(l, "slip-patient")) } dd { (patient.as_ref().map(|p| p.name.clone()).unwrap_or_default()) }
                dt { (t(l, "slip-time")) } dd { (local_time(&state, inv.header.created_ms)) }
            }
            table.items {
                tbody {
                    @for c in &charges { @for line in &c.lines {
                        tr { td { (line.name) } td { (line.quantity) } td { (money(line.amount)) } }
                    } }
                }
                tfoot { tr { td colspan="2" { (t(l, "rx-total")) } td { strong { (money(inv.total)) } } } }
            }
            footer { (t(l, "slip-operator")) ": " (inv.header.operator.as_str()) }
        }
    };
    printout(&state, &s, &t(l, "invoice-title"), paper).await
}
