//! What replication reads and keeps: per-peer state (cursors, the heads each peer is known to
//! have per record), deltas to send, commit notifications, digests for the convergence check,
//! and the sending side of Automerge's sync protocol for records whose deltas lack
//! dependencies. Merging what peers send is [`super::apply`]. The protocol itself lives in
//! lifeline-sync; it reaches storage only through these and the apply path.

use automerge::ChangeHash;
use automerge::sync;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::digest::{Digest, Scope};
use super::error::{ReadError, StorageContext, WriteError};
use super::held::heads_and_known;
use super::holders;
use super::read::{sendable_chunks, stored_chunks};
use super::tables::{self, decode_heads};
use super::{CommitHook, Store, Tx};
use crate::id::{NodeName, RecordId};
use crate::record::RecordKind;

/// What this node keeps about one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerState {
    /// Our feed sequence up to which the peer has acknowledged everything.
    pub acked_by_peer: u64,
    /// The peer's feed sequence up to which we have applied everything.
    pub applied_from_peer: u64,
    /// The peer store's incarnation when we last spoke.
    pub peer_incarnation: Option<String>,
    /// The opening of the peer's store when we last spoke (see [`super::Store::opening`]).
    #[serde(default)]
    pub peer_opening: Option<String>,
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
    /// Records from the peer that arrived lacking changes they depend on, each with its
    /// place in the peer's feed: `applied_from_peer` stays before the first of them until it
    /// is whole here (through the sync protocol, or sent again after a reconnect), so that a
    /// cut connection cannot leave one behind. At most [`MOST_WAITING`].
    #[serde(default)]
    pub waiting: Vec<(u64, RecordId)>,
    /// How far the peer's feed is applied, the waiting records aside.
    #[serde(default)]
    pub applied_past_waiting: u64,
    /// The opening of our store (see [`super::Store::opening`]) in which we last held
    /// everything the peer's feed held when it greeted us.
    #[serde(default)]
    pub caught_up_in: Option<String>,
}

/// Most records kept waiting per peer. Beyond it a record lacking dependencies is left to
/// the sync protocol and the digest check alone, as before this list existed (a peer this
/// far out of step is rebuilding, and its digests differ until it is done).
pub const MOST_WAITING: usize = 1024;

impl PeerState {
    /// Notes a batch from the peer, applied up to its feed position `cursor`: `missing` (place,
    /// record) lacked dependencies; the batch's other records are `settled` (applied, held
    /// already, or refused for good).
    pub fn applied_batch(
        &mut self,
        cursor: u64,
        missing: &[(u64, RecordId)],
        settled: &[RecordId],
    ) {
        self.applied_past_waiting = self
            .applied_past_waiting
            .max(self.applied_from_peer)
            .max(cursor);
        if !self.waiting.is_empty() {
            self.waiting.retain(|(_, id)| !settled.contains(id));
        }
        for &(seq, id) in missing {
            if let Some(entry) = self.waiting.iter_mut().find(|(_, w)| *w == id) {
                entry.0 = entry.0.min(seq);
            } else if self.waiting.len() < MOST_WAITING {
                self.waiting.push((seq, id));
            }
        }
        self.applied_from_peer = self.cursor();
    }

    /// Notes that a record from the peer is whole here (the sync protocol completed it).
    pub fn now_whole(&mut self, id: RecordId) {
        let before = self.waiting.len();
        self.waiting.retain(|(_, w)| *w != id);
        if self.waiting.len() != before {
            self.applied_from_peer = self.cursor();
        }
    }

    /// Forgets where the peer's feed was (its store restarted or was restored).
    pub fn peer_feed_restarted(&mut self) {
        self.applied_from_peer = 0;
        self.applied_past_waiting = 0;
        self.waiting.clear();
    }

    fn cursor(&self) -> u64 {
        match self.waiting.iter().map(|(seq, _)| *seq).min() {
            Some(first) => self.applied_past_waiting.min(first.saturating_sub(1)),
            None => self.applied_past_waiting,
        }
    }
}

/// One record's changes to send to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingDoc {
    pub id: RecordId,
    /// Changes the peer is not known to have (all of them when we know nothing).
    pub bytes: Vec<u8>,
    /// Our heads: what the peer will have once it applies `bytes`.
    pub heads: Vec<ChangeHash>,
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

/// A page of the feed for one peer: the records to offer it, and how far the page went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPage {
    /// (sequence, record), oldest change first: the records in the peer's scope, and those
    /// outside it the peer is known to hold.
    pub entries: Vec<(u64, RecordId)>,
    /// The last sequence looked at (`None`: nothing after the cursor): the peer's cursor may
    /// move this far once the entries are acknowledged.
    pub upto: Option<u64>,
}

/// Most feed rows one page looks at, so that skipping history a peer does not keep is done in
/// bounded steps.
pub const FEED_PAGE_SCAN: usize = 16_384;

/// Kinds a session sends as soon as they are written, ahead of the rest of the feed: central's
/// receipts, which tell each node that the records it wrote in an outage are reconciled. A
/// node catching up after an outage would otherwise hear it only once every record written
/// before the receipt (all the other nodes' outage records) had reached it.
pub const AHEAD_OF_THE_FEED: [RecordKind; 1] = [RecordKind::Receipt];

pub(super) fn decode_state(bytes: &[u8]) -> PeerState {
    serde_json::from_slice(bytes).unwrap_or_default()
}

impl Tx<'_, '_> {
    pub(super) fn update_peer_state(
        &mut self,
        peer: &NodeName,
        f: impl FnOnce(&mut PeerState),
    ) -> Result<(), ReadError> {
        let mut t = self
            .w()
            .open_table(tables::PEER_STATE)
            .ctx("writing peer state")?;
        let before = t
            .get(peer.as_str())
            .ctx("reading peer state")?
            .map(|v| decode_state(v.value()));
        let mut state = before.clone().unwrap_or_default();
        f(&mut state);
        // Nothing changed (a record completed by the sync protocol with nothing waiting, the
        // usual case): no write.
        if before.as_ref() == Some(&state) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&state).unwrap_or_default();
        t.insert(peer.as_str(), bytes.as_slice())
            .ctx("writing peer state")?;
        drop(t);
        let from = before.map(|b| b.acked_by_peer);
        if from != Some(state.acked_by_peer) {
            self.backlog_cursor_moved(peer, from, state.acked_by_peer)?;
        }
        Ok(())
    }
}

impl Tx<'_, '_> {
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
        self.write_peer_heads(peer, id, &known)
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

    /// Calls `observe` with each durable commit (how many writes it held, how long it took),
    /// from the writer thread: it must be quick (e.g. a histogram's observe).
    pub fn observe_commits(&self, observe: super::CommitObserver) {
        if let Ok(mut observers) = self.shared.observers.lock() {
            observers.push(observe);
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
    /// heads. One durable commit. An acknowledgement beyond our feed's head (a peer that
    /// applied more of an older feed of ours: we were restored from a backup, and it has not
    /// heard yet; or a peer that lies) counts up to the head only: sequence numbers past it
    /// will name records this node has not written yet, which no peer can hold.
    pub fn record_ack(
        &self,
        peer: &NodeName,
        upto: u64,
        heads: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Result<(), WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            let now = tx.now_ms();
            let head = tx
                .r()
                .open_table(tables::FEED)
                .ctx("reading the feed")?
                .last()
                .ctx("reading the feed")?
                .map_or(0, |(k, _)| k.value());
            let upto = upto.min(head);
            tx.update_peer_state(&peer, |s| {
                s.acked_by_peer = s.acked_by_peer.max(upto);
                s.last_contact_ms = now;
            })?;
            tx.write_peer_heads_all(&peer, heads)?;
            Ok(())
        })
    }

    /// Forgets everything we believed a peer had (it came back with less: a restored or new
    /// store). Its cursor restarts at `acked_by_peer` and every record is sent whole.
    pub fn reset_peer(&self, peer: &NodeName, acked_by_peer: u64) -> Result<(), WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            tx.update_peer_state(&peer, |s| s.acked_by_peer = acked_by_peer)?;
            tx.retire_slot(&peer)?;
            let lo = (peer.as_str(), [0u8; 16]);
            let hi = (peer.as_str(), [0xffu8; 16]);
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
        let (holds, slot) = holders::of_peer(&self.read_txn()?, peer)?;
        Ok(holders::known(&holds, slot, id)?.unwrap_or_default())
    }

    /// A page of the feed after `after` for `peer`, at most `limit` records: those in
    /// `scope` (what the peer keeps), and others only when the peer is known to hold them;
    /// with `kinds`, of those kinds only (what a session sends ahead of the feed,
    /// [`AHEAD_OF_THE_FEED`]). Looks at no more than [`FEED_PAGE_SCAN`] rows; `upto` is the
    /// last one looked at, whatever its kind.
    pub fn feed_page(
        &self,
        peer: &NodeName,
        after: u64,
        limit: usize,
        scope: Scope,
        kinds: Option<&[RecordKind]>,
    ) -> Result<FeedPage, ReadError> {
        let txn = self.read_txn()?;
        let feed = txn.open_table(tables::FEED).ctx("reading the feed")?;
        let (known, slot) = holders::of_peer(&txn, peer)?;
        let mut page = FeedPage::default();
        for entry in feed
            .range(after.saturating_add(1)..)
            .ctx("reading the feed")?
            .take(FEED_PAGE_SCAN)
        {
            let (k, v) = entry.ctx("reading the feed")?;
            let (id, kind) = v.value();
            page.upto = Some(k.value());
            if kinds.is_some_and(|kinds| !kinds.iter().any(|k| k.code() == kind)) {
                continue;
            }
            let id = RecordId::from_bytes(id);
            let in_scope = RecordKind::from_code(kind).is_none_or(|kind| scope.covers(kind, id));
            let held =
                || -> Result<bool, ReadError> { Ok(holders::known(&known, slot, id)?.is_some()) };
            if in_scope || held()? {
                page.entries.push((k.value(), id));
                if page.entries.len() >= limit {
                    break;
                }
            }
        }
        Ok(page)
    }

    /// The changes of each record the peer is not known to have. Records the peer already
    /// has entirely are left out. A record the peer knows nothing of goes as stored (its
    /// chunks), without loading it.
    pub fn outgoing(
        &self,
        peer: &NodeName,
        ids: &[RecordId],
    ) -> Result<Vec<OutgoingDoc>, ReadError> {
        let txn = self.read_txn()?;
        // Once per batch, after the snapshot the records are read from: everything in it is
        // signed by this (the signatures are read afterwards, from later snapshots); a record
        // read newer than the snapshot signs again (below).
        self.sign_before_sending()?;
        #[cfg(test)]
        super::send_tests::after_signing();
        let heads_t = txn.open_table(tables::DOC_HEADS).ctx("reading heads")?;
        let (known_t, slot) = holders::of_peer(&txn, peer)?;
        let chunks = txn.open_table(tables::DOC_CHUNKS).ctx("loading a record")?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some((heads, known)) = heads_and_known(&heads_t, &known_t, slot, id)? else {
                continue;
            };
            let known = known.unwrap_or_default();
            if known.is_empty() {
                out.push(OutgoingDoc {
                    id,
                    bytes: sendable_chunks(&chunks, id)?,
                    heads,
                    signatures: self.all_signatures(id)?,
                });
                continue;
            }
            // The peer holds the record as it is here (the usual case for a record it sent
            // us): nothing to send, read from the heads alone. Loading the document to find
            // out cost a load and the metadata of every change of the record, for each record
            // a peer sent (5% of the replication benchmark's CPU).
            if same_heads(&known, &heads) {
                continue;
            }
            let Some(doc) = self.doc(id)? else { continue };
            // The document is as of now, not as of the snapshot the signing covered: a desk's
            // write committed meanwhile would go without its signature, and the peer refuse
            // it as unsigned (seen in chaos runs under load). Sign what waits again, after
            // this read: it covers everything the document holds.
            if !same_heads(&doc.get_heads(), &heads) {
                self.sign_before_sending()?;
            }
            let known: Vec<ChangeHash> = known
                .into_iter()
                .filter(|h| super::merge::holds(&doc, h))
                .collect();
            if same_heads(&known, &doc.get_heads()) {
                continue;
            }
            let bytes = if known.is_empty() {
                sendable_chunks(&chunks, id)?
            } else {
                doc.save_after(&known)
            };
            let signatures =
                self.signatures_of(doc.get_changes_meta(&known).iter().map(|c| c.hash))?;
            out.push(OutgoingDoc {
                id,
                bytes,
                heads: doc.get_heads(),
                signatures,
            });
        }
        Ok(out)
    }

    /// Whole records, as stored, with their heads: what a fetch answers. Records not held
    /// are left out.
    pub fn whole(&self, ids: &[RecordId]) -> Result<Vec<OutgoingDoc>, ReadError> {
        let txn = self.read_txn()?;
        let heads_t = txn.open_table(tables::DOC_HEADS).ctx("reading heads")?;
        let chunks = txn.open_table(tables::DOC_CHUNKS).ctx("loading a record")?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(heads) = heads_t.get(id.to_bytes()).ctx("reading heads")? else {
                continue;
            };
            out.push(OutgoingDoc {
                id,
                heads: decode_heads(heads.value()),
                bytes: stored_chunks(&chunks, id)?,
                // A fetched record is shown, never stored: it needs no signatures.
                signatures: Vec::new(),
            });
        }
        Ok(out)
    }

    /// A digest of every record and its heads, as kept by every commit (O(1) in the records).
    pub fn digest(&self) -> Result<Digest, ReadError> {
        self.digest_of(Scope::All)
    }

    /// A digest of the records in a scope (see [`Scope`]), from the kept rows.
    pub fn digest_of(&self, scope: Scope) -> Result<Digest, ReadError> {
        super::digest::read(&self.table(tables::DIGEST)?, scope)
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
        self.sign_before_sending()?;
        let Some((message, sent)) = super::generate_sync(doc.as_deref(), state) else {
            return Ok(None);
        };
        Ok(Some(SyncOut {
            message,
            signatures: self.signatures_of(sent)?,
        }))
    }

    /// The signed commits of every change of a record, from its index of them (the record is
    /// not loaded), unless this node runs without signatures. The caller signed what waits
    /// after reading the record ([`Store::sign_before_sending`]).
    fn all_signatures(&self, id: RecordId) -> Result<Vec<super::WireCommit>, ReadError> {
        match self.options().author_check {
            super::AuthorCheck::Signatures => self.kept_record_commits(id),
            super::AuthorCheck::UncheckedActorIds => Ok(Vec::new()),
        }
    }

    /// The signed commits of `hashes`, unless this node runs without signatures (the caller
    /// signed what waits, as for [`Store::all_signatures`]).
    fn signatures_of(
        &self,
        hashes: impl IntoIterator<Item = ChangeHash>,
    ) -> Result<Vec<super::WireCommit>, ReadError> {
        match self.options().author_check {
            super::AuthorCheck::Signatures => self.kept_commits_of(hashes),
            super::AuthorCheck::UncheckedActorIds => Ok(Vec::new()),
        }
    }
}

/// Whether two sets of heads are the same, in whatever order.
pub(super) fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    a.len() == b.len() && a.iter().all(|h| b.contains(h))
}
