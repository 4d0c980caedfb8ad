//! `lifeline daemon --config node.toml`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;

use crate::config::{Config, LogFormat};
use crate::error::chain;

#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// The node's config file (the daemon's).
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
}

pub fn run(args: &DaemonArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    init_tracing(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lifeline")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(crate::daemon::run(config));
    if let Err(e) = &result {
        tracing::error!(error = chain(&**e), "the daemon stopped on an error");
    }
    result
}

fn init_tracing(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .with_context(|| format!("log.level {:?}", config.log.level))?;
    // Colour only on a terminal: a log file gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {}", chain(&*e)))
}
