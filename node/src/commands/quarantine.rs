//! `lifeline quarantine list|show`: the records this node refused from its peers, kept as
//! they came, for the information department to inspect (who sent what, when, how often,
//! and why it was refused).

use std::path::PathBuf;

use clap::Subcommand;
use lifeline_core::store::Quarantined;

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

pub fn run(cmd: QuarantineCommand) -> anyhow::Result<()> {
    match cmd {
        QuarantineCommand::List { config, json } => {
            let (config, client) = super::admin_client(&config)?;
            let entries: Vec<Quarantined> = client.get("/admin/quarantine")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(());
            }
            if entries.is_empty() {
                println!("the quarantine is empty: no record was refused from a peer");
            }
            for q in &entries {
                let times = if q.times > 1 {
                    format!(
                        " ({} times, last {})",
                        q.times,
                        config.hospital.utc_offset.local(q.last_ms)
                    )
                } else {
                    String::new()
                };
                println!(
                    "{:>5}  {}  from {:<10} record {}  {}: {}{times}",
                    q.seq,
                    config.hospital.utc_offset.local(q.first_ms),
                    q.peer,
                    q.record,
                    q.code,
                    q.reason
                );
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
            println!("quarantined record {}", q.seq);
            println!("  record:   {}", q.record);
            println!("  from:     {}", q.peer);
            println!("  first:    {}", offset.local(q.first_ms));
            println!(
                "  last:     {} ({} times)",
                offset.local(q.last_ms),
                q.times
            );
            println!("  refused:  {} ({})", q.reason, q.code);
            let kept = q.bytes_hex.len() / 2;
            println!(
                "  changes:  {} bytes{}",
                q.bytes_len,
                if kept < q.bytes_len {
                    format!(" (the first {kept} kept)")
                } else {
                    String::new()
                }
            );
            for line in q.bytes_hex.as_bytes().chunks(64) {
                println!("    {}", String::from_utf8_lossy(line));
            }
        }
    }
    Ok(())
}
