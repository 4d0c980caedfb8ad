//! The cashier's page: the shift's invoice range (the next number shown before it is used,
//! the stock confirmed at the start of the shift), the charges of a patient, settling them
//! (cash, bank card, WeChat, Alipay, insurance; an insurance failure is paid as self-pay and
//! owes a re-settlement, whose due date the receipt prints), invoices and voiding one with a
//! reason. The printouts are in [`super::receipts`]: the receipt, the invoice, and the
//! re-settlement notice, linked from a charge that owes one.

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lifeline_core::desk::{SettleRequest, Settlement, ShiftStart};
use lifeline_core::record::{Charge, Invoice, Patient, PaymentChannel, PaymentMethod, PaymentPart};
use lifeline_core::status::{ChargeStatus, InvoiceStatus, Status};
use lifeline_core::store::PatientQuery;
use lifeline_core::{DeskRole, RecordId};
use maud::{Markup, html};
use serde::Deserialize;

use super::clinic::status_text;
use super::doctor::lines_text;
use super::session::Staff;
use super::{ConsoleState, csrf_field, guard, only, page, problem};
use crate::api::{ApiError, blocking};
use crate::i18n::{Lang, money, t, ta};

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/cashier", get(cashier))
        .route("/console/cashier/shift", post(start_shift))
        .route(
            "/console/cashier/charges/{id}/{action}",
            post(charge_action),
        )
        .route("/console/cashier/invoices/{id}/void", post(void_invoice))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Find {
    #[serde(default)]
    number: String,
    /// The invoice number just voided, to confirm it.
    #[serde(default)]
    voided: Option<u64>,
}

/// The channels a cashier takes money by, as staff read them.
pub(super) fn channel_text(l: Lang, c: PaymentChannel) -> String {
    crate::i18n::t(l, &format!("channel-{}", c.name()))
}

struct Found {
    patient: Patient,
    charges: Vec<Charge>,
    invoices: Vec<Invoice>,
}

async fn find(state: &ConsoleState, number: String) -> Result<Option<Found>, ApiError> {
    let store = state.api.store.clone();
    blocking(move || {
        let Some(id) = store
            .find_patients(&PatientQuery::Number(number))?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let Some(patient) = store.get::<Patient>(id)? else {
            return Ok(None);
        };
        let charges = store.patient_charges(id)?;
        let mut invoices = Vec::new();
        let mut ids: Vec<RecordId> = charges.iter().filter_map(|c| c.invoice).collect();
        ids.sort();
        ids.dedup();
        for i in ids {
            if let Some(invoice) = store.get::<Invoice>(i)? {
                invoices.push(invoice);
            }
        }
        Ok::<_, ApiError>(Some(Found {
            patient,
            charges,
            invoices,
        }))
    })
    .await
}

/// The cashier's range, or the free range a shift start would claim.
struct Shift {
    next: u64,
    code: Option<String>,
    remaining: u64,
    /// The stock in hand was confirmed today: invoices may be issued.
    confirmed_today: bool,
}

async fn range(state: &ConsoleState, s: &Staff) -> Result<Option<Shift>, ApiError> {
    let store = state.api.store.clone();
    let op = s.op.clone();
    let offset = super::offset(state);
    blocking(move || {
        let today = offset.date(store.now_ms());
        if let Some(r) = store.cashier_range(&op)? {
            return Ok(Some(Shift {
                next: r.next,
                code: r.code,
                remaining: r.remaining,
                confirmed_today: r.confirmed.is_some_and(|c| offset.date(c.at_ms) == today),
            }));
        }
        let node = store.node().clone();
        let free = store
            .ranges()?
            .into_iter()
            .filter(|r| {
                r.range.series == lifeline_core::numbers::Series::Invoice
                    && r.range.holder == node
                    && r.range.operator.is_none()
                    && r.next == r.range.start
            })
            .min_by_key(|r| r.range.start);
        Ok::<_, ApiError>(free.map(|r| Shift {
            next: r.next,
            remaining: r.remaining(),
            code: r.range.code,
            confirmed_today: false,
        }))
    })
    .await
}

fn shift_box(s: &Staff, r: &Result<Option<Shift>, ApiError>) -> Markup {
    let l = s.lang;
    html! {
        section.card.shift {
            @match r {
                Err(e) => (problem(l, e)),
                Ok(None) => p { (t(l, "cashier-no-range")) },
                Ok(Some(range)) if range.confirmed_today => {
                    p #next-invoice {
                        (ta(l, "cashier-next-invoice", &[
                            ("number", &range.next.to_string()),
                            ("code", range.code.as_deref().unwrap_or("-")),
                            ("remaining", &range.remaining.to_string()),
                        ]))
                    }
                },
                Ok(Some(range)) => {
                    form method="post" action="/console/cashier/shift" {
                        (csrf_field(s))
                        p { (ta(l, "cashier-confirm-shift", &[("number", &range.next.to_string())])) }
                        label for="code" { (t(l, "cashier-stock-code")) }
                        input #code name="code" type="text" required value=(range.code.clone().unwrap_or_default());
                        label for="first" { (t(l, "cashier-first-number")) }
                        input #first name="first_number" type="number" required value=(range.next);
                        button type="submit" { (t(l, "cashier-start-shift")) }
                    }
                },
            }
        }
    }
}

async fn cashier_page(
    state: &ConsoleState,
    s: &Staff,
    number: &str,
    error: Option<ApiError>,
) -> Response {
    cashier_page_with(state, s, number, error, None).await
}

async fn cashier_page_with(
    state: &ConsoleState,
    s: &Staff,
    number: &str,
    error: Option<ApiError>,
    voided: Option<u64>,
) -> Response {
    let l = s.lang;
    let r = range(state, s).await;
    let found = if number.trim().is_empty() {
        Ok(None)
    } else {
        find(state, number.trim().to_owned()).await
    };
    let body = html! {
        @if let Some(e) = &error { (problem(l, e)) }
        @if let Some(n) = voided {
            p.done #voided role="status" { (ta(l, "cashier-voided-number", &[("number", &n.to_string())])) }
        }
        (shift_box(s, &r))
        form.search method="get" action="/console/cashier" role="search" {
            label for="number" { (t(l, "reg-number")) }
            input #number name="number" type="text" value=(number) autofocus;
            button type="submit" { (t(l, "reg-search")) }
        }
        @match &found {
            Err(e) => (problem(l, e)),
            Ok(None) if !number.trim().is_empty() => p.empty { (t(l, "error-not_found")) },
            Ok(None) => {},
            Ok(Some(f)) => (charges_table(state, s, f, number)),
        }
    };
    let banner = super::banner::banner(state).await;
    let html = page(l, Some(s), &banner, &t(l, "cashier-title"), body);
    match error {
        Some(e) => (e.status, html).into_response(),
        None => html.into_response(),
    }
}

fn charges_table(state: &ConsoleState, s: &Staff, f: &Found, number: &str) -> Markup {
    let l = s.lang;
    html! {
        h2 { (f.patient.name) " " small { (f.patient.patient_no) } }
        table.list #charges {
            thead { tr {
                th { (t(l, "slip-time")) } th { (t(l, "cashier-items")) } th { (t(l, "cashier-amount")) } th { (t(l, "cashier-requested")) }
                th { (t(l, "queue-status")) } th {}
            } }
            tbody {
                @for c in &f.charges {
                    @let status = c.status_log.current::<ChargeStatus>().ok();
                    tr data-charge=(c.header.id) {
                        td { (super::local_time(state, c.header.created_ms)) }
                        td { (lines_text(&c.lines)) }
                        td { (money(c.amount)) }
                        td { (method_text(l, c.requested_payment)) }
                        td { (status.map(|st| status_text(l, st.name())).unwrap_or_default())
                            @if c.invoice.is_some() { " · " (t(l, "status-invoiced")) } }
                        td {
                            @if status == Some(ChargeStatus::Pending) {
                                form.inline method="post" action={ "/console/cashier/charges/" (c.header.id) "/settle?number=" (number) } {
                                    (csrf_field(s))
                                    label for={ "ch-" (c.header.id) } { (t(l, "cashier-channel")) }
                                    select id={ "ch-" (c.header.id) } name="channel" {
                                        @for ch in [PaymentChannel::Cash, PaymentChannel::BankCard, PaymentChannel::Wechat, PaymentChannel::Alipay, PaymentChannel::InsuranceFund] {
                                            option value=(ch.name()) { (channel_text(l, ch)) }
                                        }
                                    }
                                    div.check {
                                        input id={ "failed-" (c.header.id) } name="insurance_failed" type="checkbox" value="on";
                                        label for={ "failed-" (c.header.id) } { (t(l, "cashier-insurance-failed")) }
                                    }
                                    button type="submit" { (t(l, "cashier-settle")) }
                                }
                            } @else {
                                a href={ "/console/print/receipt/" (c.header.id) } { (t(l, "cashier-receipt")) } " "
                                @if c.awaits_resettlement() {
                                    a.resettle href={ "/console/print/resettle/" (c.header.id) } { (t(l, "cashier-resettle-notice")) } " "
                                }
                                @if c.invoice.is_none() {
                                    form.inline method="post" action={ "/console/cashier/charges/" (c.header.id) "/invoice?number=" (number) } {
                                        (csrf_field(s))
                                        button type="submit" { (t(l, "cashier-invoice")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !f.invoices.is_empty() {
            h2 { (t(l, "cashier-invoices")) }
            table.list {
                tbody {
                    @for i in &f.invoices {
                        @let voided = i.status_log.current::<InvoiceStatus>() == Ok(InvoiceStatus::Voided);
                        tr {
                            td { (i.code.clone().unwrap_or_default()) " " (i.number) }
                            td { (money(i.total)) }
                            td { @if voided { (t(l, "cashier-voided")) } @else {
                                a href={ "/console/print/invoice/" (i.header.id) } { (t(l, "print")) } " "
                                form.inline method="post" action={ "/console/cashier/invoices/" (i.header.id) "/void?number=" (number) } {
                                    (csrf_field(s))
                                    label for={ "reason-" (i.header.id) } { (t(l, "cashier-void-reason")) }
                                    input id={ "reason-" (i.header.id) } name="reason" type="text" required;
                                    button type="submit" { (t(l, "cashier-void")) }
                                }
                            } }
                        }
                    }
                }
            }
        }
    }
}

fn method_text(l: Lang, m: PaymentMethod) -> String {
    match m {
        PaymentMethod::Insurance => t(l, "cashier-method-insurance"),
        PaymentMethod::SelfPay => t(l, "insurance-self-pay"),
    }
}

pub(super) async fn cashier(
    State(state): State<ConsoleState>,
    s: Staff,
    Query(q): Query<Find>,
) -> Response {
    if let Some(r) = only(&s, DeskRole::Cashier) {
        return r;
    }
    cashier_page_with(&state, &s, &q.number, None, q.voided).await
}

#[derive(Debug, Deserialize)]
pub(super) struct ShiftForm {
    csrf: String,
    code: String,
    first_number: u64,
}

pub(super) async fn start_shift(
    State(state): State<ConsoleState>,
    s: Staff,
    Form(f): Form<ShiftForm>,
) -> Response {
    if let Some(r) = guard(&s, &f.csrf, DeskRole::Cashier) {
        return r;
    }
    let store = state.api.store.clone();
    let op = s.op.clone();
    let start = ShiftStart {
        code: f.code.trim().to_owned(),
        first_number: f.first_number,
    };
    match blocking(move || store.start_shift(&op, start)).await {
        Ok(_) => Redirect::to("/console/cashier").into_response(),
        Err(e) => cashier_page(&state, &s, "", Some(e)).await,
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ChargeForm {
    csrf: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    insurance_failed: Option<String>,
}

fn parse_id(raw: &str) -> Result<RecordId, ApiError> {
    raw.parse::<RecordId>()
        .map_err(|e| ApiError::bad_request("id", e.to_string()))
}

pub(super) async fn charge_action(
    State(state): State<ConsoleState>,
    s: Staff,
    Path((raw, action)): Path<(String, String)>,
    Query(q): Query<Find>,
    Form(f): Form<ChargeForm>,
) -> Response {
    if let Some(r) = guard(&s, &f.csrf, DeskRole::Cashier) {
        return r;
    }
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(e) => return cashier_page(&state, &s, &q.number, Some(e)).await,
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    let done = match action.as_str() {
        "settle" => {
            let channel = PaymentChannel::ALL
                .into_iter()
                .find(|c| c.name() == f.channel);
            let failed = f.insurance_failed.is_some();
            blocking(move || {
                let charge = store.get::<Charge>(id)?.ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::NOT_FOUND,
                        "not_found",
                        "no such charge",
                    )
                })?;
                let payments = match channel {
                    Some(c) if !c.is_insurance() => Some(vec![PaymentPart {
                        channel: c,
                        amount: charge.amount,
                    }]),
                    _ => None,
                };
                let request = SettleRequest {
                    outcome: if failed {
                        Settlement::InsuranceFailed
                    } else {
                        Settlement::Paid
                    },
                    payments,
                };
                store.settle_charge_with(&op, id, request)?;
                Ok::<_, ApiError>(format!("/console/print/receipt/{id}"))
            })
            .await
        }
        "invoice" => blocking(move || store.issue_invoice(&op, vec![id]))
            .await
            .map(|saved| format!("/console/print/invoice/{}", saved.value.header.id)),
        _ => Err(ApiError::bad_request("action", "settle or invoice")),
    };
    match done {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => cashier_page(&state, &s, &q.number, Some(e)).await,
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct VoidForm {
    csrf: String,
    reason: String,
}

pub(super) async fn void_invoice(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(raw): Path<String>,
    Query(q): Query<Find>,
    Form(f): Form<VoidForm>,
) -> Response {
    if let Some(r) = guard(&s, &f.csrf, DeskRole::Cashier) {
        return r;
    }
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(e) => return cashier_page(&state, &s, &q.number, Some(e)).await,
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    match blocking(move || store.void_invoice(&op, id, f.reason.trim())).await {
        Ok(saved) => Redirect::to(&format!(
            "/console/cashier?number={}&voided={}",
            q.number, saved.value.number
        ))
        .into_response(),
        Err(e) => cashier_page(&state, &s, &q.number, Some(e)).await,
    }
}
