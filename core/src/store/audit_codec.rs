//! How an audit entry is stored: a compact binary form (a format byte, then the fields in
//! postcard with the hashes as raw bytes), about half the JSON it replaces, or JSON as stores
//! written before it hold (read as they are; never rewritten, since the chain covers what
//! the entry says, not how it is stored). An entry whose hashes are not all canonical hex is
//! stored as JSON, so that every entry reads back exactly as it was written.
//!
//! The binary form leaves out what the chain already holds (format [`CHAINED`]): the
//! sequence number is the entry's key, and the previous hash is the hash of the entry
//! before it, so an entry is read with both ([`AuditEntry::decode`]). Entries of the first
//! binary form ([`BINARY`]) carry them and read as they are. Leaving them out weakens
//! nothing: the hash still covers both, so an entry moved, removed or altered still breaks
//! the hash of the entry after it (or its own).

use serde::{Deserialize, Serialize};

use super::audit::AuditEntry;
use crate::id::{NodeName, RecordId};

/// The first byte of an entry in the first binary form (JSON starts with `{`): every field.
const BINARY: u8 = 1;
/// The first byte of an entry in the chained binary form: every field but the sequence
/// number and the previous hash, which the chain gives back.
const CHAINED: u8 = 2;

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

#[derive(Serialize, Deserialize)]
struct Chained<'a> {
    at_ms: i64,
    node: &'a str,
    actor: &'a str,
    action: &'a str,
    record: Option<[u8; 16]>,
    changes: Vec<[u8; 32]>,
    detail: Option<&'a str>,
    hash: [u8; 32],
}

impl Chained<'_> {
    /// The entry, numbered `seq` after the entry whose hash is `prev_hash`.
    fn entry(self, seq: u64, prev_hash: String) -> Result<AuditEntry, AuditDecodeError> {
        Ok(AuditEntry {
            seq,
            at_ms: self.at_ms,
            node: NodeName::new(self.node)
                .map_err(|_| AuditDecodeError::Node(self.node.to_owned()))?,
            actor: self.actor.to_owned(),
            action: self.action.to_owned(),
            record: self.record.map(RecordId::from_bytes),
            changes: self.changes.iter().map(hex::encode).collect(),
            detail: self.detail.map(str::to_owned),
            prev_hash,
            hash: hex::encode(self.hash),
        })
    }
}

/// A hash as 32 raw bytes, when its hex reads back the same (lower case, 64 digits).
fn raw(hash: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hash, &mut out).ok()?;
    (hex::encode(out) == hash).then_some(out)
}

impl AuditEntry {
    /// The entry as stored: chained when its hashes are canonical hex, JSON otherwise. Its
    /// key must be its `seq`, and its `prev_hash` the hash of the entry stored before it.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let changes: Option<Vec<[u8; 32]>> = self.changes.iter().map(|c| raw(c)).collect();
        let stored = match (changes, raw(&self.prev_hash), raw(&self.hash)) {
            (Some(changes), Some(_), Some(hash)) => Chained {
                at_ms: self.at_ms,
                node: self.node.as_str(),
                actor: &self.actor,
                action: &self.action,
                record: self.record.map(|r| r.to_bytes()),
                changes,
                detail: self.detail.as_deref(),
                hash,
            },
            _ => return serde_json::to_vec(self).unwrap_or_default(),
        };
        match postcard::to_extend(&stored, vec![CHAINED]) {
            Ok(bytes) => bytes,
            Err(_) => serde_json::to_vec(self).unwrap_or_default(),
        }
    }

    /// An entry as stored under `key`, in any form, after the entry whose hash is
    /// `prev_hash` ([`GENESIS`](super::audit::GENESIS) before the first). The chained form
    /// takes its sequence number and previous hash from these; the others carry their own,
    /// which the chain's check compares.
    pub fn decode(bytes: &[u8], key: u64, prev_hash: &str) -> Result<AuditEntry, AuditDecodeError> {
        match bytes.first() {
            None => Err(AuditDecodeError::Empty),
            Some(b'{') => serde_json::from_slice(bytes).map_err(AuditDecodeError::Json),
            Some(&BINARY) => {
                let s: Stored<'_> =
                    postcard::from_bytes(&bytes[1..]).map_err(AuditDecodeError::Binary)?;
                let chained = Chained {
                    at_ms: s.at_ms,
                    node: s.node,
                    actor: s.actor,
                    action: s.action,
                    record: s.record,
                    changes: s.changes,
                    detail: s.detail,
                    hash: s.hash,
                };
                chained.entry(s.seq, hex::encode(s.prev_hash))
            }
            Some(&CHAINED) => {
                let s: Chained<'_> =
                    postcard::from_bytes(&bytes[1..]).map_err(AuditDecodeError::Binary)?;
                s.entry(key, prev_hash.to_owned())
            }
            Some(other) => Err(AuditDecodeError::UnknownFormat(*other)),
        }
    }
}

#[cfg(test)]
impl AuditEntry {
    /// The entry in the first binary form, as stores written before the chained one hold it.
    fn encode_first_binary(&self) -> Vec<u8> {
        let stored = Stored {
            seq: self.seq,
            at_ms: self.at_ms,
            node: self.node.as_str(),
            actor: &self.actor,
            action: &self.action,
            record: self.record.map(|r| r.to_bytes()),
            changes: self
                .changes
                .iter()
                .map(|c| raw(c).expect("canonical"))
                .collect(),
            detail: self.detail.as_deref(),
            prev_hash: raw(&self.prev_hash).expect("canonical"),
            hash: raw(&self.hash).expect("canonical"),
        };
        postcard::to_extend(&stored, vec![BINARY]).expect("encodes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChainError;
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

    fn verify(stored: &[(u64, Vec<u8>)], head: u64) -> Result<u64, ChainError> {
        verify_chain(stored.iter().map(|(k, v)| (*k, v.as_slice())), head)
    }

    #[test]
    fn an_entry_reads_back_as_written_in_under_half_the_bytes_of_its_json() {
        for entry in chain(4) {
            let stored = entry.encode();
            assert_eq!(stored[0], CHAINED);
            let read = AuditEntry::decode(&stored, entry.seq, &entry.prev_hash).expect("decode");
            assert_eq!(read, entry);
            let json = serde_json::to_vec(&entry).expect("json").len();
            assert!(
                stored.len() * 2 <= json,
                "{} bytes, JSON {json}",
                stored.len()
            );
            // The chain holds the sequence number and the previous hash: 33 bytes and more
            // left out of each entry.
            let first = entry.encode_first_binary();
            assert!(
                stored.len() + 33 <= first.len(),
                "{} against {}",
                stored.len(),
                first.len()
            );
        }
    }

    /// A store written before each binary form holds entries in the forms before it; the
    /// chain goes on in the chained form and verifies across all three.
    #[test]
    fn a_chain_of_json_then_binary_then_chained_entries_verifies() {
        let stored: Vec<(u64, Vec<u8>)> = chain(6)
            .iter()
            .map(|e| {
                let bytes = match e.seq {
                    1..=2 => serde_json::to_vec(e).expect("json"),
                    3..=4 => e.encode_first_binary(),
                    _ => e.encode(),
                };
                (e.seq, bytes)
            })
            .collect();
        assert_eq!(stored[4].1[0], CHAINED);
        assert_eq!(verify(&stored, 6), Ok(6));
    }

    /// An entry altered, removed or moved breaks the chain whatever its form.
    #[test]
    fn an_entry_altered_removed_or_moved_breaks_the_chain_in_every_form() {
        let entries = chain(6);
        type Encode = fn(&AuditEntry) -> Vec<u8>;
        let forms: [(&str, Encode); 2] = [
            ("chained", AuditEntry::encode),
            ("first binary", AuditEntry::encode_first_binary),
        ];
        for (form, encode) in forms {
            let stored: Vec<(u64, Vec<u8>)> = entries.iter().map(|e| (e.seq, encode(e))).collect();
            assert_eq!(verify(&stored, 6), Ok(6), "{form}");

            let mut altered = stored.clone();
            let mut fifth = entries[4].clone();
            fifth.action = "patient.delete".into();
            altered[4].1 = encode(&fifth);
            assert_eq!(
                verify(&altered, 6),
                Err(ChainError::Altered { seq: 5 }),
                "{form}"
            );

            let mut removed = stored.clone();
            removed.remove(3);
            assert_eq!(
                verify(&removed, 6),
                Err(ChainError::Broken {
                    seq: 5,
                    prev_seq: 3
                }),
                "{form}"
            );

            let mut moved = stored.clone();
            moved[5].0 = 7;
            assert!(verify(&moved, 7).is_err(), "{form}");
        }
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
        assert_eq!(
            AuditEntry::decode(&stored, 1, GENESIS).expect("decode"),
            entry
        );
    }

    #[test]
    fn damaged_entries_are_errors_not_panics() {
        let entry = chain(1).remove(0);
        let good = entry.encode();
        let first = entry.encode_first_binary();
        for bad in [
            Vec::new(),
            vec![9, 1, 2],
            vec![BINARY],
            vec![CHAINED],
            good[..good.len() / 2].to_vec(),
            first[..first.len() / 2].to_vec(),
            b"{\"seq\":".to_vec(),
        ] {
            assert!(AuditEntry::decode(&bad, 1, GENESIS).is_err(), "{bad:?}");
        }
    }
}
