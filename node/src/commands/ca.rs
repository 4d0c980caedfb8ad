//! `lifeline ca init|issue|revoke`: the hospital CA, node certificates, and revoking one.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use lifeline_core::{DeskRole, NodeName, NodeRole};
use lifeline_sync::identity::{self, NodeIdentity};

use crate::i18n::{Lang, tr};

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the hospital CA (ca.pem, and ca.key with mode 0600) in a directory.
    Init {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue a node certificate (<name>.pem, <name>.key with mode 0600) signed by the CA.
    Issue {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        /// Desk roles at this node, comma-separated (registration, cashier, pharmacy, triage,
        /// doctor, admin).
        #[arg(long, value_delimiter = ',')]
        desks: Vec<String>,
        /// Validity in days (1 or more).
        #[arg(long, default_value_t = 825, value_parser = clap::value_parser!(u32).range(1..))]
        days: u32,
    },
    /// Revoke a node's certificate (a stolen window PC): writes <name>.revoked.json, signed
    /// by the CA. Give it to central (here with --config, or later with `lifeline revoke`),
    /// which refuses the node at once and tells every peer.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        /// Why, for the audit trail and every node's log.
        #[arg(long)]
        reason: String,
        /// Also hand the revocation to this running node (usually central's config).
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
    },
}

pub fn run(cmd: CaCommand, l: Lang) -> anyhow::Result<()> {
    match cmd {
        CaCommand::Init { dir } => {
            std::fs::create_dir_all(&dir)
                .with_context(|| path_words(l, "cli-cannot-create", &dir))?;
            let files = identity::init_ca(&dir)?;
            println!(
                "{}",
                tr(
                    l,
                    "cli-ca-created",
                    &[
                        ("cert", files.cert.display().to_string().into()),
                        ("key", files.key.display().to_string().into()),
                    ],
                )
            );
        }
        CaCommand::Issue {
            dir,
            name,
            role,
            desks,
            days,
        } => {
            let name = NodeName::new(name)?;
            let role: NodeRole = role.parse()?;
            let desks = desks
                .iter()
                .filter(|d| !d.is_empty())
                .map(|d| d.parse::<DeskRole>())
                .collect::<Result<Vec<_>, _>>()?;
            let id = NodeIdentity::new(name, role, desks);
            let files = identity::issue(&dir, &id, days)?;
            println!(
                "{}",
                tr(
                    l,
                    "cli-ca-issued",
                    &[
                        ("name", id.name.to_string().into()),
                        ("subject", id.subject_ou().into()),
                        ("cert", files.cert.display().to_string().into()),
                        ("key", files.key.display().to_string().into()),
                        ("days", days.into()),
                    ],
                )
            );
        }
        CaCommand::Revoke {
            dir,
            name,
            reason,
            config,
        } => {
            let name = NodeName::new(name)?;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            let revoked = identity::revoke(&dir, &name, &reason, now_ms)?;
            let path = revoked.path.display().to_string();
            println!(
                "{}",
                tr(
                    l,
                    "cli-ca-revoked",
                    &[
                        ("name", name.to_string().into()),
                        ("key", revoked.revocation.key.short().to_string().into()),
                        ("path", path.as_str().into()),
                    ],
                )
            );
            match config {
                Some(config) => super::revoke::hand_over(&config, &revoked.path, l)?,
                None => println!("{}", tr(l, "cli-ca-hand-over", &[("path", path.into())])),
            }
        }
    }
    Ok(())
}

/// A message about one path (`cli-cannot-read`, `cli-cannot-create`), in `l`.
pub(crate) fn path_words(l: Lang, key: &str, path: &std::path::Path) -> String {
    tr(l, key, &[("path", path.display().to_string().into())])
}
