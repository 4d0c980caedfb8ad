//! `lifeline daemon --config node.toml`.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::config::{Config, LogFormat};
use crate::error::chain;
use crate::i18n::said::Said;

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
        .map_err(|e| Said::new("cli-daemon-runtime", vec![]).because(e))?;
    let result = runtime.block_on(crate::daemon::run(config));
    if let Err(e) = &result {
        tracing::error!(error = chain(&**e), "the daemon stopped on an error");
    }
    result
}

fn init_tracing(config: &Config) -> anyhow::Result<()> {
    let filter = config.log_filter()?;
    // Colour only on a terminal: a log file gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
    installed.map_err(|e| {
        Said::new("cli-daemon-subscriber", vec![])
            .because(anyhow::Error::msg(chain(&*e)))
            .into()
    })
}
