//! Backup, restore and the monthly restore drill.
//!
//! - [`Store::backup_to`] copies ONE read transaction of the live store (a snapshot: the
//!   writer keeps committing meanwhile) table by table into a new redb file created at a
//!   temporary path beside the destination, fsyncs it and renames it into place. A checksum
//!   file `<backup>.sha256` (the `sha256sum` format) is written next to it.
//! - [`restore_from`] brings a node's store back from a snapshot while its daemon is stopped:
//!   the snapshot is copied (never opened in place, so never changed) to a temporary file
//!   beside the store, which must pass redb's page checksums, a read of every table and the
//!   audit chain; it then gets a NEW incarnation, so that peers know this store lost history
//!   and resend what it lacks, and is renamed over the store in one step. The replaced file is
//!   kept as `<store>.before-restore`.
//! - [`verify_snapshot`] restores into a scratch directory and reads everything back: every
//!   record's header, each record's heads against the `doc_heads` table, the audit chain and
//!   the number-range report. Damage is reported as problems, never as a panic.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use automerge::{ChangeHash, ROOT};
use redb::{
    BackendError, Database, DatabaseError, Durability, Key, MultimapTableHandle, ReadTransaction,
    ReadableDatabase, ReadableTableMetadata, StorageBackend, TableDefinition, TableHandle, Value,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::audit::verify_chain;
use super::replication::decode_heads;
use super::tables::{self, SCHEMA_VERSION, meta_keys};
use super::{REDB_MAGIC, Store, StoreOptions, scan_tables};
use crate::id::{NodeName, RecordId};
use crate::record::{Header, RecordKind};
use crate::roles::NodeRole;

/// Rows copied per write transaction of a backup, at most.
const CHUNK_ROWS: u64 = 4096;
/// Bytes copied per write transaction of a backup, at most (roughly).
const CHUNK_BYTES: usize = 16 << 20;
/// Page cache of the file being written.
const BACKUP_CACHE_BYTES: usize = 32 << 20;
/// Problems listed in a verify report; more are only counted.
const MAX_PROBLEMS: usize = 200;
/// Units of a verify's progress: the first half restores, the second reads every record.
const VERIFY_STEPS: u64 = 2000;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// The backup file.
    pub path: PathBuf,
    /// The node whose store it is.
    pub node: NodeName,
    /// The store's incarnation at the time of the backup.
    pub incarnation: String,
    /// When the snapshot was taken (ms since the epoch).
    pub created_ms: i64,
    pub records: u64,
    pub audit_entries: u64,
    /// The store's feed sequence in the snapshot.
    pub feed_seq: u64,
    /// Size of the backup file.
    pub bytes: u64,
    /// Hex SHA-256 of the backup file, also written to `<path>.sha256`.
    pub sha256: String,
}

/// Why a backup was not written. A failed backup leaves no file at the destination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("{path} already exists: a backup never overwrites a file, choose another name")]
    Exists { path: PathBuf },
    #[error("{path} is not a file name a backup can be written to")]
    BadPath { path: PathBuf },
    #[error("cannot write the backup {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the store {store}: {reason}")]
    Read { store: PathBuf, reason: String },
    #[error("cannot write the backup {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("the store {store} has a table {table:?} that this build does not know how to back up")]
    UnknownTable { store: PathBuf, table: String },
    #[error(
        "the storage engine failed on damaged data while reading {store}; no backup was written"
    )]
    Damaged { store: PathBuf },
}

/// How a restore may bend the rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Restore a snapshot of another node here (its records keep their origin; the store is
    /// renamed to the node restored into).
    pub allow_other_node: bool,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreInfo {
    pub snapshot: PathBuf,
    /// The store file written.
    pub target: PathBuf,
    /// The node the restored store belongs to.
    pub node: NodeName,
    /// The node the snapshot was taken on.
    pub snapshot_node: String,
    /// The restored store's new incarnation.
    pub incarnation: String,
    /// The incarnation in the snapshot.
    pub snapshot_incarnation: String,
    pub records: u64,
    pub audit_entries: u64,
    pub feed_seq: u64,
    pub bytes: u64,
    /// Hex SHA-256 of the snapshot.
    pub sha256: String,
    /// The checksum file the snapshot was checked against, if there was one.
    pub checksum_file: Option<PathBuf>,
    /// Where the store that was replaced is kept, if there was one.
    pub previous: Option<PathBuf>,
}

/// Why a restore was refused. A refused restore leaves the store as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    #[error("cannot read the snapshot {path}: {source}")]
    SnapshotIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a Lifeline snapshot (it is not a redb database file)")]
    NotASnapshot { path: PathBuf },
    #[error(
        "{path} does not match its checksum file {checksum_file} (expected {expected}, found {found}): it changed or was damaged after the backup"
    )]
    ChecksumMismatch {
        path: PathBuf,
        checksum_file: PathBuf,
        expected: String,
        found: String,
    },
    #[error("the snapshot {path} is damaged and cannot be restored: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("the snapshot {path} has schema version {found}, this build reads version {expected}")]
    SchemaVersion {
        path: PathBuf,
        found: String,
        expected: u64,
    },
    #[error(
        "the snapshot {path} is a backup of node {found}, not of {expected}; restoring it here must be allowed explicitly"
    )]
    OtherNode {
        path: PathBuf,
        found: String,
        expected: NodeName,
    },
    #[error("{target} is open in another process: stop the daemon before restoring")]
    TargetLocked { target: PathBuf },
    #[error("the snapshot {path} is the store being restored")]
    SameFile { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    TargetIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the restored store {path}: {reason}")]
    TargetStorage { path: PathBuf, reason: String },
}

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
    #[error("cannot read the snapshot {path}: {source}")]
    Snapshot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use the scratch directory {path}: {source}")]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
}

// ---------------------------------------------------------------------------------------
// Backup

/// A redb failure while copying, on the side it happened.
enum CopyError {
    Source(redb::Error),
    Destination(redb::Error),
}

fn src<E: Into<redb::Error>>(e: E) -> CopyError {
    CopyError::Source(e.into())
}

fn dst<E: Into<redb::Error>>(e: E) -> CopyError {
    CopyError::Destination(e.into())
}

/// Copies the tables of one read transaction into a new database.
struct Copier<'a> {
    from: &'a ReadTransaction,
    to: &'a Database,
    done: u64,
    total: u64,
    progress: &'a dyn Fn(u64, u64),
}

impl Copier<'_> {
    fn table<K: Key + 'static, V: Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
        durability: Durability,
    ) -> Result<(), CopyError> {
        let from = self.from.open_table(def).map_err(src)?;
        let mut rows = redb::ReadableTable::iter(&from).map_err(src)?;
        loop {
            let mut w = self.to.begin_write().map_err(dst)?;
            w.set_durability(durability).map_err(dst)?;
            let (mut n, mut bytes, mut end) = (0u64, 0usize, false);
            {
                let mut to = w.open_table(def).map_err(dst)?;
                while n < CHUNK_ROWS && bytes < CHUNK_BYTES {
                    let Some(row) = rows.next() else {
                        end = true;
                        break;
                    };
                    let (k, v) = row.map_err(src)?;
                    let (k, v) = (k.value(), v.value());
                    bytes += K::as_bytes(&k).as_ref().len() + V::as_bytes(&v).as_ref().len();
                    to.insert(k, v).map_err(dst)?;
                    n += 1;
                }
            }
            w.commit().map_err(dst)?;
            self.done += n;
            (self.progress)(self.done, self.total);
            if end {
                return Ok(());
            }
        }
    }

    /// Every table; the metadata last and durably, so that a file cut short has no metadata
    /// and is refused as a store.
    fn all(&mut self) -> Result<(), CopyError> {
        let fast = Durability::None;
        self.table(tables::DOC_CHUNKS, fast)?;
        self.table(tables::DOC_HEADS, fast)?;
        self.table(tables::FEED, fast)?;
        self.table(tables::FEED_POS, fast)?;
        self.table(tables::BY_KIND, fast)?;
        self.table(tables::BY_PATIENT, fast)?;
        self.table(tables::BY_EPISODE, fast)?;
        self.table(tables::UNRECONCILED, fast)?;
        self.table(tables::PATIENT_KEYS, fast)?;
        self.table(tables::PATIENT_KEYS_OF, fast)?;
        self.table(tables::AUDIT, fast)?;
        self.table(tables::RANGES, fast)?;
        self.table(tables::NUMBERS, fast)?;
        self.table(tables::LESSOR, fast)?;
        self.table(tables::PEER_STATE, fast)?;
        self.table(tables::PEER_HEADS, fast)?;
        self.table(tables::PEER_SYNC, fast)?;
        self.table(tables::META, Durability::Immediate)
    }
}

/// The names of the tables [`Copier::all`] copies.
fn known_tables() -> [&'static str; 18] {
    [
        tables::META.name(),
        tables::DOC_CHUNKS.name(),
        tables::DOC_HEADS.name(),
        tables::FEED.name(),
        tables::FEED_POS.name(),
        tables::BY_KIND.name(),
        tables::BY_PATIENT.name(),
        tables::BY_EPISODE.name(),
        tables::UNRECONCILED.name(),
        tables::PATIENT_KEYS.name(),
        tables::PATIENT_KEYS_OF.name(),
        tables::AUDIT.name(),
        tables::RANGES.name(),
        tables::NUMBERS.name(),
        tables::LESSOR.name(),
        tables::PEER_STATE.name(),
        tables::PEER_HEADS.name(),
        tables::PEER_SYNC.name(),
    ]
}

/// Counts read from a store's tables.
struct Summary {
    node: String,
    incarnation: String,
    records: u64,
    audit_entries: u64,
    feed_seq: u64,
}

fn summarize(r: &ReadTransaction) -> Result<Summary, redb::Error> {
    let meta = r.open_table(tables::META)?;
    let text = |key: &str| -> Result<String, redb::Error> {
        Ok(meta
            .get(key)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned())
            .unwrap_or_default())
    };
    Ok(Summary {
        node: text(meta_keys::NODE)?,
        incarnation: text(meta_keys::INCARNATION)?,
        feed_seq: text(meta_keys::FEED_SEQ)?.parse().unwrap_or(0),
        records: r.open_table(tables::BY_KIND)?.len()?,
        audit_entries: r.open_table(tables::AUDIT)?.len()?,
    })
}

impl Store {
    /// Writes a consistent snapshot of this store to `path` (which must not exist) while the
    /// store stays in use, and `<path>.sha256` beside it. `progress(done, total)` counts rows
    /// copied.
    pub fn backup_to(
        &self,
        path: &Path,
        progress: &dyn Fn(u64, u64),
    ) -> Result<BackupInfo, BackupError> {
        let io = |source| BackupError::Io {
            path: path.to_path_buf(),
            source,
        };
        if fs::symlink_metadata(path).is_ok() {
            return Err(BackupError::Exists {
                path: path.to_path_buf(),
            });
        }
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return Err(BackupError::BadPath {
                path: path.to_path_buf(),
            });
        };
        let dir = parent_dir(path);
        fs::create_dir_all(&dir).map_err(io)?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}.partial-"))
            .tempfile_in(&dir)
            .map_err(io)?;
        let created_ms = self.now_ms();
        let copied = catch_unwind(AssertUnwindSafe(|| {
            self.copy_snapshot(temp.path(), progress)
        }));
        let summary = match copied {
            Ok(result) => result.map_err(|e| match e {
                CopyError::Source(e) => BackupError::Read {
                    store: self.path().to_path_buf(),
                    reason: e.to_string(),
                },
                CopyError::Destination(e) => BackupError::Write {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                },
            })??,
            Err(_) => {
                return Err(BackupError::Damaged {
                    store: self.path().to_path_buf(),
                });
            }
        };
        File::open(temp.path())
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        temp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                BackupError::Exists {
                    path: path.to_path_buf(),
                }
            } else {
                io(e.error)
            }
        })?;
        sync_dir(&dir).map_err(io)?;
        let (sha256, bytes) = sha256_file(path).map_err(io)?;
        write_checksum_file(path, &sha256).map_err(|source| BackupError::Io {
            path: checksum_path(path),
            source,
        })?;
        let node = NodeName::new(summary.node.clone()).unwrap_or_else(|_| self.node().clone());
        tracing::info!(path = %path.display(), records = summary.records, bytes, "backup written");
        Ok(BackupInfo {
            path: path.to_path_buf(),
            node,
            incarnation: summary.incarnation,
            created_ms,
            records: summary.records,
            audit_entries: summary.audit_entries,
            feed_seq: summary.feed_seq,
            bytes,
            sha256,
        })
    }

    /// Copies one read transaction into a new database at `to`. The outer error is about the
    /// store's contents, the inner about reading or writing.
    fn copy_snapshot(
        &self,
        to: &Path,
        progress: &dyn Fn(u64, u64),
    ) -> Result<Result<Summary, BackupError>, CopyError> {
        let r = self.shared.db.begin_read().map_err(src)?;
        let known = known_tables();
        for table in r.list_tables().map_err(src)? {
            if !known.contains(&table.name()) {
                return Ok(Err(BackupError::UnknownTable {
                    store: self.path().to_path_buf(),
                    table: table.name().to_owned(),
                }));
            }
        }
        if let Some(table) = r.list_multimap_tables().map_err(src)?.next() {
            return Ok(Err(BackupError::UnknownTable {
                store: self.path().to_path_buf(),
                table: table.name().to_owned(),
            }));
        }
        let summary = summarize(&r).map_err(CopyError::Source)?;
        let total = table_rows(&r).map_err(CopyError::Source)?;
        progress(0, total);
        let db = Database::builder()
            .set_cache_size(BACKUP_CACHE_BYTES)
            .create(to)
            .map_err(dst)?;
        let mut copier = Copier {
            from: &r,
            to: &db,
            done: 0,
            total,
            progress,
        };
        copier.all()?;
        db.close().map_err(dst)?;
        progress(total, total);
        Ok(Ok(summary))
    }
}

/// Rows in every table of a read transaction.
fn table_rows(r: &ReadTransaction) -> Result<u64, redb::Error> {
    fn rows<K: Key + 'static, V: Value + 'static>(
        r: &ReadTransaction,
        def: TableDefinition<K, V>,
    ) -> Result<u64, redb::Error> {
        Ok(r.open_table(def)?.len()?)
    }
    Ok(rows(r, tables::META)?
        + rows(r, tables::DOC_CHUNKS)?
        + rows(r, tables::DOC_HEADS)?
        + rows(r, tables::FEED)?
        + rows(r, tables::FEED_POS)?
        + rows(r, tables::BY_KIND)?
        + rows(r, tables::BY_PATIENT)?
        + rows(r, tables::BY_EPISODE)?
        + rows(r, tables::UNRECONCILED)?
        + rows(r, tables::PATIENT_KEYS)?
        + rows(r, tables::PATIENT_KEYS_OF)?
        + rows(r, tables::AUDIT)?
        + rows(r, tables::RANGES)?
        + rows(r, tables::NUMBERS)?
        + rows(r, tables::LESSOR)?
        + rows(r, tables::PEER_STATE)?
        + rows(r, tables::PEER_HEADS)?
        + rows(r, tables::PEER_SYNC)?)
}

// ---------------------------------------------------------------------------------------
// Restore

/// Restores the store at `target` (its daemon stopped) from `snapshot`, for node `node`. The
/// restored store gets a new incarnation; the file it replaces is kept as
/// `<target>.before-restore`. `progress(done, total)` counts bytes copied.
pub fn restore_from(
    snapshot: &Path,
    target: &Path,
    node: &NodeName,
    options: RestoreOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<RestoreInfo, RestoreError> {
    restore(snapshot, target, Some(node), options, progress)
}

/// The file a restore keeps the replaced store in.
pub fn before_restore_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".before-restore");
    PathBuf::from(name)
}

/// The checksum file written beside a backup.
pub fn checksum_path(backup: &Path) -> PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Restores for `node`, or for whatever node the snapshot belongs to.
fn restore(
    snapshot: &Path,
    target: &Path,
    node: Option<&NodeName>,
    options: RestoreOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<RestoreInfo, RestoreError> {
    let snap_io = |source| RestoreError::SnapshotIo {
        path: snapshot.to_path_buf(),
        source,
    };
    let target_io = |source| RestoreError::TargetIo {
        path: target.to_path_buf(),
        source,
    };
    let damaged = |reason: String| RestoreError::Damaged {
        path: snapshot.to_path_buf(),
        reason,
    };
    let meta = fs::metadata(snapshot).map_err(snap_io)?;
    if !meta.is_file() {
        return Err(snap_io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    if !has_redb_magic(snapshot).map_err(snap_io)? {
        return Err(RestoreError::NotASnapshot {
            path: snapshot.to_path_buf(),
        });
    }
    if target.exists() && same_file(snapshot, target) {
        return Err(RestoreError::SameFile {
            path: snapshot.to_path_buf(),
        });
    }
    let expected_sha = read_checksum_file(snapshot).map_err(|source| RestoreError::SnapshotIo {
        path: checksum_path(snapshot),
        source,
    })?;

    refuse_if_open(target)?;

    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(target_io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        )));
    };
    let dir = parent_dir(target);
    fs::create_dir_all(&dir).map_err(target_io)?;
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}.restore-"))
        .tempfile_in(&dir)
        .map_err(target_io)?;
    let (sha256, bytes) = copy_file(snapshot, temp.path(), meta.len(), progress)
        .map_err(|(on_source, e)| if on_source { snap_io(e) } else { target_io(e) })?;
    if let Some(expected) = &expected_sha
        && *expected != sha256
    {
        return Err(RestoreError::ChecksumMismatch {
            path: snapshot.to_path_buf(),
            checksum_file: checksum_path(snapshot),
            expected: expected.clone(),
            found: sha256,
        });
    }

    let checked = catch_unwind(AssertUnwindSafe(|| {
        check_and_stamp(snapshot, temp.path(), node, options)
    }));
    let stamped = match checked {
        Ok(result) => result?,
        Err(_) => {
            return Err(damaged(
                "the storage engine failed on damaged data".to_owned(),
            ));
        }
    };
    File::open(temp.path())
        .and_then(|f| f.sync_all())
        .map_err(target_io)?;

    // Asked again just before the swap, in case a daemon was started meanwhile.
    refuse_if_open(target)?;
    let previous = if target.exists() {
        let before = before_restore_path(target);
        keep_previous(target, &before).map_err(|source| RestoreError::TargetIo {
            path: before.clone(),
            source,
        })?;
        Some(before)
    } else {
        None
    };
    temp.persist(target).map_err(|e| target_io(e.error))?;
    sync_dir(&dir).map_err(target_io)?;
    progress(meta.len(), meta.len());
    tracing::info!(
        snapshot = %snapshot.display(),
        target = %target.display(),
        incarnation = %stamped.incarnation,
        "store restored"
    );
    Ok(RestoreInfo {
        snapshot: snapshot.to_path_buf(),
        target: target.to_path_buf(),
        node: stamped.node,
        snapshot_node: stamped.summary.node,
        incarnation: stamped.incarnation,
        snapshot_incarnation: stamped.summary.incarnation,
        records: stamped.summary.records,
        audit_entries: stamped.summary.audit_entries,
        feed_seq: stamped.summary.feed_seq,
        bytes,
        sha256,
        checksum_file: expected_sha.map(|_| checksum_path(snapshot)),
        previous,
    })
}

/// What [`check_and_stamp`] found and wrote.
struct Stamped {
    summary: Summary,
    node: NodeName,
    incarnation: String,
}

/// Checks a copy of a snapshot (page checksums, identity, every table, the audit chain), then
/// gives it a new incarnation (and, when allowed, the node restored into).
fn check_and_stamp(
    snapshot: &Path,
    copy: &Path,
    node: Option<&NodeName>,
    options: RestoreOptions,
) -> Result<Stamped, RestoreError> {
    let damaged = |reason: String| RestoreError::Damaged {
        path: snapshot.to_path_buf(),
        reason,
    };
    // Every page checksum is verified at open, which reports damage instead of panicking. redb
    // would then repair a file whose last commit is damaged by falling back to the commit
    // before it; that fallback is the only repair step reported between the start (0.0) and
    // the allocator rebuild (0.6), and it is refused: a snapshot is restored whole or not at
    // all.
    let db = Database::builder()
        .set_check_integrity_on_open(true)
        .set_repair_callback(|session| {
            let at = session.progress();
            if at > 0.0 && at < 0.5 {
                session.abort();
            }
        })
        .open(copy)
        .map_err(|e| match e {
            DatabaseError::RepairAborted => damaged("its last commit fails its checksums".into()),
            other => damaged(other.to_string()),
        })?;
    let to_damaged = |e: redb::Error| damaged(e.to_string());
    let summary = {
        let r = db.begin_read().map_err(|e| to_damaged(e.into()))?;
        let meta = r.open_table(tables::META).map_err(|e| match e {
            redb::TableError::TableDoesNotExist(_) => RestoreError::NotASnapshot {
                path: snapshot.to_path_buf(),
            },
            other => to_damaged(other.into()),
        })?;
        let schema = meta
            .get(meta_keys::SCHEMA)
            .map_err(|e| to_damaged(e.into()))?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned())
            .unwrap_or_else(|| "none".into());
        if schema != SCHEMA_VERSION.to_string() {
            return Err(RestoreError::SchemaVersion {
                path: snapshot.to_path_buf(),
                found: schema,
                expected: SCHEMA_VERSION,
            });
        }
        summarize(&r).map_err(to_damaged)?
    };
    let node = match node {
        Some(expected) if expected.as_str() != summary.node => {
            if !options.allow_other_node {
                return Err(RestoreError::OtherNode {
                    path: snapshot.to_path_buf(),
                    found: summary.node,
                    expected: expected.clone(),
                });
            }
            expected.clone()
        }
        Some(expected) => expected.clone(),
        None => NodeName::new(summary.node.clone())
            .map_err(|e| damaged(format!("its node name is not valid: {e}")))?,
    };
    scan_tables(&db).map_err(to_damaged)?;
    check_audit_chain(&db)
        .map_err(to_damaged)?
        .map_err(|e| damaged(format!("the audit chain is broken: {e}")))?;

    let incarnation = RecordId::generate().to_string();
    let stamp = || -> Result<(), redb::Error> {
        let w = db.begin_write()?;
        {
            let mut meta = w.open_table(tables::META)?;
            meta.insert(meta_keys::INCARNATION, incarnation.as_bytes())?;
            meta.insert(meta_keys::NODE, node.as_str().as_bytes())?;
        }
        let retired = retire_numbers(&w)?;
        append_audit(
            &w,
            &node,
            "store.restore",
            &format!(
                "restored from {}; new incarnation {incarnation}; {retired} unused numbers retired",
                snapshot.display()
            ),
        )?;
        w.commit()?;
        Ok(())
    };
    stamp().map_err(|e| RestoreError::TargetStorage {
        path: copy.to_path_buf(),
        reason: e.to_string(),
    })?;
    db.close().map_err(|e| RestoreError::TargetStorage {
        path: copy.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(Stamped {
        summary,
        node,
        incarnation,
    })
}

/// After a restore, numbers the backup shows as unused may have been handed out after the
/// backup was taken (their records come back from peers later). They are retired (voided,
/// never handed out again), and a lessor's cursor jumps ahead, so that a restored node can
/// never issue or lease a number twice. Returns how many numbers were retired.
fn retire_numbers(w: &redb::WriteTransaction) -> Result<u64, redb::Error> {
    use crate::numbers::{MAX_LEASE, NumberUse, RangeState};
    let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
    let operator = crate::id::OperatorName::new("lifeline-restore")
        .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
    let mut retired = 0;
    let mut ranges = w.open_table(tables::RANGES)?;
    let mut numbers = w.open_table(tables::NUMBERS)?;
    let mut states: Vec<RangeState> = Vec::new();
    for entry in redb::ReadableTable::iter(&ranges)? {
        let (_, v) = entry?;
        if let Ok(state) = serde_json::from_slice::<RangeState>(v.value()) {
            states.push(state);
        }
    }
    for mut state in states {
        let code = state.range.series.code();
        for number in state.next..=state.range.end {
            let used = NumberUse::Voided {
                record: None,
                reason: "retired at restore: may have been used after the backup".into(),
                operator: operator.clone(),
                at_ms: now,
            };
            let bytes = serde_json::to_vec(&used).unwrap_or_default();
            numbers.insert((code, number), bytes.as_slice())?;
            retired += 1;
        }
        state.next = state.range.end + 1;
        let bytes = serde_json::to_vec(&state).unwrap_or_default();
        ranges.insert(state.range.id.as_str(), bytes.as_slice())?;
    }
    let mut lessor = w.open_table(tables::LESSOR)?;
    let mut cursors = Vec::new();
    for entry in redb::ReadableTable::iter(&lessor)? {
        let (k, v) = entry?;
        cursors.push((k.value(), v.value()));
    }
    for (series, cursor) in cursors {
        lessor.insert(series, cursor.saturating_add(10 * MAX_LEASE))?;
    }
    Ok(retired)
}

/// Appends one entry to a database's audit chain, outside a running store.
fn append_audit(
    w: &redb::WriteTransaction,
    node: &NodeName,
    action: &str,
    detail: &str,
) -> Result<(), redb::Error> {
    let mut meta = w.open_table(tables::META)?;
    let text = |v: Option<redb::AccessGuard<'_, &[u8]>>| {
        v.map(|v| String::from_utf8_lossy(v.value()).into_owned())
    };
    let seq: u64 = text(redb::ReadableTable::get(&meta, meta_keys::AUDIT_SEQ)?)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let head = text(redb::ReadableTable::get(&meta, meta_keys::AUDIT_HEAD)?)
        .unwrap_or_else(|| super::GENESIS.to_owned());
    let mut entry = super::AuditEntry {
        seq: seq + 1,
        at_ms: crate::clock::Clock::now_ms(&crate::clock::SystemClock),
        node: node.clone(),
        actor: "lifeline-restore".into(),
        action: action.into(),
        record: None,
        changes: Vec::new(),
        detail: Some(detail.into()),
        prev_hash: head,
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    let bytes = serde_json::to_vec(&entry).unwrap_or_default();
    w.open_table(tables::AUDIT)?
        .insert(entry.seq, bytes.as_slice())?;
    meta.insert(meta_keys::AUDIT_SEQ, entry.seq.to_string().as_bytes())?;
    meta.insert(meta_keys::AUDIT_HEAD, entry.hash.as_bytes())?;
    Ok(())
}

/// The audit chain of a database, checked whole.
fn check_audit_chain(
    db: &impl ReadableDatabase,
) -> Result<Result<u64, super::ChainError>, redb::Error> {
    let r = db.begin_read()?;
    let head = r
        .open_table(tables::META)?
        .get(meta_keys::AUDIT_SEQ)?
        .and_then(|v| std::str::from_utf8(v.value()).ok()?.parse().ok())
        .unwrap_or(0);
    let audit = r.open_table(tables::AUDIT)?;
    let mut entries = Vec::new();
    for entry in redb::ReadableTable::iter(&audit)? {
        let (k, v) = entry?;
        entries.push((k.value(), v.value().to_vec()));
    }
    Ok(verify_chain(
        entries.iter().map(|(k, v)| (*k, v.as_slice())),
        head,
    ))
}

/// Refuses a target that a process (a daemon) has open, asking redb's own lock protocol.
fn refuse_if_open(target: &Path) -> Result<(), RestoreError> {
    if target_is_open(target) {
        return Err(RestoreError::TargetLocked {
            target: target.to_path_buf(),
        });
    }
    Ok(())
}

/// Whether a process holds the store at `target` open. The probe takes redb's open lock and
/// reads nothing, so a damaged store (the usual reason to restore) cannot make it fail.
fn target_is_open(target: &Path) -> bool {
    let Ok(file) = File::open(target) else {
        return false;
    };
    let Ok(inner) = redb::backends::FileBackend::new(file) else {
        return false;
    };
    matches!(
        redb::Builder::new().open_read_only_with_backend(LockProbe(inner)),
        Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch)
    )
}

/// A storage backend that takes a file's locks but refuses to read it.
#[derive(Debug)]
struct LockProbe(redb::backends::FileBackend);

fn probe_only() -> std::io::Error {
    std::io::Error::other("a lock probe reads nothing")
}

impl StorageBackend for LockProbe {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.0.len()
    }
    fn read(&self, _offset: u64, _out: &mut [u8]) -> Result<(), std::io::Error> {
        Err(probe_only())
    }
    fn set_len(&self, _len: u64) -> Result<(), std::io::Error> {
        Err(probe_only())
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        Err(probe_only())
    }
    fn write(&self, _offset: u64, _data: &[u8]) -> Result<(), std::io::Error> {
        Err(probe_only())
    }
    fn close(&self) -> Result<(), std::io::Error> {
        self.0.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.0.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.query_lock_range(start, end)
    }
}

/// Keeps `target` as `before` (a hard link, or a copy where links are not possible).
fn keep_previous(target: &Path, before: &Path) -> std::io::Result<()> {
    match fs::remove_file(before) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if fs::hard_link(target, before).is_err() {
        fs::copy(target, before)?;
        File::open(before)?.sync_all()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Verify

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
            report.problem(e.to_string());
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
    let opened = catch_unwind(AssertUnwindSafe(|| Store::open(&target, opts)));
    let store = match opened {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => {
            report.problem(format!("the restored store does not open: {e}"));
            return Ok(report);
        }
        Err(_) => {
            report.problem("the storage engine failed on damaged data while opening".into());
            return Ok(report);
        }
    };
    let checked = catch_unwind(AssertUnwindSafe(|| {
        check_store(&store, &mut report, &|done, total| {
            progress(half + scaled(done, total, half), VERIFY_STEPS);
        });
    }));
    if checked.is_err() {
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
    catch_unwind(read)
        .ok()
        .flatten()
        .unwrap_or(NodeRole::Window)
}

/// Reads every record of an open store back and checks the indexes, the audit chain and the
/// range report.
fn check_store(store: &Store, report: &mut VerifyReport, progress: &dyn Fn(u64, u64)) {
    let stored_heads = match all_heads(store) {
        Ok(h) => h,
        Err(e) => {
            report.problem(format!("the doc_heads table cannot be read: {e}"));
            Default::default()
        }
    };
    let feed = match store.feed_since(0, usize::MAX) {
        Ok(feed) => feed,
        Err(e) => {
            report.problem(format!("the feed cannot be read: {e}"));
            Vec::new()
        }
    };
    report.feed_records = feed.len() as u64;
    let mut by_kind = Vec::new();
    for kind in RecordKind::ALL {
        match store.ids_of_kind(kind) {
            Ok(ids) => by_kind.push((kind, ids)),
            Err(e) => {
                report.problem(format!("the {kind} index cannot be read: {e}"));
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
        Ok(Err(e)) => report.problem(format!("the audit chain is broken: {e}")),
        Err(e) => report.problem(format!("the audit chain cannot be read: {e}")),
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
        Err(e) => report.problem(format!("the number-range report cannot be made: {e}")),
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
        Err(e) => return Some(format!("record {id} cannot be loaded: {e}")),
    };
    let header: Header = match autosurgeon::hydrate_prop(&*doc, ROOT, "header") {
        Ok(h) => h,
        Err(e) => return Some(format!("record {id} has an unreadable header: {e}")),
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

// ---------------------------------------------------------------------------------------
// Files

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn has_redb_magic(path: &Path) -> std::io::Result<bool> {
    let mut head = Vec::with_capacity(REDB_MAGIC.len());
    File::open(path)?
        .take(REDB_MAGIC.len() as u64)
        .read_to_end(&mut head)?;
    Ok(head == REDB_MAGIC)
}

/// Hex SHA-256 and length of a file.
fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => {
                hasher.update(&buf[..n]);
                len += n as u64;
            }
        }
    }
    Ok((hex::encode(hasher.finalize()), len))
}

/// Copies `from` into `to` (synced), hashing it. The error says which side failed
/// (`true`: the source).
fn copy_file(
    from: &Path,
    to: &Path,
    expected_len: u64,
    progress: &dyn Fn(u64, u64),
) -> Result<(String, u64), (bool, std::io::Error)> {
    let mut input = File::open(from).map_err(|e| (true, e))?;
    let out = File::create(to).map_err(|e| (false, e))?;
    let mut output = BufWriter::with_capacity(1 << 20, out);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    progress(0, expected_len);
    loop {
        let n = input.read(&mut buf).map_err(|e| (true, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n]).map_err(|e| (false, e))?;
        len += n as u64;
        progress(len.min(expected_len), expected_len.max(len));
    }
    let out = output.into_inner().map_err(|e| (false, e.into_error()))?;
    out.sync_all().map_err(|e| (false, e))?;
    Ok((hex::encode(hasher.finalize()), len))
}

/// Writes `<backup>.sha256` in the `sha256sum` format, atomically.
fn write_checksum_file(backup: &Path, sha256: &str) -> std::io::Result<()> {
    let path = checksum_path(backup);
    let dir = parent_dir(&path);
    let name = backup
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(".sha256-")
        .tempfile_in(&dir)?;
    writeln!(temp, "{sha256}  {name}")?;
    temp.as_file().sync_all()?;
    temp.persist(&path).map_err(|e| e.error)?;
    sync_dir(&dir)
}

/// The checksum recorded in `<snapshot>.sha256`, if that file exists.
fn read_checksum_file(snapshot: &Path) -> std::io::Result<Option<String>> {
    let text = match fs::read_to_string(checksum_path(snapshot)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let sha = text.split_whitespace().next().unwrap_or_default();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a sha256sum line",
        ));
    }
    Ok(Some(sha.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::NewPatient;
    use crate::id::OperatorName;
    use crate::record::{InsuranceType, Patient, Sex};
    use crate::roles::{DeskRole, Operator};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    fn reg() -> Operator {
        Operator::new(
            OperatorName::new("reg1").expect("valid"),
            DeskRole::Registration,
        )
    }

    fn patient(name: &str) -> NewPatient {
        NewPatient {
            patient_no: None,
            name: name.into(),
            sex: Sex::Female,
            birth_date: "2018-01-02".parse().expect("valid"),
            phone: "13900000000".into(),
            national_id: None,
            insurance: InsuranceType::SelfPay,
        }
    }

    fn node(name: &str) -> NodeName {
        NodeName::new(name).expect("valid")
    }

    fn open(path: &Path, name: &str) -> Store {
        Store::open(path, StoreOptions::new(node(name), NodeRole::Window)).expect("open")
    }

    fn create(store: &Store, name: &str) -> RecordId {
        store
            .create_patient(&reg(), patient(name))
            .expect("create")
            .value
            .header
            .id
    }

    /// A store with `n` patients, and a backup of it.
    fn backed_up(dir: &Path, n: usize) -> (Store, Vec<RecordId>, PathBuf) {
        let store = open(&dir.join("store.redb"), "W01");
        let ids = (0..n).map(|i| create(&store, &format!("p{i}"))).collect();
        let backup = dir.join("backups").join("w01.redb");
        store.backup_to(&backup, &|_, _| {}).expect("backup");
        (store, ids, backup)
    }

    fn no_progress(_: u64, _: u64) {}

    #[test]
    fn every_table_of_a_store_is_known_to_backup() {
        let dir = tempfile::tempdir().expect("dir");
        let store = open(&dir.path().join("s.redb"), "W01");
        let r = store.shared.db.begin_read().expect("read");
        let mut names: Vec<String> = r
            .list_tables()
            .expect("list")
            .map(|t| t.name().to_owned())
            .collect();
        names.sort();
        let mut known: Vec<String> = known_tables().iter().map(|s| (*s).to_owned()).collect();
        known.sort();
        assert_eq!(names, known);
    }

    #[test]
    fn a_backup_taken_while_writes_go_on_is_consistent_and_holds_every_acknowledged_write() {
        let dir = tempfile::tempdir().expect("dir");
        let store = open(&dir.path().join("store.redb"), "W01");
        for i in 0..50 {
            create(&store, &format!("before{i}"));
        }
        let acked: Arc<Mutex<Vec<RecordId>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, acked, stop) = (store.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = create(&store, &format!("during{i}"));
                    acked.lock().expect("lock").push(id);
                    i += 1;
                }
                i
            })
        };
        while acked.lock().expect("lock").len() < 20 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let before: Vec<RecordId> = acked.lock().expect("lock").clone();
        let backup = dir.path().join("b.redb");
        let calls = Mutex::new(Vec::new());
        let info = store
            .backup_to(&backup, &|done, total| {
                calls.lock().expect("lock").push((done, total));
            })
            .expect("backup");
        std::thread::sleep(std::time::Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        let written = writer.join().expect("writer");
        assert!(written > before.len(), "writes went on during the backup");
        let calls = calls.into_inner().expect("lock");
        let (done, total) = *calls.last().expect("progress was reported");
        assert_eq!(done, total);
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));

        assert_eq!(info.node.as_str(), "W01");
        assert_eq!(info.bytes, fs::metadata(&backup).expect("meta").len());
        assert_eq!(info.sha256, sha256_file(&backup).expect("sha").0);
        assert!(checksum_path(&backup).exists());
        assert_eq!(info.incarnation, store.incarnation().expect("incarnation"));
        assert!(info.records >= 50 + before.len() as u64);
        assert_eq!(
            info.audit_entries, info.records,
            "one audit entry per patient"
        );

        let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
        assert!(report.passed(), "{:?}", report.problems);
        assert_eq!(report.records, info.records);
        // The scratch copy records its own restore in its audit chain.
        assert_eq!(report.audit_entries, info.audit_entries + 1);
        assert_eq!(report.checksum_file, Some(checksum_path(&backup)));
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("lifeline-verify-")
            })
            .collect();
        assert!(leftovers.is_empty(), "the scratch copy is removed");

        let target = dir.path().join("restored").join("store.redb");
        restore_from(
            &backup,
            &target,
            &node("W01"),
            RestoreOptions::default(),
            &no_progress,
        )
        .expect("restore");
        let restored = open(&target, "W01");
        for id in &before {
            assert!(
                restored.get::<Patient>(*id).expect("read").is_some(),
                "acknowledged before the backup, missing from it: {id}"
            );
        }
        let stats = restored.stats().expect("stats");
        assert_eq!(stats.records, info.records);
        assert_eq!(stats.feed_seq, info.feed_seq);
    }

    #[test]
    fn a_restore_brings_the_records_back_under_a_new_incarnation() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, ids, backup) = backed_up(dir.path(), 5);
        let old_incarnation = store.incarnation().expect("incarnation");
        let target = store.path().to_path_buf();
        create(&store, "after the backup");
        drop(store);
        // The store is damaged: the usual reason to restore.
        let mut before_bytes = fs::read(&target).expect("read");
        for (i, b) in before_bytes.iter_mut().enumerate().skip(4096) {
            *b = (i % 251) as u8;
        }
        fs::write(&target, &before_bytes).expect("damage");
        assert!(Store::open(&target, StoreOptions::new(node("W01"), NodeRole::Window)).is_err());

        let seen = Mutex::new(0u64);
        let info = restore_from(
            &backup,
            &target,
            &node("W01"),
            RestoreOptions::default(),
            &|done, _| *seen.lock().expect("lock") = done,
        )
        .expect("restore");
        assert_eq!(*seen.lock().expect("lock"), info.bytes);
        assert_eq!(info.snapshot_incarnation, old_incarnation);
        assert_ne!(info.incarnation, old_incarnation);
        assert_eq!(info.records, 5);
        let kept = before_restore_path(&target);
        assert_eq!(info.previous.as_deref(), Some(kept.as_path()));
        assert_eq!(fs::read(&kept).expect("kept"), before_bytes);

        let store = open(&target, "W01");
        assert_eq!(store.incarnation().expect("incarnation"), info.incarnation);
        assert_eq!(store.count_of_kind(RecordKind::Patient).expect("count"), 5);
        for id in &ids {
            assert!(store.get::<Patient>(*id).expect("read").is_some());
        }
        // Five creations, and the restore itself.
        assert_eq!(store.verify_audit().expect("read").expect("intact"), 6);
        let last = store.audit_entries(6, 1).expect("audit");
        assert_eq!(last[0].action, "store.restore");
        // The restored store takes writes again.
        create(&store, "after the restore");
        assert_eq!(store.count_of_kind(RecordKind::Patient).expect("count"), 6);
        // The snapshot itself was not changed.
        assert_eq!(sha256_file(&backup).expect("sha").0, info.sha256);
    }

    #[test]
    fn a_restored_node_never_hands_out_or_leases_a_number_twice() {
        use crate::WriteError;
        use crate::numbers::{NumberError, Series};
        use crate::rules::RuleError;
        let dir = tempfile::tempdir().expect("dir");
        let admin = Operator::new(OperatorName::new("info").expect("valid"), DeskRole::Admin);
        let central = Store::open(
            dir.path().join("central.redb"),
            StoreOptions::new(node("central"), NodeRole::Central),
        )
        .expect("open central");
        let w01 = open(&dir.path().join("w01.redb"), "W01");
        let range = central
            .lease_range(&admin, Series::Invoice, node("W01"), 10)
            .expect("lease")
            .value;
        w01.accept_lease(&admin, range).expect("accept");
        w01.void_next_number(&admin, Series::Invoice, "jam")
            .expect("spoil 1");
        let central_backup = dir.path().join("central-backup.redb");
        let w01_backup = dir.path().join("w01-backup.redb");
        central
            .backup_to(&central_backup, &no_progress)
            .expect("backup central");
        w01.backup_to(&w01_backup, &no_progress)
            .expect("backup W01");
        // After the backups: W01 hands out 2 and 3; central leases 11-20 to W02.
        w01.void_next_number(&admin, Series::Invoice, "jam")
            .expect("spoil 2");
        w01.void_next_number(&admin, Series::Invoice, "jam")
            .expect("spoil 3");
        let later = central
            .lease_range(&admin, Series::Invoice, node("W02"), 10)
            .expect("lease")
            .value;
        let (w01_path, central_path) = (w01.path().to_path_buf(), central.path().to_path_buf());
        drop((w01, central));
        restore_from(
            &w01_backup,
            &w01_path,
            &node("W01"),
            RestoreOptions::default(),
            &no_progress,
        )
        .expect("restore W01");
        restore_from(
            &central_backup,
            &central_path,
            &node("central"),
            RestoreOptions::default(),
            &no_progress,
        )
        .expect("restore central");
        // W01 must not hand out 2 again: what was unused in the backup is retired.
        let w01 = open(&w01_path, "W01");
        let err = w01
            .void_next_number(&admin, Series::Invoice, "jam")
            .unwrap_err();
        assert!(
            matches!(
                err,
                WriteError::Rule(RuleError::Number(NumberError::Exhausted { .. }))
            ),
            "{err}"
        );
        assert!(w01.range_report().expect("report").is_clean());
        // Central must not lease 11-20 again.
        let central = Store::open(
            &central_path,
            StoreOptions::new(node("central"), NodeRole::Central),
        )
        .expect("open");
        let next = central
            .lease_range(&admin, Series::Invoice, node("W03"), 10)
            .expect("lease")
            .value;
        assert!(next.start > later.end, "{next:?} overlaps {later:?}");
    }

    #[test]
    fn a_restore_refuses_an_open_store_and_another_nodes_snapshot() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, _, backup) = backed_up(dir.path(), 2);
        let target = store.path().to_path_buf();
        let err = restore_from(
            &backup,
            &target,
            &node("W01"),
            RestoreOptions::default(),
            &no_progress,
        )
        .unwrap_err();
        assert!(matches!(err, RestoreError::TargetLocked { .. }), "{err}");
        assert!(err.to_string().contains("stop the daemon"), "{err}");
        assert!(!before_restore_path(&target).exists());
        drop(store);

        let other = dir.path().join("w02").join("store.redb");
        let err = restore_from(
            &backup,
            &other,
            &node("W02"),
            RestoreOptions::default(),
            &no_progress,
        )
        .unwrap_err();
        assert!(matches!(err, RestoreError::OtherNode { .. }), "{err}");
        assert!(err.to_string().contains("backup of node W01"), "{err}");
        assert!(!other.exists());

        let info = restore_from(
            &backup,
            &other,
            &node("W02"),
            RestoreOptions {
                allow_other_node: true,
            },
            &no_progress,
        )
        .expect("allowed");
        assert_eq!(info.node.as_str(), "W02");
        assert_eq!(info.snapshot_node, "W01");
        let store = open(&other, "W02");
        assert_eq!(store.count_of_kind(RecordKind::Patient).expect("count"), 2);
    }

    #[test]
    fn a_backup_never_overwrites_and_a_restore_refuses_what_is_not_a_snapshot() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, _, backup) = backed_up(dir.path(), 1);
        let err = store.backup_to(&backup, &no_progress).unwrap_err();
        assert!(matches!(err, BackupError::Exists { .. }), "{err}");

        let text = dir.path().join("notes.txt");
        fs::write(&text, "not a database").expect("write");
        let target = dir.path().join("t").join("store.redb");
        let err = restore_from(
            &text,
            &target,
            &node("W01"),
            RestoreOptions::default(),
            &no_progress,
        )
        .unwrap_err();
        assert!(matches!(err, RestoreError::NotASnapshot { .. }), "{err}");
        let err = restore_from(
            &dir.path().join("missing.redb"),
            &target,
            &node("W01"),
            RestoreOptions::default(),
            &no_progress,
        )
        .unwrap_err();
        assert!(matches!(err, RestoreError::SnapshotIo { .. }), "{err}");
        assert!(err.to_string().contains("missing.redb"), "{err}");
        assert!(!target.exists());
    }

    /// Flips the bytes of the first occurrence of `needle` in the file.
    fn flip(path: &Path, needle: &[u8]) {
        let mut bytes = fs::read(path).expect("read");
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("needle in file");
        for b in &mut bytes[at..at + needle.len()] {
            *b ^= 0x5a;
        }
        fs::write(path, bytes).expect("write");
    }

    #[test]
    fn a_damaged_snapshot_is_reported_never_restored_and_never_panics() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, _, backup) = backed_up(dir.path(), 20);
        drop(store);
        let good = fs::read(&backup).expect("read");

        // A changed byte with the checksum file present: caught by the checksum.
        flip(&backup, b"\"actor\"");
        let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
        assert!(!report.passed());
        assert!(
            report.problems[0].contains("checksum"),
            "{:?}",
            report.problems
        );

        // Without it: caught by redb's page checksums.
        fs::remove_file(checksum_path(&backup)).expect("remove");
        let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
        assert!(!report.passed(), "a flipped audit entry went unnoticed");
        let target = dir.path().join("t").join("store.redb");
        let err = restore_from(
            &backup,
            &target,
            &node("W01"),
            RestoreOptions::default(),
            &no_progress,
        )
        .unwrap_err();
        assert!(matches!(err, RestoreError::Damaged { .. }), "{err}");
        assert!(!target.exists());

        // Garbage over the middle of the file, or a truncated file: an error or problems.
        let mut bytes = good.clone();
        let (a, b) = (bytes.len() / 4, bytes.len() * 3 / 4);
        for (i, byte) in bytes[a..b].iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(31) ^ 0xa5;
        }
        fs::write(&backup, &bytes).expect("write");
        let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
        assert!(!report.passed());
        fs::write(&backup, &good[..good.len() / 2]).expect("write");
        let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
        assert!(!report.passed());
        fs::write(&backup, &good[..2]).expect("write");
        let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
        assert!(
            report.problems[0].contains("not a Lifeline snapshot"),
            "{:?}",
            report.problems
        );

        // The good bytes pass again.
        fs::write(&backup, &good).expect("write");
        let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
        assert!(report.passed(), "{:?}", report.problems);
        assert_eq!(report.records, 20);
        assert_eq!(
            report
                .records_by_kind
                .iter()
                .find(|(k, _)| *k == RecordKind::Patient),
            Some(&(RecordKind::Patient, 20))
        );
    }

    #[test]
    fn verify_reports_records_whose_heads_disagree_with_the_index() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, ids, _) = backed_up(dir.path(), 3);
        {
            let w = store.shared.db.begin_write().expect("write");
            w.open_table(tables::DOC_HEADS)
                .expect("table")
                .insert(ids[1].to_bytes(), [7u8; 32].as_slice())
                .expect("insert");
            w.commit().expect("commit");
        }
        let backup = dir.path().join("tampered.redb");
        store.backup_to(&backup, &no_progress).expect("backup");
        let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].contains(&ids[1].to_string()));
        assert!(report.problems[0].contains("heads differ"));
    }
}
