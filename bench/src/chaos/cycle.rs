//! One cycle of the chaos loop: the desks write at every window while a node chosen by the
//! seed is killed (SIGKILL) and started again, and perhaps a relayed window's link to central
//! is cut and restored; then, every fault healed, until the hospital is quiescent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use lifeline_core::{RecordId, Store};
use lifeline_node::error::chain;
use lifeline_node::hospital::Hospital;

use super::check::wait_quiescent;
use super::ledger::{Acked, Kind, Ledger, Outcome, Tally};
use super::report::CycleReport;
use super::{CONVERGE_WITHIN, Chaos, PACE, Plan, role_of};
use crate::failover::desk::Desk;
use crate::scale::data::Rng;

/// The longest a killed node stays down, and a cut link cut, in ms.
const DOWN_MAX_MS: u64 = 6_000;
const CUT_MAX_MS: u64 = 6_000;

/// What the seed chose for a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Faults {
    /// How long the desks write before the kill.
    pub(super) lead: Duration,
    pub(super) victim: String,
    /// From the kill to the restart (longer when the check of a killed window's store takes
    /// longer).
    pub(super) down: Duration,
    /// A relayed window whose link to central is cut at the kill, and for how long.
    pub(super) cut: Option<(String, Duration)>,
}

impl Faults {
    /// Draws a cycle's faults: the same draws in every cycle, whatever they choose, so that a
    /// seed's cycles are the same whatever happened in the ones before.
    pub(super) fn draw(rng: &mut Rng, nodes: &[String], relayed: &[String]) -> Faults {
        let victim = nodes[rng.below(nodes.len() as u64) as usize].clone();
        let lead = Duration::from_millis(200 + rng.below(300));
        // Up to twice the failover's threshold (peer timeout 1 s + emergency after 2 s): some
        // outages are over before anyone notices, some open an emergency episode.
        let down = Duration::from_millis(200 + rng.below(DOWN_MAX_MS - 200));
        let cutting = rng.below(3) == 0;
        let which = rng.below(relayed.len().max(1) as u64) as usize;
        let cut_for = Duration::from_millis(1_000 + rng.below(CUT_MAX_MS - 1_000));
        Faults {
            lead,
            victim,
            down,
            cut: relayed
                .get(which)
                .filter(|_| cutting)
                .map(|w| (w.clone(), cut_for)),
        }
    }
}

/// Runs cycle `index` (from 0). An error only when the tool itself cannot go on; what the
/// cycle found wrong is in the report's failures.
pub(super) fn run(
    chaos: &mut Chaos,
    plan: &Plan,
    desks: &[Desk],
    ledger: &Ledger,
    rng: &mut Rng,
    index: usize,
) -> anyhow::Result<CycleReport> {
    let cycle = index + 1;
    let faults = Faults::draw(rng, &chaos.nodes(plan), &plan.relayed);
    let stop = AtomicBool::new(false);
    let (injected, tallies) = std::thread::scope(|s| {
        let writers: Vec<_> = desks
            .iter()
            .enumerate()
            .map(|(i, desk)| {
                let stop = &stop;
                s.spawn(move || write_until(desk, i, cycle, ledger, stop))
            })
            .collect();
        // The desks stop whatever happens here, a panic included: the scope waits for them.
        let stopping = StopOnDrop(&stop);
        let injected = inject(chaos, &faults, ledger, cycle);
        drop(stopping);
        let tallies = writers
            .into_iter()
            .map(|t| t.join().map_err(|_| anyhow!("a desk thread panicked")))
            .collect::<anyhow::Result<Vec<Tally>>>();
        (injected, tallies)
    });
    let mut injected = injected?;
    let mut tally = Tally::default();
    for t in tallies? {
        tally.add(&t);
    }
    if let Some(words) = &tally.first_anomaly {
        injected.failures.push(format!(
            "cycle {cycle}: {} answer(s) were successes the desk could not take as saved: {words}",
            tally.anomalies
        ));
    }
    let converge_ms = if injected.fatal {
        None
    } else {
        match wait_quiescent(&chaos.hospital, CONVERGE_WITHIN) {
            Ok(ms) => Some(ms),
            Err(e) => {
                injected.failures.push(format!(
                    "cycle {cycle}: not quiescent within {CONVERGE_WITHIN:?} of the heal: {}",
                    chain(&*e)
                ));
                None
            }
        }
    };
    Ok(CycleReport {
        cycle,
        victim: faults.victim.clone(),
        role: role_of(&faults.victim),
        down_ms: injected.down_ms,
        restart_ms: injected.restart_ms,
        cut: faults.cut.as_ref().map(|(w, _)| w.clone()),
        cut_ms: faults.cut.as_ref().map(|(_, d)| d.as_millis() as u64),
        writes: tally,
        store_checked: injected.store_checked,
        converge_ms,
        failures: injected.failures,
        fatal: injected.fatal,
    })
}

/// Tells the desks to stop when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What the faults of a cycle came to.
struct Injected {
    down_ms: f64,
    restart_ms: Option<f64>,
    /// Acknowledged writes found in a killed window's store (0 when a server was killed).
    store_checked: u64,
    failures: Vec<String>,
    /// The victim could not be started again: the loop stops.
    fatal: bool,
}

/// Kills the victim after the lead (and cuts the link, if one is to be cut), checks a killed
/// window's store, restores the link and restarts the victim when their times come, in time
/// order. Returns once every fault is healed.
fn inject(
    chaos: &mut Chaos,
    faults: &Faults,
    ledger: &Ledger,
    cycle: usize,
) -> anyhow::Result<Injected> {
    std::thread::sleep(faults.lead);
    let victim = faults.victim.as_str();
    let killed_at = Instant::now();
    chaos
        .hospital
        .kill(victim)
        .with_context(|| format!("cannot kill {victim}"))?;
    let relay = match &faults.cut {
        Some((window, _)) => {
            let relay = chaos
                .relays
                .get(window)
                .with_context(|| format!("no relay before {window}"))?;
            relay.cut();
            Some(relay)
        }
        None => None,
    };
    let mut injected = Injected {
        down_ms: 0.0,
        restart_ms: None,
        store_checked: 0,
        failures: Vec::new(),
        fatal: false,
    };
    if role_of(victim) == "window" {
        let acked = ledger.of_window(victim);
        match lost_in_store(&chaos.hospital, victim, &acked, cycle) {
            Ok((held, lost)) => {
                injected.store_checked = held;
                injected.failures.extend(lost);
            }
            Err(e) => injected.failures.push(format!(
                "cycle {cycle}: {victim}'s store as the SIGKILL left it could not be checked: {}",
                chain(&*e)
            )),
        }
    }
    let restart_at = killed_at + faults.down;
    let restore_at = faults.cut.as_ref().map(|(_, d)| killed_at + *d);
    if let (Some(relay), Some(at)) = (relay, restore_at.filter(|at| *at <= restart_at)) {
        sleep_until(at);
        relay.restore();
    }
    sleep_until(restart_at);
    injected.down_ms = killed_at.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    match chaos.hospital.start(victim) {
        Ok(()) => injected.restart_ms = Some(started.elapsed().as_secs_f64() * 1e3),
        Err(first) => {
            injected.failures.push(format!(
                "cycle {cycle}: {victim} did not start again after SIGKILL: {}",
                chain(&*first)
            ));
            if let Err(again) = chaos.hospital.start(victim) {
                injected.failures.push(format!(
                    "cycle {cycle}: {victim} did not start at a second try either: {}",
                    chain(&*again)
                ));
                injected.fatal = true;
            }
        }
    }
    if let (Some(relay), Some(at)) = (relay, restore_at) {
        sleep_until(at);
        relay.restore();
    }
    Ok(injected)
}

fn sleep_until(at: Instant) {
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
}

/// Copies `window`'s store as the SIGKILL left it and opens the copy (the daemon recovers the
/// original itself when it starts again); how many of the acknowledged writes of its desk the
/// copy holds, and a failure naming the first few it does not.
fn lost_in_store(
    hospital: &Hospital,
    window: &str,
    acked: &[Acked],
    cycle: usize,
) -> anyhow::Result<(u64, Option<String>)> {
    const NAMED: usize = 3;
    let config = hospital.config(window)?;
    let scratch = tempfile::Builder::new()
        .prefix(&format!("killed-{window}-"))
        .tempdir_in(hospital.dir())
        .context("cannot make a scratch directory")?;
    let copy = scratch.path().join("store.redb");
    std::fs::copy(config.store_path(), &copy)
        .with_context(|| format!("cannot copy {}", config.store_path().display()))?;
    let store = Store::open(&copy, config.store_options())
        .with_context(|| format!("the copy {} does not open", copy.display()))?;
    let mut lost = Vec::new();
    for a in acked {
        let id: RecordId =
            a.id.parse()
                .map_err(|e| anyhow!("a record id the node gave, {}: {e}", a.id))?;
        if store.doc(id)?.is_none() {
            lost.push(a);
        }
    }
    let held = (acked.len() - lost.len()) as u64;
    if lost.is_empty() {
        return Ok((held, None));
    }
    let named: Vec<String> = lost
        .iter()
        .take(NAMED)
        .map(|a| format!("{} {} (saved in cycle {})", a.kind.name(), a.id, a.cycle))
        .collect();
    Ok((
        held,
        Some(format!(
            "cycle {cycle}: {window} lost {} acknowledged write(s) after SIGKILL: its store as \
             the kill left it does not hold {}{}",
            lost.len(),
            named.join(", "),
            if lost.len() > NAMED { ", ..." } else { "" }
        )),
    ))
}

/// A window's desk until `stop`: a new patient, a visit for them and a charge on the visit,
/// each after the one before was saved, [`PACE`] apart.
fn write_until(
    desk: &Desk,
    window: usize,
    cycle: usize,
    ledger: &Ledger,
    stop: &AtomicBool,
) -> Tally {
    let mut tally = Tally::default();
    let mut n = cycle as u64 * 1_000_000 + window as u64 * 100_000;
    let mut one = |kind: Kind, result: anyhow::Result<String>| -> Option<String> {
        std::thread::sleep(PACE);
        match Outcome::of(result) {
            Outcome::Saved(id) => {
                tally.acknowledged += 1;
                ledger.push(Acked {
                    kind,
                    id: id.clone(),
                    window: desk.window.clone(),
                    cycle,
                });
                Some(id)
            }
            Outcome::Refused(words) => {
                tally.refused += 1;
                tally.first_refusal.get_or_insert(words);
                None
            }
            Outcome::Unanswered => {
                tally.unanswered += 1;
                None
            }
            Outcome::Anomaly(words) => {
                tally.anomalies += 1;
                tally.first_anomaly.get_or_insert(words);
                None
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let Some(patient) = one(Kind::Patient, desk.write_patient(n)) else {
            continue;
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Some(visit) = one(Kind::Visit, desk.register_visit(&patient)) else {
            continue;
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        one(Kind::Charge, desk.write_charge(&visit));
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_faults_and_cuts_only_relayed_links() {
        let nodes: Vec<String> = ["central", "standby", "W01", "W02"]
            .map(str::to_owned)
            .to_vec();
        let relayed = vec!["W02".to_owned()];
        let draw = |seed| {
            let mut rng = super::super::rng_of(seed);
            (0..50)
                .map(|_| Faults::draw(&mut rng, &nodes, &relayed))
                .collect::<Vec<_>>()
        };
        let faults = draw(11);
        assert_eq!(faults, draw(11));
        assert!(faults.iter().any(|f| f.cut.is_some()));
        assert!(faults.iter().any(|f| f.cut.is_none()));
        for f in &faults {
            assert!(nodes.contains(&f.victim));
            assert!(f.cut.as_ref().is_none_or(|(w, _)| w == "W02"));
            assert!((200..6_000).contains(&f.down.as_millis()));
        }
        let mut none = super::super::rng_of(11);
        assert!(Faults::draw(&mut none, &nodes, &[]).cut.is_none());
    }
}
