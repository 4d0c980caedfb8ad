//! `lifeline-bench replication`: what replicating a window's work to central costs, in time
//! and in bytes on the wire, through the real mesh (QUIC, mutual TLS) on loopback.
//!
//! Measures, per run:
//! - the initial sync: a window store holding `registrations` registrations (a new patient
//!   and a visit each, written with core's desk operations) meets a central that holds only
//!   the catalogs; from the window's mesh starting (handshake included) until central's
//!   digest equals the window's;
//! - the catch-up: the window's mesh stops, the window writes `catch_up_records` more
//!   records, the mesh starts again; until the digests agree again.
//!
//! Bytes on the wire are counted by a UDP relay between the window and central (the window
//! dials the relay): QUIC as sent, with its handshake, encryption and acknowledgements. They
//! are set against the records' own saved size (`Store::doc(id).save()`).
//!
//! The same workload then goes through samod, the Rust port of automerge-repo (see
//! [`crate::samod_baseline`]), through a counting TCP relay, so that Lifeline's figures read as
//! ratios. Figures of several runs are medians.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use lifeline_core::record::{Patient, Visit};
use lifeline_core::{DeskRole, NodeName, NodeRole, Operator, OperatorName, RecordId, Store};
use lifeline_core::{StoreOptions, automerge::Automerge};
use lifeline_sync::identity::{self, AcceptPolicy, NodeIdentity, TlsFiles};
use lifeline_sync::mesh::{Mesh, MeshConfig, PeerAddr};
use serde::Serialize;

use crate::fixture::{self, Window};
use crate::measure::median;
use crate::relay::{Traffic, UdpRelay};
use crate::samod_baseline;
use crate::{Machine, now_unix_ms, quick_mode, rfc3339_utc, write_json};

/// Options of `lifeline-bench replication`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplicationArgs {
    /// Registrations on the window before it first meets central, each a new patient and a
    /// visit: two records (default 10000; 100 in quick mode).
    #[arg(long)]
    pub registrations: Option<usize>,
    /// Records written while the window is disconnected, half patients and half visits
    /// (default 1000; 20 in quick mode).
    #[arg(long)]
    pub catch_up_records: Option<usize>,
    /// Runs of each side; the figures are their medians (default 3; 1 in quick mode).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Registrations of the samod comparison, Lifeline being measured again at that size
    /// when it differs (default: as many as --registrations, at most 2000: samod's time grows
    /// with the square of the documents in a repo, see `SAMOD_DEFAULT_CAP`).
    #[arg(long)]
    pub samod_registrations: Option<usize>,
    /// Leave out the samod baseline.
    #[arg(long)]
    pub skip_samod: bool,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results/replication.json")]
    pub out: PathBuf,
    /// Directory for the temporary stores (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Small counts, for a smoke test in seconds; also set by LIFELINE_BENCH_QUICK=1.
    #[arg(long)]
    pub quick: bool,
}

/// The samod comparison's default size, in registrations (one document each). samod 0.16's
/// hub walks every document of the repo for every connection on every event it handles
/// (`ensure_connections` in samod-core's `actors/hub/state.rs`), so syncing n documents costs
/// about n² steps: on a 2-core machine 500 documents synced in about 1 s and 2,000 in 9 to
/// 25 s (depending on other load), and 10,000 would take tens of minutes a run. Lifeline is measured again at this size, so
/// the ratios compare like with like.
pub const SAMOD_DEFAULT_CAP: usize = 2_000;

/// How much a run replicates.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub registrations: usize,
    /// Records of the initial sync: two per registration.
    pub records: usize,
    pub catch_up_registrations: usize,
    pub catch_up_records: usize,
    pub runs: usize,
    pub samod: bool,
    /// Registrations of the samod comparison.
    pub samod_registrations: usize,
    /// Threads writing the workload (setup only, not measured): the store folds their writes
    /// into shared commits.
    pub setup_writers: usize,
}

impl Plan {
    pub fn from_args(args: &ReplicationArgs) -> anyhow::Result<Plan> {
        let quick = quick_mode(args.quick);
        let registrations = args
            .registrations
            .unwrap_or(if quick { 100 } else { 10_000 });
        let catch_up_records = args
            .catch_up_records
            .unwrap_or(if quick { 20 } else { 1_000 });
        ensure!(registrations > 0, "--registrations must be at least 1");
        ensure!(
            catch_up_records >= 2 && catch_up_records.is_multiple_of(2),
            "--catch-up-records must be an even number, at least 2 (a patient and a visit each)"
        );
        let runs = args.runs.unwrap_or(if quick { 1 } else { 3 });
        ensure!(runs > 0, "--runs must be at least 1");
        let samod_registrations = args
            .samod_registrations
            .unwrap_or(registrations.min(SAMOD_DEFAULT_CAP));
        ensure!(
            samod_registrations > 0,
            "--samod-registrations must be at least 1"
        );
        Ok(Plan {
            quick,
            registrations,
            records: 2 * registrations,
            catch_up_registrations: catch_up_records / 2,
            catch_up_records,
            runs,
            samod: !args.skip_samod,
            samod_registrations,
            setup_writers: 8,
        })
    }
}

/// One phase of one run.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRun {
    pub elapsed_ms: f64,
    pub wire: Traffic,
}

/// One phase over every run: medians, and the runs themselves.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub registrations: usize,
    /// Documents replicated: Lifeline records (two per registration) or samod documents.
    pub documents: usize,
    /// What those documents take saved (sum of `Automerge::save()`), for scale.
    pub saved_bytes: u64,
    pub elapsed_ms: f64,
    pub registrations_per_s: f64,
    pub wire_bytes: f64,
    pub to_central_bytes: f64,
    pub from_central_bytes: f64,
    pub wire_bytes_per_registration: f64,
    pub wire_bytes_per_document: f64,
    /// Wire bytes over saved bytes.
    pub wire_over_saved: f64,
    pub runs: Vec<PhaseRun>,
}

impl Phase {
    fn new(registrations: usize, documents: usize, saved_bytes: u64, runs: Vec<PhaseRun>) -> Phase {
        let of = |f: fn(&PhaseRun) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let elapsed_ms = of(|r| r.elapsed_ms);
        let wire_bytes = of(|r| r.wire.total_bytes() as f64);
        let per = |n: usize| if n > 0 { wire_bytes / n as f64 } else { 0.0 };
        Phase {
            registrations,
            documents,
            saved_bytes,
            elapsed_ms,
            registrations_per_s: if elapsed_ms > 0.0 {
                registrations as f64 / (elapsed_ms / 1e3)
            } else {
                0.0
            },
            wire_bytes,
            to_central_bytes: of(|r| r.wire.to_upstream_bytes as f64),
            from_central_bytes: of(|r| r.wire.to_client_bytes as f64),
            wire_bytes_per_registration: per(registrations),
            wire_bytes_per_document: per(documents),
            wire_over_saved: if saved_bytes > 0 {
                wire_bytes / saved_bytes as f64
            } else {
                0.0
            },
            runs,
        }
    }
}

/// One implementation's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub name: String,
    /// How it was connected and what the relay counted.
    pub transport: String,
    pub initial: Phase,
    pub catch_up: Phase,
}

/// Lifeline over samod: below 1 is Lifeline faster or smaller.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    pub initial_time: f64,
    pub initial_wire_bytes: f64,
    pub catch_up_time: f64,
    pub catch_up_wire_bytes: f64,
}

/// Everything a `replication` run measured; written as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicationReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub timestamp_unix_ms: i64,
    pub machine: Machine,
    pub plan: Plan,
    pub lifeline: Side,
    /// Lifeline again at the samod comparison's size, when that differs.
    pub lifeline_at_samod_size: Option<Side>,
    pub samod: Option<Side>,
    /// Why there are no samod figures, when there are none.
    pub samod_unavailable: Option<String>,
    pub ratios: Option<Ratios>,
}

/// Runs the benchmark, prints its table and writes its JSON to `args.out`.
pub fn run(args: &ReplicationArgs) -> anyhow::Result<ReplicationReport> {
    let plan = Plan::from_args(args)?;
    let report = measure(&plan, args.dir.as_deref())?;
    print!("{}", report.table());
    write_json(&args.out, &report)?;
    println!("results written to {}", args.out.display());
    Ok(report)
}

/// Longest wait for one phase to converge before the run fails.
const CONVERGE_WITHIN: Duration = Duration::from_secs(600);
/// How often convergence is checked: a feed-head read, and the digests once it is reached.
const POLL: Duration = Duration::from_millis(5);
/// Digests are compared at least this often even before central's feed says it is time.
const DIGEST_AT_LEAST_EVERY: Duration = Duration::from_millis(500);

/// Sets everything up in a new temporary directory under `dir` and measures.
pub fn measure(plan: &Plan, dir: Option<&Path>) -> anyhow::Result<ReplicationReport> {
    let parent = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("lifeline-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot make a temporary directory in {}", parent.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    let main = lifeline_series(&rt, &tmp.path().join("lifeline"), plan.registrations, plan)?;
    let mut lifeline_at_samod_size = None;
    let (samod, samod_unavailable) = if plan.samod {
        if plan.samod_registrations != plan.registrations {
            lifeline_at_samod_size = Some(lifeline_series(
                &rt,
                &tmp.path().join("lifeline-samod-size"),
                plan.samod_registrations,
                plan,
            )?);
        }
        let reference = lifeline_at_samod_size.as_ref().unwrap_or(&main);
        match samod_side(
            &rt,
            &reference.initial_json,
            &reference.catch_up_json,
            tmp.path(),
            plan,
        ) {
            Ok(side) => (Some(side), None),
            Err(e) => (None, Some(format!("samod could not be measured: {e:#}"))),
        }
    } else {
        (None, Some("left out (--skip-samod)".to_owned()))
    };
    let reference = lifeline_at_samod_size.as_ref().unwrap_or(&main);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let ratios = samod.as_ref().map(|s| Ratios {
        initial_time: ratio(reference.side.initial.elapsed_ms, s.initial.elapsed_ms),
        initial_wire_bytes: ratio(reference.side.initial.wire_bytes, s.initial.wire_bytes),
        catch_up_time: ratio(reference.side.catch_up.elapsed_ms, s.catch_up.elapsed_ms),
        catch_up_wire_bytes: ratio(reference.side.catch_up.wire_bytes, s.catch_up.wire_bytes),
    });
    let timestamp_unix_ms = now_unix_ms();
    Ok(ReplicationReport {
        benchmark: "replication",
        timestamp: rfc3339_utc(timestamp_unix_ms),
        timestamp_unix_ms,
        machine: Machine::here(&parent),
        plan: plan.clone(),
        lifeline: main.side,
        lifeline_at_samod_size: lifeline_at_samod_size.map(|l| l.side),
        samod,
        samod_unavailable,
        ratios,
    })
}

/// Lifeline's side at one size, and the workload as JSON for samod.
struct LifelineSeries {
    side: Side,
    initial_json: Vec<serde_json::Value>,
    catch_up_json: Vec<serde_json::Value>,
}

/// Every run of Lifeline's side with `registrations` registrations, in `dir`.
fn lifeline_series(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    registrations: usize,
    plan: &Plan,
) -> anyhow::Result<LifelineSeries> {
    eprintln!("setup: writing {registrations} registrations on the window");
    let template = Template::create(rt, dir, registrations, plan.setup_writers)?;
    let mut initial = Vec::new();
    let mut catch_up = Vec::new();
    let mut catch_up_saved = Vec::new();
    let mut catch_up_json = Vec::new();
    for run in 0..plan.runs {
        let out = lifeline_run(rt, &template, &dir.join(format!("run{run}")), plan, run)?;
        eprintln!(
            "lifeline run {}/{} ({registrations} registrations): initial sync {:.0} ms, \
             catch-up {:.0} ms",
            run + 1,
            plan.runs,
            out.initial.elapsed_ms,
            out.catch_up.elapsed_ms
        );
        initial.push(out.initial);
        catch_up.push(out.catch_up);
        catch_up_saved.push(out.catch_up_saved_bytes);
        if catch_up_json.is_empty() {
            catch_up_json = out.catch_up_json;
        }
    }
    let side = Side {
        name: "lifeline".into(),
        transport: "lifeline-sync Mesh: QUIC with mutual TLS (quinn, rustls); the UDP relay \
                    counts every datagram's payload"
            .into(),
        initial: Phase::new(
            registrations,
            template.records,
            template.saved_bytes,
            initial,
        ),
        catch_up: Phase::new(
            plan.catch_up_registrations,
            plan.catch_up_records,
            median_u64(&catch_up_saved),
            catch_up,
        ),
    };
    Ok(LifelineSeries {
        side,
        initial_json: template.samod_json,
        catch_up_json,
    })
}

fn median_u64(values: &[u64]) -> u64 {
    median(&values.iter().map(|&v| v as f64).collect::<Vec<_>>()) as u64
}

/// The stores every run starts from, made once: central with the catalogs only, and the
/// window with the catalogs (already acknowledged by central over the mesh, as in service)
/// and the registrations.
struct Template {
    dir: PathBuf,
    central: TlsFiles,
    window: TlsFiles,
    /// The window's first patient (the fixture's), whom nothing here uses but who keeps
    /// [`Window`] whole.
    patient: RecordId,
    /// Records written after the catalogs: two per registration.
    records: usize,
    saved_bytes: u64,
    /// Each registration's patient and visit as JSON: the samod documents' content.
    samod_json: Vec<serde_json::Value>,
}

fn central_name() -> anyhow::Result<NodeName> {
    Ok(NodeName::new("central")?)
}

fn window_name() -> anyhow::Result<NodeName> {
    Ok(NodeName::new("W01")?)
}

fn open_central(path: &Path) -> anyhow::Result<Store> {
    Store::open(path, StoreOptions::new(central_name()?, NodeRole::Central))
        .with_context(|| format!("cannot open {}", path.display()))
}

fn open_window(path: &Path, patient: RecordId) -> anyhow::Result<Window> {
    let store = Store::open(path, StoreOptions::new(window_name()?, NodeRole::Window))
        .with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Window {
        store,
        registrar: Operator::new(OperatorName::new("reg1")?, DeskRole::Registration),
        patient,
    })
}

fn loopback() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_central(store: &Store, files: &TlsFiles) -> anyhow::Result<Mesh> {
    let cfg = MeshConfig::new(loopback(), Vec::new(), AcceptPolicy::any());
    Mesh::start(store.clone(), identity::load(files)?, cfg)
        .await
        .context("cannot start central's mesh")
}

async fn start_window(
    store: &Store,
    files: &TlsFiles,
    central: std::net::SocketAddr,
) -> anyhow::Result<Mesh> {
    let peer = PeerAddr {
        name: central_name()?,
        role: NodeRole::Central,
        addr: central,
    };
    let cfg = MeshConfig::new(loopback(), vec![peer], AcceptPolicy::any());
    Mesh::start(store.clone(), identity::load(files)?, cfg)
        .await
        .context("cannot start the window's mesh")
}

impl Template {
    fn create(
        rt: &tokio::runtime::Runtime,
        dir: &Path,
        registrations: usize,
        writers: usize,
    ) -> anyhow::Result<Template> {
        let dir = dir.join("template");
        std::fs::create_dir_all(&dir)?;
        let pki = dir.join("pki");
        identity::init_ca(&pki)?;
        let issue = |name: NodeName, role, desks: &[DeskRole]| -> anyhow::Result<TlsFiles> {
            let id = NodeIdentity::new(name, role, desks.to_vec());
            Ok(identity::issue(&pki, &id, 30)?.tls_files())
        };
        let central_files = issue(central_name()?, NodeRole::Central, &[])?;
        let window_files = issue(window_name()?, NodeRole::Window, &[DeskRole::Registration])?;
        let (central, window) = fixture::pair(&dir)?;

        // The window received the catalogs through the merge API; a mesh session between the
        // two makes both sides' cursors say so, so the runs replicate only the new work.
        rt.block_on(async {
            let c = start_central(&central, &central_files).await?;
            let addr = c.local_addr().context("central's mesh has no address")?;
            let w = start_window(&window.store, &window_files, addr).await?;
            let done = wait_until(Duration::from_secs(60), || {
                let c_state = central.peer_state(&window_name()?)?;
                let w_state = window.store.peer_state(&central_name()?)?;
                Ok(c_state.applied_from_peer >= window.store.feed_head()?
                    && w_state.applied_from_peer >= central.feed_head()?
                    && central.digest()? == window.store.digest()?)
            })
            .await;
            w.shutdown().await;
            c.shutdown().await;
            done.context("the window and central did not agree on the catalogs")
        })?;

        let registrations = write_registrations(&window, 0, registrations, writers)?;
        let saved_bytes = saved_bytes(&window.store, &registrations)?;
        let samod_json = registration_json(&window.store, &registrations)?;
        let patient = window.patient;
        drop(window);
        drop(central);
        Ok(Template {
            dir,
            central: central_files,
            window: window_files,
            patient,
            records: 2 * registrations.len(),
            saved_bytes,
            samod_json,
        })
    }
}

/// Polls `done` every 10 ms (async) until it holds; fails after `within`.
async fn wait_until(
    within: Duration,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if tokio::task::block_in_place(&mut done)? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("not done within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Writes `count` registrations (patient + visit) from `writers` threads at once.
fn write_registrations(
    window: &Window,
    first: u64,
    count: usize,
    writers: usize,
) -> anyhow::Result<Vec<(RecordId, RecordId)>> {
    let writers = writers.clamp(1, count.max(1));
    let results: Vec<anyhow::Result<Vec<(RecordId, RecordId)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                s.spawn(move || {
                    let mine = (w..count).step_by(writers);
                    let mut out = Vec::with_capacity(count / writers + 1);
                    for i in mine {
                        out.push(window.register_new_patient(first + i as u64)?);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a writer thread panicked"))
                    .and_then(|r| r)
            })
            .collect()
    });
    let mut all = Vec::with_capacity(count);
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// What the registrations' records take saved.
fn saved_bytes(store: &Store, registrations: &[(RecordId, RecordId)]) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for (patient, visit) in registrations {
        for id in [patient, visit] {
            let doc = store
                .doc(*id)?
                .with_context(|| format!("record {id} was just written but is not there"))?;
            total += doc.save().len() as u64;
        }
    }
    Ok(total)
}

/// Each registration as `{"patient": {...}, "visit": {...}}`, the records' own fields.
fn registration_json(
    store: &Store,
    registrations: &[(RecordId, RecordId)],
) -> anyhow::Result<Vec<serde_json::Value>> {
    registrations
        .iter()
        .map(|(p, v)| {
            let patient = store
                .get::<Patient>(*p)?
                .with_context(|| format!("patient {p} is not there"))?;
            let visit = store
                .get::<Visit>(*v)?
                .with_context(|| format!("visit {v} is not there"))?;
            Ok(serde_json::json!({ "patient": patient, "visit": visit }))
        })
        .collect()
}

struct LifelineRun {
    initial: PhaseRun,
    catch_up: PhaseRun,
    catch_up_saved_bytes: u64,
    catch_up_json: Vec<serde_json::Value>,
}

/// Waits until central holds what the window holds: first central's feed head reaching
/// `central_feed_target` (one new feed entry per record it takes), then equal digests.
fn wait_converged(central: &Store, window: &Store, central_feed_target: u64) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last_digest = start;
    loop {
        let now = Instant::now();
        let due = now.duration_since(last_digest) >= DIGEST_AT_LEAST_EVERY;
        if central.feed_head()? >= central_feed_target || due {
            last_digest = now;
            if central.digest()? == window.digest()? {
                return Ok(());
            }
        }
        if start.elapsed() > CONVERGE_WITHIN {
            bail!(
                "central did not converge with the window within {CONVERGE_WITHIN:?} \
                 (central's feed at {}, waiting for {central_feed_target})",
                central.feed_head()?
            );
        }
        std::thread::sleep(POLL);
    }
}

fn lifeline_run(
    rt: &tokio::runtime::Runtime,
    template: &Template,
    dir: &Path,
    plan: &Plan,
    run: usize,
) -> anyhow::Result<LifelineRun> {
    std::fs::create_dir_all(dir)?;
    for file in ["central.redb", "window.redb"] {
        std::fs::copy(template.dir.join(file), dir.join(file))
            .with_context(|| format!("cannot copy the template's {file}"))?;
    }
    let central = open_central(&dir.join("central.redb"))?;
    let window = open_window(&dir.join("window.redb"), template.patient)?;
    let w01 = window_name()?;

    // Initial sync.
    let feed_before = central.feed_head()?;
    let central_mesh = rt.block_on(start_central(&central, &template.central))?;
    let central_addr = central_mesh
        .local_addr()
        .context("central's mesh has no address")?;
    let relay = rt.block_on(UdpRelay::start(central_addr))?;
    let start = Instant::now();
    let window_mesh = rt.block_on(start_window(&window.store, &template.window, relay.addr()))?;
    wait_converged(
        &central,
        &window.store,
        feed_before + template.records as u64,
    )?;
    let initial = PhaseRun {
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        wire: relay.traffic(),
    };

    // Catch-up: the window goes away, works, and comes back.
    rt.block_on(window_mesh.shutdown());
    let gone = Instant::now();
    while central_mesh.is_connected(&w01) {
        if gone.elapsed() > Duration::from_secs(30) {
            bail!("central still sees the window 30 s after its mesh stopped");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let first = 1_000_000 * (run as u64 + 1);
    let written = write_registrations(
        &window,
        first,
        plan.catch_up_registrations,
        plan.setup_writers,
    )?;
    let catch_up_saved_bytes = saved_bytes(&window.store, &written)?;
    let catch_up_json = if run == 0 {
        registration_json(&window.store, &written)?
    } else {
        Vec::new()
    };
    let feed_before = central.feed_head()?;
    let wire_before = relay.traffic();
    let start = Instant::now();
    let window_mesh = rt.block_on(start_window(&window.store, &template.window, relay.addr()))?;
    wait_converged(
        &central,
        &window.store,
        feed_before + plan.catch_up_records as u64,
    )?;
    let catch_up = PhaseRun {
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        wire: relay.traffic().since(&wire_before),
    };

    rt.block_on(async {
        window_mesh.shutdown().await;
        central_mesh.shutdown().await;
    });
    drop(relay);
    drop(window);
    drop(central);
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(LifelineRun {
        initial,
        catch_up,
        catch_up_saved_bytes,
        catch_up_json,
    })
}

fn samod_side(
    rt: &tokio::runtime::Runtime,
    initial_json: &[serde_json::Value],
    catch_up_json: &[serde_json::Value],
    dir: &Path,
    plan: &Plan,
) -> anyhow::Result<Side> {
    let initial_docs = initial_json
        .iter()
        .map(samod_baseline::registration_doc)
        .collect::<anyhow::Result<Vec<Automerge>>>()?;
    let catch_up_docs = catch_up_json
        .iter()
        .map(samod_baseline::registration_doc)
        .collect::<anyhow::Result<Vec<Automerge>>>()?;
    let saved = |docs: &[Automerge]| docs.iter().map(|d| d.save().len() as u64).sum::<u64>();
    let mut initial = Vec::new();
    let mut catch_up = Vec::new();
    for run in 0..plan.runs {
        let run_dir = dir.join(format!("samod{run}"));
        let out = rt.block_on(samod_baseline::run(
            &initial_docs,
            &catch_up_docs,
            &run_dir,
            CONVERGE_WITHIN,
        ))?;
        eprintln!(
            "samod run {}/{}: initial sync {:.0} ms, catch-up {:.0} ms",
            run + 1,
            plan.runs,
            out.initial.elapsed_ms,
            out.catch_up.elapsed_ms
        );
        initial.push(out.initial);
        catch_up.push(out.catch_up);
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot remove {}", run_dir.display()))?;
    }
    Ok(Side {
        name: format!("samod {}", samod_baseline::SAMOD_VERSION),
        transport: samod_baseline::TRANSPORT.into(),
        initial: Phase::new(
            initial_docs.len(),
            initial_docs.len(),
            saved(&initial_docs),
            initial,
        ),
        catch_up: Phase::new(
            catch_up_docs.len(),
            catch_up_docs.len(),
            saved(&catch_up_docs),
            catch_up,
        ),
    })
}

impl ReplicationReport {
    /// The figures as a table for people.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let m = &self.machine;
        let p = &self.plan;
        let _ = writeln!(
            t,
            "lifeline-bench replication — {} ({} run, {} build, {} CPUs, {}/{}; medians of {} run{})",
            self.timestamp,
            if p.quick { "quick" } else { "full" },
            m.profile,
            m.nproc,
            m.os,
            m.arch,
            p.runs,
            if p.runs == 1 { "" } else { "s" }
        );
        if m.profile == "debug" {
            let _ = writeln!(
                t,
                "warning: a debug build; these figures are not comparable"
            );
        }
        if let Some(load) = m.load_average_1m {
            let _ = writeln!(
                t,
                "load average (1 min) at the end: {load:.2} on {} CPUs",
                m.nproc
            );
        }
        let _ = writeln!(
            t,
            "initial sync: {} registrations (a new patient + a visit each: {} records, {} saved) \
             from window W01 to a central holding only the catalogs",
            p.registrations,
            p.records,
            human_bytes(self.lifeline.initial.saved_bytes as f64)
        );
        let _ = writeln!(
            t,
            "catch-up: {} records ({} registrations) written while the window's mesh was \
             stopped, then the mesh starts again",
            p.catch_up_records, p.catch_up_registrations
        );
        let _ = writeln!(
            t,
            "time: from the window's mesh (or dialer) starting, handshake included, until \
             central holds everything; wire: payload through a counting relay (no IP/UDP/TCP headers)"
        );
        let _ = writeln!(t, "lifeline: {}", self.lifeline.transport);
        match &self.samod {
            Some(s) => {
                let _ = writeln!(t, "{}: {}", s.name, s.transport);
                if p.samod_registrations < p.registrations {
                    let _ = writeln!(
                        t,
                        "samod runs {} registrations, not {}: samod 0.16's hub walks every \
                         document for every connection on each event (samod-core \
                         ensure_connections), so its sync time grows with the square of the \
                         documents in a repo; --samod-registrations sets it",
                        p.samod_registrations, p.registrations
                    );
                }
                let _ = writeln!(
                    t,
                    "samod's catch-up waits until central confirmed every document of the \
                     window (it re-syncs each one on a new connection)"
                );
            }
            None => {
                let _ = writeln!(
                    t,
                    "samod: {}",
                    self.samod_unavailable.as_deref().unwrap_or("not run")
                );
            }
        }
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<26} {:>6} {:>6} {:>10} {:>8} {:>11} {:>11} {:>11} {:>8} {:>8} {:>6}",
            "",
            "regs",
            "docs",
            "time ms",
            "regs/s",
            "wire bytes",
            "→ central",
            "← central",
            "B/reg",
            "B/doc",
            "/saved"
        );
        let mut rows = vec![
            ("lifeline initial sync", Some(&self.lifeline.initial)),
            ("lifeline catch-up", Some(&self.lifeline.catch_up)),
        ];
        let samod = self.samod.as_ref();
        let same_size = self
            .lifeline_at_samod_size
            .as_ref()
            .unwrap_or(&self.lifeline);
        if samod.is_some() {
            rows = if self.lifeline_at_samod_size.is_some() {
                vec![
                    ("lifeline initial sync", Some(&self.lifeline.initial)),
                    ("lifeline catch-up", Some(&self.lifeline.catch_up)),
                    ("", None),
                    ("lifeline initial sync", Some(&same_size.initial)),
                ]
            } else {
                vec![("lifeline initial sync", Some(&same_size.initial))]
            };
            rows.extend([
                ("samod initial sync", samod.map(|s| &s.initial)),
                ("lifeline catch-up", Some(&same_size.catch_up)),
                ("samod catch-up", samod.map(|s| &s.catch_up)),
            ]);
        }
        for (name, ph) in rows {
            let Some(ph) = ph else {
                let _ = writeln!(
                    t,
                    "like for like with samod, at {} registrations (see SAMOD_DEFAULT_CAP):",
                    p.samod_registrations
                );
                continue;
            };
            let _ = writeln!(
                t,
                "{name:<26} {:>6} {:>6} {:>10.0} {:>8.0} {:>11.0} {:>11.0} {:>11.0} {:>8.0} {:>8.0} {:>5.2}x",
                ph.registrations,
                ph.documents,
                ph.elapsed_ms,
                ph.registrations_per_s,
                ph.wire_bytes,
                ph.to_central_bytes,
                ph.from_central_bytes,
                ph.wire_bytes_per_registration,
                ph.wire_bytes_per_document,
                ph.wire_over_saved
            );
        }
        if let Some(r) = &self.ratios {
            let _ = writeln!(t);
            let _ = writeln!(
                t,
                "lifeline / samod at {} registrations: initial sync time {:.2}x, wire bytes \
                 {:.2}x; catch-up time {:.2}x, wire bytes {:.2}x",
                p.samod_registrations,
                r.initial_time,
                r.initial_wire_bytes,
                r.catch_up_time,
                r.catch_up_wire_bytes
            );
        }
        t
    }
}

/// `bytes` with a binary unit, for the table's prose.
fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_take_medians_and_per_unit_figures() {
        let run = |ms: f64, up: u64, down: u64| PhaseRun {
            elapsed_ms: ms,
            wire: Traffic {
                to_upstream_bytes: up,
                to_client_bytes: down,
                packets: 1,
            },
        };
        let phase = Phase::new(
            10,
            20,
            1000,
            vec![
                run(300.0, 900, 100),
                run(100.0, 1900, 100),
                run(200.0, 1400, 100),
            ],
        );
        assert_eq!(phase.elapsed_ms, 200.0);
        assert_eq!(phase.wire_bytes, 1500.0);
        assert_eq!(phase.wire_bytes_per_registration, 150.0);
        assert_eq!(phase.wire_bytes_per_document, 75.0);
        assert_eq!(phase.wire_over_saved, 1.5);
        assert_eq!(phase.registrations_per_s, 50.0);
    }

    #[test]
    fn odd_catch_ups_are_refused() {
        let args = ReplicationArgs {
            registrations: Some(5),
            catch_up_records: Some(3),
            runs: None,
            samod_registrations: None,
            skip_samod: true,
            out: PathBuf::from("x.json"),
            dir: None,
            quick: true,
        };
        let err = Plan::from_args(&args).expect_err("refused").to_string();
        assert!(err.contains("--catch-up-records"), "{err}");
    }

    #[test]
    fn bytes_read_with_units() {
        assert_eq!(human_bytes(512.0), "512.0 B");
        assert_eq!(human_bytes(3.5 * 1024.0 * 1024.0), "3.5 MiB");
    }
}
