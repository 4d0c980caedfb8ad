//! `lifeline-bench failover`: how long a hospital of real `lifeline daemon` processes takes to
//! fail over when central dies, and to reconcile the outage's work when it comes back.
//!
//! The hospital (see [`lifeline_node::hospital::Hospital`]) is central, a standby and
//! `windows` windows with a registration desk, on loopback, with failover thresholds in
//! seconds ([`thresholds`]). Each run:
//!
//! (a) central is killed (SIGKILL) while every window's desk writes a patient every
//!     [`PACE`]. A desk's write never waits for the network, so "the first write accepted"
//!     alone would say nothing: measured from the kill are the time until every window's
//!     status says degraded with the standby as primary, the first desk write each window
//!     accepts after that (and when that write is readable on the standby), and the time
//!     until every window is in an emergency episode. The desks' write latencies over the
//!     failover are reported too.
//! (b) with central still down, every window writes `per_window` patients; then central is
//!     started again, and measured from its start is the time until central holds every
//!     patient and every window's unreconciled count is 0 (and, after that, until every
//!     window is back to normal and out of the episode).
//!
//! The daemons are the `lifeline` binary, which this benchmark does not build: run
//! `cargo build --release -p lifeline-node` first (see [`find_lifeline_bin`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use lifeline_core::{DeskRole, NodeRole};
use lifeline_node::api::admin::{CatalogCsv, StatusReport};
use lifeline_node::client::Client;
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::{Hospital, NodeSpec};
use serde::Serialize;
use serde_json::{Value, json};

use crate::measure::{median, percentile};
use crate::{Machine, now_unix_ms, quick_mode, rfc3339_utc, write_json};

/// The environment variable naming the `lifeline` binary.
pub const LIFELINE_BIN_ENV: &str = "LIFELINE_BIN";

const CENTRAL: &str = "central";
const STANDBY: &str = "standby";

/// Pause between a desk's writes during (a).
pub const PACE: Duration = Duration::from_millis(25);
/// How often the windows' status is read during (a).
pub const STATUS_POLL: Duration = Duration::from_millis(20);
/// How often the nodes' status is read during (b).
const RECONCILE_POLL: Duration = Duration::from_millis(50);
/// How often the standby is asked for a record during (a).
const STANDBY_POLL: Duration = Duration::from_millis(5);
/// Longest wait for any one state before the run fails.
const PATIENCE: Duration = Duration::from_secs(120);
/// Longest wait for the reconciliation of an outage.
const RECONCILE_WITHIN: Duration = Duration::from_secs(900);

/// Options of `lifeline-bench failover`.
#[derive(Debug, Clone, clap::Args)]
pub struct FailoverArgs {
    /// Windows with a registration desk.
    #[arg(long, default_value_t = 5)]
    pub windows: usize,
    /// Patients each window writes while central is down (default 2000; 20 in quick mode).
    #[arg(long)]
    pub per_window: Option<usize>,
    /// Failovers measured, one after the other on the same hospital; the figures are their
    /// medians (default 3; 1 in quick mode).
    #[arg(long)]
    pub runs: Option<usize>,
    /// The `lifeline` binary (default: $LIFELINE_BIN, else the one next to this executable,
    /// as `cargo build --release -p lifeline-node` leaves it).
    #[arg(long)]
    pub lifeline_bin: Option<PathBuf>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results/failover.json")]
    pub out: PathBuf,
    /// Directory for the hospital's files (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Small counts, for a smoke test; also set by LIFELINE_BENCH_QUICK=1.
    #[arg(long)]
    pub quick: bool,
}

/// Failover in seconds instead of minutes; (a)'s figures follow from these.
pub fn thresholds() -> Thresholds {
    Thresholds {
        heartbeat: Duration::from_millis(200),
        peer_timeout: Duration::from_secs(1),
        emergency_after: Duration::from_secs(2),
        low_water: 50,
        lease_size: 1000,
    }
}

/// The thresholds as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdsMs {
    pub heartbeat_ms: u128,
    pub peer_timeout_ms: u128,
    pub emergency_after_ms: u128,
}

impl ThresholdsMs {
    fn of(t: &Thresholds) -> ThresholdsMs {
        ThresholdsMs {
            heartbeat_ms: t.heartbeat.as_millis(),
            peer_timeout_ms: t.peer_timeout.as_millis(),
            emergency_after_ms: t.emergency_after.as_millis(),
        }
    }
}

/// How much a run does.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub windows: usize,
    pub per_window: usize,
    pub runs: usize,
    pub pace_ms: u128,
    pub status_poll_ms: u128,
}

impl Plan {
    pub fn from_args(args: &FailoverArgs) -> anyhow::Result<Plan> {
        let quick = quick_mode(args.quick);
        let plan = Plan {
            quick,
            windows: args.windows,
            per_window: args.per_window.unwrap_or(if quick { 20 } else { 2_000 }),
            runs: args.runs.unwrap_or(if quick { 1 } else { 3 }),
            pace_ms: PACE.as_millis(),
            status_poll_ms: STATUS_POLL.as_millis(),
        };
        ensure!(
            (1..=99).contains(&plan.windows),
            "--windows must be between 1 and 99"
        );
        ensure!(plan.per_window > 0, "--per-window must be at least 1");
        ensure!(plan.runs > 0, "--runs must be at least 1");
        Ok(plan)
    }
}

/// Where the `lifeline` binary is: `explicit`, else `$LIFELINE_BIN`, else next to this
/// executable or one directory up (a test runs from `target/<profile>/deps`).
pub fn find_lifeline_bin(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let named = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(LIFELINE_BIN_ENV).map(PathBuf::from));
    if let Some(path) = named {
        ensure!(
            path.is_file(),
            "the lifeline binary {} does not exist",
            path.display()
        );
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let name = format!("lifeline{}", std::env::consts::EXE_SUFFIX);
    let mut tried = Vec::new();
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(&name);
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    bail!(
        "no lifeline binary at {}: build it first with `cargo build --release -p lifeline-node`, \
         or name it with --lifeline-bin or ${LIFELINE_BIN_ENV}",
        tried.join(" or ")
    )
}

/// One window's figures of (a), in ms from the kill.
#[derive(Debug, Clone, Serialize)]
pub struct WindowFailover {
    pub window: String,
    pub degraded_ms: f64,
    pub first_write_ms: f64,
    pub first_write_on_standby_ms: f64,
    pub episode_ms: f64,
}

/// Desk writes from the kill until every window was in the episode.
#[derive(Debug, Clone, Serialize)]
pub struct DeskWrites {
    pub count: usize,
    pub failed: usize,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
}

/// (a) of one run; the hospital-wide figures are the slowest window's.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverRun {
    pub degraded_ms: f64,
    pub first_write_ms: f64,
    pub first_write_on_standby_ms: f64,
    pub episode_ms: f64,
    pub desk_writes: DeskWrites,
    pub windows: Vec<WindowFailover>,
}

/// (b) of one run.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileRun {
    pub patients_written: usize,
    pub write_ms: f64,
    /// Central's daemon start until it said it was ready.
    pub central_ready_ms: f64,
    /// From central's start until it holds every patient written so far.
    pub central_has_all_ms: f64,
    /// ... and every window's unreconciled count is 0: the figure.
    pub reconciled_ms: f64,
    /// ... and every window is back to normal and out of the episode.
    pub episode_left_ms: f64,
    pub central_patients: u64,
}

/// Medians over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Medians {
    pub degraded_ms: f64,
    pub first_write_ms: f64,
    pub first_write_on_standby_ms: f64,
    pub episode_ms: f64,
    pub desk_write_latency_ms_max: f64,
    pub write_per_s: f64,
    pub central_ready_ms: f64,
    pub central_has_all_ms: f64,
    pub reconciled_ms: f64,
    pub episode_left_ms: f64,
}

/// Everything a `failover` run measured; written as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub timestamp_unix_ms: i64,
    pub machine: Machine,
    pub plan: Plan,
    pub thresholds: ThresholdsMs,
    pub daemon_binary: String,
    pub failover: Vec<FailoverRun>,
    pub reconcile: Vec<ReconcileRun>,
    pub medians: Medians,
    /// Why fewer runs than planned were measured, if so.
    pub stopped_early: Option<String>,
}

/// Runs the benchmark, prints its table and writes its JSON to `args.out`.
pub fn run(args: &FailoverArgs) -> anyhow::Result<FailoverReport> {
    let plan = Plan::from_args(args)?;
    let bin = find_lifeline_bin(args.lifeline_bin.as_deref())?;
    let report = measure(&plan, &bin, args.dir.as_deref())?;
    print!("{}", report.table());
    write_json(&args.out, &report)?;
    println!("results written to {}", args.out.display());
    Ok(report)
}

fn window_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("W{i:02}")).collect()
}

fn specs(windows: &[String]) -> Vec<NodeSpec> {
    let mut specs = vec![
        NodeSpec::new(CENTRAL, NodeRole::Central, &[], &[]),
        NodeSpec::new(STANDBY, NodeRole::Standby, &[], &[CENTRAL]),
    ];
    for w in windows {
        specs.push(NodeSpec::new(
            w,
            NodeRole::Window,
            &[DeskRole::Registration],
            &[CENTRAL, STANDBY],
        ));
    }
    specs
}

/// A window's registration desk, usable from any thread.
#[derive(Debug, Clone)]
struct Desk {
    window: String,
    client: Client,
}

impl Desk {
    /// A new patient; the record's id once the answer says it is durable.
    fn write_patient(&self, n: u64) -> anyhow::Result<String> {
        let body = json!({
            "name": format!("患者 {} {n}", self.window),
            "sex": if n.is_multiple_of(2) { "female" } else { "male" },
            "birth_date": format!("2019-{:02}-{:02}", n % 12 + 1, n % 28 + 1),
            "phone": format!("138{:08}", n % 100_000_000),
            "insurance": "resident",
        });
        let answer: Value = self.client.post("/patients", &body)?;
        ensure!(
            answer["durable"] == json!(true),
            "an answer without \"durable\": true: {answer}"
        );
        answer["value"]["header"]["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("an answer without value.header.id: {answer}"))
    }
}

/// Sets the hospital up in a new temporary directory under `dir` and measures.
pub fn measure(plan: &Plan, bin: &Path, dir: Option<&Path>) -> anyhow::Result<FailoverReport> {
    let parent = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("lifeline-bench-failover-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot make a temporary directory in {}", parent.display()))?;
    let windows = window_names(plan.windows);
    let thresholds = thresholds();
    let mut hospital = Hospital::create(bin, tmp.path(), &specs(&windows), thresholds.clone())
        .context("cannot create the hospital")?;
    let result = measure_in(plan, &mut hospital, &windows);
    if result.is_err() {
        print_log_tails(&hospital);
    }
    let Measured {
        failovers: failover,
        reconciles: reconcile,
        stopped_early,
    } = result?;
    drop(hospital);

    let of_failover =
        |f: fn(&FailoverRun) -> f64| median(&failover.iter().map(f).collect::<Vec<_>>());
    let of_reconcile =
        |f: fn(&ReconcileRun) -> f64| median(&reconcile.iter().map(f).collect::<Vec<_>>());
    let medians = Medians {
        degraded_ms: of_failover(|r| r.degraded_ms),
        first_write_ms: of_failover(|r| r.first_write_ms),
        first_write_on_standby_ms: of_failover(|r| r.first_write_on_standby_ms),
        episode_ms: of_failover(|r| r.episode_ms),
        desk_write_latency_ms_max: of_failover(|r| r.desk_writes.latency_ms_max),
        write_per_s: of_reconcile(|r| {
            if r.write_ms > 0.0 {
                r.patients_written as f64 / (r.write_ms / 1e3)
            } else {
                0.0
            }
        }),
        central_ready_ms: of_reconcile(|r| r.central_ready_ms),
        central_has_all_ms: of_reconcile(|r| r.central_has_all_ms),
        reconciled_ms: of_reconcile(|r| r.reconciled_ms),
        episode_left_ms: of_reconcile(|r| r.episode_left_ms),
    };
    let timestamp_unix_ms = now_unix_ms();
    Ok(FailoverReport {
        benchmark: "failover",
        timestamp: rfc3339_utc(timestamp_unix_ms),
        timestamp_unix_ms,
        machine: Machine::here(&parent),
        plan: plan.clone(),
        thresholds: ThresholdsMs::of(&thresholds),
        daemon_binary: bin.display().to_string(),
        failover,
        reconcile,
        medians,
        stopped_early,
    })
}

/// What a failed run leaves to read: each node's last log lines.
fn print_log_tails(hospital: &Hospital) {
    for name in hospital.names() {
        let path = hospital.dir().join(format!("{name}.log"));
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        eprintln!("---- {name}.log (last {} lines) ----", tail.len());
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
    }
}

/// The runs measured, and why the runs stopped before the last one, if they did.
struct Measured {
    failovers: Vec<FailoverRun>,
    reconciles: Vec<ReconcileRun>,
    stopped_early: Option<String>,
}

fn measure_in(
    plan: &Plan,
    hospital: &mut Hospital,
    windows: &[String],
) -> anyhow::Result<Measured> {
    open(hospital, windows)?;
    let desks = windows
        .iter()
        .map(|w| {
            Ok(Desk {
                window: w.clone(),
                client: hospital.desk(w, DeskRole::Registration)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let standby = hospital.admin(STANDBY)?;
    let mut patients_written = 0usize;
    let mut failovers = Vec::new();
    let mut reconciles = Vec::new();
    let mut stopped_early = None;
    for run in 0..plan.runs {
        let outcome = one_run(
            plan,
            hospital,
            &desks,
            &standby,
            windows,
            run,
            &mut patients_written,
            &mut failovers,
            &mut reconciles,
        );
        if let Err(e) = outcome {
            if reconciles.is_empty() {
                return Err(e);
            }
            // Runs already measured stand; why the next one could not be is a finding too.
            let reason = format!("run {} of {} failed: {e:#}", run + 1, plan.runs);
            eprintln!("{reason}");
            stopped_early = Some(reason);
            break;
        }
    }
    Ok(Measured {
        failovers,
        reconciles,
        stopped_early,
    })
}

/// Starts every node, imports the catalogs at central, and waits until every window works
/// normally with central and also reaches the standby.
fn open(hospital: &mut Hospital, windows: &[String]) -> anyhow::Result<()> {
    eprintln!(
        "starting the hospital: central, standby, {} windows",
        windows.len()
    );
    hospital.start_all().context("cannot start the hospital")?;
    let csv = CatalogCsv {
        drugs_csv: Some(include_str!("../../data/drugs.csv").to_owned()),
        services_csv: Some(include_str!("../../data/services.csv").to_owned()),
        departments_csv: Some(include_str!("../../data/departments.csv").to_owned()),
    };
    let _: Value = hospital
        .admin(CENTRAL)?
        .post("/admin/catalog/import", &csv)
        .context("cannot import the catalogs at central")?;
    hospital.wait_for(
        "every window normal with central, and connected to the standby",
        PATIENCE,
        |h| {
            for w in windows {
                let s = h.status(w)?;
                let standby_up = s.peers.iter().any(|p| p.name == STANDBY && p.connected);
                if s.mode.mode != "normal"
                    || s.mode.primary.as_deref() != Some(CENTRAL)
                    || !standby_up
                {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
}

/// (a) then (b), then a quiet hospital for the next run.
#[allow(
    clippy::too_many_arguments,
    reason = "the state a run carries over to the next"
)]
fn one_run(
    plan: &Plan,
    hospital: &mut Hospital,
    desks: &[Desk],
    standby: &Client,
    windows: &[String],
    run: usize,
    patients_written: &mut usize,
    failovers: &mut Vec<FailoverRun>,
    reconciles: &mut Vec<ReconcileRun>,
) -> anyhow::Result<()> {
    let (failover, written) = fail_over(hospital, desks, standby, windows, run)?;
    *patients_written += written;
    eprintln!(
        "run {}/{}: every window degraded after {:.0} ms, in the episode after {:.0} ms; \
             writing {} patients per window with central down",
        run + 1,
        plan.runs,
        failover.degraded_ms,
        failover.episode_ms,
        plan.per_window
    );
    failovers.push(failover);
    let reconcile = reconcile(
        hospital,
        desks,
        windows,
        plan.per_window,
        patients_written,
        run,
    )?;
    eprintln!(
        "run {}/{}: central restarted; it held every patient after {:.0} ms, reconciled \
             after {:.0} ms",
        run + 1,
        plan.runs,
        reconcile.central_has_all_ms,
        reconcile.reconciled_ms
    );
    reconciles.push(reconcile);
    if run + 1 < plan.runs {
        let quiet = settle(hospital)?;
        eprintln!(
            "run {}/{}: every node holds every record after {quiet:.0} ms more",
            run + 1,
            plan.runs
        );
    }
    Ok(())
}

/// Waits until every node holds the same records and no connected peer has anything to send
/// or receive: the outage's patients have reached every window, so the next run starts from a
/// quiet hospital. Returns how long that took, in ms.
fn settle(hospital: &Hospital) -> anyhow::Result<f64> {
    let start = Instant::now();
    hospital.wait_for(
        "every node to hold every record, with nothing left to replicate",
        RECONCILE_WITHIN,
        |h| {
            let mut counts = std::collections::BTreeSet::new();
            for name in h.names() {
                let s = h.status(&name)?;
                let busy = s
                    .peers
                    .iter()
                    .any(|p| p.connected && (p.to_send > 0 || p.to_receive > 0));
                if busy {
                    return Ok(false);
                }
                counts.insert(s.store.records);
            }
            Ok(counts.len() == 1)
        },
    )?;
    Ok(ms_since(start, Instant::now()))
}

/// A desk write during (a).
#[derive(Debug, Clone)]
struct Write {
    window: usize,
    start: Instant,
    end: Instant,
    id: Option<String>,
    error: Option<String>,
}

/// When each window was first seen degraded (standby primary) and in an episode.
#[derive(Debug, Default)]
struct Seen {
    degraded: OnceLock<Instant>,
    episode: OnceLock<Instant>,
    /// When the window's first write after `degraded` was readable on the standby.
    on_standby: OnceLock<Instant>,
    first_write: OnceLock<(Instant, String)>,
    /// The last status read that failed, to say why a window was never seen failing over.
    last_error: Mutex<Option<String>>,
}

fn ms_since(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1e3
}

/// (a): kills central while the desks write; returns the figures and the patients written.
fn fail_over(
    hospital: &mut Hospital,
    desks: &[Desk],
    standby: &Client,
    windows: &[String],
    run: usize,
) -> anyhow::Result<(FailoverRun, usize)> {
    let seen: Vec<Seen> = windows.iter().map(|_| Seen::default()).collect();
    let stop = AtomicBool::new(false);
    let writes = Mutex::new(Vec::<Write>::new());
    let admins = windows
        .iter()
        .map(|w| hospital.admin(w))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let t_kill = OnceLock::new();
    let outcome = std::thread::scope(|s| -> anyhow::Result<()> {
        let t_kill = &t_kill;
        let mut threads = Vec::new();
        for (i, desk) in desks.iter().enumerate() {
            let (seen, stop, writes) = (&seen[i], &stop, &writes);
            threads.push(s.spawn(move || {
                desk_writer(i, desk, seen, stop, writes, standby, run);
                Ok(())
            }));
        }
        for (i, admin) in admins.iter().enumerate() {
            let (seen, stop) = (&seen[i], &stop);
            threads.push(s.spawn(move || status_poller(admin, seen, stop, t_kill)));
        }
        std::thread::sleep(Duration::from_millis(500));
        let _ = t_kill.set(Instant::now());
        let killed = hospital.kill(CENTRAL).context("cannot kill central");
        // Wait for every window to be in the episode and for every first write to be on
        // the standby, then stop the desks.
        let deadline = Instant::now() + PATIENCE;
        let mut result = killed;
        while result.is_ok() {
            let done = seen
                .iter()
                .all(|s| s.episode.get().is_some() && s.on_standby.get().is_some());
            if done {
                break;
            }
            if Instant::now() > deadline {
                let (ok, failed, last) = writes
                    .lock()
                    .map(|w| {
                        let since: Vec<&Write> = w
                            .iter()
                            .filter(|w| t_kill.get() <= Some(&w.start))
                            .collect();
                        let failed: Vec<&&Write> =
                            since.iter().filter(|w| w.id.is_none()).collect();
                        let last = failed.last().and_then(|w| w.error.clone());
                        (since.len() - failed.len(), failed.len(), last)
                    })
                    .unwrap_or_default();
                result = Err(anyhow!(
                    "not every window failed over within {PATIENCE:?}: {}; desk writes since \
                     the kill: {ok} answered, {failed} failed (last: {})",
                    describe(&seen, windows),
                    last.as_deref().unwrap_or("none")
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join()
                .map_err(|_| anyhow!("a desk or status thread panicked"))??;
        }
        result
    });
    outcome?;
    let t0 = *t_kill.get().context("central was never killed")?;
    let writes = writes
        .into_inner()
        .map_err(|_| anyhow!("a desk thread panicked holding the write log"))?;
    let mut per_window = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let s = &seen[i];
        let get = |t: Option<&Instant>, what: &str| {
            t.copied()
                .map(|t| ms_since(t0, t))
                .with_context(|| format!("{w}: no {what}"))
        };
        per_window.push(WindowFailover {
            window: w.clone(),
            degraded_ms: get(s.degraded.get(), "degraded status")?,
            first_write_ms: get(s.first_write.get().map(|(t, _)| t), "first write")?,
            first_write_on_standby_ms: get(s.on_standby.get(), "write on the standby")?,
            episode_ms: get(s.episode.get(), "episode")?,
        });
    }
    let all_in_episode = seen
        .iter()
        .filter_map(|s| s.episode.get().copied())
        .max()
        .unwrap_or(t0);
    let during: Vec<&Write> = writes
        .iter()
        .filter(|w| w.start >= t0 && w.start <= all_in_episode)
        .collect();
    let mut latencies: Vec<Duration> = during.iter().map(|w| w.end - w.start).collect();
    latencies.sort_unstable();
    let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let desk_writes = DeskWrites {
        count: during.len(),
        failed: during.iter().filter(|w| w.id.is_none()).count(),
        latency_ms_p50: ms(percentile(&latencies, 50.0)),
        latency_ms_p99: ms(percentile(&latencies, 99.0)),
        latency_ms_max: ms(latencies.last().copied()),
    };
    let failed = writes.iter().filter(|w| w.id.is_none()).count();
    ensure!(
        failed == 0,
        "{failed} desk write(s) failed during the failover; the first on {}",
        writes
            .iter()
            .find(|w| w.id.is_none())
            .and_then(|w| windows.get(w.window))
            .map_or("?", String::as_str)
    );
    let slowest = |f: fn(&WindowFailover) -> f64| per_window.iter().map(f).fold(0.0, f64::max);
    let run = FailoverRun {
        degraded_ms: slowest(|w| w.degraded_ms),
        first_write_ms: slowest(|w| w.first_write_ms),
        first_write_on_standby_ms: slowest(|w| w.first_write_on_standby_ms),
        episode_ms: slowest(|w| w.episode_ms),
        desk_writes,
        windows: per_window,
    };
    Ok((run, writes.iter().filter(|w| w.id.is_some()).count()))
}

fn describe(seen: &[Seen], windows: &[String]) -> String {
    windows
        .iter()
        .zip(seen)
        .map(|(w, s)| {
            format!(
                "{w}: degraded {}, episode {}, first write on the standby {}, last status \
                 error {}",
                s.degraded.get().is_some(),
                s.episode.get().is_some(),
                s.on_standby.get().is_some(),
                s.last_error
                    .lock()
                    .ok()
                    .and_then(|e| e.clone())
                    .unwrap_or_else(|| "none".into())
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes a patient every [`PACE`] until `stop`; the first write started after the window
/// was seen degraded is followed to the standby (from another thread, so the desk goes on).
fn desk_writer(
    window: usize,
    desk: &Desk,
    seen: &Seen,
    stop: &AtomicBool,
    writes: &Mutex<Vec<Write>>,
    standby: &Client,
    run: usize,
) {
    let mut n = (run as u64 + 1) * 10_000_000 + window as u64 * 1_000_000;
    std::thread::scope(|s| {
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let start = Instant::now();
            let result = desk.write_patient(n);
            let error = result.as_ref().err().map(|e| format!("{e:#}"));
            let id = result.ok();
            let end = Instant::now();
            if let (Some(id), Some(degraded)) = (&id, seen.degraded.get())
                && start >= *degraded
                && seen.first_write.set((end, id.clone())).is_ok()
            {
                let id = id.clone();
                s.spawn(move || follow_to_standby(standby, &id, seen, stop));
            }
            if let Ok(mut w) = writes.lock() {
                w.push(Write {
                    window,
                    start,
                    end,
                    id,
                    error,
                });
            }
            std::thread::sleep(PACE);
        }
    });
}

fn follow_to_standby(standby: &Client, id: &str, seen: &Seen, stop: &AtomicBool) {
    let path = format!("/patients/{id}");
    while !stop.load(Ordering::Relaxed) {
        if standby.get::<Value>(&path).is_ok() {
            let _ = seen.on_standby.set(Instant::now());
            return;
        }
        std::thread::sleep(STANDBY_POLL);
    }
}

/// Reads a window's status every [`STATUS_POLL`] until it has been seen degraded and in an
/// episode after the kill, or `stop`.
fn status_poller(
    admin: &Client,
    seen: &Seen,
    stop: &AtomicBool,
    t_kill: &OnceLock<Instant>,
) -> anyhow::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let status = match t_kill.get() {
            Some(_) => admin.get::<StatusReport>("/admin/status"),
            None => {
                std::thread::sleep(STATUS_POLL);
                continue;
            }
        };
        match status {
            Err(e) => {
                if let Ok(mut last) = seen.last_error.lock() {
                    *last = Some(format!("{e:#}"));
                }
            }
            Ok(s) => {
                let now = Instant::now();
                if s.mode.mode == "degraded" && s.mode.primary.as_deref() == Some(STANDBY) {
                    let _ = seen.degraded.set(now);
                }
                if s.episode.is_some() {
                    let _ = seen.episode.set(now);
                }
                if seen.degraded.get().is_some() && seen.episode.get().is_some() {
                    return Ok(());
                }
            }
        }
        std::thread::sleep(STATUS_POLL);
    }
    Ok(())
}

fn patients_of(status: &StatusReport) -> u64 {
    status
        .store
        .records_by_kind
        .iter()
        .find(|(kind, _)| kind == "patient")
        .map_or(0, |(_, n)| *n)
}

/// (b): the windows write while central is down; central restarts; until reconciled.
fn reconcile(
    hospital: &mut Hospital,
    desks: &[Desk],
    windows: &[String],
    per_window: usize,
    patients_written: &mut usize,
    run: usize,
) -> anyhow::Result<ReconcileRun> {
    let start = Instant::now();
    let written = std::thread::scope(|s| {
        let threads: Vec<_> = desks
            .iter()
            .enumerate()
            .map(|(i, desk)| {
                s.spawn(move || -> anyhow::Result<usize> {
                    let first = (run as u64 + 1) * 10_000_000 + i as u64 * 1_000_000 + 500_000;
                    for n in 0..per_window as u64 {
                        desk.write_patient(first + n)
                            .with_context(|| format!("a desk write on {} failed", desk.window))?;
                    }
                    Ok(per_window)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .map_err(|_| anyhow!("a desk thread panicked"))
                    .and_then(|r| r)
            })
            .sum::<anyhow::Result<usize>>()
    })?;
    let write_ms = start.elapsed().as_secs_f64() * 1e3;
    *patients_written += written;
    let expected = *patients_written as u64;

    let t0 = Instant::now();
    hospital.start(CENTRAL).context("cannot restart central")?;
    let central_ready_ms = ms_since(t0, Instant::now());
    let admins: BTreeMap<&str, Client> = windows
        .iter()
        .map(String::as_str)
        .chain([CENTRAL])
        .map(|n| Ok((n, hospital.admin(n)?)))
        .collect::<anyhow::Result<_>>()?;
    let (mut has_all, mut reconciled) = (None, None);
    let mut last = String::new();
    loop {
        let now = Instant::now();
        if now.duration_since(t0) > RECONCILE_WITHIN {
            bail!("the outage was not reconciled within {RECONCILE_WITHIN:?}: {last}");
        }
        let mut statuses = BTreeMap::new();
        for (name, admin) in &admins {
            if let Ok(s) = admin.get::<StatusReport>("/admin/status") {
                statuses.insert(*name, s);
            }
        }
        let at = Instant::now();
        if statuses.len() == admins.len() {
            let central_patients = statuses.get(CENTRAL).map_or(0, patients_of);
            let windows_status = || windows.iter().filter_map(|w| statuses.get(w.as_str()));
            let unreconciled: u64 = windows_status().map(|s| s.unreconciled).sum();
            let all_back = windows_status()
                .all(|s| s.episode.is_none() && s.mode.mode == "normal" && s.unreconciled == 0);
            last = format!(
                "central holds {central_patients} of {expected} patients; {unreconciled} \
                 unreconciled on the windows"
            );
            if has_all.is_none() && central_patients >= expected {
                has_all = Some(at);
            }
            if has_all.is_some() && reconciled.is_none() && unreconciled == 0 {
                reconciled = Some(at);
            }
            if let (Some(has_all), Some(reconciled)) = (has_all, reconciled)
                && all_back
            {
                return Ok(ReconcileRun {
                    patients_written: written,
                    write_ms,
                    central_ready_ms,
                    central_has_all_ms: ms_since(t0, has_all),
                    reconciled_ms: ms_since(t0, reconciled),
                    episode_left_ms: ms_since(t0, at),
                    central_patients,
                });
            }
        }
        std::thread::sleep(RECONCILE_POLL);
    }
}

impl FailoverReport {
    /// The figures as a table for people.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let m = &self.machine;
        let p = &self.plan;
        let th = &self.thresholds;
        let _ = writeln!(
            t,
            "lifeline-bench failover — {} ({} run, {} build, {} CPUs, {}/{}; medians of {} run{}{})",
            self.timestamp,
            if p.quick { "quick" } else { "full" },
            m.profile,
            m.nproc,
            m.os,
            m.arch,
            self.reconcile.len(),
            if self.reconcile.len() == 1 { "" } else { "s" },
            if self.reconcile.len() < p.runs {
                format!(" of {} planned", p.runs)
            } else {
                String::new()
            }
        );
        let _ = writeln!(t, "daemons: {}", self.daemon_binary);
        if let Some(load) = m.load_average_1m {
            let _ = writeln!(
                t,
                "load average (1 min) at the end: {load:.2} on {} CPUs",
                m.nproc
            );
        }
        let debug_daemons = Path::new(&self.daemon_binary)
            .components()
            .any(|c| c.as_os_str() == "debug");
        if m.profile == "debug" || debug_daemons {
            let _ = writeln!(
                t,
                "warning: a debug build of the bench or the daemons; these figures are not \
                 comparable"
            );
        }
        let _ = writeln!(
            t,
            "hospital: central, standby, {} windows with a registration desk (real `lifeline \
             daemon` processes on loopback)",
            p.windows
        );
        let _ = writeln!(
            t,
            "thresholds: heartbeat {} ms, peer timeout {} ms, emergency after {} ms — (a) \
             follows from these",
            th.heartbeat_ms, th.peer_timeout_ms, th.emergency_after_ms
        );
        let _ = writeln!(
            t,
            "(a): status polled every {} ms; each desk writes a patient every {} ms; figures \
             are the slowest window's",
            p.status_poll_ms, p.pace_ms
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<64} {:>9} {:>9} {:>9}",
            "(a) central killed (SIGKILL) at 0", "median ms", "min ms", "max ms"
        );
        let f = &self.failover;
        let rows: [(&str, Figure<FailoverRun>); 4] = [
            ("every window degraded, standby as primary", |r| {
                r.degraded_ms
            }),
            ("first desk write accepted after that, every window", |r| {
                r.first_write_ms
            }),
            ("  that write readable on the standby", |r| {
                r.first_write_on_standby_ms
            }),
            ("emergency episode open on every window", |r| r.episode_ms),
        ];
        for (name, get) in rows {
            row(&mut t, name, &f.iter().map(get).collect::<Vec<_>>());
        }
        let writes: usize = f.iter().map(|r| r.desk_writes.count).sum();
        let failed: usize = f.iter().map(|r| r.desk_writes.failed).sum();
        let p50 = median(
            &f.iter()
                .map(|r| r.desk_writes.latency_ms_p50)
                .collect::<Vec<_>>(),
        );
        let p99 = median(
            &f.iter()
                .map(|r| r.desk_writes.latency_ms_p99)
                .collect::<Vec<_>>(),
        );
        let max = f
            .iter()
            .map(|r| r.desk_writes.latency_ms_max)
            .fold(0.0, f64::max);
        let _ = writeln!(
            t,
            "desk writes from the kill to the episode: {writes} ({failed} failed), latency p50 \
             {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
        );
        let _ = writeln!(t);
        let r = &self.reconcile;
        let _ = writeln!(
            t,
            "{:<64} {:>9} {:>9} {:>9}",
            format!(
                "(b) outage: {} windows × {} patients; central restarted at 0",
                p.windows, p.per_window
            ),
            "median ms",
            "min ms",
            "max ms"
        );
        let rows: [(&str, Figure<ReconcileRun>); 4] = [
            ("central's daemon ready", |r| r.central_ready_ms),
            ("central holds every patient", |r| r.central_has_all_ms),
            ("... and every window's unreconciled count is 0", |r| {
                r.reconciled_ms
            }),
            ("... and every window normal, out of the episode", |r| {
                r.episode_left_ms
            }),
        ];
        for (name, get) in rows {
            row(&mut t, name, &r.iter().map(get).collect::<Vec<_>>());
        }
        let _ = writeln!(
            t,
            "written while central was down: {} patients in {:.0} ms (median), {:.0} desk \
             writes/s over all windows",
            p.windows * p.per_window,
            median(&r.iter().map(|r| r.write_ms).collect::<Vec<_>>()),
            self.medians.write_per_s
        );
        if let Some(reason) = &self.stopped_early {
            let _ = writeln!(t, "stopped early: {reason}");
        }
        t
    }
}

/// How a table row reads its figure from a run.
type Figure<R> = fn(&R) -> f64;

fn row(t: &mut String, name: &str, values: &[f64]) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    let _ = writeln!(
        t,
        "{name:<64} {:>9.0} {:>9.0} {:>9.0}",
        median(values),
        if min.is_finite() { min } else { 0.0 },
        max
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hospital_has_central_a_standby_and_the_windows() {
        let windows = window_names(5);
        assert_eq!(windows, ["W01", "W02", "W03", "W04", "W05"]);
        let specs = specs(&windows);
        assert_eq!(specs.len(), 7);
        assert!(specs[2..].iter().all(|s| s.peers == [CENTRAL, STANDBY]));
    }

    #[test]
    fn a_named_binary_that_is_missing_is_refused() {
        let err = find_lifeline_bin(Some(Path::new("/nonexistent/lifeline")))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("/nonexistent/lifeline"), "{err}");
    }
}
