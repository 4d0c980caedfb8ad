//! The figures of one replication phase (the initial sync or the catch-up) over every run of
//! one side: medians, sizes and per-unit figures, and the runs themselves.

use serde::Serialize;

use crate::measure::median;
use crate::relay::Traffic;

/// One phase of one run.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRun {
    pub elapsed_ms: f64,
    pub wire: Traffic,
}

/// One phase over every run: medians, and the runs themselves.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub registrations: usize,
    /// Documents replicated: Lifeline records (two per registration) or samod documents.
    pub documents: usize,
    /// What those documents take saved (sum of `Automerge::save()`), for scale.
    pub saved_bytes: u64,
    pub elapsed_ms: f64,
    pub registrations_per_s: f64,
    pub wire_bytes: f64,
    pub to_central_bytes: f64,
    pub from_central_bytes: f64,
    pub wire_bytes_per_registration: f64,
    pub wire_bytes_per_document: f64,
    /// Wire bytes over saved bytes.
    pub wire_over_saved: f64,
    pub runs: Vec<PhaseRun>,
}

impl Phase {
    pub fn new(
        registrations: usize,
        documents: usize,
        saved_bytes: u64,
        runs: Vec<PhaseRun>,
    ) -> Phase {
        let of = |f: fn(&PhaseRun) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let elapsed_ms = of(|r| r.elapsed_ms);
        let wire_bytes = of(|r| r.wire.total_bytes() as f64);
        let per = |n: usize| if n > 0 { wire_bytes / n as f64 } else { 0.0 };
        Phase {
            registrations,
            documents,
            saved_bytes,
            elapsed_ms,
            registrations_per_s: if elapsed_ms > 0.0 {
                registrations as f64 / (elapsed_ms / 1e3)
            } else {
                0.0
            },
            wire_bytes,
            to_central_bytes: of(|r| r.wire.to_upstream_bytes as f64),
            from_central_bytes: of(|r| r.wire.to_client_bytes as f64),
            wire_bytes_per_registration: per(registrations),
            wire_bytes_per_document: per(documents),
            wire_over_saved: if saved_bytes > 0 {
                wire_bytes / saved_bytes as f64
            } else {
                0.0
            },
            runs,
        }
    }
}

/// Every run of one side so far, phase by phase.
#[derive(Debug, Default)]
pub struct Runs {
    pub initial: Vec<PhaseRun>,
    pub catch_up: Vec<PhaseRun>,
}

impl Runs {
    /// Keeps run `run` of `runs` of `side` (`detail` says more), and says how it went.
    pub fn push(
        &mut self,
        side: &str,
        detail: &str,
        run: usize,
        runs: usize,
        initial: PhaseRun,
        catch_up: PhaseRun,
    ) {
        eprintln!(
            "{side} run {}/{runs}{detail}: initial sync {:.0} ms, catch-up {:.0} ms",
            run + 1,
            initial.elapsed_ms,
            catch_up.elapsed_ms
        );
        self.initial.push(initial);
        self.catch_up.push(catch_up);
    }
}

/// One implementation's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub name: String,
    /// How it was connected and what the relay counted.
    pub transport: String,
    pub initial: Phase,
    pub catch_up: Phase,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_take_medians_and_per_unit_figures() {
        let run = |ms: f64, up: u64, down: u64| PhaseRun {
            elapsed_ms: ms,
            wire: Traffic {
                to_upstream_bytes: up,
                to_client_bytes: down,
                packets: 1,
            },
        };
        let phase = Phase::new(
            10,
            20,
            1000,
            vec![
                run(300.0, 900, 100),
                run(100.0, 1900, 100),
                run(200.0, 1400, 100),
            ],
        );
        assert_eq!(phase.elapsed_ms, 200.0);
        assert_eq!(phase.wire_bytes, 1500.0);
        assert_eq!(phase.wire_bytes_per_registration, 150.0);
        assert_eq!(phase.wire_bytes_per_document, 75.0);
        assert_eq!(phase.wire_over_saved, 1.5);
        assert_eq!(phase.registrations_per_s, 50.0);
    }
}
