//! What a session does with what the peer sends: its hello (where to resume, whether it
//! lost history), its batches (applied in one step under the permissions, then acked) and
//! its sync-protocol messages.

use lifeline_core::RecordId;
use lifeline_core::automerge::ChangeHash;
use lifeline_core::record::Header;
use lifeline_core::store::{ApplyCheck, IncomingDoc, Refusal};

use super::{MAX_FETCH, Session, SessionError, Violation, to_wire};
use crate::frame::{Ack, Batch, Frame, Hello, PROTOCOL_VERSION, WireDoc, WireId};
use crate::permissions;
use crate::replica::{PeerFeed, Replica};

impl<R: Replica> Session<R> {
    pub(super) fn on_hello(&mut self, hello: Hello) -> Result<(), SessionError> {
        if self.peer_hello.is_some() {
            return Err(self.violation(Violation::SecondHello));
        }
        if hello.protocol != PROTOCOL_VERSION {
            return Err(self.violation(Violation::ProtocolVersion {
                theirs: hello.protocol,
                ours: PROTOCOL_VERSION,
            }));
        }
        permissions::check_hello_name(&self.peer, &hello.node).map_err(|e| self.violation(e))?;
        let state = self.replica.peer_state(&self.peer.name)?;
        let new_incarnation = state
            .peer_incarnation
            .as_ref()
            .is_some_and(|seen| *seen != hello.incarnation);
        // The peer has less of our feed than it acknowledged: it lost history.
        if hello.applied_from_you < state.acked_by_peer || new_incarnation {
            tracing::warn!(
                peer = %self.peer.name,
                acked = state.acked_by_peer,
                peer_has = hello.applied_from_you,
                new_incarnation,
                "peer came back with less than it had: resending from its cursor"
            );
            self.replica
                .reset_peer(&self.peer.name, hello.applied_from_you)?;
        }
        self.send_cursor = hello.applied_from_you;
        self.sent_upto = hello.applied_from_you;
        // We have applied more of the peer's feed than the peer now has: its feed restarted.
        let feed = if state.applied_from_peer > hello.feed_head || new_incarnation {
            PeerFeed::Restarted
        } else {
            PeerFeed::Continues
        };
        self.replica
            .remember_hello(&self.peer.name, hello.incarnation.clone(), feed)?;
        if feed == PeerFeed::Restarted {
            tracing::warn!(peer = %self.peer.name, "peer's feed restarted: asking for everything");
            self.push(Frame::Rewind {
                applied_from_you: 0,
            });
        }
        self.peer_hello = Some(hello);
        self.fill()
    }

    /// The permission check for this peer's changes, as the replica applies them.
    pub(super) fn check(&self) -> Box<ApplyCheck> {
        let roster = self.roster.clone();
        let peer = self.peer.clone();
        Box::new(
            move |header: &Header, authors: &[String]| match roster.read() {
                Ok(r) => permissions::check(&r, &peer, header, authors),
                Err(_) => Err(Refusal::RosterUnavailable),
            },
        )
    }

    pub(super) fn on_batch(&mut self, batch: Batch) -> Result<(), SessionError> {
        let mut items = Vec::with_capacity(batch.docs.len());
        for doc in batch.docs {
            let heads = doc.heads.into_iter().map(ChangeHash).collect();
            items.push(IncomingDoc {
                id: RecordId::from_bytes(doc.id),
                bytes: doc.bytes,
                sender_heads: heads,
                seq: doc.seq,
            });
        }
        self.stats.docs_received += items.len() as u64;
        self.stats.doc_bytes_received += items.iter().map(|i| i.bytes.len() as u64).sum::<u64>();
        let check = self.check();
        let outcome = self
            .replica
            .apply_batch(&self.peer.name, items, batch.upto, check)?;
        self.stats.rejected_received += outcome.rejected.len() as u64;
        for r in &outcome.rejected {
            *self
                .stats
                .rejected_by_reason
                .entry(r.reason.code())
                .or_insert(0) += 1;
        }
        self.push(Frame::Ack(Ack {
            batch: batch.batch,
            applied_upto: outcome.applied_upto,
            missing: outcome.missing_deps.iter().map(|id| to_wire(*id)).collect(),
            rejected: outcome
                .rejected
                .iter()
                .map(|r| (to_wire(r.id), r.reason.detail()))
                .collect(),
        }));
        Ok(())
    }

    pub(super) fn on_sync(&mut self, id: RecordId, message: Vec<u8>) -> Result<(), SessionError> {
        let state = match self.syncing.remove(&id) {
            Some(s) => s,
            None if self.syncing.len() >= self.cfg.max_syncing => {
                return Err(self.violation(Violation::TooManySyncing {
                    limit: self.cfg.max_syncing,
                }));
            }
            None => self.replica.sync_state(&self.peer.name, id)?,
        };
        let check = self.check();
        let (state, result) =
            self.replica
                .sync_receive(&self.peer.name, id, state, message, check)?;
        if let Err(reason) = result {
            tracing::warn!(peer = %self.peer.name, %id, reason = %reason.detail(), "refused a sync message");
            self.stats.rejected_received += 1;
            *self
                .stats
                .rejected_by_reason
                .entry(reason.code())
                .or_insert(0) += 1;
            return Ok(());
        }
        self.send_sync(id, state)
    }

    /// A peer asks for whole records (a window fetching what it no longer keeps): answered
    /// with those held, as stored.
    pub(super) fn on_fetch(&mut self, request: u64, ids: Vec<WireId>) -> Result<(), SessionError> {
        if ids.len() > MAX_FETCH {
            return Err(self.violation(Violation::FetchTooLarge { limit: MAX_FETCH }));
        }
        let ids: Vec<RecordId> = ids.into_iter().map(RecordId::from_bytes).collect();
        let docs = self.replica.whole(&ids)?;
        let missing = ids
            .iter()
            .filter(|id| !docs.iter().any(|d| d.id == **id))
            .map(|id| to_wire(*id))
            .collect();
        let docs = docs
            .into_iter()
            .map(|d| WireDoc {
                id: to_wire(d.id),
                seq: 0,
                heads: d.heads.iter().map(|h| h.0).collect(),
                bytes: d.bytes,
            })
            .collect();
        self.push(Frame::Fetched {
            request,
            docs,
            missing,
        });
        Ok(())
    }
}
