//! `lifeline episode list|report`: the emergency episodes a node knows, and the outage report
//! of one (times, grade, nodes, records, invoices, conflicts, recovery progress).

use std::path::PathBuf;

use clap::Subcommand;

use crate::report::{self, Format};

#[derive(Debug, Subcommand)]
pub enum EpisodeCommand {
    /// Every episode this node knows, newest first.
    List {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        /// The list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The outage report of one episode.
    Report {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        /// The episode: an id (YJ-...), `current` (the one this node is in) or `latest`.
        #[arg(long, default_value = "latest")]
        id: String,
        /// text (a terminal), json (the report document) or html (one self-contained file).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(cmd: EpisodeCommand) -> anyhow::Result<()> {
    match cmd {
        EpisodeCommand::List { config, json } => {
            let (config, client) = super::admin_client(&config)?;
            let zone = config.hospital.utc_offset.label();
            let episodes = report::fetch_episodes(&client)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&episodes)?);
            } else if episodes.is_empty() {
                println!("no emergency episode on record");
            } else {
                println!(
                    "{:<28} {:<5} {:<8} {:<19} {:<19} {:<12} nodes",
                    "episode",
                    "grade",
                    "state",
                    format!("opened ({zone})"),
                    format!("closed ({zone})"),
                    "duration"
                );
                // Drills are listed apart: they are not outages.
                for drills in [false, true] {
                    let part: Vec<_> = episodes.iter().filter(|e| e.drill == drills).collect();
                    if drills && !part.is_empty() {
                        println!("drills (not outages):");
                    }
                    for e in part {
                        let state = match (&e.merged_into, e.open) {
                            (Some(_), _) => "merged",
                            (None, true) => "open",
                            (None, false) => "closed",
                        };
                        println!(
                            "{:<28} {:<5} {:<8} {:<19} {:<19} {:<12} {}",
                            e.id,
                            e.grade,
                            state,
                            e.opened_local,
                            e.closed_local.as_deref().unwrap_or("-"),
                            report::words::duration(e.duration_ms),
                            e.nodes.join(", ")
                        );
                        if let Some(into) = &e.merged_into {
                            println!("    merged into {into}");
                        }
                    }
                }
            }
        }
        EpisodeCommand::Report {
            config,
            id,
            format,
            out,
        } => {
            let (_, client) = super::admin_client(&config)?;
            let outage = report::fetch_outage(&client, &id)?;
            let rendered = report::render_outage(&outage, format)?;
            report::emit(&rendered, out.as_deref())?;
        }
    }
    Ok(())
}
