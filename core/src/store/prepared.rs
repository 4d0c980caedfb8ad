//! Merging and judging a peer's batch before it reaches the writer, so that the one writer
//! thread only persists it.
//!
//! A received record costs most of its time in [`merge`]: loading its changes, verifying
//! their signatures, reading the fields the rules check and hydrating the whole record. None
//! of that needs the write transaction when the record's base is known, so the connection
//! that received a batch calls [`Store::prepare_batch`] on its own thread (a long batch in two
//! halves, on that thread and one more), while the writer commits the batch before it. The
//! writer then takes each prepared merge instead of merging again, but only when nothing it
//! was judged by can have changed since:
//! - the same changes (byte for byte) with the same sender's heads;
//! - the same base: our copy of the record has exactly the heads it was merged onto (heads
//!   name a document's whole content);
//! - a roster that judges alike: the same one, or one grown from it only by admitting nodes
//!   it did not know (the windows connecting after an outage, each admitted as it comes;
//!   no revocation, no member replaced, see `Roster::judges_like`);
//! - the same signature bytes for every commit it was judged by (the writer keeps the commits
//!   of the batch it applies, and another batch may carry the same changes with signatures
//!   that do not verify);
//! - no rule asked what other records say ([`Knowledge`]: granted ranges, episodes), which
//!   another commit could have changed; such records are merged again on the writer.
//!
//! Anything else (a refusal, missing dependencies, a record that changed meanwhile) is left to
//! the writer, which merges as if nothing had been prepared: a prepared merge is only ever a
//! result the writer would have computed itself.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use automerge::{Automerge, ChangeHash};

use super::Store;
use super::apply::authorship;
use super::error::ReadError;
use super::merge::{IncomingDoc, Merge, merge};
use crate::clock::UnixMs;
use crate::id::{EpisodeId, RecordId};
use crate::trust::{
    Answer, CommitId, Grant, Judge, Knowledge, Roster, Signatures, Unknowable, Verdict,
};

/// Most prepared merges kept, over all connections: a few batches read ahead of each
/// session. Past it the oldest are dropped (the writer then merges those itself).
pub(crate) const MAX_PREPARED: usize = 4096;

/// Batches of at least this many records not held are prepared in two halves at once, on
/// the receiving thread and one more: central taking a window's 30,000 records waited on one
/// thread's preparing (loading each record, rebuilding its changes to judge them) while its
/// writer had time to spare; in two halves the replication benchmark's initial sync takes a
/// ninth less time (bench/README, "replication").
const PREPARE_IN_TWO_FROM: usize = 64;

/// Whether the machine has two CPUs or more for [`PREPARE_IN_TWO_FROM`].
fn two_cpus() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// A merge done ahead of the writer, and what it was done against.
#[derive(Debug)]
struct Entry {
    /// When it was kept, to tell it from an earlier entry of the same record in `order`.
    seq: u64,
    bytes: Vec<u8>,
    sender_heads: Vec<ChangeHash>,
    base: Vec<ChangeHash>,
    roster: Arc<Roster>,
    doc: Box<Automerge>,
    complete: bool,
    verdict: Verdict,
    as_sent: bool,
    /// The signature bytes, as they came with the prepared batch, of each commit the verdict
    /// names (`verdict.signed_by`, in order): the writer keeps the commits of the batch it
    /// applies, so it takes the merge only for the very signatures it was judged with.
    signed: Vec<Option<Vec<u8>>>,
}

/// The signature bytes of each commit `verdict` names, as `judge`'s batch has them.
fn signatures_named(verdict: &Verdict, judge: &Judge<'_>) -> Vec<Option<Vec<u8>>> {
    (verdict.signed_by.iter())
        .map(|(_, id)| judge.commit(id).map(|c| c.signature.clone()))
        .collect()
}

/// The prepared merges waiting for the writer, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    entries: HashMap<RecordId, Entry>,
    /// Every entry kept, by (seq, record), oldest first; an entry taken or replaced since
    /// leaves its place here until eviction or compaction passes it.
    order: VecDeque<(u64, RecordId)>,
    next: u64,
    /// Prepared merges the writer took (for tests).
    used: u64,
}

impl Prepared {
    fn insert(&mut self, id: RecordId, mut entry: Entry) {
        self.next += 1;
        entry.seq = self.next;
        self.entries.insert(id, entry);
        self.order.push_back((self.next, id));
        while self.entries.len() > MAX_PREPARED {
            let Some((seq, oldest)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&oldest).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&oldest);
            }
        }
        if self.order.len() > 2 * MAX_PREPARED {
            let entries = &self.entries;
            self.order
                .retain(|(seq, id)| entries.get(id).is_some_and(|e| e.seq == *seq));
        }
    }

    /// The merge prepared for `item` onto a copy at `base` under `judge`'s roster and with
    /// its batch's signatures, if there is one that still holds. Taken either way: an entry
    /// that does not hold is never used.
    pub(crate) fn take(
        &mut self,
        item: &IncomingDoc,
        base: &[ChangeHash],
        judge: &Judge<'_>,
    ) -> Option<Merge> {
        let entry = self.entries.remove(&item.id)?;
        let holds = entry.bytes == item.bytes
            && entry.sender_heads == item.sender_heads
            && entry.base == base
            && judge.roster.judges_like(&entry.roster)
            && entry.signed == signatures_named(&entry.verdict, judge);
        self.used += u64::from(holds);
        holds.then(|| Merge::Changed {
            doc: entry.doc,
            complete: entry.complete,
            verdict: entry.verdict,
            as_sent: entry.as_sent,
        })
    }
}

/// [`Knowledge`] that answers nothing and remembers that it was asked: a record whose rules
/// need other records is merged on the writer, against the transaction.
#[derive(Default)]
struct Unasked {
    asked: Cell<bool>,
}

impl Unasked {
    fn refuse<T>(&self, what: &'static str) -> Answer<T> {
        self.asked.set(true);
        Err(Unknowable { what })
    }
}

impl Knowledge for Unasked {
    fn overlapping_range(&self, _: Grant, _: RecordId) -> Answer<RecordId> {
        self.refuse("the granted number ranges (merged on the writer)")
    }

    fn episode_opened_ms(&self, _: &EpisodeId) -> Answer<UnixMs> {
        self.refuse("the episodes (merged on the writer)")
    }
}

impl Store {
    /// Merges and judges a peer's batch ahead of its commit, on the calling thread, against
    /// the records as they are now (see the module's notes); [`Store::apply_batch`] then
    /// uses what still holds. Changes nothing stored and answers nothing: the batch's outcome
    /// is the apply's. Returns how many records were prepared.
    pub fn prepare_batch(
        &self,
        items: Vec<IncomingDoc>,
        signatures: &[Vec<u8>],
    ) -> Result<usize, ReadError> {
        // Only what the cache can keep until the writer comes to it: a merge evicted before
        // that would be work done twice (many peers sending at once, a slow writer).
        let room = (self.shared.prepared.lock().ok())
            .is_some_and(|p| p.entries.len() + items.len() <= MAX_PREPARED);
        if !room {
            return Ok(0);
        }
        let held = self.holding(items.iter().map(|i| (i.id, i.sender_heads.as_slice())))?;
        // Held already (relayed by several peers): the writer sees so from the indexes alone,
        // with nothing to merge.
        let mut work: Vec<IncomingDoc> = items
            .into_iter()
            .zip(held)
            .filter_map(|(item, held)| (!held).then_some(item))
            .collect();
        let roster = self.roster();
        let ready = if work.len() < PREPARE_IN_TWO_FROM || !two_cpus() {
            self.prepare_part(work, &roster, signatures)?
        } else {
            let second = work.split_off(work.len().div_ceil(2));
            std::thread::scope(|scope| -> Result<_, ReadError> {
                let other = std::thread::Builder::new()
                    .name("store-prepare".into())
                    .spawn_scoped(scope, || self.prepare_part(second, &roster, signatures));
                let mine = self.prepare_part(work, &roster, signatures);
                // A half that did not run or failed is left to the writer, as any record
                // not prepared is.
                let theirs = other.map(|half| half.join());
                let mut ready = mine?;
                match theirs {
                    Ok(Ok(Ok(theirs))) => ready.extend(theirs),
                    Ok(Ok(Err(e))) => tracing::debug!(error = %crate::error::Chain(&e),
                        "cannot prepare half a batch; the writer merges it"),
                    Ok(Err(_)) => {
                        tracing::warn!("preparing half a batch failed; the writer merges it")
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "no thread for half a batch; the writer merges it")
                    }
                }
                Ok(ready)
            })?
        };
        let count = ready.len();
        if let Ok(mut prepared) = self.shared.prepared.lock() {
            for (id, entry) in ready {
                prepared.insert(id, entry);
            }
        }
        Ok(count)
    }

    /// Merges and judges `items`, none of which this store holds yet at its sender's heads:
    /// the merges that [`Store::apply_batch`] may take as they are.
    fn prepare_part(
        &self,
        items: Vec<IncomingDoc>,
        roster: &Arc<Roster>,
        signatures: &[Vec<u8>],
    ) -> Result<Vec<(RecordId, Entry)>, ReadError> {
        let (decoded, _) = Signatures::decode(signatures);
        let mut decoded = decoded.remembering(Arc::clone(&self.shared.verified));
        let not_held = |_: &CommitId| false;
        let unasked = Unasked::default();
        let mut judge = Judge {
            roster,
            authorship: authorship(self.shared.opts.author_check, &mut decoded, &not_held),
            knowledge: &unasked,
        };
        let mut ready = Vec::with_capacity(items.len());
        for item in items {
            let existing = self.doc(item.id)?;
            let base = existing
                .as_deref()
                .map(Automerge::get_heads)
                .unwrap_or_default();
            unasked.asked.set(false);
            let merged = merge(existing.as_deref(), &item, &self.shared.actor, &mut judge);
            if let Merge::Changed {
                doc,
                complete,
                verdict,
                as_sent,
            } = merged
                && !unasked.asked.get()
            {
                let signed = signatures_named(&verdict, &judge);
                ready.push((
                    item.id,
                    Entry {
                        seq: 0,
                        bytes: item.bytes,
                        sender_heads: item.sender_heads,
                        base,
                        roster: Arc::clone(roster),
                        doc,
                        complete,
                        verdict,
                        as_sent,
                        signed,
                    },
                ));
            }
        }
        Ok(ready)
    }
}

#[cfg(test)]
impl Store {
    /// How many prepared merges wait for the writer.
    pub(crate) fn prepared_len(&self) -> usize {
        self.shared
            .prepared
            .lock()
            .map(|p| p.entries.len())
            .unwrap_or(0)
    }

    /// How many prepared merges the writer took instead of merging again.
    pub(crate) fn prepared_used(&self) -> u64 {
        self.shared.prepared.lock().map(|p| p.used).unwrap_or(0)
    }
}
