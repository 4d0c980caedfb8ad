//! The durable store: one redb file per node holding its Automerge documents, the change
//! feed, indexes, the audit chain, the number-range ledger and per-peer replication state.
//! This module is the only place in the workspace that touches redb.
//!
//! Invariants:
//! - One writer thread owns all writes and batches concurrent requests into one durable commit
//!   (group commit). A caller hears "saved" only after that commit has returned.
//! - A failed operation writes nothing: operations validate before they write, and a batch in
//!   which an operation failed after writing is aborted whole.
//! - Readers never block the writer; they see the last committed state.
//! - Memory does not grow with the number of records: documents are loaded on demand through a
//!   bounded cache.
//!
//! Map: `open` opens and checks a file; `writer` is the group-commit thread; `tx` is one
//! batch's transaction (records, feed, audit), kept in line by `index` and
//! `patient_index`; `apply` merges peers' changes; `replication` is what the protocol
//! reads; `read` serves readers; `ledger` and `meta` hold the number ledger and the
//! node's own state; `backup` takes, restores and checks snapshots.

mod apply;
mod asks;
mod audit;
mod audit_codec;
mod backup;
#[cfg(feature = "bulk")]
mod bulk;
mod cache;
mod catalog_index;
mod check;
mod chunks;
mod digest;
mod episode_edits;
mod error;
mod fields;
mod held;
mod holders;
mod index;
mod kept;
mod mark;
pub use mark::{COPIED_BACK_LOG, mark_file};
mod knowledge;
mod ledger;
mod merge;
mod meta;
mod open;
mod open_items;
mod own_rules;
mod patient_index;
mod prepared;
mod prune;
mod quarantine;
mod read;
mod refusal;
mod relearn;
mod repair;
mod replication;
mod roster;
mod signing;
#[cfg(feature = "sim")]
mod sim_writes;
mod tables;
mod twins;
mod tx;
mod tx_tables;
mod upgrade;
mod writer;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use automerge::ActorId;

pub use apply::{ApplyOutcome, Rejected};
pub use asks::{Ask, Asks};
pub(crate) use audit::AuditEvent;
pub use audit::{AuditEntry, ChainError, GENESIS};
pub use audit_codec::AuditDecodeError;
pub use backup::{
    BackupError, BackupInfo, CompactError, CompactInfo, RestoreError, RestoreInfo, RestoreOptions,
    VerifyError, VerifyReport, before_restore_path, checksum_path, compact_store, restore_from,
    verify_snapshot,
};
pub use chunks::{ChunkDamage, packed_to_send, unpack as unpack_chunk};
pub use digest::{DIGEST_BUCKETS, Digest, DigestRows, Scope, bucket, contribution, kept_always};
pub use error::{AbortCause, DocumentError, FileDamage, ReadError, RecordDamage, WriteError};
pub use kept::KeptCounts;
pub use merge::{
    IncomingDoc, Merge, RemoteChanges, SyncReceived, generate_sync, held_heads, holds, merge,
    receive_sync,
};
pub use meta::EpisodeInfo;
pub use open::OpenError;
pub use patient_index::PatientQuery;
pub use prune::Pruned;
pub use quarantine::Quarantined;
pub use read::{StoreStats, record_from_bytes};
pub use refusal::{DecodeError, Refusal};
pub use replication::{
    AHEAD_OF_THE_FEED, FEED_PAGE_SCAN, FeedPage, OutgoingDoc, PeerState, SyncOut,
};
pub use signing::{Credentials, CredentialsMismatch, Export, SIGN_PER_WRITE, WireCommit};
pub use tables::{decode_heads, encode_heads};

pub(crate) use error::StorageContext;
pub(crate) use fields::{put_entry, put_map, put_stamp, set_field};
pub(crate) use meta::Counter;
pub(crate) use patient_index::person_key;
pub(crate) use tx::Tx;

use crate::calendar::WorkCalendar;
use crate::clock::{Clock, SystemClock};
use crate::id::{NodeName, RecordId};
use crate::roles::{DeskRole, NodeRole};
use crate::trust::Roster;
use cache::DocCache;

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
    /// The storage engine's page cache, in bytes (redb's own default is 1 GiB, which a
    /// store of a million records fills). Default 64 MiB.
    pub cache_bytes: usize,
    /// The hospital's offset from UTC in minutes, for dates people read. Default +480 (UTC+8).
    pub utc_offset_min: i32,
    /// Which days are working days (deadlines in working days). Default: the shipped
    /// calendar of China.
    pub calendar: Arc<WorkCalendar>,
    pub clock: Arc<dyn Clock>,
    /// The desks the node's certificate names: a window writes only the kinds of its desks
    /// (and its own episodes and range requests), whoever asks. Default: every desk, for
    /// stores without a certificate (tests, tools); the daemon takes them from the
    /// certificate.
    pub desks: Vec<DeskRole>,
    /// The node's certified signing key and roster entry. Without one, the node's changes
    /// wait unsigned (peers refuse them) until [`Store::sign_as`] gives it one.
    pub credentials: Option<Credentials>,
    /// How the authors of peers' changes are known. Always [`AuthorCheck::Signatures`] in a
    /// node (see [`AuthorCheck::UncheckedActorIds`] for the only other use).
    pub author_check: AuthorCheck,
    /// How much of an existing file [`Store::open`] reads before it returns. Default
    /// [`OpenCheck::Full`].
    pub open_check: OpenCheck,
    /// Where new record ids and this process's actor get their random part. Default: the
    /// operating system; a simulation seeds it.
    pub ids: crate::id::Ids,
}

/// Whether opening a store reads every table end to end before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenCheck {
    /// Every entry of every table is read at open, so damage anywhere refuses the file
    /// (tools, restores, tests). Costs a read of the whole file.
    Full,
    /// Only the file's identity and schema are checked at open, so a node of any size is
    /// serving within a second; the caller then runs [`Store::check_tables`] beside the
    /// work (the daemon does, and reports the result in `lifeline status`). A crashed file
    /// is still recovered on a scratch copy first, so that a file the store refuses is left
    /// as it was.
    Deferred,
}

/// How the authors of peers' changes are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorCheck {
    /// By the signatures that come with them (the only mode a node runs in).
    Signatures,
    /// By their Automerge actor ids, unchecked, and this node's own changes unsigned. Never in
    /// a node, and not reachable from any configuration: only the replication benchmark (to
    /// measure the same run with and without signatures) and the fuzz targets (to reach the
    /// rules behind the signature check) use it.
    UncheckedActorIds,
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
            cache_bytes: 64 * 1024 * 1024,
            utc_offset_min: 480,
            calendar: WorkCalendar::china(),
            clock: Arc::new(SystemClock),
            desks: DeskRole::ALL.to_vec(),
            credentials: None,
            author_check: AuthorCheck::Signatures,
            open_check: OpenCheck::Full,
            ids: crate::id::Ids::random(),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) db: open::Closing,
    pub(crate) opts: StoreOptions,
    /// This process's Automerge actor: the node name, a zero byte and 8 random bytes, so
    /// changes name their node and a store restored from a backup never reuses a sequence
    /// number under an actor that already wrote different changes.
    pub(crate) actor: ActorId,
    /// The feed's head when this process opened the store (see [`Store::opening`]).
    pub(crate) opened_feed_head: std::sync::OnceLock<u64>,
    pub(crate) cache: Mutex<DocCache>,
    pub(crate) path: PathBuf,
    /// Called after every commit with the feed's sequence number (see [`Store::subscribe`]).
    pub(crate) subscribers: Mutex<Vec<CommitHook>>,
    /// Called after every commit with how many writes it held (see
    /// [`Store::observe_commits`]).
    pub(crate) observers: Mutex<Vec<CommitObserver>>,
    /// Every member and revocation this node holds, as of the last commit that changed them.
    pub(crate) roster: std::sync::RwLock<Arc<Roster>>,
    /// Set when the table check found the file damaged: every write is refused from then on.
    pub(crate) damaged: std::sync::atomic::AtomicBool,
    /// The key this node signs its changes with, once it has one.
    pub(crate) signer: std::sync::RwLock<Option<Credentials>>,
    /// Signed commits read for sending, by id (a commit covers many records).
    pub(crate) commits: Mutex<signing::CommitCache>,
    /// Peers' records merged ahead of the writer ([`Store::prepare_batch`]).
    pub(crate) prepared: Mutex<prepared::Prepared>,
    /// The holders whose lease requests the last fill left waiting ([`Store::requests_wait_for`]).
    pub(crate) requests_waiting: Mutex<Vec<crate::id::NodeName>>,
    /// Which peer each record this node lacks was asked of (see [`Asks`]).
    pub(crate) asks: Mutex<Asks>,
    /// Peers' signed commits verified lately, so that each is verified once.
    pub(crate) verified: Arc<crate::trust::VerifiedSignatures>,
    /// How far the feed got in each of the store's lives, as the file beside it says
    /// (`store::mark`).
    pub(crate) mark: Mutex<mark::Kept>,
}

/// A function told of each durable commit (its writes and how long it took), for metrics.
pub type CommitObserver = Box<dyn Fn(&CommitSeen) + Send + Sync>;

/// One durable commit, as the writer saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommitSeen {
    /// Writes folded into it (group commit).
    pub writes: usize,
    /// From handing redb the batch's writes to the commit's return: writing the pages and
    /// the fsync, the disk's share of what a desk waits for.
    pub duration: std::time::Duration,
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

pub use crate::trust::actor_node;

impl Store {
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

impl Store {
    /// Records an administrator's action that changes no record (an operator added or
    /// removed, a revocation handed to the node) in the audit chain, durably, under the
    /// operator's name. `action` is a short dotted name such as `operator.add`.
    pub fn audit_admin(
        &self,
        who: &crate::roles::Operator,
        action: &str,
        detail: String,
    ) -> Result<(), WriteError> {
        let event = audit_event(who, action, None, Some(detail));
        self.write(move |tx| tx.audit(event).map_err(WriteError::from))
    }
}

impl Store {
    /// Records a log-in event of the desk console (a log-in, a failure, a lock-out) in the
    /// audit chain, durably. `actor` is the name typed at the log-in, which need not be an
    /// operator's (a failed log-in under an unknown name is recorded too).
    pub fn audit_login(&self, actor: &str, action: &str, detail: String) -> Result<(), WriteError> {
        let event = audit::AuditEvent {
            actor: actor.to_owned(),
            action: action.to_owned(),
            record: None,
            changes: Vec::new(),
            detail: Some(detail),
        };
        self.write(move |tx| tx.audit(event).map_err(WriteError::from))
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
mod relearn_tests;
#[cfg(test)]
mod send_tests;
#[cfg(test)]
mod tests;
