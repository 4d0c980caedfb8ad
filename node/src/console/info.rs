//! The information department's page: the node's status (mode, episode, peers, what waits
//! for central), the conflicts with resolve and merge, the recovery worklist, the episodes
//! with their grade and outage report, and the number ranges. The reports are the ones
//! `lifeline conflicts` and `lifeline episode report` write as HTML, in the operator's
//! language.

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lifeline_core::review::{Resolution, WorkCategory, Worklist};
use lifeline_core::store::StoreStats;
use lifeline_core::{DeskRole, RecordId};
use maud::{Markup, html};
use serde::Deserialize;

use super::session::Staff;
use super::{ConsoleState, csrf_field, guard, only, page, problem};
use crate::api::{ApiError, blocking};
use crate::i18n::{Lang, t, tr};
use crate::report::build::{conflicts as built, outage};
use crate::report::conflicts::{ActionView, ConflictReport};
use crate::report::words::display_value;
use crate::report::{Format, RenderOptions};

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/info", get(info))
        .route("/console/info/conflicts", get(conflicts))
        .route("/console/info/conflicts/{id}/{choice}", post(resolve))
        .route("/console/info/merge", post(merge))
        .route("/console/info/reports/conflicts", get(conflict_report))
        .route("/console/info/episodes/{id}/report", get(episode_report))
}

struct Overview {
    stats: StoreStats,
    worklist: Worklist,
    episodes: Vec<lifeline_core::desk::EpisodeSummary>,
    ranges: Vec<lifeline_core::numbers::RangeState>,
}

async fn overview(state: &ConsoleState) -> Result<Overview, ApiError> {
    let store = state.api.store.clone();
    blocking(move || {
        Ok::<_, ApiError>(Overview {
            stats: store.stats()?,
            worklist: store.worklist()?,
            episodes: store.episodes()?,
            ranges: store.ranges()?,
        })
    })
    .await
}

fn category_text(l: Lang, c: WorkCategory) -> String {
    crate::i18n::t(l, &format!("work-{}", c.name()))
}

/// Every worklist category, for the catalog test.
#[cfg(test)]
pub fn categories() -> Vec<&'static str> {
    use WorkCategory as W;
    [
        W::DispenseEmergencyPrescription,
        W::RestorePausedVisit,
        W::ResettleInsurance,
        W::MergeDuplicatePatient,
        W::ReviewConflict,
    ]
    .map(W::name)
    .to_vec()
}

async fn info_page(state: &ConsoleState, s: &Staff, error: Option<ApiError>) -> Response {
    let l = s.lang;
    let o = overview(state).await;
    let peers = state.api.runtime.peers();
    let body = html! {
        @if let Some(e) = &error { (problem(l, e)) }
        section.card {
            h2 { (t(l, "info-peers")) }
            table.list #peers { tbody {
                @for p in &peers {
                    tr { td { (p.name) } td { @if p.connected { (t(l, "info-connected")) } @else { strong.red { (t(l, "info-disconnected")) } } } }
                }
            } }
        }
        @match &o {
            Err(e) => (problem(l, e)),
            Ok(o) => (overview_markup(state, s, o)),
        }
    };
    let banner = super::banner::banner(state).await;
    let html = page(l, Some(s), &banner, &t(l, "info-title"), body);
    match error {
        Some(e) => (e.status, html).into_response(),
        None => html.into_response(),
    }
}

fn overview_markup(state: &ConsoleState, s: &Staff, o: &Overview) -> Markup {
    let l = s.lang;
    // The worklist lists every open conflict: the count without a second scan.
    let open = o.worklist.count(WorkCategory::ReviewConflict);
    html! {
        section.card {
            h2 { (t(l, "info-status")) }
            dl {
                dt { (t(l, "info-records")) } dd { (o.stats.records) }
                dt { (t(l, "info-unreconciled")) } dd #unreconciled { (o.stats.unreconciled) }
                dt { (t(l, "info-open-conflicts")) } dd { (open) }
                dt { (t(l, "info-worklist")) } dd { (o.worklist.len()) }
            }
        }
        p {
            a #conflicts-link href="/console/info/conflicts" { (t(l, "info-conflicts")) " (" (open) ")" }
            " · "
            a #conflict-report href="/console/info/reports/conflicts" { (t(l, "report-conflicts-heading")) }
        }
        section.card {
            h2 { (t(l, "info-worklist")) }
            @if o.worklist.is_empty() { p.empty { (t(l, "info-none")) } }
            ul { @for item in o.worklist.items.iter().take(200) {
                li { (tr(l, "info-work-item", &[
                    ("category", category_text(l, item.category).into()),
                    ("patient", item.patient_name.clone().unwrap_or_default().into()),
                    ("what", crate::i18n::codes::pending(l, &item.pending).into()),
                ])) }
            } }
        }
        section.card {
            h2 { (t(l, "info-episodes")) }
            table.list { tbody {
                @for e in &o.episodes {
                    tr {
                        td { (e.episode.episode_id.to_string()) }
                        td { (super::local_time(state, e.episode.opened_ms)) }
                        td { (e.episode.closed_ms.map(|ms| super::local_time(state, ms)).unwrap_or_else(|| t(l, "info-open"))) }
                        td { (t(l, "info-grade")) " " (e.grade) }
                        td { a.episode-report href={ "/console/info/episodes/" (e.episode.episode_id.to_string()) "/report" } { (t(l, "report-outage-kind")) } }
                    }
                }
            } }
        }
        section.card {
            h2 { (t(l, "info-ranges")) }
            table.list { tbody {
                @for r in &o.ranges {
                    tr { td { (r.range.series.name()) } td { (r.range.start) "–" (r.range.end) } td { (t(l, "info-next")) " " (r.next) } td { (t(l, "info-remaining")) " " (r.remaining()) } }
                }
            } }
        }
    }
}

/// The conflict review report as the CLI reads it back, built from this node's store.
async fn conflict_view(state: &ConsoleState) -> Result<ConflictReport, ApiError> {
    let store = state.api.store.clone();
    let out = blocking(move || built::build(&store)).await?;
    serde_json::to_value(&out)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the conflict report does not read back: {e}"),
            )
        })
}

/// The conflicts page: each open conflict, titled and with its competing values in the
/// operator's language, with the decisions it allows.
async fn conflicts_page(state: &ConsoleState, s: &Staff, error: Option<ApiError>) -> Response {
    let l = s.lang;
    let found = conflict_view(state).await;
    let body = html! {
        @if let Some(e) = &error { (problem(l, e)) }
        p { a href="/console/info" { (t(l, "info-title")) } }
        @match &found {
            Err(e) => (problem(l, e)),
            Ok(report) => {
                @let open: Vec<_> = report.conflicts.iter().filter(|c| !c.actions.is_empty()).collect();
        section.card #conflicts {
                    h2 { (t(l, "info-conflicts")) }
                    @if open.is_empty() { p.empty { (t(l, "info-none")) } }
                    @for c in &open {
                        div.conflict data-conflict=(c.id) {
                            p { strong { (c.title(l)) } }
                            @if !c.values.is_empty() {
                                ul { @for v in &c.values {
                                    li { (v.index) ". " (display_value(l, &v.value)) " · " (v.node.clone().unwrap_or_default()) " " (v.operator.clone().unwrap_or_default()) }
                                } }
                            }
                            @for a in &c.actions {
                                @match a {
                                    ActionView::Confirm => (choice_form(s, &c.id, "confirm", &t(l, "info-confirm"))),
                                    ActionView::KeepSeparate => (choice_form(s, &c.id, "keep_separate", &t(l, "info-keep-separate"))),
                                    ActionView::ChooseValue { index, value } => (choice_form(s, &c.id, &format!("value-{index}"), &format!("{} {}", t(l, "info-choose"), display_value(l, value)))),
                                    ActionView::MergePatients { survivor, duplicate } => {
                                        form.inline method="post" action="/console/info/merge" {
                                            (csrf_field(s))
                                            input type="hidden" name="survivor" value=(survivor);
                                            input type="hidden" name="duplicate" value=(duplicate);
                                            button type="submit" { (t(l, "info-merge")) }
                                        }
                                    },
                                    ActionView::Other => {},
                                }
                            }
                        }
                    }
                }
                    },
        }
    };
    let banner = super::banner::banner(state).await;
    let html = page(l, Some(s), &banner, &t(l, "info-conflicts"), body);
    match error {
        Some(e) => (e.status, html).into_response(),
        None => html.into_response(),
    }
}

/// A report page as the CLI's `--format html` writes it, in `l` and the hospital's time.
fn report_page(l: Lang, html: anyhow::Result<String>) -> Response {
    match html {
        Ok(html) => ([(header::CONTENT_TYPE, Format::Html.content_type())], html).into_response(),
        Err(e) => {
            let e = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                crate::error::chain(&*e),
            );
            super::refused(e.status, l, &e)
        }
    }
}

fn render_options(state: &ConsoleState, l: Lang) -> RenderOptions {
    RenderOptions {
        utc_offset: super::offset(state),
        lang: l,
        ..RenderOptions::default()
    }
}

async fn conflict_report(State(state): State<ConsoleState>, s: Staff) -> Response {
    if let Some(r) = only(&s, DeskRole::Admin) {
        return r;
    }
    let l = s.lang;
    match conflict_view(&state).await {
        Ok(report) => report_page(
            l,
            crate::report::render_conflicts(&report, Format::Html, &render_options(&state, l)),
        ),
        Err(e) => super::refused(e.status, l, &e),
    }
}

async fn episode_report(
    State(state): State<ConsoleState>,
    s: Staff,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = only(&s, DeskRole::Admin) {
        return r;
    }
    let l = s.lang;
    let store = state.api.store.clone();
    let offset = super::offset(&state);
    let found = blocking(move || match outage::select(&store, &id)? {
        outage::Selection::Found(id) => Ok(outage::build(&store, &id, offset)?),
        outage::Selection::None => Ok(None),
        outage::Selection::Invalid(why) => Err(ApiError::bad_request("id", why)),
    })
    .await;
    match found {
        Ok(Some(report)) => report_page(
            l,
            crate::report::render_outage(&report, Format::Html, &render_options(&state, l)),
        ),
        Ok(None) => {
            let e = ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such emergency episode on this node",
            );
            super::refused(e.status, l, &e)
        }
        Err(e) => super::refused(e.status, l, &e),
    }
}

pub(super) async fn conflicts(State(state): State<ConsoleState>, s: Staff) -> Response {
    if let Some(r) = only(&s, DeskRole::Admin) {
        return r;
    }
    conflicts_page(&state, &s, None).await
}

fn choice_form(s: &Staff, conflict: &str, choice: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action={ "/console/info/conflicts/" (conflict) "/" (choice) } {
            (csrf_field(s))
            button type="submit" { (label) }
        }
    }
}

pub(super) async fn info(State(state): State<ConsoleState>, s: Staff) -> Response {
    if let Some(r) = only(&s, DeskRole::Admin) {
        return r;
    }
    info_page(&state, &s, None).await
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfOnly {
    csrf: String,
}

pub(super) async fn resolve(
    State(state): State<ConsoleState>,
    s: Staff,
    Path((id, choice)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(r) = guard(&s, &f.csrf, DeskRole::Admin) {
        return r;
    }
    let resolution = match choice.as_str() {
        "confirm" => Resolution::Confirm,
        "keep_separate" => Resolution::KeepSeparate,
        other => match other.strip_prefix("value-").and_then(|n| n.parse().ok()) {
            Some(n) => Resolution::ChooseValue(n),
            None => {
                let e = ApiError::bad_request("choice", "confirm, keep_separate or value-N");
                return conflicts_page(&state, &s, Some(e)).await;
            }
        },
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    match blocking(move || store.resolve_conflict(&op, &id, resolution)).await {
        Ok(_) => Redirect::to("/console/info/conflicts").into_response(),
        Err(e) => conflicts_page(&state, &s, Some(e)).await,
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct MergeForm {
    csrf: String,
    survivor: String,
    duplicate: String,
}

pub(super) async fn merge(
    State(state): State<ConsoleState>,
    s: Staff,
    Form(f): Form<MergeForm>,
) -> Response {
    if let Some(r) = guard(&s, &f.csrf, DeskRole::Admin) {
        return r;
    }
    let ids = (
        f.survivor.parse::<RecordId>(),
        f.duplicate.parse::<RecordId>(),
    );
    let (Ok(survivor), Ok(duplicate)) = ids else {
        let e = ApiError::bad_request("survivor", "not a record id");
        return conflicts_page(&state, &s, Some(e)).await;
    };
    let store = state.api.store.clone();
    let op = s.op.clone();
    match blocking(move || store.merge_patients(&op, survivor, duplicate)).await {
        Ok(_) => Redirect::to("/console/info/conflicts").into_response(),
        Err(e) => conflicts_page(&state, &s, Some(e)).await,
    }
}
