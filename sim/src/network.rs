//! The simulated network: connections between nodes, each one reliable ordered stream (as
//! the mesh's QUIC stream is) carrying encoded frames with a latency. A lost frame closes its
//! connection (the brief's model of a broken QUIC connection); a partition holds frames
//! silently, retransmitted until it lifts, so that the sessions notice the silence by their
//! own peer timeout, as they do over QUIC. A closed connection's sessions are gone, with
//! every frame in flight, and both are made anew when the link is dialled again; so frames
//! are never duplicated or reordered within a connection, and are resent across
//! connections exactly as the protocol resends them.

use lifeline_core::RecordKind;
use lifeline_sync::frame::Frame;
use lifeline_sync::proto::{Session, SessionError};

use crate::backing::Backing;
use crate::sim::{Bug, Conn, Event, Fate, InFlight, Phase, Power, Sim};

/// Latency of one frame, without delay faults.
const LATENCY_MS: (u64, u64) = (1, 30);
/// How often a frame held by a partition is sent again (QUIC retransmits until the
/// connection's idle timeout; the sessions' peer timeout comes first).
const RETRANSMIT_MS: u64 = 200;
/// Wait before dialling again after a connection closed or a dial failed.
const REDIAL_MS: (u64, u64) = (200, 2000);

impl<R: Backing> Sim<R> {
    /// Whether frames from `from` to `to` are cut.
    pub(crate) fn is_blocked(&self, from: usize, to: usize) -> bool {
        self.blocked.contains_key(&(from, to))
    }

    pub(crate) fn schedule_dial(&mut self, link: usize) {
        if self.links[link].dialing {
            return;
        }
        self.links[link].dialing = true;
        let at = self.now_ms + self.net_rng.range(REDIAL_MS.0, REDIAL_MS.1);
        self.queue.push(at, Event::Dial { link });
    }

    /// Opens the link's connection if both ends are up and can reach each other (a handshake
    /// needs both directions); otherwise tries again later.
    pub(crate) fn dial(&mut self, link: usize) {
        self.links[link].dialing = false;
        if self.links[link].conn.is_some() {
            return;
        }
        let [a, b] = self.links[link].ends;
        let reachable = self.nodes[a].power == Power::Up
            && self.nodes[b].power == Power::Up
            && !self.is_blocked(a, b)
            && !self.is_blocked(b, a);
        if !reachable {
            self.schedule_dial(link);
            return;
        }
        match self.open_sessions(a, b) {
            Ok(sessions) => {
                let l = &mut self.links[link];
                l.epoch += 1;
                l.connections += 1;
                if l.connections > 1 {
                    self.faults.reconnects += 1;
                }
                l.conn = Some(Conn {
                    sessions,
                    timers: [None, None],
                });
                let name = self.link_name(link);
                self.note(|| format!("link {name}: connected"));
                self.flush(link);
            }
            Err(e) => {
                self.fail("honest_sessions", format!("cannot start a session: {e}"));
                self.schedule_dial(link);
            }
        }
    }

    fn open_sessions(&self, a: usize, b: usize) -> Result<[Session<R>; 2], SessionError> {
        let now = self.instant();
        let make = |me: usize, peer: usize| {
            Session::new(
                self.nodes[me].replica().clone(),
                self.session_cfg.clone(),
                self.nodes[peer].identity.clone(),
                self.anchor.clone(),
                now,
            )
        };
        Ok([make(a, b)?, make(b, a)?])
    }

    /// Closes the link's connection: both sessions and every frame in flight are gone.
    pub(crate) fn disconnect(&mut self, link: usize, why: &str) {
        self.count_repairs(link);
        let l = &mut self.links[link];
        if l.conn.take().is_none() {
            return;
        }
        l.epoch += 1;
        l.armed = [false, false];
        let dropped = l
            .wire
            .iter_mut()
            .flat_map(|w| w.drain(..))
            .filter(|f| f.busy)
            .count();
        self.busy_in_flight = self.busy_in_flight.saturating_sub(dropped as u64);
        let name = self.link_name(link);
        self.note(|| format!("link {name}: closed ({why})"));
        self.schedule_dial(link);
    }

    /// Sends what both sessions of the link have to say, and arms their timers.
    pub(crate) fn flush(&mut self, link: usize) {
        for side in 0..2 {
            let mut frames = Vec::new();
            if let Some(conn) = &mut self.links[link].conn {
                while let Some(frame) = conn.sessions[side].poll_transmit() {
                    frames.push(frame);
                }
            }
            for frame in frames {
                self.send(link, side, frame);
            }
        }
        self.arm_timers(link);
    }

    /// Puts one frame on the wire from `side`: through the wire encoding, with a latency, in
    /// order behind the frames before it.
    fn send(&mut self, link: usize, side: usize, frame: Frame) {
        let frame = match self.cfg.bug {
            Some(Bug::DropKind(kind)) => match self.without_kind(frame, kind.core()) {
                Some(f) => f,
                None => return,
            },
            _ => frame,
        };
        let frame = match frame {
            Frame::Batch(batch) => Frame::Batch(self.forge_into(link, side, batch)),
            other => other,
        };
        let Some(frame) = self.through_the_wire(&frame) else {
            return;
        };
        let busy = !matches!(
            frame,
            Frame::Ping { .. }
                | Frame::Pong { .. }
                | Frame::DigestRequest { .. }
                | Frame::Digest(_)
        );
        let fate = if self.phase == Phase::Running && self.net_rng.chance(self.loss) {
            Fate::Lost
        } else {
            Fate::Arrives
        };
        let latency = self.net_rng.range(LATENCY_MS.0, LATENCY_MS.1);
        let l = &mut self.links[link];
        let last = l.wire[side].back().map_or(0, |f| f.at_ms);
        let at_ms = (self.now_ms + latency + l.extra_delay_ms).max(last);
        l.wire[side].push_back(InFlight {
            at_ms,
            frame,
            fate,
            busy,
            held: false,
        });
        if busy {
            self.busy_in_flight += 1;
        }
        self.arm_wire(link, side);
    }

    /// Schedules the delivery of the frame at the front of one end's stream, unless one is
    /// scheduled already.
    fn arm_wire(&mut self, link: usize, from: usize) {
        let l = &mut self.links[link];
        let Some(front) = l.wire[from].front() else {
            return;
        };
        if l.armed[from] {
            return;
        }
        l.armed[from] = true;
        let at = front.at_ms.max(self.now_ms);
        let epoch = l.epoch;
        self.queue.push(at, Event::Deliver { link, epoch, from });
    }

    /// The frame as the peer decodes it from its bytes.
    fn through_the_wire(&mut self, frame: &Frame) -> Option<Frame> {
        let decoded =
            frame.encode().map_err(|e| e.to_string()).and_then(|bytes| {
                match Frame::split(&bytes) {
                    Ok(Some((f, used))) if used == bytes.len() => Ok(f),
                    Ok(_) => Err("a whole frame did not decode whole".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            });
        match decoded {
            Ok(f) => Some(f),
            Err(e) => {
                let kind = frame.kind();
                self.fail(
                    "wire",
                    format!("a {kind} frame does not survive the wire: {e}"),
                );
                None
            }
        }
    }

    /// The injected bug: records of `kind` left out of batches, and their sync messages not
    /// sent.
    fn without_kind(&self, frame: Frame, kind: RecordKind) -> Option<Frame> {
        let of_kind = |id: [u8; 16]| {
            self.ledger.kind_of(lifeline_core::RecordId::from_bytes(id)) == Some(kind)
        };
        match frame {
            Frame::Batch(mut batch) => {
                batch.docs.retain(|d| !of_kind(d.id));
                Some(Frame::Batch(batch))
            }
            Frame::Sync { id, .. } if of_kind(id) => None,
            other => Some(other),
        }
    }

    /// The frame at the front of the stream from `from` arrives: unless it is lost (the
    /// connection closes) or a partition holds it (it is sent again later, and every frame
    /// behind it waits).
    pub(crate) fn deliver(&mut self, link: usize, epoch: u64, from: usize) {
        let l = &mut self.links[link];
        if l.epoch != epoch || l.conn.is_none() {
            return;
        }
        l.armed[from] = false;
        let (from_node, to_node) = (l.ends[from], l.ends[1 - from]);
        let Some(front) = l.wire[from].front_mut() else {
            return;
        };
        if front.fate == Fate::Lost {
            let kind = front.frame.kind();
            self.faults.frames_lost += 1;
            self.disconnect(link, &format!("a {kind} frame was lost"));
            return;
        }
        if self.blocked.contains_key(&(from_node, to_node)) {
            if !front.held {
                front.held = true;
                self.faults.frames_held += 1;
            }
            front.at_ms = self.now_ms + RETRANSMIT_MS;
            self.arm_wire(link, from);
            return;
        }
        let Some(arrived) = l.wire[from].pop_front() else {
            return;
        };
        if arrived.busy {
            self.busy_in_flight = self.busy_in_flight.saturating_sub(1);
        }
        self.hand_over(link, 1 - from, arrived.frame);
        if self.links[link].epoch == epoch {
            self.arm_wire(link, from);
        }
    }

    /// The frame reaches its session.
    fn hand_over(&mut self, link: usize, to: usize, frame: Frame) {
        let to_node = self.links[link].ends[to];
        let from_node = self.links[link].ends[1 - to];
        if self.trace.is_on() {
            self.note_frame(from_node, to_node, &frame);
        }
        self.forgeries_delivered(from_node, to_node, &frame);
        let head_before = self.nodes[to_node].replica().feed_head().ok();
        let now = self.instant();
        let result = match &mut self.links[link].conn {
            Some(conn) => conn.sessions[to].handle_frame(frame, now),
            None => return,
        };
        match result {
            Ok(()) => {
                self.flush(link);
                if self.nodes[to_node].replica().feed_head().ok() != head_before {
                    self.wake(to_node, Some(link));
                    self.merge_duplicates_by_itself(to_node);
                }
            }
            Err(e) => self.session_failed(link, to, e),
        }
    }

    fn note_frame(&mut self, from: usize, to: usize, frame: &Frame) {
        let what = match frame {
            Frame::Ping { .. } | Frame::Pong { .. } => return,
            Frame::Batch(b) => format!("batch {} ({} records)", b.batch, b.docs.len()),
            Frame::Ack(a) => format!(
                "ack of batch {} ({} missing, {} refused)",
                a.batch,
                a.missing.len(),
                a.rejected.len()
            ),
            Frame::Hello(h) => format!("hello (feed head {})", h.feed_head),
            Frame::Digest(d) => format!("digest ({} records)", d.records),
            Frame::Offer { offer, docs, last } => format!(
                "offer {offer} ({} records{})",
                docs.len(),
                if *last { ", the last" } else { "" }
            ),
            Frame::Want { offer, ids, later } => format!(
                "want for offer {offer} ({} records, {} later)",
                ids.len(),
                later.len()
            ),
            other => other.kind().to_owned(),
        };
        let (a, b) = (self.name(from).to_owned(), self.name(to).to_owned());
        self.note(|| format!("{a} -> {b}: {what}"));
    }

    pub(crate) fn timer(&mut self, link: usize, epoch: u64, side: usize, due: u64) {
        let l = &mut self.links[link];
        let Some(conn) = &mut l.conn else { return };
        if l.epoch != epoch || conn.timers[side] != Some(due) {
            return;
        }
        conn.timers[side] = None;
        let now = self.instant();
        let result = match &mut self.links[link].conn {
            Some(conn) => conn.sessions[side].handle_timeout(now),
            None => return,
        };
        match result {
            Ok(()) => self.flush(link),
            Err(e) => self.session_failed(link, side, e),
        }
    }

    fn arm_timers(&mut self, link: usize) {
        let deadlines = match &self.links[link].conn {
            Some(conn) => [
                self.ms_of(conn.sessions[0].poll_timeout()),
                self.ms_of(conn.sessions[1].poll_timeout()),
            ],
            None => return,
        };
        let epoch = self.links[link].epoch;
        for (side, due) in deadlines.into_iter().enumerate() {
            let due = due.max(self.now_ms);
            let Some(conn) = &mut self.links[link].conn else {
                return;
            };
            if conn.timers[side] != Some(due) {
                conn.timers[side] = Some(due);
                self.queue.push(
                    due,
                    Event::Timer {
                        link,
                        epoch,
                        side,
                        due,
                    },
                );
            }
        }
    }

    /// Something was committed at `node`: every other session of it pushes it.
    pub(crate) fn wake(&mut self, node: usize, except: Option<usize>) {
        let links = self.nodes[node].links.clone();
        for link in links {
            if Some(link) == except {
                continue;
            }
            let side = usize::from(self.links[link].ends[1] == node);
            let result = match &mut self.links[link].conn {
                Some(conn) => conn.sessions[side].local_commit(),
                None => continue,
            };
            match result {
                Ok(()) => self.flush(link),
                Err(e) => self.session_failed(link, side, e),
            }
        }
    }

    /// A session ended: a silent peer is a fault the run injected; anything else between
    /// honest nodes is a failure.
    fn session_failed(&mut self, link: usize, side: usize, e: SessionError) {
        let node = self.links[link].ends[side];
        match &e {
            SessionError::Timeout { .. } => self.faults.timeouts += 1,
            SessionError::PeerClosed { .. } => {}
            _ => {
                let name = self.name(node).to_owned();
                self.fail("honest_sessions", format!("{name}'s session failed: {e}"));
            }
        }
        self.disconnect(link, &format!("{}: {e}", self.name(node)));
    }

    pub(crate) fn link_name(&self, link: usize) -> String {
        let [a, b] = self.links[link].ends;
        format!("{}-{}", self.name(a), self.name(b))
    }
}
