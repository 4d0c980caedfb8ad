//! Where session work runs: on tokio's blocking pool, never on the async threads. A session
//! on a [`Store`] makes fsync'd commits inside its calls, so each call moves the session to a
//! blocking thread and back, together with what it wants sent (already encoded), its next
//! deadline, and the peer's status published on the way. The async side only does I/O.

use std::sync::Arc;
use std::time::Instant;

use lifeline_core::Store;

use super::end::ConnEnd;
use super::shared::{Shared, pending_after};
use crate::frame::Frame;
use crate::identity::NodeIdentity;
use crate::proto::Session;

/// A session over the node's store, as the mesh runs it.
pub(super) type StoreSession = Session<Store>;

/// What happened, for the session to handle.
pub(super) enum Event {
    Frame(Frame),
    LocalCommit,
    Timeout,
}

/// What a step leaves for the async side.
pub(super) struct Output {
    /// Encoded frames to write, in order.
    pub(super) frames: Vec<Vec<u8>>,
    /// When the session wants [`Event::Timeout`].
    pub(super) deadline: Instant,
}

/// Opens the session (it reads the store to say hello) on a blocking thread.
pub(super) async fn open(
    shared: &Arc<Shared>,
    peer: &NodeIdentity,
    now: Instant,
) -> Result<(StoreSession, Output), ConnEnd> {
    let (shared, peer) = (shared.clone(), peer.clone());
    blocking(move || {
        let session = Session::new(
            shared.store.clone(),
            shared.cfg.session.clone(),
            peer,
            shared.anchor.clone(),
            now,
        )?;
        finish(&shared, session)
    })
    .await
}

/// Hands `event` to the session on a blocking thread; gives the session back with its output.
pub(super) async fn step(
    shared: &Arc<Shared>,
    mut session: StoreSession,
    event: Event,
    now: Instant,
) -> Result<(StoreSession, Output), ConnEnd> {
    let shared = shared.clone();
    blocking(move || {
        match event {
            Event::Frame(frame) => session.handle_frame(frame, now),
            Event::LocalCommit => session.local_commit(),
            Event::Timeout => session.handle_timeout(now),
        }?;
        finish(&shared, session)
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConnEnd> + Send + 'static,
) -> Result<T, ConnEnd> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ConnEnd::Worker)?
}

/// Drains and encodes the session's frames and publishes the peer's status.
fn finish(shared: &Shared, mut session: StoreSession) -> Result<(StoreSession, Output), ConnEnd> {
    let mut frames = Vec::new();
    while let Some(frame) = session.poll_transmit() {
        frames.push(frame.encode()?);
    }
    publish(shared, &session);
    let deadline = session.poll_timeout();
    Ok((session, Output { frames, deadline }))
}

/// Updates what the status command shows for the session's peer (reads the store).
fn publish(shared: &Shared, session: &StoreSession) {
    let store = session.replica();
    let to_send = if session.is_caught_up() {
        0
    } else {
        pending_after(store, session.send_cursor())
    };
    let applied = store
        .peer_state(&session.peer().name)
        .map(|s| s.applied_from_peer)
        .unwrap_or(0);
    let to_receive = session
        .peer_feed_head()
        .map(|h| h.saturating_sub(applied))
        .unwrap_or(0);
    let now_ms = store.now_ms();
    shared.set_status(&session.peer().name, |s| {
        s.rtt_ms = session.rtt().map(|d| d.as_millis() as u64);
        s.last_contact_ms = Some(now_ms);
        s.to_send = to_send;
        s.to_receive = to_receive;
        s.roster_refused = session.stats().roster_refused;
        if let Some(c) = session.convergence() {
            s.in_sync = Some(c.in_sync);
            s.peer_records = Some(c.peer_records);
        }
    });
}
