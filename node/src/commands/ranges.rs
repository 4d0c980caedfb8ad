//! `lifeline ranges lease|report`: number ranges by hand, and the proof of no gaps and no
//! duplicates.

use std::path::PathBuf;

use clap::Subcommand;
use lifeline_core::numbers::{RangeReport, ReportScope, Series};
use lifeline_core::{NodeName, OperatorName};
use serde_json::Value;

use crate::api::ranges::LeaseRequest;

#[derive(Debug, Subcommand)]
pub enum RangesCommand {
    /// On central or the standby: lease numbers to a window. The lease is recorded and
    /// reaches the window through the mesh, which numbers from it.
    Lease {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        /// invoice or emergency_registration.
        #[arg(long)]
        series: String,
        /// The window that will hold the range.
        #[arg(long)]
        holder: String,
        #[arg(long, default_value_t = 1000)]
        size: u64,
        /// Invoices: the cashier the range is preset for.
        #[arg(long)]
        operator: Option<String>,
        /// Invoices: the invoice code of the paper or e-invoice stock.
        #[arg(long)]
        code: Option<String>,
        /// The first number, when a paper stock dictates it (default: the next free one).
        #[arg(long)]
        start: Option<u64>,
    },
    /// Per range: issued, voided, unused; gaps and duplicates (there must be none). On
    /// central or the standby it covers every range of every node.
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
            operator,
            code,
            start,
        } => {
            let (_, client) = super::admin_client(&config)?;
            let series = Series::parse(&series).ok_or_else(|| {
                anyhow::anyhow!(
                    "--series {series:?} is not a number series (expected one of: {})",
                    Series::ALL.map(Series::name).join(", ")
                )
            })?;
            let request = LeaseRequest {
                series,
                holder: NodeName::new(holder)?,
                size,
                operator: operator.map(OperatorName::new).transpose()?,
                code,
                start,
            };
            let answer: Value = client.post("/admin/ranges/lease", &request)?;
            println!(
                "leased {} to {} (recorded; it reaches the window through the mesh)",
                answer["value"]["id"].as_str().unwrap_or("?"),
                request.holder
            );
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
    let mut out = match report.scope {
        ReportScope::Node => format!("number ranges held by {}\n", report.node),
        ReportScope::Hospital => format!(
            "number ranges of every node, as the records on {} show them\n",
            report.node
        ),
    };
    out.push_str(&format!(
        "{:<32} {:<8} {:<12} {:>8} {:>8} {:>8} {:>6} {:>7} {:>6}\n",
        "range", "holder", "cashier", "issued", "voided", "unused", "gaps", "past", "dups"
    ));
    for r in &report.ranges {
        out.push_str(&format!(
            "{:<32} {:<8} {:<12} {:>8} {:>8} {:>8} {:>6} {:>7} {:>6}\n",
            match &r.code {
                Some(code) => format!("{} ({code})", r.range_id),
                None => r.range_id.clone(),
            },
            r.holder.as_str(),
            r.operator.as_ref().map_or("-", |o| o.as_str()),
            r.issued,
            r.voided,
            r.unused,
            r.gaps.len(),
            r.beyond_cursor.len(),
            r.duplicates.len()
        ));
    }
    if report.scope == ReportScope::Hospital && report.ranges.iter().any(|r| !r.gaps.is_empty()) {
        out.push_str(
            "gaps: numbers no record here carries yet (lost, or written on a node whose records have not arrived)\n",
        );
    }
    out.push_str(if report.is_clean() {
        "no gaps, no duplicates, no overlapping ranges\n"
    } else {
        "PROBLEM: gaps, duplicates or overlapping ranges found (see --json)\n"
    });
    out
}
