//! `lifeline report cashier --date YYYY-MM-DD`: the cashier's daily summary by payment
//! channel, from a running node. Refused during an emergency episode (the plan: no reports
//! in emergency mode) unless `--allow-incomplete`, and then marked incomplete. In the language
//! of `--lang`; amounts as `¥12.80`.

use std::path::PathBuf;

use clap::Subcommand;
use lifeline_core::Date;
use lifeline_core::desk::{CashierSummary, ChannelAmount};

use crate::i18n::width::table_row;
use crate::i18n::{Lang, money, t, tr};

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

pub fn run(cmd: ReportCommand, l: Lang) -> anyhow::Result<()> {
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
                print!("{}", render(&summary, l));
            }
        }
    }
    Ok(())
}

/// Amounts by channel: `现金 ¥10.00, 微信支付 ¥5.00`.
fn channels(list: &[ChannelAmount], l: Lang) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(|c| {
            format!(
                "{} {}",
                t(l, &format!("channel-{}", c.channel.name())),
                money(c.amount)
            )
        })
        .collect::<Vec<_>>()
        .join(&t(l, "report-list-separator"))
}

/// The summary as text in `l`: a line per cashier, then the day by channel.
pub fn render(s: &CashierSummary, l: Lang) -> String {
    let mut out = format!(
        "{}\n",
        tr(
            l,
            "cli-cashier-title",
            &[
                ("date", s.date.to_string().into()),
                ("node", s.node.as_str().into())
            ]
        )
    );
    if let Some(episode) = &s.incomplete {
        out.push_str(&format!(
            "{}\n",
            tr(
                l,
                "cli-cashier-incomplete",
                &[("episode", episode.to_string().into())]
            )
        ));
    }
    // (width, right-aligned) per column.
    const COLUMNS: [(usize, bool); 7] = [
        (16, false),
        (8, true),
        (12, true),
        (8, true),
        (8, true),
        (9, true),
        (11, true),
    ];
    let line = |cells: [&str; 7]| table_row(&cells, &COLUMNS);
    out.push_str(&line([
        &t(l, "cli-cashier-col-cashier"),
        &t(l, "cli-cashier-col-settled"),
        &t(l, "cli-cashier-col-net"),
        &t(l, "cli-cashier-col-refunds"),
        &t(l, "cli-cashier-col-resettle"),
        &t(l, "cli-cashier-col-invoices"),
        &t(l, "cli-cashier-col-to-resettle"),
    ]));
    let sub =
        |key: &str, value: String| format!("    {}\n", tr(l, key, &[("amounts", value.into())]));
    for c in &s.lines {
        out.push_str(&line([
            &c.operator,
            &c.charges_settled.to_string(),
            &money(c.net_total),
            &c.refunds.to_string(),
            &c.resettlements.to_string(),
            &format!("{}/{}", c.invoices_issued, c.invoices_voided),
            &c.awaiting_resettlement.to_string(),
        ]));
        out.push_str(&sub("cli-cashier-collected", channels(&c.collected, l)));
        if !c.refunded.is_empty() {
            out.push_str(&sub("cli-cashier-refunded", channels(&c.refunded, l)));
        }
        if !c.resettled.is_empty() {
            out.push_str(&format!(
                "    {}\n",
                tr(
                    l,
                    "cli-cashier-resettled",
                    &[
                        ("amounts", channels(&c.resettled, l).into()),
                        ("returned", channels(&c.resettled_returned, l).into()),
                    ],
                )
            ));
        }
    }
    if s.lines.is_empty() {
        out.push_str(&format!("  {}\n", t(l, "cli-cashier-nothing")));
    }
    out.push_str(&format!(
        "{}\n{}\n",
        tr(
            l,
            "cli-cashier-by-channel",
            &[("amounts", channels(&s.by_channel, l).into())]
        ),
        tr(
            l,
            "cli-cashier-net-total",
            &[("amount", money(s.net_total).into())]
        )
    ));
    if s.drill_records_left_out > 0 {
        out.push_str(&format!(
            "{}\n",
            tr(
                l,
                "cli-cashier-drill-left-out",
                &[("n", s.drill_records_left_out.into())]
            )
        ));
    }
    out
}
