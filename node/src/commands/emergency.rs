//! `lifeline emergency start|stop|estimate`: the information department declares or ends an
//! episode, runs a drill, and records the 30-minute assessment (recovery time and cause).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use crate::api::emergency::{EstimateRequest, StartEmergency};
use crate::i18n::{Lang, t, tr};

#[derive(Debug, Subcommand)]
pub enum EmergencyCommand {
    /// Put the hospital in emergency mode from this node (joins an open episode if any).
    Start {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        reason: String,
        /// A drill: the whole procedure, on records marked as a drill, reported apart and
        /// kept out of real statistics and of the HIS.
        #[arg(long)]
        drill: bool,
    },
    /// End the current episode (or drill) for the whole hospital.
    Stop {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
    },
    /// Record the recovery time expected (the plan's 30-minute assessment) and the cause.
    Estimate {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        /// Hours until the system is expected back.
        #[arg(long)]
        hours: u32,
        /// The cause of the fault, once found.
        #[arg(long)]
        cause: Option<String>,
    },
}

pub fn run(cmd: EmergencyCommand, l: Lang) -> anyhow::Result<()> {
    match cmd {
        EmergencyCommand::Start {
            config,
            reason,
            drill,
        } => {
            let (_, client) = super::admin_client(&config)?;
            let answer: Value =
                client.post("/admin/emergency/start", &StartEmergency { reason, drill })?;
            let key = if drill {
                "cli-emergency-drill-open"
            } else {
                "cli-emergency-open"
            };
            let id = answer["value"].as_str().unwrap_or("?");
            println!("{}", tr(l, key, &[("episode", id.into())]));
        }
        EmergencyCommand::Stop { config } => {
            let (_, client) = super::admin_client(&config)?;
            let answer: Value = client.post("/admin/emergency/stop", &serde_json::json!({}))?;
            match answer["value"].as_str() {
                Some(id) => println!(
                    "{}",
                    tr(l, "cli-emergency-stopped", &[("episode", id.into())])
                ),
                None => println!("{}", t(l, "cli-emergency-none")),
            }
        }
        EmergencyCommand::Estimate {
            config,
            hours,
            cause,
        } => {
            let (_, client) = super::admin_client(&config)?;
            let answer: Value = client.post(
                "/admin/emergency/estimate",
                &EstimateRequest { hours, cause },
            )?;
            let id = answer["value"].as_str().unwrap_or("?");
            println!(
                "{}",
                tr(
                    l,
                    "cli-emergency-estimated",
                    &[("episode", id.into()), ("hours", hours.into())]
                )
            );
        }
    }
    Ok(())
}
