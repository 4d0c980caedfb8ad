//! Taking a backup: a consistent snapshot of the live store written beside its destination,
//! fsynced, renamed into place, with its checksum file.

use crate::error::contained;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use redb::{Database, MultimapTableHandle, ReadTransaction, ReadableDatabase, TableHandle};
use serde::{Deserialize, Serialize};

use super::copier::{Copier, CopyError, dst, src, table_rows};
use super::files::{checksum_path, parent_dir, sha256_file, sync_dir, write_checksum_file};
use super::{Summary, summarize};
use crate::id::NodeName;
use crate::store::{Store, tables};

/// Page cache of the file being written.
const BACKUP_CACHE_BYTES: usize = 32 << 20;

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
    #[error("cannot write the backup {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the store {store}")]
    Read {
        store: PathBuf,
        #[source]
        source: redb::Error,
    },
    #[error("cannot write the backup {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
    #[error("the store {store} has a table {table:?} that this build does not know how to back up")]
    UnknownTable { store: PathBuf, table: String },
    #[error(
        "the storage engine failed on damaged data while reading {store}; no backup was written"
    )]
    Damaged { store: PathBuf },
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
        let copied = contained(|| {
            let r = self.shared.db.begin_read().map_err(src)?;
            copy_read(&r, self.path(), temp.path(), progress)
        });
        let summary = match copied {
            Some(result) => result.map_err(|e| match e {
                CopyError::Source(source) => BackupError::Read {
                    store: self.path().to_path_buf(),
                    source,
                },
                CopyError::Destination(source) => BackupError::Write {
                    path: path.to_path_buf(),
                    source,
                },
            })??,
            None => {
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
}

/// Copies one read transaction of the store at `store` into a new database at `to` (rows in
/// key order, so its pages come out full). The outer error is about the store's contents,
/// the inner about reading or writing.
pub(super) fn copy_read(
    r: &ReadTransaction,
    store: &Path,
    to: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<Result<Summary, BackupError>, CopyError> {
    let known = tables::names();
    for table in r.list_tables().map_err(src)? {
        if !known.iter().any(|name| name == table.name()) {
            return Ok(Err(BackupError::UnknownTable {
                store: store.to_path_buf(),
                table: table.name().to_owned(),
            }));
        }
    }
    if let Some(table) = r.list_multimap_tables().map_err(src)?.next() {
        return Ok(Err(BackupError::UnknownTable {
            store: store.to_path_buf(),
            table: table.name().to_owned(),
        }));
    }
    let summary = summarize(r).map_err(CopyError::Source)?;
    let total = table_rows(r).map_err(CopyError::Source)?;
    progress(0, total);
    let db = Database::builder()
        .set_cache_size(BACKUP_CACHE_BYTES)
        .create(to)
        .map_err(dst)?;
    let mut copier = Copier {
        from: r,
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
