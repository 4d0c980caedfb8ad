//! Patients: registration, reading, corrections and the search by number (for patients from
//! the HIS, the card number), name (alone, or exactly with a birth date), national id, HIS id,
//! or a guardian's phone with the child's birth date. Every patient is shown with the age
//! staff read (years and months under 3 years).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use lifeline_core::desk::{NewPatient, PatientEdit, Saved};
use lifeline_core::record::Patient;
use lifeline_core::store::PatientQuery;
use lifeline_core::{Age, Date, Store};
use serde::Serialize;

use super::views::{Answer, IdPath, created, fetch, ok};
use crate::api::{ApiError, ApiState, Authed, Body, blocking};

/// A patient as the desks see it: the record and the age today.
#[derive(Debug, Serialize)]
pub struct PatientView {
    #[serde(flatten)]
    pub patient: Patient,
    /// Years and months under 3 years, years from 3 (`2岁6个月`, `5岁`).
    pub age: Option<Age>,
}

fn view(store: &Store, patient: Patient) -> PatientView {
    PatientView {
        age: store.age_today(patient.birth_date),
        patient,
    }
}

fn viewed(store: &Store, saved: Saved<Patient>) -> Saved<PatientView> {
    Saved {
        value: view(store, saved.value),
        warnings: saved.warnings,
    }
}

/// Most patients one search answers with.
pub const SEARCH_LIMIT: usize = 100;

pub(super) async fn create_patient(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewPatient>,
) -> Answer<PatientView> {
    let store = s.store.clone();
    let saved = blocking(move || s.store.create_patient(&op, new)).await?;
    created(viewed(&store, saved))
}

pub(super) async fn get_patient(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
) -> Result<Json<PatientView>, ApiError> {
    let patient = fetch::<Patient>(&s, id).await?;
    Ok(Json(view(&s.store, patient)))
}

pub(super) async fn update_patient(
    State(s): State<ApiState>,
    Authed(op): Authed,
    IdPath(id): IdPath,
    Body(edit): Body<PatientEdit>,
) -> Answer<PatientView> {
    if edit == PatientEdit::default() {
        return Err(ApiError::bad_request(
            "body",
            "give at least one field to change: name, sex, birth_date, phone, national_id, insurance, guardian",
        ));
    }
    let store = s.store.clone();
    let saved = blocking(move || s.store.update_patient(&op, id, edit)).await?;
    ok(viewed(&store, saved))
}

/// The answer to a patient search.
#[derive(Debug, Serialize)]
pub struct PatientSearch {
    pub patients: Vec<PatientView>,
    /// More patients matched than [`SEARCH_LIMIT`]: narrow the search.
    pub truncated: bool,
}

const SEARCH_PARAMS: &str = "number, name (or name with birth_date), national_id, his_id, or guardian_phone with birth_date";

/// Reads the search parameters of `GET /patients`: exactly one of number, name, national_id
/// and his_id, or the pair guardian_phone and birth_date (a child without an identity
/// number, by the guardian's phone and the child's birth date), or name and birth_date (the
/// name exactly).
fn patient_query(params: Vec<(String, String)>) -> Result<PatientQuery, ApiError> {
    let mut query = None;
    let (mut guardian_phone, mut birth_date) = (None, None);
    for (key, value) in params {
        if value.trim().is_empty() {
            return Err(ApiError::bad_request(&key, "must not be empty"));
        }
        let make: fn(String) -> PatientQuery = match key.as_str() {
            "number" => PatientQuery::Number,
            "name" => PatientQuery::Name,
            "national_id" => PatientQuery::NationalId,
            "his_id" => PatientQuery::HisId,
            "guardian_phone" => {
                guardian_phone = Some(value);
                continue;
            }
            "birth_date" => {
                let date: Date = value
                    .parse()
                    .map_err(|e: lifeline_core::clock::DateError| {
                        ApiError::bad_request("birth_date", e.to_string())
                    })?;
                birth_date = Some(date);
                continue;
            }
            _ => {
                return Err(ApiError::bad_request(
                    &key,
                    format!("unknown search parameter {key:?}: search by one of {SEARCH_PARAMS}"),
                ));
            }
        };
        if query.is_some() {
            return Err(ApiError::bad_request(
                &key,
                format!("search by exactly one of {SEARCH_PARAMS}"),
            ));
        }
        query = Some(make(value));
    }
    match (query, guardian_phone, birth_date) {
        (Some(q), None, None) => Ok(q),
        (None, Some(phone), Some(birth_date)) => {
            Ok(PatientQuery::GuardianPhone { phone, birth_date })
        }
        (Some(PatientQuery::Name(name)), None, Some(birth_date)) => {
            Ok(PatientQuery::NameBorn { name, birth_date })
        }
        (None, Some(_), None) => Err(ApiError::bad_request(
            "birth_date",
            "a guardian's phone is searched with the child's birth_date",
        )),
        (None, None, Some(_)) => Err(ApiError::bad_request(
            "guardian_phone",
            "a birth_date is searched with the guardian's phone (guardian_phone) or a name",
        )),
        (Some(_), _, _) => Err(ApiError::bad_request(
            "query",
            format!("search by exactly one of {SEARCH_PARAMS}"),
        )),
        (None, None, None) => Err(ApiError::bad_request(
            "query",
            format!("give one search parameter: {SEARCH_PARAMS}"),
        )),
    }
}

pub(super) async fn search_patients(
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
        let ids = store.find_patients_first(&query, SEARCH_LIMIT + 1)?;
        let truncated = ids.len() > SEARCH_LIMIT;
        let mut patients = Vec::with_capacity(ids.len().min(SEARCH_LIMIT));
        for id in ids.into_iter().take(SEARCH_LIMIT) {
            if let Some(p) = store.get::<Patient>(id)? {
                patients.push(view(&store, p));
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
        // A child without an identity number: the guardian's phone with the birth date.
        assert_eq!(
            patient_query(params(&[
                ("guardian_phone", "13900139000"),
                ("birth_date", "2026-05-20")
            ]))
            .ok(),
            Some(PatientQuery::GuardianPhone {
                phone: "13900139000".into(),
                birth_date: "2026-05-20".parse().expect("date"),
            })
        );
        assert_eq!(
            field(&[("guardian_phone", "139")]),
            Some("birth_date".into())
        );
        assert_eq!(
            field(&[("birth_date", "2026-02-30"), ("guardian_phone", "139")]),
            Some("birth_date".into())
        );
        assert_eq!(
            field(&[
                ("name", "a"),
                ("guardian_phone", "139"),
                ("birth_date", "2026-05-20")
            ]),
            Some("query".into())
        );
    }

    #[test]
    fn a_family_is_found_by_name_and_birth_date_or_by_its_his_id() {
        assert_eq!(
            patient_query(params(&[("name", "林小雨"), ("birth_date", "2021-03-14")])).ok(),
            Some(PatientQuery::NameBorn {
                name: "林小雨".into(),
                birth_date: "2021-03-14".parse().expect("date"),
            })
        );
        assert_eq!(
            patient_query(params(&[("his_id", "P000000007")])).ok(),
            Some(PatientQuery::HisId("P000000007".into()))
        );
        let field = |p: &[(&str, &str)]| patient_query(params(p)).err().and_then(|e| e.field);
        assert_eq!(
            field(&[("name", "a"), ("birth_date", "0000-00-00")]),
            Some("birth_date".into())
        );
        assert_eq!(
            field(&[("number", "a"), ("birth_date", "2021-03-14")]),
            Some("query".into())
        );
    }
}
