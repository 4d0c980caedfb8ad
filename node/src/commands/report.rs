//! `lifeline report cashier --date YYYY-MM-DD`: the cashier's daily summary by payment
//! channel, from a running node. Refused during an emergency episode (the plan: no reports
//! in emergency mode) unless `--allow-incomplete`, and then marked incomplete.

use std::path::PathBuf;

use clap::Subcommand;
use lifeline_core::Date;
use lifeline_core::desk::{CashierSummary, ChannelAmount};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The cashier summary of one day, by operator and payment channel.
    Cashier {
        #[arg(long, short = 'c', default_value = "node.toml")]
        config: PathBuf,
        /// The day (hospital time), YYYY-MM-DD.
        #[arg(long)]
        date: Date,
        /// Run it even in emergency mode; the report is then marked incomplete.
        #[arg(long)]
        allow_incomplete: bool,
        /// The summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ReportCommand) -> anyhow::Result<()> {
    match cmd {
        ReportCommand::Cashier {
            config,
            date,
            allow_incomplete,
            json,
        } => {
            let (_, client) = super::admin_client(&config)?;
            let summary: CashierSummary = client.get(&format!(
                "/reports/cashier?date={date}&allow_incomplete={allow_incomplete}"
            ))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", render(&summary));
            }
        }
    }
    Ok(())
}

fn channels(list: &[ChannelAmount]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(|c| format!("{} {}", c.channel, c.amount))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary as text: a line per cashier, then the day by channel.
pub fn render(s: &CashierSummary) -> String {
    let mut out = format!("cashier summary {} on {} (yuan)\n", s.date, s.node);
    if let Some(episode) = &s.incomplete {
        out.push_str(&format!(
            "INCOMPLETE: run during emergency episode {episode}; run it again once the system of record is back\n"
        ));
    }
    out.push_str(&format!(
        "{:<16} {:>8} {:>12} {:>8} {:>8} {:>9} {:>10}\n",
        "cashier", "settled", "net", "refunds", "resettle", "invoices", "to resettle"
    ));
    for l in &s.lines {
        out.push_str(&format!(
            "{:<16} {:>8} {:>12} {:>8} {:>8} {:>9} {:>10}\n",
            l.operator,
            l.charges_settled,
            l.net_total.to_string(),
            l.refunds,
            l.resettlements,
            format!("{}/{}", l.invoices_issued, l.invoices_voided),
            l.awaiting_resettlement
        ));
        out.push_str(&format!("    collected: {}\n", channels(&l.collected)));
        if !l.refunded.is_empty() {
            out.push_str(&format!("    refunded:  {}\n", channels(&l.refunded)));
        }
        if !l.resettled.is_empty() {
            out.push_str(&format!(
                "    re-settled: {} (given back: {})\n",
                channels(&l.resettled),
                channels(&l.resettled_returned)
            ));
        }
    }
    if s.lines.is_empty() {
        out.push_str("  (nothing settled that day)\n");
    }
    out.push_str(&format!(
        "by channel: {}\nnet total: {}\n",
        channels(&s.by_channel),
        s.net_total
    ));
    if s.drill_records_left_out > 0 {
        out.push_str(&format!(
            "{} drill record(s) left out\n",
            s.drill_records_left_out
        ));
    }
    out
}
