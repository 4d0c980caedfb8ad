//! The review and outage reports: what the information department reads after an outage.
//!
//! - The conflict review report ([`ConflictReport`]): every conflict the rules could not
//!   settle, with its competing values and who wrote them, the automatic decision, and the
//!   exact commands a reviewer runs; duplicate patients with their evidence side by side.
//! - The outage report ([`OutageReport`]): one emergency episode's times, grade, nodes and
//!   the reference data they worked from, records created per kind, invoices issued per
//!   range, conflicts, and the recovery worklist's progress.
//!
//! The daemon builds both from its store ([`build`]: `GET /admin/conflicts`,
//! `GET /admin/episodes/{id}/report`); the CLI reads them back ([`conflicts`], [`outage`])
//! and renders them as text for a terminal, JSON (the documents as the API sends them: fields
//! are only ever added) or HTML (one self-contained file, no scripts and nothing fetched, that
//! reads well in a browser and on paper). Text and HTML come from one document per report
//! ([`layout`] walks the report into a [`doc::Doc`]; [`text`] and [`html`] format it), in the
//! language of the [`RenderOptions`] (Chinese by default): every word from the catalogs
//! ([`crate::i18n`]). JSON is the same in every language.
//!
//! The daemon renders them too, for a browser: `GET /admin/conflicts?format=html&lang=en`,
//! and the console's information-department page in the operator's language.

mod actions;
pub mod build;
pub mod conflicts;
mod doc;
mod html;
pub(crate) mod layout;
pub mod outage;
mod text;
pub mod words;

use std::path::Path;

use serde::Serialize;

pub use conflicts::{ConflictReport, ConflictView};
pub use outage::{EpisodeLine, OutageReport};

use crate::client::Client;
use crate::i18n::Lang;
use crate::time::UtcOffset;

/// How a report is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for a terminal.
    #[default]
    Text,
    /// The report document as JSON.
    Json,
    /// One self-contained HTML file (browser and paper).
    Html,
}

impl Format {
    /// A format from its name (`text`, `json`, `html`), as a query parameter gives it.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "html" => Some(Format::Html),
            _ => None,
        }
    }

    /// The media type of a report in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Json => "application/json",
            Format::Html => "text/html; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

/// What the renderers need besides the report: the config path to put in the commands they
/// suggest (`lifeline resolve -c <config> ...`), the hospital's offset for the times the
/// CLI converts itself, and the language people read (text and HTML; JSON has none).
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub config: String,
    pub utc_offset: UtcOffset,
    pub lang: Lang,
}

impl RenderOptions {
    /// The options for reports on the node of the config file at `path`, in `lang`.
    pub fn for_config(path: &Path, config: &crate::config::Config, lang: Lang) -> RenderOptions {
        RenderOptions {
            config: path.display().to_string(),
            utc_offset: config.hospital.utc_offset,
            lang,
        }
    }
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            config: "node.toml".into(),
            utc_offset: UtcOffset::default(),
            lang: Lang::default(),
        }
    }
}

/// A report in `format`: its document as text or HTML, or itself as JSON.
fn render(
    report: &impl Serialize,
    doc: impl FnOnce() -> doc::Doc,
    format: Format,
) -> anyhow::Result<String> {
    Ok(match format {
        Format::Text => text::render(&doc()),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(report)?),
        Format::Html => html::render(&doc()),
    })
}

/// Renders the conflict review report.
pub fn render_conflicts(
    report: &ConflictReport,
    format: Format,
    opts: &RenderOptions,
) -> anyhow::Result<String> {
    render(report, || layout::conflicts::doc(report, opts), format)
}

/// Renders the outage report (its times are already the hospital's: only the language of
/// `opts` counts).
pub fn render_outage(
    report: &OutageReport,
    format: Format,
    opts: &RenderOptions,
) -> anyhow::Result<String> {
    render(report, || layout::outage::doc(report, opts.lang), format)
}

/// What a node that knows no episode says in `format` instead of an outage report.
pub fn render_no_outage(format: Format, lang: Lang) -> String {
    match format {
        Format::Text => text::render(&layout::outage::none(lang)),
        Format::Json => "null\n".to_owned(),
        Format::Html => html::render(&layout::outage::none(lang)),
    }
}

/// Fetches the conflict review report from a node.
pub fn fetch_conflicts(client: &Client) -> anyhow::Result<ConflictReport> {
    client.get("/admin/conflicts")
}

/// Fetches the outage report of episode `id` (`latest`, `current` or an episode id).
pub fn fetch_outage(client: &Client, id: &str) -> anyhow::Result<OutageReport> {
    client.get(&format!("/admin/episodes/{}/report", path_segment(id)))
}

/// Fetches the episodes a node knows, newest first.
pub fn fetch_episodes(client: &Client) -> anyhow::Result<Vec<EpisodeLine>> {
    client.get("/admin/episodes")
}

/// Both reports of a node, in every format.
#[derive(Debug, Clone)]
pub struct AllReports {
    pub conflicts: ConflictReport,
    /// The newest episode's outage report; `None` when the node knows no episode.
    pub episode: Option<OutageReport>,
    pub conflicts_text: String,
    pub conflicts_json: String,
    pub conflicts_html: String,
    pub episode_text: String,
    pub episode_json: String,
    pub episode_html: String,
}

/// Fetches the conflict review report and the newest episode's outage report from a node and
/// renders them in every format.
pub fn fetch_all(client: &Client, opts: &RenderOptions) -> anyhow::Result<AllReports> {
    let conflicts = fetch_conflicts(client)?;
    let episode = if fetch_episodes(client)?.is_empty() {
        None
    } else {
        Some(fetch_outage(client, "latest")?)
    };
    let (episode_text, episode_json, episode_html) = match &episode {
        Some(e) => (
            render_outage(e, Format::Text, opts)?,
            render_outage(e, Format::Json, opts)?,
            render_outage(e, Format::Html, opts)?,
        ),
        None => (
            render_no_outage(Format::Text, opts.lang),
            render_no_outage(Format::Json, opts.lang),
            render_no_outage(Format::Html, opts.lang),
        ),
    };
    Ok(AllReports {
        conflicts_text: render_conflicts(&conflicts, Format::Text, opts)?,
        conflicts_json: render_conflicts(&conflicts, Format::Json, opts)?,
        conflicts_html: render_conflicts(&conflicts, Format::Html, opts)?,
        conflicts,
        episode,
        episode_text,
        episode_json,
        episode_html,
    })
}

impl AllReports {
    /// Writes `conflicts.{txt,json,html}` and `episode.{txt,json,html}` into `dir` (created
    /// if needed).
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| path_error("cli-cannot-create", dir, e))?;
        for (name, text) in [
            ("conflicts.txt", &self.conflicts_text),
            ("conflicts.json", &self.conflicts_json),
            ("conflicts.html", &self.conflicts_html),
            ("episode.txt", &self.episode_text),
            ("episode.json", &self.episode_json),
            ("episode.html", &self.episode_html),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| path_error("cli-cannot-write", &path, e))?;
        }
        Ok(())
    }
}

/// A file that could not be made, said from the catalogs in the reader's language.
fn path_error(key: &'static str, path: &Path, e: std::io::Error) -> crate::i18n::said::Said {
    crate::i18n::said::Said::new(key, vec![("path", path.display().to_string().into())]).because(e)
}

/// Writes a rendered report to `out` (saying so in `lang`), or to standard output.
pub fn emit(rendered: &str, out: Option<&Path>, lang: Lang) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, rendered).map_err(|e| path_error("cli-cannot-write", path, e))?;
            eprintln!(
                "{}",
                crate::i18n::tr(
                    lang,
                    "cli-written-to",
                    &[("path", path.display().to_string().into())]
                )
            );
        }
        None => print!("{rendered}"),
    }
    Ok(())
}

/// Percent-encodes a path segment (conflict ids hold `:`, which is fine; anything else
/// unusual is encoded).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_keep_conflict_ids_readable() {
        assert_eq!(path_segment("field:01ABC:phone"), "field:01ABC:phone");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
    }
}
