//! Restoring a store from a snapshot while its daemon is stopped: the snapshot is copied
//! beside the store (never opened in place), checked whole, stamped with a new incarnation
//! and renamed over the store in one step; the replaced file is kept.

use crate::error::contained;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError};
use serde::{Deserialize, Serialize};

use super::files::{
    CopySide, before_restore_path, checksum_path, copy_file, keep_previous, parent_dir,
    read_checksum_file, same_file, sync_dir,
};
use super::lock::target_is_open;
use super::stamp::stamp;
use super::{Summary, summarize};
use crate::id::{NodeName, RecordId};
use crate::store::audit::check_chain;
use crate::store::error::FileDamage;
use crate::store::open::{has_redb_magic, scan_tables};
use crate::store::tables::{self, SCHEMA_VERSION, meta_keys};

/// How a restore may bend the rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Restore a snapshot of another node here (its records keep their origin; the store is
    /// renamed to the node restored into).
    pub allow_other_node: bool,
    /// Where the restored store's new incarnation gets its random part: the operating system
    /// (`None`, every node), or this seed, for a simulation that must replay a run exactly.
    pub incarnation_seed: Option<u64>,
    /// When the restore happens, on the node's clock (`None`: the machine's clock, as every
    /// node): what the retired numbers and the audit entry say, and where the new
    /// incarnation's life begins (ranges leased before it are retired as they come back,
    /// [`crate::store::Store::incarnation_ms`]).
    pub at_ms: Option<crate::clock::UnixMs>,
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
    #[error("cannot read the snapshot {path}")]
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
    #[error("the snapshot {path} is damaged and cannot be restored")]
    Damaged {
        path: PathBuf,
        #[source]
        damage: FileDamage,
    },
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
    #[error("cannot write {path}")]
    TargetIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the restored store {path}")]
    TargetStorage {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
}

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

/// Restores for `node`, or for whatever node the snapshot belongs to.
pub(super) fn restore(
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
    let (sha256, bytes) =
        copy_file(snapshot, temp.path(), meta.len(), progress).map_err(|(side, e)| match side {
            CopySide::Source => snap_io(e),
            CopySide::Destination => target_io(e),
        })?;
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

    let checked = contained(|| check_and_stamp(snapshot, temp.path(), node, options));
    let stamped = match checked {
        Some(result) => result?,
        None => {
            return Err(RestoreError::Damaged {
                path: snapshot.to_path_buf(),
                damage: FileDamage::EnginePanicked,
            });
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

/// Refuses a target that a process (a daemon) has open.
fn refuse_if_open(target: &Path) -> Result<(), RestoreError> {
    if target_is_open(target) {
        return Err(RestoreError::TargetLocked {
            target: target.to_path_buf(),
        });
    }
    Ok(())
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
    let damaged = |damage: FileDamage| RestoreError::Damaged {
        path: snapshot.to_path_buf(),
        damage,
    };
    let db = open_checking_every_page(copy).map_err(damaged)?;
    let to_damaged = |e: redb::Error| damaged(FileDamage::Storage(e));
    let summary = {
        let r = redb::ReadableDatabase::begin_read(&db).map_err(|e| to_damaged(e.into()))?;
        let meta = r.open_table(tables::META).map_err(|e| match e {
            redb::TableError::TableDoesNotExist(_) => RestoreError::NotASnapshot {
                path: snapshot.to_path_buf(),
            },
            other => to_damaged(other.into()),
        })?;
        let schema = redb::ReadableTable::get(&meta, meta_keys::SCHEMA)
            .map_err(|e| to_damaged(e.into()))?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned())
            .unwrap_or_else(|| "none".into());
        // A snapshot of the schema before this one is restored as it is; the store's open
        // upgrades it.
        let upgradable = crate::store::upgrade::UPGRADABLE.to_string();
        if schema != SCHEMA_VERSION.to_string() && schema != upgradable {
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
        None => {
            NodeName::new(summary.node.clone()).map_err(|e| damaged(FileDamage::NodeName(e)))?
        }
    };
    read_whole(&db).map_err(damaged)?;

    let incarnation = match options.incarnation_seed {
        None => RecordId::generate(),
        Some(seed) => crate::id::Ids::seeded(seed).record_id_at(0),
    }
    .to_string();
    let write = || -> Result<(), redb::Error> {
        let w = db.begin_write()?;
        let now = options
            .at_ms
            .unwrap_or_else(|| crate::clock::Clock::now_ms(&crate::clock::SystemClock));
        let cause = format!("restored from {}", snapshot.display());
        stamp(&w, &node, &incarnation, "store.restore", &cause, now)?;
        w.commit()?;
        Ok(())
    };
    let target_storage = |source| RestoreError::TargetStorage {
        path: copy.to_path_buf(),
        source,
    };
    write().map_err(target_storage)?;
    db.close().map_err(|e| target_storage(e.into()))?;
    Ok(Stamped {
        summary,
        node,
        incarnation,
    })
}

/// Reads every entry of every table of `db` and checks its audit chain: what a restored or
/// compacted copy must pass before it replaces a store.
pub(super) fn read_whole(db: &Database) -> Result<(), FileDamage> {
    scan_tables(db).map_err(FileDamage::Storage)?;
    let r = redb::ReadableDatabase::begin_read(db).map_err(|e| FileDamage::Storage(e.into()))?;
    check_chain(&r)
        .map_err(FileDamage::Storage)?
        .map_err(FileDamage::AuditChain)?;
    Ok(())
}

/// Opens a copy verifying every page checksum, which reports damage instead of panicking.
/// redb would then repair a file whose last commit is damaged by falling back to the commit
/// before it; that fallback is the only repair step reported between the start (0.0) and the
/// allocator rebuild (0.6), and it is refused: a copy replaces a store whole or not at all.
pub(super) fn open_checking_every_page(path: &Path) -> Result<Database, FileDamage> {
    Database::builder()
        .set_check_integrity_on_open(true)
        .set_repair_callback(|session| {
            let at = session.progress();
            if at > 0.0 && at < 0.5 {
                session.abort();
            }
        })
        .open(path)
        .map_err(|e| match e {
            DatabaseError::RepairAborted => FileDamage::LastCommitFails,
            other => FileDamage::Storage(other.into()),
        })
}
