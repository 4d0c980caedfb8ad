//! The log-in page, log-out, choosing a password after a setup code, and the language switch.
//! Every log-in, failed log-in and lock-out is written to the audit chain.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::banner::banner;
use super::session::{
    Gate, LANG_COOKIE, LOGIN_COOKIE, SESSION_COOKIE, Staff, constant_time_eq, cookie, lang_of,
    set_cookie,
};
use super::{ConsoleState, check_csrf, csrf_field, desk_path, page};
use crate::api::blocking;
use crate::i18n::{Lang, t, ta};
use crate::operators::LoginFailure;

/// `/console`: the operator's desk page, or the log-in.
pub(super) async fn home(s: Staff) -> Redirect {
    Redirect::to(desk_path(s.op.desk))
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

async fn login_form(
    state: &ConsoleState,
    l: Lang,
    status: StatusCode,
    name: &str,
    message: Option<String>,
) -> Response {
    let token = match crate::operators::new_token() {
        Ok(t) => t,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let banner = banner(state).await;
    let body = html! {
        form.card method="post" action="/console/login" {
            @if let Some(m) = &message {
                div.problem role="alert" { (m) }
            }
            input type="hidden" name="csrf" value=(token);
            label for="name" { (t(l, "login-name")) }
            input #name name="name" type="text" value=(name) autocomplete="username"
                required autofocus[name.is_empty()];
            label for="password" { (t(l, "login-password")) }
            input #password name="password" type="password" autocomplete="current-password"
                required autofocus[!name.is_empty()];
            p.hint { (t(l, "login-hint")) }
            button type="submit" { (t(l, "login-submit")) }
        }
    };
    (
        status,
        AppendHeaders([(
            header::SET_COOKIE,
            set_cookie(LOGIN_COOKIE, &token, Some(3600)),
        )]),
        page(l, None, &banner, &t(l, "login-title"), body),
    )
        .into_response()
}

pub(super) async fn login_page(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    login_form(&state, lang_of(&headers), StatusCode::OK, "", None).await
}

/// Audits a log-in event durably; a store that cannot write refuses the log-in.
async fn audit(state: &ConsoleState, actor: &str, action: &'static str, detail: String) -> bool {
    let store = state.api.store.clone();
    let actor = actor.to_owned();
    blocking(move || store.audit_login(&actor, action, detail))
        .await
        .is_ok()
}

pub(super) async fn login(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let l = lang_of(&headers);
    let name = form.name.trim().to_owned();
    let now = state.api.store.now_ms();
    let double_submitted = cookie(&headers, LOGIN_COOKIE)
        .is_some_and(|c| constant_time_eq(c.as_bytes(), form.csrf.as_bytes()));
    if !double_submitted {
        let m = t(l, "login-expired-form");
        return login_form(&state, l, StatusCode::FORBIDDEN, &name, Some(m)).await;
    }
    if name.is_empty() || name.len() > 64 {
        let m = t(l, "login-failed");
        return login_form(&state, l, StatusCode::UNAUTHORIZED, "", Some(m)).await;
    }
    if let Gate::Locked { until_ms } = state.sessions.gate(&name, now) {
        audit(
            &state,
            &name,
            "console.login_refused",
            "the name is locked after repeated failures".into(),
        )
        .await;
        let until = super::clock_time(&state, until_ms);
        let m = ta(l, "login-locked", &[("until", &until)]);
        return login_form(&state, l, StatusCode::TOO_MANY_REQUESTS, &name, Some(m)).await;
    }
    let operators = state.api.operators.clone();
    let (n, p) = (name.clone(), form.password);
    // argon2 takes tens of milliseconds: off the async threads.
    let checked = tokio::task::spawn_blocking(move || operators.check_login(&n, &p, now))
        .await
        .unwrap_or(Err(LoginFailure::Unknown));
    match checked {
        Ok(ok) => {
            let desk = ok.operator.desk;
            let must = ok.must_choose_password;
            let detail = format!(
                "console log-in ({desk} desk){}",
                if must {
                    " with the one-time setup code"
                } else {
                    ""
                }
            );
            if !audit(&state, &name, "console.login", detail).await {
                let m = t(l, "error-not_saved");
                return login_form(&state, l, StatusCode::SERVICE_UNAVAILABLE, &name, Some(m))
                    .await;
            }
            let Ok(id) = state.sessions.start(ok.operator, must, now) else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            let to = if must {
                "/console/password"
            } else {
                desk_path(desk)
            };
            (
                AppendHeaders([
                    (header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, None)),
                    (header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0))),
                ]),
                Redirect::to(to),
            )
                .into_response()
        }
        Err(why) => {
            let locked = state.sessions.failed(&name, now);
            audit(&state, &name, "console.login_failed", why.to_string()).await;
            let m = match locked {
                Some(until_ms) => {
                    audit(
                        &state,
                        &name,
                        "console.locked",
                        format!(
                            "{} failed log-ins in a row; locked until {until_ms} ms",
                            super::session::MAX_FAILURES
                        ),
                    )
                    .await;
                    let until = super::clock_time(&state, until_ms);
                    ta(l, "login-locked", &[("until", &until)])
                }
                None => t(l, "login-failed"),
            };
            login_form(&state, l, StatusCode::UNAUTHORIZED, &name, Some(m)).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

pub(super) async fn logout(
    State(state): State<ConsoleState>,
    s: Staff,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(r) = check_csrf(&s, &form.csrf) {
        return r;
    }
    state.sessions.end(&s.session_id);
    audit(
        &state,
        s.op.name.as_str(),
        "console.logout",
        "console log-out".into(),
    )
    .await;
    (
        AppendHeaders([(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)))]),
        Redirect::to("/console/login"),
    )
        .into_response()
}

async fn password_form(state: &ConsoleState, s: &Staff, message: Option<String>) -> Response {
    let l = s.lang;
    let banner = banner(state).await;
    let body = html! {
        form.card method="post" action="/console/password" {
            @if let Some(m) = &message { div.problem role="alert" { (m) } }
            p { (t(l, "password-explain")) }
            (csrf_field(s))
            label for="new" { (t(l, "password-new")) }
            input #new name="new" type="password" autocomplete="new-password" required autofocus;
            label for="again" { (t(l, "password-again")) }
            input #again name="again" type="password" autocomplete="new-password" required;
            button type="submit" { (t(l, "password-submit")) }
        }
    };
    page(l, Some(s), &banner, &t(l, "password-title"), body).into_response()
}

pub(super) async fn password_page(State(state): State<ConsoleState>, s: Staff) -> Response {
    password_form(&state, &s, None).await
}

#[derive(Debug, Deserialize)]
pub(super) struct PasswordForm {
    csrf: String,
    new: String,
    again: String,
}

pub(super) async fn choose_password(
    State(state): State<ConsoleState>,
    s: Staff,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Some(r) = check_csrf(&s, &form.csrf) {
        return r;
    }
    let l = s.lang;
    if form.new != form.again {
        return password_form(&state, &s, Some(t(l, "password-mismatch"))).await;
    }
    if crate::operators::check_password_rules(&form.new).is_err() {
        return password_form(&state, &s, Some(t(l, "password-too-short"))).await;
    }
    let operators = state.api.operators.clone();
    let name = s.op.name.clone();
    let set = tokio::task::spawn_blocking(move || operators.set_password(&name, &form.new)).await;
    if !matches!(set, Ok(Ok(true))) {
        return password_form(&state, &s, Some(t(l, "error-not_saved"))).await;
    }
    audit(
        &state,
        s.op.name.as_str(),
        "console.password",
        "console password chosen".into(),
    )
    .await;
    state.sessions.password_chosen(&s.session_id);
    Redirect::to(desk_path(s.op.desk)).into_response()
}

/// `/console/lang/{zh|en}`: remembers the language in a cookie and goes back.
pub(super) async fn switch_language(Path(code): Path<String>, headers: HeaderMap) -> Response {
    let lang = Lang::parse(&code);
    // Back to the page the link was on, if it is one of the console's own.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.split_once("/console")
                .map(|(_, rest)| format!("/console{rest}"))
        })
        .filter(|p| !p.starts_with("/console/lang") && !p.contains("//"))
        .unwrap_or_else(|| "/console".to_owned());
    (
        AppendHeaders([(
            header::SET_COOKIE,
            set_cookie(LANG_COOKIE, lang.code(), Some(365 * 86_400)),
        )]),
        Redirect::to(&back),
    )
        .into_response()
}
