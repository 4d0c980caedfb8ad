//! The failover monitor: looks at the peers every [`TICK`], turns what it saw into a mode
//! ([`health::decide`]), publishes it, and every few looks runs the store housekeeping
//! ([`housekeeping::run`]) on the blocking pool. It decides nothing itself.

use std::sync::Arc;
use std::time::Duration;

use lifeline_core::{NodeRole, Store};
use lifeline_sync::mesh::PeerStatus;
use tokio::sync::watch;

use super::health::{self, Observation};
use super::housekeeping;
use super::runtime::Runtime;
use crate::error::chain;
use crate::his::bridge::Reach;

/// How often the monitor looks at the peers.
const TICK: Duration = Duration::from_millis(250);
/// How often it does the store housekeeping, in looks.
const HOUSEKEEPING_EVERY: u32 = 4;
/// How often a window prunes what it no longer keeps, in looks (a minute).
const PRUNE_EVERY: u32 = 240;

/// Whether a connection to a peer of `role` is up.
fn connected(peers: &[PeerStatus], role: NodeRole) -> bool {
    peers.iter().any(|p| p.role == Some(role) && p.connected)
}

/// Whether the other systems of record this node watches count as up, given its HIS
/// bridge's last finding (`None`: no bridge here). The HIS counts as down only once the
/// bridge has failed to reach it: a bridge that has not tried yet opens no episode and
/// holds none open.
fn other_records_up(his: Option<Reach>) -> bool {
    his != Some(Reach::Down)
}

/// Runs until `stop` changes.
pub async fn monitor(store: Store, runtime: Arc<Runtime>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let role = runtime.config.node.role;
    let started_ms = store.now_ms();
    let mut central_seen = false;
    let mut ticks: u32 = 0;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => return,
        }
        let now_ms = store.now_ms();
        let peers = runtime.peers();
        let obs = Observation {
            role,
            now_ms,
            started_ms,
            central_up: connected(&peers, NodeRole::Central),
            standby_up: connected(&peers, NodeRole::Standby),
            central_seen,
            other_records_up: other_records_up(runtime.his().map(|link| link.health().reach)),
        };
        central_seen |= obs.central_up;
        let previous = runtime.mode();
        let info = health::decide(&previous, &obs);
        if previous.mode != info.mode {
            tracing::warn!(
                from = previous.mode.name(),
                to = info.mode.name(),
                "mode changed"
            );
        }
        runtime.set_mode(info.clone());
        ticks = ticks.wrapping_add(1);
        if !ticks.is_multiple_of(HOUSEKEEPING_EVERY) {
            continue;
        }
        let prune_due = ticks % PRUNE_EVERY == HOUSEKEEPING_EVERY;
        let store = store.clone();
        let runtime = runtime.clone();
        let result = tokio::task::spawn_blocking(move || {
            housekeeping::run(&store, &runtime.config, &info, now_ms)?;
            if prune_due {
                housekeeping::prune(&store, &runtime.config, now_ms)?;
            }
            Ok::<_, anyhow::Error>(())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = chain(&*e), "housekeeping failed; will retry"),
            Err(e) => tracing::error!(error = chain(&e), "housekeeping task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_his_the_bridge_failed_to_reach_is_down() {
        assert!(other_records_up(None), "no bridge: nothing else is watched");
        assert!(other_records_up(Some(Reach::Unknown)), "not tried yet");
        assert!(other_records_up(Some(Reach::Up)));
        assert!(!other_records_up(Some(Reach::Down)));
    }
}
