//! What a session sends ahead of its feed: the records of the kinds in
//! [`AHEAD_OF_THE_FEED`] (central's receipts), as soon as they are written and on their own,
//! without moving the peer's cursor. After an outage central's feed to each window holds every
//! other window's outage records, with the receipts for this window's records among them; in
//! feed order a window heard that its own records were reconciled only once all the others'
//! had reached it (84 s for 20 windows × 500 registrations, against 11 s for central to hold
//! them all). The feed, which holds the same records, skips them once the peer has
//! acknowledged them, and sends them again (held already, a small cost) if it gets there
//! first.

use lifeline_core::RecordId;
use lifeline_core::store::AHEAD_OF_THE_FEED;

use super::{Session, SessionError};
use crate::replica::Replica;

/// How far a session has looked through its feed for records to send ahead.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    /// Our feed sequence looked through so far (from the feed's own place, if further).
    scanned: u64,
    /// The batch of them in flight, if any: one at a time.
    batch: Option<u64>,
}

impl<R: Replica> Session<R> {
    /// Sends the next records to go ahead of the feed in one batch: `true` when it sent one.
    /// Each call looks through one page of the feed at most ([`FEED_PAGE_SCAN`] rows), so a
    /// peer far behind (a new window) is looked through a page per call, well ahead of its
    /// feed, without a long pause in any.
    ///
    /// [`FEED_PAGE_SCAN`]: lifeline_core::store::FEED_PAGE_SCAN
    pub(super) fn send_ahead(&mut self) -> Result<bool, SessionError> {
        if self.ahead_in_flight() {
            return Ok(false);
        }
        let after = self.ahead.scanned.max(self.sent_upto);
        let page = self.replica.feed_page(
            &self.peer.name,
            after,
            self.cfg.batch_docs,
            self.send_scope(),
            Some(&AHEAD_OF_THE_FEED),
        )?;
        let Some(mut scanned) = page.upto else {
            return Ok(false);
        };
        let ids: Vec<RecordId> = page.entries.iter().map(|(_, id)| *id).collect();
        let mut next = self
            .replica
            .outgoing(&self.peer.name, &ids)?
            .into_iter()
            .peekable();
        let mut docs = Vec::new();
        let mut bytes = 0;
        // The records the peer holds already are left out of `outgoing`, in the page's order.
        for (seq, id) in page.entries {
            let Some(doc) = next.next_if(|d| d.id == id) else {
                continue;
            };
            let cost =
                doc.bytes.len() + doc.signatures.iter().map(|c| c.bytes.len()).sum::<usize>();
            if !docs.is_empty() && bytes + cost > self.cfg.batch_bytes {
                // The rest is looked through again at the next call.
                scanned = seq.saturating_sub(1);
                break;
            }
            bytes += cost;
            docs.push((seq, doc));
        }
        self.ahead.scanned = scanned;
        if docs.is_empty() {
            return Ok(false);
        }
        self.ahead.batch = Some(self.send_batch(None, docs));
        Ok(true)
    }

    /// Whether a batch sent ahead of the feed is in flight (one given up by a rewind is not).
    pub(super) fn ahead_in_flight(&self) -> bool {
        self.ahead
            .batch
            .is_some_and(|b| self.in_flight.iter().any(|f| f.batch == b))
    }

    /// Whether a batch in flight was sent ahead of the feed.
    pub(super) fn sent_ahead(&self, batch: u64) -> bool {
        self.ahead.batch == Some(batch)
    }
}
