//! What a session sends: its emergency records first, offered by id and heads and sent
//! only where the peer lacks them; then batches from the feed, a bounded window of them in
//! flight, moved on by the peer's acks; and the sync protocol for records whose deltas lacked
//! dependencies.

use std::collections::{HashSet, VecDeque};

use lifeline_core::RecordId;
use lifeline_core::automerge::{ChangeHash, sync};
use lifeline_core::roles::NodeRole;
use lifeline_core::store::{OutgoingDoc, Scope};

use super::{InFlight, Session, SessionError, Violation, to_wire};
use crate::frame::{Ack, Batch, Frame, WireDoc, WireId};
use crate::replica::Replica;

/// Most passes of [`Session::fill`], each sending a batch or an offer.
pub(super) const FILL_PASSES: usize = 64;

/// Offers sent and not answered, and batches of the records asked for not acknowledged, at
/// most: two keep the exchange streaming while each node goes through its emergency records
/// at the pace they land, so that it offers the records further on only once the ones
/// other nodes sent meanwhile are held.
const OFFERS_AHEAD: usize = 2;

/// Most records waiting for a sync exchange to free up (each costs a lookup to queue).
pub(super) const MOST_QUEUED_SYNCS: usize = 4096;

const MS_PER_DAY: i64 = 86_400_000;

/// The records created during an emergency episode that central has not acknowledged, to
/// offer first on (re)connect. After an outage every node offers central its emergency
/// records at once, and each holds most of the others' (they replicated among themselves
/// meanwhile). Each node offers the records it wrote first, which no other node does; then
/// the others', starting at its own place in the list: what it reaches then, another node
/// has most often sent already, and its offer finds it held.
pub(super) fn emergency_queue(
    replica: &impl Replica,
) -> Result<(VecDeque<RecordId>, VecDeque<RecordId>), SessionError> {
    let ids = replica.unreconciled()?;
    let ours = replica.written_here(&ids)?;
    let mut own = VecDeque::new();
    let mut others = VecDeque::with_capacity(ids.len());
    for (id, ours) in ids.into_iter().zip(ours) {
        if ours {
            own.push_back(id);
        } else {
            others.push_back(id);
        }
    }
    let start = place_of(replica.node().as_str(), others.len());
    others.rotate_left(start);
    Ok((own, others))
}

impl<R: Replica> Session<R> {
    pub(super) fn on_ack(&mut self, ack: Ack) -> Result<(), SessionError> {
        if ack.batch < self.abandoned_below
            && self.in_flight.front().is_none_or(|f| f.batch != ack.batch)
        {
            // Sent before a rewind the peer asked for: its ack was already on the way.
            tracing::debug!(peer = %self.peer.name, batch = ack.batch, "ack of a batch given up by a rewind");
            return Ok(());
        }
        let Some(front) = self.in_flight.front() else {
            return Err(self.violation(Violation::AckNotInFlight { batch: ack.batch }));
        };
        if front.batch != ack.batch {
            return Err(self.violation(Violation::AckOutOfOrder {
                acked: ack.batch,
                in_flight: front.batch,
            }));
        }
        let Some(flight) = self.in_flight.pop_front() else {
            return Err(self.violation(Violation::AckNotInFlight { batch: ack.batch }));
        };
        let missing: Vec<RecordId> = ack
            .missing
            .iter()
            .map(|w| RecordId::from_bytes(*w))
            .collect();
        let rejected: Vec<RecordId> = ack
            .rejected
            .iter()
            .map(|(w, _)| RecordId::from_bytes(*w))
            .collect();
        for (id, reason) in &ack.rejected {
            tracing::warn!(peer = %self.peer.name, id = %RecordId::from_bytes(*id), %reason, "peer refused a record");
        }
        let heads: Vec<(RecordId, Vec<ChangeHash>)> = flight
            .heads
            .into_iter()
            .filter(|(id, _)| !missing.contains(id) && !rejected.contains(id))
            .collect();
        // The sync protocol takes over the records that lacked dependencies, so the cursor
        // moves past them within this session; the peer's own cursor stays before them, so
        // after a reconnect they are sent again.
        let upto = flight
            .upto
            .unwrap_or(self.send_cursor)
            .max(self.send_cursor);
        self.note_ack(upto, heads);
        self.send_cursor = upto;
        if flight.upto.is_none() {
            // Records sent on their own: the feed holds them too, and must find them held.
            self.record_acks()?;
        }
        for id in missing {
            self.start_sync(id)?;
        }
        self.fill()?;
        if self.acks_due() {
            self.record_acks()?;
        }
        Ok(())
    }

    fn start_sync(&mut self, id: RecordId) -> Result<(), SessionError> {
        if self.syncing.contains_key(&id) {
            return Ok(());
        }
        if self.syncing.len() >= self.cfg.max_syncing {
            if self.sync_queue.len() < MOST_QUEUED_SYNCS && !self.sync_queue.contains(&id) {
                self.sync_queue.push_back(id);
            }
            return Ok(());
        }
        let state = self.replica.sync_state(&self.peer.name, id)?;
        self.send_sync(id, state)
    }

    /// Starts the queued syncs that now have room.
    pub(super) fn start_queued_syncs(&mut self) -> Result<(), SessionError> {
        while self.syncing.len() < self.cfg.max_syncing {
            let Some(id) = self.sync_queue.pop_front() else {
                break;
            };
            self.start_sync(id)?;
        }
        Ok(())
    }

    /// Sends our next sync-protocol message for a record, if there is one, and keeps the
    /// exchange open while the peer may answer it: not when the message only tells the peer
    /// that we now hold its heads (it has nothing more to say, and an entry kept for it
    /// would hold a place among `max_syncing` and keep the session from being caught up).
    pub(super) fn send_sync(
        &mut self,
        id: RecordId,
        mut state: sync::State,
    ) -> Result<(), SessionError> {
        if let Some(out) = self.replica.sync_generate(id, &mut state)? {
            self.push_roster()?;
            self.stats.sync_messages += 1;
            if state.their_heads.as_ref() != Some(&state.last_sent_heads) {
                self.syncing.insert(id, state);
            }
            self.push(Frame::Sync {
                id: to_wire(id),
                message: out.message,
                signatures: out.signatures.iter().map(|c| c.bytes.to_vec()).collect(),
            });
        }
        Ok(())
    }

    /// Sends the members (with a certificate to show) and revocations this node holds that
    /// it has not sent on this connection, ahead of any change they sign: the roster
    /// replicates, and a peer can check a change by a node it never met.
    pub(super) fn push_roster(&mut self) -> Result<(), SessionError> {
        let roster = self.replica.roster();
        let mut members = Vec::new();
        for m in roster.members() {
            if !m.credential.is_empty() && self.members_sent.insert(m.key_id()) {
                members.push(m.credential.clone());
            }
        }
        let mut revocations = Vec::new();
        for r in roster.revocations() {
            if self.revocations_sent.insert(r.key) {
                revocations.push(r.proof.clone());
            }
        }
        if !members.is_empty() || !revocations.is_empty() {
            self.push(Frame::Roster {
                members,
                revocations,
            });
        }
        Ok(())
    }

    /// The peer answered an offer: it holds the records it did not ask for, now or later, at
    /// the heads offered (recorded, so the feed does not send them). An offered feed page
    /// goes now, without those (and with those asked for later: the page moves the peer's
    /// cursor past them); an emergency offer's wanted records go first, and those asked for
    /// later are offered again after the rest.
    pub(super) fn on_want(
        &mut self,
        offer: u64,
        ids: Vec<WireId>,
        later: Vec<WireId>,
    ) -> Result<(), SessionError> {
        // A wrong answer ends the session, so the offer taken here is not put back.
        let (offered, page, repair) = match self.offers.pop_front() {
            Some(o) if o.offer == offer => (o.docs, o.page, o.repair),
            _ => return Err(self.violation(Violation::WantNotOffered { offer })),
        };
        let mut asked: HashSet<RecordId> = ids.into_iter().map(RecordId::from_bytes).collect();
        if repair {
            let later: HashSet<RecordId> = later.into_iter().map(RecordId::from_bytes).collect();
            return self.on_repair_want(offered, &asked, &later);
        }
        // A page's "later" records go with it (its cursor must not pass them), and so does a
        // record told "later" once already: an honest peer says it once per record, and a
        // peer saying it for ever must not keep this node offering.
        let mut later: HashSet<RecordId> = later.into_iter().map(RecordId::from_bytes).collect();
        later.retain(|id| {
            let now = page.is_some() || !self.told_later.insert(*id);
            if now {
                asked.insert(*id);
            }
            !now
        });
        let (wanted, rest): (Vec<_>, Vec<_>) =
            offered.into_iter().partition(|(id, _)| asked.contains(id));
        let (deferred, held): (Vec<_>, Vec<_>) =
            rest.into_iter().partition(|(id, _)| later.contains(id));
        if !deferred.is_empty() {
            self.emergency
                .extend(deferred.into_iter().map(|(id, _)| id));
            self.offering = true;
        }
        if page.is_some() {
            self.relay_yield
                .answered(wanted.len() + held.len(), held.len());
        }
        let held_ids: HashSet<RecordId> = held.iter().map(|(id, _)| *id).collect();
        if !held.is_empty() {
            self.replica
                .record_ack(&self.peer.name, self.send_cursor, held)?;
        }
        match page {
            Some(FeedPage { upto, mut docs }) => {
                docs.retain(|(_, d)| !held_ids.contains(&d.id));
                self.send_batch(Some(upto), docs);
            }
            None => self.wanted.extend(wanted.into_iter().map(|(id, _)| id)),
        }
        self.fill()
    }

    /// Offers a feed page's relayed records (those whose latest changes another node wrote)
    /// before sending them: to a server always (central and the standby hear from every
    /// node, so they most often hold such a record already, from the node that wrote it), to
    /// a window while offers pay ([`RelayYield`]). The page waits for the answer, and the
    /// next page for it: the peer's cursor never moves past a record it may lack.
    /// `Ok(Some(page))` gives the page back to go at once (offers to this window do not pay,
    /// or every record of it was written here).
    fn offer_relayed(&mut self, page: FeedPage) -> Result<Option<FeedPage>, SessionError> {
        if page.docs.is_empty() {
            return Ok(Some(page));
        }
        if self.peer.role == NodeRole::Window && !self.relay_yield.pays() {
            self.relay_yield.pages_unoffered += 1;
            return Ok(Some(page));
        }
        let ids: Vec<RecordId> = page.docs.iter().map(|(_, d)| d.id).collect();
        let ours = self.replica.written_here(&ids)?;
        let relayed: Vec<(RecordId, Vec<ChangeHash>)> = page
            .docs
            .iter()
            .zip(ours)
            .filter(|(_, ours)| !ours)
            .map(|((_, d), _)| (d.id, d.heads.clone()))
            .collect();
        if relayed.is_empty() {
            return Ok(Some(page));
        }
        self.send_offer(relayed, true, Some(page), false);
        Ok(None)
    }

    /// Offers records at these heads (`last`: the last emergency offer; `repair`: a
    /// repair's, see [`super::repair`]), keeping the offer to match the peer's answer.
    pub(super) fn send_offer(
        &mut self,
        docs: Vec<(RecordId, Vec<ChangeHash>)>,
        last: bool,
        page: Option<FeedPage>,
        repair: bool,
    ) {
        let offer = self.next_offer;
        self.next_offer += 1;
        self.push(Frame::Offer {
            offer,
            docs: docs
                .iter()
                .map(|(id, heads)| (to_wire(*id), heads.iter().map(|h| h.0).collect()))
                .collect(),
            last,
        });
        self.offers.push_back(Offered {
            offer,
            docs,
            page,
            repair,
        });
    }

    /// Offers the next emergency records the peer is not known to hold, the ones this node
    /// wrote first; the last offer says so, even when it names none. `false` when nothing
    /// could be offered yet: the others' records wait until this node's own have landed
    /// (no other node offers those, so they go at once; by the time they have landed, most
    /// of the others' have too, sent by the nodes that wrote them).
    fn offer_next(&mut self) -> Result<bool, SessionError> {
        while self.offering {
            let own = !self.own.is_empty();
            if !own && self.own_first {
                if !self.offers.is_empty() || !self.in_flight.is_empty() || !self.wanted.is_empty()
                {
                    return Ok(false);
                }
                self.own_first = false;
            }
            let queue = if own {
                &mut self.own
            } else {
                &mut self.emergency
            };
            let n = queue.len().min(self.cfg.batch_docs);
            let ids: Vec<RecordId> = queue.drain(..n).collect();
            let docs = self.replica.offer(&self.peer.name, &ids)?;
            let last = self.own.is_empty() && self.emergency.is_empty();
            if docs.is_empty() && !last {
                continue;
            }
            self.offering = !last;
            self.send_offer(docs, last, None, false);
            return Ok(true);
        }
        Ok(false)
    }

    /// Fills the in-flight window: the emergency records the peer asked for, offers of the
    /// next ones, and, once every offer is answered and the peer's own offers are done, the
    /// feed.
    pub(super) fn fill(&mut self) -> Result<(), SessionError> {
        if self.peer_hello.is_none() {
            return Ok(());
        }
        self.push_roster()?;
        let window = self.cfg.window.max(1);
        // Bounded: each pass sends a batch or an offer.
        for _ in 0..FILL_PASSES {
            if self.in_flight.len() >= window {
                return Ok(());
            }
            if !self.wanted.is_empty() {
                let n = self.wanted.len().min(self.cfg.batch_docs);
                let ids: Vec<RecordId> = self.wanted.drain(..n).collect();
                let docs = self.replica.outgoing(&self.peer.name, &ids)?;
                let wire: Vec<(u64, OutgoingDoc)> = docs.into_iter().map(|d| (0, d)).collect();
                if !wire.is_empty() {
                    self.send_batch(None, wire);
                }
                continue;
            }
            if self.send_ahead()? {
                continue;
            }
            if self.offering {
                // The records asked for count too: the next offer waits for them to land, so
                // that what other nodes send meanwhile is found held.
                if self.offers.len() + self.in_flight.len() >= OFFERS_AHEAD {
                    return Ok(());
                }
                if !self.offer_next()? {
                    return Ok(());
                }
                continue;
            }
            if !self.repair.queue.is_empty() {
                if self.offers.len() + self.in_flight.len() >= OFFERS_AHEAD {
                    return Ok(());
                }
                self.offer_repair();
                continue;
            }
            // The feed waits, too, for the acks of the records sent on their own (those the
            // peer asked for): until then it is not known to hold them, and the feed, which
            // holds them as well (a node's own emergency records), would send them again.
            if !self.offers.is_empty()
                || self.peer_offering
                || self
                    .in_flight
                    .iter()
                    .any(|b| b.upto.is_none() && !self.sent_ahead(b.batch))
            {
                return Ok(());
            }
            let scope = self.send_scope();
            let page = self.replica.feed_page(
                &self.peer.name,
                self.sent_upto,
                self.cfg.batch_docs,
                scope,
                None,
            )?;
            let Some(page_upto) = page.upto else {
                self.caught_up = true;
                if self.in_flight.is_empty() {
                    // Caught up: compare digests now rather than at the next round.
                    self.next_digest = self.last_received;
                }
                return Ok(());
            };
            let ids: Vec<RecordId> = page.entries.iter().map(|(_, id)| *id).collect();
            let outgoing = self.replica.outgoing(&self.peer.name, &ids)?;
            let mut docs = Vec::new();
            let mut bytes = 0;
            let mut upto = page_upto;
            let mut next = outgoing.into_iter().peekable();
            // The signed commits ride in the batch too (each once): they count against its
            // budget, or records whose history was signed in a few large commits (a node's
            // changes from before it had its key) would make a frame over the limit.
            let mut commits = HashSet::new();
            for (seq, id) in page.entries {
                let Some(doc) = next.next_if(|d| d.id == id) else {
                    continue;
                };
                let new_commits: usize = doc
                    .signatures
                    .iter()
                    .filter(|c| !commits.contains(&c.id))
                    .map(|c| c.bytes.len())
                    .sum();
                let cost = doc.bytes.len() + new_commits;
                if !docs.is_empty() && bytes + cost > self.cfg.batch_bytes {
                    upto = seq - 1;
                    break;
                }
                bytes += cost;
                commits.extend(doc.signatures.iter().map(|c| c.id));
                docs.push((seq, doc));
            }
            // Even when the peer has all of this page already (e.g. records it sent us, or
            // history it does not keep), the batch goes, empty: the peer's cursor into our
            // feed is the one that counts on reconnect, and it must move too. While this node
            // takes the peer's feed, such pages go together (`quiet`).
            let from = std::mem::replace(&mut self.sent_upto, upto);
            if docs.is_empty() && self.cursor_may_wait(from) {
                self.defer_cursor(upto);
                continue;
            }
            // The peer's cursor moves forward only: the pages kept go before this one.
            self.send_unsent_cursor();
            match self.offer_relayed(FeedPage { upto, docs })? {
                Some(page) => {
                    self.send_batch(Some(page.upto), page.docs);
                }
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// What the peer is offered from the feed: everything, or what a window keeps (the
    /// records of whole days from the one its hello named, so none it keeps is left out).
    pub(super) fn send_scope(&self) -> Scope {
        match self.peer_keeps_since_ms() {
            Some(since) => Scope::keeping_since(since - MS_PER_DAY),
            None => Scope::All,
        }
    }

    /// Sends a batch; returns its number.
    pub(super) fn send_batch(&mut self, upto: Option<u64>, docs: Vec<(u64, OutgoingDoc)>) -> u64 {
        let batch = self.next_batch;
        self.next_batch += 1;
        let heads = docs.iter().map(|(_, d)| (d.id, d.heads.clone())).collect();
        self.stats.batches_sent += 1;
        self.stats.docs_sent += docs.len() as u64;
        let mut seen = HashSet::new();
        let signatures = docs
            .iter()
            .flat_map(|(_, d)| d.signatures.iter())
            .filter(|c| seen.insert(c.id))
            .map(|c| c.bytes.to_vec())
            .collect();
        let wire = docs
            .into_iter()
            .map(|(seq, d)| {
                self.stats.doc_bytes_sent += d.bytes.len() as u64;
                WireDoc {
                    id: to_wire(d.id),
                    seq,
                    heads: d.heads.iter().map(|h| h.0).collect(),
                    bytes: d.bytes,
                }
            })
            .collect();
        self.in_flight.push_back(InFlight { batch, upto, heads });
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.in_flight.len());
        self.push(Frame::Batch(Batch {
            batch,
            upto,
            docs: wire,
            signatures,
        }));
        batch
    }
}

/// An offer sent and not answered yet: its number, and the records and heads it named.
pub(super) struct Offered {
    offer: u64,
    docs: Vec<(RecordId, Vec<ChangeHash>)>,
    /// For an offer of a feed page's relayed records: the page, sent once the peer answers,
    /// without what it holds. `None` for an emergency offer (or a page given up by a rewind),
    /// whose wanted records go on their own.
    pub(super) page: Option<FeedPage>,
    /// A repair's offer: the records asked for go whole.
    pub(super) repair: bool,
}

/// Pages between two offers to a window that held too few of the last one's records.
const REOFFER_AFTER_PAGES: u32 = 16;

/// What the last offer of a feed page's relayed records found the peer holding. Offering a
/// window its relayed records pays while it holds at least a quarter of them (after an
/// outage it holds most of the others' through the standby, and each one it holds is a
/// record not sent); a window that lacks nearly all (new, or back after a long absence) is
/// sent its pages at once, without a round trip each, and offered again every
/// [`REOFFER_AFTER_PAGES`] pages in case that changed. The first page is offered.
#[derive(Debug, Default)]
pub(super) struct RelayYield {
    offered: usize,
    held: usize,
    pages_unoffered: u32,
}

impl RelayYield {
    fn pays(&self) -> bool {
        self.offered == 0
            || self.held * 4 >= self.offered
            || self.pages_unoffered >= REOFFER_AFTER_PAGES
    }

    fn answered(&mut self, offered: usize, held: usize) {
        *self = RelayYield {
            offered,
            held,
            pages_unoffered: 0,
        };
    }
}

/// A page of the feed waiting for the answer to the offer of its relayed records.
pub(super) struct FeedPage {
    /// The feed sequence the batch moves the peer's cursor to.
    upto: u64,
    docs: Vec<(u64, OutgoingDoc)>,
}

/// Where in a list of `len` a node's name puts it (FNV-1a of the name): the same on every run
/// and release, and spread over the list.
pub(super) fn place_of(name: &str, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash % len as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::place_of;

    /// The nodes of a hospital start their emergency queues at different places, inside the
    /// list, the same on every run.
    #[test]
    fn each_node_starts_its_emergency_queue_at_a_place_of_its_own() {
        let names = ["central", "standby", "W01", "W02", "W03", "W04", "W05"];
        let places: std::collections::BTreeSet<usize> =
            names.iter().map(|n| place_of(n, 10_000)).collect();
        assert_eq!(places.len(), names.len(), "{places:?}");
        assert!(places.iter().all(|p| *p < 10_000));
        assert_eq!(place_of("W01", 10_000), place_of("W01", 10_000));
        assert_eq!(place_of("W01", 0), 0);
        assert_eq!(place_of("W01", 1), 0);
    }
}
