//! `lifeline operator add|list|rotate-admin-token`: desk operators and their API tokens.

use std::path::PathBuf;

use clap::Subcommand;

use lifeline_core::{DeskRole, OperatorName};

use crate::api::admin::{AddedOperator, NewOperator, RotatedToken};

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator (or give an existing one a new token). Prints the token once.
    Add {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        name: String,
        /// registration, cashier, pharmacy, triage, doctor or admin.
        #[arg(long)]
        desk: String,
        /// Print only the token (for scripts).
        #[arg(long)]
        token_only: bool,
    },
    /// List the operators (never their tokens).
    List {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
    },
    /// Give the CLI's `admin` operator a new token (written to admin.token in the data
    /// directory; the old one stops working). The token otherwise stays the same across
    /// daemon restarts.
    RotateAdminToken {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
    },
}

pub fn run(cmd: OperatorCommand) -> anyhow::Result<()> {
    match cmd {
        OperatorCommand::Add {
            config,
            name,
            desk,
            token_only,
        } => {
            let (_, client) = super::admin_client(&config)?;
            let body = NewOperator {
                name: OperatorName::new(name)?,
                desk: desk.parse::<DeskRole>()?,
            };
            let added: AddedOperator = client.post("/admin/operators", &body)?;
            if token_only {
                println!("{}", added.token);
            } else {
                println!(
                    "operator {} ({} desk) added; token (shown once):\n{}",
                    added.name, added.desk, added.token
                );
            }
        }
        OperatorCommand::RotateAdminToken { config } => {
            let (_, client) = super::admin_client(&config)?;
            let rotated: RotatedToken =
                client.post("/admin/token/rotate", &serde_json::json!({}))?;
            println!(
                "the admin token was rotated: the new one is in {} (the old one no longer works)",
                rotated.path
            );
        }
        OperatorCommand::List { config } => {
            let (_, client) = super::admin_client(&config)?;
            let list: Vec<serde_json::Value> = client.get("/admin/operators")?;
            for op in list {
                println!(
                    "{:<20} {}",
                    op["name"].as_str().unwrap_or("?"),
                    op["desk"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(())
}
