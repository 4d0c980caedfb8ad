//! The restore drill: a snapshot restored into a scratch directory, opened as a store and read
//! back whole. Damage is reported as problems in the report, never as a panic or an error.

use crate::error::contained;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

use super::files::sha256_file;
use super::restore::{RestoreError, RestoreOptions, restore};
use crate::error::Chain;
use crate::id::{NodeName, RecordId};
use crate::record::{Header, RecordKind};
use crate::roles::NodeRole;
use crate::store::tables::{self, decode_heads, meta_keys};
use crate::store::{Store, StoreOptions};

/// Problems listed in a verify report; more are only counted.
const MAX_PROBLEMS: usize = 200;
/// Units of a verify's progress: the first half restores, the second reads every record.
const VERIFY_STEPS: u64 = 2000;

/// The restore drill's findings. `problems` empty means the snapshot passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub snapshot: PathBuf,
    pub bytes: u64,
    /// Hex SHA-256 of the snapshot, when it could be read whole.
    pub sha256: Option<String>,
    /// The checksum file the snapshot was compared with, if there was one.
    pub checksum_file: Option<PathBuf>,
    pub node: Option<NodeName>,
    /// The snapshot's incarnation.
    pub incarnation: Option<String>,
    pub records_by_kind: Vec<(RecordKind, u64)>,
    /// Records read back (kind indexes and feed together, each once).
    pub records: u64,
    pub feed_records: u64,
    pub audit_entries: u64,
    pub ranges: u64,
    pub problems: Vec<String>,
    /// Problems found beyond those listed.
    pub more_problems: u64,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.more_problems == 0
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text);
        } else {
            self.more_problems += 1;
        }
    }
}

/// Why the drill could not run at all (damage in the snapshot is a problem in the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("cannot read the snapshot {path}")]
    Snapshot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use the scratch directory {path}")]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The restore drill: restores `snapshot` into a new directory inside `scratch_dir` (removed
/// afterwards; the snapshot is only read), opens it as a store and reads everything back.
pub fn verify_snapshot(
    snapshot: &Path,
    scratch_dir: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<VerifyReport, VerifyError> {
    let meta = fs::metadata(snapshot).map_err(|source| VerifyError::Snapshot {
        path: snapshot.to_path_buf(),
        source,
    })?;
    let scratch = |source| VerifyError::Scratch {
        path: scratch_dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(scratch_dir).map_err(scratch)?;
    let work = tempfile::Builder::new()
        .prefix("lifeline-verify-")
        .tempdir_in(scratch_dir)
        .map_err(scratch)?;
    let mut report = VerifyReport {
        snapshot: snapshot.to_path_buf(),
        bytes: meta.len(),
        sha256: None,
        checksum_file: None,
        node: None,
        incarnation: None,
        records_by_kind: Vec::new(),
        records: 0,
        feed_records: 0,
        audit_entries: 0,
        ranges: 0,
        problems: Vec::new(),
        more_problems: 0,
    };
    let target = work.path().join("store.redb");
    let half = VERIFY_STEPS / 2;
    let restored = restore(
        snapshot,
        &target,
        None,
        RestoreOptions::default(),
        &|done, total| progress(scaled(done, total, half), VERIFY_STEPS),
    );
    let info = match restored {
        Ok(info) => info,
        Err(e) => {
            if let RestoreError::ChecksumMismatch {
                checksum_file,
                found,
                ..
            } = &e
            {
                report.checksum_file = Some(checksum_file.clone());
                report.sha256 = Some(found.clone());
            } else {
                report.sha256 = sha256_file(snapshot).ok().map(|(sha, _)| sha);
            }
            report.problem(Chain(&e).to_string());
            progress(VERIFY_STEPS, VERIFY_STEPS);
            return Ok(report);
        }
    };
    report.sha256 = Some(info.sha256.clone());
    report.checksum_file = info.checksum_file.clone();
    report.node = Some(info.node.clone());
    report.incarnation = Some(info.snapshot_incarnation.clone());

    let role = read_role(&target);
    let opts = StoreOptions::new(info.node.clone(), role);
    let opened = contained(|| Store::open(&target, opts));
    let store = match opened {
        Some(Ok(store)) => store,
        Some(Err(e)) => {
            report.problem(format!("the restored store does not open: {}", Chain(&e)));
            return Ok(report);
        }
        None => {
            report.problem("the storage engine failed on damaged data while opening".into());
            return Ok(report);
        }
    };
    let checked = contained(|| {
        check_store(&store, &mut report, &|done, total| {
            progress(half + scaled(done, total, half), VERIFY_STEPS);
        });
    });
    if checked.is_none() {
        report.problem("the storage engine failed on damaged data while reading records".into());
    }
    drop(store);
    progress(VERIFY_STEPS, VERIFY_STEPS);
    Ok(report)
}

fn scaled(done: u64, total: u64, steps: u64) -> u64 {
    if total == 0 {
        return steps;
    }
    (u128::from(done.min(total)) * u128::from(steps) / u128::from(total)) as u64
}

/// The role written in a store, read-only; a window if it cannot be read.
fn read_role(path: &Path) -> NodeRole {
    let read = || -> Option<NodeRole> {
        let db = redb::ReadOnlyDatabase::open(path).ok()?;
        let r = db.begin_read().ok()?;
        let meta = r.open_table(tables::META).ok()?;
        let v = meta.get(meta_keys::ROLE).ok()??;
        std::str::from_utf8(v.value()).ok()?.parse().ok()
    };
    contained(read).flatten().unwrap_or(NodeRole::Window)
}

/// Reads every record of an open store back and checks the indexes, the audit chain and the
/// range report.
fn check_store(store: &Store, report: &mut VerifyReport, progress: &dyn Fn(u64, u64)) {
    let stored_heads = match all_heads(store) {
        Ok(h) => h,
        Err(e) => {
            report.problem(format!("the doc_heads table cannot be read: {}", Chain(&e)));
            Default::default()
        }
    };
    let feed = match store.feed_since(0, usize::MAX) {
        Ok(feed) => feed,
        Err(e) => {
            report.problem(format!("the feed cannot be read: {}", Chain(&e)));
            Vec::new()
        }
    };
    report.feed_records = feed.len() as u64;
    let mut by_kind = Vec::new();
    for kind in RecordKind::ALL {
        match store.ids_of_kind(kind) {
            Ok(ids) => by_kind.push((kind, ids)),
            Err(e) => {
                report.problem(format!("the {kind} index cannot be read: {}", Chain(&e)));
                by_kind.push((kind, Vec::new()));
            }
        }
    }
    let total = by_kind.iter().map(|(_, ids)| ids.len() as u64).sum::<u64>() + feed.len() as u64;
    let mut done = 0;
    let mut seen: HashSet<RecordId> = HashSet::new();
    for (kind, ids) in &by_kind {
        report.records_by_kind.push((*kind, ids.len() as u64));
        for id in ids {
            if seen.insert(*id)
                && let Some(problem) = check_record(store, *id, Some(*kind), &stored_heads)
            {
                report.problem(problem);
            }
            done += 1;
            if done % 256 == 0 {
                progress(done, total);
            }
        }
    }
    for (seq, id) in &feed {
        if seen.insert(*id)
            && let Some(problem) = check_record(store, *id, None, &stored_heads)
        {
            report.problem(format!("{problem} (feed position {seq})"));
        }
        done += 1;
        if done % 256 == 0 {
            progress(done, total);
        }
    }
    report.records = seen.len() as u64;
    let mut unlisted: Vec<&RecordId> = stored_heads
        .keys()
        .filter(|id| !seen.contains(id))
        .collect();
    unlisted.sort();
    for id in unlisted {
        report.problem(format!(
            "record {id} is stored but is in neither a kind index nor the feed"
        ));
    }
    match store.verify_audit() {
        Ok(Ok(n)) => report.audit_entries = n,
        Ok(Err(e)) => report.problem(format!("the audit chain is broken: {}", Chain(&e))),
        Err(e) => report.problem(format!("the audit chain cannot be read: {}", Chain(&e))),
    }
    match store.range_report() {
        Ok(ranges) => {
            report.ranges = ranges.ranges.len() as u64;
            if !ranges.is_clean() {
                for line in &ranges.ranges {
                    if !line.gaps.is_empty() || !line.beyond_cursor.is_empty() {
                        report.problem(format!(
                            "number range {}: {} numbers missing from the ledger, {} issued past the cursor",
                            line.range_id,
                            line.gaps.len(),
                            line.beyond_cursor.len()
                        ));
                    }
                }
                for d in &ranges.duplicates {
                    report.problem(format!(
                        "{} number {} is on {} records",
                        d.series,
                        d.number,
                        d.records.len()
                    ));
                }
                for (a, b) in &ranges.overlapping_ranges {
                    report.problem(format!("number ranges {a} and {b} overlap"));
                }
            }
        }
        Err(e) => report.problem(format!(
            "the number-range report cannot be made: {}",
            Chain(&e)
        )),
    }
    progress(total, total);
}

type HeadsTable = std::collections::HashMap<RecordId, Vec<ChangeHash>>;

/// The `doc_heads` table whole.
fn all_heads(store: &Store) -> Result<HeadsTable, redb::Error> {
    let r = store.shared.db.begin_read()?;
    let t = r.open_table(tables::DOC_HEADS)?;
    let mut out = HeadsTable::new();
    for entry in redb::ReadableTable::iter(&t)? {
        let (k, v) = entry?;
        out.insert(RecordId::from_bytes(k.value()), decode_heads(v.value()));
    }
    Ok(out)
}

/// Loads one record and checks its header and heads. `None` when it is sound.
fn check_record(
    store: &Store,
    id: RecordId,
    kind: Option<RecordKind>,
    stored_heads: &HeadsTable,
) -> Option<String> {
    let doc = match store.doc(id) {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            return Some(match kind {
                Some(kind) => format!("record {id} is in the {kind} index but is not stored"),
                None => format!("record {id} is in the feed but is not stored"),
            });
        }
        Err(e) => return Some(format!("record {id} cannot be loaded: {}", Chain(&e))),
    };
    let header = match Header::of(&doc) {
        Ok(h) => h,
        Err(e) => {
            return Some(format!(
                "record {id} has an unreadable header: {}",
                Chain(&e)
            ));
        }
    };
    if header.id != id {
        return Some(format!(
            "record {id} is stored under the id of {}",
            header.id
        ));
    }
    if let Some(kind) = kind
        && header.kind != kind
    {
        return Some(format!(
            "record {id} is in the {kind} index but is a {}",
            header.kind
        ));
    }
    let mut heads = doc.get_heads();
    heads.sort();
    match stored_heads.get(&id) {
        None => Some(format!("record {id} has no entry in the doc_heads table")),
        Some(stored) => {
            let mut stored = stored.clone();
            stored.sort();
            (stored != heads)
                .then(|| format!("record {id}: its heads differ from the doc_heads table"))
        }
    }
}
