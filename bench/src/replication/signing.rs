//! What signed changes cost, side by side with the same runs without them.
//!
//! Two measures, in the same benchmark run:
//! - per change: signing one commit and verifying it (ECDSA P-256, ring), at the commit size
//!   the workload's writes made (the store signs each group commit once; a receiver checks each
//!   signature once per batch), divided by the changes it covers;
//! - end to end: the initial sync and the catch-up in records per second, with signatures
//!   (as every node runs) and without (`AuthorCheck::UncheckedActorIds` on both stores: nothing
//!   signed, sent or checked), the runs interleaved so both see the same machine.

use std::time::Instant;

use lifeline_core::NodeName;
use lifeline_core::automerge::ChangeHash;
use lifeline_core::roles::{DeskRole, NodeRole};
use lifeline_core::trust::{Member, Roster, SignedCommit, SigningKey};
use serde::Serialize;

use super::phase::Phase;

/// What signing and checking one commit of `changes` changes took, in µs.
#[derive(Debug, Clone, Serialize)]
pub struct CommitCost {
    pub changes: usize,
    pub sign_us: f64,
    pub verify_us: f64,
    pub sign_us_per_change: f64,
    pub verify_us_per_change: f64,
}

/// Records per second of one phase, with and without signatures.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub records_per_s_signed: f64,
    pub records_per_s_unsigned: f64,
    /// Signed against unsigned, in percent (negative: signatures cost that much).
    pub change_percent: f64,
}

impl Throughput {
    pub fn of(signed: &Phase, unsigned: &Phase) -> Throughput {
        let rate = |p: &Phase| {
            if p.elapsed_ms > 0.0 {
                p.documents as f64 / (p.elapsed_ms / 1e3)
            } else {
                0.0
            }
        };
        let (s, u) = (rate(signed), rate(unsigned));
        Throughput {
            records_per_s_signed: s,
            records_per_s_unsigned: u,
            change_percent: if u > 0.0 { (s / u - 1.0) * 100.0 } else { 0.0 },
        }
    }
}

/// The cost of signatures in one benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct SigningCost {
    /// Changes per signed commit among the window's registrations as it sent them (it signs
    /// what waits for a signature when it first sends it, in commits of at most 256).
    pub changes_per_commit: f64,
    /// At the workload's commit size: what a change costs to sign on its author and to
    /// verify on a receiver, in µs.
    pub sign_us_per_change: f64,
    pub verify_us_per_change: f64,
    /// The same at a few commit sizes, for scale.
    pub by_commit_size: Vec<CommitCost>,
    pub initial: Throughput,
    pub catch_up: Throughput,
}

/// Times `f` over `n` calls; µs per call.
fn per_call(n: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Signs and verifies commits of `changes` change hashes, `iterations` times each.
fn commit_cost(changes: usize, iterations: usize) -> anyhow::Result<CommitCost> {
    let key = SigningKey::generate(NodeName::new("W01")?)?;
    let mut roster = Roster::new();
    roster.admit(Member {
        name: key.author().clone(),
        role: NodeRole::Window,
        desks: vec![DeskRole::Registration],
        key: key.public_key().clone(),
        credential: Vec::new(),
    });
    let hashes: Vec<ChangeHash> = (0..changes)
        .map(|i| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_be_bytes());
            ChangeHash(h)
        })
        .collect();
    let signed = SignedCommit::sign(&key, hashes.clone())?;
    let mut failed = None;
    let sign_us = per_call(iterations, || {
        if let Err(e) = SignedCommit::sign(&key, hashes.clone()) {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    let mut refused = 0;
    let verify_us = per_call(iterations, || {
        if signed.verify(&roster).is_err() {
            refused += 1;
        }
    });
    anyhow::ensure!(refused == 0, "a good signature did not verify");
    Ok(CommitCost {
        changes,
        sign_us,
        verify_us,
        sign_us_per_change: sign_us / changes as f64,
        verify_us_per_change: verify_us / changes as f64,
    })
}

/// Measures the per-change costs at the workload's commit size and a few others, and sets
/// the phases with and without signatures side by side.
pub fn measure(
    changes_per_commit: f64,
    quick: bool,
    signed: (&Phase, &Phase),
    unsigned: (&Phase, &Phase),
) -> anyhow::Result<SigningCost> {
    let iterations = if quick { 20 } else { 500 };
    let typical = (changes_per_commit.round() as usize).max(1);
    let mut sizes = vec![1, typical, 64, 512];
    sizes.sort_unstable();
    sizes.dedup();
    let by_commit_size = sizes
        .into_iter()
        .map(|n| commit_cost(n, iterations))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let at_typical = by_commit_size
        .iter()
        .find(|c| c.changes == typical)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the workload's commit size was not measured"))?;
    Ok(SigningCost {
        changes_per_commit,
        sign_us_per_change: at_typical.sign_us / changes_per_commit.max(1.0),
        verify_us_per_change: at_typical.verify_us / changes_per_commit.max(1.0),
        by_commit_size,
        initial: Throughput::of(signed.0, unsigned.0),
        catch_up: Throughput::of(signed.1, unsigned.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_signs_and_verifies_and_costs_are_per_change() {
        let c = commit_cost(4, 2).expect("measured");
        assert_eq!(c.changes, 4);
        assert!(c.sign_us > 0.0 && c.verify_us > 0.0);
        assert!((c.sign_us_per_change * 4.0 - c.sign_us).abs() < 1e-6);
    }
}
