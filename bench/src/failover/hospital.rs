//! The benchmark's hospital and the runs on it: central, the standby and the windows as real
//! daemons; opening it (catalogs imported, every window normal); one run, (a) then (b), and a
//! quiet hospital before the next; and the nodes' log tails when a run fails.

use std::time::Instant;

use anyhow::Context;
use lifeline_core::{DeskRole, NodeRole};
use lifeline_node::api::admin::CatalogCsv;
use lifeline_node::client::Client;
use lifeline_node::error::chain;
use lifeline_node::hospital::{Hospital, NodeSpec};
use serde_json::Value;

use super::desk::Desk;
use super::kill::fail_over;
use super::outage::reconcile;
use super::report::{FailoverRun, ReconcileRun};
use super::{CENTRAL, PATIENCE, Plan, RECONCILE_WITHIN, STANDBY, ms_since};

pub(crate) fn window_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("W{i:02}")).collect()
}

pub(crate) fn specs(windows: &[String]) -> Vec<NodeSpec> {
    let mut specs = vec![
        NodeSpec::new(CENTRAL, NodeRole::Central, &[], &[]),
        NodeSpec::new(STANDBY, NodeRole::Standby, &[], &[CENTRAL]),
    ];
    for w in windows {
        specs.push(NodeSpec::new(
            w,
            NodeRole::Window,
            &[DeskRole::Registration],
            &[CENTRAL, STANDBY],
        ));
    }
    specs
}

/// What a failed run leaves to read: each node's last log lines.
pub(crate) fn print_log_tails(hospital: &Hospital) {
    for name in hospital.names() {
        let path = hospital.dir().join(format!("{name}.log"));
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        eprintln!("---- {name}.log (last {} lines) ----", tail.len());
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
    }
}

/// The runs measured, and why the runs stopped before the last one, if they did.
pub(super) struct Measured {
    pub(super) failovers: Vec<FailoverRun>,
    pub(super) reconciles: Vec<ReconcileRun>,
    pub(super) stopped_early: Option<String>,
}

pub(super) fn measure_in(
    plan: &Plan,
    hospital: &mut Hospital,
    windows: &[String],
) -> anyhow::Result<Measured> {
    open(hospital, windows)?;
    let desks = windows
        .iter()
        .map(|w| {
            Ok(Desk {
                window: w.clone(),
                client: hospital.desk(w, DeskRole::Registration)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let standby = hospital.admin(STANDBY)?;
    let mut patients_written = 0usize;
    let mut failovers = Vec::new();
    let mut reconciles = Vec::new();
    let mut stopped_early = None;
    for run in 0..plan.runs {
        let outcome = one_run(
            plan,
            hospital,
            &desks,
            &standby,
            windows,
            run,
            &mut patients_written,
            &mut failovers,
            &mut reconciles,
        );
        if let Err(e) = outcome {
            if reconciles.is_empty() {
                return Err(e);
            }
            // Runs already measured stand; why the next one could not be is a finding too.
            let reason = format!("run {} of {} failed: {}", run + 1, plan.runs, chain(&*e));
            eprintln!("{reason}");
            stopped_early = Some(reason);
            break;
        }
    }
    Ok(Measured {
        failovers,
        reconciles,
        stopped_early,
    })
}

/// Starts every node, imports the catalogs at central, and waits until every window works
/// normally with central and also reaches the standby.
pub(crate) fn open(hospital: &mut Hospital, windows: &[String]) -> anyhow::Result<()> {
    eprintln!(
        "starting the hospital: central, standby, {} windows",
        windows.len()
    );
    hospital.start_all().context("cannot start the hospital")?;
    import_catalogs(hospital)?;
    hospital.wait_for(
        "every window normal with central, and connected to the standby",
        PATIENCE,
        |h| {
            for w in windows {
                let s = h.status(w)?;
                let standby_up = s.peers.iter().any(|p| p.name == STANDBY && p.connected);
                if s.mode.mode != "normal"
                    || s.mode.primary.as_deref() != Some(CENTRAL)
                    || !standby_up
                {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
}

/// Imports the shipped catalogs (`data/`: drugs, services, departments) at central.
pub(crate) fn import_catalogs(hospital: &Hospital) -> anyhow::Result<()> {
    let csv = CatalogCsv {
        drugs_csv: Some(include_str!("../../../data/drugs.csv").to_owned()),
        services_csv: Some(include_str!("../../../data/services.csv").to_owned()),
        departments_csv: Some(include_str!("../../../data/departments.csv").to_owned()),
    };
    let _: Value = hospital
        .admin(CENTRAL)?
        .post("/admin/catalog/import", &csv)
        .context("cannot import the catalogs at central")?;
    Ok(())
}

/// (a) then (b), then a quiet hospital for the next run.
#[allow(
    clippy::too_many_arguments,
    reason = "the state a run carries over to the next"
)]
fn one_run(
    plan: &Plan,
    hospital: &mut Hospital,
    desks: &[Desk],
    standby: &Client,
    windows: &[String],
    run: usize,
    patients_written: &mut usize,
    failovers: &mut Vec<FailoverRun>,
    reconciles: &mut Vec<ReconcileRun>,
) -> anyhow::Result<()> {
    let (failover, written) = fail_over(hospital, desks, standby, windows, run)?;
    *patients_written += written;
    eprintln!(
        "run {}/{}: every window degraded after {:.0} ms, in the episode after {:.0} ms; \
             writing {} patients per window with central down",
        run + 1,
        plan.runs,
        failover.degraded_ms,
        failover.episode_ms,
        plan.per_window
    );
    failovers.push(failover);
    let reconcile = reconcile(
        hospital,
        desks,
        windows,
        plan.per_window,
        patients_written,
        run,
    )?;
    eprintln!(
        "run {}/{}: central restarted; it held every patient after {:.0} ms, reconciled \
             after {:.0} ms",
        run + 1,
        plan.runs,
        reconcile.central_has_all_ms,
        reconcile.reconciled_ms
    );
    reconciles.push(reconcile);
    if run + 1 < plan.runs {
        let quiet = settle(hospital)?;
        eprintln!(
            "run {}/{}: every node holds every record after {quiet:.0} ms more",
            run + 1,
            plan.runs
        );
    }
    Ok(())
}

/// Waits until every node holds the same records and no connected peer has anything to send
/// or receive: the outage's patients have reached every window, so the next run starts from a
/// quiet hospital. Returns how long that took, in ms.
fn settle(hospital: &Hospital) -> anyhow::Result<f64> {
    let start = Instant::now();
    hospital.wait_for(
        "every node to hold every record, with nothing left to replicate",
        RECONCILE_WITHIN,
        |h| {
            let mut counts = std::collections::BTreeSet::new();
            for name in h.names() {
                let s = h.status(&name)?;
                let busy = s
                    .peers
                    .iter()
                    .any(|p| p.connected && (p.to_send > 0 || p.to_receive > 0));
                if busy {
                    return Ok(false);
                }
                counts.insert(s.store.records);
            }
            Ok(counts.len() == 1)
        },
    )?;
    Ok(ms_since(start, Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hospital_has_central_a_standby_and_the_windows() {
        let windows = window_names(5);
        assert_eq!(windows, ["W01", "W02", "W03", "W04", "W05"]);
        let specs = specs(&windows);
        assert_eq!(specs.len(), 7);
        assert!(specs[2..].iter().all(|s| s.peers == [CENTRAL, STANDBY]));
    }
}
