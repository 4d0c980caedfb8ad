//! Administration endpoints for the information department (desk role `admin`): operators
//! and the admin token, catalogs, the audit trail. (The node's status is in
//! [`super::status`], emergency mode in [`super::emergency`], number ranges in
//! [`super::ranges`].) The CLI uses these with the admin token the daemon
//! keeps in its data directory.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use lifeline_core::desk::{CatalogImport, parse_departments, parse_drugs, parse_services};
use lifeline_core::trust::Rights;
use lifeline_core::{DeskRole, Operator, OperatorName};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, Authed, Body, Written, admin_only, blocking};
use crate::daemon::desk_list;
use crate::error::chain;
use crate::operators::{BUILT_IN_ADMIN, NewEntry, admin_name};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/operators", get(list_operators).post(add_operator))
        .route(
            "/admin/operators/{name}",
            axum::routing::delete(remove_operator),
        )
        .route("/admin/token/rotate", post(rotate_admin_token))
        .route("/admin/catalog/import", post(catalog_import))
}

/// What the other desks may not do here.
pub(super) const ADMINISTER: &str = "use the administration endpoints";

#[derive(Debug, Serialize, Deserialize)]
pub struct OperatorLine {
    pub name: String,
    pub desk: DeskRole,
    pub created_ms: i64,
    #[serde(default)]
    pub expires_ms: Option<i64>,
    #[serde(default)]
    pub added_by: Option<String>,
}

async fn list_operators(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<Vec<OperatorLine>>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    Ok(Json(
        state
            .operators
            .list()
            .into_iter()
            .map(|e| OperatorLine {
                name: e.name.to_string(),
                desk: e.desk,
                created_ms: e.created_ms,
                expires_ms: e.expires_ms,
                added_by: e.added_by.map(|n| n.to_string()),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    pub name: OperatorName,
    pub desk: DeskRole,
    /// The token stops working this many seconds after it is issued; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for_s: Option<u64>,
    /// The console password (at least 8 characters); without one, a one-time setup code is
    /// issued instead, with which the operator logs in once to choose their password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The answer to adding an operator: the token, shown this once.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddedOperator {
    pub name: String,
    pub desk: DeskRole,
    pub token: String,
    #[serde(default)]
    pub expires_ms: Option<i64>,
    /// The one-time code for the console's first log-in (when no password was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_code: Option<String>,
}

/// Runs a change to the operators file on a blocking thread, an error as the API's.
async fn operators_change<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    blocking(move || {
        f().map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", chain(&*e)))
    })
    .await
}

/// Records an operator change in the audit chain, under the administrator's name.
async fn audit(
    state: &ApiState,
    op: Operator,
    action: &'static str,
    detail: String,
) -> Result<(), ApiError> {
    let store = state.store.clone();
    blocking(move || store.audit_admin(&op, action, detail)).await
}

async fn add_operator(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(new): Body<NewOperator>,
) -> Result<(StatusCode, Json<AddedOperator>), ApiError> {
    admin_only(&op, ADMINISTER)?;
    if new.name.as_str() == BUILT_IN_ADMIN {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            "\"admin\" is the node's built-in administrator; choose a person's own name",
        )
        .field("name"));
    }
    // A desk the node's certificate does not name would hear "saved" for records no other
    // node accepts: refused here, before anyone works at it.
    let certified = state.store.options().desks.clone();
    let rights = Rights {
        role: state.store.role(),
        desks: &certified,
    };
    if !rights.serves_desk(new.desk) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this {}'s certificate names the desks {}; an operator of the {} desk cannot work here",
                state.store.role(),
                desk_list(&certified),
                new.desk
            ),
        )
        .field("desk"));
    }
    if let Some(password) = &new.password {
        crate::operators::check_password_rules(password)
            .map_err(|e| ApiError::bad_request("password", e.to_string()))?;
    }
    let now = state.store.now_ms();
    let expires_ms = new
        .valid_for_s
        .map(|s| now.saturating_add(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)));
    let operators = state.operators.clone();
    let (name, desk) = (new.name.clone(), new.desk);
    let entry = NewEntry {
        name: new.name,
        desk: new.desk,
        expires_ms,
        added_by: Some(op.name.clone()),
    };
    let password = new.password;
    let (token, setup_code) = operators_change(move || {
        let who = entry.name.clone();
        let token = operators.add_entry(entry, now)?;
        let code = match password {
            Some(p) => {
                operators.set_password(&who, &p)?;
                None
            }
            None => operators.issue_setup_code(&who)?,
        };
        Ok((token, code))
    })
    .await?;
    let login = if setup_code.is_some() {
        "console setup code issued"
    } else {
        "console password set"
    };
    let until = expires_ms.map_or("no expiry".to_owned(), |ms| format!("expires at {ms} ms"));
    let until = format!("{until}, {login}");
    audit(
        &state,
        op.clone(),
        "operator.add",
        format!("{name} ({desk} desk), {until}"),
    )
    .await?;
    tracing::info!(operator = %name, %desk, by = %op.name, "operator added");
    Ok((
        StatusCode::CREATED,
        Json(AddedOperator {
            name: name.to_string(),
            desk,
            token,
            expires_ms,
            setup_code,
        }),
    ))
}

async fn remove_operator(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Path(name): Path<String>,
) -> Result<Json<Written<String>>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let name = OperatorName::new(name).map_err(|e| ApiError::bad_request("name", chain(&e)))?;
    if name.as_str() == BUILT_IN_ADMIN {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            "the CLI's own administrator cannot be removed (give it a new token with `lifeline operator rotate-admin-token`)",
        )
        .field("name"));
    }
    let operators = state.operators.clone();
    let gone = name.clone();
    if !operators_change(move || operators.remove(&gone)).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no operator {name}"),
        ));
    }
    audit(&state, op.clone(), "operator.remove", name.to_string()).await?;
    tracing::info!(operator = %name, by = %op.name, "operator removed");
    Ok(Json(Written::from_saved(lifeline_core::desk::Saved {
        value: name.to_string(),
        warnings: Vec::new(),
    })))
}

/// Catalog CSV texts; absent ones are left as they are.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogCsv {
    pub drugs_csv: Option<String>,
    pub services_csv: Option<String>,
    pub departments_csv: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CatalogVersions {
    pub drug_catalog_version: u64,
    pub service_catalog_version: u64,
}

async fn catalog_import(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<CatalogCsv>,
) -> Result<Json<Written<CatalogVersions>>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let csv = |e: lifeline_core::desk::CsvError| ApiError::bad_request(e.file, chain(&e));
    let import = CatalogImport {
        drugs: req
            .drugs_csv
            .as_deref()
            .map(parse_drugs)
            .transpose()
            .map_err(csv)?,
        services: req
            .services_csv
            .as_deref()
            .map(parse_services)
            .transpose()
            .map_err(csv)?,
        departments: req
            .departments_csv
            .as_deref()
            .map(parse_departments)
            .transpose()
            .map_err(csv)?,
        doctors: None,
    };
    let store = state.store.clone();
    let saved = blocking(move || store.import_catalog(&op, import)).await?;
    Ok(Json(Written::from_saved(lifeline_core::desk::Saved {
        value: CatalogVersions {
            drug_catalog_version: saved.value.0,
            service_catalog_version: saved.value.1,
        },
        warnings: saved.warnings,
    })))
}

/// The new admin token, written to the data directory (and answered, for the caller).
#[derive(Debug, Serialize, Deserialize)]
pub struct RotatedToken {
    pub path: String,
    pub token: String,
}

/// Gives the `admin` operator a new token and writes it to `admin.token`; the old one stops
/// working at once.
async fn rotate_admin_token(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<RotatedToken>, ApiError> {
    admin_only(&op, ADMINISTER)?;
    let operators = state.operators.clone();
    let path = state.runtime.config.admin_token_path();
    let now = state.store.now_ms();
    let internal =
        |e: anyhow::Error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", chain(&*e));
    let shown = path.display().to_string();
    let token = blocking(move || {
        let token = operators
            .add(admin_name(), DeskRole::Admin, now)
            .map_err(internal)?;
        crate::operators::write_secret(&path, &token).map_err(internal)?;
        Ok::<_, ApiError>(token)
    })
    .await?;
    audit(
        &state,
        op.clone(),
        "operator.rotate_admin_token",
        BUILT_IN_ADMIN.to_owned(),
    )
    .await?;
    tracing::warn!(by = %op.name, "the admin token was rotated");
    Ok(Json(RotatedToken { path: shown, token }))
}
