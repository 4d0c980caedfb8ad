//! `lifeline compact`: rewrites a stopped node's store in key order, giving back the space
//! redb leaves in pages filled out of order (the store's records and incarnation unchanged:
//! peers see nothing happen).

use std::path::PathBuf;

use anyhow::Context;
use lifeline_core::store::{CompactInfo, compact_store};

use super::backup::{Progress, mib, shown};
use crate::config::Config;
use crate::i18n::{Lang, t, tr};

#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
}

pub fn run(args: &CompactArgs, l: Lang) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let target = config.store_path();
    let bar = Progress::bar(&t(l, "cli-progress-compact"));
    let result = compact_store(&target, &|done, total| bar.update(done, total));
    bar.finish();
    let info = result.with_context(|| tr(l, "cli-compact-failed", &[("path", shown(&target))]))?;
    print_compact(&info, l);
    Ok(())
}

fn print_compact(info: &CompactInfo, l: Lang) {
    let saved = info.bytes_before.saturating_sub(info.bytes_after);
    let percent = (u128::from(saved) * 100)
        .checked_div(u128::from(info.bytes_before))
        .unwrap_or(0) as u64;
    println!(
        "{}",
        tr(
            l,
            "cli-compact-done",
            &[
                ("path", shown(&info.target)),
                ("before", mib(info.bytes_before).into()),
                ("after", mib(info.bytes_after).into()),
                ("percent", percent.into()),
            ],
        )
    );
    println!(
        "  {}",
        tr(
            l,
            "cli-compact-facts",
            &[
                ("node", info.node.clone().into()),
                ("records", info.records.into()),
                ("audit", info.audit_entries.into()),
                ("feed", info.feed_seq.into()),
                ("incarnation", info.incarnation.clone().into()),
            ],
        )
    );
}
