//! `lifeline ranges lease|report`: number ranges by hand, and the proof of no gaps and no
//! duplicates.

use std::path::PathBuf;

use clap::Subcommand;
use lifeline_core::numbers::{RangeReport, ReportScope, Series};
use lifeline_core::{NodeName, OperatorName};
use serde_json::Value;

use crate::api::ranges::LeaseRequest;
use crate::i18n::width::table_row;
use crate::i18n::{Lang, t, tr};

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

pub fn run(cmd: RangesCommand, l: Lang) -> anyhow::Result<()> {
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
                "{}",
                tr(
                    l,
                    "cli-ranges-leased",
                    &[
                        (
                            "range",
                            answer["value"]["id"].as_str().unwrap_or("?").into()
                        ),
                        ("holder", request.holder.as_str().into()),
                    ],
                )
            );
        }
        RangesCommand::Report { config, json } => {
            let (_, client) = super::admin_client(&config)?;
            let report: RangeReport = client.get("/admin/ranges/report")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render(&report, l));
            }
        }
    }
    Ok(())
}

/// The range report as a table in `l`.
pub fn render(report: &RangeReport, l: Lang) -> String {
    let mut out = match report.scope {
        ReportScope::Node => tr(
            l,
            "cli-ranges-node",
            &[("node", report.node.as_str().into())],
        ),
        ReportScope::Hospital => tr(
            l,
            "cli-ranges-hospital",
            &[("node", report.node.as_str().into())],
        ),
    };
    out.push('\n');
    // (width, right-aligned) per column.
    const COLUMNS: [(usize, bool); 9] = [
        (32, false),
        (8, false),
        (12, false),
        (8, true),
        (8, true),
        (8, true),
        (6, true),
        (7, true),
        (6, true),
    ];
    let line = |cells: [&str; 9]| table_row(&cells, &COLUMNS);
    out.push_str(&line([
        &t(l, "cli-ranges-col-range"),
        &t(l, "cli-ranges-col-holder"),
        &t(l, "cli-ranges-col-cashier"),
        &t(l, "cli-ranges-col-issued"),
        &t(l, "cli-ranges-col-voided"),
        &t(l, "cli-ranges-col-unused"),
        &t(l, "cli-ranges-col-gaps"),
        &t(l, "cli-ranges-col-past"),
        &t(l, "cli-ranges-col-dups"),
    ]));
    for r in &report.ranges {
        let range = match &r.code {
            Some(code) => format!("{} ({code})", r.range_id),
            None => r.range_id.clone(),
        };
        out.push_str(&line([
            &range,
            r.holder.as_str(),
            r.operator.as_ref().map_or("-", |o| o.as_str()),
            &r.issued.to_string(),
            &r.voided.to_string(),
            &r.unused.to_string(),
            &r.gaps.len().to_string(),
            &r.beyond_cursor.len().to_string(),
            &r.duplicates.len().to_string(),
        ]));
    }
    if report.scope == ReportScope::Hospital && report.ranges.iter().any(|r| !r.gaps.is_empty()) {
        out.push_str(&format!("{}\n", t(l, "cli-ranges-gaps")));
    }
    out.push_str(&format!(
        "{}\n",
        if report.is_clean() {
            t(l, "cli-ranges-clean")
        } else {
            t(l, "cli-ranges-problem")
        }
    ));
    out
}
