//! Where session work runs: on tokio's blocking pool, never on the async threads. A session
//! on a [`Store`] makes fsync'd commits inside its calls, so each call moves the session to a
//! blocking thread and back, together with what it wants sent (already encoded), its next
//! deadline, and the peer's status published on the way. The async side only does I/O.

use std::sync::Arc;
use std::time::Instant;

use lifeline_core::Store;

use lifeline_core::RecordId;

use super::end::ConnEnd;
use super::shared::Shared;
use crate::chain::chain;
use crate::frame::Frame;
use crate::identity::NodeIdentity;
use crate::proto::{FetchAnswer, Session, SessionStats, incoming};

const MS_PER_DAY: i64 = 86_400_000;

/// A session over the node's store, as the mesh runs it.
pub(super) type StoreSession = Session<Store>;

/// What happened, for the session to handle.
pub(super) enum Event {
    Frame(Frame),
    LocalCommit,
    Timeout,
    /// Ask the peer for these whole records.
    Fetch(Vec<RecordId>),
}

/// What a step leaves for the async side.
pub(super) struct Output {
    /// Encoded frames to write, in order.
    pub(super) frames: Vec<Vec<u8>>,
    /// When the session wants [`Event::Timeout`].
    pub(super) deadline: Instant,
    /// The request number of the fetch this step sent ([`Event::Fetch`]).
    pub(super) requested: Option<u64>,
    /// Answers to earlier fetches.
    pub(super) fetched: Vec<FetchAnswer>,
}

/// Opens the session (it reads the store to say hello) on a blocking thread.
pub(super) async fn open(
    shared: &Arc<Shared>,
    peer: &NodeIdentity,
    now: Instant,
) -> Result<(StoreSession, Output), ConnEnd> {
    let (shared, peer) = (shared.clone(), peer.clone());
    blocking(move || {
        let mut cfg = shared.cfg.session.clone();
        cfg.keeps_since_ms = shared
            .cfg
            .window_days
            .map(|days| shared.store.now_ms() - i64::from(days) * MS_PER_DAY);
        let session = Session::new(shared.store.clone(), cfg, peer, shared.anchor.clone(), now)?;
        finish(&shared, session, None)
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
        let mut requested = None;
        match event {
            Event::Frame(frame) => session.handle_frame(frame, now)?,
            Event::LocalCommit => session.local_commit()?,
            Event::Timeout => session.handle_timeout(now)?,
            Event::Fetch(ids) => requested = Some(session.request_fetch(&ids)),
        }
        finish(&shared, session, requested)
    })
    .await
}

/// Merges and judges a peer's batch ahead of its session, on a blocking thread, while the
/// session applies the batch before it ([`Store::prepare_batch`]): the store's one writer is
/// then left only the writing. A batch over the session's limits is left for the session to
/// refuse.
pub(super) async fn prepare(shared: &Arc<Shared>, frame: &Frame) {
    let Frame::Batch(batch) = frame else {
        return;
    };
    if !shared.cfg.prepare_batches {
        return;
    }
    let limits = &shared.cfg.session;
    if batch.docs.len() > limits.max_batch_docs_received
        || batch.signatures.len() > limits.max_signatures_received
    {
        return;
    }
    let items = batch.docs.iter().cloned().map(incoming).collect();
    let signatures = batch.signatures.clone();
    let store = shared.store.clone();
    let prepared =
        tokio::task::spawn_blocking(move || store.prepare_batch(items, &signatures)).await;
    match prepared {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::debug!(error = %chain(&e), "cannot prepare a batch; its session merges it")
        }
        Err(e) => tracing::warn!(error = %e, "preparing a batch failed; its session merges it"),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConnEnd> + Send + 'static,
) -> Result<T, ConnEnd> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ConnEnd::Worker)?
}

/// Drains and encodes the session's frames and publishes the peer's status.
fn finish(
    shared: &Shared,
    mut session: StoreSession,
    requested: Option<u64>,
) -> Result<(StoreSession, Output), ConnEnd> {
    let mut frames = Vec::new();
    while let Some(frame) = session.poll_transmit() {
        frames.push(frame.encode()?);
    }
    publish(shared, &session);
    let deadline = session.poll_timeout();
    let fetched = session.take_fetched();
    Ok((
        session,
        Output {
            frames,
            deadline,
            requested,
            fetched,
        },
    ))
}

/// What a session did since it was last published (all of it, for a new session).
fn since(last: Option<&(u64, SessionStats)>, id: u64, now: &SessionStats) -> SessionStats {
    let zero = SessionStats::default();
    let before = match last {
        Some((last_id, stats)) if *last_id == id => stats,
        _ => &zero,
    };
    let mut d = SessionStats {
        docs_sent: now.docs_sent.saturating_sub(before.docs_sent),
        doc_bytes_sent: now.doc_bytes_sent.saturating_sub(before.doc_bytes_sent),
        docs_received: now.docs_received.saturating_sub(before.docs_received),
        doc_bytes_received: now
            .doc_bytes_received
            .saturating_sub(before.doc_bytes_received),
        repairs: now.repairs.saturating_sub(before.repairs),
        repair_records_sent: now
            .repair_records_sent
            .saturating_sub(before.repair_records_sent),
        ..SessionStats::default()
    };
    for (reason, n) in &now.rejected_by_reason {
        let was = before.rejected_by_reason.get(reason).copied().unwrap_or(0);
        d.rejected_by_reason.insert(reason, n.saturating_sub(was));
    }
    d
}

/// Updates what the status command shows for the session's peer: O(1) reads of what the
/// store keeps, whatever its size.
fn publish(shared: &Shared, session: &StoreSession) {
    let store = session.replica();
    let peer = &session.peer().name;
    let to_send = if session.is_caught_up() {
        0
    } else {
        store.peer_backlog(peer).unwrap_or(0)
    };
    let applied = store
        .peer_state(peer)
        .map(|s| s.applied_from_peer)
        .unwrap_or(0);
    let to_receive = session
        .peer_feed_head()
        .map(|h| h.saturating_sub(applied))
        .unwrap_or(0);
    let now_ms = store.now_ms();
    shared.set_status(peer, |s| {
        s.rtt_ms = session.rtt().map(|d| d.as_millis() as u64);
        s.last_contact_ms = Some(now_ms);
        s.to_send = to_send;
        s.to_receive = to_receive;
        s.caught_up = session.is_caught_up() && to_receive == 0;
        s.peer_feed_head = session.peer_feed_head();
        s.applied_from_peer = applied;
        s.peer_keeps_since_ms = session.peer_keeps_since_ms();
        s.batches_in_flight = session.in_flight() as u64;
        s.roster_refused = session.stats().roster_refused;
        if let Some(c) = session.convergence() {
            s.in_sync = Some(c.in_sync);
            s.peer_records = Some(c.peer_records);
        }
        let d = since(s.published.as_ref(), session.id(), session.stats());
        s.records_sent += d.docs_sent;
        s.bytes_sent += d.doc_bytes_sent;
        s.records_received += d.docs_received;
        s.bytes_received += d.doc_bytes_received;
        s.repairs += d.repairs;
        s.records_repaired += d.repair_records_sent;
        for (reason, n) in d.rejected_by_reason {
            *s.refused_by_reason.entry(reason.to_owned()).or_insert(0) += n;
        }
        s.published = Some((session.id(), session.stats().clone()));
    });
}
