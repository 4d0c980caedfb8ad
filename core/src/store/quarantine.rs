//! The quarantine: records refused from peers, kept as they came (their changes' bytes,
//! the peer, the reason) for the information department to inspect (`lifeline quarantine
//! list|show`). Nothing in it is ever applied. A replay of the same bytes from the same peer
//! is counted on its entry, not kept twice; past [`MAX_ENTRIES`] entries a refusal is still
//! audited and counted, but its bytes are not kept.

use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ReadError, StorageContext};
use super::refusal::Refusal;
use super::tables;
use super::{Store, Tx};
use crate::clock::UnixMs;
use crate::id::{NodeName, RecordId};

/// Most entries the quarantine keeps.
pub const MAX_ENTRIES: u64 = 10_000;

/// Most bytes of one record's changes kept in its entry (the rest is cut, and said so).
pub const MAX_KEPT_BYTES: usize = 256 * 1024;

/// A refused record as kept in the quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub seq: u64,
    pub first_ms: UnixMs,
    pub last_ms: UnixMs,
    /// How many times these same bytes came from this peer.
    pub times: u64,
    pub peer: NodeName,
    pub record: RecordId,
    /// The refusal's stable code (as counted in `status`) and its whole reason.
    pub code: String,
    pub reason: String,
    /// The changes as they came (hex), at most [`MAX_KEPT_BYTES`].
    pub bytes_hex: String,
    pub bytes_len: usize,
}

impl Tx<'_, '_> {
    /// Keeps a refused record in the quarantine (or counts a replay of it).
    pub(super) fn quarantine(
        &mut self,
        peer: &NodeName,
        record: RecordId,
        bytes: &[u8],
        reason: &Refusal,
    ) -> Result<(), ReadError> {
        let mut hasher = Sha256::new();
        hasher.update(peer.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(record.to_bytes());
        hasher.update(bytes);
        let key: [u8; 32] = hasher.finalize().into();
        let now = self.now_ms();
        let w = self.w();
        let mut keys = w
            .open_table(tables::QUARANTINE_KEYS)
            .ctx("writing the quarantine")?;
        let mut entries = w
            .open_table(tables::QUARANTINE)
            .ctx("writing the quarantine")?;
        let known = keys
            .get(key)
            .ctx("writing the quarantine")?
            .map(|v| v.value());
        if let Some(seq) = known {
            let old = entries
                .get(seq)
                .ctx("writing the quarantine")?
                .map(|v| v.value().to_vec());
            if let Some(old) = old {
                let mut entry: Quarantined = serde_json::from_slice(&old)
                    .map_err(ReadError::undecodable("quarantine entry"))?;
                entry.times = entry.times.saturating_add(1);
                entry.last_ms = now;
                let bytes = serde_json::to_vec(&entry).unwrap_or_default();
                entries
                    .insert(seq, bytes.as_slice())
                    .ctx("writing the quarantine")?;
            }
            return Ok(());
        }
        if entries.len().ctx("writing the quarantine")? >= MAX_ENTRIES {
            tracing::warn!(%peer, %record, "the quarantine is full; the refused record is audited but not kept");
            return Ok(());
        }
        let seq = entries
            .last()
            .ctx("writing the quarantine")?
            .map(|(k, _)| k.value() + 1)
            .unwrap_or(1);
        let kept = &bytes[..bytes.len().min(MAX_KEPT_BYTES)];
        let entry = Quarantined {
            seq,
            first_ms: now,
            last_ms: now,
            times: 1,
            peer: peer.clone(),
            record,
            code: reason.code().to_owned(),
            reason: reason.detail(),
            bytes_hex: hex::encode(kept),
            bytes_len: bytes.len(),
        };
        let encoded = serde_json::to_vec(&entry).unwrap_or_default();
        entries
            .insert(seq, encoded.as_slice())
            .ctx("writing the quarantine")?;
        keys.insert(key, seq).ctx("writing the quarantine")?;
        Ok(())
    }
}

impl Store {
    /// Quarantined records from sequence `from`, at most `limit`.
    pub fn quarantined(&self, from: u64, limit: usize) -> Result<Vec<Quarantined>, ReadError> {
        let t = self.table(tables::QUARANTINE)?;
        super::read::json_entries(
            &t,
            from,
            limit,
            ("reading the quarantine", "quarantine entry"),
        )
    }

    /// One quarantined record.
    pub fn quarantine_entry(&self, seq: u64) -> Result<Option<Quarantined>, ReadError> {
        let t = self.table(tables::QUARANTINE)?;
        t.get(seq)
            .ctx("reading the quarantine")?
            .map(|v| {
                serde_json::from_slice(v.value())
                    .map_err(ReadError::undecodable("quarantine entry"))
            })
            .transpose()
    }

    /// How many records the quarantine holds.
    pub fn quarantine_len(&self) -> Result<u64, ReadError> {
        self.table(tables::QUARANTINE)?
            .len()
            .ctx("reading the quarantine")
    }
}
