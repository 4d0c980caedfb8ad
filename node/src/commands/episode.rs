//! `lifeline episode list|report`: the emergency episodes a node knows, and the outage report
//! of one (times, grade, nodes, records, invoices, conflicts, recovery progress).

use std::path::PathBuf;

use clap::Subcommand;

use crate::i18n::width::pad;
use crate::i18n::{Lang, t, tr};
use crate::report::{self, EpisodeLine, Format, RenderOptions};

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

pub fn run(cmd: EpisodeCommand, lang: Lang) -> anyhow::Result<()> {
    match cmd {
        EpisodeCommand::List { config, json } => {
            let (config, client) = super::admin_client(&config)?;
            let episodes = report::fetch_episodes(&client)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&episodes)?);
            } else {
                print!(
                    "{}",
                    render_list(&episodes, &config.hospital.utc_offset.label(), lang)
                );
            }
        }
        EpisodeCommand::Report {
            config: path,
            id,
            format,
            out,
        } => {
            let (config, client) = super::admin_client(&path)?;
            let outage = report::fetch_outage(&client, &id)?;
            let opts = RenderOptions::for_config(&path, &config, lang);
            let rendered = report::render_outage(&outage, format, &opts)?;
            report::emit(&rendered, out.as_deref(), lang)?;
        }
    }
    Ok(())
}

/// The episode list as a table in `l`, times in the hospital's `zone`; drills apart.
pub fn render_list(episodes: &[EpisodeLine], zone: &str, l: Lang) -> String {
    if episodes.is_empty() {
        return format!("{}\n", t(l, "report-outage-none-terminal"));
    }
    let zone = [("zone", zone.into())];
    let line = |cells: [&str; 7]| {
        let widths = [28, 5, 8, 19, 19, 12, 0];
        let mut s: String = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{} ", pad(c, w)))
            .collect();
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line([
        &t(l, "cli-episode-col-episode"),
        &t(l, "cli-episode-col-grade"),
        &t(l, "cli-episode-col-state"),
        &tr(l, "cli-episode-col-opened", &zone),
        &tr(l, "cli-episode-col-closed", &zone),
        &t(l, "cli-episode-col-duration"),
        &t(l, "cli-episode-col-nodes"),
    ]);
    // Drills are listed apart: they are not outages.
    for drills in [false, true] {
        let part: Vec<_> = episodes.iter().filter(|e| e.drill == drills).collect();
        if drills && !part.is_empty() {
            out.push_str(&format!("{}\n", t(l, "cli-episode-drills")));
        }
        for e in part {
            let state = match (&e.merged_into, e.open) {
                (Some(_), _) => t(l, "cli-episode-merged"),
                (None, true) => t(l, "cli-episode-open"),
                (None, false) => t(l, "cli-episode-closed"),
            };
            out.push_str(&line([
                &e.id,
                &e.grade,
                &state,
                &e.opened_local,
                e.closed_local.as_deref().unwrap_or("-"),
                &report::words::duration_in(l, e.duration_ms),
                &e.nodes.join(", "),
            ]));
            if let Some(into) = &e.merged_into {
                out.push_str(&format!(
                    "    {}\n",
                    tr(l, "cli-episode-merged-into", &[("episode", into.into())])
                ));
            }
        }
    }
    out
}
