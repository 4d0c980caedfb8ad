//! (b) of a run: with central still down every window writes its patients, and they spread
//! to the standby and every window (measured on its own: the desks write far faster than a
//! hospital's, so this is the backlog of the benchmark's pace, not of reconciliation);
//! central starts again; until central holds every patient and every window's unreconciled
//! count is 0, and then until every window is back to normal and out of the episode.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use lifeline_node::api::status::StatusReport;
use lifeline_node::client::Client;
use lifeline_node::hospital::Hospital;

use super::desk::Desk;
use super::report::ReconcileRun;
use super::{CENTRAL, RECONCILE_POLL, RECONCILE_WITHIN, STANDBY, ms_since};

fn patients_of(status: &StatusReport) -> u64 {
    status
        .store
        .records_by_kind
        .iter()
        .find(|(kind, _)| kind == "patient")
        .map_or(0, |(_, n)| *n)
}

/// (b): the windows write while central is down; central restarts; until reconciled.
pub(super) fn reconcile(
    hospital: &mut Hospital,
    desks: &[Desk],
    windows: &[String],
    per_window: usize,
    patients_written: &mut usize,
    run: usize,
) -> anyhow::Result<ReconcileRun> {
    let start = Instant::now();
    let written = std::thread::scope(|s| {
        let threads: Vec<_> = desks
            .iter()
            .enumerate()
            .map(|(i, desk)| {
                s.spawn(move || -> anyhow::Result<usize> {
                    let first = (run as u64 + 1) * 10_000_000 + i as u64 * 1_000_000 + 500_000;
                    for n in 0..per_window as u64 {
                        desk.write_patient(first + n)
                            .with_context(|| format!("a desk write on {} failed", desk.window))?;
                    }
                    Ok(per_window)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .map_err(|_| anyhow!("a desk thread panicked"))
                    .and_then(|r| r)
            })
            .sum::<anyhow::Result<usize>>()
    })?;
    let write_ms = start.elapsed().as_secs_f64() * 1e3;
    *patients_written += written;
    let expected = *patients_written as u64;
    let spread_ms = spread(hospital, windows, expected)?;

    let t0 = Instant::now();
    hospital.start(CENTRAL).context("cannot restart central")?;
    let central_ready_ms = ms_since(t0, Instant::now());
    let admins: BTreeMap<&str, Client> = windows
        .iter()
        .map(String::as_str)
        .chain([CENTRAL])
        .map(|n| Ok((n, hospital.admin(n)?)))
        .collect::<anyhow::Result<_>>()?;
    let (mut has_all, mut reconciled) = (None, None);
    let mut last = String::new();
    loop {
        let now = Instant::now();
        if now.duration_since(t0) > RECONCILE_WITHIN {
            bail!("the outage was not reconciled within {RECONCILE_WITHIN:?}: {last}");
        }
        let mut statuses = BTreeMap::new();
        for (name, admin) in &admins {
            if let Ok(s) = admin.get::<StatusReport>("/admin/status") {
                statuses.insert(*name, s);
            }
        }
        let at = Instant::now();
        if statuses.len() == admins.len() {
            let central_patients = statuses.get(CENTRAL).map_or(0, patients_of);
            let windows_status = || windows.iter().filter_map(|w| statuses.get(w.as_str()));
            let unreconciled: u64 = windows_status().map(|s| s.unreconciled).sum();
            let all_back = windows_status()
                .all(|s| s.episode.is_none() && s.mode.mode == "normal" && s.unreconciled == 0);
            last = format!(
                "central holds {central_patients} of {expected} patients; {unreconciled} \
                 unreconciled on the windows"
            );
            if has_all.is_none() && central_patients >= expected {
                has_all = Some(at);
            }
            if has_all.is_some() && reconciled.is_none() && unreconciled == 0 {
                reconciled = Some(at);
            }
            if let (Some(has_all), Some(reconciled)) = (has_all, reconciled)
                && all_back
            {
                let peers = statuses.get(CENTRAL).map(|s| s.peers.as_slice());
                let central_received_from = peers.map_or_else(Vec::new, |p| {
                    p.iter()
                        .map(|p| (p.name.clone(), p.records_received))
                        .collect()
                });
                let central_received =
                    peers.map_or(0, |p| p.iter().map(|p| p.records_received).sum());
                let central_sent = peers.map_or(0, |p| p.iter().map(|p| p.records_sent).sum());
                return Ok(ReconcileRun {
                    patients_written: written,
                    write_ms,
                    spread_ms,
                    central_ready_ms,
                    central_has_all_ms: ms_since(t0, has_all),
                    reconciled_ms: ms_since(t0, reconciled),
                    episode_left_ms: ms_since(t0, at),
                    central_patients,
                    central_received,
                    central_sent,
                    central_received_from,
                });
            }
        }
        std::thread::sleep(RECONCILE_POLL);
    }
}

/// Waits, with central still down, until the standby and every window hold `expected`
/// patients: ms from now (the last desk write).
fn spread(hospital: &Hospital, windows: &[String], expected: u64) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let admins: Vec<(&str, Client)> = windows
        .iter()
        .map(String::as_str)
        .chain([STANDBY])
        .map(|n| Ok((n, hospital.admin(n)?)))
        .collect::<anyhow::Result<_>>()?;
    loop {
        let mut lacking = Vec::new();
        for (name, admin) in &admins {
            let held = admin
                .get::<StatusReport>("/admin/status")
                .map_or(0, |s| patients_of(&s));
            if held < expected {
                lacking.push(format!("{name} {held}"));
            }
        }
        if lacking.is_empty() {
            return Ok(ms_since(t0, Instant::now()));
        }
        if t0.elapsed() > RECONCILE_WITHIN {
            bail!(
                "the outage's {expected} patients did not reach every window within \
                 {RECONCILE_WITHIN:?}: {}",
                lacking.join(", ")
            );
        }
        std::thread::sleep(RECONCILE_POLL);
    }
}
