//! The `[his]` section of a node's config (central and the standby only):
//!
//! ```toml
//! [his]
//! url = "postgresql://lifeline@10.1.0.5:5432/his"   # no password here
//! password_file = "/etc/lifeline/his.password"     # its first line; owner-only
//! tls_ca = "/etc/lifeline/his-ca.pem"              # optional: TLS, verifying the server
//! poll_interval = "60s"                            # how often to pull (the plan's worst case: 30 min)
//! health_interval = "5s"                           # how often to check the HIS answers
//! overlap = "5m"                                   # re-read this much before the cursor (clock skew)
//! connect_timeout = "5s"
//! query_timeout = "60s"
//! emergency_after = "60s"                          # the HIS unreachable this long opens an episode
//! mapping = "/etc/lifeline/his-mapping.toml"       # optional: default, the reference schema
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lifeline_core::NodeRole;
use serde::{Deserialize, Serialize};

use super::db::postgres::PgSettings;
use super::mapping::Mapping;
use crate::i18n::said::Said;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HisSection {
    /// A `postgresql://` URL (or `key=value` string) without a password.
    pub url: String,
    /// A file whose first line is the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The CA that signed the HIS database's certificate; TLS is used when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// Default 60 s.
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Default 5 s.
    #[serde(default = "default_health", with = "humantime_serde")]
    pub health_interval: Duration,
    /// Default 5 min.
    #[serde(default = "default_overlap", with = "humantime_serde")]
    pub overlap: Duration,
    /// Default 5 s.
    #[serde(default = "default_connect", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Default 60 s.
    #[serde(default = "default_query", with = "humantime_serde")]
    pub query_timeout: Duration,
    /// Default 60 s.
    #[serde(default = "default_emergency", with = "humantime_serde")]
    pub emergency_after: Duration,
    /// The mapping file; default: the reference schema's (built in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<PathBuf>,
}

fn default_poll() -> Duration {
    Duration::from_secs(60)
}
fn default_health() -> Duration {
    Duration::from_secs(5)
}
fn default_overlap() -> Duration {
    Duration::from_secs(300)
}
fn default_connect() -> Duration {
    Duration::from_secs(5)
}
fn default_query() -> Duration {
    Duration::from_secs(60)
}
fn default_emergency() -> Duration {
    Duration::from_secs(60)
}

impl HisSection {
    /// A section with every default, for `url`.
    pub fn new(url: impl Into<String>) -> HisSection {
        HisSection {
            url: url.into(),
            password_file: None,
            tls_ca: None,
            poll_interval: default_poll(),
            health_interval: default_health(),
            overlap: default_overlap(),
            connect_timeout: default_connect(),
            query_timeout: default_query(),
            emergency_after: default_emergency(),
            mapping: None,
        }
    }

    /// The rules serde cannot express (files are read when the bridge starts).
    pub fn check(&self, role: NodeRole) -> anyhow::Result<()> {
        if role == NodeRole::Window {
            return Err(Said::new("cli-config-his-on-window", vec![]).into());
        }
        let parsed: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| Said::new("cli-config-his-url", vec![]).because(e))?;
        if parsed.get_password().is_some() {
            return Err(Said::new("cli-config-his-password", vec![]).into());
        }
        for (name, d) in [
            ("poll_interval", self.poll_interval),
            ("health_interval", self.health_interval),
            ("connect_timeout", self.connect_timeout),
            ("query_timeout", self.query_timeout),
            ("emergency_after", self.emergency_after),
        ] {
            if d.is_zero() {
                return Err(Said::new(
                    "cli-config-his-zero",
                    vec![("name", format!("his.{name}").into())],
                )
                .into());
            }
        }
        if self.health_interval > self.poll_interval {
            return Err(Said::new("cli-config-his-health-interval", vec![]).into());
        }
        Ok(())
    }

    /// The mapping this section names, or the reference one.
    pub fn mapping(&self) -> anyhow::Result<Mapping> {
        match &self.mapping {
            Some(path) => Mapping::load(path),
            None => Ok(Mapping::reference()),
        }
    }

    /// How to connect: the URL, the password read from its file, TLS, timeouts.
    pub fn pg_settings(&self, utc_offset_min: i32) -> anyhow::Result<PgSettings> {
        let password = match &self.password_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read his.password_file {}", path.display()))?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
        };
        Ok(PgSettings {
            url: self.url.clone(),
            password,
            tls_ca: self.tls_ca.clone(),
            connect_timeout: self.connect_timeout,
            query_timeout: self.query_timeout,
            utc_offset_min,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_checked() {
        let ok: HisSection =
            toml::from_str("url = \"postgresql://lifeline@127.0.0.1:5432/his\"").expect("parse");
        assert_eq!(ok.poll_interval, Duration::from_secs(60));
        ok.check(NodeRole::Central).expect("valid");
        assert!(ok.check(NodeRole::Window).is_err());
        let secret = HisSection::new("postgresql://lifeline:hunter2@127.0.0.1/his");
        let err = secret
            .check(NodeRole::Central)
            .expect_err("password in the URL");
        assert!(err.to_string().contains("password_file"), "{err}");
        let typo = toml::from_str::<HisSection>("url = \"x\"\npoll = \"1s\"");
        assert!(typo.expect_err("unknown").to_string().contains("poll"));
        let mut zero = HisSection::new("postgresql://h/his");
        zero.poll_interval = Duration::ZERO;
        assert!(zero.check(NodeRole::Standby).is_err());
    }
}
