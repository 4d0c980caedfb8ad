//! The tamper-evident audit trail: one entry per change to a record, per sync batch applied
//! and per number-range event, each entry hashing the one before it. Editing or deleting any
//! entry breaks every hash after it, which `verify` reports.

use redb::{ReadTransaction, ReadableTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::tables::{self, meta_keys};
use crate::clock::UnixMs;
use crate::error::Shared;
use crate::id::{NodeName, RecordId};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at_ms: UnixMs,
    /// The node that recorded the entry (this node).
    pub node: NodeName,
    /// Who made the change: an operator name, or `sync:<peer>` for changes that arrived from
    /// a peer.
    pub actor: String,
    /// What was done, e.g. `visit.register`, `invoice.void`, `sync.apply`.
    pub action: String,
    pub record: Option<RecordId>,
    /// Automerge change hashes the entry covers (hex).
    pub changes: Vec<String>,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The entry that follows entry `seq` (whose hash is `head`) in a chain, hashed.
    pub(crate) fn next(
        seq: u64,
        head: &str,
        at_ms: UnixMs,
        node: NodeName,
        event: AuditEvent,
    ) -> AuditEntry {
        let mut entry = AuditEntry {
            seq: seq + 1,
            at_ms,
            node,
            actor: event.actor,
            action: event.action,
            record: event.record,
            changes: event.changes,
            detail: event.detail,
            prev_hash: head.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// The hash of everything in the entry but the hash itself.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        let record = self.record.map(|r| r.to_bytes()).unwrap_or_default();
        let changes = self.changes.join(",");
        let fields: [&[u8]; 8] = [
            &self.seq.to_be_bytes(),
            &self.at_ms.to_be_bytes(),
            self.node.as_str().as_bytes(),
            self.actor.as_bytes(),
            self.action.as_bytes(),
            record.as_slice(),
            changes.as_bytes(),
            self.detail.as_deref().unwrap_or("").as_bytes(),
        ];
        for field in fields {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field);
        }
        h.update(self.prev_hash.as_bytes());
        hex::encode(h.finalize())
    }
}

/// What an entry is about, before it is sequenced and hashed.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub actor: String,
    pub action: String,
    pub record: Option<RecordId>,
    pub changes: Vec<String>,
    pub detail: Option<String>,
}

/// The first place the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("audit entry {seq} cannot be decoded")]
    Undecodable {
        seq: u64,
        #[source]
        source: Shared<super::audit_codec::AuditDecodeError>,
    },
    #[error("audit entry {seq} is stored under key {key}")]
    Misplaced { seq: u64, key: u64 },
    #[error("audit entry {seq} does not follow entry {prev_seq}: its previous hash does not match")]
    Broken { seq: u64, prev_seq: u64 },
    #[error("audit entry {seq} has been altered: its hash does not match its contents")]
    Altered { seq: u64 },
    #[error("the audit chain ends at entry {last} but the store's head says {head}")]
    HeadMismatch { last: u64, head: u64 },
}

/// Checks a whole chain, in order. Returns the number of entries.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = (u64, &'a [u8])>,
    head_seq: u64,
) -> Result<u64, ChainError> {
    let mut prev_hash = GENESIS.to_owned();
    let mut prev_seq = 0;
    let mut count = 0;
    for (key, bytes) in entries {
        let entry =
            AuditEntry::decode(bytes, key, &prev_hash).map_err(|e| ChainError::Undecodable {
                seq: key,
                source: e.into(),
            })?;
        if entry.seq != key {
            return Err(ChainError::Misplaced {
                seq: entry.seq,
                key,
            });
        }
        if entry.prev_hash != prev_hash || entry.seq != prev_seq + 1 {
            return Err(ChainError::Broken {
                seq: entry.seq,
                prev_seq,
            });
        }
        if entry.compute_hash() != entry.hash {
            return Err(ChainError::Altered { seq: entry.seq });
        }
        prev_hash = entry.hash;
        prev_seq = entry.seq;
        count += 1;
    }
    if prev_seq != head_seq {
        return Err(ChainError::HeadMismatch {
            last: prev_seq,
            head: head_seq,
        });
    }
    Ok(count)
}

/// Checks the whole audit chain of a database against the head its metadata records.
pub(crate) fn check_chain(r: &ReadTransaction) -> Result<Result<u64, ChainError>, redb::Error> {
    let head = r
        .open_table(tables::META)?
        .get(meta_keys::AUDIT_SEQ)?
        .and_then(|v| std::str::from_utf8(v.value()).ok()?.parse().ok())
        .unwrap_or(0);
    let audit = r.open_table(tables::AUDIT)?;
    let mut entries = Vec::new();
    for entry in audit.iter()? {
        let (k, v) = entry?;
        entries.push((k.value(), v.value().to_vec()));
    }
    Ok(verify_chain(
        entries.iter().map(|(k, v)| (*k, v.as_slice())),
        head,
    ))
}
