//! Console log-ins: sessions kept in memory behind an HttpOnly, SameSite=Strict cookie that
//! expire after [`IDLE_MS`] without a request, a CSRF token per session checked on every
//! form, and a lock-out of a name after [`MAX_FAILURES`] failed log-ins in a row.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use lifeline_core::Operator;
use sha2::{Digest, Sha256};

use super::ConsoleState;
use crate::i18n::Lang;

/// A session ends after this long without a request.
pub const IDLE_MS: i64 = 15 * 60_000;
/// Failed log-ins in a row that lock a name.
pub const MAX_FAILURES: u32 = 5;
/// How long a locked name stays locked.
pub const LOCK_MS: i64 = 15 * 60_000;

pub const SESSION_COOKIE: &str = "ll_session";
pub const LANG_COOKIE: &str = crate::i18n::COOKIE;
/// The log-in form's own CSRF token (double-submitted: cookie and field must match).
pub const LOGIN_COOKIE: &str = "ll_login";

#[derive(Debug, Clone)]
struct Session {
    operator: Operator,
    csrf: String,
    last_ms: i64,
    must_choose_password: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Failures {
    count: u32,
    locked_until_ms: i64,
}

/// The console's sessions and failed log-ins.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By the SHA-256 of the session id (the id itself is only in the browser's cookie).
    sessions: HashMap<String, Session>,
    failures: HashMap<String, Failures>,
}

fn digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// What a log-in attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// The name is locked until then.
    Locked {
        until_ms: i64,
    },
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `name` may try to log in now.
    pub fn gate(&self, name: &str, now_ms: i64) -> Gate {
        match self.lock().failures.get(name) {
            Some(f) if f.locked_until_ms > now_ms => Gate::Locked {
                until_ms: f.locked_until_ms,
            },
            _ => Gate::Open,
        }
    }

    /// Counts a failed log-in; returns the lock's end when this failure locked the name.
    pub fn failed(&self, name: &str, now_ms: i64) -> Option<i64> {
        let mut inner = self.lock();
        let f = inner.failures.entry(name.to_owned()).or_default();
        if f.locked_until_ms != 0 && f.locked_until_ms <= now_ms {
            *f = Failures::default();
        }
        f.count += 1;
        if f.count >= MAX_FAILURES {
            f.locked_until_ms = now_ms + LOCK_MS;
            return Some(f.locked_until_ms);
        }
        None
    }

    /// Starts a session; returns its id (for the cookie).
    pub fn start(
        &self,
        operator: Operator,
        must_choose_password: bool,
        now_ms: i64,
    ) -> anyhow::Result<String> {
        let id = crate::operators::new_token()?;
        let csrf = crate::operators::new_token()?;
        let mut inner = self.lock();
        inner.failures.remove(operator.name.as_str());
        inner
            .sessions
            .retain(|_, s| now_ms.saturating_sub(s.last_ms) < IDLE_MS);
        inner.sessions.insert(
            digest(&id),
            Session {
                operator,
                csrf,
                last_ms: now_ms,
                must_choose_password,
            },
        );
        Ok(id)
    }

    pub fn end(&self, id: &str) {
        self.lock().sessions.remove(&digest(id));
    }

    pub fn password_chosen(&self, id: &str) {
        if let Some(s) = self.lock().sessions.get_mut(&digest(id)) {
            s.must_choose_password = false;
        }
    }

    /// The live session of `id`, touched (its idle time starts again).
    fn touch(&self, id: &str, now_ms: i64) -> Option<Session> {
        let mut inner = self.lock();
        let key = digest(id);
        let live = inner
            .sessions
            .get(&key)
            .is_some_and(|s| now_ms.saturating_sub(s.last_ms) < IDLE_MS);
        if !live {
            inner.sessions.remove(&key);
            return None;
        }
        let s = inner.sessions.get_mut(&key)?;
        s.last_ms = now_ms;
        Some(s.clone())
    }
}

/// A cookie's value from the request's headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, the whole console's path.
pub fn set_cookie(name: &str, value: &str, max_age_s: Option<i64>) -> String {
    let age = max_age_s.map_or(String::new(), |s| format!("; Max-Age={s}"));
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}")
}

/// The language of a request (its cookie; Chinese by default).
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).map_or(Lang::Zh, Lang::parse)
}

/// The logged-in operator of a console request; anyone else is sent to the log-in page.
#[derive(Debug, Clone)]
pub struct Staff {
    pub op: Operator,
    pub csrf: String,
    pub lang: Lang,
    pub session_id: String,
    pub must_choose_password: bool,
}

impl Staff {
    /// Whether a form's CSRF token is this session's.
    pub fn csrf_ok(&self, token: &str) -> bool {
        constant_time_eq(self.csrf.as_bytes(), token.as_bytes())
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<ConsoleState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let lang = lang_of(&parts.headers);
        let id = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned);
        let now = state.api.store.now_ms();
        let session = id
            .as_deref()
            .and_then(|id| state.sessions.touch(id, now))
            .zip(id);
        let Some((s, session_id)) = session else {
            return Err(Redirect::to("/console/login").into_response());
        };
        // The operators file decides on every request, as it does for a bearer token: an
        // operator removed, expired or given another desk since the log-in is logged out.
        if state.api.operators.current(&s.operator.name, now) != Some(s.operator.clone()) {
            state.sessions.end(&session_id);
            return Err(Redirect::to("/console/login").into_response());
        }
        let staff = Staff {
            op: s.operator,
            csrf: s.csrf,
            lang,
            session_id,
            must_choose_password: s.must_choose_password,
        };
        if staff.must_choose_password && parts.uri.path() != "/console/password" {
            return Err(Redirect::to("/console/password").into_response());
        }
        Ok(staff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_core::{DeskRole, OperatorName};

    #[test]
    fn sessions_expire_when_idle_and_names_lock_after_failures() {
        let s = Sessions::default();
        let op = Operator::new(
            OperatorName::new("reg1").expect("name"),
            DeskRole::Registration,
        );
        let id = s.start(op, false, 0).expect("start");
        assert!(s.touch(&id, IDLE_MS - 1).is_some());
        assert!(
            s.touch(&id, 2 * IDLE_MS - 2).is_some(),
            "touching extends it"
        );
        assert!(s.touch(&id, 3 * IDLE_MS).is_none(), "idle too long");
        assert!(s.touch(&id, 3 * IDLE_MS).is_none());
        for i in 1..MAX_FAILURES {
            assert_eq!(s.failed("reg1", i64::from(i)), None);
            assert_eq!(s.gate("reg1", i64::from(i)), Gate::Open);
        }
        let until = s.failed("reg1", 10).expect("locked");
        assert_eq!(s.gate("reg1", 11), Gate::Locked { until_ms: until });
        assert_eq!(s.gate("other", 11), Gate::Open);
        assert_eq!(s.gate("reg1", until), Gate::Open);
        assert_eq!(s.failed("reg1", until), None, "the count starts again");
    }

    #[test]
    fn cookies_are_read_and_set_strictly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; ll_session=abc; ll_lang=en".parse().expect("header"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(lang_of(&h), Lang::En);
        let c = set_cookie(SESSION_COOKIE, "x", None);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
    }
}
