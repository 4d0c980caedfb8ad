//! One module per subcommand.

pub mod backup;
pub mod ca;
pub mod catalog;
pub mod compact;
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
use crate::i18n::{Lang, tr};

/// Loads a node's config and connects to its daemon as the administrator.
pub fn admin_client(config_path: &std::path::Path) -> anyhow::Result<(Config, Client)> {
    let config = Config::load(config_path)?;
    let client = Client::for_config(&config)?;
    Ok((config, client))
}

/// How long ago, in words a person reads at a glance, in `l`.
pub fn ago(l: Lang, now_ms: i64, then_ms: i64) -> String {
    let s = (now_ms - then_ms).max(0) / 1000;
    match s {
        0..=59 => tr(l, "cli-ago-s", &[("s", s.into())]),
        60..=3599 => tr(
            l,
            "cli-ago-m",
            &[("m", (s / 60).into()), ("s", (s % 60).into())],
        ),
        _ => tr(
            l,
            "cli-ago-h",
            &[("h", (s / 3600).into()), ("m", (s / 60 % 60).into())],
        ),
    }
}
