//! Reads: documents on demand through the bounded cache, typed records, indexes, the feed,
//! the audit chain and store statistics. Readers use their own read transaction and never
//! wait for the writer.

use std::sync::Arc;

use automerge::{Automerge, ROOT};
use redb::{
    ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
};
use serde::Serialize;

use super::audit::{AuditEntry, ChainError, verify_chain};
use super::tables::{self, Id, meta_keys};
use super::{ReadError, StorageContext, Store};
use crate::id::{EpisodeId, RecordId};
use crate::record::{Header, Patient, Record, RecordKind};

/// Loads a document from its chunks. `None` if the record is not stored.
pub(crate) fn load_doc(
    chunks: &impl ReadableTable<(Id, u32), &'static [u8]>,
    id: RecordId,
) -> Result<Option<Automerge>, ReadError> {
    let key = id.to_bytes();
    let mut bytes = Vec::new();
    for entry in chunks
        .range((key, 0)..=(key, u32::MAX))
        .ctx("loading a record")?
    {
        let (_, v) = entry.ctx("loading a record")?;
        bytes.extend_from_slice(v.value());
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    Automerge::load(&bytes)
        .map(Some)
        .map_err(|e| ReadError::Corrupt {
            id,
            reason: e.to_string(),
        })
}

/// The search keys indexed for a patient: number, normalized name, national id, and the
/// (name, birth date, phone) triple used to find duplicates.
pub(crate) fn patient_keys(p: &Patient) -> Vec<(String, String)> {
    let mut keys = vec![
        ("no".to_owned(), p.patient_no.clone()),
        ("name".to_owned(), normalize(&p.name)),
        (
            "person".to_owned(),
            format!(
                "{}|{}|{}",
                normalize(&p.name),
                p.birth_date,
                digits(&p.phone)
            ),
        ),
    ];
    if let Some(nid) = &p.national_id {
        keys.push(("nid".to_owned(), nid.to_ascii_uppercase()));
    }
    keys
}

pub(crate) fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// How to look a patient up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientQuery {
    Number(String),
    /// A name or the start of one.
    Name(String),
    NationalId(String),
}

/// Sizes and counts, for the status command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub records_by_kind: Vec<(RecordKind, u64)>,
    pub records: u64,
    pub unreconciled: u64,
    pub feed_seq: u64,
    pub audit_entries: u64,
    pub file_bytes: u64,
    pub cached_docs: usize,
}

impl Store {
    fn read_txn(&self) -> Result<ReadTransaction, ReadError> {
        self.shared.db.begin_read().ctx("beginning a read")
    }

    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: redb::TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>, ReadError> {
        self.read_txn()?.open_table(def).ctx("opening a table")
    }

    /// The document of a record, from the cache or the file.
    pub fn doc(&self, id: RecordId) -> Result<Option<Arc<Automerge>>, ReadError> {
        let generation = {
            let mut cache = self.shared.cache.lock().map_err(|_| ReadError::Storage {
                context: "reading the cache",
                message: "a thread panicked while holding the cache".into(),
            })?;
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
        autosurgeon::hydrate_prop(&*doc, ROOT, "header")
            .map(Some)
            .map_err(|e| ReadError::Corrupt {
                id,
                reason: e.to_string(),
            })
    }

    /// A typed record. `None` if it is not stored here; an error if it is of another kind.
    pub fn get<T: Record>(&self, id: RecordId) -> Result<Option<T>, ReadError> {
        let Some(doc) = self.doc(id)? else {
            return Ok(None);
        };
        let header: Header =
            autosurgeon::hydrate_prop(&*doc, ROOT, "header").map_err(|e| ReadError::Corrupt {
                id,
                reason: e.to_string(),
            })?;
        if header.kind != T::KIND {
            return Err(ReadError::WrongKind {
                id,
                expected: T::KIND,
                found: header.kind.to_string(),
            });
        }
        autosurgeon::hydrate(&*doc)
            .map(Some)
            .map_err(|e| ReadError::Corrupt {
                id,
                reason: e.to_string(),
            })
    }

    /// Every record of a kind, oldest first.
    pub fn ids_of_kind(&self, kind: RecordKind) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::BY_KIND)?;
        let lo = (kind.code(), [0u8; 16]);
        let hi = (kind.code(), [0xffu8; 16]);
        collect_ids(t.range(lo..=hi).ctx("reading an index")?, |k: (u8, Id)| k.1)
    }

    /// Records of a kind created at or after `since_ms`, oldest first.
    pub fn ids_of_kind_since(
        &self,
        kind: RecordKind,
        since_ms: i64,
    ) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::BY_KIND)?;
        let lo = (kind.code(), RecordId::lowest_at(since_ms).to_bytes());
        let hi = (kind.code(), [0xffu8; 16]);
        collect_ids(t.range(lo..=hi).ctx("reading an index")?, |k: (u8, Id)| k.1)
    }

    pub fn count_of_kind(&self, kind: RecordKind) -> Result<u64, ReadError> {
        Ok(self.ids_of_kind(kind)?.len() as u64)
    }

    /// Every record linked to a patient.
    pub fn ids_for_patient(&self, patient: RecordId) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::BY_PATIENT)?;
        let p = patient.to_bytes();
        collect_ids(
            t.range((p, [0u8; 16])..=(p, [0xffu8; 16]))
                .ctx("reading an index")?,
            |k: (Id, Id)| k.1,
        )
    }

    /// Every record created during an episode.
    pub fn ids_in_episode(&self, episode: &EpisodeId) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::BY_EPISODE)?;
        let e = episode.as_str();
        collect_ids(
            t.range((e, [0u8; 16])..=(e, [0xffu8; 16]))
                .ctx("reading an index")?,
            |k: (&str, Id)| k.1,
        )
    }

    /// Records created during an episode that central has not yet acknowledged.
    pub fn unreconciled(&self) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::UNRECONCILED)?;
        collect_ids(t.iter().ctx("reading an index")?, |k: Id| k)
    }

    /// Patients matching a query, in id order. Name queries match by prefix.
    pub fn find_patients(&self, query: &PatientQuery) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::PATIENT_KEYS)?;
        let (kind, value, prefix) = match query {
            PatientQuery::Number(n) => ("no", n.trim().to_owned(), false),
            PatientQuery::Name(n) => ("name", normalize(n), true),
            PatientQuery::NationalId(n) => ("nid", n.trim().to_ascii_uppercase(), false),
        };
        let mut out = Vec::new();
        for entry in t
            .range((kind, value.as_str(), [0u8; 16])..)
            .ctx("reading an index")?
        {
            let (k, _) = entry.ctx("reading an index")?;
            let (k_kind, k_value, id) = k.value();
            let matches = if prefix {
                k_value.starts_with(value.as_str())
            } else {
                k_value == value
            };
            if k_kind != kind || !matches {
                break;
            }
            out.push(RecordId::from_bytes(id));
        }
        Ok(out)
    }

    /// Groups of patients that share a search key of the given kind (`nid` or `person`):
    /// candidates for duplicate review.
    pub fn patients_sharing(
        &self,
        key_kind: &str,
    ) -> Result<Vec<(String, Vec<RecordId>)>, ReadError> {
        let t = self.table(tables::PATIENT_KEYS)?;
        let mut groups: Vec<(String, Vec<RecordId>)> = Vec::new();
        for entry in t
            .range((key_kind, "", [0u8; 16])..)
            .ctx("reading an index")?
        {
            let (k, _) = entry.ctx("reading an index")?;
            let (kind, value, id) = k.value();
            if kind != key_kind {
                break;
            }
            match groups.last_mut() {
                Some((v, ids)) if v == value => ids.push(RecordId::from_bytes(id)),
                _ => groups.push((value.to_owned(), vec![RecordId::from_bytes(id)])),
            }
        }
        groups.retain(|(_, ids)| ids.len() > 1);
        Ok(groups)
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
            out.push((k.value(), RecordId::from_bytes(v.value())));
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

    /// The emergency episode this node is in, if any.
    pub fn episode(&self) -> Result<Option<EpisodeId>, ReadError> {
        Ok(self
            .meta_text(meta_keys::EPISODE)?
            .and_then(|s| EpisodeId::new(s).ok()))
    }

    pub(crate) fn meta_text(&self, key: &str) -> Result<Option<String>, ReadError> {
        let t = self.table(tables::META)?;
        let v = t.get(key).ctx("reading metadata")?;
        Ok(v.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    /// Audit entries from sequence `from`, at most `limit`.
    pub fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, ReadError> {
        let t = self.table(tables::AUDIT)?;
        let mut out = Vec::new();
        for entry in t.range(from..).ctx("reading the audit trail")?.take(limit) {
            let (_, v) = entry.ctx("reading the audit trail")?;
            out.push(
                serde_json::from_slice(v.value()).map_err(|e| ReadError::Undecodable {
                    what: "audit entry".into(),
                    reason: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// Checks the whole audit chain. Returns the number of entries.
    pub fn verify_audit(&self) -> Result<Result<u64, ChainError>, ReadError> {
        let txn = self.read_txn()?;
        let t = txn
            .open_table(tables::AUDIT)
            .ctx("reading the audit trail")?;
        let meta = txn.open_table(tables::META).ctx("reading metadata")?;
        let head = meta
            .get(meta_keys::AUDIT_SEQ)
            .ctx("reading metadata")?
            .and_then(|v| std::str::from_utf8(v.value()).ok()?.parse().ok())
            .unwrap_or(0);
        let mut entries = Vec::new();
        for entry in t.iter().ctx("reading the audit trail")? {
            let (k, v) = entry.ctx("reading the audit trail")?;
            entries.push((k.value(), v.value().to_vec()));
        }
        Ok(verify_chain(
            entries.iter().map(|(k, v)| (*k, v.as_slice())),
            head,
        ))
    }

    pub fn stats(&self) -> Result<StoreStats, ReadError> {
        let txn = self.read_txn()?;
        let by_kind = txn.open_table(tables::BY_KIND).ctx("reading an index")?;
        let mut records_by_kind = Vec::new();
        let mut records = 0;
        for kind in RecordKind::ALL {
            let n = by_kind
                .range((kind.code(), [0u8; 16])..=(kind.code(), [0xffu8; 16]))
                .ctx("reading an index")?
                .count() as u64;
            records += n;
            records_by_kind.push((kind, n));
        }
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
        let file_bytes = std::fs::metadata(&self.shared.path)
            .map(|m| m.len())
            .unwrap_or(0);
        let cached_docs = self.shared.cache.lock().map(|c| c.len()).unwrap_or(0);
        Ok(StoreStats {
            records_by_kind,
            records,
            unreconciled,
            feed_seq,
            audit_entries,
            file_bytes,
            cached_docs,
        })
    }
}

fn collect_ids<K: redb::Key + 'static>(
    range: redb::Range<'_, K, ()>,
    id_of: impl Fn(K::SelfType<'_>) -> Id,
) -> Result<Vec<RecordId>, ReadError> {
    let mut out = Vec::new();
    for entry in range {
        let (k, _) = entry.ctx("reading an index")?;
        out.push(RecordId::from_bytes(id_of(k.value())));
    }
    Ok(out)
}
