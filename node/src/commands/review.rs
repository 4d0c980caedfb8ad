//! `lifeline resolve` and `lifeline merge-patients`: a reviewer's decisions, made under the
//! reviewer's own name (`--operator`, with their token): each is recorded as a change to the
//! records concerned, so it replicates to every node and lands in the audit trail
//! (`review.resolve`, `review.confirm`, `review.keep_separate`, `review.merge`) saying who
//! decided.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::Client;
use crate::i18n::{Lang, t, tr};
use crate::report::path_segment;
use crate::report::words::decision;

/// Who decides: a reviewer by their operator name and token.
#[derive(Debug, Clone, clap::Args)]
pub struct Reviewer {
    /// The reviewer deciding, by their own operator name (`lifeline operator add --desk
    /// admin`); decisions are recorded under it.
    #[arg(long)]
    pub operator: String,
    /// A file holding the reviewer's token; without it, the `LIFELINE_TOKEN` environment
    /// variable.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

impl Reviewer {
    /// The node's API, as this reviewer.
    fn client(&self, config: &Path, l: Lang) -> anyhow::Result<Client> {
        let token = match &self.token_file {
            Some(path) => std::fs::read_to_string(path).with_context(|| {
                tr(
                    l,
                    "cli-review-token-file",
                    &[("path", path.display().to_string().into())],
                )
            })?,
            None => std::env::var("LIFELINE_TOKEN").with_context(|| t(l, "cli-review-no-token"))?,
        };
        let (_, admin) = super::admin_client(config)?;
        Ok(admin.as_operator(&self.operator, token.trim()))
    }
}

#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("decision")
        .required(true)
        .args(["choose", "confirm", "keep_separate"])
))]
pub struct ResolveArgs {
    /// The node's config file (the daemon's).
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// The conflict id, as `lifeline conflicts` shows it.
    pub conflict: String,
    /// Field conflicts: keep the value with this number.
    #[arg(long, value_name = "N")]
    pub choose: Option<usize>,
    /// Confirm what the rules kept (double dispense, settlement or invoice; on a field
    /// conflict, the value shown now), after checking.
    #[arg(long)]
    pub confirm: bool,
    /// Duplicate patients: they are different people; keep both records.
    #[arg(long)]
    pub keep_separate: bool,
    #[command(flatten)]
    pub reviewer: Reviewer,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The node's config file (the daemon's).
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// The patient record to keep.
    #[arg(long)]
    pub survivor: String,
    /// The patient record merged into it (kept, with a pointer to the survivor).
    #[arg(long)]
    pub duplicate: String,
    #[command(flatten)]
    pub reviewer: Reviewer,
}

pub fn resolve(args: &ResolveArgs, l: Lang) -> anyhow::Result<()> {
    let choice = match (args.choose, args.confirm, args.keep_separate) {
        (Some(n), false, false) => json!({ "choose_value": n }),
        (None, true, false) => json!("confirm"),
        (None, false, true) => json!("keep_separate"),
        _ => anyhow::bail!("{}", t(l, "cli-review-one-decision")),
    };
    let client = args.reviewer.client(&args.config, l)?;
    let answer: Value = client.post(
        &format!("/admin/conflicts/{}/resolve", path_segment(&args.conflict)),
        &json!({ "choice": choice }),
    )?;
    print_decision(&answer, l);
    Ok(())
}

pub fn merge(args: &MergeArgs, l: Lang) -> anyhow::Result<()> {
    let client = args.reviewer.client(&args.config, l)?;
    let answer: Value = client.post(
        "/admin/patients/merge",
        &json!({ "survivor": args.survivor, "duplicate": args.duplicate }),
    )?;
    print_decision(&answer, l);
    Ok(())
}

fn print_decision(answer: &Value, l: Lang) {
    let v = &answer["value"];
    let s = |k: &str| v[k].as_str().unwrap_or("?").to_owned();
    println!(
        "{}",
        tr(
            l,
            "cli-review-decided",
            &[
                ("conflict", s("conflict").into()),
                ("decision", decision(l, &s("decision")).into()),
                ("operator", s("operator").into()),
                ("node", s("node").into()),
            ],
        )
    );
    if let Some(warnings) = answer["warnings"].as_array() {
        for w in warnings {
            let w = w.as_str().map_or_else(|| w.to_string(), str::to_owned);
            println!("{}", tr(l, "cli-warning", &[("warning", w.into())]));
        }
    }
}
