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
use crate::i18n::{Arg, Lang, t, tr};

/// A path as a message argument.
pub(crate) fn shown(path: &Path) -> Arg<'static> {
    path.display().to_string().into()
}

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
pub fn backup(args: &BackupArgs, l: Lang) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let out = std::path::absolute(&args.out)
        .with_context(|| tr(l, "cli-backup-bad-path", &[("path", shown(&args.out))]))?;
    let down = match through_daemon(&config, &out, l) {
        Ok(info) => {
            print_backup(&info, &t(l, "cli-backup-how-daemon"), &config, l);
            return Ok(());
        }
        Err(Reach::Refused(e)) => return Err(e),
        Err(Reach::Down(why)) => why,
    };
    let store_path = config.store_path();
    if !store_path.exists() {
        bail!(
            "{}",
            tr(
                l,
                "cli-backup-no-store",
                &[("why", down.as_str().into()), ("path", shown(&store_path))],
            )
        );
    }
    eprintln!(
        "{}",
        tr(
            l,
            "cli-backup-direct",
            &[("why", down.as_str().into()), ("path", shown(&store_path))],
        )
    );
    let store = match Store::open(&store_path, config.store_options()) {
        Ok(store) => store,
        Err(e @ OpenError::AlreadyOpen { .. }) => bail!(
            "{}",
            tr(
                l,
                "cli-backup-held",
                &[("error", chain(&e).into()), ("why", down.as_str().into())],
            )
        ),
        Err(e) => {
            return Err(e)
                .with_context(|| tr(l, "cli-cannot-open-store", &[("path", shown(&store_path))]));
        }
    };
    let bar = Progress::bar(&t(l, "cli-progress-backup"));
    let result = store.backup_to(&out, &|done, total| bar.update(done, total));
    bar.finish();
    let info = result?;
    print_backup(&info, &t(l, "cli-backup-how-stopped"), &config, l);
    Ok(())
}

/// `lifeline restore -c node.toml --from FILE [--allow-other-node]`.
pub fn restore(args: &RestoreArgs, l: Lang) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let target = config.store_path();
    let bar = Progress::bar(&t(l, "cli-progress-restore"));
    let result = restore_from(
        &args.from,
        &target,
        &config.node.name,
        RestoreOptions {
            allow_other_node: args.allow_other_node,
            ..RestoreOptions::default()
        },
        &|done, total| bar.update(done, total),
    );
    bar.finish();
    let info = result.with_context(|| tr(l, "cli-restore-failed", &[("path", shown(&target))]))?;
    print_restore(&info, &args.config, l);
    Ok(())
}

/// `lifeline verify FILE [--scratch DIR] [--json]`: fails (non-zero exit) on any problem.
pub fn verify(args: &VerifyArgs, l: Lang) -> anyhow::Result<()> {
    let scratch = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let started = Instant::now();
    let bar = Progress::bar(&t(l, "cli-progress-verify"));
    let result = verify_snapshot(&args.file, &scratch, &|done, total| bar.update(done, total));
    bar.finish();
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_verify(&report, started.elapsed(), l));
    }
    match record_drill(args, &report, l) {
        Ok(how) => eprintln!(
            "{}",
            tr(l, "cli-verify-recorded", &[("how", t(l, how).into())])
        ),
        Err(e) => eprintln!(
            "{}",
            tr(
                l,
                "cli-verify-not-recorded",
                &[("error", crate::cli::say(l, &*e).into())]
            )
        ),
    }
    if !report.passed() {
        bail!(
            "{}",
            tr(
                l,
                "cli-verify-failed",
                &[
                    ("file", shown(&args.file)),
                    (
                        "n",
                        (report.problems.len() as u64 + report.more_problems).into()
                    ),
                ],
            )
        );
    }
    Ok(())
}

/// Records the drill on the node of `--config`: through its daemon, or straight in its store
/// when the daemon is stopped. Says how (the message's key).
fn record_drill(args: &VerifyArgs, report: &VerifyReport, l: Lang) -> anyhow::Result<&'static str> {
    if !args.config.exists() {
        bail!(
            "{}",
            tr(l, "cli-verify-no-config", &[("path", shown(&args.config))])
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
        operator: OperatorName::new(operator.clone()).with_context(|| {
            tr(
                l,
                "cli-verify-bad-operator",
                &[("operator", format!("{operator:?}").into())],
            )
        })?,
    };
    let through_daemon = crate::client::Client::for_config(&config)
        .and_then(|client| client.post::<_, serde_json::Value>("/admin/restore-drills", &drill));
    match through_daemon {
        Ok(_) => Ok("cli-verify-how-daemon"),
        Err(daemon) => {
            let store =
                Store::open(config.store_path(), config.store_options()).with_context(|| {
                    tr(
                        l,
                        "cli-verify-neither",
                        &[("error", crate::cli::say(l, &*daemon).into())],
                    )
                })?;
            store.record_restore_drill(&crate::daemon::housekeeping::system_operator(), drill)?;
            Ok("cli-verify-how-store")
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
fn through_daemon(config: &Config, out: &Path, l: Lang) -> Result<BackupInfo, Reach> {
    let token_path = config.admin_token_path();
    let token = std::fs::read_to_string(&token_path).map_err(|e| {
        Reach::Down(tr(
            l,
            "cli-backup-no-token",
            &[("path", shown(&token_path)), ("error", chain(&e).into())],
        ))
    })?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(None)
        .http_status_as_error(false)
        .build()
        .into();
    let addr = config.api.listen;
    let spinner = Progress::spinner(&tr(
        l,
        "cli-backup-spinner",
        &[("address", addr.to_string().into())],
    ));
    let sent = agent
        .post(format!("http://{addr}/admin/backup"))
        .header("Authorization", format!("Bearer {}", token.trim()))
        .send_json(BackupRequest {
            out: out.to_path_buf(),
        });
    spinner.finish();
    let resp = sent.map_err(|e| {
        Reach::Down(tr(
            l,
            "cli-backup-unanswered",
            &[
                ("address", addr.to_string().into()),
                ("error", chain(&e).into()),
            ],
        ))
    })?;
    let status = resp.status();
    let text = resp
        .into_body()
        .read_to_string()
        .with_context(|| t(l, "cli-daemon-unreadable"))
        .map_err(Reach::Refused)?;
    if !status.is_success() {
        return Err(Reach::Refused(anyhow::anyhow!(
            "{}",
            tr(
                l,
                "cli-backup-refused",
                &[
                    ("status", status.to_string().into()),
                    ("message", error_message(text).into()),
                ],
            )
        )));
    }
    serde_json::from_str(&text)
        .with_context(|| t(l, "cli-daemon-unexpected"))
        .map_err(Reach::Refused)
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn print_backup(info: &BackupInfo, how: &str, config: &Config, l: Lang) {
    println!(
        "{}",
        tr(
            l,
            "cli-backup-written",
            &[("path", shown(&info.path)), ("how", how.into())],
        )
    );
    println!(
        "  {}",
        tr(
            l,
            "cli-backup-facts",
            &[
                ("node", info.node.to_string().into()),
                (
                    "at",
                    config.hospital.utc_offset.local(info.created_ms).into()
                ),
                ("records", info.records.into()),
                ("audit", info.audit_entries.into()),
                ("feed", info.feed_seq.into()),
            ],
        )
    );
    println!(
        "  {}",
        tr(
            l,
            "cli-backup-size",
            &[
                ("size", mib(info.bytes).into()),
                ("sha", info.sha256.as_str().into()),
                ("file", shown(&checksum_path(&info.path))),
            ],
        )
    );
    println!(
        "{}",
        tr(l, "cli-backup-check", &[("path", shown(&info.path))])
    );
}

fn print_restore(info: &RestoreInfo, config: &Path, l: Lang) {
    println!(
        "{}",
        tr(
            l,
            "cli-restore-done",
            &[("from", shown(&info.snapshot)), ("to", shown(&info.target))],
        )
    );
    let origin = if info.snapshot_node == info.node.as_str() {
        String::new()
    } else {
        tr(
            l,
            "cli-restore-from-other",
            &[("node", info.snapshot_node.as_str().into())],
        )
    };
    println!(
        "  {}",
        tr(
            l,
            "cli-restore-facts",
            &[
                ("node", info.node.to_string().into()),
                ("origin", origin.into()),
                ("records", info.records.into()),
                ("audit", info.audit_entries.into()),
                ("feed", info.feed_seq.into()),
            ],
        )
    );
    let size = || ("size", mib(info.bytes).into());
    let sha = || ("sha", info.sha256.as_str().into());
    let checksum = match &info.checksum_file {
        Some(file) => tr(
            l,
            "cli-restore-sha-matches",
            &[size(), sha(), ("file", shown(file))],
        ),
        None => tr(l, "cli-restore-sha-alone", &[size(), sha()]),
    };
    println!("  {checksum}");
    println!(
        "  {}",
        tr(
            l,
            "cli-restore-incarnation",
            &[("incarnation", info.incarnation.to_string().into())],
        )
    );
    if let Some(previous) = &info.previous {
        println!(
            "  {}",
            tr(l, "cli-restore-previous", &[("path", shown(previous))])
        );
    }
    println!(
        "{}",
        tr(l, "cli-restore-start", &[("config", shown(config))])
    );
}

/// The human form of a verify report, in `l`. The problems are the drill's own words.
pub fn render_verify(r: &VerifyReport, took: Duration, l: Lang) -> String {
    let mut out = format!(
        "{}\n",
        tr(
            l,
            "cli-verify-snapshot",
            &[("path", shown(&r.snapshot)), ("size", mib(r.bytes).into())],
        )
    );
    if let Some(sha) = &r.sha256 {
        out.push_str(&format!("  sha256 {sha}\n"));
    }
    let checksum = match &r.checksum_file {
        Some(file) => tr(l, "cli-verify-compared", &[("file", shown(file))]),
        None => t(l, "cli-verify-no-checksum"),
    };
    out.push_str(&format!("  {checksum}\n"));
    if let Some(node) = &r.node {
        out.push_str(&format!(
            "  {}\n",
            tr(
                l,
                "cli-verify-node",
                &[
                    ("node", node.as_str().into()),
                    (
                        "incarnation",
                        r.incarnation.as_deref().unwrap_or("?").into()
                    ),
                ],
            )
        ));
    }
    if r.node.is_none() {
        return render_outcome(r, took, out, l);
    }
    let kinds: Vec<String> = r
        .records_by_kind
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| {
            let kind = tr(
                l,
                &format!("report-record-{}", k.name()),
                &[("count", (*n).into())],
            );
            format!("{kind} {n}")
        })
        .collect();
    let kinds = if kinds.is_empty() {
        t(l, "cli-none")
    } else {
        kinds.join(&t(l, "report-list-separator"))
    };
    out.push_str(&format!(
        "  {}\n",
        tr(
            l,
            "cli-verify-records",
            &[
                ("records", r.records.into()),
                ("kinds", kinds.into()),
                ("feed", r.feed_records.into()),
                ("audit", r.audit_entries.into()),
                ("ranges", r.ranges.into()),
            ],
        )
    ));
    render_outcome(r, took, out, l)
}

fn render_outcome(r: &VerifyReport, took: Duration, mut out: String, l: Lang) -> String {
    if r.passed() {
        let seconds = format!("{:.1}", took.as_secs_f64());
        out.push_str(&tr(l, "cli-verify-pass", &[("seconds", seconds.into())]));
        out.push('\n');
    } else {
        let n = r.problems.len() as u64 + r.more_problems;
        out.push_str(&tr(l, "cli-verify-fail", &[("n", n.into())]));
        out.push('\n');
        for p in &r.problems {
            out.push_str(&format!("  - {p}\n"));
        }
        if r.more_problems > 0 {
            out.push_str(&format!(
                "  {}\n",
                tr(l, "cli-verify-more", &[("n", r.more_problems.into())])
            ));
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
