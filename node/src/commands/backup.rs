//! `lifeline backup`, `lifeline restore` and `lifeline verify`: a consistent snapshot of a
//! node's store (through the running daemon, or straight from the file when the daemon is
//! stopped), bringing a store back from one (daemon stopped), and the monthly restore drill.
//! Long runs show a progress bar when stderr is a terminal, and plain lines otherwise.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lifeline_core::desk::RestoreDrill;
use lifeline_core::store::{
    BackupInfo, RestoreInfo, RestoreOptions, VerifyReport, checksum_path, restore_from,
    verify_snapshot,
};
use lifeline_core::{OpenError, OperatorName, Store};

use crate::api::backup::BackupRequest;
use crate::client::error_message;
use crate::config::Config;
use crate::error::chain;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// The backup file to write (it must not exist); `FILE.sha256` is written beside it.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// The backup file to restore the node's store from.
    #[arg(long = "from", value_name = "FILE")]
    pub from: PathBuf,
    /// Restore a backup taken on another node (e.g. to rebuild a window from a neighbour's).
    #[arg(long)]
    pub allow_other_node: bool,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The backup file to check (it is only read).
    pub file: PathBuf,
    /// Where to restore it for the check (a directory made inside it is removed afterwards).
    /// Default: the system's temporary directory.
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
    /// The report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The node whose restore drill this is: the drill (date, file, result, operator) is
    /// recorded there, through its daemon or straight in its store when it is stopped.
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// Who ran the drill (default: the login name).
    #[arg(long)]
    pub operator: Option<String>,
}

/// `lifeline backup -c node.toml --out FILE`.
pub fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let out = std::path::absolute(&args.out)
        .with_context(|| format!("{} is not a usable path", args.out.display()))?;
    let down = match through_daemon(&config, &out) {
        Ok(info) => {
            print_backup(&info, "through the running daemon", &config);
            return Ok(());
        }
        Err(Reach::Refused(e)) => return Err(e),
        Err(Reach::Down(why)) => why,
    };
    let store_path = config.store_path();
    if !store_path.exists() {
        bail!(
            "no daemon answers ({down}) and there is no store at {}",
            store_path.display()
        );
    }
    eprintln!(
        "the daemon is not running ({down}): backing up {} directly",
        store_path.display()
    );
    let store = match Store::open(&store_path, config.store_options()) {
        Ok(store) => store,
        Err(e @ OpenError::AlreadyOpen { .. }) => bail!(
            "{}: the daemon holds the store but its API does not answer ({down}); check `lifeline status`",
            chain(&e)
        ),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot open the store {}", store_path.display()));
        }
    };
    let bar = Progress::bar("backup");
    let result = store.backup_to(&out, &|done, total| bar.update(done, total));
    bar.finish();
    let info = result?;
    print_backup(&info, "with the daemon stopped", &config);
    Ok(())
}

/// `lifeline restore -c node.toml --from FILE [--allow-other-node]`.
pub fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let target = config.store_path();
    let bar = Progress::bar("restore");
    let result = restore_from(
        &args.from,
        &target,
        &config.node.name,
        RestoreOptions {
            allow_other_node: args.allow_other_node,
        },
        &|done, total| bar.update(done, total),
    );
    bar.finish();
    let info = result.with_context(|| {
        format!(
            "the store {} was not restored (it is unchanged)",
            target.display()
        )
    })?;
    print_restore(&info, &args.config);
    Ok(())
}

/// `lifeline verify FILE [--scratch DIR] [--json]`: fails (non-zero exit) on any problem.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let scratch = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let started = Instant::now();
    let bar = Progress::bar("verify");
    let result = verify_snapshot(&args.file, &scratch, &|done, total| bar.update(done, total));
    bar.finish();
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_verify(&report, started.elapsed()));
    }
    match record_drill(args, &report) {
        Ok(how) => eprintln!("restore drill recorded {how}"),
        Err(e) => eprintln!("the restore drill was NOT recorded: {}", chain(&*e)),
    }
    if !report.passed() {
        bail!(
            "{} FAILED the restore drill: {} problem(s) found",
            args.file.display(),
            report.problems.len() as u64 + report.more_problems
        );
    }
    Ok(())
}

/// Records the drill on the node of `--config`: through its daemon, or straight in its store
/// when the daemon is stopped. Says how.
fn record_drill(args: &VerifyArgs, report: &VerifyReport) -> anyhow::Result<&'static str> {
    if !args.config.exists() {
        bail!(
            "no node config at {} (give the node's with -c)",
            args.config.display()
        );
    }
    let config = Config::load(&args.config)?;
    let operator = match &args.operator {
        Some(name) => name.clone(),
        None => std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into()),
    };
    let file = std::path::absolute(&args.file).unwrap_or_else(|_| args.file.clone());
    let store_now = || -> i64 { lifeline_core::Clock::now_ms(&lifeline_core::SystemClock) };
    let drill = RestoreDrill {
        at_ms: store_now(),
        file: file.display().to_string(),
        passed: report.passed(),
        problems: report.problems.len() as u64 + report.more_problems,
        operator: OperatorName::new(operator.clone())
            .with_context(|| format!("{operator:?} cannot name the operator (use --operator)"))?,
    };
    let through_daemon = crate::client::Client::for_config(&config)
        .and_then(|client| client.post::<_, serde_json::Value>("/admin/restore-drills", &drill));
    match through_daemon {
        Ok(_) => Ok("on the node, through its daemon"),
        Err(daemon) => {
            let store =
                Store::open(config.store_path(), config.store_options()).with_context(|| {
                    format!(
                        "neither through the daemon ({}) nor in the store",
                        chain(&*daemon)
                    )
                })?;
            store.record_restore_drill(&crate::daemon::housekeeping::system_operator(), drill)?;
            Ok("in the node's store (its daemon is stopped)")
        }
    }
}

/// Why the daemon did not take the backup.
enum Reach {
    /// Its API does not answer: it is (probably) not running.
    Down(String),
    /// It answered with a refusal or an error.
    Refused(anyhow::Error),
}

/// Asks the running daemon to write the backup. No overall timeout: a big store takes a while.
fn through_daemon(config: &Config, out: &Path) -> Result<BackupInfo, Reach> {
    let token_path = config.admin_token_path();
    let token = std::fs::read_to_string(&token_path).map_err(|e| {
        Reach::Down(format!(
            "cannot read the admin token {}: {}",
            token_path.display(),
            chain(&e)
        ))
    })?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(None)
        .http_status_as_error(false)
        .build()
        .into();
    let addr = config.api.listen;
    let spinner = Progress::spinner(&format!("backup through the daemon at {addr}"));
    let sent = agent
        .post(format!("http://{addr}/admin/backup"))
        .header("Authorization", format!("Bearer {}", token.trim()))
        .send_json(BackupRequest {
            out: out.to_path_buf(),
        });
    spinner.finish();
    let resp =
        sent.map_err(|e| Reach::Down(format!("its API at {addr} does not answer: {}", chain(&e))))?;
    let status = resp.status();
    let text = resp
        .into_body()
        .read_to_string()
        .context("unreadable answer from the daemon")
        .map_err(Reach::Refused)?;
    if !status.is_success() {
        return Err(Reach::Refused(anyhow::anyhow!(
            "the daemon did not write the backup: {status}: {}",
            error_message(text)
        )));
    }
    serde_json::from_str(&text)
        .context("unexpected answer from the daemon")
        .map_err(Reach::Refused)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn print_backup(info: &BackupInfo, how: &str, config: &Config) {
    println!("backup written to {} ({how})", info.path.display());
    println!(
        "  node {}, taken {}: {} records, {} audit entries, feed at {}",
        info.node,
        config.hospital.utc_offset.local(info.created_ms),
        info.records,
        info.audit_entries,
        info.feed_seq
    );
    println!(
        "  {}, sha256 {} (also in {})",
        mib(info.bytes),
        info.sha256,
        checksum_path(&info.path).display()
    );
    println!("check it with: lifeline verify {}", info.path.display());
}

fn print_restore(info: &RestoreInfo, config: &Path) {
    println!(
        "restored {} into {}",
        info.snapshot.display(),
        info.target.display()
    );
    let origin = if info.snapshot_node == info.node.as_str() {
        String::new()
    } else {
        format!(" (from a backup of {})", info.snapshot_node)
    };
    println!(
        "  node {}{origin}: {} records, {} audit entries (chain intact), feed at {}",
        info.node, info.records, info.audit_entries, info.feed_seq
    );
    match &info.checksum_file {
        Some(file) => println!(
            "  {}, sha256 {} matches {}",
            mib(info.bytes),
            info.sha256,
            file.display()
        ),
        None => println!(
            "  {}, sha256 {} (no checksum file beside the backup to compare with)",
            mib(info.bytes),
            info.sha256
        ),
    }
    println!(
        "  new incarnation {}: peers will see this store lost history and resend what it lacks",
        info.incarnation
    );
    if let Some(previous) = &info.previous {
        println!("  the replaced store is kept as {}", previous.display());
    }
    println!(
        "start the daemon again: lifeline daemon -c {}",
        config.display()
    );
}

/// The human form of a verify report.
pub fn render_verify(r: &VerifyReport, took: Duration) -> String {
    let mut out = format!("snapshot {} ({})\n", r.snapshot.display(), mib(r.bytes));
    if let Some(sha) = &r.sha256 {
        out.push_str(&format!("  sha256 {sha}\n"));
    }
    match &r.checksum_file {
        Some(file) => out.push_str(&format!("  compared with {}\n", file.display())),
        None => out.push_str("  no checksum file beside it\n"),
    }
    if let Some(node) = &r.node {
        out.push_str(&format!(
            "  node {node}, incarnation {}\n",
            r.incarnation.as_deref().unwrap_or("?")
        ));
    }
    if r.node.is_none() {
        return render_outcome(r, took, out);
    }
    let kinds: Vec<String> = r
        .records_by_kind
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    out.push_str(&format!(
        "  {} records read back ({}), {} in the feed, {} audit entries, {} number ranges\n",
        r.records,
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds.join(", ")
        },
        r.feed_records,
        r.audit_entries,
        r.ranges
    ));
    render_outcome(r, took, out)
}

fn render_outcome(r: &VerifyReport, took: Duration, mut out: String) -> String {
    if r.passed() {
        out.push_str(&format!(
            "PASS: restored in a scratch directory; every record, the audit chain and the number ranges check out ({:.1} s)\n",
            took.as_secs_f64()
        ));
    } else {
        out.push_str(&format!(
            "FAIL: {} problem(s)\n",
            r.problems.len() as u64 + r.more_problems
        ));
        for p in &r.problems {
            out.push_str(&format!("  - {p}\n"));
        }
        if r.more_problems > 0 {
            out.push_str(&format!("  ... and {} more\n", r.more_problems));
        }
    }
    out
}

/// A progress bar on a terminal; otherwise a plain line every quarter.
pub(crate) struct Progress {
    label: String,
    bar: Option<ProgressBar>,
    /// The last quarter printed as a plain line (plus one; 0 = none yet).
    printed: AtomicU64,
}

impl Progress {
    pub(crate) fn bar(label: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg:>8} [{bar:40.cyan/blue}] {percent:>3}%  {elapsed_precise} (eta {eta})",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(label.to_owned());
            bar
        });
        Progress {
            label: label.to_owned(),
            bar,
            printed: AtomicU64::new(0),
        }
    }

    fn spinner(message: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::default_spinner());
            bar.set_message(format!("{message} ..."));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            eprintln!("{message} ...");
        }
        Progress {
            label: message.to_owned(),
            bar,
            printed: AtomicU64::new(u64::MAX),
        }
    }

    pub(crate) fn update(&self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            return;
        }
        let percent = (u128::from(done) * 100)
            .checked_div(u128::from(total))
            .map_or(100, |p| p.min(100) as u64);
        let quarter = percent / 25 + 1;
        let before = self.printed.fetch_max(quarter, Ordering::Relaxed);
        if quarter > before {
            eprintln!("{}: {percent}%", self.label);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
