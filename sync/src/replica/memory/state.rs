//! What a [`super::MemoryReplica`] holds: documents, the change feed and per-peer
//! bookkeeping, kept the way the store keeps them (the feed lists each record once, at its
//! latest change; a peer's known heads are only hashes we hold; sync states are kept
//! encoded, so only what Automerge persists survives, as in the store).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lifeline_core::automerge::{ActorId, Automerge, ChangeHash, ROOT, ReadDoc, sync};
use lifeline_core::numbers::Series;
use lifeline_core::record::{CENTRAL_ACK_KEY, Episode, Header, Lease, RecordKind};
use lifeline_core::store::{
    Credentials, Digest, FEED_PAGE_SCAN, FeedPage, OutgoingDoc, PeerState, Refusal, Scope,
    WireCommit,
};
use lifeline_core::trust::{Answer, CommitId, Grant, Knowledge, Roster, SignedCommit};
use lifeline_core::{Clock, EpisodeId, NodeName, RecordId, UnixMs};

use super::Refused;

/// Chunks a record gathers before it is compacted into one save, as in the store.
const COMPACT_AFTER_CHUNKS: usize = 32;

/// What we keep about one peer.
#[derive(Default)]
struct PeerMemory {
    state: PeerState,
    /// The heads the peer is known to have, per record.
    heads: HashMap<RecordId, Vec<ChangeHash>>,
    /// Encoded sync-protocol states, per record.
    sync: HashMap<RecordId, Vec<u8>>,
}

pub(super) struct Inner {
    pub(super) actor: ActorId,
    pub(super) incarnation: String,
    pub(super) clock: Arc<dyn Clock>,
    docs: BTreeMap<RecordId, Automerge>,
    /// Each record's saved chunks, as the store keeps them: a full save, then what each change
    /// added, compacted into one save at [`COMPACT_AFTER_CHUNKS`]. A record a peer knows
    /// nothing of is sent as these, as the store sends it.
    chunks: HashMap<RecordId, Vec<Vec<u8>>>,
    /// Sequence → record, one entry per record at its latest change.
    feed: BTreeMap<u64, RecordId>,
    feed_pos: HashMap<RecordId, u64>,
    feed_seq: u64,
    peers: BTreeMap<NodeName, PeerMemory>,
    refusals: Vec<Refused>,
    /// This node's signing key, once it has one.
    pub(super) credentials: Option<Credentials>,
    pub(super) roster: Roster,
    /// Signed commits kept beside the changes they sign, as the store keeps them.
    commits: HashMap<CommitId, Vec<u8>>,
    change_commit: HashMap<ChangeHash, CommitId>,
    /// Changes made before this node had a key.
    unsigned: Vec<ChangeHash>,
}

impl Inner {
    pub(super) fn new(actor: ActorId, incarnation: String, clock: Arc<dyn Clock>) -> Inner {
        Inner {
            actor,
            incarnation,
            clock,
            docs: BTreeMap::new(),
            chunks: HashMap::new(),
            feed: BTreeMap::new(),
            feed_pos: HashMap::new(),
            feed_seq: 0,
            peers: BTreeMap::new(),
            refusals: Vec::new(),
            credentials: None,
            roster: Roster::new(),
            commits: HashMap::new(),
            change_commit: HashMap::new(),
            unsigned: Vec::new(),
        }
    }

    /// Signs changes this node made (one signature for them all, as the store signs a
    /// commit), or keeps them for when it has a key.
    pub(super) fn sign(&mut self, hashes: Vec<ChangeHash>) {
        if hashes.is_empty() {
            return;
        }
        let Some(credentials) = &self.credentials else {
            self.unsigned.extend(hashes);
            return;
        };
        match SignedCommit::sign_all(credentials.key(), &hashes) {
            Ok(commits) => {
                for commit in commits {
                    self.keep(&commit);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot sign; the changes wait unsigned");
                self.unsigned.extend(hashes);
            }
        }
    }

    /// Takes a signing key: signs what waited for one.
    pub(super) fn set_credentials(&mut self, credentials: Credentials) {
        self.roster.admit(credentials.member().clone());
        self.credentials = Some(credentials);
        let pending = std::mem::take(&mut self.unsigned);
        self.sign(pending);
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
        self.docs.get(&id)
    }

    pub(super) fn records(&self) -> usize {
        self.docs.len()
    }

    /// Stores a record's new version and moves it to the head of the feed.
    pub(super) fn put(&mut self, id: RecordId, doc: Automerge) {
        let old_heads = self.docs.get(&id).map(Automerge::get_heads);
        let chunks = self.chunks.entry(id).or_default();
        match old_heads {
            Some(old) if !chunks.is_empty() && chunks.len() + 1 < COMPACT_AFTER_CHUNKS => {
                chunks.push(doc.save_after(&old));
            }
            _ => *chunks = vec![doc.save()],
        }
        self.docs.insert(id, doc);
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
    ) -> FeedPage {
        let mut page = FeedPage::default();
        for (seq, id) in self
            .feed
            .range(after.saturating_add(1)..)
            .take(FEED_PAGE_SCAN)
        {
            page.upto = Some(*seq);
            let in_scope = self
                .docs
                .get(id)
                .and_then(|d| Header::of(d).ok())
                .is_none_or(|h| scope.covers(h.kind, *id));
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

    /// Changes of each record the peer is not known to have; records it has whole are left
    /// out.
    pub(super) fn outgoing(&self, peer: &NodeName, ids: &[RecordId]) -> Vec<OutgoingDoc> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(doc) = self.docs.get(&id) else {
                continue;
            };
            let heads = doc.get_heads();
            let known: Vec<ChangeHash> = self
                .peer_heads(peer, id)
                .into_iter()
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .collect();
            if !known.is_empty() && sorted(known.clone()) == sorted(heads.clone()) {
                continue;
            }
            let bytes = if known.is_empty() {
                self.stored(id)
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

    /// The digest of the records in a scope, as the store keeps it (the same pure function).
    /// Every record held was written whole or merged under the rules, so its header reads:
    /// the header is read only when the scope depends on the kind (reading it for every
    /// record made each digest of everything cost a hydration per record).
    pub(super) fn digest(&self, scope: Scope) -> Digest {
        let in_scope = |id: RecordId, doc: &Automerge| match scope {
            Scope::All => true,
            Scope::Since { .. } => Header::of(doc).is_ok_and(|h| scope.covers(h.kind, id)),
        };
        let heads: Vec<(RecordId, Vec<ChangeHash>)> = self
            .docs
            .iter()
            .filter(|(id, doc)| in_scope(**id, doc))
            .map(|(id, doc)| (*id, doc.get_heads()))
            .collect();
        Digest::of(heads.iter().map(|(id, h)| (*id, h.as_slice())))
    }

    /// Records of an emergency episode without central's acknowledgement, in id order.
    pub(super) fn unreconciled(&self) -> Vec<RecordId> {
        self.docs
            .iter()
            .filter(|(_, doc)| {
                in_episode(doc) && doc.get(ROOT, CENTRAL_ACK_KEY).ok().flatten().is_none()
            })
            .map(|(id, _)| *id)
            .collect()
    }
}

/// Whether a record was created in an episode. Reads the header's episode alone: every
/// session asks on its start, for every record, and hydrating whole headers made that most
/// of a session's start. Every record held has a readable header (written whole, or merged
/// under the rules), so this answers as `Header::of(doc)` would.
fn in_episode(doc: &Automerge) -> bool {
    let Ok(Some((_, header))) = doc.get(ROOT, "header") else {
        return false;
    };
    autosurgeon::hydrate_prop::<_, Option<EpisodeId>, _, _>(doc, &header, "episode")
        .is_ok_and(|episode| episode.is_some())
}

/// What the rules need to know, read from the documents themselves (the store keeps an index;
/// here a scan will do).
impl Knowledge for Inner {
    fn overlapping_range(&self, grant: Grant, except: RecordId) -> Answer<RecordId> {
        Ok(self.docs.iter().find_map(|(id, doc)| {
            if *id == except || !Header::of(doc).is_ok_and(|h| h.kind == RecordKind::Lease) {
                return None;
            }
            let lease: Lease = autosurgeon::hydrate(doc).ok()?;
            let range = lease.range?;
            let same = Series::parse(&lease.series) == Some(grant.series);
            (same && range.start <= grant.end && grant.start <= range.end).then_some(*id)
        }))
    }

    fn episode_opened_ms(&self, id: &EpisodeId) -> Answer<UnixMs> {
        Ok(self.docs.values().find_map(|doc| {
            if !Header::of(doc).is_ok_and(|h| h.kind == RecordKind::Episode) {
                return None;
            }
            let episode: Episode = autosurgeon::hydrate(doc).ok()?;
            (episode.episode_id == *id).then_some(episode.opened_ms)
        }))
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}
