//! Opening a store: creating a new file, or checking an existing one is ours and whole before
//! anything writes to it. A file the store refuses is left byte for byte as it was.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use automerge::ActorId;
use redb::{Database, Key, ReadableDatabase, TableDefinition, Value};

use super::audit::GENESIS;
use super::cache::DocCache;
use super::error::FileDamage;
use super::roster;
use super::signing::CommitCache;
use super::tables::{self, SCHEMA_VERSION, TableVisitor, meta_keys};
use super::writer::Writer;
use super::{OpenCheck, Shared, Store, StoreOptions, upgrade};
use crate::id::NodeName;
use crate::trust::Roster;

/// Peers' signed commits remembered as verified: a few batches from every peer at once (a
/// commit signs one group commit of its author's, often a single record).
const VERIFIED_COMMITS: usize = 16_384;

/// Why a store could not be opened. Opening never changes a file it refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a Lifeline store (it is not a redb database file)")]
    NotAStore { path: PathBuf },
    #[error("{path} is damaged or truncated and cannot be opened; restore it from a backup")]
    Corrupt {
        path: PathBuf,
        #[source]
        damage: FileDamage,
    },
    #[error("{path} is already open in another process (is a daemon running?)")]
    AlreadyOpen { path: PathBuf },
    #[error("{path} has schema version {found}, this build reads version {expected}")]
    SchemaVersion {
        path: PathBuf,
        found: String,
        expected: u64,
    },
    #[error("{path} belongs to node {found}, not to {expected}")]
    WrongNode {
        path: PathBuf,
        found: String,
        expected: NodeName,
    },
    #[error("cannot open {path}")]
    Storage {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
    #[error("cannot read what {path} holds")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: Box<super::ReadError>,
    },
    #[error("cannot note in {path} that the node still relearns the history it lost")]
    Relearning {
        path: PathBuf,
        #[source]
        source: Box<super::WriteError>,
    },
    #[error("cannot take the node's signing key into {path}")]
    Credentials {
        path: PathBuf,
        #[source]
        source: Box<super::WriteError>,
    },
}

/// The first bytes of every redb file.
const REDB_MAGIC: &[u8] = b"redb";

impl Store {
    /// Opens the store at `path`, creating it if the file does not exist.
    pub fn open(path: impl AsRef<Path>, opts: StoreOptions) -> Result<Store, OpenError> {
        let path = path.as_ref().to_path_buf();
        let exists = path.exists();
        // redb can panic on damaged data instead of returning an error; at open that means a
        // damaged file, refused like any other.
        let opened = crate::error::contained(|| open_database(&path, &opts, exists));
        let db = match opened {
            Some(result) => result?,
            None => {
                return Err(OpenError::Corrupt {
                    path,
                    damage: FileDamage::EnginePanicked,
                });
            }
        };
        if let Some(c) = &opts.credentials
            && c.member().name != opts.node
        {
            return Err(OpenError::WrongNode {
                path,
                found: c.member().name.to_string(),
                expected: opts.node.clone(),
            });
        }
        let credentials = opts.credentials.clone();
        let mut shared = Shared {
            actor: make_actor(&opts.node, &opts.ids),
            opened_feed_head: std::sync::OnceLock::new(),
            cache: Mutex::new(DocCache::new(opts.cache_docs)),
            db: Closing(Some(db)),
            opts,
            path: path.clone(),
            subscribers: Mutex::new(Vec::new()),
            observers: Mutex::new(Vec::new()),
            roster: RwLock::new(Arc::new(Roster::new())),
            damaged: AtomicBool::new(false),
            signer: RwLock::new(None),
            commits: Mutex::new(CommitCache::new()),
            prepared: Mutex::new(Default::default()),
            requests_waiting: Mutex::new(Vec::new()),
            asks: Mutex::new(super::Asks::default()),
            verified: Arc::new(crate::trust::VerifiedSignatures::new(VERIFIED_COMMITS)),
            mark: Mutex::new(Default::default()),
        };
        if !exists {
            initialize(&shared).map_err(|source| OpenError::Storage {
                path: path.clone(),
                source,
            })?;
        }
        let roster = roster::load(&*shared.db).map_err(|e| OpenError::Unreadable {
            path: path.clone(),
            source: Box::new(e),
        })?;
        if let Ok(mut r) = shared.roster.write() {
            *r = Arc::new(roster);
        }
        let mark = super::mark::check_at_open(&shared).map_err(|source| OpenError::Storage {
            path: path.clone(),
            source,
        })?;
        shared.mark = Mutex::new(mark);
        let shared = Arc::new(shared);
        let writer = Writer::start(shared.clone()).map_err(|e| OpenError::Io {
            path: path.clone(),
            source: e,
        })?;
        tracing::info!(node = %shared.opts.node, path = %path.display(), "store open");
        let store = Store {
            shared,
            writer: Arc::new(writer),
        };
        let head = store.feed_head().map_err(|e| OpenError::Unreadable {
            path: path.clone(),
            source: Box::new(e),
        })?;
        let _ = store.shared.opened_feed_head.set(head);
        store
            .relearn_in_this_opening()
            .map_err(|source| OpenError::Relearning {
                path: path.clone(),
                source: Box::new(source),
            })?;
        if let Some(credentials) = credentials {
            store
                .take_credentials(credentials)
                .map_err(|source| OpenError::Credentials {
                    path,
                    source: Box::new(source),
                })?;
        }
        Ok(store)
    }
}

/// The store's database, closed when the store's last handle goes (in the writer thread, as a
/// rule). redb's close is a write of its own (the allocator state, so that the next open needs
/// no repair), and on a damaged file it can panic like any other write: the table check at
/// open reads every entry but does not write, so a file can pass it and still make the close
/// panic (found by the `store_open` fuzz target). Contained, the close is given up, and the
/// next open recovers the file as after a crash. Not contained: a file on which redb panics
/// again while that panic unwinds (in its write transaction's destructor), which aborts the
/// process whatever catches the first (`fuzz/crashes/store_open/`; redb's, not fixed here).
pub(crate) struct Closing(Option<Database>);

impl std::ops::Deref for Closing {
    type Target = Database;

    fn deref(&self) -> &Database {
        self.0
            .as_ref()
            .expect("the database is open until the store is dropped")
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        let Some(db) = self.0.take() else {
            return;
        };
        match crate::error::contained(|| db.close()) {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                tracing::warn!(error = %crate::error::Chain(&e), "closing the store failed; the next open recovers the file");
            }
            None => tracing::error!(
                "the storage engine panicked while closing the store (damaged data); the next open recovers the file"
            ),
        }
    }
}

impl Store {
    /// Reads every entry of every table, as [`OpenCheck::Full`] does at open, in one read
    /// transaction beside the node's work (desk writes go on; the scan sees the file as it
    /// was when it began). Returns `Ok(false)` if `stop` was set before it finished (the
    /// daemon stopping), `Ok(true)` once every table was read. An error names the damage;
    /// the store then refuses every write ([`super::WriteError::StoreDamaged`]) so that
    /// nothing more goes into a damaged file, and reads go on where they can.
    pub fn check_tables(&self, stop: &AtomicBool) -> Result<bool, FileDamage> {
        let damage = match crate::error::contained(|| scan_tables_until(&*self.shared.db, stop)) {
            Some(Ok(finished)) => return Ok(finished),
            Some(Err(e)) => FileDamage::Storage(e),
            None => FileDamage::EnginePanicked,
        };
        self.shared.damaged.store(true, Ordering::SeqCst);
        Err(damage)
    }
}

/// Opens (or creates) the database file and checks it is ours and whole: identity and schema
/// first from a read-only open, so that a refused file is left exactly as it was, then (with
/// [`OpenCheck::Full`]) every table read end to end.
fn open_database(path: &Path, opts: &StoreOptions, exists: bool) -> Result<Database, OpenError> {
    let (node, cache_bytes) = (&opts.node, opts.cache_bytes);
    if !exists {
        return Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| open_error(path, e));
    }
    check_magic(path)?;
    let full = opts.open_check == OpenCheck::Full;
    // A file that needs recovery after a crash cannot be opened read-only. Recovery rewrites
    // the file, so it is first done on a scratch copy beside it, which is checked the same way;
    // only a file that passes is then recovered in place.
    // The check's own handle has the store's cache bound too (redb's default is 1 GiB, which
    // a scan of a large file fills).
    match Database::builder()
        .set_cache_size(cache_bytes)
        .open_read_only(path)
    {
        Ok(ro) => {
            check_meta(&ro, path, node)?;
            check_roster(&ro, path)?;
            if full {
                scan_tables(&ro).map_err(|e| corrupt(path, e))?;
            }
        }
        Err(redb::DatabaseError::RepairAborted) => {
            check_recovered_copy(path, node, cache_bytes, full)?;
        }
        Err(e) => return Err(open_error(path, e)),
    }
    let db = Database::builder()
        .set_repair_callback(|_| {})
        .set_cache_size(cache_bytes)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    if check_meta(&db, path, node)? == upgrade::UPGRADABLE {
        let moved = upgrade::from_7(&db).map_err(|source| OpenError::Storage {
            path: path.to_path_buf(),
            source,
        })?;
        tracing::info!(path = %path.display(), moved, "store upgraded from schema 7 to 8");
    }
    Ok(db)
}

/// Recovers a scratch copy of a crashed file and checks it; the original is not touched.
fn check_recovered_copy(
    path: &Path,
    node: &NodeName,
    cache_bytes: usize,
    full: bool,
) -> Result<(), OpenError> {
    let io = |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let scratch = tempfile::Builder::new()
        .prefix(".recovery-check-")
        .tempfile_in(dir)
        .map_err(io)?;
    fs::copy(path, scratch.path()).map_err(io)?;
    let db = Database::builder()
        .set_repair_callback(|_| {})
        .set_cache_size(cache_bytes)
        .open(scratch.path())
        .map_err(|e| open_error(path, e))?;
    check_meta(&db, path, node)?;
    check_roster(&db, path)?;
    if full {
        scan_tables(&db).map_err(|e| corrupt(path, e))?;
    }
    Ok(())
}

/// The roster decodes: read before the file is opened for writing, as [`Store::open`] reads
/// it again after, so that a roster it cannot read refuses the file untouched (a writable
/// handle's close writes; found by the `store_open` fuzz target). The scan reads every entry's
/// bytes, not whether they decode.
fn check_roster(db: &impl ReadableDatabase, path: &Path) -> Result<(), OpenError> {
    roster::load(db)
        .map(|_| ())
        .map_err(|e| OpenError::Unreadable {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
}

fn corrupt(path: &Path, e: redb::Error) -> OpenError {
    OpenError::Corrupt {
        path: path.to_path_buf(),
        damage: FileDamage::Storage(e),
    }
}

/// Reads every entry of every table, so that damage anywhere in the file is found at open
/// rather than in the middle of a desk's work.
pub(super) fn scan_tables(db: &impl ReadableDatabase) -> Result<(), redb::Error> {
    scan_tables_until(db, &AtomicBool::new(false)).map(|_| ())
}

/// [`scan_tables`], giving up (`Ok(false)`) once `stop` is set.
fn scan_tables_until(db: &impl ReadableDatabase, stop: &AtomicBool) -> Result<bool, redb::Error> {
    struct Scan<'a> {
        tx: redb::ReadTransaction,
        stop: &'a AtomicBool,
        stopped: bool,
        /// The file is of the schema before this one: the tables its upgrade adds are not
        /// there yet.
        upgrading: bool,
    }
    impl TableVisitor for Scan<'_> {
        type Error = redb::Error;
        fn visit<K: Key + 'static, V: Value + 'static>(
            &mut self,
            table: TableDefinition<'static, K, V>,
        ) -> Result<(), redb::Error> {
            if self.stopped {
                return Ok(());
            }
            let t = match self.tx.open_table(table) {
                Err(redb::TableError::TableDoesNotExist(name))
                    if self.upgrading && upgrade::ADDED.contains(&name.as_str()) =>
                {
                    return Ok(());
                }
                opened => opened?,
            };
            for (n, entry) in redb::ReadableTable::iter(&t)?.enumerate() {
                if n % 4096 == 0 && self.stop.load(Ordering::Relaxed) {
                    self.stopped = true;
                    return Ok(());
                }
                let (k, v) = entry?;
                let _ = (k.value(), v.value());
            }
            Ok(())
        }
    }
    let tx = db.begin_read()?;
    let upgrading = {
        let meta = tx.open_table(tables::META)?;
        meta.get(meta_keys::SCHEMA)?
            .is_some_and(|v| v.value() == upgrade::UPGRADABLE.to_string().as_bytes())
    };
    let mut scan = Scan {
        tx,
        stop,
        stopped: false,
        upgrading,
    };
    tables::for_each(&mut scan)?;
    Ok(!scan.stopped)
}

fn make_actor(node: &NodeName, ids: &crate::id::Ids) -> ActorId {
    let mut bytes = node.as_str().as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&ids.tail());
    ActorId::from(bytes)
}

fn check_magic(path: &Path) -> Result<(), OpenError> {
    let is_redb = has_redb_magic(path).map_err(|source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !is_redb {
        return Err(OpenError::NotAStore {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Whether a file starts as every redb file does.
pub(super) fn has_redb_magic(path: &Path) -> std::io::Result<bool> {
    let mut head = Vec::with_capacity(REDB_MAGIC.len());
    fs::File::open(path)?
        .take(REDB_MAGIC.len() as u64)
        .read_to_end(&mut head)?;
    Ok(head == REDB_MAGIC)
}

fn open_error(path: &Path, e: redb::DatabaseError) -> OpenError {
    let path = path.to_path_buf();
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => OpenError::AlreadyOpen { path },
        e @ redb::DatabaseError::Storage(redb::StorageError::Corrupted(_)) => OpenError::Corrupt {
            path,
            damage: FileDamage::Storage(e.into()),
        },
        redb::DatabaseError::Storage(redb::StorageError::Io(source))
            if source.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            OpenError::Corrupt {
                path,
                damage: FileDamage::EndsEarly(source),
            }
        }
        other => OpenError::Storage {
            path,
            source: other.into(),
        },
    }
}

/// Creates every table and writes the metadata of a new store.
fn initialize(shared: &Shared) -> Result<(), redb::Error> {
    struct Create<'a>(&'a redb::WriteTransaction);
    impl TableVisitor for Create<'_> {
        type Error = redb::Error;
        fn visit<K: Key + 'static, V: Value + 'static>(
            &mut self,
            table: TableDefinition<'static, K, V>,
        ) -> Result<(), redb::Error> {
            self.0.open_table(table)?;
            Ok(())
        }
    }
    let w = shared.db.begin_write()?;
    tables::for_each(&mut Create(&w))?;
    {
        let mut meta = w.open_table(tables::META)?;
        meta.insert(meta_keys::SCHEMA, SCHEMA_VERSION.to_string().as_bytes())?;
        meta.insert(meta_keys::NODE, shared.opts.node.as_str().as_bytes())?;
        meta.insert(meta_keys::ROLE, shared.opts.role.name().as_bytes())?;
        let now = shared.opts.clock.now_ms().to_string();
        meta.insert(meta_keys::CREATED_MS, now.as_bytes())?;
        meta.insert(meta_keys::AUDIT_HEAD, GENESIS.as_bytes())?;
        let incarnation = shared.opts.ids.record_id_at(shared.opts.clock.now_ms());
        meta.insert(meta_keys::INCARNATION, incarnation.to_string().as_bytes())?;
    }
    w.commit()?;
    Ok(())
}

/// Refuses a file of another schema version or another node, reading only.
fn check_meta(db: &impl ReadableDatabase, path: &Path, node: &NodeName) -> Result<u64, OpenError> {
    let path = path.to_path_buf();
    let fail = |e: redb::Error| match e {
        redb::Error::TableDoesNotExist(_) => OpenError::NotAStore { path: path.clone() },
        e @ redb::Error::Corrupted(_) => OpenError::Corrupt {
            path: path.clone(),
            damage: FileDamage::Storage(e),
        },
        source => OpenError::Storage {
            path: path.clone(),
            source,
        },
    };
    let r = db.begin_read().map_err(|e| fail(e.into()))?;
    let meta = r.open_table(tables::META).map_err(|e| fail(e.into()))?;
    let text = |key| -> Result<Option<String>, OpenError> {
        Ok(meta
            .get(key)
            .map_err(|e| fail(e.into()))?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    };
    let schema = text(meta_keys::SCHEMA)?.unwrap_or_else(|| "none".into());
    let Some(version) = schema
        .parse::<u64>()
        .ok()
        .filter(|v| *v == SCHEMA_VERSION || *v == upgrade::UPGRADABLE)
    else {
        return Err(OpenError::SchemaVersion {
            path,
            found: schema,
            expected: SCHEMA_VERSION,
        });
    };
    let found_node = text(meta_keys::NODE)?.unwrap_or_default();
    if found_node != node.as_str() {
        return Err(OpenError::WrongNode {
            path,
            found: found_node,
            expected: node.clone(),
        });
    }
    Ok(version)
}
