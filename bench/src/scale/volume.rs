//! The hospital's volume on central: the bulk load in stages, the daemon measured at each
//! stage, then desk writes alone and while a new window syncs, and the store itself.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use lifeline_core::{
    Clock, DeskRole, EpisodeId, NodeName, NodeRole, Operator, OperatorName, RecordId, Store,
    StoreOptions, SystemClock,
};
use lifeline_node::client::Client;
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::{Hospital, NodeSpec};
use lifeline_sync::identity::TlsFiles;
use serde::Serialize;
use serde_json::{Value, json};

use super::data::{self, Origin, Rng};
use super::{Plan, ms, rss_mib};
use crate::measure::{Summary, median};

const CENTRAL: &str = "central";
const NEW_WINDOW: &str = "W99";
/// Longest wait for the new window's working set.
const READY_WITHIN: Duration = Duration::from_secs(1500);

/// The daemon measured at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// Records held by the store (catalog items included).
    pub records: u64,
    pub file_bytes: u64,
    /// From starting the daemon to its ready file.
    pub daemon_ready_ms: f64,
    pub rss_idle_mib: Option<f64>,
    pub status_ms_p50: f64,
    pub status_ms_max: f64,
    pub conflicts_ms_p50: f64,
    pub worklist_ms_p50: f64,
    pub open_conflicts: u64,
    pub worklist_items: u64,
}

/// The new window joining.
#[derive(Debug, Clone, Serialize)]
pub struct NewWindow {
    /// From starting its daemon until it holds its working set and is in sync.
    pub ready_ms: f64,
    pub records_held: u64,
    pub records_per_s: f64,
    /// Bytes of changes central sent it.
    pub bytes_from_central: u64,
    pub records_from_central: u64,
}

/// Everything measured on central.
#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub catalog_items: u64,
    pub catalog_import_ms: f64,
    pub loaded_records: u64,
    pub load_s: f64,
    pub stages: Vec<Stage>,
    pub desk_writes_alone: Summary,
    pub desk_writes_during_sync: Summary,
    /// The highest RSS of central while the window synced and the desk wrote.
    pub rss_under_load_mib: Option<f64>,
    pub new_window: NewWindow,
    /// `Store::open` of the final file, in this process.
    pub store_open_ms: f64,
    /// What a digest repair reads of that store for one bucket (every record of one of the 64
    /// buckets, with its heads), and how many records it found.
    pub repair_scan_ms: f64,
    pub repair_scan_records: u64,
    /// Central's records at the end.
    pub records: u64,
    /// Central's disk per record held: what the file system allocated for the store.
    pub bytes_per_record: f64,
    /// The same from the file's length (redb grows it ahead of its pages).
    pub file_bytes_per_record: f64,
    /// Central's store, table by table.
    pub disk: super::disk::Disk,
    /// A backup of central's store (`Store::backup_to`, as `lifeline backup` takes it), table by
    /// table: every table copied in key order into a new file, the layout a restore gives.
    pub backup_disk: super::disk::Disk,
    pub backup_bytes_per_record: f64,
    pub backup_ms: f64,
    /// `lifeline compact` of central's store afterwards (the same copy, renamed over the
    /// store): how long it took, the disk per record it left, and the store's open after it.
    pub compact_ms: f64,
    pub compacted_bytes_per_record: f64,
    pub compacted_open_ms: f64,
}

fn options(node: &str, role: NodeRole) -> anyhow::Result<StoreOptions> {
    Ok(StoreOptions::new(NodeName::new(node)?, role))
}

/// Central's store, open with central's own signing key, which signs what the loader wrote
/// after each load (`Loader::until`), as central's daemon signs what the HIS pull wrote
/// when it first sends it: the measurements see the store of a central in service.
fn open_central(hospital: &Hospital, path: &Path) -> anyhow::Result<Store> {
    let store = Store::open(path, options(CENTRAL, NodeRole::Central)?)?;
    let tls = &hospital.config(CENTRAL)?.tls;
    let files = TlsFiles {
        ca: tls.ca.clone(),
        cert: tls.cert.clone(),
        key: tls.key.clone(),
    };
    store.take_credentials(lifeline_sync::identity::load(&files)?.credentials()?)?;
    Ok(store)
}

fn loader() -> anyhow::Result<Operator> {
    Ok(Operator::new(
        OperatorName::new("bulk-loader")?,
        DeskRole::Admin,
    ))
}

/// Times `n` GETs of `path`: (median ms, max ms).
fn timed_gets(client: &Client, path: &str, n: usize) -> anyhow::Result<(f64, f64)> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let _: Value = client.get(path).with_context(|| format!("GET {path}"))?;
        samples.push(ms(t.elapsed()));
    }
    let max = samples.iter().copied().fold(0.0, f64::max);
    Ok((median(&samples), max))
}

/// One desk write: a new patient registered at central.
fn write_once(desk: &Client, n: u64) -> anyhow::Result<Duration> {
    let body = json!({
        "name": format!("桌面{n}"),
        "sex": "female",
        "birth_date": "2019-05-04",
        "phone": format!("139{:08}", n % 100_000_000),
        "insurance": "resident",
    });
    let t = Instant::now();
    let _: Value = desk.post("/patients", &body).context("POST /patients")?;
    Ok(t.elapsed())
}

/// The days over which the patient master was registered.
const PATIENT_DAYS: u64 = 5 * 365;

/// Loads patients and then the day's records until the store holds `until` of them.
struct Loader {
    origin: Origin,
    rng: Rng,
    who: Operator,
    patients: Vec<RecordId>,
    patients_total: u64,
    patients_left: u64,
    day_left: u64,
    loaded: u64,
    now_ms: i64,
    batch: usize,
}

impl Loader {
    fn until(&mut self, store: &Store, until: u64) -> anyhow::Result<()> {
        while self.loaded < until && self.patients_left > 0 {
            let n = (self.batch as u64)
                .min(self.patients_left)
                .min(until - self.loaded);
            let mut batch = Vec::with_capacity(n as usize);
            for i in 0..n {
                let k = self.loaded + i;
                // Registered over five years, oldest first: a store receives records in
                // about the order they were made (each id carries when), and a new window
                // applies them in its feed's order, which is this one.
                let later = (k * PATIENT_DAYS / self.patients_total.max(1)) as i64;
                let age_days = PATIENT_DAYS as i64 + 8 - later;
                let at = data::days_ago(self.now_ms, age_days) + (k % 86_400_000) as i64;
                let p = data::patient(&self.origin, &mut self.rng, k, at);
                self.patients.push(p.header.id);
                batch.push(p);
            }
            store.load_records(&self.who, batch)?;
            self.patients_left -= n;
            self.loaded += n;
        }
        while self.loaded < until && self.day_left > 0 {
            let (mut visits, mut charges, mut invoices, mut rxs) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut n = 0;
            while n < self.batch as u64 && self.day_left > n && self.loaded + n < until {
                let patient = self.patients[self.rng.below(self.patients.len() as u64) as usize];
                let at = self.now_ms - 3_600_000 + (self.loaded + n) as i64;
                let (v, c, i, rx) = data::visit_records(&self.origin, patient, self.loaded + n, at);
                visits.push(v);
                charges.push(c);
                invoices.push(i);
                n += 3;
                if let Some(rx) = rx {
                    rxs.push(rx);
                    n += 1;
                }
            }
            store.load_records(&self.who, visits)?;
            store.load_records(&self.who, charges)?;
            store.load_records(&self.who, invoices)?;
            store.load_records(&self.who, rxs)?;
            self.day_left = self.day_left.saturating_sub(n);
            self.loaded += n;
        }
        // Central signs its changes as they first leave it; a central in service has sent
        // these long ago, so they are signed here, outside every measurement.
        store.sign_unsigned()?;
        Ok(())
    }
}

/// The 100 open items: duplicate patient pairs and emergency prescriptions not dispensed.
fn open_items(
    store: &Store,
    origin: &Origin,
    who: &Operator,
    n: u64,
    now_ms: i64,
) -> anyhow::Result<()> {
    let pairs = n / 2;
    let mut patients = Vec::new();
    for i in 0..pairs {
        patients.extend(data::duplicate_pair(origin, i, data::days_ago(now_ms, 40)));
    }
    let firsts: Vec<RecordId> = patients.iter().step_by(2).map(|p| p.header.id).collect();
    store.load_records(who, patients)?;
    let emergency = Origin {
        episode: Some(EpisodeId::new("YJ-20261101-0900-W01")?),
        ..origin.clone()
    };
    let rxs = firsts
        .iter()
        .take((n - pairs) as usize)
        .map(|p| {
            data::prescription(
                &emergency,
                RecordId::generate(),
                *p,
                data::days_ago(now_ms, 30),
            )
        })
        .collect();
    store.load_records(who, rxs)?;
    Ok(())
}

fn measure_daemon(hospital: &mut Hospital, plan: &Plan) -> anyhow::Result<Stage> {
    let t = Instant::now();
    hospital.start(CENTRAL)?;
    let daemon_ready_ms = ms(t.elapsed());
    let pid = hospital.pid(CENTRAL).context("central runs")?;
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle_mib = rss_mib(pid);
    let admin = hospital.admin(CENTRAL)?;
    let (status_ms_p50, status_ms_max) = timed_gets(&admin, "/admin/status", plan.requests)?;
    let (conflicts_ms_p50, _) = timed_gets(&admin, "/admin/conflicts", plan.requests)?;
    let (worklist_ms_p50, _) = timed_gets(&admin, "/admin/worklist", plan.requests)?;
    let status = hospital.status(CENTRAL)?;
    Ok(Stage {
        records: status.store.records,
        file_bytes: status.store.file_bytes,
        daemon_ready_ms,
        rss_idle_mib,
        status_ms_p50,
        status_ms_max,
        conflicts_ms_p50,
        worklist_ms_p50,
        open_conflicts: status.open_conflicts,
        worklist_items: status.worklist,
    })
}

/// Loads central under `dir` and measures; the new window's store goes in `window_dir` when
/// given (another disk), beside central's otherwise.
pub fn measure(
    plan: &Plan,
    bin: &Path,
    dir: &Path,
    window_dir: Option<&Path>,
) -> anyhow::Result<Volume> {
    std::fs::create_dir_all(dir)?;
    let specs = [
        NodeSpec::new(CENTRAL, NodeRole::Central, &[], &[]),
        NodeSpec::new(
            NEW_WINDOW,
            NodeRole::Window,
            &[DeskRole::Registration],
            &[CENTRAL],
        ),
    ];
    let mut hospital = Hospital::create(bin, dir, &specs, Thresholds::default())?;
    if let Some(window_dir) = window_dir {
        hospital.set_data_dir(NEW_WINDOW, &window_dir.join(NEW_WINDOW))?;
    }
    let path = hospital.store_path(CENTRAL)?;
    std::fs::create_dir_all(path.parent().context("a store path has a directory")?)?;
    let who = loader()?;
    let now_ms = SystemClock.now_ms();
    let origin = Origin {
        node: NodeName::new(CENTRAL)?,
        operator: who.name.clone(),
        episode: None,
    };
    let store = open_central(&hospital, &path)?;
    eprintln!(
        "importing {} drugs and {} services",
        plan.drugs, plan.services
    );
    let t = Instant::now();
    let versions = store.import_catalog(&who, data::catalogs(plan.drugs, plan.services))?;
    let catalog_import_ms = ms(t.elapsed());
    anyhow::ensure!(versions.value == (1, 1), "the catalogs were imported once");
    open_items(&store, &origin, &who, plan.open_items, now_ms)?;
    let mut loader = Loader {
        origin,
        rng: Rng::new(7),
        who,
        patients: Vec::new(),
        patients_total: plan.patients,
        patients_left: plan.patients,
        day_left: plan.day_records,
        loaded: 0,
        now_ms,
        batch: plan.load_batch,
    };
    let mut stages = Vec::new();
    let mut load = Duration::ZERO;
    let mut store = Some(store);
    for (i, &stage) in plan.stages.iter().enumerate() {
        let open = store.take().context("the store is open between stages")?;
        eprintln!("loading up to {stage} records");
        let t = Instant::now();
        loader.until(&open, stage)?;
        load += t.elapsed();
        drop(open);
        let measured = measure_daemon(&mut hospital, plan)?;
        eprintln!(
            "{} records: ready in {:.0} ms, status {:.1} ms, conflicts {:.1} ms, worklist {:.1} ms",
            measured.records,
            measured.daemon_ready_ms,
            measured.status_ms_p50,
            measured.conflicts_ms_p50,
            measured.worklist_ms_p50
        );
        stages.push(measured);
        if i + 1 < plan.stages.len() {
            hospital.stop(CENTRAL)?;
            store = Some(open_central(&hospital, &path)?);
        }
    }
    let desk = hospital.desk(CENTRAL, DeskRole::Registration)?;
    let mut alone = Vec::with_capacity(plan.writes);
    let t = Instant::now();
    for i in 0..plan.writes {
        alone.push(write_once(&desk, i as u64)?);
    }
    let desk_writes_alone = Summary::new(1, &mut alone, t.elapsed());
    eprintln!(
        "desk writes alone: p50 {:.1} ms, p99 {:.1} ms; a new window joins",
        desk_writes_alone.latency_us_p50 / 1e3,
        desk_writes_alone.latency_us_p99 / 1e3
    );
    let (new_window, during, rss_under_load_mib) = join_window(&mut hospital, &desk, plan)?;
    let final_status = hospital.status(CENTRAL)?;
    hospital.stop(NEW_WINDOW)?;
    hospital.stop(CENTRAL)?;
    let t = Instant::now();
    let reopened = Store::open(&path, options(CENTRAL, NodeRole::Central)?)?;
    let store_open_ms = ms(t.elapsed());
    let t = Instant::now();
    let repair_scan_records = reopened
        .bucket_heads(lifeline_core::store::Scope::All, &[0], usize::MAX)?
        .len() as u64;
    let repair_scan_ms = ms(t.elapsed());
    let backup_path = dir.join("central-backup.redb");
    let t = Instant::now();
    reopened.backup_to(&backup_path, &|_, _| {})?;
    let backup_ms = ms(t.elapsed());
    drop(reopened);
    let disk = super::disk::measure(&path)?;
    let backup_disk = super::disk::measure(&backup_path)?;
    std::fs::remove_file(&backup_path)?;
    let _ = std::fs::remove_file(lifeline_core::store::checksum_path(&backup_path));
    let t = Instant::now();
    lifeline_core::store::compact_store(&path, &|_, _| {})?;
    let compact_ms = ms(t.elapsed());
    let compacted = super::disk::measure(&path)?;
    let t = Instant::now();
    drop(Store::open(&path, options(CENTRAL, NodeRole::Central)?)?);
    let compacted_open_ms = ms(t.elapsed());
    let records = final_status.store.records.max(1);
    Ok(Volume {
        catalog_items: (plan.drugs + plan.services) as u64,
        catalog_import_ms,
        loaded_records: loader.loaded,
        load_s: load.as_secs_f64(),
        stages,
        desk_writes_alone,
        desk_writes_during_sync: during,
        rss_under_load_mib,
        new_window,
        store_open_ms,
        repair_scan_ms,
        repair_scan_records,
        records,
        bytes_per_record: disk.allocated_bytes as f64 / records as f64,
        file_bytes_per_record: disk.file_bytes as f64 / records as f64,
        disk,
        backup_bytes_per_record: backup_disk.allocated_bytes as f64 / records as f64,
        backup_disk,
        backup_ms,
        compact_ms,
        compacted_bytes_per_record: compacted.allocated_bytes as f64 / records as f64,
        compacted_open_ms,
    })
}

/// Starts the new window and, while it syncs, writes at central's desk and samples central's
/// memory. Returns the window's figures, the desk's, and the highest RSS.
fn join_window(
    hospital: &mut Hospital,
    desk: &Client,
    plan: &Plan,
) -> anyhow::Result<(NewWindow, Summary, Option<f64>)> {
    let central_pid = hospital.pid(CENTRAL).context("central runs")?;
    let t = Instant::now();
    hospital.start_niced(NEW_WINDOW, plan.window_nice)?;
    let syncing = Arc::new(AtomicBool::new(true));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let peak = Arc::new(Mutex::new(None::<f64>));
    let writer = {
        let (desk, syncing, samples, peak) =
            (desk.clone(), syncing.clone(), samples.clone(), peak.clone());
        let most = plan.writes * 20;
        std::thread::spawn(move || -> anyhow::Result<()> {
            let mut n = 1_000_000u64;
            while syncing.load(Ordering::Relaxed) {
                let took = write_once(&desk, n)?;
                n += 1;
                if let Ok(mut s) = samples.lock()
                    && s.len() < most
                {
                    s.push(took);
                }
                if let (Ok(mut p), Some(rss)) = (peak.lock(), rss_mib(central_pid)) {
                    *p = Some(p.map_or(rss, |x: f64| x.max(rss)));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        })
    };
    let ready = hospital.wait_for("the new window's working set", READY_WITHIN, |h| {
        let s = h.status(NEW_WINDOW)?;
        Ok(s.working_set.as_ref().is_some_and(|w| w.ready) && s.in_sync)
    });
    let ready_ms = ms(t.elapsed());
    syncing.store(false, Ordering::Relaxed);
    let wrote = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the desk thread panicked"))?;
    ready?;
    wrote?;
    let window = hospital.status(NEW_WINDOW)?;
    let central = hospital.status(CENTRAL)?;
    let to_window = central.peers.iter().find(|p| p.name == NEW_WINDOW);
    let mut during = samples.lock().map(|s| s.clone()).unwrap_or_default();
    let elapsed = Duration::from_secs_f64(ready_ms / 1e3);
    let summary = Summary::new(1, &mut during, elapsed);
    let records_held = window.store.records;
    let peak = peak.lock().ok().and_then(|p| *p);
    Ok((
        NewWindow {
            ready_ms,
            records_held,
            records_per_s: records_held as f64 / (ready_ms / 1e3).max(1e-3),
            bytes_from_central: to_window.map_or(0, |p| p.bytes_sent),
            records_from_central: to_window.map_or(0, |p| p.records_sent),
        },
        summary,
        peak,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loaded_hospital_has_exactly_its_open_items() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(
            dir.path().join("s.redb"),
            options(CENTRAL, NodeRole::Central).expect("options"),
        )
        .expect("open");
        let who = loader().expect("operator");
        let now_ms = SystemClock.now_ms();
        let origin = Origin {
            node: NodeName::new(CENTRAL).expect("valid"),
            operator: who.name.clone(),
            episode: None,
        };
        store
            .import_catalog(&who, data::catalogs(50, 50))
            .expect("catalogs");
        open_items(&store, &origin, &who, 100, now_ms).expect("open items");
        let mut loader = Loader {
            origin,
            rng: Rng::new(7),
            who,
            patients: Vec::new(),
            patients_total: 300,
            patients_left: 300,
            day_left: 200,
            loaded: 0,
            now_ms,
            batch: 100,
        };
        loader.until(&store, 500).expect("load");
        assert!(
            loader.patients.windows(2).all(|w| w[0] < w[1]),
            "patients are loaded in the order they were registered"
        );
        let stats = store.stats().expect("stats");
        let conflicts = store.conflicts().expect("report");
        let kinds: std::collections::BTreeMap<String, usize> =
            conflicts.iter().fold(Default::default(), |mut m, c| {
                *m.entry(format!("{:?}", c.kind)).or_default() += 1;
                m
            });
        let shown: Vec<String> = conflicts
            .iter()
            .filter_map(|c| c.duplicate.as_ref())
            .map(|d| {
                format!(
                    "{:?} {:?}",
                    d.matched
                        .iter()
                        .map(|m| m.value.clone())
                        .collect::<Vec<_>>(),
                    d.patients
                        .iter()
                        .map(|p| (&p.patient_no, &p.name))
                        .collect::<Vec<_>>()
                )
            })
            .take(60)
            .collect();
        assert_eq!(stats.open_conflicts, 50, "{kinds:?} {shown:#?}");
        assert_eq!(
            stats
                .worklist_by_category
                .iter()
                .map(|(_, n)| n)
                .sum::<u64>(),
            100
        );
    }
}
