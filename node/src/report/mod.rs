//! The review and outage reports: what the information department reads after an outage.
//!
//! - The conflict review report ([`ConflictReport`]): every conflict the rules could not
//!   settle, with its competing values and who wrote them, the automatic decision, and the
//!   exact commands a reviewer runs; duplicate patients with their evidence side by side.
//! - The outage report ([`EpisodeReport`]): one emergency episode's times, grade, nodes and
//!   the reference data they worked from, records created per kind, invoices issued per
//!   range, conflicts, and the recovery worklist's progress.
//!
//! The daemon builds both from its store (`GET /admin/conflicts`,
//! `GET /admin/episodes/{id}/report`); the CLI renders them as text for a terminal, JSON (the
//! documents as the API sends them: fields are only ever added) or HTML (one self-contained
//! file, no scripts and nothing fetched, that reads well in a browser and on paper).

pub mod conflicts;
pub mod episode;
mod html;
mod text;

use std::path::Path;

use anyhow::Context;

pub use conflicts::{ConflictReport, ConflictView};
pub use episode::{EpisodeLine, EpisodeReport};

use crate::client::Client;

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
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

/// What the renderers need besides the report: the config path to put in the commands they
/// suggest (`lifeline resolve -c <config> ...`).
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub config: String,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            config: "node.toml".into(),
        }
    }
}

/// Renders the conflict review report.
pub fn render_conflicts(
    report: &ConflictReport,
    format: Format,
    opts: &RenderOptions,
) -> anyhow::Result<String> {
    Ok(match format {
        Format::Text => text::conflicts(report, opts),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(report)?),
        Format::Html => html::conflicts(report, opts),
    })
}

/// Renders the outage report.
pub fn render_episode(
    report: &EpisodeReport,
    format: Format,
    opts: &RenderOptions,
) -> anyhow::Result<String> {
    Ok(match format {
        Format::Text => text::episode(report, opts),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(report)?),
        Format::Html => html::episode(report, opts),
    })
}

/// Fetches the conflict review report from a node.
pub fn fetch_conflicts(client: &Client) -> anyhow::Result<ConflictReport> {
    client.get("/admin/conflicts")
}

/// Fetches the outage report of episode `id` (`latest`, `current` or an episode id).
pub fn fetch_episode(client: &Client, id: &str) -> anyhow::Result<EpisodeReport> {
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
    /// The newest episode's report; `None` when the node knows no episode.
    pub episode: Option<EpisodeReport>,
    pub conflicts_text: String,
    pub conflicts_json: String,
    pub conflicts_html: String,
    pub episode_text: String,
    pub episode_json: String,
    pub episode_html: String,
}

/// Fetches the conflict review report and the newest episode's outage report from a node and
/// renders them in every format.
pub fn fetch_all(client: &Client) -> anyhow::Result<AllReports> {
    let opts = RenderOptions::default();
    let conflicts = fetch_conflicts(client)?;
    let episode = if fetch_episodes(client)?.is_empty() {
        None
    } else {
        Some(fetch_episode(client, "latest")?)
    };
    let (episode_text, episode_json, episode_html) = match &episode {
        Some(e) => (
            render_episode(e, Format::Text, &opts)?,
            render_episode(e, Format::Json, &opts)?,
            render_episode(e, Format::Html, &opts)?,
        ),
        None => (
            "no emergency episode on record\n".to_owned(),
            "null\n".to_owned(),
            html::no_episode(),
        ),
    };
    Ok(AllReports {
        conflicts_text: render_conflicts(&conflicts, Format::Text, &opts)?,
        conflicts_json: render_conflicts(&conflicts, Format::Json, &opts)?,
        conflicts_html: render_conflicts(&conflicts, Format::Html, &opts)?,
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
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, text) in [
            ("conflicts.txt", &self.conflicts_text),
            ("conflicts.json", &self.conflicts_json),
            ("conflicts.html", &self.conflicts_html),
            ("episode.txt", &self.episode_text),
            ("episode.json", &self.episode_json),
            ("episode.html", &self.episode_html),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// Writes a rendered report to `out`, or to standard output.
pub fn emit(rendered: &str, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, rendered)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("written to {}", path.display());
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

/// Milliseconds since the epoch as hospital local time (UTC+8).
pub(crate) fn local(ms: i64) -> String {
    crate::commands::local_time(ms)
}

/// A duration as `1h 02m 03s` (or `2m 03s`, `45s`).
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A competing value as a person reads it: JSON strings without quotes, objects as
/// `key: value` pairs, anything else as its JSON text.
pub fn display_value(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => "(empty)".into(),
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ok(other) => other.to_string(),
        Err(_) => json.to_owned(),
    }
}

/// What a grade means, from the emergency plans.
pub fn grade_meaning(grade: &str) -> &'static str {
    match grade {
        "IV" => "general (一般): under 2 hours",
        "III" => "larger (较大): 2 to 12 hours; report to leadership",
        "II" => "major (重大): 12 to 24 hours; report to leadership",
        "I" => "especially major (特别重大): over 24 hours; report to leadership",
        _ => "unknown grade",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(123_000), "2m 03s");
        assert_eq!(duration(3_723_000), "1h 02m 03s");
        assert_eq!(duration(-5), "0s");
    }

    #[test]
    fn values_display_without_json_noise() {
        assert_eq!(display_value("\"13800000000\""), "13800000000");
        assert_eq!(display_value("null"), "(empty)");
        assert_eq!(display_value("42"), "42");
        assert_eq!(
            display_value(r#"{"node":"W01","state":"settled"}"#),
            "node: W01, state: settled"
        );
        assert_eq!(display_value("not json"), "not json");
    }

    #[test]
    fn path_segments_keep_conflict_ids_readable() {
        assert_eq!(path_segment("field:01ABC:phone"), "field:01ABC:phone");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
    }
}
