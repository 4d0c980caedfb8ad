//! Patients: registration, reading, corrections and the search by number (the card number of
//! patients from the HIS), name (with a birth date), national id or HIS id.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use lifeline_core::desk::{NewPatient, PatientEdit};
use lifeline_core::record::Patient;
use lifeline_core::store::PatientQuery;
use serde::Serialize;

use super::views::{Answer, IdPath, created, fetch, ok};
use crate::api::{ApiError, ApiState, Authed, Body, blocking};

/// Most patients one search answers with.
pub const SEARCH_LIMIT: usize = 100;

pub(super) async fn create_patient(
    State(s): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewPatient>,
) -> Answer<Patient> {
    created(blocking(move || s.store.create_patient(&op, new)).await?)
}

pub(super) async fn get_patient(
    State(s): State<ApiState>,
    Authed(_): Authed,
    IdPath(id): IdPath,
) -> Result<Json<Patient>, ApiError> {
    Ok(Json(fetch::<Patient>(&s, id).await?))
}

pub(super) async fn update_patient(
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

const SEARCH_PARAMS: &str = "number, name (with birth_date or alone), national_id, his_id";

/// Reads the search parameter of `GET /patients` (`birth_date` goes with `name`).
fn patient_query(params: Vec<(String, String)>) -> Result<PatientQuery, ApiError> {
    let mut query = None;
    let mut birth_date = None;
    for (key, value) in params {
        if key == "birth_date" {
            let date = value
                .trim()
                .parse::<lifeline_core::Date>()
                .map_err(|e| ApiError::bad_request(&key, crate::error::chain(&e)))?;
            birth_date = Some(date);
            continue;
        }
        let make: fn(String) -> PatientQuery = match key.as_str() {
            "number" => PatientQuery::Number,
            "name" => PatientQuery::Name,
            "national_id" => PatientQuery::NationalId,
            "his_id" => PatientQuery::HisId,
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
    if let Some(birth_date) = birth_date {
        return match query {
            Some(PatientQuery::Name(name)) => Ok(PatientQuery::NameBorn { name, birth_date }),
            _ => Err(ApiError::bad_request(
                "birth_date",
                "birth_date narrows a search by name: give name too",
            )),
        };
    }
    query.ok_or_else(|| {
        ApiError::bad_request(
            "query",
            format!("give one search parameter: {SEARCH_PARAMS}"),
        )
    })
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
        assert_eq!(
            patient_query(params(&[("name", "林小雨"), ("birth_date", "2021-03-14")])).ok(),
            Some(PatientQuery::NameBorn {
                name: "林小雨".into(),
                birth_date: lifeline_core::Date::new(2021, 3, 14).expect("date"),
            })
        );
        assert_eq!(
            field(&[("birth_date", "2021-03-14")]),
            Some("birth_date".into())
        );
        assert_eq!(
            field(&[("name", "a"), ("birth_date", "0000-00-00")]),
            Some("birth_date".into())
        );
        assert_eq!(
            patient_query(params(&[("his_id", "P000000007")])).ok(),
            Some(PatientQuery::HisId("P000000007".into()))
        );
    }
}
