//! When the hospital is quiescent, and the end of a run: every fault healed, the hospital back
//! to normal and quiescent, every acknowledged write read back from every node, the stores'
//! own table checks, then the daemons stopped and every store put through the restore drill.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lifeline_core::store::VerifyReport;
use lifeline_node::api::status::StatusReport;
use lifeline_node::client::{Client, ClientError};
use lifeline_node::daemon::table_check::TableCheck;
use lifeline_node::error::chain;
use lifeline_node::hospital::Hospital;
use serde::Serialize;

use super::ledger::{Acked, Ledger};
use super::{Chaos, FINAL_CONVERGE_WITHIN};
use crate::failover::{CENTRAL, STANDBY};

/// How often the nodes' status is read while waiting.
const POLL: Duration = Duration::from_millis(100);
/// Longest wait for every node to be back to normal, out of any episode, at the end.
const SETTLE_WITHIN: Duration = Duration::from_secs(120);
/// Longest wait for a node's table check to finish.
const TABLE_CHECK_WITHIN: Duration = Duration::from_secs(60);
/// Longest a `lifeline backup` or `lifeline verify` of one node may take.
const COMMAND_WITHIN: Duration = Duration::from_secs(180);
/// Tries of a read that got no answer before it counts as unreadable.
const READ_TRIES: usize = 3;
/// Longest the reading back of every acknowledged write from one node may take; what is not
/// read by then counts as unreadable.
const READ_BACK_WITHIN: Duration = Duration::from_secs(900);
/// Lost writes listed in the report; more are only counted.
const MAX_LISTED: usize = 100;

/// Waits until the hospital is quiescent (see [`why_not_quiescent`]); how long that took, in
/// ms, or an error saying what was still moving at the deadline.
pub(super) fn wait_quiescent(hospital: &Hospital, within: Duration) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut why = String::from("no status read yet");
    while start.elapsed() < within {
        match why_not_quiescent(hospital) {
            Ok(None) => return Ok(start.elapsed().as_secs_f64() * 1e3),
            Ok(Some(reason)) => why = reason,
            Err(e) => why = chain(&*e),
        }
        std::thread::sleep(POLL);
    }
    bail!("{why}")
}

/// Quiescent: every window connected to central and the standby and the standby to central,
/// no connected peer with anything to send or receive, and every node holding as many records
/// as every other. `None` when it is; else what is not.
fn why_not_quiescent(hospital: &Hospital) -> anyhow::Result<Option<String>> {
    let mut held = BTreeMap::new();
    for name in hospital.names() {
        let s = hospital.status(&name)?;
        let needs: &[&str] = match name.as_str() {
            CENTRAL => &[],
            STANDBY => &[CENTRAL],
            _ => &[CENTRAL, STANDBY],
        };
        for peer in needs {
            if !s.peers.iter().any(|p| p.name == *peer && p.connected) {
                return Ok(Some(format!("{name} is not connected to {peer}")));
            }
        }
        if let Some(p) = s
            .peers
            .iter()
            .find(|p| p.connected && (p.to_send > 0 || p.to_receive > 0))
        {
            return Ok(Some(format!(
                "{name} has {} record(s) to send to {} and {} to receive",
                p.to_send, p.name, p.to_receive
            )));
        }
        held.insert(name, s.store.records);
    }
    let counts: BTreeSet<u64> = held.values().copied().collect();
    if counts.len() > 1 {
        let each: Vec<String> = held.iter().map(|(n, c)| format!("{n} {c}")).collect();
        return Ok(Some(format!("records held: {}", each.join(", "))));
    }
    Ok(None)
}

/// A node's store after the run.
#[derive(Debug, Clone, Serialize)]
pub struct NodeEnd {
    pub node: String,
    /// Its table check (`lifeline status`) once the last restart's check finished.
    pub table_check: String,
    /// Acknowledged writes read back from its API / not held / unreadable.
    pub writes_held: u64,
    pub writes_missing: u64,
    pub writes_unreadable: u64,
    /// Records its peers' changes that it refused, by reason.
    pub refused_from_peers: BTreeMap<String, u64>,
    /// The restore drill of a backup of its store, taken with the daemon stopped.
    pub verify_passed: bool,
    pub verify_records: u64,
    pub verify_audit_entries: u64,
    pub verify_problems: Vec<String>,
}

/// A lost write: acknowledged, and not held by a node at the end.
#[derive(Debug, Clone, Serialize)]
pub struct Lost {
    pub node: String,
    pub kind: &'static str,
    pub id: String,
    pub window: String,
    pub cycle: usize,
}

/// What the end of the run found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndReport {
    /// From the heal until every node was normal, out of any episode, with nothing
    /// unreconciled (`None`: not within the deadline, a note).
    pub settled_ms: Option<f64>,
    /// From the heal until the hospital was quiescent (`None`: not within the deadline, a
    /// failure).
    pub converge_ms: Option<f64>,
    /// Emergency episodes central holds at the end: the outages the faults caused (a node
    /// away from central longer than the failover thresholds).
    pub episodes: Option<u64>,
    pub nodes: Vec<NodeEnd>,
    /// Lost writes, the first [`MAX_LISTED`] of them.
    pub lost: Vec<Lost>,
    pub lost_count: u64,
    pub failures: Vec<String>,
    /// What is worth reading but does not fail the run.
    pub notes: Vec<String>,
}

/// The end of a run. Never an error: what could not be checked is a failure in the report.
pub(super) fn finish(chaos: &mut Chaos, ledger: &Ledger, bin: &Path, dir: &Path) -> EndReport {
    let mut end = EndReport::default();
    for relay in chaos.relays.values() {
        relay.restore();
    }
    let names = chaos.hospital.names();
    for name in &names {
        if !chaos.hospital.is_running(name)
            && let Err(e) = chaos.hospital.start(name)
        {
            end.failures.push(format!(
                "end: {name} did not start for the final checks: {}",
                chain(&*e)
            ));
        }
    }
    let healed = Instant::now();
    let hospital = &chaos.hospital;
    match wait_settled(hospital) {
        Ok(()) => end.settled_ms = Some(healed.elapsed().as_secs_f64() * 1e3),
        Err(e) => end.notes.push(format!(
            "end: not every node was back to normal and out of the episode within \
             {SETTLE_WITHIN:?}: {}",
            chain(&*e)
        )),
    }
    match wait_quiescent(hospital, FINAL_CONVERGE_WITHIN) {
        Ok(_) => end.converge_ms = Some(healed.elapsed().as_secs_f64() * 1e3),
        Err(e) => end.failures.push(format!(
            "end: not quiescent within {FINAL_CONVERGE_WITHIN:?} of the heal: {}",
            chain(&*e)
        )),
    }
    end.episodes = hospital
        .admin(CENTRAL)
        .and_then(|c| c.get::<Vec<serde_json::Value>>("/admin/episodes"))
        .map(|episodes| episodes.len() as u64)
        .ok();
    let acked = ledger.all();
    let mut nodes: Vec<NodeEnd> = std::thread::scope(|s| {
        let threads: Vec<_> = names
            .iter()
            .map(|name| {
                let acked = &acked;
                s.spawn(move || read_back(hospital, name, acked))
            })
            .collect();
        threads
            .into_iter()
            .zip(&names)
            .map(|(t, name)| {
                t.join().unwrap_or_else(|_| {
                    let mut n = NodeEnd::new(name);
                    n.table_check = "the reading thread panicked".into();
                    (n, Vec::new())
                })
            })
            .map(|(node, lost)| {
                end.lost_count += lost.len() as u64;
                end.lost.extend(
                    lost.into_iter()
                        .take(MAX_LISTED - end.lost.len().min(MAX_LISTED)),
                );
                node
            })
            .collect()
    });
    for n in &nodes {
        if n.writes_missing > 0 {
            end.failures.push(format!(
                "end: {} does not hold {} acknowledged write(s)",
                n.node, n.writes_missing
            ));
        }
        if n.writes_unreadable > 0 {
            end.failures.push(format!(
                "end: {} did not answer for {} acknowledged write(s)",
                n.node, n.writes_unreadable
            ));
        }
        if n.table_check != "passed" {
            end.failures
                .push(format!("end: {}'s table check: {}", n.node, n.table_check));
        }
        if !n.refused_from_peers.is_empty() {
            end.notes.push(format!(
                "{} refused records from its peers: {:?}",
                n.node, n.refused_from_peers
            ));
        }
    }
    for name in &names {
        if let Err(e) = chaos.hospital.stop(name) {
            end.failures
                .push(format!("end: {name} did not stop cleanly: {}", chain(&*e)));
        }
    }
    for node in &mut nodes {
        if let Err(e) = verify_store(&chaos.hospital, bin, dir, node) {
            node.verify_problems.push(chain(&*e));
        }
        if !node.verify_passed {
            end.failures.push(format!(
                "end: {}'s store does not verify: {}",
                node.node,
                node.verify_problems.join("; ")
            ));
        }
    }
    for name in &names {
        let log = chaos.hospital.dir().join(format!("{name}.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let taken = text
            .lines()
            .filter(|l| l.contains(lifeline_core::store::COPIED_BACK_LOG))
            .count();
        if taken > 0 {
            end.failures.push(format!(
                "end: {name}'s store was taken for a backup copied back by hand {taken} time(s) after a kill (its mark ahead of it)"
            ));
        }
    }
    end.nodes = nodes;
    end
}

/// Waits until every node is normal, out of any episode, with nothing unreconciled.
fn wait_settled(hospital: &Hospital) -> anyhow::Result<()> {
    hospital.wait_for(
        "every node normal, out of any episode, nothing unreconciled",
        SETTLE_WITHIN,
        |h| {
            for name in h.names() {
                let s = h.status(&name)?;
                if s.mode.mode != "normal" || s.episode.is_some() || s.unreconciled > 0 {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
}

impl NodeEnd {
    fn new(node: &str) -> NodeEnd {
        NodeEnd {
            node: node.to_owned(),
            table_check: String::new(),
            writes_held: 0,
            writes_missing: 0,
            writes_unreadable: 0,
            refused_from_peers: BTreeMap::new(),
            verify_passed: false,
            verify_records: 0,
            verify_audit_entries: 0,
            verify_problems: Vec::new(),
        }
    }
}

/// One node's table check (waiting for it to finish), what it refused from its peers, and
/// every acknowledged write read back from its API; the writes it does not hold.
fn read_back(hospital: &Hospital, name: &str, acked: &[Acked]) -> (NodeEnd, Vec<Lost>) {
    let mut node = NodeEnd::new(name);
    let mut lost = Vec::new();
    let client = match hospital.admin(name) {
        Ok(c) => c,
        Err(e) => {
            node.table_check = format!("no API: {}", chain(&*e));
            node.writes_unreadable = acked.len() as u64;
            return (node, lost);
        }
    };
    let deadline = Instant::now() + TABLE_CHECK_WITHIN;
    node.table_check = loop {
        match client.get::<StatusReport>("/admin/status") {
            Ok(s) => {
                for p in &s.peers {
                    for (reason, n) in &p.refused {
                        *node.refused_from_peers.entry(reason.clone()).or_default() += n;
                    }
                }
                match s.store.check {
                    TableCheck::Passed { .. } => break "passed".to_owned(),
                    TableCheck::Damaged { error, .. } => break format!("damaged: {error}"),
                    TableCheck::NotRun => break "not run".to_owned(),
                    TableCheck::Running { .. } if Instant::now() < deadline => {}
                    TableCheck::Running { .. } => {
                        break format!("still running after {TABLE_CHECK_WITHIN:?}");
                    }
                }
            }
            Err(e) if Instant::now() >= deadline => break format!("no status: {}", chain(&*e)),
            Err(_) => {}
        }
        std::thread::sleep(POLL);
    };
    let deadline = Instant::now() + READ_BACK_WITHIN;
    for a in acked {
        if Instant::now() > deadline {
            node.writes_unreadable += 1;
            continue;
        }
        match read_one(&client, &a.kind.path(&a.id)) {
            Held::Yes => node.writes_held += 1,
            Held::No => {
                node.writes_missing += 1;
                lost.push(Lost {
                    node: name.to_owned(),
                    kind: a.kind.name(),
                    id: a.id.clone(),
                    window: a.window.clone(),
                    cycle: a.cycle,
                });
            }
            Held::Unknown => node.writes_unreadable += 1,
        }
    }
    (node, lost)
}

enum Held {
    Yes,
    No,
    /// No answer after [`READ_TRIES`] tries.
    Unknown,
}

/// Whether the node holds the record at `path`: a success, or a refusal "not found".
fn read_one(client: &Client, path: &str) -> Held {
    for _ in 0..READ_TRIES {
        match client.get::<serde_json::Value>(path) {
            Ok(_) => return Held::Yes,
            Err(e) => match e.downcast_ref::<ClientError>() {
                Some(ClientError::Refused { status, .. }) if status.as_u16() == 404 => {
                    return Held::No;
                }
                _ => std::thread::sleep(POLL),
            },
        }
    }
    Held::Unknown
}

/// Backs the node's store up with its daemon stopped and puts the backup through the restore
/// drill (`lifeline backup`, `lifeline verify --json`), into `node`.
fn verify_store(
    hospital: &Hospital,
    bin: &Path,
    dir: &Path,
    node: &mut NodeEnd,
) -> anyhow::Result<()> {
    let config = hospital.config_path(&node.node)?;
    let work = dir.join("verify");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let backup = work.join(format!("{}.redb", node.node));
    let (status, _, stderr) = run_bounded(
        Command::new(bin)
            .args(["--lang", "en", "backup", "-c"])
            .arg(&config)
            .arg("--out")
            .arg(&backup),
        &work,
    )?;
    if !status.success() {
        bail!("lifeline backup failed ({status}): {}", stderr.trim());
    }
    let (status, stdout, stderr) = run_bounded(
        Command::new(bin)
            .args(["--lang", "en", "verify"])
            .arg(&backup)
            .args(["--json", "--operator", "chaos", "--scratch"])
            .arg(&work)
            .arg("-c")
            .arg(&config),
        &work,
    )?;
    let report: VerifyReport = serde_json::from_str(&stdout).with_context(|| {
        format!(
            "lifeline verify ({status}) printed no report: {}",
            stderr.trim()
        )
    })?;
    node.verify_passed = report.passed() && status.success();
    node.verify_records = report.records;
    node.verify_audit_entries = report.audit_entries;
    node.verify_problems = report.problems;
    if report.more_problems > 0 {
        node.verify_problems
            .push(format!("and {} more problems", report.more_problems));
    }
    if !status.success() && node.verify_problems.is_empty() {
        node.verify_problems.push(format!(
            "lifeline verify failed ({status}): {}",
            stderr.trim()
        ));
    }
    let _ = std::fs::remove_file(&backup);
    Ok(())
}

/// A child process killed when dropped, so that none outlives the tool.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Runs `command` to the end within [`COMMAND_WITHIN`] (killed after that), its output in
/// files under `dir`: its exit status, stdout and stderr.
fn run_bounded(command: &mut Command, dir: &Path) -> anyhow::Result<(ExitStatus, String, String)> {
    let out = tempfile::NamedTempFile::new_in(dir)?;
    let err = tempfile::NamedTempFile::new_in(dir)?;
    let mut child = Reaped(
        command
            .stdin(Stdio::null())
            .stdout(out.reopen()?)
            .stderr(err.reopen()?)
            .spawn()
            .with_context(|| format!("cannot run {command:?}"))?,
    );
    let deadline = Instant::now() + COMMAND_WITHIN;
    let status = loop {
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("{command:?} did not finish within {COMMAND_WITHIN:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |f: &tempfile::NamedTempFile| std::fs::read_to_string(f.path()).unwrap_or_default();
    Ok((status, read(&out), read(&err)))
}
