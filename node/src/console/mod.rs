//! The desk console: the pages the desks work in, served by the node on its loopback API
//! address (`/` → `/console`). Server-rendered HTML (maud) with a little plain JavaScript,
//! every asset embedded in the binary. Text comes from the message catalogs
//! ([`crate::i18n`]), Chinese by default. Each desk sees its own page only; the desk
//! operations are the core's, which check the desk's permission and the rules again.
//!
//! Log-in, sessions, CSRF and lock-out are in [`session`] and [`login`]; the banner every
//! page carries (normal, the episode, the primary, isolation) in [`banner`], refreshed by
//! `console.js` from `/console/banner.json`; printouts in [`print`].

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lifeline_core::DeskRole;
use maud::{DOCTYPE, Markup, html};

use crate::api::{ApiError, ApiState};
use crate::i18n::{Lang, t, ta};

mod banner;
mod cashier;
mod clinic;
mod doctor;
mod info;
mod login;
mod print;
mod receipts;
mod registration;
mod session;

pub use session::Sessions;

#[cfg(test)]
pub use clinic::status_names;
#[cfg(test)]
pub use info::categories;

/// The console's sources, for the test that every message key they use is in the catalogs.
#[cfg(test)]
pub const SOURCES: &[(&str, &str)] = &[
    ("mod.rs", include_str!("mod.rs")),
    ("banner.rs", include_str!("banner.rs")),
    ("cashier.rs", include_str!("cashier.rs")),
    ("clinic.rs", include_str!("clinic.rs")),
    ("doctor/mod.rs", include_str!("doctor/mod.rs")),
    ("doctor/lines.rs", include_str!("doctor/lines.rs")),
    ("doctor/lists.rs", include_str!("doctor/lists.rs")),
    ("doctor/orders.rs", include_str!("doctor/orders.rs")),
    ("doctor/search.rs", include_str!("doctor/search.rs")),
    ("info.rs", include_str!("info.rs")),
    ("login.rs", include_str!("login.rs")),
    ("print.rs", include_str!("print.rs")),
    ("receipts.rs", include_str!("receipts.rs")),
    ("registration.rs", include_str!("registration.rs")),
];

/// What the console's handlers reach: the API's state, the sessions and the doctor's
/// searches' lists (drugs, service items).
#[derive(Debug, Clone)]
pub struct ConsoleState {
    pub api: ApiState,
    pub sessions: Arc<Sessions>,
    pub drugs: Arc<doctor::lists::CatalogIndex>,
    pub services: Arc<doctor::lists::CatalogIndex>,
}

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The node's whole HTTP application on its API address: the API, and the console beside it.
pub fn app(api: ApiState) -> Router {
    crate::api::router_with(api.clone(), router(api))
}

/// The console's routes, merged into the API's router.
pub fn router(api: ApiState) -> Router<ApiState> {
    let state = ConsoleState {
        api,
        sessions: Arc::new(Sessions::default()),
        drugs: Arc::new(doctor::lists::CatalogIndex::drugs()),
        services: Arc::new(doctor::lists::CatalogIndex::services()),
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(login::home))
        .route("/console/login", get(login::login_page).post(login::login))
        .route("/console/logout", post(login::logout))
        .route(
            "/console/password",
            get(login::password_page).post(login::choose_password),
        )
        .route("/console/lang/{code}", get(login::switch_language))
        .route("/console/banner.json", get(banner::banner_json))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .merge(registration::routes())
        .merge(clinic::routes())
        .merge(doctor::routes())
        .merge(cashier::routes())
        .merge(info::routes())
        .merge(print::routes())
        .merge(receipts::routes())
        .with_state(state)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The page of each desk.
pub fn desk_path(desk: DeskRole) -> &'static str {
    match desk {
        DeskRole::Registration => "/console/registration",
        DeskRole::Triage => "/console/triage",
        DeskRole::Doctor => "/console/doctor",
        DeskRole::Cashier => "/console/cashier",
        DeskRole::Pharmacy => "/console/pharmacy",
        DeskRole::Admin => "/console/info",
    }
}

/// The desk's name as staff read it.
pub fn desk_name(l: Lang, desk: DeskRole) -> String {
    match desk {
        DeskRole::Registration => t(l, "desk-registration"),
        DeskRole::Triage => t(l, "desk-triage"),
        DeskRole::Doctor => t(l, "desk-doctor"),
        DeskRole::Cashier => t(l, "desk-cashier"),
        DeskRole::Pharmacy => t(l, "desk-pharmacy"),
        DeskRole::Admin => t(l, "desk-admin"),
    }
}

/// A whole page: the banner, the desk's header, and `body`.
pub fn page(
    l: Lang,
    staff: Option<&session::Staff>,
    banner: &banner::Banner,
    title: &str,
    body: Markup,
) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang=(l.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t(l, "app-name")) }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                (banner.markup(l))
                header.top.no-print {
                    span.app { (t(l, "app-name")) }
                    @if let Some(s) = staff {
                        span.who { (desk_name(l, s.op.desk)) " · " (s.op.name.as_str()) }
                    }
                    nav {
                        @match l {
                            Lang::Zh => a href="/console/lang/en" lang="en" { "English" },
                            Lang::En => a href="/console/lang/zh" lang="zh-CN" { "中文" },
                        }
                        @if let Some(s) = staff {
                            form.inline method="post" action="/console/logout" {
                                (csrf_field(s))
                                button type="submit" { (t(l, "logout")) }
                            }
                        }
                    }
                }
                main id="main" {
                    h1.no-print { (title) }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string())
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(s: &session::Staff) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// An error as staff read it: the message for its code, the field, and the detail.
pub fn problem(l: Lang, e: &ApiError) -> Markup {
    let key = format!("error-{}", e.code);
    let mut head = crate::i18n::t(l, &key);
    if head == key {
        head = t(l, "error-other");
    }
    html! {
        div.problem role="alert" {
            strong { (head) }
            @if let Some(f) = &e.field {
                " " (ta(l, "error-field", &[("field", f)]))
            }
            div.detail { (e.message) }
        }
    }
}

/// The API error codes the console shows in staff's words.
#[cfg(test)]
pub const ERROR_CODES: &[&str] = &[
    "forbidden",
    "not_found",
    "invalid",
    "refused",
    "storage",
    "not_saved",
    "store_damaged",
    "internal",
    "catalog_missing",
    "csrf",
    "other",
];

/// A refusal page: the desk may not open this page, or a form was not this session's.
pub fn refused(status: StatusCode, l: Lang, e: &ApiError) -> Response {
    let body = html! {
        (problem(l, e))
        p { a href="/console" autofocus { (t(l, "back-to-desk")) } }
    };
    let banner = banner::Banner::unknown();
    (status, page(l, None, &banner, &t(l, "refused-title"), body)).into_response()
}

/// The refusal of a form whose CSRF token is not the session's, if it is not.
pub fn check_csrf(s: &session::Staff, token: &str) -> Option<Response> {
    if s.csrf_ok(token) {
        return None;
    }
    let e = ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "the form did not come from this session's page",
    );
    Some(refused(StatusCode::FORBIDDEN, s.lang, &e))
}

/// The refusal of a desk's page to any other desk's operator, if it is one.
pub fn only(s: &session::Staff, desk: DeskRole) -> Option<Response> {
    if s.op.desk == desk {
        return None;
    }
    let e = ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("a {} desk may not open the {} page", s.op.desk, desk),
    );
    Some(refused(StatusCode::FORBIDDEN, s.lang, &e))
}

/// The refusal of a form of `desk`'s page: not this session's, or not this desk's.
pub fn guard(s: &session::Staff, token: &str, desk: DeskRole) -> Option<Response> {
    check_csrf(s, token).or_else(|| only(s, desk))
}

/// Times as the hospital reads them (its `[hospital] utc_offset`).
pub fn local_time(state: &ConsoleState, ms: i64) -> String {
    offset(state).local(ms)
}

pub fn offset(state: &ConsoleState) -> crate::time::UtcOffset {
    crate::time::UtcOffset::from_minutes(state.api.store.options().utc_offset_min)
        .unwrap_or_default()
}

/// `HH:MM` in the hospital's time.
pub fn clock_time(state: &ConsoleState, ms: i64) -> String {
    let full = local_time(state, ms);
    full.get(11..16).unwrap_or(&full).to_owned()
}
