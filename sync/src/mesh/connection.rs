//! One connection with one peer: registered (one per peer), one bidirectional stream of
//! frames, a task reading frames off it, and a loop that waits for a frame, a local commit,
//! the session's deadline or shutdown, hands that to the session on a blocking thread
//! ([`super::step`]) and writes what comes back. Malformed, oversized or undecodable frames
//! end the connection with a logged reason.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use lifeline_core::NodeName;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::end::ConnEnd;
use super::fetch::FetchRequest;
use super::shared::Shared;
use super::step::{self, Event};
use crate::chain::chain;
use crate::frame::{Frame, FrameError};
use crate::identity::NodeIdentity;
use crate::proto::FetchAnswer;

/// Which side opened the connection (and so opens the stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Dialer,
    Acceptor,
}

/// Frames read ahead of the session.
const READ_AHEAD: usize = 16;

/// Fetches waiting for a connection's session.
const FETCH_QUEUE: usize = 16;

/// Runs an authenticated connection until it ends, keeping the peer's status.
pub(super) async fn run(
    shared: Arc<Shared>,
    conn: quinn::Connection,
    peer: NodeIdentity,
    dialer: NodeName,
    side: Side,
) {
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let span =
        tracing::info_span!("peer", node = %shared.me.name, peer = %peer.name, conn = conn_id);
    async move {
        if !shared.register(&peer.name, conn_id, &dialer, &conn) {
            tracing::debug!("duplicate connection; keeping the preferred one");
            conn.close(1u32.into(), b"duplicate connection");
            return;
        }
        if let Ok(mut r) = shared.roster.write() {
            r.learn(&peer);
        }
        remember(&shared, &peer).await;
        shared.set_status(&peer.name, |s| {
            s.connected = true;
            s.role = Some(peer.role);
            s.last_error = None;
        });
        tracing::info!(role = %peer.role, "connected");
        let end = drive(&shared, &conn, &peer, side).await;
        let reason = end.reason();
        match &end {
            ConnEnd::Shutdown => tracing::info!("disconnected: shutting down"),
            ConnEnd::Closed => tracing::info!("disconnected"),
            _ => tracing::warn!(reason = %reason, "closing the connection"),
        }
        conn.close(3u32.into(), reason.as_bytes());
        shared.unregister(&peer.name, conn_id);
        shared.set_status(&peer.name, |s| {
            s.connected = false;
            s.rtt_ms = None;
            if !end.is_quiet() {
                s.last_error = Some(reason);
            }
        });
    }
    .instrument(span)
    .await;
}

/// Keeps the peer's role and desks in the store (a durable write, so on a blocking thread),
/// so its permissions survive a restart.
async fn remember(shared: &Arc<Shared>, peer: &NodeIdentity) {
    let store = shared.store.clone();
    let (name, role, desks) = (peer.name.clone(), peer.role, peer.desks.clone());
    let remembered = tokio::task::spawn_blocking(move || {
        store.update_peer(&name, move |s| {
            s.role = Some(role);
            s.desks = desks;
        })
    })
    .await;
    match remembered {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %chain(&e), "cannot remember the peer's identity"),
        Err(e) => tracing::warn!(error = %e, "cannot remember the peer's identity"),
    }
}

async fn read_frames(mut recv: quinn::RecvStream, tx: mpsc::Sender<Result<Frame, ConnEnd>>) {
    loop {
        let mut prefix = [0u8; 4];
        let result = match recv.read_exact(&mut prefix).await {
            Err(quinn::ReadExactError::FinishedEarly(0)) => Err(ConnEnd::Closed),
            Err(e) => Err(ConnEnd::stream(e)),
            Ok(()) => match Frame::body_len(prefix) {
                Err(e) => Err(ConnEnd::Frame(e)),
                Ok(len) => {
                    let mut body = vec![0u8; len];
                    match recv.read_exact(&mut body).await {
                        Err(e) => {
                            tracing::debug!(error = %e, "stream ended inside a frame");
                            Err(ConnEnd::Frame(FrameError::Truncated { have: 0, need: len }))
                        }
                        Ok(()) => Frame::decode_body(&body).map_err(ConnEnd::Frame),
                    }
                }
            },
        };
        let stop = result.is_err();
        if tx.send(result).await.is_err() || stop {
            return;
        }
    }
}

async fn drive(
    shared: &Arc<Shared>,
    conn: &quinn::Connection,
    peer: &NodeIdentity,
    side: Side,
) -> ConnEnd {
    let streams = match side {
        Side::Dialer => conn.open_bi().await,
        Side::Acceptor => conn.accept_bi().await,
    };
    let (mut send, recv) = match streams {
        Ok(s) => s,
        Err(e) => return ConnEnd::stream(e),
    };
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_frames(recv, tx));
    let end = exchange(shared, &mut send, &mut rx, peer).await;
    if matches!(end, ConnEnd::Shutdown) {
        if let Ok(bytes) = (Frame::Goodbye {
            reason: "shutting down".into(),
        })
        .encode()
        {
            let _ = send.write_all(&bytes).await;
        }
        let _ = send.finish();
    }
    reader.abort();
    end
}

/// The session's loop: write what it said, wait for what happens next, let it handle that.
async fn exchange(
    shared: &Arc<Shared>,
    send: &mut quinn::SendStream,
    rx: &mut mpsc::Receiver<Result<Frame, ConnEnd>>,
    peer: &NodeIdentity,
) -> ConnEnd {
    let (mut session, mut out) = match step::open(shared, peer, Instant::now()).await {
        Ok(opened) => opened,
        Err(end) => return end,
    };
    let mut commits = shared.commits.clone();
    commits.borrow_and_update();
    let mut shutdown = shared.shutdown.clone();
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (fetch_tx, mut fetches) = mpsc::channel::<FetchRequest>(FETCH_QUEUE);
    if let Ok(mut f) = shared.fetchers.lock() {
        f.insert(peer.name.clone(), (conn_id, fetch_tx));
    }
    let mut waiting: HashMap<u64, oneshot::Sender<FetchAnswer>> = HashMap::new();
    let mut asking: Option<oneshot::Sender<FetchAnswer>> = None;
    let end = 'exchange: loop {
        if let (Some(request), Some(reply)) = (out.requested, asking.take()) {
            waiting.insert(request, reply);
        }
        for answer in std::mem::take(&mut out.fetched) {
            if let Some(reply) = waiting.remove(&answer.request) {
                let _ = reply.send(answer);
            }
        }
        for bytes in &out.frames {
            if let Err(e) = send.write_all(bytes).await {
                break 'exchange ConnEnd::stream(e);
            }
        }
        let deadline = tokio::time::Instant::from_std(out.deadline);
        let event = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Ok(frame)) => Event::Frame(frame),
                Some(Err(end)) => break end,
                None => break ConnEnd::Closed,
            },
            changed = commits.changed() => match changed {
                Ok(()) => Event::LocalCommit,
                Err(_) => break ConnEnd::Shutdown,
            },
            Some(request) = fetches.recv() => {
                asking = Some(request.reply);
                Event::Fetch(request.ids)
            }
            _ = tokio::time::sleep_until(deadline) => Event::Timeout,
            _ = shutdown.changed() => break ConnEnd::Shutdown,
        };
        (session, out) = match step::step(shared, session, event, Instant::now()).await {
            Ok(stepped) => stepped,
            Err(end) => break end,
        };
    };
    if let Ok(mut f) = shared.fetchers.lock()
        && f.get(&peer.name).is_some_and(|(id, _)| *id == conn_id)
    {
        f.remove(&peer.name);
    }
    end
}
