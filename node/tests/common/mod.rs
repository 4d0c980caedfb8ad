//! Shared helpers of the scenario tests: a local hospital of real `lifeline` daemons on
//! loopback (central, standby, three windows) with short failover thresholds, desks that
//! write through the HTTP API and keep what was acknowledged, background writers, checks that
//! records reached every node, and a UDP relay that can cut a link.
//!
//! The scenarios run one at a time (each holds [`serial`]): two hospitals of five debug
//! daemons at once on a 2-core machine would make heartbeats late and failovers spurious.

#![allow(
    dead_code,
    reason = "shared by test files that each use part of it; some fields are read only through Debug"
)]

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lifeline_core::{DeskRole, NodeRole};
use lifeline_node::api::admin::CatalogCsv;
use lifeline_node::api::status::StatusReport;
use lifeline_node::client::Client;
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::{Hospital, NodeSpec};
use serde_json::{Value, json};

pub const CENTRAL: &str = "central";
pub const STANDBY: &str = "standby";
pub const WINDOWS: [&str; 3] = ["W01", "W02", "W03"];
/// Every node of the hospital.
pub const ALL: [&str; 5] = [CENTRAL, STANDBY, "W01", "W02", "W03"];
/// Every node but central: the nodes that enter an episode when central goes.
pub const NOT_CENTRAL: [&str; 4] = [STANDBY, "W01", "W02", "W03"];
/// The windows with a registration desk: they write patients and visits.
pub const REGISTRATION: [&str; 2] = ["W01", "W02"];

/// Long enough for anything a loaded 2-core CI machine may take (45 s once ran out, for the
/// episode after the HIS stopped, with five daemons and PostgreSQL on a machine at load 7);
/// polled quickly, so it costs nothing when things work.
pub const PATIENCE: Duration = Duration::from_secs(90);
/// A desk's write must answer within this, whatever the network does. Very generous on
/// purpose: it only catches a write that hangs on the network (a dial waits up to 3 s per
/// attempt, forever in total); how fast writes are is measured in bench/, not here, and CI
/// machines are shared and noisy.
pub const WRITE_BOUND: Duration = Duration::from_secs(15);

/// Failover in seconds instead of minutes.
pub fn thresholds() -> Thresholds {
    Thresholds {
        heartbeat: Duration::from_millis(200),
        peer_timeout: Duration::from_secs(1),
        emergency_after: Duration::from_secs(2),
        low_water: 50,
        lease_size: 1000,
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// One scenario at a time (a failed scenario does not block the next).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The hospital of the scenarios. With `mesh`, the windows also dial each other.
pub fn specs(mesh: bool) -> Vec<NodeSpec> {
    let window_peers = |me: &str| -> Vec<&'static str> {
        let mut peers = vec![CENTRAL, STANDBY];
        if mesh {
            peers.extend(WINDOWS.iter().copied().filter(|w| *w != me));
        }
        peers
    };
    vec![
        NodeSpec::new(CENTRAL, NodeRole::Central, &[], &[]),
        NodeSpec::new(STANDBY, NodeRole::Standby, &[], &[CENTRAL]),
        NodeSpec::new(
            "W01",
            NodeRole::Window,
            &[DeskRole::Registration, DeskRole::Triage],
            &window_peers("W01"),
        ),
        NodeSpec::new(
            "W02",
            NodeRole::Window,
            &[DeskRole::Cashier, DeskRole::Registration],
            &window_peers("W02"),
        ),
        NodeSpec::new(
            "W03",
            NodeRole::Window,
            &[DeskRole::Pharmacy, DeskRole::Doctor],
            &window_peers("W03"),
        ),
    ]
}

/// A record a desk was told is saved (`2xx`, `"durable": true`).
#[derive(Debug, Clone)]
pub struct Acked {
    pub kind: Kind,
    pub id: String,
    /// The node that wrote it.
    pub node: String,
    /// Visits: the registration number on the slip.
    pub registration_no: Option<String>,
    /// The emergency episode the record was created in.
    pub episode: Option<String>,
    pub at: Instant,
    pub latency: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Patient,
    Visit,
    Prescription,
}

impl Kind {
    pub fn path(self, id: &str) -> String {
        match self {
            Kind::Patient => format!("/patients/{id}"),
            Kind::Visit => format!("/visits/{id}"),
            Kind::Prescription => format!("/prescriptions/{id}"),
        }
    }
}

/// Per node: how many records are missing, and the first of them.
type Missing<'a> = (usize, Option<&'a (Kind, &'a str)>);

/// A write that did not get a durable answer.
#[derive(Debug, Clone)]
pub struct Failed {
    pub node: String,
    pub what: &'static str,
    pub error: String,
    pub at: Instant,
    pub latency: Duration,
}

/// A desk of one node, detached from the [`Hospital`] so it can write from another thread
/// while the hospital's nodes are killed and started.
#[derive(Debug, Clone)]
pub struct Desk {
    pub node: String,
    client: Client,
}

impl Desk {
    /// The desk's API client, for reads the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn post(&self, kind: Kind, path: &str, body: &Value) -> Result<Acked, Failed> {
        let start = Instant::now();
        let fail = |error: String| Failed {
            node: self.node.clone(),
            what: path_name(kind),
            error,
            at: start,
            latency: start.elapsed(),
        };
        let answer: Value = self
            .client
            .post(path, body)
            .map_err(|e| fail(format!("{e:#}")))?;
        let latency = start.elapsed();
        if answer["durable"] != json!(true) {
            return Err(fail(format!("answer without \"durable\": true: {answer}")));
        }
        let value = &answer["value"];
        let id = value["header"]["id"]
            .as_str()
            .ok_or_else(|| fail(format!("answer without value.header.id: {answer}")))?;
        Ok(Acked {
            kind,
            id: id.to_owned(),
            node: self.node.clone(),
            registration_no: value["registration_no"].as_str().map(str::to_owned),
            episode: value["header"]["episode"].as_str().map(str::to_owned),
            at: start,
            latency,
        })
    }

    /// A new patient at the registration desk.
    pub fn write_patient(&self, n: u64) -> Result<Acked, Failed> {
        let body = json!({
            "name": format!("患者 {} {n}", self.node),
            "sex": if n.is_multiple_of(2) { "female" } else { "male" },
            "birth_date": format!("2019-{:02}-{:02}", n % 12 + 1, n % 28 + 1),
            "phone": format!("138{:08}", n),
            "insurance": "resident",
        });
        self.post(Kind::Patient, "/patients", &body)
    }

    /// A visit for that patient, registered at the same desk.
    pub fn register_visit(&self, patient: &str) -> Result<Acked, Failed> {
        let body = json!({"patient": patient, "department": "PED-GEN"});
        self.post(Kind::Visit, "/visits", &body)
    }

    /// A doctor's prescription for a visit.
    pub fn prescribe(&self, visit: &str) -> Result<Acked, Failed> {
        let body = json!({
            "visit": visit,
            "items": [{"drug_code": "DRG-0001", "quantity": 2, "dosage": "0.125g tid"}],
        });
        self.post(Kind::Prescription, "/prescriptions", &body)
    }
}

fn path_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Patient => "POST /patients",
        Kind::Visit => "POST /visits",
        Kind::Prescription => "POST /prescriptions",
    }
}

/// What a writer (or a test) was told.
#[derive(Debug, Default, Clone)]
pub struct WriteLog {
    pub acked: Vec<Acked>,
    pub failed: Vec<Failed>,
}

impl WriteLog {
    pub fn extend(&mut self, other: WriteLog) {
        self.acked.extend(other.acked);
        self.failed.extend(other.failed);
    }

    pub fn visits(&self) -> impl Iterator<Item = &Acked> {
        self.acked.iter().filter(|a| a.kind == Kind::Visit)
    }

    /// Panics naming the failures, if any.
    pub fn assert_no_failures(&self, when: &str) {
        assert!(
            self.failed.is_empty(),
            "{} write(s) failed {when}; the first: {:?}",
            self.failed.len(),
            self.failed.first()
        );
    }

    /// Every write answered within [`WRITE_BOUND`].
    pub fn assert_latency_bounded(&self, since: Instant) {
        let slowest = self
            .acked
            .iter()
            .filter(|a| a.at >= since)
            .map(|a| (a.latency, a.kind, &a.node))
            .max();
        if let Some((latency, kind, node)) = slowest {
            assert!(
                latency <= WRITE_BOUND,
                "a desk waited {latency:?} for a {kind:?} on {node}: writes must not wait on the network"
            );
        }
        for f in self.failed.iter().filter(|f| f.at >= since) {
            assert!(
                f.latency <= WRITE_BOUND,
                "a failed write took {:?}: {f:?}",
                f.latency
            );
        }
    }
}

/// Writes a patient and a visit for it, again and again, at one registration desk, until
/// stopped.
#[derive(Debug)]
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<WriteLog>>,
}

impl Writer {
    pub fn start(desk: Desk, pace: Duration, first: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut log = WriteLog::default();
            let mut n = first;
            while !flag.load(Ordering::Relaxed) {
                n += 1;
                match desk.write_patient(n) {
                    Ok(patient) => {
                        let id = patient.id.clone();
                        log.acked.push(patient);
                        match desk.register_visit(&id) {
                            Ok(visit) => log.acked.push(visit),
                            Err(f) => log.failed.push(f),
                        }
                    }
                    Err(f) => log.failed.push(f),
                }
                std::thread::sleep(pace);
            }
            log
        });
        Writer {
            stop,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) -> WriteLog {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .map(|h| h.join().expect("the writer thread panicked"))
            .unwrap_or_default()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A hospital under test; dereferences to the [`Hospital`]. On a failed test it prints each
/// node's log tail and keeps the directory (always, with `LIFELINE_KEEP_TEST_DIRS` set).
#[derive(Debug)]
pub struct Scenario {
    hospital: Hospital,
    dir: Option<tempfile::TempDir>,
    _serial: MutexGuard<'static, ()>,
    pub started: Instant,
}

impl Deref for Scenario {
    type Target = Hospital;
    fn deref(&self) -> &Hospital {
        &self.hospital
    }
}

impl DerefMut for Scenario {
    fn deref_mut(&mut self) -> &mut Hospital {
        &mut self.hospital
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            if std::env::var_os("LIFELINE_KEEP_TEST_DIRS").is_some()
                && let Some(dir) = self.dir.take()
            {
                eprintln!(
                    "---- the hospital's files are kept in {} ----",
                    dir.keep().display()
                );
            }
            return;
        }
        for name in self.hospital.names() {
            let path = self.hospital.dir().join(format!("{name}.log"));
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("---- {name}.log (last {} lines) ----", tail.len());
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        if let Some(dir) = self.dir.take() {
            let kept: PathBuf = dir.keep();
            eprintln!(
                "---- the hospital's files are kept in {} ----",
                kept.display()
            );
        }
    }
}

impl Scenario {
    /// Creates the hospital (nothing started yet).
    pub fn create(mesh: bool) -> Scenario {
        Scenario::create_with(mesh, thresholds())
    }

    /// Creates the hospital with other thresholds (nothing started yet).
    pub fn create_with(mesh: bool, thresholds: Thresholds) -> Scenario {
        let serial = serial();
        let dir = tempfile::Builder::new()
            .prefix("lifeline-failover-")
            .tempdir()
            .expect("temporary directory");
        let hospital = Hospital::create(
            std::path::Path::new(env!("CARGO_BIN_EXE_lifeline")),
            dir.path(),
            &specs(mesh),
            thresholds,
        )
        .expect("create the hospital");
        Scenario {
            hospital,
            dir: Some(dir),
            _serial: serial,
            started: Instant::now(),
        }
    }

    /// Starts every node, imports the catalogs at central and waits until every node has them
    /// and every window holds the number ranges its desks need.
    pub fn open(&mut self) {
        self.hospital.start_all().expect("start the hospital");
        let csv = CatalogCsv {
            drugs_csv: Some(include_str!("../../../data/drugs.csv").to_owned()),
            services_csv: Some(include_str!("../../../data/services.csv").to_owned()),
            departments_csv: Some(include_str!("../../../data/departments.csv").to_owned()),
        };
        let _: Value = self
            .admin(CENTRAL)
            .expect("central's admin client")
            .post("/admin/catalog/import", &csv)
            .expect("import the catalogs at central");
        self.wait("the catalogs on every node", |h| {
            for node in ALL {
                let admin = h.admin(node)?;
                let drugs = admin.get::<Value>("/catalogs/drugs").is_ok();
                let services = admin.get::<Value>("/catalogs/services").is_ok();
                if !(drugs && services) {
                    return Ok(false);
                }
            }
            Ok(true)
        });
        self.wait(
            "number ranges on every window that hands out numbers",
            |h| {
                for node in WINDOWS {
                    let status = h.status(node)?;
                    let has = |series: &str| {
                        status
                            .ranges
                            .iter()
                            .any(|r| r.series.name() == series && r.remaining > 0)
                    };
                    let needs_registration = status.desks.contains(&DeskRole::Registration);
                    let needs_invoice = status.desks.contains(&DeskRole::Cashier);
                    if (needs_registration && !has("emergency_registration"))
                        || (needs_invoice && !has("invoice"))
                    {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        );
        self.wait_mode(&WINDOWS, "normal", Some(CENTRAL));
    }

    /// Notes a step of the scenario with the time since it began (shown when a test fails,
    /// or with `--nocapture`).
    pub fn step(&self, what: &str) {
        eprintln!("[{:>6.2} s] {what}", self.started.elapsed().as_secs_f64());
    }

    fn waited(&self, what: &str, start: Instant, ok: bool) {
        let outcome = if ok { "reached" } else { "NOT reached" };
        self.step(&format!(
            "{outcome} in {:.2} s: {what}",
            start.elapsed().as_secs_f64()
        ));
    }

    /// Waits (up to [`PATIENCE`]) until `f` holds; fails the test naming `what`.
    pub fn wait(&self, what: &str, f: impl FnMut(&Hospital) -> anyhow::Result<bool>) {
        let start = Instant::now();
        let result = self.hospital.wait_for(what, PATIENCE, f);
        self.waited(what, start, result.is_ok());
        if let Err(e) = result {
            panic!(
                "{e:#} (after {:?}, {:?} into the scenario)",
                start.elapsed(),
                self.started.elapsed()
            );
        }
    }

    /// A desk of a node (an operator is added on first use).
    pub fn desk(&self, node: &str, desk: DeskRole) -> Desk {
        Desk {
            node: node.to_owned(),
            client: self.hospital.desk(node, desk).expect("a desk operator"),
        }
    }

    /// Writes a patient at a registration desk, and returns its id after a durable answer.
    pub fn write_patient(&self, node: &str, log: &mut WriteLog) -> String {
        let n = log.acked.len() as u64 + 1_000_000;
        let acked = self
            .desk(node, DeskRole::Registration)
            .write_patient(n)
            .unwrap_or_else(|f| panic!("writing a patient on {node} failed: {f:?}"));
        let id = acked.id.clone();
        log.acked.push(acked);
        id
    }

    /// Writes a patient and a visit for it at each registration window, `rounds` times.
    pub fn write_rounds(&self, rounds: u64, log: &mut WriteLog) {
        for _ in 0..rounds {
            for node in REGISTRATION {
                let patient = self.write_patient(node, log);
                let visit = self
                    .desk(node, DeskRole::Registration)
                    .register_visit(&patient)
                    .unwrap_or_else(|f| panic!("registering a visit on {node} failed: {f:?}"));
                log.acked.push(visit);
            }
        }
    }

    /// Starts a background writer at each registration window.
    pub fn writers(&self, pace: Duration) -> Vec<Writer> {
        REGISTRATION
            .iter()
            .enumerate()
            .map(|(i, node)| {
                Writer::start(
                    self.desk(node, DeskRole::Registration),
                    pace,
                    (i as u64 + 1) * 100_000,
                )
            })
            .collect()
    }

    pub fn status_of(&self, node: &str) -> StatusReport {
        self.hospital
            .status(node)
            .unwrap_or_else(|e| panic!("status of {node}: {e:#}"))
    }

    /// Waits until every node in `nodes` is in `mode` with `primary` acting as primary.
    pub fn wait_mode(&self, nodes: &[&str], mode: &str, primary: Option<&str>) {
        let what = format!("{nodes:?} in mode {mode} with primary {primary:?}");
        self.wait(&what, |h| {
            for node in nodes {
                let s = h.status(node)?;
                if s.mode.mode != mode || s.mode.primary.as_deref() != primary {
                    return Ok(false);
                }
            }
            Ok(true)
        });
    }

    /// Waits until every node in `nodes` is in an emergency episode; returns their episodes.
    pub fn wait_episode(&self, nodes: &[&str]) -> BTreeMap<String, String> {
        let mut episodes = BTreeMap::new();
        self.wait(&format!("an emergency episode on {nodes:?}"), |h| {
            episodes.clear();
            for node in nodes {
                match h.status(node)?.episode {
                    Some(e) => episodes.insert((*node).to_owned(), e.id),
                    None => return Ok(false),
                };
            }
            Ok(true)
        });
        episodes
    }

    /// Waits until the nodes have left their episode (the outage over and everything written
    /// in it acknowledged by central).
    pub fn wait_episode_left(&self, nodes: &[&str]) {
        self.wait(
            &format!("{nodes:?} out of the episode with nothing unreconciled"),
            |h| {
                for node in nodes {
                    let s = h.status(node)?;
                    if s.episode.is_some() || s.reconciling.is_some() || s.unreconciled != 0 {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        );
    }

    /// Waits until every acknowledged record can be read on every node in `nodes`.
    pub fn wait_everywhere(&self, nodes: &[&str], log: &WriteLog) {
        let mut pending: HashMap<&str, BTreeSet<(Kind, &str)>> = nodes
            .iter()
            .map(|n| {
                (
                    *n,
                    log.acked.iter().map(|a| (a.kind, a.id.as_str())).collect(),
                )
            })
            .collect();
        let what = format!("{} acknowledged records on {nodes:?}", log.acked.len());
        let start = Instant::now();
        let result = self.hospital.wait_for(&what, PATIENCE, |h| {
            for (node, missing) in &mut pending {
                let admin = h.admin(node)?;
                missing.retain(|(kind, id)| admin.get::<Value>(&kind.path(id)).is_err());
            }
            Ok(pending.values().all(BTreeSet::is_empty))
        });
        self.waited(&what, start, result.is_ok());
        if let Err(e) = result {
            let summary: BTreeMap<&str, Missing> = pending
                .iter()
                .map(|(n, m)| (*n, (m.len(), m.first())))
                .collect();
            panic!(
                "{e:#} after {:?}: missing (count, first) per node: {summary:?}",
                start.elapsed()
            );
        }
    }

    /// Waits until the nodes hold the same number of records and no peer comparison
    /// says otherwise; returns the count.
    pub fn wait_same_records(&self, nodes: &[&str]) -> u64 {
        let mut seen = BTreeMap::new();
        let start = Instant::now();
        let result = self
            .hospital
            .wait_for("the same records on every node", PATIENCE, |h| {
                seen.clear();
                for node in nodes {
                    let s = h.status(node)?;
                    let busy = s
                        .peers
                        .iter()
                        .any(|p| p.connected && (p.to_send > 0 || p.to_receive > 0));
                    seen.insert((*node).to_owned(), (s.store.records, busy));
                }
                let counts: BTreeSet<u64> = seen.values().map(|(n, _)| *n).collect();
                Ok(counts.len() == 1 && seen.values().all(|(_, busy)| !busy))
            });
        self.waited("the same records on every node", start, result.is_ok());
        if let Err(e) = result {
            panic!(
                "{e:#} after {:?}: (records, replicating) per node: {seen:?}",
                start.elapsed()
            );
        }
        seen.values().map(|(n, _)| *n).next().unwrap_or(0)
    }

    /// The scenario's last words: what happened, records refused on any link (expected
    /// none; shown rather than asserted), and how long it took.
    pub fn summary(&self, what: &str) {
        self.step(&format!(
            "done: {what}; refused (node, peer, count): {:?}",
            self.refusals(&ALL)
        ));
    }

    /// Records refused by a node from a peer, as (node, peer, count), for every link with
    /// refusals.
    pub fn refusals(&self, nodes: &[&str]) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for node in nodes {
            for p in self.status_of(node).peers {
                if p.rejected > 0 {
                    out.push(((*node).to_owned(), p.name, p.rejected));
                }
            }
        }
        out
    }

    /// The links among `nodes` whose last digest comparison did not say "in sync" (false,
    /// or not compared yet), as (node, peer, in_sync).
    pub fn digests_not_agreeing(
        &self,
        nodes: &[&str],
    ) -> anyhow::Result<Vec<(String, String, Option<bool>)>> {
        let mut out = Vec::new();
        for node in nodes {
            for p in self.hospital.status(node)?.peers {
                if p.connected && nodes.contains(&p.name.as_str()) && p.in_sync != Some(true) {
                    out.push(((*node).to_owned(), p.name, p.in_sync));
                }
            }
        }
        Ok(out)
    }

    /// Waits until the digests of every connected pair among `nodes` have been compared and
    /// agree (digests are compared every 10 s once a link is caught up).
    pub fn wait_digests_agree(&self, nodes: &[&str]) {
        let mut last = Vec::new();
        let start = Instant::now();
        let result = self.hospital.wait_for("digests to agree", PATIENCE, |_| {
            last = self.digests_not_agreeing(nodes)?;
            Ok(last.is_empty())
        });
        self.waited("digests to agree", start, result.is_ok());
        if let Err(e) = result {
            panic!("{e:#}: not in sync yet (node, peer, in_sync): {last:?}");
        }
    }

    /// The QUIC address a node listens on.
    pub fn quic_addr(&self, node: &str) -> SocketAddr {
        self.hospital
            .config(node)
            .expect("node config")
            .network
            .listen
    }
}

/// A UDP relay on 127.0.0.1 between clients and one upstream address (e.g. the windows and
/// central). While partitioned it discards every datagram, both ways.
#[derive(Debug)]
pub struct UdpProxy {
    addr: SocketAddr,
    partitioned: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

const PROXY_POLL: Duration = Duration::from_millis(50);

impl UdpProxy {
    pub fn start(upstream: SocketAddr) -> anyhow::Result<UdpProxy> {
        let listen = UdpSocket::bind("127.0.0.1:0").context("bind the proxy")?;
        listen.set_read_timeout(Some(PROXY_POLL))?;
        let addr = listen.local_addr()?;
        let partitioned = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let main = {
            let (partitioned, stop, threads) = (partitioned.clone(), stop.clone(), threads.clone());
            std::thread::spawn(move || {
                if let Err(e) = relay(&listen, upstream, &partitioned, &stop, &threads) {
                    eprintln!("udp proxy stopped: {e:#}");
                }
            })
        };
        threads
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push(main);
        Ok(UdpProxy {
            addr,
            partitioned,
            stop,
            threads,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops all traffic, both ways, from now on.
    pub fn partition(&self) {
        self.partitioned.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.partitioned.store(false, Ordering::SeqCst);
    }
}

fn relay(
    listen: &UdpSocket,
    upstream: SocketAddr,
    partitioned: &Arc<AtomicBool>,
    stop: &Arc<AtomicBool>,
    threads: &Arc<Mutex<Vec<JoinHandle<()>>>>,
) -> anyhow::Result<()> {
    let mut sessions: HashMap<SocketAddr, UdpSocket> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let (len, client) = match listen.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            // A port-unreachable report from an earlier send: not fatal for a relay.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => bail!("proxy receive: {e}"),
        };
        if partitioned.load(Ordering::SeqCst) {
            continue;
        }
        let up = match sessions.entry(client) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let (up, handle) = open_session(listen, upstream, client, partitioned, stop)?;
                threads
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push(handle);
                e.insert(up)
            }
        };
        // Upstream down (ECONNREFUSED) is the peer's problem, not the relay's.
        let _ = up.send(&buf[..len]);
    }
    Ok(())
}

/// A client's own socket towards the upstream, and the thread relaying the answers back.
fn open_session(
    listen: &UdpSocket,
    upstream: SocketAddr,
    client: SocketAddr,
    partitioned: &Arc<AtomicBool>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<(UdpSocket, JoinHandle<()>)> {
    let up = UdpSocket::bind("127.0.0.1:0")?;
    up.connect(upstream)?;
    up.set_read_timeout(Some(PROXY_POLL))?;
    let back = up.try_clone()?;
    let to_client = listen.try_clone()?;
    let (partitioned, stop) = (partitioned.clone(), stop.clone());
    let handle = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            match back.recv(&mut buf) {
                Ok(len) => {
                    if !partitioned.load(Ordering::SeqCst) {
                        let _ = to_client.send_to(&buf[..len], client);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    });
    Ok((up, handle))
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let handles: Vec<JoinHandle<()>> = match self.threads.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for h in handles {
            let _ = h.join();
        }
    }
}
