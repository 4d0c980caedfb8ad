//! [`MemoryReplica`]: a node's records held in memory, for protocol tests and simulation.
//!
//! It keeps what the protocol needs the way the store keeps it (documents, a feed with each
//! record once at its latest change, per-peer cursors, known heads and sync states) and
//! applies peers' changes under the same checks and [`Refusal`]s. Tests in `tests.rs` drive
//! it and a real store the same way and compare them, so the two cannot drift apart
//! silently.
//!
//! **Not durable, and not a store**: nothing is written anywhere, there are no indexes, no
//! audit chain (refusals are kept in [`MemoryReplica::refusals`] instead) and no desk
//! operations; records are written directly with [`MemoryReplica::create`] and
//! [`MemoryReplica::update`]. Deterministic when built with [`MemoryReplica::seeded`] and a
//! [`ManualClock`](lifeline_core::ManualClock), its default clock.

mod protocol;
mod state;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lifeline_core::automerge::transaction::{CommitOptions, Transactable};
use lifeline_core::automerge::{ActorId, Automerge, ChangeHash};
use lifeline_core::store::{Credentials, Refusal, holds};
use lifeline_core::trust::{Member, VerifiedSignatures};
use lifeline_core::{Clock, ManualClock, NodeName, Record, RecordId, RecordKind};

use state::Inner;

/// A record a peer sent that was refused: what the store's audit trail records as
/// `sync.reject`.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub peer: NodeName,
    pub id: RecordId,
    pub reason: Refusal,
}

/// Why writing or reading a record of a [`MemoryReplica`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    #[error("record {id} already exists")]
    Exists { id: RecordId },
    #[error("record {id} does not exist here")]
    NotFound { id: RecordId },
    #[error("record {id} is a {found}, not a {expected}")]
    WrongKind {
        id: RecordId,
        expected: RecordKind,
        found: RecordKind,
    },
    #[error("cannot write record {id}")]
    Reconcile {
        id: RecordId,
        #[source]
        source: Box<autosurgeon::ReconcileError>,
    },
    #[error("cannot read record {id}")]
    Hydrate {
        id: RecordId,
        #[source]
        source: Box<autosurgeon::HydrateError>,
    },
}

/// A node's records in memory; see the module docs. A handle: clones share the replica.
#[derive(Clone)]
pub struct MemoryReplica {
    node: NodeName,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for MemoryReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReplica")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// What a backup of a [`MemoryReplica`]'s store holds, taken by [`MemoryReplica::backup`]
/// and brought back by [`MemoryReplica::restored`]. Nothing can be read from it: a backup is
/// only ever restored.
pub struct MemoryBackup {
    node: NodeName,
    inner: Inner,
}

impl MemoryBackup {
    /// A replica holding what this backup holds, opened with `actor` under `incarnation`.
    fn opened(&self, actor: ActorId, incarnation: String) -> MemoryReplica {
        MemoryReplica {
            node: self.node.clone(),
            inner: Arc::new(Mutex::new(self.inner.backup().restored(actor, incarnation))),
        }
    }
}

impl std::fmt::Debug for MemoryBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackup")
            .field("node", &self.node)
            .field("incarnation", &self.inner.incarnation)
            .finish_non_exhaustive()
    }
}

/// The actor and incarnation of a replica of `node` seeded with `seed`. Like the store's
/// actors: the node name, a zero byte, then 8 bytes of its own.
fn seeded_identity(node: &NodeName, seed: u64) -> (ActorId, String) {
    let mut actor = node.as_str().as_bytes().to_vec();
    actor.push(0);
    actor.extend_from_slice(&seed.to_be_bytes());
    (ActorId::from(actor), format!("memory-{seed:016x}"))
}

impl MemoryReplica {
    /// An empty replica with a fresh random incarnation, as a brand-new store has.
    pub fn new(node: NodeName) -> MemoryReplica {
        let random = RecordId::generate().to_bytes();
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&random[8..]);
        MemoryReplica::seeded(node, u64::from_be_bytes(seed))
    }

    /// An empty replica whose incarnation and Automerge actor derive from `seed` alone: the
    /// same seed gives the same replica, so a simulation replays exactly. Give each replica
    /// of one node a different seed, as each store has its own actor.
    pub fn seeded(node: NodeName, seed: u64) -> MemoryReplica {
        let (actor, incarnation) = seeded_identity(&node, seed);
        let inner = Inner::new(actor, incarnation, Arc::new(ManualClock::new(0)));
        MemoryReplica {
            node,
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// A copy of everything this replica keeps, as of now: what a backup of its store holds.
    pub fn backup(&self) -> MemoryBackup {
        MemoryBackup {
            node: self.node.clone(),
            inner: self.lock().backup(),
        }
    }

    /// A replica restored from `backup`, as a store restored from a snapshot opens: what the
    /// backup held, under a new incarnation and with a new actor, both derived from `seed`
    /// (see [`MemoryReplica::seeded`]). It keeps the backup's clock and shared signatures.
    pub fn restored(backup: &MemoryBackup, seed: u64) -> MemoryReplica {
        let (actor, incarnation) = seeded_identity(&backup.node, seed);
        backup.opened(actor, incarnation)
    }

    /// The backup copied over the store by hand instead of restored (`lifeline restore`
    /// stamps a new incarnation; a copied file keeps the one it was backed up with): what
    /// the backup held under the same incarnation, with a new actor derived from `seed`, as
    /// a store takes one at every open. Its peers learn that it lost history only from its
    /// feed, shorter than what they applied of it.
    pub fn copied_back(backup: &MemoryBackup, seed: u64) -> MemoryReplica {
        let (actor, _) = seeded_identity(&backup.node, seed);
        backup.opened(actor, backup.inner.incarnation.clone())
    }

    /// This replica as a store is when its node starts again after a crash: everything it
    /// committed, under the same incarnation, with a new actor derived from `seed` (a store
    /// takes one at every open, and its opening starts at the feed's head), and without what
    /// a store keeps in memory only (which peer each missing record was asked of).
    pub fn restarted(&self, seed: u64) -> MemoryReplica {
        let (actor, _) = seeded_identity(&self.node, seed);
        let inner = self.lock().backup();
        let incarnation = inner.incarnation.clone();
        MemoryReplica {
            node: self.node.clone(),
            inner: Arc::new(Mutex::new(inner.restored(actor, incarnation))),
        }
    }

    /// Reads time (for commit times and last contact) from `clock` instead of a manual clock
    /// stopped at 0.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> MemoryReplica {
        self.lock().clock = clock;
        self
    }

    /// Signs this node's changes with `credentials` from now on, as they first leave it (and
    /// those it made before), and admits its own roster entry, as
    /// [`lifeline_core::Store::take_credentials`] does.
    pub fn with_credentials(self, credentials: Credentials) -> MemoryReplica {
        self.lock().set_credentials(credentials);
        self
    }

    /// Shares `verified` with the other replicas given it: a peer's signature another of them
    /// verified (the same commit, the same bytes) is not verified again here. For many
    /// replicas in one process (a simulation); the roster's checks are still this replica's.
    pub fn sharing_verified(self, verified: Arc<VerifiedSignatures>) -> MemoryReplica {
        self.lock().verified = Some(verified);
        self
    }

    /// Admits a member (checked against the CA by the caller) without going through a
    /// session: what a test does for the nodes a replica knows from the start.
    pub fn admit_member(&self, member: Member) {
        Arc::make_mut(&mut self.lock().roster).admit(member);
    }

    /// Whether a peer found this replica's feed restarted in this opening (it lost history).
    pub fn lost_history(&self) -> bool {
        let inner = self.lock();
        inner.relearning.as_deref() == Some(inner.actor.to_hex_string().as_str())
    }

    /// This node's roster entry, once it has a key.
    pub fn member(&self) -> Option<Member> {
        self.lock().credentials.as_ref().map(|c| c.member().clone())
    }

    /// A panic while the lock was held cannot leave the replica half-changed (each method
    /// changes it only after every check), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes a new record, authored by this node.
    pub fn create<T: Record>(&self, record: &T) -> Result<(), MemoryError> {
        let id = record.header().id;
        let mut inner = self.lock();
        if inner.doc(id).is_some() {
            return Err(MemoryError::Exists { id });
        }
        let mut doc = Automerge::new().with_actor(inner.actor.clone());
        commit(&mut doc, inner.clock.now_ms(), id, record)?;
        let made = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        inner.put(id, record.header(), doc);
        inner.authored(id, made);
        Ok(())
    }

    /// Changes a record with `f`, authored by this node: field-level changes, as a desk's
    /// edit makes them. Nothing is stored when `f` changes nothing.
    pub fn update<T: Record>(
        &self,
        id: RecordId,
        f: impl FnOnce(&mut T),
    ) -> Result<(), MemoryError> {
        let mut inner = self.lock();
        let mut doc = inner.doc(id).cloned().ok_or(MemoryError::NotFound { id })?;
        let mut record: T = read(&doc, id)?;
        f(&mut record);
        let old_heads = doc.get_heads();
        commit(&mut doc, inner.clock.now_ms(), id, &record)?;
        keep_changed(&mut inner, id, record.header(), doc, &old_heads);
        Ok(())
    }

    /// Puts a text value at a top-level field of a record of kind `T`, authored by this node,
    /// as a person settling a conflict does (`Store::resolve_conflict`): one new value that
    /// supersedes every value this node holds there, the one it shows included.
    pub fn put_text<T: Record>(
        &self,
        id: RecordId,
        field: &str,
        value: &str,
    ) -> Result<(), MemoryError> {
        let mut inner = self.lock();
        let mut doc = inner.doc(id).cloned().ok_or(MemoryError::NotFound { id })?;
        let record: T = read(&doc, id)?;
        let old_heads = doc.get_heads();
        doc.transact_with(
            |_| CommitOptions::default().with_time(inner.clock.now_ms()),
            |tx| tx.put(lifeline_core::automerge::ROOT, field, value),
        )
        .map_err(|f| MemoryError::Reconcile {
            id,
            source: Box::new(f.error.into()),
        })?;
        keep_changed(&mut inner, id, record.header(), doc, &old_heads);
        Ok(())
    }

    /// A typed record, `None` if it is not here.
    pub fn get<T: Record>(&self, id: RecordId) -> Result<Option<T>, MemoryError> {
        match self.lock().doc(id) {
            Some(doc) => read(doc, id).map(Some),
            None => Ok(None),
        }
    }

    /// A copy of a record's document.
    pub fn doc(&self, id: RecordId) -> Option<Automerge> {
        self.lock().doc(id).cloned()
    }

    /// What `f` reads of a record's document, in place; `None` if the record is not here.
    pub fn with_doc<R>(&self, id: RecordId, f: impl FnOnce(&Automerge) -> R) -> Option<R> {
        self.lock().doc(id).map(f)
    }

    /// A record's heads, `None` if it is not here (without copying its document).
    pub fn heads(&self, id: RecordId) -> Option<Vec<ChangeHash>> {
        self.lock().doc(id).map(Automerge::get_heads)
    }

    /// Whether the record is here with every one of these changes.
    pub fn holds_changes(&self, id: RecordId, changes: &[ChangeHash]) -> bool {
        self.lock()
            .doc(id)
            .is_some_and(|d| changes.iter().all(|h| holds(d, h)))
    }

    /// How many records are here.
    pub fn records(&self) -> usize {
        self.lock().records()
    }

    /// Every refusal of a peer's changes, oldest first.
    pub fn refusals(&self) -> Vec<Refused> {
        self.lock().refusals().to_vec()
    }
}

/// Hydrates a typed record, refusing one of another kind.
fn read<T: Record>(doc: &Automerge, id: RecordId) -> Result<T, MemoryError> {
    let found = lifeline_core::record::Header::of(doc)
        .map_err(|e| MemoryError::Hydrate {
            id,
            source: Box::new(e),
        })?
        .kind;
    if found != T::KIND {
        return Err(MemoryError::WrongKind {
            id,
            expected: T::KIND,
            found,
        });
    }
    lifeline_core::record::hydrate(doc).map_err(|e| MemoryError::Hydrate {
        id,
        source: Box::new(e),
    })
}

/// Writes `record` into `doc` as one change.
/// Keeps `doc` as the record's document and signs its changes since `old_heads`, if it has
/// any.
fn keep_changed(
    inner: &mut Inner,
    id: RecordId,
    header: &lifeline_core::record::Header,
    doc: Automerge,
    old_heads: &[ChangeHash],
) {
    if doc.get_heads() == old_heads {
        return;
    }
    let made = doc
        .get_changes(old_heads)
        .iter()
        .map(|c| c.hash())
        .collect();
    inner.put(id, header, doc);
    inner.authored(id, made);
}

fn commit<T: Record>(
    doc: &mut Automerge,
    now_ms: i64,
    id: RecordId,
    record: &T,
) -> Result<(), MemoryError> {
    doc.transact_with(
        |_| CommitOptions::default().with_time(now_ms),
        |tx| autosurgeon::reconcile(tx, record),
    )
    .map(drop)
    .map_err(|f| MemoryError::Reconcile {
        id,
        source: Box::new(f.error),
    })
}
