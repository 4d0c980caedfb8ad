//! The registration desk: find the patient (card number, identity number, name with birth
//! date, or a guardian's phone with the child's birth date), add a new one with the guardian,
//! register a visit in a department and print the slip (with its YJ number in an episode).
//!
//! Keyboard first: the search field has the focus when the page opens; Enter searches; a
//! single match opens with the department field focused; Enter registers and opens the slip,
//! whose print button has the focus.

use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lifeline_core::desk::{NewPatient, NewVisit};
use lifeline_core::record::{
    CatalogKind, Department, Guardian, InsuranceType, Patient, ServiceCatalog, Sex, catalog_id,
};
use lifeline_core::store::PatientQuery;
use lifeline_core::{Date, DeskRole, RecordId};
use maud::{Markup, html};
use serde::Deserialize;

use super::banner::banner;
use super::session::Staff;
use super::{ConsoleState, csrf_field, guard, only, page, problem};
use crate::api::{ApiError, blocking};
use crate::i18n::{Lang, money, t};

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/registration", get(search_page))
        .route("/console/registration/patients", post(create_patient))
        .route("/console/registration/visits", post(register_visit))
}

/// The search form's fields; the first filled one decides the search.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Search {
    #[serde(default)]
    number: String,
    #[serde(default)]
    national_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    guardian_phone: String,
    #[serde(default)]
    birth_date: String,
    /// The patient picked from a list of matches.
    #[serde(default)]
    patient: String,
}

/// Most matches listed.
const LIST_LIMIT: usize = 50;
/// Most matches a search reads before it says there are more: the list leaves out merged
/// patients and those born another day, so it reads past `LIST_LIMIT`, but not through a
/// common surname's hundred thousand patients.
const MOST_READ: usize = 2_000;

fn query_of(q: &Search) -> Result<Option<(PatientQuery, Option<Date>)>, ApiError> {
    let birth = match q.birth_date.trim() {
        "" => None,
        d => Some(
            d.parse::<Date>()
                .map_err(|e| ApiError::bad_request("birth_date", e.to_string()))?,
        ),
    };
    let filled = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    if let Some(n) = filled(&q.number) {
        return Ok(Some((PatientQuery::Number(n), None)));
    }
    if let Some(n) = filled(&q.national_id) {
        return Ok(Some((PatientQuery::NationalId(n.to_uppercase()), None)));
    }
    if let Some(phone) = filled(&q.guardian_phone) {
        let birth_date = birth.ok_or_else(|| {
            ApiError::bad_request(
                "birth_date",
                "a guardian's phone is searched with the child's birth date",
            )
        })?;
        return Ok(Some((
            PatientQuery::GuardianPhone { phone, birth_date },
            None,
        )));
    }
    if let Some(n) = filled(&q.name) {
        return Ok(Some((PatientQuery::Name(n), birth)));
    }
    Ok(None)
}

/// The departments of the service catalog, by code.
pub(super) async fn departments(state: &ConsoleState) -> Vec<(String, Department)> {
    let store = state.api.store.clone();
    blocking(move || store.get::<ServiceCatalog>(catalog_id(CatalogKind::Service)))
        .await
        .ok()
        .flatten()
        .map(|c| c.departments.into_iter().collect())
        .unwrap_or_default()
}

pub(super) async fn search_page(
    State(state): State<ConsoleState>,
    s: Staff,
    Query(q): Query<Search>,
) -> Response {
    if let Some(r) = only(&s, DeskRole::Registration) {
        return r;
    }
    let l = s.lang;
    let store = state.api.store.clone();
    let picked = q.patient.parse::<RecordId>().ok();
    let query = query_of(&q);
    let found = match (picked, query) {
        (Some(id), _) => blocking(move || {
            store
                .get::<Patient>(id)
                .map(|p| (p.into_iter().collect(), false))
        })
        .await
        .map(Some),
        (None, Ok(Some((query, birth)))) => blocking(move || {
            let ids = store.find_patients_first(&query, MOST_READ)?;
            let cut = ids.len() >= MOST_READ;
            let mut out = Vec::new();
            for id in ids {
                if out.len() > LIST_LIMIT {
                    break;
                }
                if let Some(p) = store.get::<Patient>(id)?
                    && p.merged_into.is_none()
                    && birth.is_none_or(|b| b == p.birth_date)
                {
                    out.push(p);
                }
            }
            let more = cut || out.len() > LIST_LIMIT;
            out.truncate(LIST_LIMIT);
            Ok::<_, ApiError>((out, more))
        })
        .await
        .map(Some),
        (None, Ok(None)) => Ok(None),
        (None, Err(e)) => Err(e),
    };
    let depts = departments(&state).await;
    let today = state.api.store.now_ms();
    let body = html! {
        (search_form(l, &q))
        @match &found {
            Err(e) => (problem(l, e)),
            Ok(None) => {},
            Ok(Some((list, _))) if list.is_empty() => {
                p.empty role="status" { (t(l, "reg-no-match")) }
                (new_patient_form(&s, &q))
            },
            Ok(Some((list, more))) if list.len() == 1 => {
                (patient_card(&state, l, &list[0], today))
                (visit_form(&s, &list[0], &depts))
                @if *more { p { (t(l, "reg-more")) } }
            },
            Ok(Some((list, more))) => {
                (match_list(&state, l, list, today))
                @if *more { p { (t(l, "reg-more")) } }
            },
        }
        @if !matches!(found, Ok(Some(_))) {
            details.new-patient {
                summary { (t(l, "reg-new-patient")) }
                (new_patient_form(&s, &q))
            }
        }
    };
    let banner = banner(&state).await;
    page(l, Some(&s), &banner, &t(l, "reg-title"), body).into_response()
}

fn search_form(l: Lang, q: &Search) -> Markup {
    let nothing = q.number.is_empty()
        && q.national_id.is_empty()
        && q.name.is_empty()
        && q.guardian_phone.is_empty();
    html! {
        form.search method="get" action="/console/registration" role="search" {
            div.fields {
                div { label for="number" { (t(l, "reg-number")) }
                    input #number name="number" type="text" value=(q.number) autofocus[nothing]; }
                div { label for="national_id" { (t(l, "reg-national-id")) }
                    input #national_id name="national_id" type="text" value=(q.national_id); }
                div { label for="name" { (t(l, "reg-name")) }
                    input #name name="name" type="text" value=(q.name); }
                div { label for="guardian_phone" { (t(l, "reg-guardian-phone")) }
                    input #guardian_phone name="guardian_phone" type="tel" value=(q.guardian_phone); }
                div { label for="birth_date" { (t(l, "reg-birth-date")) }
                    input #birth_date name="birth_date" type="date" value=(q.birth_date); }
            }
            button type="submit" { (t(l, "reg-search")) }
            p.hint { (t(l, "reg-search-hint")) }
        }
    }
}

fn sex_text(l: Lang, sex: Sex) -> String {
    match sex {
        Sex::Male => t(l, "sex-male"),
        Sex::Female => t(l, "sex-female"),
        Sex::Unknown => t(l, "sex-unknown"),
    }
}

pub(super) fn insurance_text(l: Lang, i: InsuranceType) -> String {
    match i {
        InsuranceType::SelfPay => t(l, "insurance-self-pay"),
        InsuranceType::Employee => t(l, "insurance-employee"),
        InsuranceType::Resident => t(l, "insurance-resident"),
    }
}

fn age_text(state: &ConsoleState, p: &Patient, _now: i64) -> String {
    state
        .api
        .store
        .age_today(p.birth_date)
        .map(|a| a.text)
        .unwrap_or_default()
}

fn patient_card(state: &ConsoleState, l: Lang, p: &Patient, now: i64) -> Markup {
    html! {
        section.card.patient aria-label=(t(l, "reg-patient")) {
            h2 { (p.name) " " small { (p.patient_no) } }
            dl {
                dt { (t(l, "reg-sex")) } dd { (sex_text(l, p.sex)) }
                dt { (t(l, "reg-birth-date")) } dd { (p.birth_date.to_string()) " (" (age_text(state, p, now)) ")" }
                dt { (t(l, "reg-phone")) } dd { (p.phone) }
                dt { (t(l, "reg-insurance")) } dd { (insurance_text(l, p.insurance)) }
                @if let Some(g) = &p.guardian {
                    dt { (t(l, "reg-guardian")) }
                    dd { (g.name) " " (g.relationship.clone().unwrap_or_default()) " " (g.phone.clone().unwrap_or_default()) }
                }
            }
        }
    }
}

fn match_list(state: &ConsoleState, l: Lang, list: &[Patient], now: i64) -> Markup {
    html! {
        table.list {
            caption { (t(l, "reg-matches")) }
            thead { tr {
                th { (t(l, "reg-number")) } th { (t(l, "reg-name")) } th { (t(l, "reg-sex")) }
                th { (t(l, "reg-birth-date")) } th { (t(l, "reg-guardian")) } th {}
            } }
            tbody {
                @for (i, p) in list.iter().enumerate() {
                    tr {
                        td { (p.patient_no) } td { (p.name) } td { (sex_text(l, p.sex)) }
                        td { (p.birth_date.to_string()) " (" (age_text(state, p, now)) ")" }
                        td { (p.guardian.as_ref().map(|g| g.name.clone()).unwrap_or_default()) }
                        td { a href={ "/console/registration?patient=" (p.header.id) } autofocus[i == 0] { (t(l, "reg-pick")) } }
                    }
                }
            }
        }
    }
}

fn visit_form(s: &Staff, p: &Patient, depts: &[(String, Department)]) -> Markup {
    let l = s.lang;
    html! {
        form.card #visit-form method="post" action="/console/registration/visits" {
            (csrf_field(s))
            input type="hidden" name="patient" value=(p.header.id);
            label for="department" { (t(l, "reg-department")) }
            input #department name="department" type="text" list="departments" required
                autofocus autocomplete="off";
            datalist #departments {
                @for (code, d) in depts {
                    option value=(code) {
                        (match l { Lang::Zh => &d.name_zh, Lang::En => &d.name_en })
                        " " (money(d.registration_fee))
                    }
                }
            }
            div.check {
                input #expert name="expert" type="checkbox" value="on";
                label for="expert" { (t(l, "reg-expert")) }
            }
            button type="submit" { (t(l, "reg-register")) }
        }
    }
}

fn new_patient_form(s: &Staff, q: &Search) -> Markup {
    let l = s.lang;
    html! {
        form.card #patient-form method="post" action="/console/registration/patients" {
            (csrf_field(s))
            fieldset {
                legend { (t(l, "reg-new-patient")) }
                label for="p-name" { (t(l, "reg-name")) }
                input #p-name name="name" type="text" value=(q.name) required;
                label for="p-sex" { (t(l, "reg-sex")) }
                select #p-sex name="sex" {
                    option value="male" { (t(l, "sex-male")) }
                    option value="female" { (t(l, "sex-female")) }
                    option value="unknown" { (t(l, "sex-unknown")) }
                }
                label for="p-birth" { (t(l, "reg-birth-date")) }
                input #p-birth name="birth_date" type="date" value=(q.birth_date) required;
                label for="p-phone" { (t(l, "reg-phone")) }
                input #p-phone name="phone" type="tel" required;
                label for="p-nid" { (t(l, "reg-national-id")) }
                input #p-nid name="national_id" type="text";
                label for="p-ins" { (t(l, "reg-insurance")) }
                select #p-ins name="insurance" {
                    option value="self_pay" { (t(l, "insurance-self-pay")) }
                    option value="employee" { (t(l, "insurance-employee")) }
                    option value="resident" { (t(l, "insurance-resident")) }
                }
            }
            fieldset {
                legend { (t(l, "reg-guardian")) }
                label for="g-name" { (t(l, "reg-guardian-name")) }
                input #g-name name="guardian_name" type="text";
                label for="g-rel" { (t(l, "reg-guardian-relationship")) }
                input #g-rel name="guardian_relationship" type="text";
                label for="g-phone" { (t(l, "reg-guardian-phone")) }
                input #g-phone name="guardian_phone" type="tel" value=(q.guardian_phone);
                label for="g-nid" { (t(l, "reg-guardian-national-id")) }
                input #g-nid name="guardian_national_id" type="text";
            }
            button type="submit" { (t(l, "reg-save-patient")) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct PatientForm {
    csrf: String,
    name: String,
    sex: String,
    birth_date: String,
    phone: String,
    #[serde(default)]
    national_id: String,
    insurance: String,
    #[serde(default)]
    guardian_name: String,
    #[serde(default)]
    guardian_relationship: String,
    #[serde(default)]
    guardian_phone: String,
    #[serde(default)]
    guardian_national_id: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn new_patient(f: &PatientForm) -> Result<NewPatient, ApiError> {
    let sex = match f.sex.as_str() {
        "male" => Sex::Male,
        "female" => Sex::Female,
        "unknown" => Sex::Unknown,
        _ => return Err(ApiError::bad_request("sex", "male, female or unknown")),
    };
    let insurance = match f.insurance.as_str() {
        "self_pay" => InsuranceType::SelfPay,
        "employee" => InsuranceType::Employee,
        "resident" => InsuranceType::Resident,
        _ => {
            return Err(ApiError::bad_request(
                "insurance",
                "self_pay, employee or resident",
            ));
        }
    };
    let birth_date = f
        .birth_date
        .trim()
        .parse::<Date>()
        .map_err(|e| ApiError::bad_request("birth_date", e.to_string()))?;
    let guardian = some(&f.guardian_name).map(|name| Guardian {
        name,
        relationship: some(&f.guardian_relationship),
        phone: some(&f.guardian_phone),
        national_id: some(&f.guardian_national_id),
    });
    Ok(NewPatient {
        patient_no: None,
        name: f.name.trim().to_owned(),
        sex,
        birth_date,
        phone: f.phone.trim().to_owned(),
        national_id: some(&f.national_id),
        insurance,
        guardian,
    })
}

/// Shows the search page again with a refusal above it.
async fn refused_here(state: &ConsoleState, s: &Staff, e: &ApiError) -> Response {
    let l = s.lang;
    let banner = banner(state).await;
    let body = html! {
        (problem(l, e))
        (search_form(l, &Search::default()))
    };
    (
        e.status,
        page(l, Some(s), &banner, &t(l, "reg-title"), body),
    )
        .into_response()
}

pub(super) async fn create_patient(
    State(state): State<ConsoleState>,
    s: Staff,
    Form(f): Form<PatientForm>,
) -> Response {
    if let Some(r) = guard(&s, &f.csrf, DeskRole::Registration) {
        return r;
    }
    let new = match new_patient(&f) {
        Ok(n) => n,
        Err(e) => return refused_here(&state, &s, &e).await,
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    match blocking(move || store.create_patient(&op, new)).await {
        Ok(saved) => Redirect::to(&format!(
            "/console/registration?patient={}",
            saved.value.header.id
        ))
        .into_response(),
        Err(e) => refused_here(&state, &s, &e).await,
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct VisitForm {
    csrf: String,
    patient: String,
    department: String,
    #[serde(default)]
    expert: Option<String>,
}

pub(super) async fn register_visit(
    State(state): State<ConsoleState>,
    s: Staff,
    Form(f): Form<VisitForm>,
) -> Response {
    if let Some(r) = guard(&s, &f.csrf, DeskRole::Registration) {
        return r;
    }
    let Ok(patient) = f.patient.parse::<RecordId>() else {
        let e = ApiError::bad_request("patient", "not a record id");
        return refused_here(&state, &s, &e).await;
    };
    let new = NewVisit {
        patient,
        department: f.department.trim().to_uppercase(),
        doctor: None,
        expert: f.expert.is_some(),
        payment: None,
        occurred_at: None,
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    match blocking(move || store.register_visit(&op, new)).await {
        Ok(saved) => {
            Redirect::to(&format!("/console/print/slip/{}", saved.value.header.id)).into_response()
        }
        Err(e) => refused_here(&state, &s, &e).await,
    }
}
