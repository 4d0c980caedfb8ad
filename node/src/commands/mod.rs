//! One module per subcommand.

pub mod backup;
pub mod ca;
pub mod catalog;
pub mod conflicts;
pub mod daemon;
pub mod demo;
pub mod emergency;
pub mod episode;
pub mod export;
pub mod his;
pub mod operator;
pub mod quarantine;
pub mod ranges;
pub mod reconcile;
pub mod report;
pub mod review;
pub mod revoke;
pub mod status;

use crate::client::Client;
use crate::config::Config;

/// Loads a node's config and connects to its daemon as the administrator.
pub fn admin_client(config_path: &std::path::Path) -> anyhow::Result<(Config, Client)> {
    let config = Config::load(config_path)?;
    let client = Client::for_config(&config)?;
    Ok((config, client))
}

/// A duration in words a person reads at a glance.
pub fn ago(now_ms: i64, then_ms: i64) -> String {
    let s = (now_ms - then_ms).max(0) / 1000;
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m{}s ago", s / 60, s % 60),
        _ => format!("{}h{}m ago", s / 3600, s / 60 % 60),
    }
}
