//! Repairing digests that stay different. Each side compares digests with the other once
//! caught up (at every catch-up, and every 10 s after); a bucket may differ for a moment (a
//! record on its way). A bucket that has differed with the same values on both sides for a
//! whole digest period (`SessionConfig::digest_every`: nothing in it changed on either side
//! meanwhile, and still they differ) has drifted: this side offers the peer every record of
//! that bucket at our heads, whatever we believed the peer held, and sends whole those it asks
//! for (what we believed of them was wrong). The peer does the same from its side at its own
//! comparison, so both end with what either held. A repair offers at most
//! [`MOST_REPAIR_RECORDS`] records; a bucket still different after it is repaired again once
//! it has differed a whole period more, and no bucket is repaired again within
//! [`REPAIR_GAP_PERIODS`] of its last repair (another bucket that drifted since may be: two
//! drifts a few seconds apart are both repaired within two periods, not one a minute after
//! the other). Only a digest that answers our own oldest request is compared.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use lifeline_core::RecordId;
use lifeline_core::automerge::ChangeHash;
use lifeline_core::store::{DIGEST_BUCKETS, Digest, Scope};

use super::{Convergence, Session, SessionError};
use crate::frame::WireDigest;
use crate::replica::Replica;

/// Most records one repair offers (a bucket holds a 64th of the records: about 31,000 at two
/// million).
pub(super) const MOST_REPAIR_RECORDS: usize = 65_536;

/// Periods (`digest_every`) from one repair of a bucket to the next with the same peer, at
/// least: a drift is not urgent, and a peer answering with made-up digests must not keep this
/// node reading its indexes and offering records (each bucket is at most read once in this
/// time: the whole store at most, as when every bucket differs at once).
const REPAIR_GAP_PERIODS: u32 = 6;

/// Our digest requests not answered yet, at most (an honest peer answers each at once).
const MOST_DIGESTS_ASKED: usize = 4;

/// A bucket that differed at a comparison: its number and both sides' values.
type Differing = (u8, String, String);

/// The buckets that differ, each with both values and when they were first seen so (for one
/// scope), and the records of a repair still to offer.
#[derive(Debug, Default)]
pub(super) struct Repair {
    /// The scopes of our digest requests not answered yet, oldest first: a digest the peer
    /// sends is taken only as the answer to the oldest.
    asked: VecDeque<Scope>,
    scope: Option<Scope>,
    differing: BTreeMap<u8, (String, String, Instant)>,
    /// When each bucket may be repaired again (set when a repair of it starts).
    next_repair: BTreeMap<u8, Instant>,
    pub(super) queue: VecDeque<(RecordId, Vec<ChangeHash>)>,
}

impl Repair {
    /// Whether to ask the peer for its digest of `scope` (not while too many requests are
    /// unanswered); remembered when so.
    pub(super) fn ask(&mut self, scope: Scope) -> bool {
        if self.asked.len() >= MOST_DIGESTS_ASKED {
            return false;
        }
        self.asked.push_back(scope);
        true
    }

    /// Takes a comparison's differing buckets at `now`; returns those that have differed
    /// with the same values for at least `period`.
    fn compared(
        &mut self,
        scope: Scope,
        now_differing: Vec<Differing>,
        now: Instant,
        period: std::time::Duration,
    ) -> Vec<u8> {
        if self.scope != Some(scope) {
            self.scope = Some(scope);
            self.differing.clear();
        }
        let mut next = BTreeMap::new();
        for (b, ours, theirs) in now_differing {
            let since = match self.differing.get(&b) {
                Some((o, t, since)) if *o == ours && *t == theirs => *since,
                _ => now,
            };
            next.insert(b, (ours, theirs, since));
        }
        self.differing = next;
        self.differing
            .iter()
            .filter(|(_, (_, _, since))| now.saturating_duration_since(*since) >= period)
            .map(|(b, _)| *b)
            .collect()
    }

    /// A repair of these buckets starts at `now`: if they still differ after it, they must
    /// differ a whole period again, and none of them is repaired again for
    /// [`REPAIR_GAP_PERIODS`].
    fn repairing(&mut self, buckets: &[u8], now: Instant, period: std::time::Duration) {
        for b in buckets {
            if let Some((_, _, since)) = self.differing.get_mut(b) {
                *since = now;
            }
            self.next_repair
                .insert(*b, now + period * REPAIR_GAP_PERIODS);
        }
    }

    /// Whether bucket `b` may be repaired at `now`.
    fn may_repair(&self, b: u8, now: Instant) -> bool {
        self.next_repair.get(&b).is_none_or(|at| now >= *at)
    }
}

/// Buckets that differ between our digest and the peer's, with both values.
fn differing(ours: &Digest, theirs: &WireDigest) -> Vec<Differing> {
    let at = |buckets: &[String], b: usize| buckets.get(b).cloned().unwrap_or_default();
    (0..DIGEST_BUCKETS)
        .filter(|&b| ours.buckets.get(b) != theirs.buckets.get(b))
        .filter_map(|b| {
            Some((
                u8::try_from(b).ok()?,
                at(&ours.buckets, b),
                at(&theirs.buckets, b),
            ))
        })
        .collect()
}

impl<R: Replica> Session<R> {
    /// The peer's digest, answering ours: compared, and the buckets that stayed different
    /// since the last comparison repaired.
    pub(super) fn on_digest(
        &mut self,
        theirs: WireDigest,
        now: Instant,
    ) -> Result<(), SessionError> {
        // Only an answer to our oldest request counts: a digest nobody asked for, or of
        // another scope, is ignored (an honest peer never sends one).
        if self.repair.asked.pop_front() != Some(theirs.scope) {
            tracing::debug!(peer = %self.peer.name, "a digest that answers no request of ours; ignored");
            return Ok(());
        }
        let ours = self.replica.digest(theirs.scope)?;
        let differing_now = differing(&ours, &theirs);
        let agreeing: Vec<u8> = (0..DIGEST_BUCKETS)
            .filter_map(|b| u8::try_from(b).ok())
            .filter(|b| differing_now.iter().all(|(d, _, _)| d != b))
            .collect();
        self.replica
            .settle_waiting(&self.peer.name, theirs.scope, &agreeing)?;
        self.convergence = Some(Convergence {
            in_sync: ours.records == theirs.records && ours.buckets == theirs.buckets,
            our_records: ours.records,
            peer_records: theirs.records,
        });
        let stuck: Vec<u8> = (self.repair)
            .compared(theirs.scope, differing_now, now, self.cfg.digest_every)
            .into_iter()
            .filter(|b| self.repair.may_repair(*b, now))
            .collect();
        if stuck.is_empty() || self.repairing() {
            return Ok(());
        }
        self.repair.repairing(&stuck, now, self.cfg.digest_every);
        let records = self
            .replica
            .bucket_heads(theirs.scope, &stuck, MOST_REPAIR_RECORDS)?;
        tracing::warn!(
            peer = %self.peer.name,
            buckets = ?stuck,
            records = records.len(),
            "digests stayed different: offering the records of the buckets that differ"
        );
        self.stats.repairs += 1;
        self.stats.repair_records_offered += records.len() as u64;
        self.repair.queue.extend(records);
        self.fill()
    }

    /// Whether a repair is under way: records still to offer, or offers not answered.
    fn repairing(&self) -> bool {
        !self.repair.queue.is_empty() || self.offers.iter().any(|o| o.repair)
    }

    /// Offers the next records of a repair (a batch's worth).
    pub(super) fn offer_repair(&mut self) {
        let n = self.repair.queue.len().min(self.cfg.batch_docs.max(1));
        let docs: Vec<(RecordId, Vec<ChangeHash>)> = self.repair.queue.drain(..n).collect();
        self.send_offer(docs, false, None, true);
    }

    /// The peer answered a repair's offer: it holds the records it did not ask for (as
    /// recorded), and those it asks for go whole, as it lacks what we believed it held.
    /// Those it asks for "later" (another peer is sending them) are left to that peer.
    pub(super) fn on_repair_want(
        &mut self,
        offered: Vec<(RecordId, Vec<ChangeHash>)>,
        asked: &std::collections::HashSet<RecordId>,
        later: &std::collections::HashSet<RecordId>,
    ) -> Result<(), SessionError> {
        let (wanted, rest): (Vec<_>, Vec<_>) =
            offered.into_iter().partition(|(id, _)| asked.contains(id));
        let held: Vec<_> = rest
            .into_iter()
            .filter(|(id, _)| !later.contains(id))
            .collect();
        if !held.is_empty() {
            self.replica
                .record_ack(&self.peer.name, self.send_cursor, held)?;
        }
        let wanted: Vec<RecordId> = wanted.into_iter().map(|(id, _)| id).collect();
        if !wanted.is_empty() {
            self.stats.repair_records_sent += wanted.len() as u64;
            self.replica.forget_peer_heads(&self.peer.name, &wanted)?;
            self.wanted.extend(wanted);
        }
        self.fill()
    }
}
