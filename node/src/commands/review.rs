//! `lifeline resolve` and `lifeline merge-patients`: a reviewer's decisions. Each is recorded
//! as a change to the records concerned, so it replicates to every node and lands in the
//! audit trail (`review.resolve`, `review.confirm`, `review.keep_separate`, `review.merge`).

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::report::path_segment;

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
}

pub fn resolve(args: &ResolveArgs) -> anyhow::Result<()> {
    let choice = match (args.choose, args.confirm, args.keep_separate) {
        (Some(n), false, false) => json!({ "choose_value": n }),
        (None, true, false) => json!("confirm"),
        (None, false, true) => json!("keep_separate"),
        _ => anyhow::bail!("give exactly one of --choose N, --confirm or --keep-separate"),
    };
    let (_, client) = super::admin_client(&args.config)?;
    let answer: Value = client.post(
        &format!("/admin/conflicts/{}/resolve", path_segment(&args.conflict)),
        &json!({ "choice": choice }),
    )?;
    print_decision(&answer);
    Ok(())
}

pub fn merge(args: &MergeArgs) -> anyhow::Result<()> {
    let (_, client) = super::admin_client(&args.config)?;
    let answer: Value = client.post(
        "/admin/patients/merge",
        &json!({ "survivor": args.survivor, "duplicate": args.duplicate }),
    )?;
    print_decision(&answer);
    Ok(())
}

fn print_decision(answer: &Value) {
    let v = &answer["value"];
    let s = |k: &str| v[k].as_str().unwrap_or("?").to_owned();
    println!(
        "{}: {} (by {} on {}, saved durably; it replicates to every node)",
        s("conflict"),
        s("decision"),
        s("operator"),
        s("node")
    );
    if let Some(warnings) = answer["warnings"].as_array() {
        for w in warnings {
            println!("warning: {w}");
        }
    }
}
