//! `lifeline ranges lease|report`: number ranges by hand, and the proof of no gaps and no
//! duplicates.

use std::path::PathBuf;

use clap::Subcommand;
use lifeline_core::numbers::RangeReport;
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum RangesCommand {
    /// On central or the standby: lease numbers to a node (it accepts them automatically).
    Lease {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        /// invoice or emergency_registration.
        #[arg(long)]
        series: String,
        #[arg(long)]
        holder: String,
        #[arg(long, default_value_t = 1000)]
        size: u64,
    },
    /// Per range: issued, voided, unused; gaps and duplicates (there must be none).
    Report {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: RangesCommand) -> anyhow::Result<()> {
    match cmd {
        RangesCommand::Lease {
            config,
            series,
            holder,
            size,
        } => {
            let (_, client) = super::admin_client(&config)?;
            let answer: Value = client.post(
                "/admin/ranges/lease",
                &json!({ "series": series, "holder": holder, "size": size }),
            )?;
            println!("leased {}", answer["value"]["id"].as_str().unwrap_or("?"));
        }
        RangesCommand::Report { config, json } => {
            let (_, client) = super::admin_client(&config)?;
            let report: RangeReport = client.get("/admin/ranges/report")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render(&report));
            }
        }
    }
    Ok(())
}

pub fn render(report: &RangeReport) -> String {
    let mut out = format!("number ranges held by {}\n", report.node);
    out.push_str(&format!(
        "{:<40} {:>8} {:>8} {:>8} {:>6} {:>6}\n",
        "range", "issued", "voided", "unused", "gaps", "dups"
    ));
    for r in &report.ranges {
        out.push_str(&format!(
            "{:<40} {:>8} {:>8} {:>8} {:>6} {:>6}\n",
            r.range_id,
            r.issued,
            r.voided,
            r.unused,
            r.gaps.len(),
            r.beyond_cursor.len()
        ));
    }
    out.push_str(if report.is_clean() {
        "no gaps, no duplicates, no overlapping ranges\n"
    } else {
        "PROBLEM: gaps, duplicates or overlapping ranges found (see --json)\n"
    });
    out
}
