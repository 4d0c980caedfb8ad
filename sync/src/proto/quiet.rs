//! What a streaming session leaves unwritten for a while. Every write to the store is a
//! commit and an fsync: while a new window took a hospital's 235,000 records
//! (`lifeline-bench scale`, 923 batches), central made 1,843 commits for the sync besides its
//! desks' (one per acknowledgement of a batch it sent, one per empty batch the window sent
//! back), and the window 1,895. With what follows, 289 and 988, and the window was ready
//! about a tenth sooner on a disk shared with central.
//!
//! - **A cursor-only page.** A feed page the peer holds all of moves the peer's cursor into
//!   our feed and nothing else. While this node is still taking the peer's own feed, every
//!   page of ours is mostly records it has just taken from the peer (a new window's feed is
//!   central's records, echoed), so one empty batch went back per batch received, and the
//!   peer committed its cursor for each. Now such pages go as one empty batch every
//!   [`CURSOR_PAGES`] pages, and at once when a page with records follows, when the peer's
//!   batches reach the head its hello named, or at the next heartbeat. A cursor the peer did
//!   not hear before a reconnect costs a rescan of those pages, which finds them held.
//! - **The peer's acks.** What the peer acknowledged of our feed (the records it now holds
//!   and its cursor) is recorded once for up to [`ACKS`] batches, at once when nothing more
//!   is in flight or when the peer says goodbye, and at once for records sent outside the
//!   feed (the feed, which holds them too, must find them held). An ack not recorded when the
//!   connection drops costs those records sent again; the peer finds them unchanged.

use lifeline_core::RecordId;
use lifeline_core::automerge::ChangeHash;

use super::{Session, SessionError};
use crate::replica::Replica;

/// Cursor-only pages folded into one empty batch at most. Below the passes of one fill, so
/// that a fill that found only such pages leaves a batch in flight, whose ack fills again.
pub(super) const CURSOR_PAGES: u32 = 32;

const _: () = assert!(CURSOR_PAGES < super::send::FILL_PASSES as u32);

/// Acknowledged batches recorded in one write at most.
pub(super) const ACKS: u32 = 4;

/// What the session has not written or sent yet, and what decides whether it may wait.
#[derive(Debug, Default)]
pub(super) struct Unwritten {
    /// The last cursor-only page not sent, and how many such pages it ends.
    cursor: Option<(u64, u32)>,
    /// Acknowledged and not recorded.
    acks: Option<Acks>,
    /// Our feed's head as our hello told it: the pages up to it were there before the
    /// session, and always go at once.
    own_head: u64,
    /// The furthest place in its feed the peer's batches have named.
    peer_upto: u64,
}

/// Acks not recorded yet.
#[derive(Debug)]
struct Acks {
    /// The peer's cursor into our feed.
    upto: u64,
    /// The records it now holds, at these heads.
    held: Vec<(RecordId, Vec<ChangeHash>)>,
    /// Of how many acks.
    count: u32,
}

impl Unwritten {
    pub(super) fn new(own_head: u64) -> Unwritten {
        Unwritten {
            own_head,
            ..Unwritten::default()
        }
    }
}

impl<R: Replica> Session<R> {
    /// Whether a feed page the peer holds all of, starting after `from`, may wait to move
    /// the peer's cursor: its rows were all written during this session (the records this
    /// node took from the peer, echoed), and the peer is still sending what its feed held at
    /// its hello. Neither side ever keeps back a page of what it held at the start, so each
    /// one's stream of it ends, and the other then sends what it kept: two nodes never wait
    /// for each other.
    pub(super) fn cursor_may_wait(&self, from: u64) -> bool {
        from >= self.unwritten.own_head && self.peer_streaming()
    }

    /// Whether the peer's batches have not yet reached its feed's head as of its hello.
    fn peer_streaming(&self) -> bool {
        self.peer_hello
            .as_ref()
            .is_some_and(|h| self.unwritten.peer_upto < h.feed_head)
    }

    /// A batch from the peer named its feed up to `upto`: once that reaches the head of its
    /// hello, the pages kept go.
    pub(super) fn peer_sent_upto(&mut self, upto: Option<u64>) {
        if let Some(upto) = upto {
            self.unwritten.peer_upto = self.unwritten.peer_upto.max(upto);
        }
        if !self.peer_streaming() {
            self.send_unsent_cursor();
        }
    }

    /// Keeps a cursor-only page, up to `upto`, for a later empty batch; sends them once
    /// there are [`CURSOR_PAGES`].
    pub(super) fn defer_cursor(&mut self, upto: u64) {
        let pages = self.unwritten.cursor.map_or(0, |(_, n)| n) + 1;
        self.unwritten.cursor = Some((upto, pages));
        if pages >= CURSOR_PAGES {
            self.send_unsent_cursor();
        }
    }

    /// Sends the cursor-only pages kept, as one empty batch.
    pub(super) fn send_unsent_cursor(&mut self) {
        if let Some((upto, _)) = self.unwritten.cursor.take() {
            self.send_batch(Some(upto), Vec::new());
        }
    }

    /// Forgets the cursor-only pages kept and the acks not recorded (a rewind: the peer lost
    /// what it acknowledged, and our cursor goes back).
    pub(super) fn drop_unwritten(&mut self) {
        self.unwritten.cursor = None;
        self.unwritten.acks = None;
    }

    /// Notes an ack of our feed: the peer's cursor is now `upto`, and it holds these records
    /// at these heads. Recorded with the next ones, up to [`ACKS`] acks at a time, or by
    /// [`Session::record_acks`].
    pub(super) fn note_ack(&mut self, upto: u64, heads: Vec<(RecordId, Vec<ChangeHash>)>) {
        let acks = self.unwritten.acks.get_or_insert_with(|| Acks {
            upto,
            held: Vec::new(),
            count: 0,
        });
        acks.upto = acks.upto.max(upto);
        acks.held.extend(heads);
        acks.count += 1;
    }

    /// Whether the acks noted should be recorded now: there are [`ACKS`] of them, or nothing
    /// more is in flight (the peer has everything sent, and a status asked now must say so).
    pub(super) fn acks_due(&self) -> bool {
        self.unwritten
            .acks
            .as_ref()
            .is_some_and(|a| a.count >= ACKS || self.in_flight.is_empty())
    }

    /// Records the acks noted, in one write.
    pub(super) fn record_acks(&mut self) -> Result<(), SessionError> {
        if let Some(acks) = self.unwritten.acks.take() {
            self.replica
                .record_ack(&self.peer.name, acks.upto, acks.held)?;
        }
        Ok(())
    }

    /// Whether nothing is left unwritten or unsent.
    pub(super) fn all_written(&self) -> bool {
        self.unwritten.cursor.is_none() && self.unwritten.acks.is_none()
    }
}
