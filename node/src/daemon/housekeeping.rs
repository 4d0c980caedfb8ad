//! The store housekeeping a node's monitor runs every few looks: core's round
//! ([`lifeline_core::housekeeping`], the episodes, acknowledgements and number ranges that
//! follow from the mode) with this node's settings from its config, and the window's prune.

use lifeline_core::health::ModeInfo;
use lifeline_core::housekeeping::{Settings, Thresholds};
use lifeline_core::{NodeRole, Store};

use crate::config::Config;

pub use lifeline_core::housekeeping::system_operator;

/// The housekeeping settings of the node `config` describes.
pub fn settings(config: &Config) -> Settings {
    Settings {
        role: config.node.role,
        desks: config.node.desks.clone(),
        thresholds: Thresholds {
            emergency_after: config.thresholds.emergency_after,
            his_emergency_after: config.his.as_ref().map(|h| h.emergency_after),
        },
        low_water: config.thresholds.low_water,
        lease_size: config.thresholds.lease_size,
        central: config
            .peer_with_role(NodeRole::Central)
            .map(|p| p.name.to_string()),
    }
}

/// One housekeeping round (blocking: it reads and writes the store).
pub fn run(store: &Store, config: &Config, info: &ModeInfo, now_ms: i64) -> anyhow::Result<()> {
    lifeline_core::housekeeping::run(store, &settings(config), info, now_ms)?;
    Ok(())
}

/// Records pruned per commit, so desks' writes never wait long behind a prune.
pub const PRUNE_BATCH: usize = 2000;

/// Commits one prune round makes at most; the rest waits for the next round.
pub const PRUNE_COMMITS: usize = 50;

/// Since when a window keeps records, at `now_ms`.
pub fn keep_since_ms(now_ms: i64, window_days: u32) -> i64 {
    now_ms - i64::from(window_days) * 86_400_000
}

/// On a window: prunes what it no longer keeps, in bounded commits (blocking).
pub fn prune(store: &Store, config: &Config, now_ms: i64) -> anyhow::Result<usize> {
    let Some(days) = config.window_days() else {
        return Ok(0);
    };
    let since = keep_since_ms(now_ms, days);
    let mut removed = 0;
    for _ in 0..PRUNE_COMMITS {
        let round = store.prune(since, PRUNE_BATCH)?;
        removed += round.removed;
        if !round.more {
            break;
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            window_days = days,
            "pruned records older than the working set"
        );
    }
    Ok(removed)
}
