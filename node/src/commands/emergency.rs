//! `lifeline emergency start|stop`: the information department declares or ends an episode.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum EmergencyCommand {
    /// Put the hospital in emergency mode from this node (joins an open episode if any).
    Start {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        reason: String,
    },
    /// End the current episode for the whole hospital.
    Stop {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
    },
}

pub fn run(cmd: EmergencyCommand) -> anyhow::Result<()> {
    match cmd {
        EmergencyCommand::Start { config, reason } => {
            let (_, client) = super::admin_client(&config)?;
            let answer: Value =
                client.post("/admin/emergency/start", &json!({ "reason": reason }))?;
            println!(
                "emergency episode {} is open (saved durably)",
                answer["value"].as_str().unwrap_or("?")
            );
        }
        EmergencyCommand::Stop { config } => {
            let (_, client) = super::admin_client(&config)?;
            let answer: Value = client.post("/admin/emergency/stop", &json!({}))?;
            match answer["value"].as_str() {
                Some(id) => println!("emergency episode {id} stopped"),
                None => println!("this node was not in an emergency episode"),
            }
        }
    }
    Ok(())
}
