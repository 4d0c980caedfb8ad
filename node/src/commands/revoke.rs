//! `lifeline revoke -c node.toml --file W07.revoked.json`: hands a CA-signed revocation (from
//! `lifeline ca revoke`) to a running node, usually central: it checks it against its CA,
//! refuses the revoked node at once, and sends the revocation to every peer with the roster.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::api::trust::{RevocationRequest, RevocationTaken};
use crate::i18n::{Lang, tr};

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The node's config file (the daemon's), usually central's.
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// The revocation, as `lifeline ca revoke` wrote it.
    #[arg(long)]
    pub file: PathBuf,
}

pub fn run(args: &RevokeArgs, l: Lang) -> anyhow::Result<()> {
    hand_over(&args.config, &args.file, l)
}

/// Gives the revocation in `file` to the daemon of `config` and says what it did.
pub fn hand_over(config: &Path, file: &Path, l: Lang) -> anyhow::Result<()> {
    let proof = std::fs::read_to_string(file)
        .with_context(|| super::ca::path_words(l, "cli-revoke-cannot-read", file))?;
    let (config, client) = super::admin_client(config)?;
    let taken: RevocationTaken = client.post("/admin/revocations", &RevocationRequest { proof })?;
    let key = if taken.new {
        "cli-revoke-taken"
    } else {
        "cli-revoke-held"
    };
    println!(
        "{}",
        tr(
            l,
            key,
            &[
                ("node", config.node.name.to_string().into()),
                ("name", taken.name.to_string().into()),
                ("reason", taken.reason.as_str().into()),
            ],
        )
    );
    Ok(())
}
