//! The daemon's TOML configuration: every field documented, every optional field with a
//! default, parsed strictly (unknown fields are errors) and checked before anything starts.
//!
//! ```toml
//! [hospital]
//! utc_offset = "+08:00"             # the hospital's time zone, for times people read
//! calendar = "/etc/lifeline/calendar.txt" # working days; default: China 2026-2027, shipped
//!
//! [node]
//! name = "W01"                      # as in the node's certificate
//! role = "window"                   # central | standby | window
//! desks = ["registration", "triage"] # desk roles working at this node (windows)
//! data_dir = "/var/lib/lifeline"    # holds store.redb, operators.json, admin.token
//!
//! [network]
//! listen = "0.0.0.0:7400"           # QUIC (UDP)
//! window_mesh = true                # let other windows connect (isolated-mode meshing)
//!
//! [[peers]]                         # nodes this node dials
//! name = "central"
//! role = "central"
//! addr = "10.1.0.10:7400"
//!
//! [tls]
//! ca = "/etc/lifeline/ca.pem"
//! cert = "/etc/lifeline/W01.pem"
//! key = "/etc/lifeline/W01.key"
//!
//! [api]
//! listen = "127.0.0.1:7480"         # the desks' local HTTP API; loopback only
//!
//! [thresholds]
//! heartbeat = "1s"                  # ping interval
//! peer_timeout = "5s"               # a silent peer is gone after this
//! emergency_after = "30s"           # central unreachable this long opens an episode
//! low_water = 50                    # warn when this few numbers are left in a range
//! lease_size = 1000                 # numbers per range a lessor hands out
//!
//! [log]
//! format = "human"                  # human | json
//! level = "info"                    # a tracing filter, e.g. "info,lifeline_sync=debug"
//!
//! [retention]
//! window_days = 7                   # a window keeps the records of this many days
//!
//! [metrics]
//! listen = "127.0.0.1:9480"         # Prometheus /metrics; absent (the default): off
//!
//! [his]                             # central and the standby: the HIS bridge (docs/his.md)
//! url = "postgresql://lifeline@10.1.0.5:5432/his"
//! password_file = "/etc/lifeline/his.password"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lifeline_core::calendar::WorkCalendar;
use lifeline_core::{DeskRole, NodeName, NodeRole, StoreOptions};
use serde::{Deserialize, Serialize};

use crate::error::chain;
use crate::his::settings::HisSection;
use crate::i18n::Arg;
use crate::i18n::said::Said;
use crate::time::UtcOffset;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub hospital: HospitalSection,
    pub node: NodeSection,
    #[serde(default)]
    pub network: NetworkSection,
    #[serde(default)]
    pub peers: Vec<PeerSection>,
    pub tls: TlsSection,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub retention: RetentionSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    /// The HIS bridge (see [`crate::his::settings`]); absent: no bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub his: Option<HisSection>,
}

/// What a window keeps. Central and the standby keep everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// A window keeps the patient master, the reference data and the records of the last
    /// `window_days` days, plus everything unreconciled or open for review; older records are
    /// pruned from it (and fetched from a server on request). 1 to 3650; default 7.
    #[serde(default = "default_window_days")]
    pub window_days: u32,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            window_days: default_window_days(),
        }
    }
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Where to serve `GET /metrics` (see docs/metrics.md); a separate listener from the
    /// desks' API. Absent (the default): no metrics endpoint.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

/// What is the same for every node of the hospital.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HospitalSection {
    /// The hospital's offset from UTC (`+HH:MM` or `-HH:MM`), used for every date and time a
    /// person reads: reports, the CLI, dates of birth and due dates. Default +08:00.
    #[serde(default, deserialize_with = "utc_offset_field")]
    pub utc_offset: UtcOffset,
    /// A working-day calendar file (public holidays and make-up working days, in the format
    /// of `data/calendar-cn.txt`) replacing the shipped one (China, 2026-2027). Deadlines in
    /// working days (re-settlements) count by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<PathBuf>,
    /// The calendar read from `calendar` when the config was loaded.
    #[serde(skip)]
    pub loaded_calendar: Option<Arc<WorkCalendar>>,
}

impl HospitalSection {
    /// The working-day calendar: the hospital's file, or the shipped one.
    pub fn work_calendar(&self) -> Arc<WorkCalendar> {
        self.loaded_calendar
            .clone()
            .unwrap_or_else(WorkCalendar::china)
    }

    /// Reads the calendar file, if one is configured; errors name the file and line.
    fn load_calendar(&mut self) -> anyhow::Result<()> {
        let Some(path) = &self.calendar else {
            return Ok(());
        };
        let shown = || path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Said::new(
                "cli-config-calendar-unreadable",
                vec![("path", shown().into())],
            )
            .because(e)
        })?;
        let cal = WorkCalendar::parse(&shown(), &text)
            .map_err(|e| Said::new("cli-config-calendar-invalid", vec![]).because(e))?;
        self.loaded_calendar = Some(Arc::new(cal));
        Ok(())
    }
}

/// Reads `hospital.utc_offset`, naming the field when the value is not an offset.
fn utc_offset_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<UtcOffset, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("hospital.utc_offset: {e}")))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    pub name: NodeName,
    pub role: NodeRole,
    /// Desk roles working at this node. Default: none (servers) .
    #[serde(default)]
    pub desks: Vec<DeskRole>,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// QUIC listen address. Default 0.0.0.0:7400.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Accept connections from other windows. Default true.
    #[serde(default = "yes")]
    pub window_mesh: bool,
    /// How many nice steps below the desks replication's threads run (0–19; 0 runs them
    /// beside the desks). Default 10. Linux only.
    #[serde(default = "default_replication_nice")]
    pub replication_nice: u8,
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            listen: default_listen(),
            window_mesh: true,
            replication_nice: default_replication_nice(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    pub name: NodeName,
    pub role: NodeRole,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Default 127.0.0.1:7480. Must be a loopback address.
    #[serde(default = "default_api")]
    pub listen: SocketAddr,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: default_api(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[serde(default = "default_heartbeat", with = "humantime_serde")]
    pub heartbeat: Duration,
    #[serde(default = "default_peer_timeout", with = "humantime_serde")]
    pub peer_timeout: Duration,
    #[serde(default = "default_emergency_after", with = "humantime_serde")]
    pub emergency_after: Duration,
    #[serde(default = "default_low_water")]
    pub low_water: u64,
    #[serde(default = "default_lease_size")]
    pub lease_size: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            heartbeat: default_heartbeat(),
            peer_timeout: default_peer_timeout(),
            emergency_after: default_emergency_after(),
            low_water: default_low_water(),
            lease_size: default_lease_size(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    #[serde(default = "default_log_format")]
    pub format: LogFormat,
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7400))
}
fn default_api() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7480))
}
fn default_replication_nice() -> u8 {
    10
}
fn yes() -> bool {
    true
}
fn default_heartbeat() -> Duration {
    Duration::from_secs(1)
}
fn default_peer_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_emergency_after() -> Duration {
    Duration::from_secs(30)
}
fn default_low_water() -> u64 {
    50
}
fn default_lease_size() -> u64 {
    1000
}
fn default_window_days() -> u32 {
    7
}
fn default_log_format() -> LogFormat {
    LogFormat::Human
}
fn default_log_level() -> String {
    "info".into()
}

impl Config {
    /// Reads and checks a config file; errors name the file and what is wrong.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let shown = || -> Arg<'static> { path.display().to_string().into() };
        let text = std::fs::read_to_string(path)
            .map_err(|e| Said::new("cli-config-unreadable", vec![("path", shown())]).because(e))?;
        // toml's message points at the line and column; it is said as it comes.
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            Said::new("cli-config-unparsable", vec![("path", shown())])
                .because(anyhow::Error::msg(e.to_string().trim_end().to_owned()))
        })?;
        config
            .check()
            .and_then(|()| config.hospital.load_calendar())
            .map_err(|e| Said::new("cli-config-unusable", vec![("path", shown())]).because(e))?;
        Ok(config)
    }

    /// Rules serde cannot express.
    pub fn check(&self) -> anyhow::Result<()> {
        let refuse = |key: &'static str, args: Vec<(&'static str, Arg<'static>)>| {
            Err(Said::new(key, args).into())
        };
        if !self.api.listen.ip().is_loopback() {
            return refuse(
                "cli-config-api-not-loopback",
                vec![("address", self.api.listen.to_string().into())],
            );
        }
        if self.thresholds.heartbeat.is_zero()
            || self.thresholds.heartbeat >= self.thresholds.peer_timeout
        {
            return refuse("cli-config-heartbeat", vec![]);
        }
        if self.thresholds.lease_size == 0
            || self.thresholds.lease_size > lifeline_core::numbers::MAX_LEASE
        {
            return refuse(
                "cli-config-lease-size",
                vec![("max", lifeline_core::numbers::MAX_LEASE.into())],
            );
        }
        let mut names: Vec<&NodeName> = self.peers.iter().map(|p| &p.name).collect();
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return refuse("cli-config-peer-twice", vec![]);
        }
        if names.contains(&&self.node.name) {
            return refuse(
                "cli-config-peer-itself",
                vec![("node", self.node.name.to_string().into())],
            );
        }
        if self.node.role == NodeRole::Window && self.node.desks.is_empty() {
            return refuse("cli-config-no-desks", vec![]);
        }
        if !(1..=3650).contains(&self.retention.window_days) {
            return refuse(
                "cli-config-window-days",
                vec![("days", self.retention.window_days.into())],
            );
        }
        if self.network.replication_nice > 19 {
            return refuse(
                "cli-config-replication-nice",
                vec![("nice", u32::from(self.network.replication_nice).into())],
            );
        }
        if let Some(metrics) = self.metrics.listen
            && metrics == self.api.listen
        {
            return refuse(
                "cli-config-metrics-address",
                vec![("address", metrics.to_string().into())],
            );
        }
        if let Some(his) = &self.his {
            his.check(self.node.role)?;
        }
        self.log_filter()?;
        Ok(())
    }

    /// The tracing filter `[log] level` says. Field values in it (`[peer{peer=W01}]`) are
    /// matched as written, not as regular expressions: a pattern's compile time grows without
    /// bound with its shape (fuzzing found a filter of 700 bytes that took 13 s to check, the
    /// daemon's start blocked meanwhile), and naming a peer is all an operator needs.
    ///
    /// Automerge's spans are left out below `warn` unless the filter names `automerge`: its
    /// loading functions open a span at `info` each (`#[instrument]`'s default), several per
    /// document a peer sends, and a subscriber that takes them formats their fields: a
    /// seventh of a new window's mesh thread while it synced, for spans nobody reads.
    pub fn log_filter(&self) -> Result<tracing_subscriber::EnvFilter, Said> {
        let filter = tracing_subscriber::EnvFilter::builder()
            .with_regex(false)
            .parse(&self.log.level)
            .map_err(|e| {
                Said::new(
                    "cli-config-log-level",
                    vec![("level", format!("{:?}", self.log.level).into())],
                )
                .because(anyhow::Error::msg(chain(&e)))
            })?;
        let quiet_already = filter
            .max_level_hint()
            .is_some_and(|most| most <= tracing_subscriber::filter::LevelFilter::WARN);
        if quiet_already || self.log.level.contains("automerge") {
            return Ok(filter);
        }
        let quiet = "automerge=warn".parse().expect("a valid directive");
        Ok(filter.add_directive(quiet))
    }

    /// How this node's store is opened: its identity, the hospital's offset, the low-water
    /// mark for number ranges.
    pub fn store_options(&self) -> StoreOptions {
        let mut opts = StoreOptions::new(self.node.name.clone(), self.node.role);
        opts.low_water = self.thresholds.low_water;
        opts.utc_offset_min = self.hospital.utc_offset.minutes();
        opts.calendar = self.hospital.work_calendar();
        opts
    }

    pub fn store_path(&self) -> PathBuf {
        self.node.data_dir.join("store.redb")
    }

    pub fn operators_path(&self) -> PathBuf {
        self.node.data_dir.join("operators.json")
    }

    pub fn admin_token_path(&self) -> PathBuf {
        self.node.data_dir.join("admin.token")
    }

    /// The days of records this node keeps: `Some` on a window, `None` (everything) on
    /// central and the standby.
    pub fn window_days(&self) -> Option<u32> {
        (self.node.role == NodeRole::Window).then_some(self.retention.window_days)
    }

    /// The central peer, if configured.
    pub fn peer_with_role(&self, role: NodeRole) -> Option<&PeerSection> {
        self.peers.iter().find(|p| p.role == role)
    }
}

#[cfg(test)]
mod tests;
