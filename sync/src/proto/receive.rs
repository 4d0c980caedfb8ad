//! What a session does with what the peer sends: its hello (where to resume, whether it
//! lost history), its roster entries (checked against the CA, then admitted), its batches
//! (capped, applied in one step under the rules with the signatures that came with them,
//! then acked) and its sync-protocol messages.

use std::collections::HashMap;

use lifeline_core::RecordId;
use lifeline_core::automerge::ChangeHash;
use lifeline_core::store::{Ask, IncomingDoc};
use lifeline_core::trust::KeyId;

use super::{MAX_FETCH, Session, SessionError, Violation, to_wire};
use crate::chain::chain;
use crate::frame::{Ack, Batch, Frame, Hello, PROTOCOL_VERSION, WireDoc, WireHash, WireId};
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
        // We have applied more of the peer's feed than the peer now has, or than it had when
        // it opened its store since we last spoke: its feed restarted. Under the same
        // incarnation that is a store copied back from an older file by hand (not through
        // `lifeline restore`): it lost what it wrote since, which we hold, and what it wrote
        // after the copy reuses sequence numbers we applied.
        let reopened = state
            .peer_opening
            .as_ref()
            .is_some_and(|seen| *seen != hello.opening);
        let feed_went_back = state.applied_from_peer > hello.feed_head
            || (reopened && state.applied_from_peer > hello.opened_feed_head);
        // A peer that applied more of our feed than there is applied an older feed of ours
        // (this store was restored, and the peer has not heard yet: our hello tells it, and it
        // rewinds): it holds at most our whole feed, and what we write next, under sequence
        // numbers it applied from the older feed, it does not hold.
        let applied_from_you = hello.applied_from_you.min(self.replica.feed_head()?);
        // The peer has less of our feed than it acknowledged, or of its own than it sent us:
        // it lost history, and what we believed it holds (from its acks and from what it sent)
        // is forgotten.
        if applied_from_you < state.acked_by_peer || new_incarnation || feed_went_back {
            tracing::warn!(
                peer = %self.peer.name,
                acked = state.acked_by_peer,
                peer_has = hello.applied_from_you,
                new_incarnation,
                feed_went_back,
                "peer came back with less than it had: resending from its cursor"
            );
            self.replica.reset_peer(&self.peer.name, applied_from_you)?;
        }
        self.send_cursor = applied_from_you;
        self.sent_upto = applied_from_you;
        let feed = if feed_went_back || new_incarnation {
            PeerFeed::Restarted
        } else {
            PeerFeed::Continues
        };
        self.replica.remember_hello(
            &self.peer.name,
            hello.incarnation.clone(),
            hello.opening.clone(),
            feed,
        )?;
        if feed == PeerFeed::Restarted {
            tracing::warn!(peer = %self.peer.name, "peer's feed restarted: asking for everything");
            self.push(Frame::Rewind {
                applied_from_you: 0,
            });
        }
        if feed == PeerFeed::Continues
            && state.waiting.is_empty()
            && state.applied_from_peer >= hello.feed_head
        {
            self.note_caught_up()?;
        }
        self.peer_offering = hello.offering;
        self.peer_hello = Some(hello);
        self.push_roster()?;
        self.fill()
    }

    /// Admits the members and revocations the CA vouches for; refuses (counts, logs) the
    /// others, which changes nothing.
    pub(super) fn on_roster(
        &mut self,
        members: Vec<Vec<u8>>,
        revocations: Vec<Vec<u8>>,
    ) -> Result<(), SessionError> {
        let entries = members.len() + revocations.len();
        if entries > self.cfg.max_roster_entries {
            return Err(self.violation(Violation::RosterTooLarge {
                entries,
                limit: self.cfg.max_roster_entries,
            }));
        }
        let roster = self.replica.roster();
        // A member held with this very certificate was checked against the CA when it was
        // admitted: checking its chain again on every connection would change nothing.
        let held: HashMap<&[u8], KeyId> = roster
            .members()
            .filter(|m| !m.credential.is_empty())
            .map(|m| (m.credential.as_slice(), m.key_id()))
            .collect();
        for der in members {
            if let Some(key) = held.get(der.as_slice()) {
                self.members_sent.insert(*key);
                continue;
            }
            match self.anchor.member(&der) {
                Ok(member) => {
                    // A member we hold need not be sent back.
                    self.members_sent.insert(member.key_id());
                    self.replica.admit(member)?;
                }
                Err(e) => {
                    self.stats.roster_refused += 1;
                    tracing::warn!(peer = %self.peer.name, reason = %chain(&e), "refused a roster member");
                }
            }
        }
        for proof in revocations {
            match self.anchor.revocation(&proof) {
                Ok(revocation) => {
                    self.revocations_sent.insert(revocation.key);
                    self.replica.revoke(revocation)?;
                }
                Err(e) => {
                    self.stats.roster_refused += 1;
                    tracing::warn!(peer = %self.peer.name, reason = %chain(&e), "refused a revocation");
                }
            }
        }
        Ok(())
    }

    pub(super) fn on_batch(&mut self, batch: Batch) -> Result<(), SessionError> {
        if batch.docs.len() > self.cfg.max_batch_docs_received {
            return Err(self.violation(Violation::BatchTooLarge {
                docs: batch.docs.len(),
                limit: self.cfg.max_batch_docs_received,
            }));
        }
        self.check_signature_count("batch", batch.signatures.len())?;
        let items: Vec<IncomingDoc> = batch.docs.into_iter().map(incoming).collect();
        self.stats.docs_received += items.len() as u64;
        self.stats.doc_bytes_received += items.iter().map(|i| i.bytes.len() as u64).sum::<u64>();
        let outcome =
            self.replica
                .apply_batch(&self.peer.name, items, batch.signatures, batch.upto)?;
        let head = self.peer_feed_head();
        if outcome.applied_upto.is_some_and(|upto| Some(upto) >= head) {
            self.note_caught_up()?;
        }
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
        self.peer_sent_upto(batch.upto);
        Ok(())
    }

    /// Notes, once a session, that we hold everything the peer's feed held at its hello.
    fn note_caught_up(&mut self) -> Result<(), SessionError> {
        if !self.noted_caught_up {
            self.replica.caught_up(&self.peer.name)?;
            self.noted_caught_up = true;
        }
        Ok(())
    }

    fn check_signature_count(&self, frame: &'static str, count: usize) -> Result<(), SessionError> {
        if count > self.cfg.max_signatures_received {
            return Err(self.violation(Violation::TooManySignatures {
                frame,
                count,
                limit: self.cfg.max_signatures_received,
            }));
        }
        Ok(())
    }

    pub(super) fn on_sync(
        &mut self,
        id: RecordId,
        message: Vec<u8>,
        signatures: Vec<Vec<u8>>,
    ) -> Result<(), SessionError> {
        self.check_signature_count("sync message", signatures.len())?;
        let state = match self.syncing.remove(&id) {
            Some(s) => s,
            None if self.syncing.len() >= self.cfg.max_syncing => {
                return Err(self.violation(Violation::TooManySyncing {
                    limit: self.cfg.max_syncing,
                }));
            }
            None => self.replica.sync_state(&self.peer.name, id)?,
        };
        let (state, result) =
            self.replica
                .sync_receive(&self.peer.name, id, state, message, signatures)?;
        if let Err(reason) = result {
            tracing::warn!(peer = %self.peer.name, %id, reason = %reason.detail(), "refused a sync message");
            self.stats.rejected_received += 1;
            *self
                .stats
                .rejected_by_reason
                .entry(reason.code())
                .or_insert(0) += 1;
            return self.start_queued_syncs();
        }
        self.send_sync(id, state)?;
        self.start_queued_syncs()
    }

    /// The peer offers records at its heads: the ones held here at those heads are recorded
    /// as held by the peer (so our feed does not send them back), and the answer asks for the
    /// others. The last offer lets our feed go on.
    pub(super) fn on_offer(
        &mut self,
        offer: u64,
        docs: Vec<(WireId, Vec<WireHash>)>,
        last: bool,
    ) -> Result<(), SessionError> {
        if docs.len() > self.cfg.max_offer_docs_received {
            return Err(self.violation(Violation::OfferTooLarge {
                docs: docs.len(),
                limit: self.cfg.max_offer_docs_received,
            }));
        }
        let offered = docs
            .into_iter()
            .map(|(id, heads)| {
                (
                    RecordId::from_bytes(id),
                    heads.into_iter().map(ChangeHash).collect(),
                )
            })
            .collect();
        let lacking = self.replica.peer_offers(&self.peer.name, offered)?;
        let (now, later): (Vec<_>, Vec<_>) =
            lacking.into_iter().partition(|(_, ask)| *ask == Ask::Now);
        self.push(Frame::Want {
            offer,
            ids: now.into_iter().map(|(id, _)| to_wire(id)).collect(),
            later: later.into_iter().map(|(id, _)| to_wire(id)).collect(),
        });
        if last && self.peer_offering {
            self.peer_offering = false;
            return self.fill();
        }
        Ok(())
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

/// A record of a peer's batch as the replica takes it.
pub(crate) fn incoming(doc: WireDoc) -> IncomingDoc {
    IncomingDoc {
        id: RecordId::from_bytes(doc.id),
        bytes: doc.bytes,
        sender_heads: doc.heads.into_iter().map(ChangeHash).collect(),
        seq: doc.seq,
    }
}
