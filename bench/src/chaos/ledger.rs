//! The desks' writes as the chaos tool keeps them: every write answered "saved" with its record
//! id (what must never be lost), and how the others ended: refused by the node (an answer that
//! is not a success), unanswered (no answer: the node was down or died mid-request), or an
//! anomaly (a success that did not say the write was durable or which record it made).

use std::sync::Mutex;

use lifeline_node::client::ClientError;
use lifeline_node::error::chain;
use serde::Serialize;

/// What a desk wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Patient,
    Visit,
    Charge,
}

impl Kind {
    /// Where the desks' API reads one record of this kind.
    pub(crate) fn path(self, id: &str) -> String {
        match self {
            Kind::Patient => format!("/patients/{id}"),
            Kind::Visit => format!("/visits/{id}"),
            Kind::Charge => format!("/charges/{id}"),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Patient => "patient",
            Kind::Visit => "visit",
            Kind::Charge => "charge",
        }
    }
}

/// A write a desk was told was saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Acked {
    pub(crate) kind: Kind,
    pub(crate) id: String,
    pub(crate) window: String,
    /// The cycle it was written in, from 1.
    pub(crate) cycle: usize,
}

/// How the writes of a cycle (or of a run) ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub acknowledged: u64,
    pub refused: u64,
    pub unanswered: u64,
    pub anomalies: u64,
    /// The first refusal's and the first anomaly's words, to say why.
    pub first_refusal: Option<String>,
    pub first_anomaly: Option<String>,
}

impl Tally {
    pub(crate) fn add(&mut self, other: &Tally) {
        self.acknowledged += other.acknowledged;
        self.refused += other.refused;
        self.unanswered += other.unanswered;
        self.anomalies += other.anomalies;
        if self.first_refusal.is_none() {
            self.first_refusal.clone_from(&other.first_refusal);
        }
        if self.first_anomaly.is_none() {
            self.first_anomaly.clone_from(&other.first_anomaly);
        }
    }
}

/// How one write ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Saved(String),
    Refused(String),
    Unanswered,
    Anomaly(String),
}

impl Outcome {
    /// Sorts a desk call's result: a node's refusal, no answer, or a success the desk could
    /// not take as "saved".
    pub(crate) fn of(result: anyhow::Result<String>) -> Outcome {
        let e = match result {
            Ok(id) => return Outcome::Saved(id),
            Err(e) => e,
        };
        match e.downcast_ref::<ClientError>() {
            Some(ClientError::Refused { .. }) => Outcome::Refused(chain(&*e)),
            Some(_) => Outcome::Unanswered,
            // An answer whose body did not arrive whole is no answer.
            None if e
                .chain()
                .any(|c| c.is::<ureq::Error>() || c.is::<std::io::Error>()) =>
            {
                Outcome::Unanswered
            }
            None => Outcome::Anomaly(chain(&*e)),
        }
    }
}

/// Every acknowledged write of a run, shared by the desks' threads.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    acked: Mutex<Vec<Acked>>,
}

impl Ledger {
    pub(crate) fn push(&self, acked: Acked) {
        self.acked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(acked);
    }

    /// A copy of every acknowledged write so far.
    pub(crate) fn all(&self) -> Vec<Acked> {
        self.acked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The acknowledged writes of one window's desk so far.
    pub(crate) fn of_window(&self, window: &str) -> Vec<Acked> {
        self.acked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .filter(|a| a.window == window)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_not_an_anomaly_and_a_success_is_saved() {
        let refused = anyhow::Error::from(ClientError::Refused {
            path: "/visits".into(),
            status: ureq::http::StatusCode::CONFLICT,
            code: Some("no_range".into()),
            message: "no numbers left".into(),
        });
        assert!(matches!(Outcome::of(Err(refused)), Outcome::Refused(_)));
        assert!(matches!(
            Outcome::of(Err(anyhow::anyhow!("an answer without value.header.id"))),
            Outcome::Anomaly(_)
        ));
        assert!(matches!(Outcome::of(Ok("x".into())), Outcome::Saved(id) if id == "x"));
    }

    #[test]
    fn tallies_add_and_keep_the_first_reasons() {
        let mut t = Tally::default();
        t.add(&Tally {
            acknowledged: 2,
            refused: 1,
            first_refusal: Some("a".into()),
            ..Tally::default()
        });
        t.add(&Tally {
            refused: 1,
            first_refusal: Some("b".into()),
            ..Tally::default()
        });
        assert_eq!((t.acknowledged, t.refused), (2, 2));
        assert_eq!(t.first_refusal.as_deref(), Some("a"));
    }
}
