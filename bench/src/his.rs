//! `lifeline-bench his`: the HIS bridge against a real PostgreSQL with the reference HIS.
//!
//! Measures, on a central store in a temporary directory:
//! - the first pull of the patient master (1,000,000 patients by default), in records per
//!   second, with the catalogs and the morning's work pulled in the same run;
//! - the latency of an incremental pull of a quiet minute (nothing changed in the HIS), and of
//!   one with a handful of patients changed;
//! - the push of an episode's records (10,000 by default) into the interface tables, in
//!   records per second, and a second push that finds nothing to write.
//!
//! Needs PostgreSQL (Debian's package); the cluster is made for the run and removed.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use lifeline_core::desk::{
    NewCharge, NewChargeLine, NewPatient, NewPrescription, NewPrescriptionItem, NewVisit,
    Settlement,
};
use lifeline_core::numbers::Series;
use lifeline_core::record::{CatalogKind, InsuranceType, PaymentMethod, Sex};
use lifeline_core::{
    DeskRole, NodeName, NodeRole, Operator, OperatorName, RecordId, Store, StoreOptions,
};
use lifeline_node::his::bridge::bridge_operator;
use lifeline_node::his::cluster::Cluster;
use lifeline_node::his::db::postgres::{PgSettings, Postgres};
use lifeline_node::his::mapping::Mapping;
use lifeline_node::his::pull::{PullSummary, Puller};
use lifeline_node::his::push::{PushSummary, Pusher};
use lifeline_node::his::state::BridgeState;
use serde::Serialize;

use crate::measure::percentile;
use crate::{DEBUG_WARNING, Machine, now_unix_ms, publish, rfc3339_utc, scratch_dir};

/// Options of `lifeline-bench his`.
#[derive(Debug, Clone, clap::Args)]
pub struct HisArgs {
    /// Patients in the HIS master (default 1,000,000; 2,000 in quick mode).
    #[arg(long)]
    pub patients: Option<u64>,
    /// Episode records pushed (default 10,000; 200 in quick mode).
    #[arg(long)]
    pub push_records: Option<u64>,
    /// Quiet incremental pulls timed (default 20; 3 in quick mode).
    #[arg(long)]
    pub quiet_pulls: Option<usize>,
    #[arg(long, default_value = "bench/results/his.json")]
    pub out: PathBuf,
    /// Directory for the store and the cluster (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Tiny counts, for a smoke test; also set by LIFELINE_BENCH_QUICK=1.
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub patients: u64,
    pub registrations_today: u64,
    pub drugs: u64,
    pub push_records: u64,
    pub quiet_pulls: usize,
    pub page_rows: u32,
    pub push_batch_rows: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirstPull {
    pub patients: u64,
    pub patients_ms: f64,
    pub patients_per_s: f64,
    /// Every table of the first pull (catalogs, patients, today's work).
    pub total_rows: u64,
    pub total_ms: f64,
    pub rows_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Incremental {
    /// Pulls with nothing changed in the HIS.
    pub quiet_count: usize,
    pub quiet_ms_p50: f64,
    pub quiet_ms_max: f64,
    /// A pull after this many patients changed.
    pub changed_patients: u64,
    pub changed_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Push {
    pub records: u64,
    /// Interface rows written (a charge writes one per line).
    pub rows: u64,
    pub elapsed_ms: f64,
    pub records_per_s: f64,
    /// A second push of the same records: nothing to write.
    pub again_ms: f64,
    pub again_written: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HisReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub timestamp_unix_ms: i64,
    pub machine: Machine,
    pub plan: Plan,
    /// Seconds to load the reference HIS (not part of any figure).
    pub seed_s: f64,
    pub first_pull: FirstPull,
    pub incremental: Incremental,
    pub push: Push,
}

impl Plan {
    pub fn from_args(args: &HisArgs) -> anyhow::Result<Plan> {
        let quick = crate::quick_mode(args.quick);
        let mapping = Mapping::reference();
        let plan = Plan {
            quick,
            patients: args
                .patients
                .unwrap_or(if quick { 2_000 } else { 1_000_000 }),
            registrations_today: if quick { 100 } else { 3_000 },
            drugs: if quick { 300 } else { 8_000 },
            push_records: args
                .push_records
                .unwrap_or(if quick { 200 } else { 10_000 }),
            quiet_pulls: args.quiet_pulls.unwrap_or(if quick { 3 } else { 20 }),
            page_rows: mapping.pull.page_rows,
            push_batch_rows: mapping.push.batch_rows,
        };
        ensure!(plan.patients >= 20, "--patients must be at least 20");
        ensure!(plan.push_records >= 4, "--push-records must be at least 4");
        ensure!(plan.quiet_pulls > 0, "--quiet-pulls must be at least 1");
        Ok(plan)
    }
}

pub fn run(args: &HisArgs) -> anyhow::Result<HisReport> {
    let plan = Plan::from_args(args)?;
    let report = measure(&plan, args.dir.as_deref())?;
    publish(&report.table(), &report, &args.out)?;
    Ok(report)
}

fn op(name: &str, desk: DeskRole) -> Operator {
    Operator::new(
        OperatorName::new(name).expect("a valid operator name"),
        desk,
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn per_s(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

pub fn measure(plan: &Plan, dir: Option<&std::path::Path>) -> anyhow::Result<HisReport> {
    let (parent, tmp) = scratch_dir(dir, "lifeline-bench-his-")?;
    let seeding = Instant::now();
    let cluster = Cluster::create(Some(tmp.path()))?;
    let password = cluster.load_reference(plan.patients, plan.registrations_today, plan.drugs)?;
    let seed_s = seeding.elapsed().as_secs_f64();
    let store = Store::open(
        tmp.path().join("store.redb"),
        StoreOptions::new(NodeName::new("central")?, NodeRole::Central),
    )
    .context("cannot open the store")?;
    let settings = PgSettings {
        url: cluster.url("lifeline", "his"),
        password: Some(password),
        tls_ca: None,
        connect_timeout: Duration::from_secs(5),
        query_timeout: Duration::from_secs(600),
        utc_offset_min: 480,
    };
    let mapping = Mapping::reference();
    let rt = tokio::runtime::Runtime::new()?;
    let (first_pull, incremental, push) = rt.block_on(async {
        let mut db = Postgres::connect(&settings).await?;
        let mut state = BridgeState::default();
        let who = bridge_operator();

        let started = Instant::now();
        let summary = pull_once(&mut db, &store, &mapping, &who, &mut state).await?;
        let total = started.elapsed();
        let patients = summary
            .tables
            .iter()
            .find(|(n, _)| n == "patients")
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        ensure!(patients.created == plan.patients, "the first pull took {} of {} patients", patients.created, plan.patients);
        let patients_d = Duration::from_millis(patients.elapsed_ms);
        let first_pull = FirstPull {
            patients: patients.created,
            patients_ms: ms(patients_d),
            patients_per_s: per_s(patients.created, patients_d),
            total_rows: summary.rows(),
            total_ms: ms(total),
            rows_per_s: per_s(summary.rows(), total),
        };

        // A quiet minute: nothing changed since. The overlap window is re-read each time.
        let mut quiet = Vec::with_capacity(plan.quiet_pulls);
        for _ in 0..plan.quiet_pulls {
            let t = Instant::now();
            pull_once(&mut db, &store, &mapping, &who, &mut state).await?;
            quiet.push(t.elapsed());
        }
        quiet.sort_unstable();
        let changed_patients = 10.min(plan.patients);
        cluster.run_sql(
            "his",
            &format!("UPDATE his.patient SET phone = '13000000000', updated_at = localtimestamp WHERE patient_id <= 'P{changed_patients:09}'"),
            &[],
        )?;
        let t = Instant::now();
        pull_once(&mut db, &store, &mapping, &who, &mut state).await?;
        let changed = t.elapsed();
        let incremental = Incremental {
            quiet_count: quiet.len(),
            quiet_ms_p50: percentile(&quiet, 50.0).map_or(0.0, ms),
            quiet_ms_max: quiet.last().copied().map_or(0.0, ms),
            changed_patients,
            changed_ms: ms(changed),
        };

        let records = write_episode(&store, plan.push_records)?;
        let t = Instant::now();
        let first = push_once(&mut db, &store, &mapping, &who, &mut state).await?;
        let elapsed = t.elapsed();
        let rows: u64 = first.tables.iter().map(|(_, t)| t.created + t.updated).sum();
        let t = Instant::now();
        let again = push_once(&mut db, &store, &mapping, &who, &mut state).await?;
        let again_d = t.elapsed();
        let push = Push {
            records,
            rows,
            elapsed_ms: ms(elapsed),
            records_per_s: per_s(records, elapsed),
            again_ms: ms(again_d),
            again_written: again.tables.iter().map(|(_, t)| t.created + t.updated).sum(),
        };
        anyhow::Ok((first_pull, incremental, push))
    })?;
    drop(store);
    drop(cluster);
    let now = now_unix_ms();
    Ok(HisReport {
        benchmark: "his",
        timestamp: rfc3339_utc(now),
        timestamp_unix_ms: now,
        machine: Machine::here(&parent),
        plan: plan.clone(),
        seed_s,
        first_pull,
        incremental,
        push,
    })
}

async fn pull_once(
    db: &mut Postgres,
    store: &Store,
    mapping: &Mapping,
    who: &Operator,
    state: &mut BridgeState,
) -> anyhow::Result<PullSummary> {
    Ok(Puller {
        db,
        store,
        mapping,
        who,
        utc_offset_min: 480,
        overlap: Duration::from_secs(60),
        progress: &|_, _| {},
        save: &|_| {},
        keep_going: &|| true,
    }
    .run(state)
    .await?)
}

async fn push_once(
    db: &mut Postgres,
    store: &Store,
    mapping: &Mapping,
    who: &Operator,
    state: &mut BridgeState,
) -> anyhow::Result<PushSummary> {
    Ok(Pusher {
        db,
        store,
        mapping,
        who,
        utc_offset_min: 480,
        save: &|_| {},
    }
    .push_all(state)
    .await?)
}

/// Writes `records` episode records (patients, visits, prescriptions, charges in turn) at the
/// desks of central, as an outage would leave them. Returns how many were written.
fn write_episode(store: &Store, records: u64) -> anyhow::Result<u64> {
    let admin = bridge_operator();
    let trips = records.div_ceil(4);
    for series in [Series::EmergencyRegistration, Series::Invoice] {
        let range = store
            .lease_range(&admin, series, store.node().clone(), trips.max(10))?
            .value;
        store.accept_lease(&admin, range)?;
    }
    store.open_episode(
        &admin,
        "benchmark: the HIS is unreachable",
        lifeline_core::desk::Opening::Automatic,
    )?;
    let (reg, doctor, cashier) = (
        op("reg", DeskRole::Registration),
        op("dr", DeskRole::Doctor),
        op("cash", DeskRole::Cashier),
    );
    let mut written = 0;
    for n in 0..trips {
        let patient: RecordId = store
            .create_patient(
                &reg,
                NewPatient {
                    patient_no: None,
                    name: format!("急诊病人{n}"),
                    sex: if n % 2 == 0 { Sex::Female } else { Sex::Male },
                    birth_date: "2020-01-01".parse()?,
                    phone: format!("139{n:08}"),
                    national_id: None,
                    insurance: InsuranceType::Resident,
                    guardian: None,
                },
            )?
            .value
            .header
            .id;
        let visit = store
            .register_visit(
                &reg,
                NewVisit {
                    patient,
                    department: "1001".into(),
                    doctor: None,
                    expert: false,
                    payment: None,
                    occurred_at: None,
                },
            )?
            .value
            .header
            .id;
        store.create_prescription(
            &doctor,
            NewPrescription {
                visit,
                items: vec![NewPrescriptionItem {
                    drug_code: "Y0000020".into(),
                    quantity: 1,
                    dosage: "每次5ml".into(),
                }],
                payment: None,
                occurred_at: None,
            },
        )?;
        let charge = store
            .create_charge(
                &doctor,
                NewCharge {
                    visit,
                    lines: vec![
                        NewChargeLine {
                            catalog: CatalogKind::Service,
                            code: "250101015".into(),
                            quantity: 1,
                        },
                        NewChargeLine {
                            catalog: CatalogKind::Drug,
                            code: "Y0000020".into(),
                            quantity: 1,
                        },
                    ],
                    payment: PaymentMethod::Insurance,
                    occurred_at: None,
                },
            )?
            .value
            .header
            .id;
        store.settle_charge(&cashier, charge, Settlement::Paid)?;
        written += 4;
    }
    Ok(written)
}

impl HisReport {
    /// The table people read.
    pub fn table(&self) -> String {
        let mut t = String::new();
        if self.machine.profile == "debug" {
            t.push_str(DEBUG_WARNING);
        }
        t.push_str(
            &self
                .machine
                .title("his", &self.timestamp, self.plan.quick, ""),
        );
        let _ = writeln!(
            t,
            "reference HIS: {} patients, {} registrations today, {} drugs (seeded in {:.1} s); pages of {} rows, push batches of {}",
            self.plan.patients,
            self.plan.registrations_today,
            self.plan.drugs,
            self.seed_s,
            self.plan.page_rows,
            self.plan.push_batch_rows
        );
        let f = &self.first_pull;
        let i = &self.incremental;
        let p = &self.push;
        let _ = writeln!(t, "{:<52} {:>12} {:>12}", "", "time", "rate");
        let _ = writeln!(
            t,
            "{:<52} {:>10.1} s {:>8.0} rec/s",
            format!("first pull: {} patients", f.patients),
            f.patients_ms / 1e3,
            f.patients_per_s
        );
        let _ = writeln!(
            t,
            "{:<52} {:>10.1} s {:>8.0} rows/s",
            format!("first pull: everything ({} rows)", f.total_rows),
            f.total_ms / 1e3,
            f.rows_per_s
        );
        let _ = writeln!(
            t,
            "{:<52} {:>9.0} ms {:>12}",
            format!("incremental pull, quiet (p50 of {})", i.quiet_count),
            i.quiet_ms_p50,
            ""
        );
        let _ = writeln!(
            t,
            "{:<52} {:>9.0} ms {:>12}",
            "incremental pull, quiet (max)", i.quiet_ms_max, ""
        );
        let _ = writeln!(
            t,
            "{:<52} {:>9.0} ms {:>12}",
            format!("incremental pull, {} patients changed", i.changed_patients),
            i.changed_ms,
            ""
        );
        let _ = writeln!(
            t,
            "{:<52} {:>10.1} s {:>8.0} rec/s",
            format!("push: {} episode records ({} rows)", p.records, p.rows),
            p.elapsed_ms / 1e3,
            p.records_per_s
        );
        let _ = writeln!(
            t,
            "{:<52} {:>9.0} ms {:>12}",
            format!("push again (wrote {})", p.again_written),
            p.again_ms,
            ""
        );
        t.push_str(&self.machine.load_line());
        t
    }
}
