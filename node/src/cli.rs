//! The command line: one subcommand per module in `commands/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;

#[derive(Debug, Parser)]
#[command(
    name = "lifeline",
    version,
    about = "Keeps a hospital's outpatient windows working when the central system fails"
)]
pub struct Cli {
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
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Daemon(args) => commands::daemon::run(&args),
        Command::Status(args) => commands::status::run(&args),
        Command::Ca(cmd) => commands::ca::run(cmd),
        Command::Operator(cmd) => commands::operator::run(cmd),
        Command::Emergency(cmd) => commands::emergency::run(cmd),
        Command::Catalog(cmd) => commands::catalog::run(cmd),
        Command::Ranges(cmd) => commands::ranges::run(cmd),
        Command::Demo(args) => commands::demo::run(&args),
        Command::Reconcile(args) => commands::reconcile::run(&args),
        Command::Backup(args) => commands::backup::backup(&args),
        Command::Restore(args) => commands::backup::restore(&args),
        Command::Verify(args) => commands::backup::verify(&args),
        Command::Conflicts(args) => commands::conflicts::run(&args),
        Command::Resolve(args) => commands::review::resolve(&args),
        Command::MergePatients(args) => commands::review::merge(&args),
        Command::Episode(cmd) => commands::episode::run(cmd),
        Command::Quarantine(cmd) => commands::quarantine::run(cmd),
        Command::Revoke(args) => commands::revoke::run(&args),
        Command::Report(cmd) => commands::report::run(cmd),
        Command::His(cmd) => commands::his::run(cmd),
        Command::Export(cmd) => commands::export::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline: {}", crate::error::chain(&*e));
            ExitCode::FAILURE
        }
    }
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
