//! The banner on every page: normal work, or the emergency episode (its YJ mark, since when,
//! the expected grade), which server is primary, whether this window is isolated, and while a
//! window's working set is still arriving, how far it has come (the status's `working_set`). The
//! page renders it; `console.js` refreshes it from `/console/banner.json` every few seconds,
//! so it changes without a reload when central goes or comes back.

use axum::Json;
use axum::extract::State;
use maud::{Markup, html};
use serde::Serialize;

use super::ConsoleState;
use super::session::Staff;
use crate::api::blocking;
use crate::daemon::in_sync::working_set;
use crate::i18n::{Lang, t, ta};

/// What the banner says, independent of the language.
#[derive(Debug, Clone, Default)]
pub struct Banner {
    /// `normal`, `degraded` (central lost, no episode yet) or `isolated`; empty if unknown.
    pub mode: String,
    pub primary: Option<String>,
    /// The episode this node is in: its id, since when (hospital time), the expected grade.
    pub episode: Option<(String, String, String)>,
    pub lost_since: Option<String>,
    /// A window whose working set is still arriving: from which server, and the percentage.
    pub arriving: Option<(Option<String>, u8)>,
}

/// The banner as `/console/banner.json` answers it.
#[derive(Debug, Serialize)]
pub struct BannerJson {
    /// `normal`, `degraded`, `emergency`, `isolated`: the banner's look.
    pub state: &'static str,
    pub text: String,
    pub episode: Option<String>,
    pub primary: Option<String>,
    pub isolated: bool,
    /// The working set's percentage while it is still arriving.
    pub arriving: Option<u8>,
}

impl Banner {
    /// A banner whose state is not known (pages shown before a log-in); the script fills it.
    pub fn unknown() -> Banner {
        Banner::default()
    }

    pub fn isolated(&self) -> bool {
        self.mode == "isolated"
    }

    /// The look: an episode outranks the mode, isolation outranks both.
    pub fn state(&self) -> &'static str {
        if self.isolated() {
            "isolated"
        } else if self.episode.is_some() {
            "emergency"
        } else if self.mode == "degraded" {
            "degraded"
        } else if self.mode.is_empty() {
            "unknown"
        } else {
            "normal"
        }
    }

    pub fn text(&self, l: Lang) -> String {
        let primary = self
            .primary
            .clone()
            .unwrap_or_else(|| t(l, "banner-no-primary"));
        let mut parts = Vec::new();
        match (&self.episode, self.mode.as_str()) {
            (Some((id, since, grade)), _) => parts.push(ta(
                l,
                "banner-episode",
                &[("id", id), ("since", since), ("grade", grade)],
            )),
            (None, "degraded") => parts.push(ta(
                l,
                "banner-degraded",
                &[("since", self.lost_since.as_deref().unwrap_or("?"))],
            )),
            (None, "") => parts.push(t(l, "banner-unknown")),
            (None, _) => parts.push(t(l, "banner-normal")),
        }
        if !self.mode.is_empty() {
            parts.push(ta(l, "banner-primary", &[("primary", &primary)]));
        }
        if self.isolated() {
            parts.push(t(l, "banner-isolated"));
        }
        if let Some((from, percent)) = &self.arriving {
            let from = from.clone().unwrap_or_else(|| t(l, "banner-no-primary"));
            parts.push(ta(
                l,
                "banner-arriving",
                &[("from", &from), ("percent", &percent.to_string())],
            ));
        }
        parts.join(" · ")
    }

    pub fn markup(&self, l: Lang) -> Markup {
        html! {
            div #banner .banner .(self.state()) role="status" aria-live="polite"
                data-state=(self.state()) {
                (self.text(l))
            }
        }
    }

    fn json(&self, l: Lang) -> BannerJson {
        BannerJson {
            state: self.state(),
            text: self.text(l),
            episode: self.episode.as_ref().map(|e| e.0.clone()),
            primary: self.primary.clone(),
            isolated: self.isolated(),
            arriving: self.arriving.as_ref().map(|a| a.1),
        }
    }
}

/// The banner of this node now.
pub async fn banner(state: &ConsoleState) -> Banner {
    let runtime = &state.api.runtime;
    let mode = runtime.mode();
    let arriving = runtime
        .config
        .window_days()
        .map(|days| working_set(days, &runtime.peers()))
        .filter(|ws| !ws.ready)
        .map(|ws| (ws.from, (ws.progress.clamp(0.0, 1.0) * 100.0).floor() as u8));
    let store = state.api.store.clone();
    let episode = blocking(move || -> Result<_, crate::api::ApiError> {
        match store.episode_info()? {
            Some(info) => Ok(Some(crate::api::status::current_episode(&store, info)?)),
            None => Ok(None),
        }
    })
    .await
    .ok()
    .flatten();
    Banner {
        mode: mode.mode.name().to_owned(),
        primary: mode.primary,
        episode: episode.map(|e| {
            (
                e.id,
                super::local_time(
                    state,
                    if e.opened_ms > 0 {
                        e.opened_ms
                    } else {
                        e.started_ms
                    },
                ),
                e.expected_grade,
            )
        }),
        lost_since: mode
            .central_lost_since_ms
            .map(|ms| super::local_time(state, ms)),
        arriving,
    }
}

pub(super) async fn banner_json(State(state): State<ConsoleState>, s: Staff) -> Json<BannerJson> {
    Json(banner(&state).await.json(s.lang))
}
