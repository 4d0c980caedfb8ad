//! Reads: documents on demand through the bounded cache, typed records, the feed, the audit
//! chain and store statistics. Readers use their own read transaction and never wait for the
//! writer.

use std::sync::Arc;

use automerge::{Automerge, ChangeHash};
use redb::{
    ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
};
use serde::Serialize;

use super::Store;
use super::audit::{AuditEntry, ChainError, GENESIS, check_chain};
use super::audit_codec::AuditDecodeError;
use super::error::{ReadError, RecordDamage, StorageContext};
use super::tables::count_keys::{open as open_key, records as records_key};
use super::tables::{self, Id, meta_keys};
use crate::id::RecordId;
use crate::record::{Header, Record, RecordKind};
use crate::review::WorkCategory;

/// A record's stored chunks, unpacked and concatenated: a whole document as Automerge loads
/// it (empty if the record is not stored).
pub(crate) fn stored_chunks(
    chunks: &impl ReadableTable<(Id, u32), &'static [u8]>,
    id: RecordId,
) -> Result<Vec<u8>, ReadError> {
    let key = id.to_bytes();
    let mut bytes = Vec::new();
    for entry in chunks
        .range((key, 0)..=(key, u32::MAX))
        .ctx("loading a record")?
    {
        let (_, v) = entry.ctx("loading a record")?;
        super::chunks::unpack_into(v.value(), &mut bytes)
            .map_err(|e| ReadError::corrupt(id, RecordDamage::Chunk(e)))?;
    }
    Ok(bytes)
}

/// A record's bytes to send to a peer that holds none of it: its one stored chunk as it is,
/// when that is packed ([`super::chunks::sent_as_stored`]: the receiver unpacks it, and keeps
/// it as its own chunk), else [`stored_chunks`]. A record loaded in bulk or compacted has one
/// chunk; sending it packed spares the sender's inflating, about half the bytes on the wire,
/// and the receiver's saving and deflating of the record again.
pub(crate) fn sendable_chunks(
    chunks: &impl ReadableTable<(Id, u32), &'static [u8]>,
    id: RecordId,
) -> Result<Vec<u8>, ReadError> {
    let key = id.to_bytes();
    let mut range = chunks
        .range((key, 0)..=(key, u32::MAX))
        .ctx("loading a record")?;
    if let Some(first) = range.next() {
        let (_, v) = first.ctx("loading a record")?;
        if range.next().is_none()
            && let Some(packed) = super::chunks::sent_as_stored(v.value())
        {
            return Ok(packed.to_vec());
        }
    }
    stored_chunks(chunks, id)
}

/// Loads a document from its chunks. `None` if the record is not stored.
pub(crate) fn load_doc(
    chunks: &impl ReadableTable<(Id, u32), &'static [u8]>,
    id: RecordId,
) -> Result<Option<Automerge>, ReadError> {
    let bytes = stored_chunks(chunks, id)?;
    if bytes.is_empty() {
        return Ok(None);
    }
    Automerge::load(&bytes)
        .map(Some)
        .map_err(|e| ReadError::corrupt(id, RecordDamage::Load(e)))
}

/// A record of kind `T` from its document, or the kind it is instead.
pub(super) fn hydrate_record<T: Record>(
    id: RecordId,
    doc: &Automerge,
) -> Result<Result<T, RecordKind>, ReadError> {
    let header = Header::of(doc).map_err(|e| ReadError::corrupt(id, RecordDamage::Header(e)))?;
    if header.kind != T::KIND {
        return Ok(Err(header.kind));
    }
    crate::record::hydrate(doc)
        .map(Ok)
        .map_err(|e| ReadError::corrupt(id, RecordDamage::Contents(e)))
}

/// A record of kind `T` from a whole document fetched from a peer (not stored): its bytes must
/// load, hold every head the peer gave, and be the record asked for.
pub fn record_from_bytes<T: Record>(
    id: RecordId,
    bytes: &[u8],
    heads: &[automerge::ChangeHash],
) -> Result<T, ReadError> {
    let doc = Automerge::load(bytes).map_err(|e| ReadError::corrupt(id, RecordDamage::Load(e)))?;
    if heads.iter().any(|h| !super::merge::holds(&doc, h)) {
        return Err(ReadError::Incomplete { id });
    }
    match hydrate_record::<T>(id, &doc)? {
        Ok(record) if record.header().id == id => Ok(record),
        Ok(_) => Err(ReadError::Incomplete { id }),
        Err(found) => Err(ReadError::WrongKind {
            id,
            expected: T::KIND,
            found,
        }),
    }
}

/// JSON entries of a table keyed by sequence, from `from`, at most `limit`; `what` says what
/// is read (for storage errors) and what an entry is (for undecodable ones).
pub(super) fn json_entries<T: serde::de::DeserializeOwned>(
    t: &ReadOnlyTable<u64, &'static [u8]>,
    from: u64,
    limit: usize,
    what: (&'static str, &'static str),
) -> Result<Vec<T>, ReadError> {
    let mut out = Vec::new();
    for entry in t.range(from..).ctx(what.0)?.take(limit) {
        let (_, v) = entry.ctx(what.0)?;
        out.push(serde_json::from_slice(v.value()).map_err(ReadError::undecodable(what.1))?);
    }
    Ok(out)
}

/// Sizes and counts, for the status command: each read in O(1) from what the commits kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub records_by_kind: Vec<(RecordKind, u64)>,
    pub records: u64,
    pub unreconciled: u64,
    /// Open conflicts (duplicate patients and the others).
    pub open_conflicts: u64,
    /// Recovery worklist items per category, every category included.
    pub worklist_by_category: Vec<(WorkCategory, u64)>,
    pub feed_seq: u64,
    pub audit_entries: u64,
    /// The file's length: redb grows it ahead of the pages it uses.
    pub file_bytes: u64,
    /// What the file takes on disk (the blocks the file system allocated to it; the length
    /// where that is not known).
    pub disk_bytes: u64,
    pub cached_docs: usize,
}

impl Store {
    pub(super) fn read_txn(&self) -> Result<ReadTransaction, ReadError> {
        self.shared.db.begin_read().ctx("beginning a read")
    }

    /// One table, in a read transaction of its own.
    pub(super) fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: redb::TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>, ReadError> {
        self.read_txn()?.open_table(def).ctx("opening a table")
    }

    /// The document of a record, from the cache or the file.
    pub fn doc(&self, id: RecordId) -> Result<Option<Arc<Automerge>>, ReadError> {
        let generation = {
            let mut cache = self
                .shared
                .cache
                .lock()
                .map_err(|_| ReadError::CachePoisoned)?;
            if let Some(doc) = cache.get(&id) {
                return Ok(Some(doc));
            }
            cache.generation()
        };
        let chunks = self.table(tables::DOC_CHUNKS)?;
        let Some(doc) = load_doc(&chunks, id)? else {
            return Ok(None);
        };
        let doc = Arc::new(doc);
        if let Ok(mut cache) = self.shared.cache.lock() {
            cache.offer(id, doc.clone(), generation);
        }
        Ok(Some(doc))
    }

    /// A record's header, whatever its kind.
    pub fn header(&self, id: RecordId) -> Result<Option<Header>, ReadError> {
        let Some(doc) = self.doc(id)? else {
            return Ok(None);
        };
        Header::of(&doc)
            .map(Some)
            .map_err(|e| ReadError::corrupt(id, RecordDamage::Header(e)))
    }

    /// A typed record. `None` if it is not stored here; an error if it is of another kind.
    pub fn get<T: Record>(&self, id: RecordId) -> Result<Option<T>, ReadError> {
        let Some(doc) = self.doc(id)? else {
            return Ok(None);
        };
        match hydrate_record(id, &doc)? {
            Ok(record) => Ok(Some(record)),
            Err(found) => Err(ReadError::WrongKind {
                id,
                expected: T::KIND,
                found,
            }),
        }
    }

    /// A typed record and the heads of the very document it was read from: the same heads
    /// always read as the same record. `None` if it is not stored here.
    pub fn get_with_heads<T: Record>(
        &self,
        id: RecordId,
    ) -> Result<Option<(T, Vec<ChangeHash>)>, ReadError> {
        let Some(doc) = self.doc(id)? else {
            return Ok(None);
        };
        match hydrate_record(id, &doc)? {
            Ok(record) => Ok(Some((record, doc.get_heads()))),
            Err(found) => Err(ReadError::WrongKind {
                id,
                expected: T::KIND,
                found,
            }),
        }
    }

    /// A record's header, whatever its kind, and the heads of the document it was read from.
    pub fn header_with_heads(
        &self,
        id: RecordId,
    ) -> Result<Option<(Header, Vec<ChangeHash>)>, ReadError> {
        let Some(doc) = self.doc(id)? else {
            return Ok(None);
        };
        Header::of(&doc)
            .map(|h| Some((h, doc.get_heads())))
            .map_err(|e| ReadError::corrupt(id, RecordDamage::Header(e)))
    }

    /// The current heads of each record, in the order asked, from one read transaction and
    /// without loading a document (empty for a record not stored here). Cheap: one index
    /// lookup each, so a caller can tell which records changed since it last read them.
    pub fn heads_of(&self, ids: &[RecordId]) -> Result<Vec<Vec<ChangeHash>>, ReadError> {
        let t = self.table(tables::DOC_HEADS)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(
                t.get(id.to_bytes())
                    .ctx("reading heads")?
                    .map(|v| tables::decode_heads(v.value()))
                    .unwrap_or_default(),
            );
        }
        Ok(out)
    }

    /// Records changed after local sequence `after`, oldest change first, at most `limit`.
    /// Each record appears once, at its latest change.
    pub fn feed_since(&self, after: u64, limit: usize) -> Result<Vec<(u64, RecordId)>, ReadError> {
        let t = self.table(tables::FEED)?;
        let mut out = Vec::new();
        for entry in t
            .range(after.saturating_add(1)..)
            .ctx("reading the feed")?
            .take(limit)
        {
            let (k, v) = entry.ctx("reading the feed")?;
            out.push((k.value(), RecordId::from_bytes(v.value().0)));
        }
        Ok(out)
    }

    /// The latest local sequence number.
    pub fn feed_head(&self) -> Result<u64, ReadError> {
        let t = self.table(tables::FEED)?;
        Ok(t.last()
            .ctx("reading the feed")?
            .map(|(k, _)| k.value())
            .unwrap_or(0))
    }

    /// Audit entries from sequence `from`, at most `limit`.
    pub fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, ReadError> {
        let t = self.table(tables::AUDIT)?;
        let undecodable = |e: AuditDecodeError| ReadError::UndecodableAudit(e.into());
        // An entry is read after the one before it, whose hash is its previous hash (see
        // `audit_codec`): the entry before `from` is read for its hash alone.
        let from = from.max(1);
        let mut prev_hash = match t.get(from - 1).ctx("reading the audit trail")? {
            Some(v) => {
                AuditEntry::decode(v.value(), from - 1, GENESIS)
                    .map_err(undecodable)?
                    .hash
            }
            None => GENESIS.to_owned(),
        };
        let mut out = Vec::new();
        for entry in t.range(from..).ctx("reading the audit trail")?.take(limit) {
            let (k, v) = entry.ctx("reading the audit trail")?;
            let entry =
                AuditEntry::decode(v.value(), k.value(), &prev_hash).map_err(undecodable)?;
            prev_hash.clone_from(&entry.hash);
            out.push(entry);
        }
        Ok(out)
    }

    /// Checks the whole audit chain. Returns the number of entries.
    pub fn verify_audit(&self) -> Result<Result<u64, ChainError>, ReadError> {
        check_chain(&self.read_txn()?).ctx("reading the audit trail")
    }

    pub fn stats(&self) -> Result<StoreStats, ReadError> {
        let txn = self.read_txn()?;
        let counts = txn.open_table(tables::COUNTS).ctx("reading counts")?;
        let count = |key: &str| -> Result<u64, ReadError> {
            Ok(counts
                .get(key)
                .ctx("reading counts")?
                .map_or(0, |v| v.value()))
        };
        let mut records_by_kind = Vec::new();
        for kind in RecordKind::ALL {
            records_by_kind.push((kind, count(&records_key(kind))?));
        }
        // Saturating: the counts are read from the file, and a damaged one must not overflow.
        let records = records_by_kind
            .iter()
            .fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
        let mut worklist_by_category = Vec::new();
        for category in WorkCategory::ALL {
            worklist_by_category.push((category, count(&open_key(category.name()))?));
        }
        let open_conflicts = worklist_by_category
            .iter()
            .filter(|(c, _)| c.is_conflict())
            .fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
        let unreconciled = txn
            .open_table(tables::UNRECONCILED)
            .ctx("reading an index")?
            .len()
            .ctx("reading an index")?;
        let audit_entries = txn
            .open_table(tables::AUDIT)
            .ctx("reading the audit trail")?
            .len()
            .ctx("reading the audit trail")?;
        let feed_seq = self
            .meta_text(meta_keys::FEED_SEQ)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (file_bytes, disk_bytes) = std::fs::metadata(&self.shared.path)
            .map(|m| (m.len(), allocated_bytes(&m)))
            .unwrap_or((0, 0));
        let cached_docs = self.shared.cache.lock().map(|c| c.len()).unwrap_or(0);
        Ok(StoreStats {
            records_by_kind,
            records,
            unreconciled,
            open_conflicts,
            worklist_by_category,
            feed_seq,
            audit_entries,
            file_bytes,
            disk_bytes,
            cached_docs,
        })
    }
}

/// The bytes the file system allocated to a file.
#[cfg(unix)]
fn allocated_bytes(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    // `blocks` counts 512-byte units whatever the file system's block size.
    meta.blocks().saturating_mul(512)
}

#[cfg(not(unix))]
fn allocated_bytes(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::NodeRole;
    use crate::test_support::{new_patient, registrar, temp_store};

    /// Counts are read from the file: a damaged one (here the largest a u64 holds) leaves
    /// `stats` answering, never overflowing (found by the corruption test, whose flipped bytes
    /// once landed on a count).
    #[test]
    fn damaged_counts_do_not_overflow_the_status() {
        let (_dir, store, _clock) = temp_store("W01", NodeRole::Window);
        store
            .create_patient(&registrar(), new_patient("甲"))
            .expect("saved");
        let w = store.shared.db.begin_write().expect("write");
        {
            let mut counts = w.open_table(tables::COUNTS).expect("counts");
            for kind in [RecordKind::Patient, RecordKind::Visit] {
                counts
                    .insert(records_key(kind).as_str(), u64::MAX)
                    .expect("insert");
            }
            for category in crate::review::WorkCategory::ALL {
                counts
                    .insert(open_key(category.name()).as_str(), u64::MAX)
                    .expect("insert");
            }
        }
        w.commit().expect("commit");
        let stats = store.stats().expect("answered");
        assert_eq!(stats.records, u64::MAX);
        assert_eq!(stats.open_conflicts, u64::MAX);
    }
}
