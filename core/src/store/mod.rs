//! The durable store: one redb file per node holding its Automerge documents, the change
//! feed, indexes, the audit chain, the number-range ledger and per-peer replication state.
//!
//! Invariants:
//! - One writer thread owns all writes and batches concurrent requests into one durable commit
//!   (group commit). A caller hears "saved" only after that commit has returned.
//! - A failed operation writes nothing: operations validate before they write, and a batch in
//!   which an operation failed after writing is aborted whole.
//! - Readers never block the writer; they see the last committed state.
//! - Memory does not grow with the number of records: documents are loaded on demand through a
//!   bounded cache.

mod audit;
mod backup;
mod cache;
mod read;
mod refusal;
mod replication;
pub(crate) mod tables;
mod writer;
pub mod writer_error {
    //! Re-export of the write error, next to the writer that raises it.
    pub use super::writer::WriteError;
}

use std::fs;
use std::io::Read;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use automerge::ActorId;
use redb::{Database, ReadableDatabase};

pub use audit::{AuditEntry, ChainError, GENESIS};
pub use backup::{
    BackupError, BackupInfo, RestoreError, RestoreInfo, RestoreOptions, VerifyError, VerifyReport,
    before_restore_path, checksum_path, restore_from, verify_snapshot,
};
pub use read::{PatientQuery, StoreStats};
pub use refusal::Refusal;
pub use replication::{Digest, OutgoingDoc, PeerState, decode_heads, encode_heads};
pub use writer::{ApplyCheck, ApplyOutcome, IncomingDoc, Rejected, RemoteChanges};
pub(crate) use writer::{Tx, put_stamp};

use crate::clock::{Clock, SystemClock};
use crate::id::{NodeName, RecordId};
use crate::record::RecordKind;
use crate::roles::NodeRole;
use cache::DocCache;
use tables::{SCHEMA_VERSION, meta_keys};

/// How a store is opened. Every field has a default but the node's identity.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub node: NodeName,
    pub role: NodeRole,
    /// Documents kept in memory. Default 4096.
    pub cache_docs: NonZeroUsize,
    /// Warn when this many numbers or fewer are left in a series. Default 50.
    pub low_water: u64,
    /// Incremental chunks a document may gather before it is compacted into one save.
    /// Default 32.
    pub compact_after_chunks: u32,
    /// Most writes folded into one commit. Default 512.
    pub max_batch: usize,
    /// The hospital's offset from UTC in minutes, for dates people read. Default +480 (UTC+8).
    pub utc_offset_min: i32,
    pub clock: Arc<dyn Clock>,
}

impl StoreOptions {
    pub fn new(node: NodeName, role: NodeRole) -> Self {
        StoreOptions {
            node,
            role,
            cache_docs: NonZeroUsize::new(4096).unwrap_or(NonZeroUsize::MIN),
            low_water: 50,
            compact_after_chunks: 32,
            max_batch: 512,
            utc_offset_min: 480,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Why a store could not be opened. Opening never changes a file it refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a Lifeline store (it is not a redb database file)")]
    NotAStore { path: PathBuf },
    #[error(
        "{path} is damaged or truncated and cannot be opened: {reason}. Restore it from a backup"
    )]
    Corrupt { path: PathBuf, reason: String },
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
    #[error("cannot open {path}: {reason}")]
    Storage { path: PathBuf, reason: String },
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("storage error while {context}: {message}")]
    Storage {
        context: &'static str,
        message: String,
    },
    #[error("record {id} is stored damaged: {reason}")]
    Corrupt { id: RecordId, reason: String },
    #[error("record {id} is a {found}, not a {expected}")]
    WrongKind {
        id: RecordId,
        expected: RecordKind,
        found: String,
    },
    #[error("stored {what} cannot be decoded: {reason}")]
    Undecodable { what: String, reason: String },
}

impl ReadError {
    pub(crate) fn storage(context: &'static str) -> impl FnOnce(redb::Error) -> ReadError {
        move |e| ReadError::Storage {
            context,
            message: e.to_string(),
        }
    }
}

/// Shorthand for mapping any redb error into a [`ReadError`] with context.
pub(crate) trait StorageContext<T> {
    fn ctx(self, context: &'static str) -> Result<T, ReadError>;
}

impl<T, E: Into<redb::Error>> StorageContext<T> for Result<T, E> {
    fn ctx(self, context: &'static str) -> Result<T, ReadError> {
        self.map_err(|e| ReadError::storage(context)(e.into()))
    }
}

/// The first bytes of every redb file.
const REDB_MAGIC: &[u8] = b"redb";

pub(crate) struct Shared {
    pub(crate) db: Database,
    pub(crate) opts: StoreOptions,
    /// This process's Automerge actor: the node name, a zero byte and 8 random bytes, so
    /// changes name their node and a store restored from a backup never reuses a sequence
    /// number under an actor that already wrote different changes.
    pub(crate) actor: ActorId,
    pub(crate) cache: Mutex<DocCache>,
    pub(crate) path: PathBuf,
    /// Called after every commit with the feed's sequence number (see [`Store::subscribe`]).
    pub(crate) subscribers: Mutex<Vec<CommitHook>>,
}

/// A function told the feed's sequence number after each commit.
pub type CommitHook = Box<dyn Fn(u64) + Send + Sync>;

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("node", &self.opts.node)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A node's store. Cheap to clone; all clones share one writer.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) shared: Arc<Shared>,
    pub(crate) writer: Arc<writer::Writer>,
}

/// The node name inside an Automerge actor id written by a Lifeline store.
pub fn actor_node(actor: &ActorId) -> Option<&str> {
    let bytes = actor.to_bytes();
    let end = bytes.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&bytes[..end]).ok()
}

impl Store {
    /// Opens the store at `path`, creating it if the file does not exist.
    pub fn open(path: impl AsRef<Path>, opts: StoreOptions) -> Result<Store, OpenError> {
        let path = path.as_ref().to_path_buf();
        let exists = path.exists();
        // redb can panic on damaged data instead of returning an error; at open that means a
        // damaged file, refused like any other.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            open_database(&path, &opts.node, exists)
        }));
        let db = match opened {
            Ok(result) => result?,
            Err(_) => {
                return Err(OpenError::Corrupt {
                    path,
                    reason: "the storage engine failed on damaged data".into(),
                });
            }
        };
        let shared = Shared {
            actor: make_actor(&opts.node),
            cache: Mutex::new(DocCache::new(opts.cache_docs)),
            db,
            opts,
            path: path.clone(),
            subscribers: Mutex::new(Vec::new()),
        };
        if !exists {
            initialize(&shared).map_err(|e| OpenError::Storage {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
        let shared = Arc::new(shared);
        let writer = writer::Writer::start(shared.clone()).map_err(|e| OpenError::Io {
            path: path.clone(),
            source: e,
        })?;
        tracing::info!(node = %shared.opts.node, path = %path.display(), "store open");
        Ok(Store {
            shared,
            writer: Arc::new(writer),
        })
    }

    pub fn node(&self) -> &NodeName {
        &self.shared.opts.node
    }

    pub fn role(&self) -> NodeRole {
        self.shared.opts.role
    }

    pub fn options(&self) -> &StoreOptions {
        &self.shared.opts
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    pub fn now_ms(&self) -> i64 {
        self.shared.opts.clock.now_ms()
    }
}

/// Opens (or creates) the database file and checks it is ours and whole: identity and schema
/// first from a read-only open, so that a refused file is left exactly as it was, then every
/// table read end to end.
fn open_database(path: &Path, node: &NodeName, exists: bool) -> Result<Database, OpenError> {
    if !exists {
        return Database::create(path).map_err(|e| open_error(path, e));
    }
    check_magic(path)?;
    // A file that needs recovery after a crash cannot be opened read-only. Recovery rewrites
    // the file, so it is first done on a scratch copy beside it, which is checked the same way;
    // only a file that passes is then recovered in place.
    match redb::ReadOnlyDatabase::open(path) {
        Ok(ro) => {
            check_meta(&ro, path, node)?;
            scan_tables(&ro).map_err(|e| corrupt(path, e))?;
        }
        Err(redb::DatabaseError::RepairAborted) => check_recovered_copy(path, node)?,
        Err(e) => return Err(open_error(path, e)),
    }
    let db = Database::builder()
        .set_repair_callback(|_| {})
        .open(path)
        .map_err(|e| open_error(path, e))?;
    check_meta(&db, path, node)?;
    Ok(db)
}

/// Recovers a scratch copy of a crashed file and checks it; the original is not touched.
fn check_recovered_copy(path: &Path, node: &NodeName) -> Result<(), OpenError> {
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
        .open(scratch.path())
        .map_err(|e| open_error(path, e))?;
    check_meta(&db, path, node)?;
    scan_tables(&db).map_err(|e| corrupt(path, e))?;
    Ok(())
}

fn corrupt(path: &Path, e: redb::Error) -> OpenError {
    OpenError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Reads every entry of every table, so that damage anywhere in the file is found at open
/// rather than in the middle of a desk's work.
fn scan_tables(db: &impl ReadableDatabase) -> Result<u64, redb::Error> {
    fn scan<K: redb::Key + 'static, V: redb::Value + 'static>(
        r: &redb::ReadTransaction,
        def: redb::TableDefinition<K, V>,
    ) -> Result<u64, redb::Error> {
        let t = r.open_table(def)?;
        let mut n = 0;
        for entry in redb::ReadableTable::iter(&t)? {
            let (k, v) = entry?;
            let _ = (k.value(), v.value());
            n += 1;
        }
        Ok(n)
    }
    let r = db.begin_read()?;
    Ok(scan(&r, tables::META)?
        + scan(&r, tables::DOC_CHUNKS)?
        + scan(&r, tables::DOC_HEADS)?
        + scan(&r, tables::FEED)?
        + scan(&r, tables::FEED_POS)?
        + scan(&r, tables::BY_KIND)?
        + scan(&r, tables::BY_PATIENT)?
        + scan(&r, tables::BY_EPISODE)?
        + scan(&r, tables::UNRECONCILED)?
        + scan(&r, tables::PATIENT_KEYS)?
        + scan(&r, tables::PATIENT_KEYS_OF)?
        + scan(&r, tables::AUDIT)?
        + scan(&r, tables::RANGES)?
        + scan(&r, tables::NUMBERS)?
        + scan(&r, tables::LESSOR)?
        + scan(&r, tables::PEER_STATE)?
        + scan(&r, tables::PEER_HEADS)?
        + scan(&r, tables::PEER_SYNC)?)
}

fn make_actor(node: &NodeName) -> ActorId {
    let mut bytes = node.as_str().as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&RecordId::generate().to_bytes()[8..]);
    ActorId::from(bytes)
}

fn check_magic(path: &Path) -> Result<(), OpenError> {
    let io = |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 4];
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..]).map_err(io)? {
            0 => break,
            n => read += n,
        }
    }
    if read < head.len() || head != REDB_MAGIC {
        return Err(OpenError::NotAStore {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn open_error(path: &Path, e: redb::DatabaseError) -> OpenError {
    let path = path.to_path_buf();
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => OpenError::AlreadyOpen { path },
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
            OpenError::Corrupt { path, reason }
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(source))
            if source.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            OpenError::Corrupt {
                path,
                reason: "the file ends early".into(),
            }
        }
        other => OpenError::Storage {
            path,
            reason: other.to_string(),
        },
    }
}

/// Creates every table and writes the metadata of a new store.
fn initialize(shared: &Shared) -> Result<(), redb::Error> {
    let w = shared.db.begin_write()?;
    {
        let mut meta = w.open_table(tables::META)?;
        meta.insert(meta_keys::SCHEMA, SCHEMA_VERSION.to_string().as_bytes())?;
        meta.insert(meta_keys::NODE, shared.opts.node.as_str().as_bytes())?;
        meta.insert(meta_keys::ROLE, shared.opts.role.name().as_bytes())?;
        let now = shared.opts.clock.now_ms().to_string();
        meta.insert(meta_keys::CREATED_MS, now.as_bytes())?;
        meta.insert(meta_keys::AUDIT_HEAD, GENESIS.as_bytes())?;
        let incarnation = RecordId::generate().to_string();
        meta.insert(meta_keys::INCARNATION, incarnation.as_bytes())?;
        w.open_table(tables::DOC_CHUNKS)?;
        w.open_table(tables::DOC_HEADS)?;
        w.open_table(tables::FEED)?;
        w.open_table(tables::FEED_POS)?;
        w.open_table(tables::BY_KIND)?;
        w.open_table(tables::BY_PATIENT)?;
        w.open_table(tables::BY_EPISODE)?;
        w.open_table(tables::UNRECONCILED)?;
        w.open_table(tables::PATIENT_KEYS)?;
        w.open_table(tables::PATIENT_KEYS_OF)?;
        w.open_table(tables::AUDIT)?;
        w.open_table(tables::RANGES)?;
        w.open_table(tables::NUMBERS)?;
        w.open_table(tables::LESSOR)?;
        w.open_table(tables::PEER_STATE)?;
        w.open_table(tables::PEER_HEADS)?;
        w.open_table(tables::PEER_SYNC)?;
    }
    w.commit()?;
    Ok(())
}

/// Refuses a file of another schema version or another node, reading only.
fn check_meta(db: &impl ReadableDatabase, path: &Path, node: &NodeName) -> Result<(), OpenError> {
    let path = path.to_path_buf();
    let fail = |e: redb::Error| match e {
        redb::Error::TableDoesNotExist(_) => OpenError::NotAStore { path: path.clone() },
        redb::Error::Corrupted(reason) => OpenError::Corrupt {
            path: path.clone(),
            reason,
        },
        other => OpenError::Storage {
            path: path.clone(),
            reason: other.to_string(),
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
    if schema != SCHEMA_VERSION.to_string() {
        return Err(OpenError::SchemaVersion {
            path,
            found: schema,
            expected: SCHEMA_VERSION,
        });
    }
    let found_node = text(meta_keys::NODE)?.unwrap_or_default();
    if found_node != node.as_str() {
        return Err(OpenError::WrongNode {
            path,
            found: found_node,
            expected: node.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::clock::ManualClock;

    /// A store in a temporary directory with a manual clock at 2026-11-25 09:00 (UTC+8).
    pub(crate) fn temp_store(
        node: &str,
        role: NodeRole,
    ) -> (tempfile::TempDir, Store, ManualClock) {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(1_795_568_400_000);
        let mut opts = StoreOptions::new(NodeName::new(node).expect("valid node"), role);
        opts.clock = Arc::new(clock.clone());
        let store = Store::open(dir.path().join("store.redb"), opts).expect("open store");
        (dir, store, clock)
    }
}

/// An audit event for an operator's action that is not a document change.
pub(crate) fn audit_event(
    who: &crate::roles::Operator,
    action: &str,
    record: Option<RecordId>,
    detail: Option<String>,
) -> audit::AuditEvent {
    audit::AuditEvent {
        actor: who.name.to_string(),
        action: action.to_owned(),
        record,
        changes: Vec::new(),
        detail,
    }
}

#[cfg(test)]
mod tests;
