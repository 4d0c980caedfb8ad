//! Compacting a store while its daemon is stopped: every table is copied in key order into a
//! new file beside the store (the backup's copy: its pages come out full), the copy is read
//! whole and checked against the store, and it is renamed over the store in one step.
//!
//! The copy holds exactly what the store holds, incarnation included: peers see the same
//! node with the same feed and resend nothing. What it saves is space redb leaves in pages
//! filled out of key order (records arriving with random ids, indexes written with them): a
//! third of the file in the scale benchmark's central (bench/README, "scale").
//!
//! The store stays open read-only until the copy has replaced it, so a daemon started
//! meanwhile fails to open it instead of writing to a file about to be replaced.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use redb::{DatabaseError, ReadableDatabase};
use serde::{Deserialize, Serialize};

use super::copier::CopyError;
use super::files::{parent_dir, sync_dir};
use super::restore::{open_checking_every_page, read_whole};
use super::snapshot::{BackupError, copy_read};
use super::{Summary, summarize};
use crate::error::contained;
use crate::store::error::FileDamage;

/// Page cache of the store being read.
const READ_CACHE_BYTES: usize = 64 << 20;

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactInfo {
    pub target: PathBuf,
    pub node: String,
    /// Unchanged by the compaction.
    pub incarnation: String,
    pub records: u64,
    pub audit_entries: u64,
    pub feed_seq: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Why a store was not compacted. A refused compaction leaves the store as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{target} is open in another process: stop the daemon before compacting")]
    TargetLocked { target: PathBuf },
    #[error(
        "cannot open the store {path} read-only (a store the daemon did not close cleanly needs the recovery its next start does: start it once, stop it, then compact)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: DatabaseError,
    },
    #[error("cannot copy the store {path}")]
    Copy {
        path: PathBuf,
        #[source]
        source: Box<BackupError>,
    },
    #[error("the compacted copy {path} failed its check")]
    CopyDamaged {
        path: PathBuf,
        #[source]
        damage: FileDamage,
    },
    #[error(
        "the compacted copy {path} does not hold what the store holds: {store} in the store, {copy} in the copy"
    )]
    Differs {
        path: PathBuf,
        store: String,
        copy: String,
    },
}

/// Compacts the store at `target`, whose daemon must be stopped. `progress(done, total)`
/// counts rows copied.
pub fn compact_store(
    target: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<CompactInfo, CompactError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CompactError::Io { path, source }
    };
    // The file itself, where a symlink names it: the copy is written beside the file (on its
    // own file system) and renamed over it, never over the link.
    let target = &fs::canonicalize(target).map_err(io(target))?;
    let bytes_before = fs::metadata(target).map_err(io(target))?.len();
    // The read-only open takes the file's lock: a daemon holding the store refuses it.
    let source = redb::Builder::new()
        .set_cache_size(READ_CACHE_BYTES)
        .open_read_only(target)
        .map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                CompactError::TargetLocked {
                    target: target.to_path_buf(),
                }
            }
            other => CompactError::Open {
                path: target.to_path_buf(),
                source: other,
            },
        })?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".into());
    let dir = parent_dir(target);
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}.compact-"))
        .tempfile_in(&dir)
        .map_err(io(&dir))?;
    let copy_failed = |source| CompactError::Copy {
        path: target.to_path_buf(),
        source: Box::new(source),
    };
    let copied = contained(|| {
        let r = source.begin_read().map_err(super::copier::src)?;
        copy_read(&r, target, temp.path(), progress)
    });
    let summary = match copied {
        Some(Ok(Ok(summary))) => summary,
        Some(Ok(Err(e))) => return Err(copy_failed(e)),
        Some(Err(CopyError::Source(source))) => {
            return Err(copy_failed(BackupError::Read {
                store: target.to_path_buf(),
                source,
            }));
        }
        Some(Err(CopyError::Destination(source))) => {
            return Err(copy_failed(BackupError::Write {
                path: temp.path().to_path_buf(),
                source,
            }));
        }
        None => {
            return Err(copy_failed(BackupError::Damaged {
                store: target.to_path_buf(),
            }));
        }
    };
    let copy = match contained(|| check_copy(temp.path())) {
        Some(checked) => checked?,
        None => {
            return Err(CompactError::CopyDamaged {
                path: temp.path().to_path_buf(),
                damage: FileDamage::EnginePanicked,
            });
        }
    };
    same_contents(temp.path(), &summary, &copy)?;
    File::open(temp.path())
        .and_then(|f| f.sync_all())
        .map_err(io(temp.path()))?;
    temp.persist(target).map_err(|e| CompactError::Io {
        path: target.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(&dir).map_err(io(&dir))?;
    // Held until the copy replaced the store (see the module's notes).
    drop(source);
    let bytes_after = fs::metadata(target).map_err(io(target))?.len();
    tracing::info!(
        target = %target.display(),
        bytes_before,
        bytes_after,
        records = summary.records,
        "store compacted"
    );
    Ok(CompactInfo {
        target: target.to_path_buf(),
        node: summary.node,
        incarnation: summary.incarnation,
        records: summary.records,
        audit_entries: summary.audit_entries,
        feed_seq: summary.feed_seq,
        bytes_before,
        bytes_after,
    })
}

/// Opens the copy checking every page, reads it whole and says what it holds.
fn check_copy(path: &Path) -> Result<Summary, CompactError> {
    let damaged = |damage| CompactError::CopyDamaged {
        path: path.to_path_buf(),
        damage,
    };
    let db = open_checking_every_page(path).map_err(damaged)?;
    read_whole(&db).map_err(damaged)?;
    let r = db
        .begin_read()
        .map_err(|e| damaged(FileDamage::Storage(e.into())))?;
    summarize(&r).map_err(|e| damaged(FileDamage::Storage(e)))
}

/// The copy names the same node and incarnation, and holds as many records and audit
/// entries at the same feed position, as the store it replaces.
fn same_contents(path: &Path, store: &Summary, copy: &Summary) -> Result<(), CompactError> {
    if store == copy {
        return Ok(());
    }
    Err(CompactError::Differs {
        path: path.to_path_buf(),
        store: format!("{store:?}"),
        copy: format!("{copy:?}"),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use redb::{Key, ReadTransaction, TableDefinition, TableHandle, Value};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::id::NodeName;
    use crate::record::Patient;
    use crate::roles::NodeRole;
    use crate::store::tables::{self, TableVisitor};
    use crate::store::{Store, StoreOptions};
    use crate::test_support::{new_patient, registrar};

    fn open(path: &Path) -> Store {
        let opts = StoreOptions::new(NodeName::new("W01").expect("valid"), NodeRole::Window);
        Store::open(path, opts).expect("open")
    }

    /// Every table's rows, as a digest of their bytes in key order.
    fn tables_of(path: &Path) -> BTreeMap<String, (u64, String)> {
        struct Rows<'a>(&'a ReadTransaction, BTreeMap<String, (u64, String)>);
        impl TableVisitor for Rows<'_> {
            type Error = redb::Error;
            fn visit<K: Key + 'static, V: Value + 'static>(
                &mut self,
                table: TableDefinition<'static, K, V>,
            ) -> Result<(), redb::Error> {
                let mut hash = Sha256::new();
                let mut n = 0;
                for row in redb::ReadableTable::iter(&self.0.open_table(table)?)? {
                    let (k, v) = row?;
                    hash.update(K::as_bytes(&k.value()).as_ref());
                    hash.update(V::as_bytes(&v.value()).as_ref());
                    n += 1;
                }
                let digest = format!("{:x}", hash.finalize());
                self.1.insert(table.name().to_owned(), (n, digest));
                Ok(())
            }
        }
        let db = redb::Builder::new().open_read_only(path).expect("open");
        let r = db.begin_read().expect("read");
        let mut rows = Rows(&r, BTreeMap::new());
        tables::for_each(&mut rows).expect("every table");
        rows.1
    }

    #[test]
    fn a_compacted_store_holds_every_row_in_a_smaller_file_under_the_same_incarnation() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.redb");
        let store = open(&path);
        let ids: Vec<_> = (0..400)
            .map(|i| {
                let saved = store.create_patient(&registrar(), new_patient(&format!("患者{i}")));
                saved.expect("saved").value.header.id
            })
            .collect();
        // Each record written again: the pages its first writes took are left free.
        for &id in &ids {
            let edit = crate::desk::PatientEdit {
                phone: Some("13900001111".into()),
                ..Default::default()
            };
            store.update_patient(&registrar(), id, edit).expect("saved");
        }
        let incarnation = store.incarnation().expect("incarnation");
        drop(store);
        let before = tables_of(&path);
        let progress = std::sync::Mutex::new(Vec::new());
        let info = compact_store(&path, &|done, total| {
            progress.lock().expect("lock").push((done, total));
        })
        .expect("compacted");
        assert_eq!(tables_of(&path), before, "every table, row for row");
        assert!(
            info.bytes_after < info.bytes_before,
            "{} bytes after, {} before",
            info.bytes_after,
            info.bytes_before
        );
        assert_eq!(info.bytes_after, fs::metadata(&path).expect("file").len());
        assert_eq!(
            (info.records, info.incarnation.clone()),
            (400, incarnation.clone())
        );
        let last = *progress.lock().expect("lock").last().expect("progress");
        assert_eq!(last.0, last.1, "progress reaches its total");
        let store = open(&path);
        assert_eq!(
            store.incarnation().expect("incarnation"),
            incarnation,
            "peers see the same store"
        );
        for id in &ids {
            assert!(store.get::<Patient>(*id).expect("read").is_some(), "{id}");
        }
        store
            .create_patient(&registrar(), new_patient("新患者"))
            .expect("the compacted store takes writes");
    }

    #[test]
    fn a_store_in_use_or_not_a_store_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.redb");
        let store = open(&path);
        store
            .create_patient(&registrar(), new_patient("甲"))
            .expect("saved");
        let refused = compact_store(&path, &|_, _| {}).expect_err("open elsewhere");
        assert!(
            matches!(refused, CompactError::TargetLocked { .. }),
            "{refused}"
        );
        assert_eq!(store.stats().expect("stats").records, 1, "still in use");
        drop(store);

        let junk = dir.path().join("notes.redb");
        fs::write(&junk, b"not a database at all").expect("write");
        let refused = compact_store(&junk, &|_, _| {}).expect_err("not a store");
        assert!(matches!(refused, CompactError::Open { .. }), "{refused}");
        assert!(fs::read(&junk).expect("file") == b"not a database at all");
        let missing = compact_store(&dir.path().join("none.redb"), &|_, _| {});
        assert!(matches!(missing, Err(CompactError::Io { .. })));
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("compact"))
            .collect();
        assert!(leftovers.is_empty(), "no partial copy left behind");
    }

    /// What the compaction's last step relies on: while it holds the store open read-only, a
    /// daemon cannot open it for writing.
    #[test]
    fn a_store_held_read_only_cannot_be_opened_for_writing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.redb");
        drop(open(&path));
        let held = redb::Builder::new()
            .open_read_only(&path)
            .expect("read-only");
        let opts = StoreOptions::new(NodeName::new("W01").expect("valid"), NodeRole::Window);
        assert!(Store::open(&path, opts).is_err(), "opened while held");
        drop(held);
        drop(open(&path));
    }

    /// A store reached through a symlink (a disk of its own, say) is compacted where it is:
    /// the link stays a link.
    #[cfg(unix)]
    #[test]
    fn a_store_behind_a_symlink_is_compacted_in_place() {
        let dir = tempfile::tempdir().expect("dir");
        let real = dir.path().join("disk").join("store.redb");
        fs::create_dir_all(real.parent().expect("parent")).expect("dir");
        let store = open(&real);
        store
            .create_patient(&registrar(), new_patient("甲"))
            .expect("saved");
        drop(store);
        let link = dir.path().join("store.redb");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let before = tables_of(&real);
        let info = compact_store(&link, &|_, _| {}).expect("compacted");
        assert_eq!(info.target, fs::canonicalize(&real).expect("real"));
        assert!(fs::symlink_metadata(&link).expect("link").is_symlink());
        assert_eq!(tables_of(&real), before);
    }
}
