//! `lifeline-bench peers`: what central keeps about what its peers hold, as the number of
//! peers grows. Every window holds the patient master, so each record central holds is
//! acknowledged by every window and the standby; what central notes of it must not grow as
//! a row per peer. A central store is bulk-loaded with patients, then more and more peers
//! acknowledge every record at its heads, in batches as a session's acks come; after each
//! step the store is closed and its tables measured with redb's statistics.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::scale::data::{Origin, Rng, patient};
use crate::scale::disk;
use crate::{Machine, now_unix_ms, publish, quick_mode, rfc3339_utc, scratch_dir};
use lifeline_core::{
    DeskRole, NodeName, NodeRole, Operator, OperatorName, RecordId, Store, StoreOptions,
};

#[derive(Debug, Clone, clap::Args)]
pub struct PeersArgs {
    /// Patients central holds (quick mode: 2,000).
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// How many peers acknowledge every record, one step each, in increasing order.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 20, 60])]
    pub peers: Vec<usize>,
    /// A small run, for smoke tests (also `LIFELINE_BENCH_QUICK=1`).
    #[arg(long)]
    pub quick: bool,
    /// Where the store is written (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long, default_value = "bench/results/peers.json")]
    pub out: PathBuf,
}

/// Records acknowledged per ack, as a session sends them.
const ACK_BATCH: usize = 512;

/// Records bulk-loaded per commit.
const LOAD_BATCH: usize = 5_000;

/// Central's store once `peers` peers acknowledged every record.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub peers: usize,
    /// Pages of the tables that note what peers hold, per record.
    pub knowledge_bytes_per_record: f64,
    /// The whole store as the file system allocated it, per record.
    pub allocated_bytes_per_record: f64,
    /// The acknowledgements of this step's new peers, per second (record × peer).
    pub acks_per_s: f64,
    /// The tables that note what peers hold, with their rows.
    pub tables: Vec<disk::TableSize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeersReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub quick: bool,
    pub machine: Machine,
    pub records: usize,
    pub steps: Vec<Step>,
}

/// Tables of peers' knowledge, in this store schema and the ones before (a row per (peer,
/// record) in `peer_heads` up to schema 7).
fn is_knowledge(table: &str) -> bool {
    matches!(table, "peer_heads" | "peer_holds" | "peer_slots")
}

pub fn run(args: &PeersArgs) -> anyhow::Result<PeersReport> {
    let quick = quick_mode(args.quick);
    let records = if quick { 2_000 } else { args.records };
    let mut peers = args.peers.clone();
    peers.sort_unstable();
    peers.dedup();
    anyhow::ensure!(
        !peers.is_empty() && peers[0] > 0,
        "--peers: give one or more numbers of peers, each above 0"
    );
    let (parent, tmp) = scratch_dir(args.dir.as_deref(), "lifeline-bench-peers-")?;
    let path = tmp.path().join("central.redb");
    let ids = load(&path, records)?;
    let mut steps = Vec::new();
    let mut acked = 0;
    for &n in &peers {
        let store = open(&path)?;
        let heads = store.heads_of(&ids).context("reading heads")?;
        let acks: Vec<_> = ids.iter().copied().zip(heads).collect();
        let started = Instant::now();
        for p in acked..n {
            let peer = NodeName::new(format!("W{:02}", p + 1)).context("a peer's name")?;
            for (i, batch) in acks.chunks(ACK_BATCH).enumerate() {
                let upto = ((i + 1) * ACK_BATCH).min(acks.len()) as u64;
                store
                    .record_ack(&peer, upto, batch.to_vec())
                    .context("recording an ack")?;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let new_acks = (n - acked) * records;
        acked = n;
        drop(store);
        let measured = disk::measure(&path)?;
        let tables: Vec<disk::TableSize> = measured
            .tables
            .iter()
            .filter(|t| is_knowledge(&t.name))
            .cloned()
            .collect();
        let per = |b: u64| b as f64 / records as f64;
        steps.push(Step {
            peers: n,
            knowledge_bytes_per_record: per(tables.iter().map(|t| t.page_bytes).sum()),
            allocated_bytes_per_record: per(measured.allocated_bytes),
            acks_per_s: new_acks as f64 / elapsed.max(1e-9),
            tables,
        });
    }
    let now = now_unix_ms();
    let report = PeersReport {
        benchmark: "peers",
        timestamp: rfc3339_utc(now),
        quick,
        machine: Machine::here(&parent),
        records,
        steps,
    };
    publish(&report.table(), &report, &args.out)?;
    Ok(report)
}

fn open(path: &Path) -> anyhow::Result<Store> {
    let node = NodeName::new("central").context("central's name")?;
    Store::open(path, StoreOptions::new(node, NodeRole::Central))
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Bulk-loads `records` patients into a new central store; their ids.
fn load(path: &Path, records: usize) -> anyhow::Result<Vec<RecordId>> {
    let store = open(path)?;
    let who = Operator::new(
        OperatorName::new("bulk").context("a name")?,
        DeskRole::Admin,
    );
    let origin = Origin {
        node: store.node().clone(),
        operator: who.name.clone(),
        episode: None,
    };
    let mut rng = Rng::new(11);
    let start_ms = now_unix_ms() - records as i64 * 1_000;
    let mut ids = Vec::with_capacity(records);
    for first in (0..records).step_by(LOAD_BATCH) {
        let batch: Vec<_> = (first..(first + LOAD_BATCH).min(records))
            .map(|n| patient(&origin, &mut rng, n as u64, start_ms + n as i64 * 1_000))
            .collect();
        ids.extend(batch.iter().map(|p| p.header.id));
        store
            .load_records(&who, batch)
            .context("bulk-loading patients")?;
    }
    Ok(ids)
}

impl PeersReport {
    pub fn table(&self) -> String {
        let mut out = self.machine.title(
            "peers",
            &self.timestamp,
            self.quick,
            &format!(", data in {}", self.machine.data_dir),
        );
        if self.machine.profile == "debug" {
            out.push_str(crate::DEBUG_WARNING);
        }
        out.push_str(&self.machine.load_line());
        out.push_str(&format!(
            "central holds {} patients; each step's new peers acknowledge every one at its heads, {ACK_BATCH} per ack\n\n",
            self.records
        ));
        out.push_str("   peers  knowledge B/record  store B/record     acks/s  rows\n");
        for s in &self.steps {
            let rows: Vec<String> = s
                .tables
                .iter()
                .map(|t| format!("{} {}", t.name, t.rows))
                .collect();
            out.push_str(&format!(
                "{:>8} {:>19.0} {:>15.0} {:>10.0}  {}\n",
                s.peers,
                s.knowledge_bytes_per_record,
                s.allocated_bytes_per_record,
                s.acks_per_s,
                rows.join(", ")
            ));
        }
        out
    }
}
