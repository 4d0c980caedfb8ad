//! One batch's transaction, handed to each job of the batch in turn: documents loaded on
//! first use and kept for the batch, typed reads, creating and editing records, and
//! [`Tx::persist`], which writes what a change did (a chunk, the feed, the indexes, an audit
//! entry) in the same commit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use automerge::transaction::{CommitOptions, Transaction};
use automerge::{Automerge, ChangeHash, ROOT};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::audit::{AuditEntry, AuditEvent, GENESIS};
use super::chunks::save_chunks;
use super::error::{AbortCause, ReadError, RecordDamage, StorageContext, WriteError};
use super::kept::Kept;
use super::read::{hydrate_record, load_doc};
use super::tables::{self, Id, decode_heads, encode_heads, meta_keys};
use super::tx_tables::TxTables;
use super::{Shared, StoreOptions};
use crate::id::{NodeName, RecordId};
use crate::record::{Header, Record};
use crate::roles::Operator;
use crate::rules::RuleError;

/// The commit message stored in every Automerge change: who, at which desk, did what.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChangeNote {
    pub operator: String,
    pub desk: String,
    pub action: String,
}

/// One batch's view of the database, handed to each job in turn.
pub(crate) struct Tx<'a, 't> {
    shared: &'a Shared,
    /// The batch's tables, each opened once (see [`TxTables`]).
    w: &'a TxTables<'t>,
    /// Documents loaded or changed in this batch; moved into the cache after the commit. Read
    /// as they are (shared with the cache); copied only when the batch changes one.
    working: HashMap<RecordId, Arc<Automerge>>,
    feed_seq: u64,
    audit_seq: u64,
    audit_head: String,
    job_wrote: bool,
    poisoned: bool,
    /// Kept counts and digest rows this batch changes, written when it finishes.
    pub(super) kept: Kept,
    /// Records this batch removed (pruned), to drop from the cache after the commit.
    removed: Vec<RecordId>,
    /// Changes this node made in the batch: signed when it commits.
    pub(super) authored: Vec<(RecordId, ChangeHash)>,
    /// Peers' slots in `peer_holds`, read when the batch first needs them.
    pub(super) slots: Option<super::holders::Slots>,
    /// Signed commits this batch found or put in the `signed` table: a commit signs up to
    /// 256 changes, and a peer's batch brings the records of one commit one after another.
    pub(super) kept_commits: HashSet<crate::trust::CommitId>,
    /// The patient the replica rules read of the document the apply path is saving, for its
    /// indexes: set just before that save, cleared after it.
    pub(super) read_patient: Option<(RecordId, Box<crate::record::Patient>)>,
    /// A new record's chunk as a peer sent it, packed as the peer stores it, to store as it
    /// is (`Merge::Changed::as_sent`): set just before that save, cleared after it.
    pub(super) sent_chunk: Option<(RecordId, Vec<u8>)>,
}

/// What a batch that wrote leaves for after its commit: its documents and the records it
/// removed, for the cache, the feed's sequence number, for the subscribers, and the commit's
/// number, for the mark beside the store.
pub(super) struct Finished {
    pub(super) working: HashMap<RecordId, Arc<Automerge>>,
    pub(super) removed: Vec<RecordId>,
    pub(super) feed_seq: u64,
    pub(super) commit: u64,
}

/// Where the changes a [`Tx::persist`] writes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// One change this node made (a desk's create or edit): its hash is the document's one
    /// new head, and it is signed with the batch.
    Local,
    /// A peer's changes, any number of them (the apply path keeps their signatures).
    Peer,
}

impl<'a, 't> Tx<'a, 't> {
    pub(super) fn begin(shared: &'a Shared, w: &'a TxTables<'t>) -> Result<Tx<'a, 't>, ReadError> {
        let audit_head = read_meta(w, meta_keys::AUDIT_HEAD)?.unwrap_or_else(|| GENESIS.to_owned());
        Ok(Tx {
            shared,
            w,
            working: HashMap::new(),
            feed_seq: meta_u64(w, meta_keys::FEED_SEQ)?,
            audit_seq: meta_u64(w, meta_keys::AUDIT_SEQ)?,
            audit_head,
            job_wrote: false,
            poisoned: false,
            kept: Kept::default(),
            removed: Vec::new(),
            authored: Vec::new(),
            slots: None,
            kept_commits: HashSet::new(),
            read_patient: None,
            sent_chunk: None,
        })
    }

    /// Notes what the batch made as waiting for its signature and writes its counters and
    /// kept counts; the caller then commits.
    pub(super) fn finish(mut self) -> Result<Finished, ReadError> {
        self.keep_authored()?;
        self.kept.write(self.w)?;
        let commit = meta_u64(self.w, meta_keys::COMMITS)? + 1;
        let mut meta = self.w.open_table(tables::META).ctx("writing metadata")?;
        for (key, value) in [
            (meta_keys::FEED_SEQ, self.feed_seq.to_string()),
            (meta_keys::AUDIT_SEQ, self.audit_seq.to_string()),
            (meta_keys::AUDIT_HEAD, self.audit_head.clone()),
            (meta_keys::COMMITS, commit.to_string()),
        ] {
            meta.insert(key, value.as_bytes()).ctx("writing metadata")?;
        }
        Ok(Finished {
            working: self.working,
            removed: self.removed,
            feed_seq: self.feed_seq,
            commit,
        })
    }

    /// A new job of the batch begins: it has written nothing yet.
    pub(super) fn start_job(&mut self) {
        self.job_wrote = false;
        self.poisoned = false;
    }

    pub(super) fn job_wrote(&self) -> bool {
        self.job_wrote
    }

    /// The current job failed: if it wrote anything, the batch must be aborted whole.
    pub(super) fn job_failed(&mut self) {
        if self.job_wrote {
            self.poisoned = true;
        }
    }

    pub(super) fn poisoned(&self) -> bool {
        self.poisoned
    }

    /// The transaction, to write: marks the current job as one that wrote.
    pub(super) fn w(&mut self) -> &'a TxTables<'t> {
        self.job_wrote = true;
        self.w
    }

    /// The transaction, to read.
    pub(super) fn r(&self) -> &'a TxTables<'t> {
        self.w
    }

    /// This process's Automerge actor (see [`super::Shared::actor`]).
    pub(super) fn actor(&self) -> &automerge::ActorId {
        &self.shared.actor
    }

    pub(super) fn shared(&self) -> &'a Shared {
        self.shared
    }

    /// Refuses a record kind this node's certificate does not let it write.
    fn check_node_writes(&self, kind: crate::record::RecordKind) -> Result<(), WriteError> {
        let opts = &self.shared.opts;
        let rights = crate::trust::Rights {
            role: opts.role,
            desks: &opts.desks,
        };
        if rights.may_write(kind) {
            return Ok(());
        }
        let desks: Vec<&str> = opts.desks.iter().map(|d| d.name()).collect();
        Err(RuleError::NodeMayNotWrite {
            role: opts.role,
            kind,
            desks: if desks.is_empty() {
                "none".to_owned()
            } else {
                desks.join(", ")
            },
        }
        .into())
    }

    pub(super) fn blank_doc(&self) -> Automerge {
        Automerge::new().with_actor(self.shared.actor.clone())
    }

    pub(crate) fn node(&self) -> &NodeName {
        &self.shared.opts.node
    }

    pub(crate) fn opts(&self) -> &StoreOptions {
        &self.shared.opts
    }

    /// The members this node knows (see [`super::Store::roster`]).
    pub(crate) fn roster(&self) -> Arc<crate::trust::Roster> {
        self.shared.current_roster()
    }

    /// This opening of the store's id (see [`super::Store::opening`]).
    pub(super) fn opening_id(&self) -> String {
        self.shared.actor.to_hex_string()
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.shared.opts.clock.now_ms()
    }

    /// A new record's id, stamped with the store's clock, its random part from the store's
    /// [`Ids`](crate::id::Ids).
    pub(crate) fn new_record_id(&self) -> crate::id::RecordId {
        self.shared.opts.ids.record_id_at(self.now_ms())
    }

    pub(super) fn meta(&self, key: &str) -> Result<Option<String>, ReadError> {
        read_meta(self.w, key)
    }

    pub(super) fn meta_u64(&self, key: &str) -> Result<u64, ReadError> {
        meta_u64(self.w, key)
    }

    pub(super) fn set_meta(&mut self, key: &str, value: Option<&str>) -> Result<(), ReadError> {
        let mut meta = self.w().open_table(tables::META).ctx("writing metadata")?;
        match value {
            Some(v) => meta.insert(key, v.as_bytes()).ctx("writing metadata")?,
            None => meta.remove(key).ctx("writing metadata")?,
        };
        Ok(())
    }

    /// The batch's copy of a document, loaded on first use.
    pub(crate) fn doc(&mut self, id: RecordId) -> Result<Option<&Automerge>, ReadError> {
        self.load(id)?;
        Ok(self.working.get(&id).map(|d| &**d))
    }

    fn load(&mut self, id: RecordId) -> Result<(), ReadError> {
        if self.working.contains_key(&id) {
            return Ok(());
        }
        let cached = self.shared.cache.lock().ok().and_then(|mut c| c.get(&id));
        let doc = match cached {
            Some(doc) => doc,
            None => {
                let chunks = self
                    .w
                    .open_table(tables::DOC_CHUNKS)
                    .ctx("loading a record")?;
                match load_doc(&*chunks, id)? {
                    Some(doc) => Arc::new(doc),
                    None => return Ok(()),
                }
            }
        };
        self.working.insert(id, doc);
        Ok(())
    }

    /// The batch's own copy of a document, to change: written by this node's actor.
    fn doc_mut(&mut self, id: RecordId) -> Result<Option<&mut Automerge>, ReadError> {
        self.load(id)?;
        let actor = self.shared.actor.clone();
        Ok(self.working.get_mut(&id).map(|d| {
            let doc = Arc::make_mut(d);
            if doc.get_actor() != &actor {
                doc.set_actor(actor);
            }
            doc
        }))
    }

    /// The batch's copy of a document, if it is loaded already.
    pub(super) fn loaded(&self, id: RecordId) -> Option<&Automerge> {
        self.working.get(&id).map(|d| &**d)
    }

    /// A record removed by this batch: out of the working set, and out of the cache once the
    /// batch commits.
    pub(super) fn forget(&mut self, id: RecordId) {
        self.working.remove(&id);
        self.removed.push(id);
    }

    /// The batch's copy of a document, shared, if it is loaded already.
    pub(super) fn shared_loaded(&self, id: RecordId) -> Option<Arc<Automerge>> {
        self.working.get(&id).cloned()
    }

    /// Replaces the batch's copy of a document (with changes from a peer), to be persisted.
    pub(super) fn replace(&mut self, id: RecordId, mut doc: Automerge) {
        doc.set_actor(self.shared.actor.clone());
        self.working.insert(id, Arc::new(doc));
    }

    /// Which patient a patient record was merged into, if any; refuses a missing record or one
    /// of another kind. Reads two fields, not the whole record.
    pub(crate) fn patient_merged_into(
        &mut self,
        id: RecordId,
    ) -> Result<Option<RecordId>, WriteError> {
        let doc = self.doc(id)?.ok_or(RuleError::NotFound {
            kind: crate::record::RecordKind::Patient,
            id,
        })?;
        let header =
            Header::of(doc).map_err(|e| ReadError::corrupt(id, RecordDamage::Header(e)))?;
        if header.kind != crate::record::RecordKind::Patient {
            return Err(RuleError::WrongKind {
                id,
                expected: crate::record::RecordKind::Patient,
                found: header.kind,
            }
            .into());
        }
        autosurgeon::hydrate_prop(doc, ROOT, "merged_into")
            .map_err(|e| ReadError::corrupt(id, RecordDamage::Contents(e)).into())
    }

    /// Reads a typed record, refusing a missing one or one of another kind.
    pub(crate) fn read<T: Record>(&mut self, id: RecordId) -> Result<T, WriteError> {
        let doc = self
            .doc(id)?
            .ok_or(RuleError::NotFound { kind: T::KIND, id })?;
        hydrate_record(id, doc)?.map_err(|found| {
            RuleError::WrongKind {
                id,
                expected: T::KIND,
                found,
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
        self.check_node_writes(T::KIND)?;
        if self.doc(id)?.is_some() {
            return Err(RuleError::invalid("id", format!("record {id} already exists")).into());
        }
        let mut doc = self.blank_doc();
        let opts = self.commit_options(who, action);
        doc.transact_with(|_| opts, |tx| autosurgeon::reconcile(tx, record))
            .map_err(|f| WriteError::Aborted {
                cause: AbortCause::Build {
                    kind: T::KIND,
                    source: f.error.into(),
                },
            })?;
        self.working.insert(id, Arc::new(doc));
        let header = record.header().clone();
        if let Err(e) = self.judge_own(id, None, &header, &[]) {
            self.working.remove(&id);
            return Err(e);
        }
        self.persist(
            id,
            &[],
            &header,
            Origin::Local,
            &who.name.to_string(),
            action,
        )
    }

    /// Changes a record's document with `f`, which may refuse (then nothing changes).
    pub(crate) fn edit(
        &mut self,
        id: RecordId,
        who: &Operator,
        action: &str,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        let opts = self.commit_options(who, action);
        let missing =
            || RuleError::invalid("id", format!("record {id} does not exist on this node"));
        let kind = Header::of(self.doc(id)?.ok_or_else(missing)?)
            .ok()
            .map(|h| h.kind);
        if let Some(kind) = kind {
            self.check_node_writes(kind)?;
        }
        let mark = self.episode_edit_mark(id, who)?;
        // The record as it was: the rules compare the edit with it, and it comes back if they
        // refuse the edit.
        let before = self.shared_loaded(id);
        let doc = self.doc_mut(id)?.ok_or_else(missing)?;
        let old_heads = doc.get_heads();
        doc.transact_with(
            |_| opts,
            |t| {
                f(t)?;
                match mark {
                    Some((episode, at)) => super::episode_edits::mark(t, &episode, at),
                    None => Ok(()),
                }
            },
        )
        .map_err(|f| f.error)?;
        let header =
            Header::of(&*doc).map_err(|e| ReadError::corrupt(id, RecordDamage::Header(e)))?;
        if doc.get_heads() == old_heads {
            return Ok(());
        }
        if let Err(e) = self.judge_own(id, before.as_deref(), &header, &old_heads) {
            if let Some(before) = before {
                self.working.insert(id, before);
            }
            return Err(e);
        }
        self.persist(
            id,
            &old_heads,
            &header,
            Origin::Local,
            &who.name.to_string(),
            action,
        )
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

    /// Writes what changed in a working document since `old_heads`, whose header is
    /// `header`: a chunk, the feed entry, the indexes, the kept counts, the changes'
    /// signatures (or, for this node's own, their place in the batch's signature) and an
    /// audit entry.
    pub(super) fn persist(
        &mut self,
        id: RecordId,
        old_heads: &[ChangeHash],
        header: &Header,
        origin: Origin,
        actor: &str,
        action: &str,
    ) -> Result<(), WriteError> {
        let Some(doc) = self.working.get(&id).cloned() else {
            return Ok(());
        };
        let heads = doc.get_heads();
        if heads == old_heads {
            return Ok(());
        }
        let new_hashes: Vec<ChangeHash> = match origin {
            Origin::Local => heads.clone(),
            Origin::Peer => doc
                .get_changes_meta(old_heads)
                .iter()
                .map(|c| c.hash)
                .collect(),
        };
        let change_hashes: Vec<String> = new_hashes.iter().map(ToString::to_string).collect();
        self.job_wrote = true;
        let key = id.to_bytes();
        let sent = self.sent_chunk.take().filter(|(sent, _)| *sent == id);
        save_chunks(
            self.w,
            key,
            &doc,
            old_heads,
            self.shared.opts.compact_after_chunks,
            sent.as_ref().map(|(_, chunk)| chunk.as_slice()),
        )?;
        let encoded = encode_heads(&heads);
        let stored = self
            .w
            .open_table(tables::DOC_HEADS)
            .ctx("saving a record")?
            .insert(key, encoded.as_slice())
            .ctx("saving a record")?
            .map(|old| decode_heads(old.value()));
        self.kept
            .digest
            .change(id, header.kind, stored.as_deref(), Some(&heads));
        self.feed(key, header.kind)?;
        self.reindex(id, header)?;
        self.audit(AuditEvent {
            actor: actor.to_owned(),
            action: action.to_owned(),
            record: Some(id),
            changes: change_hashes,
            detail: None,
        })?;
        if origin == Origin::Local {
            self.authored(id, new_hashes);
        }
        Ok(())
    }

    /// Moves a record to the head of the change feed.
    fn feed(&mut self, key: Id, kind: crate::record::RecordKind) -> Result<(), ReadError> {
        self.feed_seq += 1;
        let mut pos = self
            .w
            .open_table(tables::FEED_POS)
            .ctx("updating the feed")?;
        let mut feed = self.w.open_table(tables::FEED).ctx("updating the feed")?;
        let old = pos
            .insert(key, self.feed_seq)
            .ctx("updating the feed")?
            .map(|old| old.value());
        if let Some(old) = old {
            feed.remove(old).ctx("updating the feed")?;
        }
        feed.insert(self.feed_seq, (key, kind.code()))
            .ctx("updating the feed")?;
        drop((pos, feed));
        self.backlog_record_moved(old)
    }

    /// Appends an entry to the audit chain.
    pub(crate) fn audit(&mut self, event: AuditEvent) -> Result<(), ReadError> {
        self.job_wrote = true;
        let entry = AuditEntry::next(
            self.audit_seq,
            &self.audit_head,
            self.now_ms(),
            self.shared.opts.node.clone(),
            event,
        );
        let bytes = entry.encode();
        self.w
            .open_table(tables::AUDIT)
            .ctx("writing the audit trail")?
            .insert(entry.seq, bytes.as_slice())
            .ctx("writing the audit trail")?;
        self.audit_seq = entry.seq;
        self.audit_head = entry.hash;
        Ok(())
    }
}

fn read_meta(w: &TxTables<'_>, key: &str) -> Result<Option<String>, ReadError> {
    let meta = w.open_table(tables::META).ctx("reading metadata")?;
    let value = meta.get(key).ctx("reading metadata")?;
    Ok(value.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
}

fn meta_u64(w: &TxTables<'_>, key: &str) -> Result<u64, ReadError> {
    Ok(read_meta(w, key)?.and_then(|v| v.parse().ok()).unwrap_or(0))
}
