//! The desk endpoints: patients, visits and triage, prescriptions and the pharmacy, charges,
//! invoices and number voids, and the catalogs.
//!
//! Each handler authenticates the operator first ([`Authed`]), then reads the path and the
//! body, and hands the operator to the core operation, which checks the desk's permission and
//! the rules and records who did it. A write answers only after its durable commit. Records
//! with a workflow are shown with their current `status` next to their `status_log`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use lifeline_core::desk::{
    NewCharge, NewPatient, NewPrescription, NewVisit, PatientEdit, PharmacyEntry, QueueEntry,
    Saved, Settlement,
};
use lifeline_core::numbers::Series;
use lifeline_core::record::{
    CatalogKind, Charge, Dispense, DrugCatalog, Invoice, Patient, Prescription, ServiceCatalog,
    Visit, catalog_id,
};
use lifeline_core::status::{
    ChargeStatus, DispenseStatus, InvoiceStatus, PrescriptionStatus, Status, StatusLog, VisitStatus,
};
use lifeline_core::store::PatientQuery;
use lifeline_core::{Record, RecordId, RecordKind, RuleError};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, Authed, Body, Written, blocking};
use crate::error::chain;

/// Most patients one search answers with.
pub const SEARCH_LIMIT: usize = 100;

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
    ("post", "/invoices"),
    ("get", "/invoices/{id}"),
    ("post", "/invoices/{id}/void"),
    ("post", "/numbers/{series}/void-next"),
    ("get", "/catalogs/drugs"),
    ("get", "/catalogs/services"),
];

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/patients", post(create_patient).get(search_patients))
        .route("/patients/{id}", get(get_patient).patch(update_patient))
        .route("/visits", post(register_visit))
        .route("/visits/{id}", get(get_visit))
        .route("/visits/{id}/call", post(call_visit))
        .route("/visits/{id}/resume", post(resume_visit))
        .route("/visits/{id}/seen", post(see_visit))
        .route("/visits/{id}/cancel", post(cancel_visit))
        .route("/triage/queue", get(triage_queue))
        .route("/prescriptions", post(create_prescription))
        .route("/prescriptions/{id}", get(get_prescription))
        .route("/prescriptions/{id}/print", post(print_prescription))
        .route("/prescriptions/{id}/dispense", post(dispense_prescription))
        .route("/prescriptions/{id}/cancel", post(cancel_prescription))
        .route("/pharmacy/queue", get(pharmacy_queue))
        .route("/charges", post(create_charge))
        .route("/charges/{id}", get(get_charge))
        .route("/charges/{id}/settle", post(settle_charge))
        .route("/charges/{id}/resettle", post(resettle_charge))
        .route("/invoices", post(issue_invoice))
        .route("/invoices/{id}", get(get_invoice))
        .route("/invoices/{id}/void", post(void_invoice))
        .route("/numbers/{series}/void-next", post(void_next_number))
        .route("/catalogs/drugs", get(drug_catalog))
        .route("/catalogs/services", get(service_catalog))
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

// ---------------------------------------------------------------------------------------
// Extractors and views

/// The `{id}` path parameter, parsed as a record id; anything else is a 422 naming `id`.
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub RecordId);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("id", e.body_text()))?;
        raw.parse::<RecordId>()
            .map(IdPath)
            .map_err(|e| ApiError::bad_request("id", chain(&e)))
    }
}

/// The `{series}` path parameter: `invoice` or `emergency_registration`.
#[derive(Debug, Clone, Copy)]
pub struct SeriesPath(pub Series);

impl<S: Send + Sync> FromRequestParts<S> for SeriesPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("series", e.body_text()))?;
        Series::parse(&raw).map(SeriesPath).ok_or_else(|| {
            ApiError::bad_request(
                "series",
                format!(
                    "{raw:?} is not a number series (expected one of: {})",
                    Series::ALL.map(Series::name).join(", ")
                ),
            )
        })
    }
}

/// A record with a workflow, shown with its current status.
#[derive(Debug, Serialize)]
pub struct Shown<T: Serialize> {
    #[serde(flatten)]
    pub record: T,
    /// The furthest state in `status_log`; null if the log holds no state this node knows.
    pub status: Option<&'static str>,
}

/// Records whose current status can be read off their status log.
pub trait Workflow: Serialize {
    fn status(&self) -> Option<&'static str>;
}

fn current<S: Status>(log: &StatusLog) -> Option<&'static str> {
    log.current::<S>().ok().map(S::name)
}

macro_rules! workflow {
    ($ty:ty, $status:ty) => {
        impl Workflow for $ty {
            fn status(&self) -> Option<&'static str> {
                current::<$status>(&self.status_log)
            }
        }
    };
}
workflow!(Visit, VisitStatus);
workflow!(Prescription, PrescriptionStatus);
workflow!(Charge, ChargeStatus);
workflow!(Invoice, InvoiceStatus);
workflow!(Dispense, DispenseStatus);

fn shown<T: Workflow>(record: T) -> Shown<T> {
    let status = record.status();
    Shown { record, status }
}

type Answer<T> = Result<(StatusCode, Json<Written<T>>), ApiError>;

fn created<T: Serialize>(saved: Saved<T>) -> Answer<T> {
    Ok((StatusCode::CREATED, Json(Written::from_saved(saved))))
}

fn ok<T: Serialize>(saved: Saved<T>) -> Answer<T> {
    Ok((StatusCode::OK, Json(Written::from_saved(saved))))
}

fn with_status<T: Workflow>(saved: Saved<T>) -> Saved<Shown<T>> {
    Saved {
        value: shown(saved.value),
        warnings: saved.warnings,
    }
}

/// Reads one record of a kind; a missing record, or one of another kind, is a 404.
async fn fetch<T: Record + Send + 'static>(state: &ApiState, id: RecordId) -> Result<T, ApiError> {
    let store = state.store.clone();
    let found = blocking(move || match store.get::<T>(id) {
        Ok(found) => Ok(found),
        Err(lifeline_core::ReadError::WrongKind { .. }) => Ok(None),
        Err(e) => Err(ApiError::from(e)),
    })
    .await?;
    found.ok_or_else(|| ApiError::from(RuleError::NotFound { kind: T::KIND, id }))
}

// ---------------------------------------------------------------------------------------
// Patients

async fn create_patient(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewPatient>,
) -> Answer<Patient> {
    created(blocking(move || s.store.create_patient(&op, new)).await?)
}

async fn get_patient(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
) -> Result<Json<Patient>, ApiError> {
    Ok(Json(fetch::<Patient>(&s, id).await?))
}

async fn update_patient(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
    Body(edit): Body<PatientEdit>,
) -> Answer<Patient> {
    if edit == PatientEdit::default() {
        return Err(ApiError::bad_request(
            "body",
            "give at least one field to change: name, sex, birth_date, phone, national_id, insurance",
        ));
    }
    ok(blocking(move || s.store.update_patient(&op, id, edit)).await?)
}

/// The answer to a patient search.
#[derive(Debug, Serialize)]
pub struct PatientSearch {
    pub patients: Vec<Patient>,
    /// More patients matched than [`SEARCH_LIMIT`]: narrow the search.
    pub truncated: bool,
}

const SEARCH_PARAMS: &str = "number, name, national_id";

/// Reads the one search parameter of `GET /patients`.
fn patient_query(params: Vec<(String, String)>) -> Result<PatientQuery, ApiError> {
    let mut query = None;
    for (key, value) in params {
        let make: fn(String) -> PatientQuery = match key.as_str() {
            "number" => PatientQuery::Number,
            "name" => PatientQuery::Name,
            "national_id" => PatientQuery::NationalId,
            _ => {
                return Err(ApiError::bad_request(
                    &key,
                    format!("unknown search parameter {key:?}: search by one of {SEARCH_PARAMS}"),
                ));
            }
        };
        if value.trim().is_empty() {
            return Err(ApiError::bad_request(&key, "must not be empty"));
        }
        if query.is_some() {
            return Err(ApiError::bad_request(
                &key,
                format!("search by exactly one of {SEARCH_PARAMS}"),
            ));
        }
        query = Some(make(value));
    }
    query.ok_or_else(|| {
        ApiError::bad_request(
            "query",
            format!("give one search parameter: {SEARCH_PARAMS}"),
        )
    })
}

async fn search_patients(
    State(s): State<ApiState>,
    Authed(_): Authed,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<PatientSearch>, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()).field("query")
    })?;
    let query = patient_query(params)?;
    let store = s.store.clone();
    let found = blocking(move || {
        let ids = store.find_patients(&query)?;
        let truncated = ids.len() > SEARCH_LIMIT;
        let mut patients = Vec::with_capacity(ids.len().min(SEARCH_LIMIT));
        for id in ids.into_iter().take(SEARCH_LIMIT) {
            if let Some(p) = store.get::<Patient>(id)? {
                patients.push(p);
            }
        }
        Ok::<_, ApiError>(PatientSearch {
            patients,
            truncated,
        })
    })
    .await?;
    Ok(Json(found))
}

// ---------------------------------------------------------------------------------------
// Visits and triage

async fn register_visit(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewVisit>,
) -> Answer<Shown<Visit>> {
    created(with_status(
        blocking(move || s.store.register_visit(&op, new)).await?,
    ))
}

async fn get_visit(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
) -> Result<Json<Shown<Visit>>, ApiError> {
    Ok(Json(shown(fetch::<Visit>(&s, id).await?)))
}

macro_rules! visit_move {
    ($name:ident, $method:ident) => {
        async fn $name(
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

async fn triage_queue(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<Vec<QueueEntry>>, ApiError> {
    Ok(Json(blocking(move || s.store.triage_queue()).await?))
}

// ---------------------------------------------------------------------------------------
// Prescriptions and the pharmacy

async fn create_prescription(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewPrescription>,
) -> Answer<Shown<Prescription>> {
    created(with_status(
        blocking(move || s.store.create_prescription(&op, new)).await?,
    ))
}

async fn get_prescription(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
) -> Result<Json<Shown<Prescription>>, ApiError> {
    Ok(Json(shown(fetch::<Prescription>(&s, id).await?)))
}

/// Printing answers with the dispense it opened (on hold), not the prescription.
async fn print_prescription(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
) -> Answer<Shown<Dispense>> {
    created(with_status(
        blocking(move || s.store.print_prescription(&op, id)).await?,
    ))
}

async fn dispense_prescription(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
) -> Answer<Shown<Prescription>> {
    ok(with_status(
        blocking(move || s.store.dispense_prescription(&op, id)).await?,
    ))
}

async fn cancel_prescription(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
) -> Answer<Shown<Prescription>> {
    ok(with_status(
        blocking(move || s.store.cancel_prescription(&op, id)).await?,
    ))
}

async fn pharmacy_queue(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<Vec<PharmacyEntry>>, ApiError> {
    Ok(Json(blocking(move || s.store.pharmacy_queue()).await?))
}

// ---------------------------------------------------------------------------------------
// Charges, invoices and numbers

/// `POST /charges/{id}/settle`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleBody {
    pub outcome: Settlement,
}

/// `POST /invoices`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceBody {
    pub charges: Vec<RecordId>,
}

/// `POST /invoices/{id}/void` and `POST /numbers/{series}/void-next`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    pub reason: String,
}

/// The answer to `POST /numbers/{series}/void-next`.
#[derive(Debug, Clone, Serialize)]
pub struct VoidedNumber {
    pub series: Series,
    pub number: u64,
    pub reason: String,
}

async fn create_charge(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewCharge>,
) -> Answer<Shown<Charge>> {
    created(with_status(
        blocking(move || s.store.create_charge(&op, new)).await?,
    ))
}

async fn get_charge(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
) -> Result<Json<Shown<Charge>>, ApiError> {
    Ok(Json(shown(fetch::<Charge>(&s, id).await?)))
}

async fn settle_charge(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
    Body(body): Body<SettleBody>,
) -> Answer<Shown<Charge>> {
    ok(with_status(
        blocking(move || s.store.settle_charge(&op, id, body.outcome)).await?,
    ))
}

async fn resettle_charge(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
) -> Answer<Shown<Charge>> {
    ok(with_status(
        blocking(move || s.store.resettle_charge(&op, id)).await?,
    ))
}

async fn issue_invoice(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(body): Body<InvoiceBody>,
) -> Answer<Shown<Invoice>> {
    created(with_status(
        blocking(move || s.store.issue_invoice(&op, body.charges)).await?,
    ))
}

async fn get_invoice(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
) -> Result<Json<Shown<Invoice>>, ApiError> {
    Ok(Json(shown(fetch::<Invoice>(&s, id).await?)))
}

async fn void_invoice(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
    Body(body): Body<ReasonBody>,
) -> Answer<Shown<Invoice>> {
    ok(with_status(
        blocking(move || s.store.void_invoice(&op, id, &body.reason)).await?,
    ))
}

/// The record kind whose desk hands out a series' numbers, and so may spoil them.
fn series_kind(series: Series) -> RecordKind {
    match series {
        Series::Invoice => RecordKind::Invoice,
        Series::EmergencyRegistration => RecordKind::Visit,
    }
}

async fn void_next_number(
    State(s): State<ApiState>,
    Authed(op): Authed,
    SeriesPath(series): SeriesPath,
    Body(body): Body<ReasonBody>,
) -> Answer<VoidedNumber> {
    // The store does not check a desk for voids; the desk that prints the numbers may.
    let kind = series_kind(series);
    if !op.desk.may_write(kind) {
        return Err(RuleError::NotPermitted {
            desk: op.desk,
            action: "void numbers of this series",
            kind,
        }
        .into());
    }
    let reason = body.reason;
    let saved = blocking(move || {
        s.store
            .void_next_number(&op, series, &reason)
            .map(|saved| Saved {
                value: VoidedNumber {
                    series,
                    number: saved.value,
                    reason,
                },
                warnings: saved.warnings,
            })
    })
    .await?;
    ok(saved)
}

// ---------------------------------------------------------------------------------------
// Catalogs

async fn catalog<T: Record + Send + 'static>(
    s: &ApiState,
    kind: CatalogKind,
    name: &str,
) -> Result<T, ApiError> {
    let store = s.store.clone();
    let found = blocking(move || store.get::<T>(catalog_id(kind))).await?;
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "catalog_missing",
            format!(
                "the {name} catalog has not reached this node yet; it comes from central by replication"
            ),
        )
    })
}

async fn drug_catalog(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<DrugCatalog>, ApiError> {
    Ok(Json(catalog(&s, CatalogKind::Drug, "drug").await?))
}

async fn service_catalog(
    State(s): State<ApiState>,
    Authed(_): Authed,
) -> Result<Json<ServiceCatalog>, ApiError> {
    Ok(Json(catalog(&s, CatalogKind::Service, "service").await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_search_takes_exactly_one_known_parameter() {
        assert_eq!(
            patient_query(params(&[("name", "王")])).ok(),
            Some(PatientQuery::Name("王".into()))
        );
        let field = |p: &[(&str, &str)]| patient_query(params(p)).err().and_then(|e| e.field);
        assert_eq!(field(&[]), Some("query".into()));
        assert_eq!(field(&[("colour", "x")]), Some("colour".into()));
        assert_eq!(field(&[("name", " ")]), Some("name".into()));
        assert_eq!(
            field(&[("name", "a"), ("number", "b")]),
            Some("number".into())
        );
    }
}
