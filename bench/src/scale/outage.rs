//! Reconciling an outage: windows that registered patients in an emergency episode while
//! central was away (written with the bulk loader), then central coming back. Measured from
//! central's start until central holds every record and every window has central's
//! acknowledgement of all of them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use lifeline_core::{
    Clock, DeskRole, EpisodeId, NodeName, NodeRole, Operator, OperatorName, Store, StoreOptions,
    SystemClock,
};
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::{Hospital, NodeSpec};
use serde::Serialize;

use super::data::{self, Origin};
use super::{Plan, ms};

const CENTRAL: &str = "central";
/// Longest wait for the reconciliation.
const RECONCILE_WITHIN: Duration = Duration::from_secs(900);

/// What the outage's reconciliation took.
#[derive(Debug, Clone, Serialize)]
pub struct Outage {
    pub windows: usize,
    pub registrations_per_window: u64,
    /// Records written in the outage (a patient and a visit per registration).
    pub records: u64,
    /// From central's start until it holds every record.
    pub central_has_all_ms: f64,
    /// From central's start until every window has every acknowledgement back.
    pub reconciled_ms: f64,
}

fn window_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("W{i:02}")).collect()
}

pub fn measure(plan: &Plan, bin: &Path, dir: &Path) -> anyhow::Result<Outage> {
    std::fs::create_dir_all(dir)?;
    let windows = window_names(plan.outage_windows);
    let mut specs = vec![NodeSpec::new(CENTRAL, NodeRole::Central, &[], &[])];
    for w in &windows {
        specs.push(NodeSpec::new(
            w,
            NodeRole::Window,
            &[DeskRole::Registration],
            &[CENTRAL],
        ));
    }
    let mut hospital = Hospital::create(bin, dir, &specs, Thresholds::default())?;
    let who = Operator::new(OperatorName::new("reg1")?, DeskRole::Registration);
    let admin = Operator::new(OperatorName::new("admin")?, DeskRole::Admin);
    let now_ms = SystemClock.now_ms();
    eprintln!(
        "outage: {} windows writing {} registrations each while central is away",
        windows.len(),
        plan.per_window
    );
    for (i, w) in windows.iter().enumerate() {
        let path = hospital.store_path(w)?;
        std::fs::create_dir_all(path.parent().context("a store path has a directory")?)?;
        let store = Store::open(
            &path,
            StoreOptions::new(NodeName::new(w)?, NodeRole::Window),
        )?;
        let episode = EpisodeId::new("YJ-20261125-1030-W01")?;
        store.start_episode(&admin, episode.clone(), "central unreachable")?;
        let origin = Origin {
            node: NodeName::new(w)?,
            operator: who.name.clone(),
            episode: Some(episode),
        };
        let (mut patients, mut visits) = (Vec::new(), Vec::new());
        for n in 0..plan.per_window {
            let at = now_ms - 600_000 + n as i64 * 2;
            let (p, v) = data::emergency_registration(&origin, (i as u64) << 32 | n, at);
            patients.push(p);
            visits.push(v);
        }
        store.load_records(&who, patients)?;
        store.load_records(&who, visits)?;
    }
    for w in &windows {
        hospital.start(w)?;
    }
    let records = windows.len() as u64 * plan.per_window * 2;
    eprintln!("central comes back to {records} emergency records");
    let t = Instant::now();
    hospital.start(CENTRAL)?;
    hospital.wait_for("central to hold every record", RECONCILE_WITHIN, |h| {
        Ok(h.status(CENTRAL)?.store.records >= records)
    })?;
    let central_has_all_ms = ms(t.elapsed());
    hospital.wait_for("every window reconciled", RECONCILE_WITHIN, |h| {
        for w in &windows {
            if h.status(w)?.unreconciled > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    let reconciled_ms = ms(t.elapsed());
    eprintln!(
        "central held every record after {central_has_all_ms:.0} ms, reconciled after {reconciled_ms:.0} ms"
    );
    for name in hospital.names() {
        hospital.stop(&name)?;
    }
    Ok(Outage {
        windows: windows.len(),
        registrations_per_window: plan.per_window,
        records,
        central_has_all_ms,
        reconciled_ms,
    })
}
