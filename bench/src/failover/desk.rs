//! A window's registration desk as the benchmark drives it: new patients through the desks'
//! API, each one checked to be durable.

use anyhow::{Context, ensure};
use lifeline_node::client::Client;
use serde_json::{Value, json};

/// A window's registration desk, usable from any thread.
#[derive(Debug, Clone)]
pub(super) struct Desk {
    pub(super) window: String,
    pub(super) client: Client,
}

impl Desk {
    /// A new patient; the record's id once the answer says it is durable.
    pub(super) fn write_patient(&self, n: u64) -> anyhow::Result<String> {
        let body = json!({
            "name": format!("患者 {} {n}", self.window),
            "sex": if n.is_multiple_of(2) { "female" } else { "male" },
            "birth_date": format!("2019-{:02}-{:02}", n % 12 + 1, n % 28 + 1),
            "phone": format!("138{:08}", n % 100_000_000),
            "insurance": "resident",
        });
        let answer: Value = self.client.post("/patients", &body)?;
        ensure!(
            answer["durable"] == json!(true),
            "an answer without \"durable\": true: {answer}"
        );
        answer["value"]["header"]["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("an answer without value.header.id: {answer}"))
    }
}
