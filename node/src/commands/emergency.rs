//! `lifeline emergency start|stop|estimate`: the information department declares or ends an
//! episode, runs a drill, and records the 30-minute assessment (recovery time and cause).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use crate::api::emergency::{EstimateRequest, StartEmergency};

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

pub fn run(cmd: EmergencyCommand) -> anyhow::Result<()> {
    match cmd {
        EmergencyCommand::Start {
            config,
            reason,
            drill,
        } => {
            let (_, client) = super::admin_client(&config)?;
            let answer: Value =
                client.post("/admin/emergency/start", &StartEmergency { reason, drill })?;
            let what = if drill { "drill" } else { "emergency episode" };
            println!(
                "{what} {} is open (saved durably)",
                answer["value"].as_str().unwrap_or("?")
            );
        }
        EmergencyCommand::Stop { config } => {
            let (_, client) = super::admin_client(&config)?;
            let answer: Value = client.post("/admin/emergency/stop", &serde_json::json!({}))?;
            match answer["value"].as_str() {
                Some(id) => println!("emergency episode {id} stopped"),
                None => println!("this node was not in an emergency episode"),
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
            println!(
                "estimate recorded on episode {}: back in {hours} h (see `lifeline status` for the expected grade)",
                answer["value"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}
