//! `lifeline operator add|remove|list|rotate-admin-token`: desk operators and their API
//! tokens. Every change is recorded in the node's audit chain under the administrator's name.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use lifeline_core::{DeskRole, OperatorName};

use crate::api::admin::{AddedOperator, NewOperator, OperatorLine, RotatedToken};

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator (or give an existing one a new token). Prints the token once. The desk
    /// must be one the node's certificate names (servers serve every desk).
    Add {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        name: String,
        /// registration, cashier, pharmacy, triage, doctor or admin.
        #[arg(long)]
        desk: String,
        /// The token stops working after this long (`8h`, `30d`); never when absent.
        #[arg(long, value_parser = parse_duration)]
        expires: Option<Duration>,
        /// Print only the token (for scripts).
        #[arg(long)]
        token_only: bool,
        /// Read the console password from the first line of standard input (asked for when
        /// it is a terminal); without it, a one-time setup code is printed instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an operator: their token stops working at once.
    Remove {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        name: String,
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

/// The console password, from the first line of standard input.
fn read_password_line() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("console password (at least 8 characters, shown as typed): ");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    crate::operators::check_password_rules(&password)?;
    Ok(password)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))
}

pub fn run(cmd: OperatorCommand) -> anyhow::Result<()> {
    match cmd {
        OperatorCommand::Add {
            config,
            name,
            desk,
            expires,
            token_only,
            password_stdin,
        } => {
            let (_, client) = super::admin_client(&config)?;
            let body = NewOperator {
                name: OperatorName::new(name)?,
                desk: desk.parse::<DeskRole>()?,
                valid_for_s: expires.map(|d| d.as_secs().max(1)),
                password: if password_stdin {
                    Some(read_password_line()?)
                } else {
                    None
                },
            };
            let added: AddedOperator = client.post("/admin/operators", &body)?;
            if token_only {
                println!("{}", added.token);
            } else {
                let until = match expires {
                    Some(d) => format!(
                        ", valid for {}",
                        humantime_serde::re::humantime::format_duration(d)
                    ),
                    None => String::new(),
                };
                println!(
                    "operator {} ({} desk) added{until}; token (shown once):\n{}",
                    added.name, added.desk, added.token
                );
                match &added.setup_code {
                    Some(code) => println!(
                        "console setup code (one-time; log in with it once and choose a password):\n{code}"
                    ),
                    None => println!("console password set"),
                }
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
        OperatorCommand::Remove { config, name } => {
            let (_, client) = super::admin_client(&config)?;
            let name = OperatorName::new(name)?;
            let _: serde_json::Value = client.delete(&format!("/admin/operators/{name}"))?;
            println!("operator {name} removed: their token no longer works");
        }
        OperatorCommand::List { config } => {
            let (config, client) = super::admin_client(&config)?;
            let list: Vec<OperatorLine> = client.get("/admin/operators")?;
            for op in list {
                let expiry = match op.expires_ms {
                    Some(ms) => format!("expires {}", config.hospital.utc_offset.local(ms)),
                    None => "no expiry".to_owned(),
                };
                println!("{:<20} {:<13} {expiry}", op.name, op.desk.name());
            }
        }
    }
    Ok(())
}
