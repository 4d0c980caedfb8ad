//! `lifeline operator add|remove|list|rotate-admin-token`: desk operators and their API
//! tokens. Every change is recorded in the node's audit chain under the administrator's name.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use lifeline_core::{DeskRole, OperatorName};

use crate::api::admin::{AddedOperator, NewOperator, OperatorLine, RotatedToken};
use crate::i18n::width::pad;
use crate::i18n::{Lang, t, tr};

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
fn read_password_line(l: Lang) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("{}", t(l, "cli-operator-password-prompt"));
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    crate::operators::check_password_rules(&password)
        .map_err(|_| anyhow::anyhow!("{}", t(l, "password-too-short")))?;
    Ok(password)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))
}

/// A desk in `l` (`desk-cashier`: 收费).
fn desk_words(l: Lang, desk: DeskRole) -> String {
    t(l, &format!("desk-{}", desk.name()))
}

pub fn run(cmd: OperatorCommand, l: Lang) -> anyhow::Result<()> {
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
                    Some(read_password_line(l)?)
                } else {
                    None
                },
            };
            let added: AddedOperator = client.post("/admin/operators", &body)?;
            if token_only {
                println!("{}", added.token);
            } else {
                let until = match expires {
                    Some(d) => tr(
                        l,
                        "cli-operator-valid-for",
                        &[(
                            "duration",
                            humantime_serde::re::humantime::format_duration(d)
                                .to_string()
                                .into(),
                        )],
                    ),
                    None => String::new(),
                };
                println!(
                    "{}\n{}",
                    tr(
                        l,
                        "cli-operator-added",
                        &[
                            ("name", added.name.to_string().into()),
                            ("desk", desk_words(l, added.desk).into()),
                            ("until", until.into()),
                        ],
                    ),
                    added.token
                );
                match &added.setup_code {
                    Some(code) => println!("{}\n{code}", t(l, "cli-operator-setup-code")),
                    None => println!("{}", t(l, "cli-operator-password-set")),
                }
            }
        }
        OperatorCommand::RotateAdminToken { config } => {
            let (_, client) = super::admin_client(&config)?;
            let rotated: RotatedToken =
                client.post("/admin/token/rotate", &serde_json::json!({}))?;
            println!(
                "{}",
                tr(
                    l,
                    "cli-operator-token-rotated",
                    &[("path", rotated.path.as_str().into())]
                )
            );
        }
        OperatorCommand::Remove { config, name } => {
            let (_, client) = super::admin_client(&config)?;
            let name = OperatorName::new(name)?;
            let _: serde_json::Value = client.delete(&format!("/admin/operators/{name}"))?;
            println!(
                "{}",
                tr(
                    l,
                    "cli-operator-removed",
                    &[("name", name.to_string().into())]
                )
            );
        }
        OperatorCommand::List { config } => {
            let (config, client) = super::admin_client(&config)?;
            let list: Vec<OperatorLine> = client.get("/admin/operators")?;
            for op in list {
                let expiry = match op.expires_ms {
                    Some(ms) => tr(
                        l,
                        "cli-operator-expires",
                        &[("at", config.hospital.utc_offset.local(ms).into())],
                    ),
                    None => t(l, "cli-operator-no-expiry"),
                };
                println!(
                    "{} {} {expiry}",
                    pad(op.name.as_str(), 20),
                    pad(&desk_words(l, op.desk), 13)
                );
            }
        }
    }
    Ok(())
}
