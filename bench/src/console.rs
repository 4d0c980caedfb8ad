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

/// The counts of a load.
struct Plan {
    records: u64,
    today_visits: u64,
    days: u64,
    /// The store's clock while the pages are fetched.
    now_ms: i64,
}

/// Writes records in batches of [`BATCH`], counting them.
struct Writer<'a> {
    store: &'a Store,
    who: Operator,
    written: u64,
    started: Instant,
}

impl Writer<'_> {
    fn load<T: Record + Send + 'static>(&mut self, mut records: Vec<T>) -> anyhow::Result<()> {
        while !records.is_empty() {
            let rest = records.split_off(records.len().min(BATCH));
            let before = self.written;
            self.written += records.len() as u64;
            self.store
                .load_records(&self.who, std::mem::replace(&mut records, rest))?;
            if before / PROGRESS != self.written / PROGRESS {
                eprintln!(
                    "{} records loaded in {:.0} s",
                    self.written,
                    self.started.elapsed().as_secs_f64()
                );
            }
        }
        Ok(())
    }
}

/// One visit's records, ready to load by kind.
#[derive(Default)]
struct Visits {
    visits: Vec<lifeline_core::record::Visit>,
    charges: Vec<lifeline_core::record::Charge>,
    invoices: Vec<lifeline_core::record::Invoice>,
    prescriptions: Vec<lifeline_core::record::Prescription>,
    dispenses: Vec<lifeline_core::record::Dispense>,
}

impl Visits {
    fn len(&self) -> u64 {
        (self.visits.len()
            + self.charges.len()
            + self.invoices.len()
            + self.prescriptions.len()
            + self.dispenses.len()) as u64
    }

    /// Visit `n` of `patient` registered at `at_ms`, then called and seen as far as
    /// `progress` says (a seen visit's prescription dispensed right after); returns its id.
    fn add(
        &mut self,
        o: &Origin,
        patient: RecordId,
        n: u64,
        at_ms: i64,
        progress: Progress,
    ) -> RecordId {
        let (mut visit, charge, invoice, rx) = data::visit_records(o, patient, n, at_ms);
        visit.department = DEPARTMENTS[(n % DEPARTMENTS.len() as u64) as usize].into();
        let id = visit.header.id;
        let mut rx = rx;
        match progress {
            Progress::Waiting => {}
            Progress::Called => {
                data::move_visit(
                    o,
                    &mut visit,
                    &[VisitStatus::Called],
                    at_ms + 35 * MINUTE_MS,
                );
            }
            Progress::Seen => {
                data::move_visit(
                    o,
                    &mut visit,
                    &[VisitStatus::Called, VisitStatus::Seen],
                    at_ms + 40 * MINUTE_MS,
                );
                if let Some(rx) = rx.as_mut() {
                    self.dispenses
                        .push(data::dispense(o, rx, at_ms + 44 * MINUTE_MS));
                }
            }
        }
        self.visits.push(visit);
        self.charges.push(charge);
        self.invoices.push(invoice);
        self.prescriptions.extend(rx);
        id
    }

    fn load(self, w: &mut Writer<'_>) -> anyhow::Result<()> {
        w.load(self.visits)?;
        w.load(self.charges)?;
        w.load(self.invoices)?;
        w.load(self.prescriptions)?;
        w.load(self.dispenses)
    }
}

/// How far a visit got by the store's clock.
#[derive(Debug, Clone, Copy)]
enum Progress {
    Waiting,
    Called,
    Seen,
}

/// The window store, its catalogs from central (the shipped ones and `drugs` more drugs),
/// and the records.
fn fill(dir: &Path, clock: &ManualClock, plan: &Plan, drugs: usize) -> anyhow::Result<Loaded> {
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
    w.credentials = Some(Credentials::uncertified(
        window.clone(),
        NodeRole::Window,
        &desks,
    )?);
    w.desks = desks;
    w.utc_offset_min = OFFSET_MIN;
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
    drop(central);

    let origin = Origin {
        node: window.clone(),
        operator: OperatorName::new("reg1")?,
        episode: None,
    };
    let now_ms = plan.now_ms;
    let day_start = Date::at(now_ms, OFFSET_MIN).start_ms(OFFSET_MIN);
    let mut rng = Rng::new(7);
    let start = Instant::now();
    let mut w = Writer {
        store: &store,
        who: Operator::new(OperatorName::new("bulk-loader")?, DeskRole::Admin),
        written: 0,
        started: start,
    };

    // The outage earlier today: 07:00 to 07:40, recovered, its records not yet acknowledged
    // by central (so the window has not left it).
    let opened = day_start + 7 * HOUR_MS;
    let closed = opened + 40 * MINUTE_MS;
    let d = Date::at(opened, OFFSET_MIN);
    let episode = EpisodeId::new(format!(
        "YJ-{}{:02}{:02}-0700-{window}",
        d.year, d.month, d.day
    ))?;
    let emergency = Origin {
        episode: Some(episode.clone()),
        ..origin.clone()
    };
    w.load(vec![outage(&emergency, &episode, opened, closed)])?;
    let (mut patients, mut visits, mut rxs) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..EMERGENCY_VISITS {
        let at = opened + 5 * MINUTE_MS + i64::try_from(n)? * MINUTE_MS;
        let (p, v) = data::emergency_registration(&emergency, n, at);
        if n < EMERGENCY_PRESCRIPTIONS {
            rxs.push(data::prescription(
                &emergency,
                v.header.id,
                p.header.id,
                at + 10 * MINUTE_MS,
            ));
        }
        patients.push(p);
        visits.push(v);
    }
    w.load(patients)?;
    w.load(visits)?;
    w.load(rxs)?;
    // Duplicate patients, registered apart 40 days ago.
    let mut pairs = Vec::new();
    for n in 0..DUPLICATE_PAIRS {
        pairs.extend(data::duplicate_pair(
            &origin,
            n,
            data::days_ago(now_ms, 40) + i64::try_from(n)?,
        ));
    }
    w.load(pairs)?;

    // Today's visits, 07:30 to a minute ago, for patients of the master: about four records
    // each, so the master is what is left after them and the earlier visits, 40% of it.
    let today_records = plan.today_visits * 4;
    let rest = plan
        .records
        .checked_sub(w.written + today_records)
        .filter(|r| *r >= 10)
        .with_context(|| {
            format!(
                "{} records cannot hold {} visits today: ask for more records or fewer visits",
                plan.records, plan.today_visits
            )
        })?;
    let master = if plan.days == 0 {
        rest / 2
    } else {
        rest * 2 / 5
    };
    let mut ids: Vec<RecordId> = Vec::with_capacity(master as usize);
    let mut batch: Vec<Patient> = Vec::with_capacity(BATCH);
    for k in 0..master {
        // Created up to five years before the earliest visit.
        let age_days = i64::try_from(plan.days + 1 + rng.below(5 * 365))?;
        let at = data::days_ago(now_ms, age_days) + i64::try_from(k % 86_400_000)?;
        let p = data::patient(&origin, &mut rng, k, at);
        ids.push(p.header.id);
        batch.push(p);
        if batch.len() == BATCH {
            w.load(std::mem::take(&mut batch))?;
        }
    }
    w.load(batch)?;
    let patient_no = |k: usize| format!("P{k:09}");

    let first_ms = day_start + 7 * HOUR_MS + 30 * MINUTE_MS;
    let span_ms = now_ms - MINUTE_MS - first_ms;
    let mut today = Visits::default();
    let mut n = 0u64;
    let mut waiting = None;
    for i in 0..plan.today_visits {
        let at = first_ms + span_ms * i64::try_from(i)? / i64::try_from(plan.today_visits)?;
        let age = now_ms - at;
        let progress = if age < 40 * MINUTE_MS {
            Progress::Waiting
        } else if age < 45 * MINUTE_MS {
            Progress::Called
        } else {
            Progress::Seen
        };
        let k = rng.below(ids.len() as u64) as usize;
        let visit = today.add(&origin, ids[k], n, at, progress);
        if matches!(progress, Progress::Waiting) && waiting.is_none() {
            waiting = Some((patient_no(k), visit));
        }
        n += 1;
    }
    let (waiting_patient_no, waiting_visit) =
        waiting.context("no visit of today is waiting: ask for more visits today")?;
    today.load(&mut w)?;

    // The earlier visits, seen, 08:00 to 17:00 of each of the `days` days before today, until
    // the store holds `records`.
    if plan.days > 0 {
        let left = plan.records.saturating_sub(w.written);
        let per_day = (left / 4).div_ceil(plan.days).max(1);
        let mut chunk = Visits::default();
        'days: for back in (1..=plan.days).rev() {
            let start_ms = data::days_ago(day_start, i64::try_from(back)?) + 8 * HOUR_MS;
            for i in 0..per_day {
                if w.written + chunk.len() >= plan.records {
                    break 'days;
                }
                let at = start_ms + 9 * HOUR_MS * i64::try_from(i)? / i64::try_from(per_day)?;
                let k = rng.below(ids.len() as u64) as usize;
                chunk.add(&origin, ids[k], n, at, Progress::Seen);
                n += 1;
                if chunk.len() >= BATCH as u64 {
                    std::mem::take(&mut chunk).load(&mut w)?;
                }
            }
        }
        chunk.load(&mut w)?;
    }
    let load = start.elapsed();
    clock.set(now_ms);
    Ok(Loaded {
        store,
        waiting_patient_no,
        waiting_visit,
        episode,
        load,
    })
}

/// The episode of an outage from `opened_ms` to `closed_ms` on the window that writes it.
fn outage(o: &Origin, id: &EpisodeId, opened_ms: i64, closed_ms: i64) -> Episode {
    let header = lifeline_core::record::Header {
        id: RecordId::generate_at(opened_ms),
        kind: RecordKind::Episode,
        origin: o.node.clone(),
        operator: o.operator.clone(),
        created_ms: opened_ms,
        episode: Some(id.clone()),
        paper: None,
    };
    let node = EpisodeNode {
        joined_ms: opened_ms,
        recovered_ms: Some(closed_ms),
        left_ms: None,
        drug_catalog_version: 1,
        service_catalog_version: 1,
        catalog_changed_ms: None,
    };
    Episode {
        header,
        episode_id: id.clone(),
        reason: "central unreachable".into(),
        reason_code: Some(lifeline_core::record::ReasonCode {
            code: lifeline_core::record::ReasonCode::CENTRAL_UNREACHABLE.into(),
            seconds: Some(10),
        }),
        automatic: true,
        opened_ms,
        closed_ms: Some(closed_ms),
        closed_by: None,
        nodes: [(o.node.to_string(), node)].into(),
        merged_into: None,
        drill: false,
        estimates: Default::default(),
        cause: None,
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
