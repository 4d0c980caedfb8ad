//! `lifeline conflicts`: the conflict review report of a node, as text, JSON or one
//! self-contained HTML file, in the language of `--lang`.

use std::path::PathBuf;

use crate::i18n::Lang;
use crate::report::{self, Format, RenderOptions};

#[derive(Debug, clap::Args)]
pub struct ConflictsArgs {
    /// The node's config file (the daemon's).
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// text (a terminal), json (the report document) or html (one self-contained file).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &ConflictsArgs, lang: Lang) -> anyhow::Result<()> {
    let (config, client) = super::admin_client(&args.config)?;
    let conflicts = report::fetch_conflicts(&client)?;
    let opts = RenderOptions::for_config(&args.config, &config, lang);
    let rendered = report::render_conflicts(&conflicts, args.format, &opts)?;
    report::emit(&rendered, args.out.as_deref(), lang)
}
