//! What a [`super::MemoryReplica`] holds: documents, the change feed and per-peer
//! bookkeeping, kept the way the store keeps them (the feed lists each record once, at its
//! latest change; a peer's known heads are only hashes we hold; sync states are kept
//! encoded, so only what Automerge persists survives, as in the store). What the store keeps
//! in its commits instead of reading every record on request is kept here too, in the same
//! step as the change it follows: each record's kind, the records created in an episode, and
//! the digest's rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use lifeline_core::automerge::{ActorId, Automerge, ChangeHash, sync};
use lifeline_core::numbers::Series;
use lifeline_core::record::{Episode, Header, Lease, Receipt, RecordKind};
use lifeline_core::store::{
    Ask, Asks, Credentials, Digest, DigestRows, FEED_PAGE_SCAN, FeedPage, OutgoingDoc, PeerState,
    Refusal, Scope, WireCommit, holds,
};
use lifeline_core::trust::{
    Answer, CommitId, Grant, Knowledge, Roster, Signatures, SignedCommit, VerifiedSignatures,
};
use lifeline_core::{Clock, EpisodeId, NodeName, RecordId, UnixMs};

use super::Refused;

mod repair;

/// Chunks a record gathers before it is compacted into one save, as in the store.
const COMPACT_AFTER_CHUNKS: usize = 32;

/// What we keep about one peer.
#[derive(Default, Clone)]
struct PeerMemory {
    state: PeerState,
    /// The heads the peer is known to have, per record.
    heads: HashMap<RecordId, Vec<ChangeHash>>,
    /// Encoded sync-protocol states, per record.
    sync: HashMap<RecordId, Vec<u8>>,
}

#[derive(Clone)]
pub(super) struct Inner {
    pub(super) actor: ActorId,
    pub(super) incarnation: String,
    /// The feed's head when this replica was made or restored (its opening's, as a store's
    /// at open; the actor names the opening).
    pub(super) opened_feed_head: u64,
    pub(super) clock: Arc<dyn Clock>,
    /// Shared with this replica's backups: a backup copies the map, not the documents.
    docs: BTreeMap<RecordId, Arc<Automerge>>,
    /// Each record's kind, from its header (which no change may rewrite).
    kinds: HashMap<RecordId, RecordKind>,
    /// The records created in an emergency episode (their header says so), in id order.
    episode_records: BTreeSet<RecordId>,
    /// The records central's receipts name, as the store's `acked` table keeps them.
    acked: BTreeSet<RecordId>,
    /// The digest's rows, changed with every record's heads, as the store's table is.
    digest_rows: DigestRows,
    /// The digest of everything, once read since the last change: sessions compare it each
    /// time they catch up.
    digest_all: Option<Digest>,
    /// Each record's saved chunks, as the store keeps them: a full save (without DEFLATE, as
    /// the store saves it), then what each change added, compacted into one save at
    /// [`COMPACT_AFTER_CHUNKS`]. A record a peer knows nothing of is sent as these, as the
    /// store sends it.
    chunks: HashMap<RecordId, Vec<Vec<u8>>>,
    /// Sequence → record, one entry per record at its latest change.
    feed: BTreeMap<u64, RecordId>,
    feed_pos: HashMap<RecordId, u64>,
    feed_seq: u64,
    peers: BTreeMap<NodeName, PeerMemory>,
    refusals: Vec<Refused>,
    /// This node's signing key, once it has one.
    pub(super) credentials: Option<Credentials>,
    /// The opening in which a peer last found our feed restarted (the store keeps it to
    /// relearn before leasing; see `lifeline_core::Store::note_history_lost`).
    pub(super) relearning: Option<String>,
    /// Shared with the sessions that asked for it; copied on a change, as the store replaces
    /// its own.
    pub(super) roster: Arc<Roster>,
    /// Signed commits kept beside the changes they sign, as the store keeps them.
    commits: HashMap<CommitId, Vec<u8>>,
    change_commit: HashMap<ChangeHash, CommitId>,
    /// This node's changes waiting for their signature, by record: signed when they first
    /// leave it, as the store signs them ([`Inner::sign_waiting`]).
    unsigned: Vec<(RecordId, ChangeHash)>,
    /// Signatures verified by any replica sharing these, if this one shares them.
    pub(super) verified: Option<Arc<VerifiedSignatures>>,
    /// Which peer each record we lack was asked of, as the store keeps it (in memory only).
    asks: Asks,
}

impl Inner {
    pub(super) fn new(actor: ActorId, incarnation: String, clock: Arc<dyn Clock>) -> Inner {
        Inner {
            actor,
            incarnation,
            opened_feed_head: 0,
            clock,
            docs: BTreeMap::new(),
            kinds: HashMap::new(),
            episode_records: BTreeSet::new(),
            acked: BTreeSet::new(),
            digest_rows: DigestRows::default(),
            digest_all: None,
            chunks: HashMap::new(),
            feed: BTreeMap::new(),
            feed_pos: HashMap::new(),
            feed_seq: 0,
            peers: BTreeMap::new(),
            refusals: Vec::new(),
            credentials: None,
            relearning: None,
            roster: Arc::new(Roster::new()),
            commits: HashMap::new(),
            change_commit: HashMap::new(),
            unsigned: Vec::new(),
            verified: None,
            asks: Asks::default(),
        }
    }

    /// What a backup of the store holds: everything kept, as of now. The asks registry is
    /// left out, as the store keeps it in memory only.
    pub(super) fn backup(&self) -> Inner {
        Inner {
            asks: Asks::default(),
            ..self.clone()
        }
    }

    /// This backup brought back as a store restored from it is: a new incarnation (its peers
    /// must send again what it lost), and a new actor for the changes it makes from now on,
    /// as a store gets at every open, so that none reuses a sequence number of a change made
    /// after the backup.
    pub(super) fn restored(mut self, actor: ActorId, incarnation: String) -> Inner {
        for doc in self.docs.values_mut() {
            Arc::make_mut(doc).set_actor(actor.clone());
        }
        self.actor = actor;
        self.incarnation = incarnation;
        self.opened_feed_head = self.feed_seq;
        self
    }

    /// A peer's signed commits, as encoded on the wire, checked as they are needed (with the
    /// signatures verified before, when this replica shares them).
    pub(super) fn signatures(&self, encoded: &[Vec<u8>]) -> Signatures {
        let (signatures, _) = Signatures::decode(encoded);
        match &self.verified {
            Some(v) => signatures.remembering(Arc::clone(v)),
            None => signatures,
        }
    }

    /// Notes changes this node made to record `id` as waiting for their signature.
    pub(super) fn authored(&mut self, id: RecordId, hashes: Vec<ChangeHash>) {
        self.unsigned.extend(hashes.into_iter().map(|h| (id, h)));
    }

    /// Signs what waits, before signatures are read to go out, as the store does: in record
    /// order, in commits of [`lifeline_core::trust::COMMIT_HASHES`]. Nothing without a key.
    pub(super) fn sign_waiting(&mut self) {
        let Some(credentials) = &self.credentials else {
            return;
        };
        if self.unsigned.is_empty() {
            return;
        }
        let mut waiting = std::mem::take(&mut self.unsigned);
        waiting.sort_unstable();
        let hashes: Vec<ChangeHash> = waiting.iter().map(|(_, h)| *h).collect();
        match SignedCommit::sign_all(credentials.key(), &hashes) {
            Ok(commits) => {
                for commit in commits {
                    self.keep(&commit);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot sign; the changes wait unsigned");
                self.unsigned = waiting;
            }
        }
    }

    /// Takes a signing key; what waited for one is signed when it first leaves the node.
    pub(super) fn set_credentials(&mut self, credentials: Credentials) {
        Arc::make_mut(&mut self.roster).admit(credentials.member().clone());
        self.credentials = Some(credentials);
    }

    /// Keeps a signed commit beside the changes it signs.
    pub(super) fn keep(&mut self, commit: &SignedCommit) {
        let id = commit.id();
        for h in &commit.hashes {
            self.change_commit.insert(*h, id);
        }
        self.commits.entry(id).or_insert_with(|| commit.encode());
    }

    /// Links a peer's change to the signed commit it came with (kept once).
    pub(super) fn keep_signed(
        &mut self,
        hash: ChangeHash,
        commit: Option<&SignedCommit>,
        id: CommitId,
    ) {
        if let Some(commit) = commit {
            self.commits.entry(id).or_insert_with(|| commit.encode());
        }
        self.change_commit.insert(hash, id);
    }

    pub(super) fn holds_commit(&self, id: &CommitId) -> bool {
        self.commits.contains_key(id)
    }

    /// The signed commits of `hashes`, each once.
    pub(super) fn signatures_of(
        &self,
        hashes: impl IntoIterator<Item = ChangeHash>,
    ) -> Vec<WireCommit> {
        let mut out: Vec<WireCommit> = Vec::new();
        for h in hashes {
            let Some(id) = self.change_commit.get(&h) else {
                continue;
            };
            if out.iter().any(|c| c.id == *id) {
                continue;
            }
            if let Some(bytes) = self.commits.get(id) {
                out.push(WireCommit {
                    id: *id,
                    bytes: Arc::new(bytes.clone()),
                });
            }
        }
        out
    }

    pub(super) fn doc(&self, id: RecordId) -> Option<&Automerge> {
        self.docs.get(&id).map(|doc| &**doc)
    }

    pub(super) fn records(&self) -> usize {
        self.docs.len()
    }

    /// Stores a record's new version (`header` is its header, read or written whole) and
    /// moves it to the head of the feed.
    pub(super) fn put(&mut self, id: RecordId, header: &Header, doc: Automerge) {
        let old_heads = self.docs.get(&id).map(|doc| doc.get_heads());
        let new_heads = doc.get_heads();
        // The kind first kept stays: no change may rewrite a header, and the digest's row of
        // a record must be the one its earlier heads were counted in.
        let kind = *self.kinds.entry(id).or_insert(header.kind);
        self.digest_rows
            .change(id, kind, old_heads.as_deref(), Some(&new_heads));
        self.digest_all = None;
        if header.episode.is_some() {
            self.episode_records.insert(id);
        }
        if kind == RecordKind::Receipt
            && let Ok(receipt) = lifeline_core::record::hydrate::<Receipt>(&doc)
        {
            self.acked.extend(receipt.records);
        }
        let chunks = self.chunks.entry(id).or_default();
        match old_heads {
            Some(old) if !chunks.is_empty() && chunks.len() + 1 < COMPACT_AFTER_CHUNKS => {
                chunks.push(doc.save_after(&old));
            }
            _ => *chunks = vec![doc.save_nocompress()],
        }
        self.docs.insert(id, Arc::new(doc));
        self.feed_seq += 1;
        if let Some(old) = self.feed_pos.insert(id, self.feed_seq) {
            self.feed.remove(&old);
        }
        self.feed.insert(self.feed_seq, id);
    }

    pub(super) fn feed_head(&self) -> u64 {
        self.feed.keys().next_back().copied().unwrap_or(0)
    }

    /// A page of the feed for `peer`, as the store pages it (see `Store::feed_page`).
    pub(super) fn feed_page(
        &self,
        peer: &NodeName,
        after: u64,
        limit: usize,
        scope: Scope,
        kinds: Option<&[RecordKind]>,
    ) -> FeedPage {
        let mut page = FeedPage::default();
        for (seq, id) in self
            .feed
            .range(after.saturating_add(1)..)
            .take(FEED_PAGE_SCAN)
        {
            page.upto = Some(*seq);
            let kind = self.kinds.get(id);
            if kinds.is_some_and(|kinds| kind.is_none_or(|k| !kinds.contains(k))) {
                continue;
            }
            let in_scope = kind.is_none_or(|kind| scope.covers(*kind, *id));
            let held = self
                .peers
                .get(peer)
                .is_some_and(|p| p.heads.contains_key(id));
            if in_scope || held {
                page.entries.push((*seq, *id));
                if page.entries.len() >= limit {
                    break;
                }
            }
        }
        page
    }

    /// The stored chunks of a record, concatenated.
    fn stored(&self, id: RecordId) -> Vec<u8> {
        self.chunks.get(&id).map(|c| c.concat()).unwrap_or_default()
    }

    /// A record's bytes for a peer that holds none of it, as a store sends them: its one
    /// chunk packed, else its chunks as Automerge wrote them.
    fn sendable(&self, id: RecordId) -> Vec<u8> {
        match self.chunks.get(&id).map(Vec::as_slice) {
            Some([one]) => lifeline_core::store::packed_to_send(one).unwrap_or_else(|| one.clone()),
            _ => self.stored(id),
        }
    }

    /// Whole records with their heads, as a fetch answers.
    pub(super) fn whole(&self, ids: &[RecordId]) -> Vec<OutgoingDoc> {
        ids.iter()
            .filter_map(|&id| {
                let doc = self.docs.get(&id)?;
                Some(OutgoingDoc {
                    id,
                    bytes: self.stored(id),
                    heads: doc.get_heads(),
                    // A fetched record is shown, never stored: it needs no signatures.
                    signatures: Vec::new(),
                })
            })
            .collect()
    }

    pub(super) fn refuse(&mut self, peer: &NodeName, id: RecordId, reason: Refusal) {
        self.refusals.push(Refused {
            peer: peer.clone(),
            id,
            reason,
        });
    }

    pub(super) fn refusals(&self) -> &[Refused] {
        &self.refusals
    }

    pub(super) fn peer_state(&self, peer: &NodeName) -> PeerState {
        self.peers
            .get(peer)
            .map(|p| p.state.clone())
            .unwrap_or_default()
    }

    pub(super) fn update_peer(&mut self, peer: &NodeName, f: impl FnOnce(&mut PeerState)) {
        f(&mut self.peers.entry(peer.clone()).or_default().state);
    }

    /// Forgets the heads and sync states believed of a peer.
    pub(super) fn forget_peer_records(&mut self, peer: &NodeName) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.heads.clear();
            p.sync.clear();
        }
    }

    pub(super) fn set_peer_heads(&mut self, peer: &NodeName, id: RecordId, heads: Vec<ChangeHash>) {
        self.peers
            .entry(peer.clone())
            .or_default()
            .heads
            .insert(id, heads);
    }

    /// Records that `peer` has at least `heads` of a record: only the hashes we hold (the
    /// peer may know more than we do), and nothing when we hold none of them.
    pub(super) fn note_peer_heads(&mut self, peer: &NodeName, id: RecordId, heads: &[ChangeHash]) {
        let known = match self.docs.get(&id) {
            Some(doc) => lifeline_core::store::held_heads(doc, heads),
            None => Vec::new(),
        };
        if !known.is_empty() {
            self.set_peer_heads(peer, id, known);
        }
    }

    fn peer_heads(&self, peer: &NodeName, id: RecordId) -> Vec<ChangeHash> {
        self.peers
            .get(peer)
            .and_then(|p| p.heads.get(&id).cloned())
            .unwrap_or_default()
    }

    pub(super) fn sync_state(&self, peer: &NodeName, id: RecordId) -> sync::State {
        self.peers
            .get(peer)
            .and_then(|p| p.sync.get(&id))
            .and_then(|bytes| sync::State::decode(bytes).ok())
            .unwrap_or_default()
    }

    pub(super) fn keep_sync_state(&mut self, peer: &NodeName, id: RecordId, state: &sync::State) {
        self.peers
            .entry(peer.clone())
            .or_default()
            .sync
            .insert(id, state.encode());
    }

    /// Our heads of each record to offer the peer: those not held, and those it is known to
    /// hold at our heads, left out.
    pub(super) fn offer(
        &self,
        peer: &NodeName,
        ids: &[RecordId],
    ) -> Vec<(RecordId, Vec<ChangeHash>)> {
        ids.iter()
            .filter_map(|&id| {
                let heads = self.docs.get(&id)?.get_heads();
                let known = self.peer_heads(peer, id);
                let held = !known.is_empty() && sorted(known) == sorted(heads.clone());
                (!held).then_some((id, heads))
            })
            .collect()
    }

    /// For each record, whether this node wrote every one of its heads (unsigned changes of
    /// ours, or signed by us), as the store reads it from its indexes.
    pub(super) fn written_here(&self, ids: &[RecordId]) -> Vec<bool> {
        let node = self.credentials.as_ref().map(|c| c.member().name.clone());
        ids.iter()
            .map(|id| {
                let heads = self.docs.get(id).map(|d| d.get_heads()).unwrap_or_default();
                !heads.is_empty()
                    && heads.iter().all(|h| {
                        self.unsigned.iter().any(|(_, u)| u == h)
                            || self
                                .change_commit
                                .get(h)
                                .and_then(|c| self.commits.get(c))
                                .and_then(|bytes| SignedCommit::decode(bytes).ok())
                                .is_some_and(|c| Some(&c.author) == node.as_ref())
                    })
            })
            .collect()
    }

    /// Records offered at heads we hold (ours, or changes before them) are noted as held by
    /// the peer there; the others are returned, to be asked for now or later, as the store
    /// does ([`Asks`]).
    pub(super) fn peer_offers(
        &mut self,
        peer: &NodeName,
        offered: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Vec<(RecordId, Ask)> {
        let mut lacking = Vec::new();
        for (id, heads) in offered {
            let held = self.docs.get(&id).is_some_and(|doc| {
                let ours = doc.get_heads();
                !heads.is_empty() && heads.iter().all(|h| ours.contains(h) || holds(doc, h))
            });
            if held {
                self.asks.held(id);
                self.set_peer_heads(peer, id, heads);
            } else {
                lacking.push((id, self.asks.lacking(peer, id)));
            }
        }
        lacking
    }

    /// Changes of each record the peer is not known to have; records it has whole are left
    /// out.
    pub(super) fn outgoing(&mut self, peer: &NodeName, ids: &[RecordId]) -> Vec<OutgoingDoc> {
        self.sign_waiting();
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(doc) = self.docs.get(&id) else {
                continue;
            };
            let heads = doc.get_heads();
            let known: Vec<ChangeHash> = self
                .peer_heads(peer, id)
                .into_iter()
                .filter(|h| holds(doc, h))
                .collect();
            if !known.is_empty() && sorted(known.clone()) == sorted(heads.clone()) {
                continue;
            }
            let bytes = if known.is_empty() {
                self.sendable(id)
            } else {
                doc.save_after(&known)
            };
            let signatures =
                self.signatures_of(doc.get_changes_meta(&known).iter().map(|c| c.hash));
            out.push(OutgoingDoc {
                id,
                bytes,
                heads,
                signatures,
            });
        }
        out
    }

    /// The digest of the records in a scope, read from the kept rows as the store reads its
    /// table (equal to [`Digest::of`] over the records in the scope).
    pub(super) fn digest(&mut self, scope: Scope) -> Digest {
        if scope != Scope::All {
            return self.digest_rows.digest(scope);
        }
        self.digest_all
            .get_or_insert_with(|| self.digest_rows.digest(Scope::All))
            .clone()
    }

    /// Records of an emergency episode no receipt of central's names, in id order.
    pub(super) fn unreconciled(&self) -> Vec<RecordId> {
        self.episode_records
            .difference(&self.acked)
            .copied()
            .collect()
    }

    /// The records of one kind, with their documents, in id order.
    fn of_kind(&self, kind: RecordKind) -> impl Iterator<Item = (&RecordId, &Automerge)> {
        self.docs
            .iter()
            .filter(move |(id, _)| self.kinds.get(id) == Some(&kind))
            .map(|(id, doc)| (id, &**doc))
    }
}

/// What the rules need to know, read from the documents themselves (the store keeps an index;
/// here a scan will do).
impl Knowledge for Inner {
    fn overlapping_range(&self, grant: Grant, except: RecordId) -> Answer<RecordId> {
        Ok(self.of_kind(RecordKind::Lease).find_map(|(id, doc)| {
            if *id == except {
                return None;
            }
            let lease: Lease = lifeline_core::record::hydrate(doc).ok()?;
            let range = lease.range?;
            let same = Series::parse(&lease.series) == Some(grant.series);
            (same && range.start <= grant.end && grant.start <= range.end).then_some(*id)
        }))
    }

    fn episode_opened_ms(&self, id: &EpisodeId) -> Answer<UnixMs> {
        Ok(self.of_kind(RecordKind::Episode).find_map(|(_, doc)| {
            let episode: Episode = lifeline_core::record::hydrate(doc).ok()?;
            (episode.episode_id == *id).then_some(episode.opened_ms)
        }))
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}
