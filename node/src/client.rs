//! The CLI's way to a running daemon: its local API, with the admin token the daemon wrote to
//! its data directory (readable by the node's owner only).

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;

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
        let token = std::fs::read_to_string(&token_path).with_context(|| {
            format!(
                "cannot read the admin token {} (is the daemon running, and are you its owner?)",
                token_path.display()
            )
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
            .with_context(|| self.unreachable())?;
        decode(path, resp)
    }

    fn unreachable(&self) -> String {
        format!(
            "cannot reach the node at {} (is the daemon running?)",
            self.base
        )
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self
            .headers(self.agent.delete(format!("{}{path}", self.base)))
            .call()
            .with_context(|| self.unreachable())?;
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
            .with_context(|| self.unreachable())?;
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
        bail!("{path}: {status}: {}", error_message(text));
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
