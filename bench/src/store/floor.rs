//! What a registration costs before the store does anything with it: its two documents (the
//! visit and its fee charge) built by Automerge as the store's create builds them
//! (`autosurgeon::reconcile` into a new document, in one transaction with the change's
//! message and time), with nothing judged, indexed, signed, saved or committed.
//!
//! A desk hears "saved" only after its registration's commit returns, and the documents
//! exist before that commit can begin, so one registration's latency is at least this build
//! plus a commit of its bytes: its p99 is at least the fastest build plus the bare commit's
//! p99. No store that keeps registrations as Automerge documents can do less; the run states
//! how much of the bare commit's p99 this floor alone takes.

use anyhow::Context;
use automerge::{ActorId, Automerge, transaction::CommitOptions};
use lifeline_core::record::{Charge, Visit};
use serde::Serialize;

use super::Plan;
use crate::fixture::Window;
use crate::measure::{self, Summary};

/// The registration whose documents are built, over and over.
struct Registration {
    visit: Visit,
    charge: Charge,
}

/// The floor's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    /// Building both documents, one registration a call.
    pub build: Summary,
    /// The fastest build over the bare redb commit's p99: a registration's p99 over that
    /// commit's cannot fall below 1 plus this (its commit writes those bytes and more, after
    /// its documents are built).
    pub build_min_over_bare_p99: f64,
}

/// Registers one visit on `window` (durably, as the benchmark's registrations are), then
/// times building its two documents `plan.iterations` times, after `plan.warmup` unmeasured.
pub fn measure(window: &Window, plan: &Plan, bare_p99_us: f64) -> anyhow::Result<Floor> {
    let registration = registration(window)?;
    let actor = ActorId::random();
    let build = measure::sequential(plan.warmup, plan.iterations, || {
        let visit = document(&actor, "visit.register", &registration.visit)?;
        let charge = document(&actor, "charge.create", &registration.charge)?;
        std::hint::black_box((visit, charge));
        Ok(())
    })?;
    Ok(Floor {
        build_min_over_bare_p99: super::ratio(build.latency_us_min, bare_p99_us),
        build,
    })
}

/// A registration as the store made it: the visit, and the fee charge it made with it.
fn registration(window: &Window) -> anyhow::Result<Registration> {
    let visit = window.register_visit()?;
    let charge = window
        .store
        .patient_charges(window.patient)?
        .into_iter()
        .find(|c| c.visit == visit.header.id)
        .context("the registration made no fee charge")?;
    Ok(Registration { visit, charge })
}

/// `record` reconciled into a new document by `actor`, as one change with a desk's message.
fn document<T: autosurgeon::Reconcile>(
    actor: &ActorId,
    action: &str,
    record: &T,
) -> anyhow::Result<Automerge> {
    let mut doc = Automerge::new().with_actor(actor.clone());
    let message = format!(r#"{{"operator":"reg1","desk":"registration","action":"{action}"}}"#);
    doc.transact_with(
        |_| {
            CommitOptions::default()
                .with_message(message.clone())
                .with_time(crate::now_unix_ms())
        },
        |tx| autosurgeon::reconcile(tx, record),
    )
    .map_err(|f| anyhow::anyhow!("building the {action} document: {}", f.error))?;
    Ok(doc)
}
