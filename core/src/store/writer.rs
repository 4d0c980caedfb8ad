//! The single writer: a thread that owns every write to the database and folds concurrent
//! requests into one durable commit (group commit), replying to each only after the commit
//! has returned.
//!
//! An operation runs as a job against a [`Tx`]: it reads, validates, then writes. The `Tx`
//! tracks whether the current job wrote anything; a job that fails after writing poisons its
//! batch, which is then aborted whole, so a failed operation never leaves half its writes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{Automerge, ChangeHash, ROOT, ReadDoc};
use redb::{ReadableTable, WriteTransaction};
use serde::Serialize;

use super::audit::{AuditEntry, AuditEvent};
use super::refusal::Refusal;
use super::tables::{self, Id, meta_keys};
use super::{ReadError, Shared, StorageContext, Store};
use crate::id::{EpisodeId, NodeName, RecordId};
use crate::record::{CENTRAL_ACK_KEY, Header, Patient, Record, RecordKind};
use crate::roles::Operator;
use crate::rules::RuleError;

/// Why a write did not happen. Nothing was written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the write was not saved: {reason}; try again")]
    Aborted { reason: String },
    #[error("the store is closed")]
    Closed,
}

impl From<redb::Error> for WriteError {
    fn from(e: redb::Error) -> Self {
        WriteError::Read(ReadError::Storage {
            context: "writing",
            message: e.to_string(),
        })
    }
}

type Reply = Box<dyn FnOnce(Result<(), WriteError>) + Send>;

pub(crate) struct Job {
    run: Box<dyn FnOnce(&mut Tx<'_>) -> Reply + Send>,
    fail: Box<dyn FnOnce(WriteError) + Send>,
}

/// The queue to the writer thread; dropping it stops the thread after the queued writes.
#[derive(Debug)]
pub(crate) struct Writer {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// Requests that may wait for the writer before callers block.
const QUEUE_DEPTH: usize = 4096;

impl Writer {
    pub(crate) fn start(shared: Arc<Shared>) -> std::io::Result<Writer> {
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name(format!("store-writer-{}", shared.opts.node))
            .spawn(move || writer_loop(&shared, &rx))?;
        Ok(Writer {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }
}

fn writer_loop(shared: &Shared, rx: &Receiver<Job>) {
    let mut pending: VecDeque<Job> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match rx.recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => return,
            }
        }
        while pending.len() < shared.opts.max_batch {
            match rx.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let take = pending.len().min(shared.opts.max_batch);
        let batch: Vec<Job> = pending.drain(..take).collect();
        // A panic inside the storage engine (damaged data) must not kill the writer: the
        // batch's callers see their request dropped, and later batches go on.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_batch(shared, batch))) {
            Ok(unrun) => {
                for job in unrun.into_iter().rev() {
                    pending.push_front(job);
                }
            }
            Err(_) => tracing::error!(
                "the storage engine panicked during a commit; the batch was dropped"
            ),
        }
    }
}

/// Runs one batch in one write transaction. Returns the jobs it did not get to (after an
/// abort), to run in the next batch.
fn run_batch(shared: &Shared, batch: Vec<Job>) -> Vec<Job> {
    let w = match shared.db.begin_write() {
        Ok(w) => w,
        Err(e) => {
            let err = WriteError::from(redb::Error::from(e));
            tracing::error!(error = %err, "cannot begin a write transaction");
            for job in batch {
                (job.fail)(err.clone());
            }
            return Vec::new();
        }
    };
    let mut replies = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let outcome = match Tx::begin(shared, &w) {
        Err(e) => Err(WriteError::from(e)),
        Ok(mut tx) => {
            let mut poisoned = false;
            let mut wrote = false;
            for job in jobs.by_ref() {
                tx.job_wrote = false;
                tx.poisoned = false;
                replies.push((job.run)(&mut tx));
                wrote |= tx.job_wrote;
                if tx.poisoned {
                    poisoned = true;
                    break;
                }
            }
            if poisoned {
                Err(WriteError::Aborted {
                    reason: "another write in the same commit failed halfway".into(),
                })
            } else if wrote {
                tx.finish()
                    .map(|()| Some((tx.working, tx.feed_seq)))
                    .map_err(WriteError::from)
            } else {
                // Nothing to make durable (every job only read or refused): no commit, no
                // fsync; the documents loaded still go to the cache.
                Ok(None)
            }
        }
    };
    let unrun: Vec<Job> = jobs.collect();
    let committed = outcome.and_then(|done| {
        match done {
            Some(_) => w
                .commit()
                .map_err(|e| WriteError::from(redb::Error::from(e)))?,
            None => w
                .abort()
                .map_err(|e| WriteError::from(redb::Error::from(e)))?,
        }
        Ok(done)
    });
    match committed {
        Ok(done) => {
            // The cache first, so that a caller reading right after its reply sees its write.
            let feed_seq = done.map(|(working, feed_seq)| {
                if let Ok(mut cache) = shared.cache.lock() {
                    cache.committed(working.into_iter().map(|(id, doc)| (id, Arc::new(doc))));
                }
                feed_seq
            });
            for reply in replies {
                reply(Ok(()));
            }
            if let (Some(feed_seq), Ok(subscribers)) = (feed_seq, shared.subscribers.lock()) {
                for notify in subscribers.iter() {
                    notify(feed_seq);
                }
            }
        }
        Err(err) => {
            if !matches!(err, WriteError::Aborted { .. }) {
                tracing::error!(error = %err, "commit failed");
            }
            for reply in replies {
                reply(Err(err.clone()));
            }
        }
    }
    unrun
}

impl Store {
    /// Runs `f` in the writer and returns its result once the commit holding its writes has
    /// returned. Blocks the calling thread; async callers use `spawn_blocking`.
    pub(crate) fn write<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, WriteError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = sync_channel::<Result<T, WriteError>>(1);
        let fail_tx = reply_tx.clone();
        let job = Job {
            run: Box::new(move |tx: &mut Tx<'_>| -> Reply {
                let result = f(tx);
                if result.is_err() && tx.job_wrote {
                    tx.poisoned = true;
                }
                Box::new(move |outcome: Result<(), WriteError>| {
                    let _ = reply_tx.send(outcome.and(result));
                })
            }),
            fail: Box::new(move |err| {
                let _ = fail_tx.send(Err(err));
            }),
        };
        let jobs = self.writer.jobs.as_ref().ok_or(WriteError::Closed)?;
        jobs.send(job).map_err(|_| WriteError::Closed)?;
        reply_rx.recv().map_err(|_| WriteError::Closed)?
    }
}

/// The commit message stored in every Automerge change: who, at which desk, did what.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ChangeNote {
    pub operator: String,
    pub desk: String,
    pub action: String,
}

/// One batch's view of the database, handed to each job in turn.
pub(crate) struct Tx<'a> {
    shared: &'a Shared,
    w: &'a WriteTransaction,
    /// Documents loaded or changed in this batch; moved into the cache after the commit.
    working: HashMap<RecordId, Automerge>,
    feed_seq: u64,
    audit_seq: u64,
    audit_head: String,
    job_wrote: bool,
    poisoned: bool,
}

fn meta_u64(w: &WriteTransaction, key: &str) -> Result<u64, ReadError> {
    let meta = w.open_table(tables::META).ctx("reading metadata")?;
    let value = meta.get(key).ctx("reading metadata")?;
    Ok(value
        .and_then(|v| std::str::from_utf8(v.value()).ok()?.parse().ok())
        .unwrap_or(0))
}

impl<'a> Tx<'a> {
    fn begin(shared: &'a Shared, w: &'a WriteTransaction) -> Result<Tx<'a>, ReadError> {
        let audit_head = {
            let meta = w.open_table(tables::META).ctx("reading metadata")?;
            let head = meta.get(meta_keys::AUDIT_HEAD).ctx("reading metadata")?;
            head.map(|v| String::from_utf8_lossy(v.value()).into_owned())
                .unwrap_or_else(|| super::GENESIS.to_owned())
        };
        Ok(Tx {
            shared,
            w,
            working: HashMap::new(),
            feed_seq: meta_u64(w, meta_keys::FEED_SEQ)?,
            audit_seq: meta_u64(w, meta_keys::AUDIT_SEQ)?,
            audit_head,
            job_wrote: false,
            poisoned: false,
        })
    }

    fn finish(&mut self) -> Result<(), ReadError> {
        let mut meta = self.w.open_table(tables::META).ctx("writing metadata")?;
        meta.insert(meta_keys::FEED_SEQ, self.feed_seq.to_string().as_bytes())
            .ctx("writing metadata")?;
        meta.insert(meta_keys::AUDIT_SEQ, self.audit_seq.to_string().as_bytes())
            .ctx("writing metadata")?;
        meta.insert(meta_keys::AUDIT_HEAD, self.audit_head.as_bytes())
            .ctx("writing metadata")?;
        Ok(())
    }

    pub(crate) fn w(&mut self) -> &WriteTransaction {
        self.job_wrote = true;
        self.w
    }

    pub(crate) fn r(&self) -> &WriteTransaction {
        self.w
    }

    pub(crate) fn node(&self) -> &NodeName {
        &self.shared.opts.node
    }

    pub(crate) fn opts(&self) -> &super::StoreOptions {
        &self.shared.opts
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.shared.opts.clock.now_ms()
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, ReadError> {
        let meta = self.w.open_table(tables::META).ctx("reading metadata")?;
        let value = meta.get(key).ctx("reading metadata")?;
        Ok(value.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    pub(crate) fn set_meta(&mut self, key: &str, value: Option<&str>) -> Result<(), ReadError> {
        let mut meta = self.w().open_table(tables::META).ctx("writing metadata")?;
        match value {
            Some(v) => meta.insert(key, v.as_bytes()).ctx("writing metadata")?,
            None => meta.remove(key).ctx("writing metadata")?,
        };
        Ok(())
    }

    /// Increments and returns a node-local counter kept in metadata.
    pub(crate) fn next_counter(&mut self, key: &str) -> Result<u64, ReadError> {
        let next = meta_u64(self.w, key)? + 1;
        self.set_meta(key, Some(&next.to_string()))?;
        Ok(next)
    }

    /// The emergency episode this node is in, if any.
    pub(crate) fn episode(&self) -> Result<Option<EpisodeId>, ReadError> {
        Ok(self
            .meta(meta_keys::EPISODE)?
            .and_then(|s| EpisodeId::new(s).ok()))
    }

    /// The batch's copy of a document, loaded on first use.
    pub(crate) fn doc(&mut self, id: RecordId) -> Result<Option<&mut Automerge>, ReadError> {
        if !self.working.contains_key(&id) {
            let cached = self.shared.cache.lock().ok().and_then(|mut c| c.get(&id));
            let mut doc = match cached {
                Some(doc) => (*doc).clone(),
                None => {
                    let chunks = self
                        .w
                        .open_table(tables::DOC_CHUNKS)
                        .ctx("loading a record")?;
                    match super::read::load_doc(&chunks, id)? {
                        Some(doc) => doc,
                        None => return Ok(None),
                    }
                }
            };
            doc.set_actor(self.shared.actor.clone());
            self.working.insert(id, doc);
        }
        Ok(self.working.get_mut(&id))
    }

    /// Records of a kind, as of this batch.
    pub(crate) fn ids_of_kind(&self, kind: RecordKind) -> Result<Vec<RecordId>, ReadError> {
        let t = self.w.open_table(tables::BY_KIND).ctx("reading an index")?;
        let mut out = Vec::new();
        for entry in t
            .range((kind.code(), [0u8; 16])..=(kind.code(), [0xffu8; 16]))
            .ctx("reading an index")?
        {
            let (k, _) = entry.ctx("reading an index")?;
            out.push(RecordId::from_bytes(k.value().1));
        }
        Ok(out)
    }

    /// Records linked to a patient, as of this batch.
    pub(crate) fn ids_for_patient(&self, patient: RecordId) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .w
            .open_table(tables::BY_PATIENT)
            .ctx("reading an index")?;
        let p = patient.to_bytes();
        let mut out = Vec::new();
        for entry in t
            .range((p, [0u8; 16])..=(p, [0xffu8; 16]))
            .ctx("reading an index")?
        {
            let (k, _) = entry.ctx("reading an index")?;
            out.push(RecordId::from_bytes(k.value().1));
        }
        Ok(out)
    }

    /// Whether central has acknowledged a record (see [`CENTRAL_ACK_KEY`]).
    pub(crate) fn central_acked(&mut self, id: RecordId) -> Result<bool, ReadError> {
        Ok(self
            .doc(id)?
            .is_some_and(|d| d.get(ROOT, CENTRAL_ACK_KEY).ok().flatten().is_some()))
    }

    /// Reads a typed record, refusing a missing one or one of another kind.
    pub(crate) fn read<T: Record>(&mut self, id: RecordId) -> Result<T, WriteError> {
        let doc = self
            .doc(id)?
            .ok_or(RuleError::NotFound { kind: T::KIND, id })?;
        let header: Header =
            autosurgeon::hydrate_prop(&*doc, ROOT, "header").map_err(|e| ReadError::Corrupt {
                id,
                reason: e.to_string(),
            })?;
        if header.kind != T::KIND {
            return Err(RuleError::WrongKind {
                id,
                expected: T::KIND,
                found: header.kind,
            }
            .into());
        }
        autosurgeon::hydrate(&*doc).map_err(|e| {
            ReadError::Corrupt {
                id,
                reason: e.to_string(),
            }
            .into()
        })
    }

    /// Creates a record's document.
    pub(crate) fn create<T: Record>(
        &mut self,
        record: &T,
        who: &Operator,
        action: &str,
    ) -> Result<(), WriteError> {
        let id = record.header().id;
        if self.doc(id)?.is_some() {
            return Err(RuleError::invalid("id", format!("record {id} already exists")).into());
        }
        let mut doc = Automerge::new().with_actor(self.shared.actor.clone());
        let opts = self.commit_options(who, action);
        doc.transact_with(|_| opts, |tx| autosurgeon::reconcile(tx, record))
            .map_err(|f| WriteError::Aborted {
                reason: format!("cannot build the {} document: {}", T::KIND, f.error),
            })?;
        self.working.insert(id, doc);
        self.persist(id, &[], &who.name.to_string(), action)
    }

    /// Changes a record's document with `f`, which may refuse (then nothing changes).
    pub(crate) fn edit(
        &mut self,
        id: RecordId,
        who: &Operator,
        action: &str,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<(), RuleError>,
    ) -> Result<(), WriteError> {
        let opts = self.commit_options(who, action);
        let doc = self.doc(id)?.ok_or_else(|| {
            RuleError::invalid("id", format!("record {id} does not exist on this node"))
        })?;
        let old_heads = doc.get_heads();
        doc.transact_with(|_| opts, f).map_err(|f| f.error)?;
        self.persist(id, &old_heads, &who.name.to_string(), action)
    }

    fn commit_options(&self, who: &Operator, action: &str) -> CommitOptions {
        let note = ChangeNote {
            operator: who.name.to_string(),
            desk: who.desk.to_string(),
            action: action.to_owned(),
        };
        CommitOptions::default()
            .with_message(serde_json::to_string(&note).unwrap_or_default())
            .with_time(self.now_ms())
    }

    /// Writes what changed in a working document since `old_heads`: a chunk, the feed entry,
    /// the indexes and an audit entry.
    fn persist(
        &mut self,
        id: RecordId,
        old_heads: &[ChangeHash],
        actor: &str,
        action: &str,
    ) -> Result<(), WriteError> {
        let compact_after = self.shared.opts.compact_after_chunks;
        let Some(doc) = self.working.get(&id) else {
            return Ok(());
        };
        if doc.get_heads() == old_heads {
            return Ok(());
        }
        let change_hashes: Vec<String> = doc
            .get_changes(old_heads)
            .iter()
            .map(|c| c.hash().to_string())
            .collect();
        let key = id.to_bytes();
        self.job_wrote = true;
        {
            let mut chunks = self
                .w
                .open_table(tables::DOC_CHUNKS)
                .ctx("saving a record")?;
            let last = chunks
                .range((key, 0)..=(key, u32::MAX))
                .ctx("saving a record")?
                .next_back()
                .transpose()
                .ctx("saving a record")?
                .map(|(k, _)| k.value().1);
            match last {
                Some(last) if last + 1 < compact_after => {
                    let delta = doc.save_after(old_heads);
                    chunks
                        .insert((key, last + 1), delta.as_slice())
                        .ctx("saving a record")?;
                }
                Some(last) => {
                    for n in 0..=last {
                        chunks.remove((key, n)).ctx("compacting a record")?;
                    }
                    chunks
                        .insert((key, 0), doc.save().as_slice())
                        .ctx("compacting a record")?;
                }
                None => {
                    chunks
                        .insert((key, 0), doc.save().as_slice())
                        .ctx("saving a record")?;
                }
            }
        }
        let heads = super::replication::encode_heads(&doc.get_heads());
        self.w
            .open_table(tables::DOC_HEADS)
            .ctx("saving a record")?
            .insert(key, heads.as_slice())
            .ctx("saving a record")?;
        self.feed(key)?;
        self.reindex(id)?;
        self.audit(AuditEvent {
            actor: actor.to_owned(),
            action: action.to_owned(),
            record: Some(id),
            changes: change_hashes,
            detail: None,
        })?;
        Ok(())
    }

    fn feed(&mut self, key: Id) -> Result<(), ReadError> {
        self.feed_seq += 1;
        let mut pos = self
            .w
            .open_table(tables::FEED_POS)
            .ctx("updating the feed")?;
        let mut feed = self.w.open_table(tables::FEED).ctx("updating the feed")?;
        if let Some(old) = pos.insert(key, self.feed_seq).ctx("updating the feed")? {
            feed.remove(old.value()).ctx("updating the feed")?;
        }
        feed.insert(self.feed_seq, key).ctx("updating the feed")?;
        Ok(())
    }

    /// Brings the indexes in line with a working document.
    fn reindex(&mut self, id: RecordId) -> Result<(), WriteError> {
        let Some(doc) = self.working.get(&id) else {
            return Ok(());
        };
        let header: Header =
            autosurgeon::hydrate_prop(doc, ROOT, "header").map_err(|e| ReadError::Corrupt {
                id,
                reason: e.to_string(),
            })?;
        let key = id.to_bytes();
        let w = self.w;
        w.open_table(tables::BY_KIND)
            .ctx("indexing")?
            .insert((header.kind.code(), key), ())
            .ctx("indexing")?;
        if let Some(episode) = &header.episode {
            w.open_table(tables::BY_EPISODE)
                .ctx("indexing")?
                .insert((episode.as_str(), key), ())
                .ctx("indexing")?;
            let acked = doc.get(ROOT, CENTRAL_ACK_KEY).ok().flatten().is_some();
            let mut unreconciled = w.open_table(tables::UNRECONCILED).ctx("indexing")?;
            if acked {
                unreconciled.remove(key).ctx("indexing")?;
            } else {
                unreconciled.insert(key, ()).ctx("indexing")?;
            }
        }
        let patient: Option<RecordId> = match doc.get(ROOT, "patient") {
            Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
                automerge::ScalarValue::Str(s) => s.parse().ok(),
                _ => None,
            },
            _ => None,
        };
        if let Some(patient) = patient {
            w.open_table(tables::BY_PATIENT)
                .ctx("indexing")?
                .insert((patient.to_bytes(), key), ())
                .ctx("indexing")?;
        }
        if header.kind == RecordKind::Patient {
            let patient: Patient = autosurgeon::hydrate(doc).map_err(|e| ReadError::Corrupt {
                id,
                reason: e.to_string(),
            })?;
            self.index_patient(&patient)?;
        }
        Ok(())
    }

    fn index_patient(&mut self, p: &Patient) -> Result<(), ReadError> {
        let key = p.header.id.to_bytes();
        let new_keys = super::read::patient_keys(p);
        let mut keys = self.w.open_table(tables::PATIENT_KEYS).ctx("indexing")?;
        let mut keys_of = self.w.open_table(tables::PATIENT_KEYS_OF).ctx("indexing")?;
        let old: Vec<(String, String)> = keys_of
            .get(key)
            .ctx("indexing")?
            .and_then(|v| serde_json::from_slice(v.value()).ok())
            .unwrap_or_default();
        for (kind, value) in &old {
            keys.remove((kind.as_str(), value.as_str(), key))
                .ctx("indexing")?;
        }
        for (kind, value) in &new_keys {
            keys.insert((kind.as_str(), value.as_str(), key), ())
                .ctx("indexing")?;
        }
        let encoded = serde_json::to_vec(&new_keys).unwrap_or_default();
        keys_of.insert(key, encoded.as_slice()).ctx("indexing")?;
        Ok(())
    }

    /// Appends an entry to the audit chain.
    pub(crate) fn audit(&mut self, event: AuditEvent) -> Result<(), ReadError> {
        self.job_wrote = true;
        let mut entry = AuditEntry {
            seq: self.audit_seq + 1,
            at_ms: self.now_ms(),
            node: self.shared.opts.node.clone(),
            actor: event.actor,
            action: event.action,
            record: event.record,
            changes: event.changes,
            detail: event.detail,
            prev_hash: self.audit_head.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        let bytes = serde_json::to_vec(&entry).map_err(|e| ReadError::Undecodable {
            what: "audit entry".into(),
            reason: e.to_string(),
        })?;
        self.w
            .open_table(tables::AUDIT)
            .ctx("writing the audit trail")?
            .insert(entry.seq, bytes.as_slice())
            .ctx("writing the audit trail")?;
        self.audit_seq = entry.seq;
        self.audit_head = entry.hash;
        Ok(())
    }

    /// Records a refusal of a peer's changes in the audit chain.
    fn audit_refusal(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        reason: &Refusal,
    ) -> Result<(), ReadError> {
        self.audit(AuditEvent {
            actor: format!("sync:{peer}"),
            action: "sync.reject".into(),
            record: Some(id),
            changes: Vec::new(),
            detail: Some(format!("{}: {reason}", reason.code())),
        })
    }

    /// Records that `peer` has at least `heads` of a record (only hashes we hold: the peer
    /// may know more than we do).
    pub(crate) fn note_peer_heads(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        heads: &[ChangeHash],
    ) -> Result<(), ReadError> {
        let known: Vec<ChangeHash> = match self.working.get(&id) {
            Some(doc) => heads
                .iter()
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .copied()
                .collect(),
            None => Vec::new(),
        };
        if known.is_empty() {
            return Ok(());
        }
        let bytes = super::replication::encode_heads(&known);
        self.job_wrote = true;
        self.w
            .open_table(tables::PEER_HEADS)
            .ctx("recording peer heads")?
            .insert((peer.as_str(), id.to_bytes()), bytes.as_slice())
            .ctx("recording peer heads")?;
        Ok(())
    }

    /// Applies one record's changes from a peer; `Ok(true)` if it changed, `Err(reason)` if
    /// refused (and audited as such).
    pub(crate) fn apply_single(
        &mut self,
        peer: &NodeName,
        item: &IncomingDoc,
        check: &ApplyCheck,
    ) -> Result<Result<bool, Refusal>, WriteError> {
        Ok(match self.apply_one(peer, item, check)? {
            ApplyResult::Applied => Ok(true),
            ApplyResult::Unchanged | ApplyResult::MissingDeps => Ok(false),
            ApplyResult::Rejected(reason) => {
                self.audit_refusal(peer, item.id, &reason)?;
                Err(reason)
            }
        })
    }

    /// Merges changes from a peer into one document. See [`Store::apply_remote`].
    fn apply_one(
        &mut self,
        peer: &NodeName,
        item: &IncomingDoc,
        check: &ApplyCheck,
    ) -> Result<ApplyResult, WriteError> {
        let id = item.id;
        let existing = self.doc(id)?.map(|d| d.clone());
        let mut candidate = existing
            .clone()
            .unwrap_or_else(|| Automerge::new().with_actor(self.shared.actor.clone()));
        let old_heads = candidate.get_heads();
        // Automerge's decoder can panic on some malformed input instead of returning an
        // error (found by fuzzing): a peer's bytes must never panic the node, so a panic
        // here is a refusal of that record, like any undecodable change.
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            candidate.load_incremental(&item.bytes)
        }));
        match loaded {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Ok(ApplyResult::Rejected(Refusal::Undecodable {
                    reason: e.to_string(),
                }));
            }
            Err(_) => {
                return Ok(ApplyResult::Rejected(Refusal::Undecodable {
                    reason: "the decoder failed on them".into(),
                }));
            }
        }
        // Automerge skips a damaged chunk silently; the sender's heads tell us whether we
        // really got everything it sent. Anything short goes on through the sync protocol.
        let short_of_sender = item
            .sender_heads
            .iter()
            .any(|h| candidate.get_change_by_hash(h).is_none());
        let missing = short_of_sender || !candidate.get_missing_deps(&[]).is_empty();
        if candidate.get_heads() == old_heads {
            if missing {
                return Ok(ApplyResult::MissingDeps);
            }
            self.note_peer_heads(peer, id, &item.sender_heads)?;
            return Ok(ApplyResult::Unchanged);
        }
        let header: Header = match autosurgeon::hydrate_prop(&candidate, ROOT, "header") {
            Ok(h) => h,
            Err(e) if missing => {
                tracing::debug!(%id, error = %e, "partial document; waiting for dependencies");
                return Ok(ApplyResult::MissingDeps);
            }
            Err(e) => {
                return Ok(ApplyResult::Rejected(Refusal::NoHeader {
                    reason: e.to_string(),
                }));
            }
        };
        if header.id != id {
            return Ok(ApplyResult::Rejected(Refusal::WrongId {
                claimed: header.id,
            }));
        }
        if let Some(old) = &existing
            && let Ok(old_header) =
                autosurgeon::hydrate_prop::<_, Header, _, _>(old, ROOT, "header")
            && old_header != header
        {
            return Ok(ApplyResult::Rejected(Refusal::HeaderRewritten));
        }
        let authors: Vec<String> = candidate
            .get_changes(&old_heads)
            .iter()
            .map(|c| super::actor_node(c.actor_id()).unwrap_or("?").to_owned())
            .collect();
        if let Err(reason) = check(&header, &authors) {
            return Ok(ApplyResult::Rejected(reason));
        }
        candidate.set_actor(self.shared.actor.clone());
        self.working.insert(id, candidate);
        self.persist(id, &old_heads, &format!("sync:{peer}"), "sync.apply")?;
        if missing {
            return Ok(ApplyResult::MissingDeps);
        }
        self.note_peer_heads(peer, id, &item.sender_heads)?;
        Ok(ApplyResult::Applied)
    }
}

/// Decides whether changes from a peer may be applied to a record: it sees the record's
/// header and the nodes that authored the new changes.
pub type ApplyCheck = dyn Fn(&Header, &[String]) -> Result<(), Refusal> + Send;

/// Changes for one record, as sent by a peer: one or more concatenated Automerge change
/// chunks (the output of `save_after`, or raw changes).
#[derive(Debug, Clone)]
pub struct RemoteChanges {
    pub id: RecordId,
    pub bytes: Vec<u8>,
}

/// [`RemoteChanges`] as replication sends them, with the sender's heads for the record after
/// these changes: once applied, we know the sender has them, so we never send its own changes
/// back to it.
#[derive(Debug, Clone)]
pub struct IncomingDoc {
    pub id: RecordId,
    pub bytes: Vec<u8>,
    pub sender_heads: Vec<ChangeHash>,
    /// The sender's feed sequence of this record's latest change (0 if not from the feed).
    pub seq: u64,
}

/// A record whose changes were refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub id: RecordId,
    #[serde(serialize_with = "display")]
    pub reason: Refusal,
}

fn display<S: serde::Serializer>(reason: &Refusal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(reason)
}

/// What applying a batch from a peer did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyOutcome {
    /// Records that changed.
    pub applied: Vec<RecordId>,
    /// Records we already had exactly.
    pub unchanged: usize,
    /// Records whose changes need others we do not have yet (fall back to the sync protocol).
    pub missing_deps: Vec<RecordId>,
    pub rejected: Vec<Rejected>,
    /// With a peer cursor: the peer's feed sequence now applied here.
    pub applied_upto: Option<u64>,
}

enum ApplyResult {
    Applied,
    Unchanged,
    MissingDeps,
    Rejected(Refusal),
}

impl Store {
    /// Merges a batch of changes from `peer` in one durable commit. Idempotent and
    /// order-independent: applying the same changes twice, or in any order, converges to the
    /// same documents. `check` sees each record's header and the nodes that authored the new
    /// changes, and may refuse the record; refused records are left exactly as they were.
    pub fn apply_remote(
        &self,
        peer: &NodeName,
        items: Vec<RemoteChanges>,
        check: impl Fn(&Header, &[String]) -> Result<(), Refusal> + Send + 'static,
    ) -> Result<ApplyOutcome, WriteError> {
        let items = items
            .into_iter()
            .map(|i| IncomingDoc {
                id: i.id,
                bytes: i.bytes,
                sender_heads: Vec::new(),
                seq: 0,
            })
            .collect();
        self.apply_batch(peer, items, None, check)
    }

    /// [`Store::apply_remote`] that also records, in the same commit, that everything in the
    /// peer's feed up to `peer_cursor` has now been applied here; or, when some records lack
    /// dependencies, everything before the first of those. The outcome's `applied_upto` says
    /// which.
    pub fn apply_batch(
        &self,
        peer: &NodeName,
        items: Vec<IncomingDoc>,
        peer_cursor: Option<u64>,
        check: impl Fn(&Header, &[String]) -> Result<(), Refusal> + Send + 'static,
    ) -> Result<ApplyOutcome, WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            let mut outcome = ApplyOutcome::default();
            for item in &items {
                match tx.apply_one(&peer, item, &check)? {
                    ApplyResult::Applied => outcome.applied.push(item.id),
                    ApplyResult::Unchanged => outcome.unchanged += 1,
                    ApplyResult::MissingDeps => outcome.missing_deps.push(item.id),
                    ApplyResult::Rejected(reason) => {
                        tracing::warn!(%peer, id = %item.id, %reason, "refused changes from peer");
                        tx.update_peer_state(&peer, |s| s.rejected += 1)?;
                        tx.audit_refusal(&peer, item.id, &reason)?;
                        outcome.rejected.push(Rejected {
                            id: item.id,
                            reason,
                        });
                    }
                }
            }
            if let Some(cursor) = peer_cursor {
                let first_missing = items
                    .iter()
                    .filter(|i| outcome.missing_deps.contains(&i.id))
                    .map(|i| i.seq)
                    .min();
                let upto = match first_missing {
                    Some(seq) => seq.saturating_sub(1).min(cursor),
                    None => cursor,
                };
                let now = tx.now_ms();
                tx.update_peer_state(&peer, |s| {
                    s.applied_from_peer = s.applied_from_peer.max(upto);
                    s.last_contact_ms = now;
                })?;
                outcome.applied_upto = Some(upto);
            }
            Ok(outcome)
        })
    }
}

/// Reads a status log key's stamp objects, for callers that need every concurrent value.
pub(crate) fn put_stamp(
    tx: &mut Transaction<'_>,
    state: &str,
    stamp: &crate::status::Stamp,
) -> Result<(), RuleError> {
    let log = match tx.get(ROOT, "status_log") {
        Ok(Some((automerge::Value::Object(automerge::ObjType::Map), obj))) => obj,
        _ => tx
            .put_object(ROOT, "status_log", automerge::ObjType::Map)
            .map_err(|e| RuleError::invalid("status_log", e.to_string()))?,
    };
    autosurgeon::reconcile_prop(tx, log, state, stamp)
        .map_err(|e| RuleError::invalid("status_log", e.to_string()))
}
