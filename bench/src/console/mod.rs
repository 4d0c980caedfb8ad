//! `lifeline-bench console`: how long the desk console's pages take with a big store.
//!
//! A window store serving every desk is bulk-loaded (the store's loader, with the scale
//! benchmark's generators) with `--records` records: the patient master (with guardians),
//! today's visits of a large hospital (`--today`, 10,000 by default: the design's 10k to 20k
//! a day), the earlier visits spread over the `--days` days before, each visit with its
//! registration charge and invoice and every other one a prescription; an outage earlier
//! today (its episode, paused emergency registrations and emergency prescriptions on hold)
//! and 50 duplicate patients open for review. Today's visits run from 07:30 to the store's
//! clock, 14:00: those of the last 40 minutes wait in the queue, the 5 minutes before are
//! called, the earlier ones are seen and their prescriptions dispensed. It holds a hospital's
//! drug catalog (8,000 drugs; 200 in quick mode) for the doctor's drug search (and the
//! shipped service catalog for the service item search). Then the node's real HTTP router
//! (the desks' API and the console) is served on loopback, each desk logs in, and every page
//! is fetched `--iterations` times. The time is the whole loopback round trip, an upper bound
//! on the server's time.

mod load;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use lifeline_core::desk::CatalogImport;
use lifeline_core::record::{Episode, EpisodeNode, Patient};
use lifeline_core::status::VisitStatus;
use lifeline_core::store::Credentials;
use lifeline_core::{
    Date, DeskRole, EpisodeId, ManualClock, NodeName, NodeRole, Operator, OperatorName, Record,
    RecordId, RecordKind, Store, StoreOptions,
};
use lifeline_node::api::ApiState;
use lifeline_node::console::app;
use lifeline_node::daemon::runtime::Runtime;
use lifeline_node::operators::Operators;
use serde::Serialize;

use crate::measure::percentile;
use crate::scale::data::{self, Origin, Rng};
use crate::{DEBUG_WARNING, Machine, now_unix_ms, publish, rfc3339_utc, scratch_dir};
use load::{Plan, fill};

/// Options of `lifeline-bench console`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// Records in the store, catalogs aside (default 1,000,000; 2,000 in quick mode).
    #[arg(long)]
    pub records: Option<u64>,
    /// Visits registered today (default 10,000; 100 in quick mode).
    #[arg(long)]
    pub today: Option<u64>,
    /// Days before today the earlier visits are spread over (default 365; 1 in quick mode).
    #[arg(long)]
    pub days: Option<u64>,
    /// Fetches of each page (default 100; 3 in quick mode).
    #[arg(long)]
    pub iterations: Option<usize>,
    #[arg(long, default_value = "bench/results/console.json")]
    pub out: PathBuf,
    /// Directory for the temporary store (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Tiny counts, for a smoke test in seconds; also set by LIFELINE_BENCH_QUICK=1.
    #[arg(long)]
    pub quick: bool,
}

/// One page's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PageFigures {
    pub desk: String,
    pub page: String,
    pub bytes: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsoleReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub machine: Machine,
    /// Records asked for, and what the store holds after loading (catalog items included).
    pub records: u64,
    pub records_held: u64,
    pub file_bytes: u64,
    pub today_visits: u64,
    pub days: u64,
    pub iterations: usize,
    /// From the first bulk-loaded record to the last.
    pub load_seconds: f64,
    /// Drugs in the catalog the doctor's search looks through.
    pub drugs: usize,
    /// What the queues and the information department hold while the pages are fetched.
    pub triage_queue: usize,
    pub pharmacy_queue: usize,
    pub open_conflicts: u64,
    pub worklist_items: u64,
    pub pages: Vec<PageFigures>,
}

const DESKS: [(DeskRole, &str); 6] = [
    (DeskRole::Registration, "reg1"),
    (DeskRole::Triage, "nurse1"),
    (DeskRole::Doctor, "doc1"),
    (DeskRole::Cashier, "cash1"),
    (DeskRole::Pharmacy, "pharm1"),
    (DeskRole::Admin, "info1"),
];
const PASSWORD: &str = "bench-password";
const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;
/// The hospital's offset from UTC (the store's default).
const OFFSET_MIN: i32 = 480;
/// Departments of the shipped catalog (`data/departments.csv`) the visits are for.
const DEPARTMENTS: [&str; 6] = [
    "PED-GEN", "PED-RESP", "PED-GI", "PED-SURG", "PED-ENT", "PED-DERM",
];
/// Duplicate patient pairs open for review.
const DUPLICATE_PAIRS: u64 = 50;
/// The outage's registrations (paused) and its prescriptions (on hold).
const EMERGENCY_VISITS: u64 = 20;
const EMERGENCY_PRESCRIPTIONS: u64 = 10;
/// Records written by the loader at once (one commit).
const BATCH: usize = 10_000;
/// The loader says how far it got every this many records.
const PROGRESS: u64 = 100_000;

/// What the loader leaves for the pages to look up.
struct Loaded {
    store: Store,
    /// A patient registered today, with a visit waiting.
    waiting_patient_no: String,
    waiting_visit: RecordId,
    episode: EpisodeId,
    load: Duration,
}

pub fn run(args: &ConsoleArgs) -> anyhow::Result<ConsoleReport> {
    let quick = crate::quick_mode(args.quick);
    let records = args
        .records
        .unwrap_or(if quick { 2_000 } else { 1_000_000 });
    let today_visits = args.today.unwrap_or(if quick { 100 } else { 10_000 });
    let days = args.days.unwrap_or(if quick { 1 } else { 365 });
    let iterations = args.iterations.unwrap_or(if quick { 3 } else { 100 });
    let drugs = if quick { 200 } else { 8_000 };
    ensure!(
        iterations > 0 && today_visits > 0,
        "counts must be at least 1"
    );
    let (_, tmp) = scratch_dir(args.dir.as_deref(), "lifeline-bench-console-")?;
    // The store's clock stands at 14:00 in the hospital today, the busy afternoon.
    let date = Date::at(now_unix_ms(), OFFSET_MIN);
    let now_ms = date.start_ms(OFFSET_MIN) + 14 * HOUR_MS;
    let clock = ManualClock::new(now_ms);
    let plan = Plan {
        records,
        today_visits,
        days,
        now_ms,
    };
    let loaded = fill(tmp.path(), &clock, &plan, drugs)?;
    let stats = loaded.store.stats()?;
    let triage_queue = loaded.store.triage_queue()?.len();
    let pharmacy_queue = loaded.store.pharmacy_queue()?.len();
    let pages = measure_pages(tmp.path(), &loaded, iterations)?;
    let report = ConsoleReport {
        benchmark: "console",
        timestamp: rfc3339_utc(now_unix_ms()),
        machine: Machine::here(tmp.path()),
        records,
        records_held: stats.records,
        file_bytes: stats.file_bytes,
        today_visits,
        days,
        iterations,
        load_seconds: loaded.load.as_secs_f64(),
        drugs,
        triage_queue,
        pharmacy_queue,
        open_conflicts: stats.open_conflicts,
        worklist_items: stats.worklist_by_category.iter().map(|(_, n)| n).sum(),
        pages,
    };
    publish(&table(&report, quick), &report, &args.out)?;
    Ok(report)
}

/// A session's cookie after logging `name` in.
fn log_in(agent: &ureq::Agent, base: &str, name: &str) -> anyhow::Result<String> {
    let page = agent.get(&format!("{base}/console/login")).call()?;
    let token = cookie(&page, "ll_login").context("no log-in cookie")?;
    let resp = agent
        .post(&format!("{base}/console/login"))
        .header("cookie", &format!("ll_login={token}"))
        .send_form([
            ("name", name),
            ("password", PASSWORD),
            ("csrf", token.as_str()),
        ])?;
    let session = cookie(&resp, "ll_session")
        .with_context(|| format!("{name} did not log in: {}", resp.status()))?;
    Ok(format!("ll_session={session}"))
}

fn cookie(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers().get_all("set-cookie").iter().find_map(|v| {
        v.to_str()
            .ok()?
            .split(';')
            .next()?
            .strip_prefix(&format!("{name}="))
            .map(str::to_owned)
    })
}

fn measure_pages(
    dir: &Path,
    loaded: &Loaded,
    iterations: usize,
) -> anyhow::Result<Vec<PageFigures>> {
    let store = &loaded.store;
    let operators = Arc::new(Operators::open(&dir.join("operators.json"))?);
    for (desk, name) in DESKS {
        let name = OperatorName::new(name)?;
        operators.add(name.clone(), desk, now_unix_ms())?;
        operators.set_password(&name, PASSWORD)?;
    }
    let config: lifeline_node::config::Config = toml::from_str(&format!(
        r#"
[node]
name = "W01"
role = "window"
desks = ["registration", "triage", "doctor", "cashier", "pharmacy"]
data_dir = "{dir}"
[network]
listen = "127.0.0.1:0"
[tls]
ca = "{dir}/ca.pem"
cert = "{dir}/W01.pem"
key = "{dir}/W01.key"
[api]
listen = "127.0.0.1:0"
"#,
        dir = dir.display()
    ))
    .context("the benchmark's config")?;
    let state = ApiState {
        store: store.clone(),
        operators,
        runtime: Arc::new(Runtime::new(config, now_unix_ms())),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = app(state);
    rt.spawn(async move { axum::serve(listener, app).await });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let number = &loaded.waiting_patient_no;
    let name_prefix = "王子涵1";
    let pages: Vec<(DeskRole, &str, String)> = vec![
        (
            DeskRole::Registration,
            "search page",
            "/console/registration".into(),
        ),
        (
            DeskRole::Registration,
            "find by card number",
            format!("/console/registration?number={number}"),
        ),
        (
            DeskRole::Registration,
            "find by name",
            format!("/console/registration?name={name_prefix}"),
        ),
        (DeskRole::Triage, "triage queue", "/console/triage".into()),
        (DeskRole::Doctor, "today's visits", "/console/doctor".into()),
        (
            DeskRole::Doctor,
            "a visit",
            format!("/console/doctor/visits/{}", loaded.waiting_visit),
        ),
        (
            DeskRole::Doctor,
            "drug search by pinyin initials",
            "/console/doctor/drugs?q=yp12".into(),
        ),
        (
            DeskRole::Doctor,
            "service search by initials",
            "/console/doctor/services?q=xcg".into(),
        ),
        (
            DeskRole::Pharmacy,
            "pharmacy queue",
            "/console/pharmacy".into(),
        ),
        (
            DeskRole::Cashier,
            "a patient's charges",
            format!("/console/cashier?number={number}"),
        ),
        (
            DeskRole::Admin,
            "information department",
            "/console/info".into(),
        ),
        (
            DeskRole::Admin,
            "conflicts",
            "/console/info/conflicts".into(),
        ),
        (
            DeskRole::Admin,
            "conflict report",
            "/console/info/reports/conflicts".into(),
        ),
        (
            DeskRole::Admin,
            "outage report",
            format!("/console/info/episodes/{}/report", loaded.episode),
        ),
        (
            DeskRole::Registration,
            "banner",
            "/console/banner.json".into(),
        ),
    ];
    let mut sessions = std::collections::HashMap::new();
    for (desk, name) in DESKS {
        sessions.insert(desk, log_in(&agent, &base, name)?);
    }
    let mut out = Vec::new();
    for (desk, page, path) in pages {
        let cookie = &sessions[&desk];
        let mut samples = Vec::with_capacity(iterations);
        let mut bytes = 0;
        for _ in 0..iterations + 1 {
            let t = Instant::now();
            let mut resp = agent
                .get(&format!("{base}{path}"))
                .header("cookie", cookie)
                .call()?;
            let body = resp.body_mut().read_to_string()?;
            let took = t.elapsed();
            ensure!(resp.status() == 200, "{path}: {} {body}", resp.status());
            bytes = body.len();
            samples.push(took);
        }
        samples.remove(0); // the first fetch warms the caches
        samples.sort();
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        out.push(PageFigures {
            desk: desk.name().to_owned(),
            page: page.to_owned(),
            bytes,
            p50_ms: ms(percentile(&samples, 50.0)),
            p99_ms: ms(percentile(&samples, 99.0)),
            max_ms: ms(samples.last().copied()),
        });
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(out)
}

fn table(r: &ConsoleReport, quick: bool) -> String {
    let mut t = String::new();
    if cfg!(debug_assertions) {
        t.push_str(DEBUG_WARNING);
    }
    t.push_str(&r.machine.title(
        "console",
        &r.timestamp,
        quick,
        &format!(
            "; {} records held, {} MiB, bulk-loaded in {:.0} s; {} visits today, earlier ones over {} days; {} drugs; {} fetches a page",
            r.records_held,
            r.file_bytes >> 20,
            r.load_seconds,
            r.today_visits,
            r.days,
            r.drugs,
            r.iterations
        ),
    ));
    let _ = writeln!(
        t,
        "waiting: {} in the triage queue, {} at the pharmacy; open: {} conflicts, {} worklist items",
        r.triage_queue, r.pharmacy_queue, r.open_conflicts, r.worklist_items
    );
    let _ = writeln!(
        t,
        "{:<13} {:<30} {:>9} {:>9} {:>9} {:>9}",
        "desk", "page", "bytes", "p50 ms", "p99 ms", "max ms"
    );
    for p in &r.pages {
        let _ = writeln!(
            t,
            "{:<13} {:<30} {:>9} {:>9.1} {:>9.1} {:>9.1}",
            p.desk, p.page, p.bytes, p.p50_ms, p.p99_ms, p.max_ms
        );
    }
    t
}
