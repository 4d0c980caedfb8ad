//! The CLI's way to a running daemon: its local API, with the admin token the daemon wrote to
//! its data directory (readable by the node's owner only).

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::i18n::{Lang, t, tr};

/// Why the CLI got no answer it could use from a node. Staff read these ([`Self::words`]):
/// the node's own message stays as it sent it, after its code said in their language.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error(
        "cannot read the admin token {} (is the daemon running, and are you its owner?)",
        path.display()
    )]
    NoToken {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot reach the node at {base} (is the daemon running?)")]
    Unreachable {
        base: String,
        #[source]
        source: ureq::Error,
    },
    /// The node answered with an error.
    #[error("{path}: {status}: {message}")]
    Refused {
        path: String,
        status: ureq::http::StatusCode,
        /// The API's error code (`forbidden`, `not_found`, ...), when the answer had one.
        code: Option<String>,
        message: String,
    },
}

impl ClientError {
    /// The error in `l` (its source, if any, is said after it).
    pub fn words(&self, l: Lang) -> String {
        match self {
            ClientError::NoToken { path, .. } => tr(
                l,
                "cli-error-no-token",
                &[("path", path.display().to_string().into())],
            ),
            ClientError::Unreachable { base, .. } => {
                tr(l, "cli-error-unreachable", &[("address", base.into())])
            }
            ClientError::Refused {
                path,
                status,
                code,
                message,
            } => {
                let key = code.as_deref().map(|c| format!("error-{c}"));
                let head = match key.filter(|k| crate::i18n::has(k)) {
                    Some(k) => t(l, &k),
                    None => t(l, "error-other"),
                };
                tr(
                    l,
                    "cli-error-refused",
                    &[
                        ("head", head.into()),
                        ("path", path.into()),
                        ("status", status.to_string().into()),
                        ("message", message.into()),
                    ],
                )
            }
        }
    }
}

/// A connection to one node's API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    /// The person acting, named to the node (which refuses a token that is not theirs).
    operator: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// From a node's config: the API address and the admin token.
    pub fn for_config(config: &Config) -> anyhow::Result<Client> {
        let token_path = config.admin_token_path();
        let token =
            std::fs::read_to_string(&token_path).map_err(|source| ClientError::NoToken {
                path: token_path.clone(),
                source,
            })?;
        Ok(Client::new(&config.api.listen.to_string(), token.trim()))
    }

    pub fn new(addr: &str, token: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            base: format!("http://{addr}"),
            token: token.to_owned(),
            operator: None,
            agent,
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            base: self.base.clone(),
            token: token.to_owned(),
            operator: None,
            agent: self.agent.clone(),
        }
    }

    /// This client acting as `operator`, with their own token: the node checks the token is
    /// theirs and records what they do under their name.
    pub fn as_operator(&self, operator: &str, token: &str) -> Client {
        Client {
            operator: Some(operator.to_owned()),
            ..self.with_token(token)
        }
    }

    fn headers<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        let request = request.header("Authorization", format!("Bearer {}", self.token));
        match &self.operator {
            Some(name) => request.header(crate::api::OPERATOR_HEADER, name.as_str()),
            None => request,
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self
            .headers(self.agent.get(format!("{}{path}", self.base)))
            .call()
            .map_err(|e| self.unreachable(e))?;
        decode(path, resp)
    }

    fn unreachable(&self, source: ureq::Error) -> ClientError {
        ClientError::Unreachable {
            base: self.base.clone(),
            source,
        }
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self
            .headers(self.agent.delete(format!("{}{path}", self.base)))
            .call()
            .map_err(|e| self.unreachable(e))?;
        decode(path, resp)
    }

    pub fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let request = self.agent.patch(format!("{}{path}", self.base));
        self.send(path, request, body)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let request = self.agent.post(format!("{}{path}", self.base));
        self.send(path, request, body)
    }

    /// Sends `body` as JSON with the token, and reads the answer.
    fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
        body: &B,
    ) -> anyhow::Result<T> {
        let resp = self
            .headers(request)
            .send_json(body)
            .map_err(|e| self.unreachable(e))?;
        decode(path, resp)
    }
}

fn decode<T: DeserializeOwned>(
    path: &str,
    resp: ureq::http::Response<ureq::Body>,
) -> anyhow::Result<T> {
    let status = resp.status();
    let text = resp
        .into_body()
        .read_to_string()
        .with_context(|| format!("{path}: unreadable answer"))?;
    if !status.is_success() {
        let answer = serde_json::from_str::<serde_json::Value>(&text).ok();
        let code = answer
            .as_ref()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
        return Err(ClientError::Refused {
            path: path.to_owned(),
            status,
            code,
            message: error_message(text),
        }
        .into());
    }
    serde_json::from_str(&text).with_context(|| format!("{path}: unexpected answer"))
}

/// The message of an API error answer (`{"error": {"message": ...}}`), or the answer itself.
pub(crate) fn error_message(answer: String) -> String {
    serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or(answer)
}
