//! What replication reads and keeps: per-peer state (cursors, the heads each peer is known to
//! have per record), deltas to send, commit notifications, digests for the convergence check,
//! and the sending side of Automerge's sync protocol for records whose deltas lack
//! dependencies. Merging what peers send is [`super::apply`]. The protocol itself lives in
//! lifeline-sync; it reaches storage only through these and the apply path.

use automerge::sync;
use automerge::{ChangeHash, ReadDoc};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::{ReadError, StorageContext, WriteError};
use super::tables::{self, Id, decode_heads, encode_heads};
use super::{CommitHook, Store, Tx};
use crate::id::{NodeName, RecordId};
use crate::record::Header;

/// What this node keeps about one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerState {
    /// Our feed sequence up to which the peer has acknowledged everything.
    pub acked_by_peer: u64,
    /// The peer's feed sequence up to which we have applied everything.
    pub applied_from_peer: u64,
    /// The peer store's incarnation when we last spoke.
    pub peer_incarnation: Option<String>,
    pub last_contact_ms: i64,
    /// Records from this peer we refused.
    pub rejected: u64,
    /// The same, by reason ([`super::Refusal::code`]).
    #[serde(default)]
    pub refused: std::collections::BTreeMap<String, u64>,
    /// Connections with this peer closed because it broke the protocol.
    #[serde(default)]
    pub violations: u64,
    /// The peer's role and desks, from its certificate when it last connected, so that
    /// permissions for records it wrote (and that others relay) survive a restart.
    #[serde(default)]
    pub role: Option<crate::roles::NodeRole>,
    #[serde(default)]
    pub desks: Vec<crate::roles::DeskRole>,
}

/// One record's changes to send to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingDoc {
    pub id: RecordId,
    /// Changes the peer is not known to have (all of them when we know nothing).
    pub bytes: Vec<u8>,
    /// Our heads: what the peer will have once it applies `bytes`.
    pub heads: Vec<ChangeHash>,
    /// Created during an emergency episode.
    pub emergency: bool,
    /// The signed commits of the changes in `bytes`, for the peer to check their authors.
    pub signatures: Vec<super::WireCommit>,
}

/// Our next Automerge sync message for a record, with the signed commits of the changes in
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOut {
    pub message: Vec<u8>,
    pub signatures: Vec<super::WireCommit>,
}

/// A summary of everything a node holds: per-bucket hashes of (record, heads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub records: u64,
    /// Hex SHA-256 per bucket (records grouped by the last byte of their id).
    pub buckets: Vec<String>,
}

/// Buckets in a digest.
pub const DIGEST_BUCKETS: usize = 64;

impl Digest {
    /// Buckets that differ between two digests.
    pub fn differing_buckets(&self, other: &Digest) -> Vec<usize> {
        (0..DIGEST_BUCKETS)
            .filter(|&i| self.buckets.get(i) != other.buckets.get(i))
            .collect()
    }
}

fn decode_state(bytes: &[u8]) -> PeerState {
    serde_json::from_slice(bytes).unwrap_or_default()
}

impl Tx<'_> {
    pub(super) fn update_peer_state(
        &mut self,
        peer: &NodeName,
        f: impl FnOnce(&mut PeerState),
    ) -> Result<(), ReadError> {
        let mut t = self
            .w()
            .open_table(tables::PEER_STATE)
            .ctx("writing peer state")?;
        let mut state = t
            .get(peer.as_str())
            .ctx("reading peer state")?
            .map(|v| decode_state(v.value()))
            .unwrap_or_default();
        f(&mut state);
        let bytes = serde_json::to_vec(&state).unwrap_or_default();
        t.insert(peer.as_str(), bytes.as_slice())
            .ctx("writing peer state")?;
        Ok(())
    }
}

impl Tx<'_> {
    /// Records that `peer` has at least `heads` of a record (only hashes we hold: the peer
    /// may know more than we do).
    pub(super) fn note_peer_heads(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        heads: &[ChangeHash],
    ) -> Result<(), ReadError> {
        let known = match self.loaded(id) {
            Some(doc) => super::merge::held_heads(doc, heads),
            None => Vec::new(),
        };
        if known.is_empty() {
            return Ok(());
        }
        let bytes = encode_heads(&known);
        self.w()
            .open_table(tables::PEER_HEADS)
            .ctx("recording peer heads")?
            .insert((peer.as_str(), id.to_bytes()), bytes.as_slice())
            .ctx("recording peer heads")?;
        Ok(())
    }

    /// Keeps the sync-protocol state of a record with a peer, so that an exchange cut by a
    /// disconnect resumes from what both sides were known to share.
    pub(super) fn save_sync_state(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        state: &sync::State,
    ) -> Result<(), ReadError> {
        let encoded = state.encode();
        self.w()
            .open_table(tables::PEER_SYNC)
            .ctx("saving a sync state")?
            .insert((peer.as_str(), id.to_bytes()), encoded.as_slice())
            .ctx("saving a sync state")?;
        Ok(())
    }
}

impl Store {
    /// Calls `hook` with the feed's sequence number after every commit, from the writer
    /// thread: it must be quick (e.g. send on a channel).
    pub fn subscribe(&self, hook: CommitHook) {
        if let Ok(mut subscribers) = self.shared.subscribers.lock() {
            subscribers.push(hook);
        }
    }

    pub fn peer_state(&self, peer: &NodeName) -> Result<PeerState, ReadError> {
        let t = self.table(tables::PEER_STATE)?;
        Ok(t.get(peer.as_str())
            .ctx("reading peer state")?
            .map(|v| decode_state(v.value()))
            .unwrap_or_default())
    }

    /// Every peer this node has state for.
    pub fn peers(&self) -> Result<Vec<(NodeName, PeerState)>, ReadError> {
        let t = self.table(tables::PEER_STATE)?;
        let mut out = Vec::new();
        for entry in t.iter().ctx("reading peer state")? {
            let (k, v) = entry.ctx("reading peer state")?;
            if let Ok(name) = NodeName::new(k.value()) {
                out.push((name, decode_state(v.value())));
            }
        }
        Ok(out)
    }

    /// Durably updates what we keep about a peer.
    pub fn update_peer(
        &self,
        peer: &NodeName,
        f: impl FnOnce(&mut PeerState) + Send + 'static,
    ) -> Result<PeerState, WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            let mut after = PeerState::default();
            tx.update_peer_state(&peer, |s| {
                f(s);
                after = s.clone();
            })?;
            Ok(after)
        })
    }

    /// The peer broke the protocol (the connection is closed): counted against it and
    /// audited as `sync.violation`, durably.
    pub fn note_violation(&self, peer: &NodeName, what: String) -> Result<(), WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            tx.update_peer_state(&peer, |s| s.violations += 1)?;
            tx.audit(super::audit::AuditEvent {
                actor: format!("sync:{peer}"),
                action: "sync.violation".into(),
                record: None,
                changes: Vec::new(),
                detail: Some(what),
            })?;
            Ok(())
        })
    }

    /// The peer acknowledged our feed up to `upto`, having applied these records at these
    /// heads. One durable commit.
    pub fn record_ack(
        &self,
        peer: &NodeName,
        upto: u64,
        heads: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Result<(), WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            let now = tx.now_ms();
            tx.update_peer_state(&peer, |s| {
                s.acked_by_peer = s.acked_by_peer.max(upto);
                s.last_contact_ms = now;
            })?;
            let mut t = tx
                .w()
                .open_table(tables::PEER_HEADS)
                .ctx("recording peer heads")?;
            for (id, h) in heads {
                let bytes = encode_heads(&h);
                t.insert((peer.as_str(), id.to_bytes()), bytes.as_slice())
                    .ctx("recording peer heads")?;
            }
            Ok(())
        })
    }

    /// Forgets everything we believed a peer had (it came back with less: a restored or new
    /// store). Its cursor restarts at `acked_by_peer` and every record is sent whole.
    pub fn reset_peer(&self, peer: &NodeName, acked_by_peer: u64) -> Result<(), WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            tx.update_peer_state(&peer, |s| s.acked_by_peer = acked_by_peer)?;
            let lo = (peer.as_str(), [0u8; 16]);
            let hi = (peer.as_str(), [0xffu8; 16]);
            tx.w()
                .open_table(tables::PEER_HEADS)
                .ctx("resetting peer heads")?
                .retain_in(lo..=hi, |_, _| false)
                .ctx("resetting peer heads")?;
            tx.w()
                .open_table(tables::PEER_SYNC)
                .ctx("resetting sync states")?
                .retain_in(lo..=hi, |_, _| false)
                .ctx("resetting sync states")?;
            Ok(())
        })
    }

    /// The heads a peer is known to have for a record.
    pub fn peer_heads(&self, peer: &NodeName, id: RecordId) -> Result<Vec<ChangeHash>, ReadError> {
        let t = self.table(tables::PEER_HEADS)?;
        Ok(t.get((peer.as_str(), id.to_bytes()))
            .ctx("reading peer heads")?
            .map(|v| decode_heads(v.value()))
            .unwrap_or_default())
    }

    /// The changes of each record the peer is not known to have. Records the peer already
    /// has entirely are left out.
    pub fn outgoing(
        &self,
        peer: &NodeName,
        ids: &[RecordId],
    ) -> Result<Vec<OutgoingDoc>, ReadError> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(doc) = self.doc(id)? else { continue };
            let heads = doc.get_heads();
            let known: Vec<ChangeHash> = self
                .peer_heads(peer, id)?
                .into_iter()
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .collect();
            let mut sorted_known = known.clone();
            sorted_known.sort();
            let mut sorted_heads = heads.clone();
            sorted_heads.sort();
            if sorted_known == sorted_heads {
                continue;
            }
            let bytes = if known.is_empty() {
                doc.save()
            } else {
                doc.save_after(&known)
            };
            let emergency = Header::of(&*doc)
                .map(|h| h.episode.is_some())
                .unwrap_or(false);
            let signatures =
                self.signatures_of(doc.get_changes(&known).iter().map(|c| c.hash()))?;
            out.push(OutgoingDoc {
                id,
                bytes,
                heads,
                emergency,
                signatures,
            });
        }
        Ok(out)
    }

    /// A digest of every record and its heads.
    pub fn digest(&self) -> Result<Digest, ReadError> {
        let t = self.table(tables::DOC_HEADS)?;
        let mut hashers: Vec<Sha256> = (0..DIGEST_BUCKETS).map(|_| Sha256::new()).collect();
        let mut records = 0;
        for entry in t.iter().ctx("reading heads")? {
            let (k, v) = entry.ctx("reading heads")?;
            let id: Id = k.value();
            let mut heads = decode_heads(v.value());
            heads.sort();
            let h = &mut hashers[usize::from(id[15]) % DIGEST_BUCKETS];
            h.update(id);
            for head in heads {
                h.update(head.0);
            }
            records += 1;
        }
        Ok(Digest {
            records,
            buckets: hashers
                .into_iter()
                .map(|h| hex::encode(h.finalize()))
                .collect(),
        })
    }

    /// The sync-protocol state kept for a record with a peer (what both sides were last known
    /// to share), or a fresh one.
    pub fn sync_state(&self, peer: &NodeName, id: RecordId) -> Result<sync::State, ReadError> {
        let t = self.table(tables::PEER_SYNC)?;
        Ok(t.get((peer.as_str(), id.to_bytes()))
            .ctx("reading sync states")?
            .and_then(|v| sync::State::decode(v.value()).ok())
            .unwrap_or_default())
    }

    /// Automerge sync protocol, for one record with one peer: our next message, if any,
    /// with the signed commits of the changes it carries.
    pub fn sync_generate(
        &self,
        id: RecordId,
        state: &mut sync::State,
    ) -> Result<Option<SyncOut>, ReadError> {
        let doc = self.doc(id)?;
        let Some((message, sent)) = super::generate_sync(doc.as_deref(), state) else {
            return Ok(None);
        };
        Ok(Some(SyncOut {
            message,
            signatures: self.signatures_of(sent)?,
        }))
    }

    /// The signed commits of `hashes`, unless this node runs without signatures.
    fn signatures_of(
        &self,
        hashes: impl IntoIterator<Item = ChangeHash>,
    ) -> Result<Vec<super::WireCommit>, ReadError> {
        match self.options().author_check {
            super::AuthorCheck::Signatures => self.signed_commits(hashes),
            super::AuthorCheck::UncheckedActorIds => Ok(Vec::new()),
        }
    }
}
