//! `lifeline-bench console`: how long the desk console's pages take with a big store.
//!
//! A window store serving every desk is filled with `--records` records (patients and their
//! visits, spread over `--days` days by the store's clock, so that today holds a day's worth
//! like a real hospital's) and holds a hospital's drug catalog (8,000 drugs; 200 in quick
//! mode) for the doctor's drug search, then the node's real HTTP router (the desks' API and the console)
//! is served on loopback, each desk logs in, and every page is fetched `--iterations` times.
//! The time is the whole loopback round trip, an upper bound on the server's time.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use lifeline_core::desk::{CatalogImport, NewPatient, NewVisit};
use lifeline_core::record::{InsuranceType, Sex};
use lifeline_core::store::Credentials;
use lifeline_core::{
    Date, DeskRole, ManualClock, NodeName, NodeRole, Operator, OperatorName, Store, StoreOptions,
};
use lifeline_node::api::ApiState;
use lifeline_node::console::app;
use lifeline_node::daemon::runtime::Runtime;
use lifeline_node::operators::Operators;
use serde::Serialize;

use crate::measure::percentile;
use crate::{DEBUG_WARNING, Machine, now_unix_ms, publish, rfc3339_utc, scratch_dir};

/// Options of `lifeline-bench console`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// Records in the store (half patients, half visits; default 1,000,000; 2,000 in quick
    /// mode).
    #[arg(long)]
    pub records: Option<u64>,
    /// Days the records are spread over (default 365; 2 in quick mode).
    #[arg(long)]
    pub days: Option<u64>,
    /// Fetches of each page (default 30; 3 in quick mode).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Threads writing the records.
    #[arg(long, default_value_t = 16)]
    pub writers: usize,
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
    pub p95_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsoleReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub machine: Machine,
    pub records: u64,
    pub days: u64,
    pub iterations: usize,
    pub fill_seconds: f64,
    /// Drugs in the catalog the doctor's search looks through.
    pub drugs: usize,
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
const MS_PER_DAY: i64 = 86_400_000;

pub fn run(args: &ConsoleArgs) -> anyhow::Result<ConsoleReport> {
    let quick = crate::quick_mode(args.quick);
    let records = args
        .records
        .unwrap_or(if quick { 2_000 } else { 1_000_000 });
    let days = args.days.unwrap_or(if quick { 2 } else { 365 }).max(1);
    let iterations = args.iterations.unwrap_or(if quick { 3 } else { 30 });
    let drugs = if quick { 200 } else { 8_000 };
    ensure!(
        iterations > 0 && args.writers > 0,
        "counts must be at least 1"
    );
    let (_, tmp) = scratch_dir(args.dir.as_deref(), "lifeline-bench-console-")?;
    let today = now_unix_ms();
    let clock = ManualClock::new(today);
    let (store, numbers, fill) = fill(tmp.path(), &clock, records, days, drugs, args.writers)?;
    clock.set(today);
    let pages = measure_pages(tmp.path(), &store, &numbers, iterations)?;
    let report = ConsoleReport {
        benchmark: "console",
        timestamp: rfc3339_utc(now_unix_ms()),
        machine: Machine::here(tmp.path()),
        records,
        days,
        iterations,
        fill_seconds: fill.as_secs_f64(),
        drugs,
        pages,
    };
    publish(&table(&report, quick), &report, &args.out)?;
    Ok(report)
}

/// The window store, its catalogs from central (the shipped drugs and `drugs` more), and the
/// records.
fn fill(
    dir: &std::path::Path,
    clock: &ManualClock,
    records: u64,
    days: u64,
    drugs: usize,
    writers: usize,
) -> anyhow::Result<(Store, Vec<String>, Duration)> {
    let central = NodeName::new("central")?;
    let window = NodeName::new("W01")?;
    let mut c = StoreOptions::new(central.clone(), NodeRole::Central);
    c.credentials = Some(Credentials::uncertified(central, NodeRole::Central, &[])?);
    let mut w = StoreOptions::new(window.clone(), NodeRole::Window);
    let desks: Vec<DeskRole> = DESKS
        .iter()
        .map(|(d, _)| *d)
        .filter(|d| *d != DeskRole::Admin)
        .collect();
    w.credentials = Some(Credentials::uncertified(window, NodeRole::Window, &desks)?);
    w.desks = desks;
    w.clock = Arc::new(clock.clone());
    let (central, win) = crate::fixture::pair_with(dir, c, w)?;
    let store = win.store;
    let info = Operator::new(OperatorName::new("info1")?, DeskRole::Admin);
    let mut all = crate::fixture::catalogs()?.drugs.unwrap_or_default();
    all.extend(crate::scale::catalogs(drugs, 0).drugs.unwrap_or_default());
    central
        .import_catalog(
            &info,
            CatalogImport {
                drugs: Some(all),
                services: None,
                departments: None,
                doctors: None,
            },
        )
        .context("cannot import the drug catalog on central")?;
    crate::fixture::copy_all(&central, &store)?;
    let registrar = Operator::new(OperatorName::new("reg1")?, DeskRole::Registration);
    let pairs = (records / 2).max(1);
    let per_day = pairs.div_ceil(days);
    let start = Instant::now();
    let today = clock_now(clock);
    let mut numbers = Vec::new();
    for day in 0..days {
        let first = day * per_day;
        let last = ((day + 1) * per_day).min(pairs);
        if first >= last {
            break;
        }
        // 08:00 in the hospital on that day, `days - 1 - day` days ago.
        let date = Date::at(today, 480).add_days(-i64::try_from(days - 1 - day)?);
        clock.set(date.start_ms(480) + 8 * 3_600_000);
        let chunk = (last - first).div_ceil(writers as u64);
        let made: Vec<anyhow::Result<Vec<String>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..writers as u64)
                .map(|t| {
                    let (store, registrar) = (&store, &registrar);
                    s.spawn(move || -> anyhow::Result<Vec<String>> {
                        let mut out = Vec::new();
                        let from = first + t * chunk;
                        for n in from..(from + chunk).min(last) {
                            let p = store.create_patient(registrar, patient(n))?.value;
                            store.register_visit(
                                registrar,
                                NewVisit {
                                    patient: p.header.id,
                                    department: "PED-GEN".into(),
                                    doctor: None,
                                    expert: false,
                                    payment: None,
                                    occurred_at: None,
                                },
                            )?;
                            if n.is_multiple_of(997) {
                                out.push(p.patient_no);
                            }
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a writer panicked")))
                })
                .collect()
        });
        for m in made {
            numbers.extend(m?);
        }
        clock.advance_ms(MS_PER_DAY / 4);
    }
    ensure!(!numbers.is_empty(), "no patient numbers were kept");
    Ok((store, numbers, start.elapsed()))
}

fn clock_now(clock: &ManualClock) -> i64 {
    use lifeline_core::Clock;
    clock.now_ms()
}

fn patient(n: u64) -> NewPatient {
    const FAMILY: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄"];
    NewPatient {
        patient_no: None,
        name: format!("{}{n}", FAMILY[(n % 8) as usize]),
        sex: if n.is_multiple_of(2) {
            Sex::Female
        } else {
            Sex::Male
        },
        birth_date: Date::new(
            2015 + (n % 10) as i32,
            1 + (n % 12) as u8,
            1 + (n % 28) as u8,
        )
        .unwrap_or(Date::new(2020, 1, 1).expect("a date")),
        phone: format!("138{:08}", n % 100_000_000),
        national_id: None,
        insurance: InsuranceType::Resident,
        guardian: None,
    }
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
    dir: &std::path::Path,
    store: &Store,
    numbers: &[String],
    iterations: usize,
) -> anyhow::Result<Vec<PageFigures>> {
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
    let middle = &numbers[numbers.len() / 2];
    let name_prefix = "王1";
    let pages: Vec<(DeskRole, &str, String)> = vec![
        (
            DeskRole::Registration,
            "search page",
            "/console/registration".into(),
        ),
        (
            DeskRole::Registration,
            "find by card number",
            format!("/console/registration?number={middle}"),
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
            "drug search by pinyin initials",
            "/console/doctor/drugs?q=yp12".into(),
        ),
        (
            DeskRole::Pharmacy,
            "pharmacy queue",
            "/console/pharmacy".into(),
        ),
        (
            DeskRole::Cashier,
            "a patient's charges",
            format!("/console/cashier?number={middle}"),
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
            p50_ms: ms(percentile(&samples, 0.5)),
            p95_ms: ms(percentile(&samples, 0.95)),
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
            "; {} records over {} days, filled in {:.0} s; {} drugs; {} fetches a page",
            r.records, r.days, r.fill_seconds, r.drugs, r.iterations
        ),
    ));
    let _ = writeln!(
        t,
        "{:<13} {:<30} {:>9} {:>9} {:>9} {:>9}",
        "desk", "page", "bytes", "p50 ms", "p95 ms", "max ms"
    );
    for p in &r.pages {
        let _ = writeln!(
            t,
            "{:<13} {:<30} {:>9} {:>9.1} {:>9.1} {:>9.1}",
            p.desk, p.page, p.bytes, p.p50_ms, p.p95_ms, p.max_ms
        );
    }
    t
}
