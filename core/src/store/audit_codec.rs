//! How an audit entry is stored: a compact binary form (a format byte, then the fields in
//! postcard with the hashes as raw bytes), about half the JSON it replaces, or JSON as stores
//! written before it hold (read as they are; never rewritten, since the chain covers what
//! the entry says, not how it is stored). An entry whose hashes are not all canonical hex is
//! stored as JSON, so that every entry reads back exactly as it was written.

use serde::{Deserialize, Serialize};

use super::audit::AuditEntry;
use crate::id::{NodeName, RecordId};

/// The first byte of an entry in the binary form (JSON starts with `{`).
const BINARY: u8 = 1;

/// Why a stored audit entry could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditDecodeError {
    #[error("the entry is empty")]
    Empty,
    #[error("the entry's format (first byte {0}) is unknown")]
    UnknownFormat(u8),
    #[error("the entry's JSON is malformed")]
    Json(#[source] serde_json::Error),
    #[error("the entry's binary form is malformed")]
    Binary(#[source] postcard::Error),
    #[error("the entry names an invalid node: {0}")]
    Node(String),
}

#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    seq: u64,
    at_ms: i64,
    node: &'a str,
    actor: &'a str,
    action: &'a str,
    record: Option<[u8; 16]>,
    changes: Vec<[u8; 32]>,
    detail: Option<&'a str>,
    prev_hash: [u8; 32],
    hash: [u8; 32],
}

/// A hash as 32 raw bytes, when its hex reads back the same (lower case, 64 digits).
fn raw(hash: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hash, &mut out).ok()?;
    (hex::encode(out) == hash).then_some(out)
}

impl AuditEntry {
    /// The entry as stored.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let changes: Option<Vec<[u8; 32]>> = self.changes.iter().map(|c| raw(c)).collect();
        let stored = match (changes, raw(&self.prev_hash), raw(&self.hash)) {
            (Some(changes), Some(prev_hash), Some(hash)) => Stored {
                seq: self.seq,
                at_ms: self.at_ms,
                node: self.node.as_str(),
                actor: &self.actor,
                action: &self.action,
                record: self.record.map(|r| r.to_bytes()),
                changes,
                detail: self.detail.as_deref(),
                prev_hash,
                hash,
            },
            _ => return serde_json::to_vec(self).unwrap_or_default(),
        };
        let out = vec![BINARY];
        match postcard::to_extend(&stored, out) {
            Ok(bytes) => bytes,
            Err(_) => serde_json::to_vec(self).unwrap_or_default(),
        }
    }

    /// An entry as stored, in either form.
    pub fn decode(bytes: &[u8]) -> Result<AuditEntry, AuditDecodeError> {
        match bytes.first() {
            None => Err(AuditDecodeError::Empty),
            Some(b'{') => serde_json::from_slice(bytes).map_err(AuditDecodeError::Json),
            Some(&BINARY) => {
                let s: Stored<'_> =
                    postcard::from_bytes(&bytes[1..]).map_err(AuditDecodeError::Binary)?;
                Ok(AuditEntry {
                    seq: s.seq,
                    at_ms: s.at_ms,
                    node: NodeName::new(s.node)
                        .map_err(|_| AuditDecodeError::Node(s.node.to_owned()))?,
                    actor: s.actor.to_owned(),
                    action: s.action.to_owned(),
                    record: s.record.map(RecordId::from_bytes),
                    changes: s.changes.iter().map(hex::encode).collect(),
                    detail: s.detail.map(str::to_owned),
                    prev_hash: hex::encode(s.prev_hash),
                    hash: hex::encode(s.hash),
                })
            }
            Some(other) => Err(AuditDecodeError::UnknownFormat(*other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::{AuditEvent, GENESIS, verify_chain};

    fn chain(n: usize) -> Vec<AuditEntry> {
        let mut head = GENESIS.to_owned();
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let event = AuditEvent {
                actor: "reg1".into(),
                action: "patient.create".into(),
                record: Some(RecordId::generate()),
                changes: vec![hex::encode([i as u8; 32]), hex::encode([7u8; 32])],
                detail: (i % 2 == 0).then(|| "挂号 王子涵".to_owned()),
            };
            let node = NodeName::new("W01").expect("valid");
            let entry = AuditEntry::next(i as u64, &head, 1_700_000_000_000, node, event);
            head = entry.hash.clone();
            out.push(entry);
        }
        out
    }

    #[test]
    fn an_entry_reads_back_as_written_in_half_the_bytes_of_its_json() {
        for entry in chain(4) {
            let stored = entry.encode();
            assert_eq!(stored[0], BINARY);
            assert_eq!(AuditEntry::decode(&stored).expect("decode"), entry);
            let json = serde_json::to_vec(&entry).expect("json").len();
            assert!(
                stored.len() * 2 <= json,
                "{} bytes, JSON {json}",
                stored.len()
            );
        }
    }

    /// A store written before the binary form holds JSON entries; the chain goes on in the
    /// binary form and verifies across both.
    #[test]
    fn a_chain_of_json_entries_then_binary_ones_verifies() {
        let entries = chain(6);
        let stored: Vec<(u64, Vec<u8>)> = entries
            .iter()
            .map(|e| {
                let bytes = if e.seq <= 3 {
                    serde_json::to_vec(e).expect("json")
                } else {
                    e.encode()
                };
                (e.seq, bytes)
            })
            .collect();
        let verified = verify_chain(stored.iter().map(|(k, v)| (*k, v.as_slice())), 6);
        assert_eq!(verified, Ok(6));
        // An altered binary entry breaks the chain as a JSON one does.
        let mut altered = stored.clone();
        let mut fifth = AuditEntry::decode(&altered[4].1).expect("decode");
        fifth.action = "patient.delete".into();
        altered[4].1 = fifth.encode();
        let broken = verify_chain(altered.iter().map(|(k, v)| (*k, v.as_slice())), 6);
        assert!(
            matches!(broken, Err(crate::store::ChainError::Altered { seq: 5 })),
            "{broken:?}"
        );
    }

    /// Hashes that are not canonical hex (upper case, short) would not read back the same
    /// from raw bytes: such an entry is stored as JSON.
    #[test]
    fn an_entry_with_hashes_not_in_canonical_hex_is_stored_as_json() {
        let mut entry = chain(1).remove(0);
        entry.prev_hash = GENESIS.to_uppercase().replace('0', "A");
        entry.changes = vec!["abc".into()];
        let stored = entry.encode();
        assert_eq!(stored[0], b'{');
        assert_eq!(AuditEntry::decode(&stored).expect("decode"), entry);
    }

    #[test]
    fn damaged_entries_are_errors_not_panics() {
        let good = chain(1).remove(0).encode();
        for bad in [
            Vec::new(),
            vec![9, 1, 2],
            vec![BINARY],
            good[..good.len() / 2].to_vec(),
            b"{\"seq\":".to_vec(),
        ] {
            assert!(AuditEntry::decode(&bad).is_err(), "{bad:?}");
        }
    }
}
