//! Review endpoints for the information department (desk role `admin`): the conflict review
//! report, review decisions (recorded as changes: replicated with the records and audited),
//! the recovery worklist, the emergency episodes and their outage reports, and the audit
//! trail.
//!
//! - `GET /admin/conflicts[?format=json|text|html&lang=zh|en]`: the conflict review report
//!   ([`crate::report::ConflictReport`]); as JSON by default, or rendered as the CLI renders it
//!   (text, or the self-contained HTML page) in `lang`, else the console's language cookie,
//!   else Chinese;
//! - `POST /admin/conflicts/{id}/resolve` with `{"choice": "confirm" | "keep_separate" |
//!   {"choose_value": N}}`;
//! - `POST /admin/patients/merge` with `{"survivor": ID, "duplicate": ID}`;
//! - `GET /admin/worklist[?overdue=true]`: core's recovery worklist (or its overdue view);
//! - `GET /admin/episodes`: every episode, newest first;
//! - `GET /admin/episodes/{id}/report[?format=..&lang=..]`: the outage report (`latest`,
//!   `current` or an id), in the same formats;
//! - `GET /admin/audit?action=PREFIX&from=SEQ&limit=N`: audit entries, e.g. `review.`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lifeline_core::RecordId;
use lifeline_core::desk::Saved;
use lifeline_core::review::{Resolution, ReviewRecord, Worklist};
use lifeline_core::store::AuditEntry;
use serde::Deserialize;

use super::{ApiError, ApiState, Authed, Body, Written, admin_only, blocking};
use crate::i18n::Lang;
use crate::report::build::conflicts;
use crate::report::build::outage::{self, Selection};
use crate::report::{ConflictReport, EpisodeLine, Format, OutageReport, RenderOptions};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/conflicts", get(list_conflicts))
        .route("/admin/conflicts/{id}/resolve", post(resolve))
        .route("/admin/patients/merge", post(merge))
        .route("/admin/worklist", get(worklist))
        .route("/admin/episodes", get(list_episodes))
        .route("/admin/episodes/{id}/report", get(episode_report))
        .route("/admin/audit", get(audit))
}

/// What the other desks may not do here.
const REVIEW: &str = "review conflicts or read reports";

/// A review decision is a person's: the node's built-in administrator (whose token the CLI
/// holds) may read reports, but decides nothing, so the audit always says who decided.
fn a_person(op: &lifeline_core::Operator) -> Result<(), ApiError> {
    if op.name.as_str() == crate::operators::BUILT_IN_ADMIN {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "review decisions are made under a person's own name: add yourself with \
             `lifeline operator add --desk admin` and decide with --operator NAME and your token",
        ));
    }
    Ok(())
}

/// `?format=json|text|html&lang=zh|en` of a report.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub format: Option<String>,
    pub lang: Option<String>,
}

/// A report's format and language from its query, with the browser's language cookie.
fn wanted(
    query: Result<Query<ReportQuery>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<(Format, Lang), ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    let format = match q.format.as_deref() {
        None => Format::Json,
        Some(f) => Format::parse(f)
            .ok_or_else(|| ApiError::bad_request("format", "expected json, text or html"))?,
    };
    let lang = match q.lang.as_deref() {
        Some(code) => Lang::from_code(code)
            .ok_or_else(|| ApiError::bad_request("lang", "expected zh or en"))?,
        None => crate::i18n::from_cookies(headers).unwrap_or_default(),
    };
    Ok((format, lang))
}

/// The options of a report the node renders itself: its hospital's offset, in `lang`.
fn render_options(state: &ApiState, lang: Lang) -> RenderOptions {
    RenderOptions {
        utc_offset: state.runtime.config.hospital.utc_offset,
        lang,
        ..RenderOptions::default()
    }
}

/// A rendered report as the answer, typed by its format.
fn rendered(format: Format, text: anyhow::Result<String>) -> Result<Response, ApiError> {
    let text = text.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            crate::error::chain(&*e),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], text).into_response())
}

async fn list_conflicts(
    State(state): State<ApiState>,
    Authed(op): Authed,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    admin_only(&op, REVIEW)?;
    let (format, lang) = wanted(query, &headers)?;
    let store = state.store.clone();
    let out = blocking(move || conflicts::build(&store)).await?;
    if format == Format::Json {
        return Ok(Json(out).into_response());
    }
    // Rendered from the document as the CLI reads it back, so both render the same report.
    let report: ConflictReport = serde_json::to_value(&out)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the conflict report does not read back: {e}"),
            )
        })?;
    let opts = render_options(&state, lang);
    rendered(
        format,
        crate::report::render_conflicts(&report, format, &opts),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// `"confirm"`, `"keep_separate"` or `{"choose_value": N}`.
    pub choice: Resolution,
}

async fn resolve(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Path(id): Path<String>,
    Body(req): Body<ResolveRequest>,
) -> Result<Json<Written<ReviewRecord>>, ApiError> {
    admin_only(&op, REVIEW)?;
    a_person(&op)?;
    let store = state.store.clone();
    let saved = blocking(move || store.resolve_conflict(&op, &id, req.choice)).await?;
    Ok(recorded(saved, "review decision recorded"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    pub survivor: RecordId,
    pub duplicate: RecordId,
}

async fn merge(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Body(req): Body<MergeRequest>,
) -> Result<Json<Written<ReviewRecord>>, ApiError> {
    admin_only(&op, REVIEW)?;
    a_person(&op)?;
    let store = state.store.clone();
    let saved = blocking(move || store.merge_patients(&op, req.survivor, req.duplicate)).await?;
    Ok(recorded(saved, "patients merged"))
}

/// Logs a review decision (`what` happened) and answers with it.
fn recorded(saved: Saved<ReviewRecord>, what: &str) -> Json<Written<ReviewRecord>> {
    tracing::info!(
        conflict = %saved.value.conflict,
        decision = %saved.value.decision,
        operator = %saved.value.operator,
        "{what}"
    );
    Json(Written::from_saved(saved))
}

/// `GET /admin/worklist?overdue=true`: only what is past its due date.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorklistQuery {
    #[serde(default)]
    pub overdue: bool,
}

async fn worklist(
    State(state): State<ApiState>,
    Authed(op): Authed,
    query: Result<Query<WorklistQuery>, QueryRejection>,
) -> Result<Json<Worklist>, ApiError> {
    admin_only(&op, REVIEW)?;
    let Query(q) = query.map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text()).field("overdue")
    })?;
    let store = state.store.clone();
    let list = blocking(move || store.worklist()).await?;
    Ok(Json(if q.overdue { list.only_overdue() } else { list }))
}

async fn list_episodes(
    State(state): State<ApiState>,
    Authed(op): Authed,
) -> Result<Json<Vec<EpisodeLine>>, ApiError> {
    admin_only(&op, REVIEW)?;
    let store = state.store.clone();
    let offset = state.runtime.config.hospital.utc_offset;
    let all = blocking(move || store.episodes()).await?;
    Ok(Json(
        all.iter()
            .map(|s| outage::episode_line(s, offset))
            .collect(),
    ))
}

async fn episode_report(
    State(state): State<ApiState>,
    Authed(op): Authed,
    Path(which): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    admin_only(&op, REVIEW)?;
    let (format, lang) = wanted(query, &headers)?;
    let store = state.store.clone();
    let offset = state.runtime.config.hospital.utc_offset;
    let report = blocking(move || -> Result<Option<OutageReport>, ApiError> {
        match outage::select(&store, &which)? {
            Selection::Found(id) => Ok(outage::build(&store, &id, offset)?),
            Selection::None => Ok(None),
            Selection::Invalid(why) => Err(ApiError::bad_request("id", why)),
        }
    })
    .await?;
    let report = report.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such emergency episode on this node",
        )
    })?;
    if format == Format::Json {
        return Ok(Json(report).into_response());
    }
    let opts = render_options(&state, lang);
    rendered(format, crate::report::render_outage(&report, format, &opts))
}

/// Most audit entries one request answers with.
const AUDIT_LIMIT: usize = 1000;
/// Most entries one request reads while filtering.
const AUDIT_SCAN: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries whose action starts with this, e.g. `review.`.
    pub action: Option<String>,
    /// The first sequence number to read.
    #[serde(default)]
    pub from: u64,
    pub limit: Option<usize>,
}

async fn audit(
    State(state): State<ApiState>,
    Authed(op): Authed,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    admin_only(&op, REVIEW)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(AUDIT_LIMIT).min(AUDIT_LIMIT);
    let store = state.store.clone();
    let entries = blocking(move || {
        let mut out = Vec::new();
        let mut from = q.from;
        let mut scanned = 0;
        while out.len() < limit && scanned < AUDIT_SCAN {
            let page = store.audit_entries(from, 1000)?;
            let Some(last) = page.last() else { break };
            from = last.seq + 1;
            scanned += page.len();
            out.extend(page.into_iter().filter(|e| {
                q.action
                    .as_deref()
                    .is_none_or(|prefix| e.action.starts_with(prefix))
            }));
        }
        out.truncate(limit);
        Ok::<_, lifeline_core::ReadError>(out)
    })
    .await?;
    Ok(Json(entries))
}
