//! The desks' local HTTP API (axum, JSON, loopback only).
//!
//! Every request carries `Authorization: Bearer <token>` of an operator added with
//! `lifeline operator add`; every change records that operator. Writes answer only after the
//! durable commit, and say so (`"durable": true`). A bad request gets a 4xx with a JSON error
//! naming the field, and nothing is written. Store calls block, so they run on the blocking
//! pool.

pub mod admin;
pub mod backup;
mod desk;
pub mod emergency;
pub mod export;
pub mod his;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod ranges;
mod review;
pub mod status;
pub mod trust;

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use lifeline_core::store::ReadError;
use lifeline_core::{DeskRole, Operator, RuleError, Store, WriteError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::daemon::runtime::Runtime;
use crate::error::chain;
use crate::operators::Operators;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub store: Store,
    pub operators: Arc<Operators>,
    pub runtime: Arc<Runtime>,
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    router_with(state, Router::new())
}

/// The whole API with `more` routes beside it (the desk console's: see
/// `crate::console::app`), under the same fallback and limits.
pub fn router_with(state: ApiState, more: Router<ApiState>) -> Router {
    let timed = axum::middleware::from_fn_with_state(state.clone(), metrics::time_desk_writes);
    Router::new()
        .merge(desk::routes().layer(timed))
        .merge(admin::routes())
        .merge(status::routes())
        .merge(emergency::routes())
        .merge(ranges::routes())
        .merge(backup::routes())
        .merge(review::routes())
        .merge(his::routes())
        .merge(export::routes())
        .merge(trust::routes())
        .merge(more)
        .route("/openapi.json", axum::routing::get(openapi::serve))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(axum::middleware::from_fn(http::limit_uri))
        .with_state(state)
}

/// An error as the desks see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).field(field)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a ApiError,
        }
        (self.status, Json(Body { error: &self })).into_response()
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        let message = chain(&e);
        match e {
            RuleError::NotPermitted { .. }
            | RuleError::CentralOnly { .. }
            | RuleError::NodeMayNotWrite { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            RuleError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            RuleError::Invalid { field, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).field(field)
            }
            RuleError::WrongKind { .. } | RuleError::UnknownCode { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
            }
            _ => ApiError::new(StatusCode::CONFLICT, "refused", message),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        let message = chain(&e);
        tracing::error!(error = message, "store read failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", message)
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Rule(r) => r.into(),
            WriteError::Read(r) => r.into(),
            WriteError::StoreDamaged => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_damaged", chain(&e))
            }
            other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_saved", chain(&other)),
        }
    }
}

/// Refuses every desk but the information department's: `a {desk} desk may not {what}`.
pub fn admin_only(op: &Operator, what: &str) -> Result<(), ApiError> {
    if op.desk == DeskRole::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("a {} desk may not {what}", op.desk),
        ))
    }
}

/// A durable write's answer.
#[derive(Debug, Serialize)]
pub struct Written<T: Serialize> {
    /// Always true: the answer is sent after the commit returned.
    pub durable: bool,
    pub value: T,
    pub warnings: Vec<lifeline_core::desk::Warning>,
}

impl<T: Serialize> Written<T> {
    pub fn from_saved(saved: lifeline_core::desk::Saved<T>) -> Self {
        Written {
            durable: true,
            value: saved.value,
            warnings: saved.warnings,
        }
    }
}

/// Runs a blocking store call off the async threads.
pub async fn blocking<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(Into::into),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the request failed inside the node: {}", chain(&e)),
        )),
    }
}

/// The authenticated operator of a request.
#[derive(Debug, Clone)]
pub struct Authed(pub Operator);

impl FromRequestParts<ApiState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "missing Authorization: Bearer <token>",
                )
                .field("Authorization")
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Authorization must be `Bearer <token>`",
                )
                .field("Authorization")
            })?;
        let op = state
            .operators
            .authenticate(token.trim(), state.store.now_ms())
            .map_err(|e| {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string())
            })?;
        // A person acting from the CLI names themselves; the token must be theirs.
        if let Some(claimed) = parts.headers.get(OPERATOR_HEADER) {
            let claimed = claimed.to_str().unwrap_or_default();
            if claimed != op.name.as_str() {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    format!("the token is {}'s, not {claimed:?}'s", op.name),
                )
                .field(OPERATOR_HEADER));
            }
        }
        Ok(Authed(op))
    }
}

/// The header a person acting from the CLI names themselves in (`--operator`); a request
/// whose token is someone else's is refused.
pub const OPERATOR_HEADER: &str = "x-lifeline-operator";

/// The largest request body read (axum's default limit).
pub const BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

/// A JSON body whose errors name the field at fault.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    let detail = match &rejection {
        JsonRejection::JsonDataError(e) => std::error::Error::source(e)
            .map(ToString::to_string)
            .unwrap_or_else(|| e.body_text()),
        JsonRejection::JsonSyntaxError(e) => std::error::Error::source(e)
            .map(ToString::to_string)
            .unwrap_or_else(|| e.body_text()),
        other => other.body_text(),
    };
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than the {BODY_LIMIT_BYTES} bytes accepted"),
        );
    }
    let field = field_in(&detail);
    let code = match rejection {
        JsonRejection::JsonSyntaxError(_) => "malformed_json",
        JsonRejection::MissingJsonContentType(_) => "not_json",
        _ => "invalid",
    };
    let status = match code {
        "malformed_json" | "not_json" => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let mut err = ApiError::new(status, code, detail);
    err.field = field;
    err
}

/// The field serde's message is about: `unknown field `x``, `missing field `x``, or a path
/// `items[0].quantity: ...`.
fn field_in(detail: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(rest) = detail.split(marker).nth(1) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    let path = detail.split(": ").next()?;
    (path != detail && !path.contains(' ')).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(
            field_in("unknown field `colour`, expected one of `a`"),
            Some("colour".into())
        );
        assert_eq!(
            field_in("missing field `name` at line 1 column 2"),
            Some("name".into())
        );
        assert_eq!(
            field_in("items[0].quantity: invalid type"),
            Some("items[0].quantity".into())
        );
        assert_eq!(field_in("EOF while parsing"), None);
    }
}
