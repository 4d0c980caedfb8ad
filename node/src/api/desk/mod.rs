//! The desk endpoints: patients, visits and triage, prescriptions and the pharmacy, charges,
//! refunds and re-settlements, invoices and number voids, the cashier's shift and daily
//! summary, and the catalogs.
//!
//! Each handler authenticates the operator first ([`super::Authed`]), then reads the path and
//! the body, and hands the operator to the core operation, which checks the desk's permission
//! and the rules and records who did it. A write answers only after its durable commit.
//! Records with a workflow are shown with their current `status` next to their `status_log`
//! ([`views`]).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::{ApiError, ApiState};

mod billing;
mod cashier;
mod catalogs;
mod clinic;
mod patients;
mod views;

/// Every desk endpoint, as (method, path): the OpenAPI document is checked against it.
#[cfg(test)]
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/patients"),
    ("get", "/patients"),
    ("get", "/patients/{id}"),
    ("patch", "/patients/{id}"),
    ("post", "/visits"),
    ("get", "/visits/{id}"),
    ("post", "/visits/{id}/call"),
    ("post", "/visits/{id}/resume"),
    ("post", "/visits/{id}/seen"),
    ("post", "/visits/{id}/cancel"),
    ("get", "/triage/queue"),
    ("post", "/prescriptions"),
    ("get", "/prescriptions/{id}"),
    ("post", "/prescriptions/{id}/print"),
    ("post", "/prescriptions/{id}/dispense"),
    ("post", "/prescriptions/{id}/cancel"),
    ("get", "/pharmacy/queue"),
    ("post", "/charges"),
    ("get", "/charges/{id}"),
    ("post", "/charges/{id}/settle"),
    ("post", "/charges/{id}/resettle"),
    ("post", "/charges/{id}/refund"),
    ("get", "/refunds/{id}"),
    ("get", "/cashier/shift"),
    ("post", "/cashier/shift"),
    ("get", "/reports/cashier"),
    ("post", "/invoices"),
    ("get", "/invoices/{id}"),
    ("post", "/invoices/{id}/void"),
    ("post", "/numbers/{series}/void-next"),
    ("get", "/catalogs/drugs"),
    ("get", "/catalogs/services"),
];

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/patients",
            post(patients::create_patient).get(patients::search_patients),
        )
        .route(
            "/patients/{id}",
            get(patients::get_patient).patch(patients::update_patient),
        )
        .route("/visits", post(clinic::register_visit))
        .route("/visits/{id}", get(clinic::get_visit))
        .route("/visits/{id}/call", post(clinic::call_visit))
        .route("/visits/{id}/resume", post(clinic::resume_visit))
        .route("/visits/{id}/seen", post(clinic::see_visit))
        .route("/visits/{id}/cancel", post(clinic::cancel_visit))
        .route("/triage/queue", get(clinic::triage_queue))
        .route("/prescriptions", post(clinic::create_prescription))
        .route("/prescriptions/{id}", get(clinic::get_prescription))
        .route(
            "/prescriptions/{id}/print",
            post(clinic::print_prescription),
        )
        .route(
            "/prescriptions/{id}/dispense",
            post(clinic::dispense_prescription),
        )
        .route(
            "/prescriptions/{id}/cancel",
            post(clinic::cancel_prescription),
        )
        .route("/pharmacy/queue", get(clinic::pharmacy_queue))
        .route("/charges", post(billing::create_charge))
        .route("/charges/{id}", get(billing::get_charge))
        .route("/charges/{id}/settle", post(billing::settle_charge))
        .route("/charges/{id}/resettle", post(billing::resettle_charge))
        .route("/charges/{id}/refund", post(billing::refund_charge))
        .route("/refunds/{id}", get(billing::get_refund))
        .route(
            "/cashier/shift",
            get(cashier::cashier_range).post(cashier::start_shift),
        )
        .route("/reports/cashier", get(cashier::cashier_report))
        .route("/invoices", post(billing::issue_invoice))
        .route("/invoices/{id}", get(billing::get_invoice))
        .route("/invoices/{id}/void", post(billing::void_invoice))
        .route(
            "/numbers/{series}/void-next",
            post(billing::void_next_number),
        )
        .route("/catalogs/drugs", get(catalogs::drug_catalog))
        .route("/catalogs/services", get(catalogs::service_catalog))
        .method_not_allowed_fallback(method_not_allowed)
}

/// A known path asked with a method it does not take.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see GET /openapi.json",
    )
}
