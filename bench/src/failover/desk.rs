//! A window's registration desk as the benchmarks drive it: new patients, their visits and
//! their charges through the desks' API, each one checked to be durable. `failover` writes
//! patients; `chaos` writes all three.

use anyhow::{Context, ensure};
use lifeline_node::client::Client;
use serde::Serialize;
use serde_json::{Value, json};

/// A window's registration desk, usable from any thread.
#[derive(Debug, Clone)]
pub(crate) struct Desk {
    pub(crate) window: String,
    pub(crate) client: Client,
}

impl Desk {
    /// A new patient; the record's id once the answer says it is durable.
    pub(crate) fn write_patient(&self, n: u64) -> anyhow::Result<String> {
        let body = json!({
            "name": format!("患者 {} {n}", self.window),
            "sex": if n.is_multiple_of(2) { "female" } else { "male" },
            "birth_date": format!("2019-{:02}-{:02}", n % 12 + 1, n % 28 + 1),
            "phone": format!("138{:08}", n % 100_000_000),
            "insurance": "resident",
        });
        self.saved("/patients", &body)
    }

    /// A visit of `patient` to a department of the shipped catalog (with its registration
    /// fee, a charge the node writes in the same commit); the visit's id.
    pub(crate) fn register_visit(&self, patient: &str) -> anyhow::Result<String> {
        let body = json!({"patient": patient, "department": "PED-GEN"});
        self.saved("/visits", &body)
    }

    /// A charge for a blood count (a lab test of the shipped catalog) on `visit`; the charge's id.
    pub(crate) fn write_charge(&self, visit: &str) -> anyhow::Result<String> {
        let body = json!({
            "visit": visit,
            "payment": "self_pay",
            "lines": [{"catalog": "service", "code": "SVC-CBC", "quantity": 1}],
        });
        self.saved("/charges", &body)
    }

    /// POSTs `body`; the new record's id once the answer says it is durable.
    fn saved(&self, path: &str, body: &impl Serialize) -> anyhow::Result<String> {
        let answer: Value = self.client.post(path, body)?;
        ensure!(
            answer["durable"] == json!(true),
            "{path}: an answer without \"durable\": true: {answer}"
        );
        answer["value"]["header"]["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{path}: an answer without value.header.id: {answer}"))
    }
}
