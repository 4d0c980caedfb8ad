//! What a session sends: batches from the feed (emergency records first), one in flight at
//! a time, moved on by the peer's acks; and the sync protocol for records whose deltas
//! lacked dependencies.

use std::collections::HashSet;

use lifeline_core::RecordId;
use lifeline_core::automerge::{ChangeHash, sync};
use lifeline_core::store::OutgoingDoc;

use super::{InFlight, Session, SessionError, Violation, to_wire};
use crate::frame::{Ack, Batch, Frame, WireDoc};
use crate::replica::Replica;

/// Most passes of [`Session::fill`] that skip emergency records the peer already has.
const FILL_PASSES: usize = 64;

impl<R: Replica> Session<R> {
    pub(super) fn on_ack(&mut self, ack: Ack) -> Result<(), SessionError> {
        let Some(flight) = self.in_flight.take() else {
            return Err(self.violation(Violation::AckNotInFlight { batch: ack.batch }));
        };
        if flight.batch != ack.batch {
            return Err(self.violation(Violation::AckOutOfOrder {
                acked: ack.batch,
                in_flight: flight.batch,
            }));
        }
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
        self.replica.record_ack(&self.peer.name, upto, heads)?;
        self.send_cursor = upto;
        for id in missing {
            self.start_sync(id)?;
        }
        self.fill()
    }

    fn start_sync(&mut self, id: RecordId) -> Result<(), SessionError> {
        if self.syncing.len() >= self.cfg.max_syncing || self.syncing.contains_key(&id) {
            return Ok(());
        }
        let state = self.replica.sync_state(&self.peer.name, id)?;
        self.send_sync(id, state)
    }

    /// Sends our next sync-protocol message for a record, if there is one, and keeps the
    /// exchange open while there is.
    pub(super) fn send_sync(
        &mut self,
        id: RecordId,
        mut state: sync::State,
    ) -> Result<(), SessionError> {
        if let Some(out) = self.replica.sync_generate(id, &mut state)? {
            self.push_roster()?;
            self.stats.sync_messages += 1;
            self.syncing.insert(id, state);
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

    /// Sends the next batch if none is in flight: emergency records first, then the feed.
    pub(super) fn fill(&mut self) -> Result<(), SessionError> {
        if self.peer_hello.is_none() || self.in_flight.is_some() {
            return Ok(());
        }
        self.push_roster()?;
        if self.emergency.is_none() {
            self.emergency = Some(self.replica.unreconciled()?.into_iter().collect());
        }
        // Bounded: each pass sends a batch, or skips emergency records the peer already has.
        for _ in 0..FILL_PASSES {
            let pending: Vec<RecordId> = match self.emergency.as_mut() {
                Some(q) if !q.is_empty() => {
                    let n = q.len().min(self.cfg.batch_docs);
                    q.drain(..n).collect()
                }
                _ => Vec::new(),
            };
            if !pending.is_empty() {
                let docs = self.replica.outgoing(&self.peer.name, &pending)?;
                let wire: Vec<(u64, OutgoingDoc)> = docs.into_iter().map(|d| (0, d)).collect();
                if !wire.is_empty() {
                    self.send_batch(None, wire);
                    return Ok(());
                }
                continue;
            }
            let page = self
                .replica
                .feed_page(self.send_cursor, self.cfg.batch_docs)?;
            let Some(&(last_seq, _)) = page.last() else {
                self.caught_up = true;
                return Ok(());
            };
            let mut docs = Vec::new();
            let mut bytes = 0;
            let mut upto = last_seq;
            for (seq, id) in page {
                if let Some(doc) = self.replica.outgoing(&self.peer.name, &[id])?.pop() {
                    if !docs.is_empty() && bytes + doc.bytes.len() > self.cfg.batch_bytes {
                        upto = seq - 1;
                        break;
                    }
                    bytes += doc.bytes.len();
                    docs.push((seq, doc));
                }
                upto = seq;
            }
            // Even when the peer has all of this page already (e.g. records it sent us), the
            // batch goes, empty: the peer's cursor into our feed is the one that counts on
            // reconnect, and it must move too.
            self.send_batch(Some(upto), docs);
            return Ok(());
        }
        Ok(())
    }

    fn send_batch(&mut self, upto: Option<u64>, docs: Vec<(u64, OutgoingDoc)>) {
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
        self.in_flight = Some(InFlight { batch, upto, heads });
        self.push(Frame::Batch(Batch {
            batch,
            upto,
            docs: wire,
            signatures,
        }));
    }
}
