//! `lifeline quarantine list|show`: the records this node refused from its peers, kept as
//! they came, for the information department to inspect (who sent what, when, how often,
//! and why it was refused).

use std::path::PathBuf;

use clap::Subcommand;
use lifeline_core::store::Quarantined;

use crate::i18n::codes::refusal;
use crate::i18n::width::pad;
use crate::i18n::{Lang, t, tr};

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// The refused records, oldest first.
    List {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        /// The list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One refused record, with the reason and the changes as they came (hex).
    Show {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        /// Its number, as `list` shows it.
        seq: u64,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: QuarantineCommand, l: Lang) -> anyhow::Result<()> {
    match cmd {
        QuarantineCommand::List { config, json } => {
            let (config, client) = super::admin_client(&config)?;
            let entries: Vec<Quarantined> = client.get("/admin/quarantine")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(());
            }
            if entries.is_empty() {
                println!("{}", t(l, "cli-quarantine-empty"));
            }
            let offset = config.hospital.utc_offset;
            for q in &entries {
                let line = tr(
                    l,
                    "cli-quarantine-line",
                    &[
                        ("first", offset.local(q.first_ms).into()),
                        ("peer", pad(q.peer.as_str(), 10).into()),
                        ("record", q.record.to_string().into()),
                        ("reason", refusal(l, &q.code).into()),
                    ],
                );
                let times = if q.times > 1 {
                    tr(
                        l,
                        "cli-quarantine-times",
                        &[
                            ("times", q.times.into()),
                            ("last", offset.local(q.last_ms).into()),
                        ],
                    )
                } else {
                    String::new()
                };
                println!("{:>5}  {line}{times}", q.seq);
            }
        }
        QuarantineCommand::Show { config, seq, json } => {
            let (config, client) = super::admin_client(&config)?;
            let q: Quarantined = client.get(&format!("/admin/quarantine/{seq}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&q)?);
                return Ok(());
            }
            let offset = config.hospital.utc_offset;
            println!(
                "{}",
                tr(l, "cli-quarantine-title", &[("seq", q.seq.into())])
            );
            let kept = q.bytes_hex.len() / 2;
            let changes = if kept < q.bytes_len {
                tr(
                    l,
                    "cli-quarantine-bytes-kept",
                    &[("bytes", q.bytes_len.into()), ("kept", kept.into())],
                )
            } else {
                tr(l, "cli-quarantine-bytes", &[("bytes", q.bytes_len.into())])
            };
            let facts = [
                ("cli-quarantine-record", q.record.to_string()),
                ("cli-quarantine-from", q.peer.to_string()),
                ("cli-quarantine-first", offset.local(q.first_ms)),
                (
                    "cli-quarantine-last",
                    tr(
                        l,
                        "cli-quarantine-last-value",
                        &[
                            ("last", offset.local(q.last_ms).into()),
                            ("times", q.times.into()),
                        ],
                    ),
                ),
                (
                    "cli-quarantine-refused",
                    format!("{} ({})", refusal(l, &q.code), q.code),
                ),
                ("cli-quarantine-detail", q.reason.clone()),
                ("cli-quarantine-changes", changes),
            ];
            let labels: Vec<String> = facts.iter().map(|(k, _)| t(l, k)).collect();
            let w = labels
                .iter()
                .map(|s| crate::i18n::width::width(s))
                .max()
                .unwrap_or(0);
            for (label, (_, value)) in labels.iter().zip(&facts) {
                println!("  {}  {value}", pad(&format!("{label}:"), w + 1));
            }
            for line in q.bytes_hex.as_bytes().chunks(64) {
                println!("    {}", String::from_utf8_lossy(line));
            }
        }
    }
    Ok(())
}
