//! The command line: one subcommand per module in `commands/`.
//!
//! What the commands print for people (status, reports, the information department's
//! commands, their errors) is in the language of `--lang` (any subcommand takes it), else of
//! `LIFELINE_LANG`, else Simplified Chinese; JSON output is the same in every language.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::client::ClientError;
use crate::commands;
use crate::i18n::Lang;
use crate::i18n::said::Said;

#[derive(Debug, Parser)]
#[command(
    name = "lifeline",
    version,
    about = "Keeps a hospital's outpatient windows working when the central system fails"
)]
pub struct Cli {
    /// The language of what is printed for people: zh (Simplified Chinese, the default) or
    /// en. Without it, the LIFELINE_LANG environment variable. JSON output is the same in both.
    #[arg(long, global = true, value_name = "zh|en")]
    pub lang: Option<Lang>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node: store, mesh replication and the desks' API (headless).
    Daemon(commands::daemon::DaemonArgs),
    /// Show the node, its mode and episode, its peers, backlogs, ranges and store size.
    Status(commands::status::StatusArgs),
    /// The hospital CA: create it, issue node certificates.
    #[command(subcommand)]
    Ca(commands::ca::CaCommand),
    /// Desk operators and their API tokens.
    #[command(subcommand)]
    Operator(commands::operator::OperatorCommand),
    /// Declare, estimate or end an emergency episode by hand; run a drill.
    #[command(subcommand)]
    Emergency(commands::emergency::EmergencyCommand),
    /// Reference data (central only).
    #[command(subcommand)]
    Catalog(commands::catalog::CatalogCommand),
    /// Number ranges: lease (central/standby), show the range report.
    #[command(subcommand)]
    Ranges(commands::ranges::RangesCommand),
    /// Follow reconciliation after an outage until this node is done, with progress.
    Reconcile(commands::reconcile::ReconcileArgs),
    /// Run a whole local hospital with an outage, on loopback.
    Demo(commands::demo::DemoArgs),
    /// Write a consistent snapshot of the node's store while the daemon runs (or is stopped).
    Backup(commands::backup::BackupArgs),
    /// Bring the node's store back from a backup (the daemon must be stopped).
    Restore(commands::backup::RestoreArgs),
    /// Rewrite the node's store in key order to give back unused space (the daemon must be
    /// stopped; records, incarnation and peers' positions unchanged).
    Compact(commands::compact::CompactArgs),
    /// The restore drill: restore a backup in a scratch directory and check everything.
    Verify(commands::backup::VerifyArgs),
    /// The conflict review report (text, JSON or one self-contained HTML file).
    Conflicts(commands::conflicts::ConflictsArgs),
    /// Record a reviewer's decision on a conflict (replicated and audited).
    Resolve(commands::review::ResolveArgs),
    /// Merge a duplicate patient record into the one to keep (replicated and audited).
    MergePatients(commands::review::MergeArgs),
    /// Emergency episodes: list them; the outage report.
    #[command(subcommand)]
    Episode(commands::episode::EpisodeCommand),
    /// Records refused from peers, kept for inspection.
    #[command(subcommand)]
    Quarantine(commands::quarantine::QuarantineCommand),
    /// Hand a CA-signed revocation (from `lifeline ca revoke`) to a running node.
    Revoke(commands::revoke::RevokeArgs),
    /// Daily reports: the cashier summary by payment channel.
    #[command(subcommand)]
    Report(commands::report::ReportCommand),
    /// Export an emergency episode (FHIR R4, Bulk Data NDJSON).
    #[command(subcommand)]
    Export(commands::export::ExportCommand),
    /// The HIS bridge (central, standby): status, pull, push, check the mapping.
    #[command(subcommand)]
    His(commands::his::HisCommand),
}

pub fn main() -> ExitCode {
    install_panic_hook();
    // The help is in the reader's language, which is known before clap parses.
    let help_lang = crate::help::early_lang(std::env::args_os());
    let matches = match crate::help::localize(Cli::command(), help_lang).try_get_matches() {
        Ok(m) => m,
        Err(e) => match (help_lang, crate::help::parse_error(&e, help_lang)) {
            // English readers get clap's own words, which are already theirs.
            (Lang::En, _) | (_, None) => e.exit(),
            (_, Some(words)) => {
                eprintln!("lifeline: {words}");
                return ExitCode::from(2);
            }
        },
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let lang = match cli.lang.map_or_else(Lang::from_env, Ok) {
        Ok(lang) => lang,
        Err(e) => {
            // No language is known yet: said in both.
            let value = match e.from {
                Some(var) => format!("{var}={:?}", e.value),
                None => format!("{:?}", e.value),
            };
            for l in Lang::ALL {
                let words =
                    crate::i18n::tr(l, "cli-unknown-lang", &[("value", value.as_str().into())]);
                eprintln!("lifeline: {words}");
            }
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Daemon(args) => commands::daemon::run(&args),
        Command::Status(args) => commands::status::run(&args, lang),
        Command::Ca(cmd) => commands::ca::run(cmd, lang),
        Command::Operator(cmd) => commands::operator::run(cmd, lang),
        Command::Emergency(cmd) => commands::emergency::run(cmd, lang),
        Command::Catalog(cmd) => commands::catalog::run(cmd, lang),
        Command::Ranges(cmd) => commands::ranges::run(cmd, lang),
        Command::Demo(args) => commands::demo::run(&args, lang),
        Command::Reconcile(args) => commands::reconcile::run(&args, lang),
        Command::Backup(args) => commands::backup::backup(&args, lang),
        Command::Restore(args) => commands::backup::restore(&args, lang),
        Command::Verify(args) => commands::backup::verify(&args, lang),
        Command::Compact(args) => commands::compact::run(&args, lang),
        Command::Conflicts(args) => commands::conflicts::run(&args, lang),
        Command::Resolve(args) => commands::review::resolve(&args, lang),
        Command::MergePatients(args) => commands::review::merge(&args, lang),
        Command::Episode(cmd) => commands::episode::run(cmd, lang),
        Command::Quarantine(cmd) => commands::quarantine::run(cmd, lang),
        Command::Revoke(args) => commands::revoke::run(&args, lang),
        Command::Report(cmd) => commands::report::run(cmd, lang),
        Command::His(cmd) => commands::his::run(cmd, lang),
        Command::Export(cmd) => commands::export::run(cmd, lang),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline: {}", say(lang, &*e));
            ExitCode::FAILURE
        }
    }
}

/// An error as staff read it: the chain ([`crate::error::chain`]), with the node's answers,
/// unreachable daemons and the catalog's errors ([`Said`]) said in `lang` (the rest stays as
/// the code wrote it).
pub fn say(lang: Lang, error: &(dyn std::error::Error + 'static)) -> String {
    crate::error::chain_with(error, |e| {
        if let Some(c) = e.downcast_ref::<ClientError>() {
            c.words(lang)
        } else if let Some(s) = e.downcast_ref::<Said>() {
            s.words(lang)
        } else {
            e.to_string()
        }
    })
}

/// Panics the code expects and turns into refusals (redb on a damaged file, Automerge on a
/// peer's bytes: see `lifeline_core::error::contained`) are logged as one debug line, not a
/// backtrace before the clear refusal; any other panic is reported as Rust reports it.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if lifeline_core::error::panic_is_contained() {
            tracing::debug!(panic = %info, "a library panicked on damaged input; refused");
        } else {
            default(info);
        }
    }));
}
