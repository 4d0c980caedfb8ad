//! One connection with one peer: registered (one per peer), one bidirectional stream of
//! frames, a task reading frames off it, a task writing frames to it, and a loop that waits
//! for a frame, a local commit, the session's deadline, the writer's end or shutdown, hands
//! that to the session on a blocking thread ([`super::step`]) and queues what comes back for
//! the writer. Reading and writing never wait on each other: two peers flushing at once
//! each keep reading, and the session's timeout fires whatever the stream does. A peer that
//! stops reading while our queue passes [`MAX_UNSENT_BYTES`] is dropped.
//!
//! Each connection runs in a task of its own ([`run`]): a panic in it closes that connection
//! only, its registration is dropped on the way out (a guard), and the dial loop that
//! started it goes on to redial. Malformed, oversized or undecodable frames end the
//! connection with a logged reason.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use lifeline_core::NodeName;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::end::ConnEnd;
use super::fetch::FetchRequest;
use super::shared::{Closer, Shared};
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

/// Most bytes queued for a peer that is not reading them before the connection is dropped.
pub(super) const MAX_UNSENT_BYTES: usize = 64 * 1024 * 1024;

/// Runs an authenticated connection until it ends, in a task of its own: a panic inside
/// closes this connection only and is logged; the caller (a dial loop) goes on.
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
    let name = peer.name.clone();
    let task = tokio::spawn(connect(shared, conn, peer, dialer, side, conn_id).instrument(span));
    supervise(task, &name).await;
}

/// Waits for a connection's task; a panic in it is logged, never passed on.
pub(super) async fn supervise(task: JoinHandle<()>, peer: &NodeName) {
    if let Err(e) = task.await
        && e.is_panic()
    {
        tracing::error!(%peer, "the connection's task panicked: it is closed, the peer unregistered, and it will be dialed again");
    }
}

/// Drops a connection's registration however its task ends, panics included.
pub(super) struct Registration {
    pub(super) shared: Arc<Shared>,
    pub(super) peer: NodeName,
    pub(super) conn_id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.registry.unregister(&self.peer, self.conn_id);
        self.shared.set_status(&self.peer, |s| {
            s.connected = false;
            s.rtt_ms = None;
        });
    }
}

async fn connect(
    shared: Arc<Shared>,
    conn: quinn::Connection,
    peer: NodeIdentity,
    dialer: NodeName,
    side: Side,
    conn_id: u64,
) {
    let close: Closer = {
        let conn = conn.clone();
        Arc::new(move |reason: &'static [u8]| conn.close(1u32.into(), reason))
    };
    if !shared
        .registry
        .register(&shared.me.name, &peer.name, conn_id, &dialer, close)
    {
        tracing::debug!("duplicate connection; keeping the preferred one");
        conn.close(1u32.into(), b"duplicate connection");
        return;
    }
    let _registration = Registration {
        shared: shared.clone(),
        peer: peer.name.clone(),
        conn_id,
    };
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
    if end.is_violation() {
        // Counted and audited, like every refusal of what a peer sends.
        let store = shared.store.clone();
        let (name, what) = (peer.name.clone(), reason.clone());
        let noted = tokio::task::spawn_blocking(move || store.note_violation(&name, what)).await;
        if let Ok(Err(e)) = noted {
            tracing::warn!(error = %chain(&e), "cannot record the protocol violation");
        }
    }
    if !end.is_quiet() {
        shared.set_status(&peer.name, |s| s.last_error = Some(reason));
    }
}

/// Keeps the peer's role and desks in the store (a durable write, so on a blocking thread),
/// for the status command after a restart.
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

/// Reads frames off the stream for the session, preparing each batch ahead of it
/// ([`step::prepare`]) while the session applies the one before.
async fn read_frames(
    shared: Arc<Shared>,
    mut recv: quinn::RecvStream,
    tx: mpsc::Sender<Result<Frame, ConnEnd>>,
) {
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
        if let Ok(frame) = &result {
            step::prepare(&shared, frame).await;
        }
        let stop = result.is_err();
        if tx.send(result).await.is_err() || stop {
            return;
        }
    }
}

/// Writes queued frames until the queue closes, then finishes the stream.
async fn write_frames(
    mut send: quinn::SendStream,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    unsent: Arc<AtomicUsize>,
) -> Result<(), ConnEnd> {
    while let Some(bytes) = rx.recv().await {
        send.write_all(&bytes).await.map_err(ConnEnd::stream)?;
        unsent.fetch_sub(bytes.len(), Ordering::Relaxed);
    }
    let _ = send.finish();
    Ok(())
}

/// The queue to the writer task, with the bytes it holds.
struct Outbox {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    unsent: Arc<AtomicUsize>,
}

impl Outbox {
    fn push(&self, bytes: Vec<u8>) -> Result<(), ConnEnd> {
        let queued = self.unsent.fetch_add(bytes.len(), Ordering::Relaxed) + bytes.len();
        if queued > MAX_UNSENT_BYTES {
            return Err(ConnEnd::NotReading { unsent: queued });
        }
        // The writer is gone only when the stream failed: its own end says why.
        let _ = self.tx.send(bytes);
        Ok(())
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
    let (send, recv) = match streams {
        Ok(s) => s,
        Err(e) => return ConnEnd::stream(e),
    };
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_frames(shared.clone(), recv, tx));
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let unsent = Arc::new(AtomicUsize::new(0));
    let mut writer = Some(tokio::spawn(write_frames(send, out_rx, unsent.clone())));
    let outbox = Outbox { tx: out_tx, unsent };
    let end = exchange(shared, conn, &outbox, &mut rx, &mut writer, peer).await;
    if matches!(end, ConnEnd::Shutdown)
        && let Ok(bytes) = (Frame::Goodbye {
            reason: "shutting down".into(),
        })
        .encode()
    {
        let _ = outbox.push(bytes);
    }
    drop(outbox);
    if let Some(mut writer) = writer {
        // Let the writer flush what is queued (the goodbye), briefly.
        if tokio::time::timeout(std::time::Duration::from_secs(1), &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
    }
    reader.abort();
    end
}

/// The session's loop: queue what it said, wait for what happens next, let it handle that.
/// Fetches asked of this peer (see [`super::fetch`]) come in through the node's fetchers,
/// registered for as long as the loop runs.
async fn exchange(
    shared: &Arc<Shared>,
    conn: &quinn::Connection,
    outbox: &Outbox,
    rx: &mut mpsc::Receiver<Result<Frame, ConnEnd>>,
    writer: &mut Option<JoinHandle<Result<(), ConnEnd>>>,
    peer: &NodeIdentity,
) -> ConnEnd {
    let (mut session, mut out) = match step::open(shared, peer, Instant::now()).await {
        Ok(opened) => opened,
        Err(end) => return end,
    };
    let mut commits = shared.commits.clone();
    commits.borrow_and_update();
    let mut shutdown = shared.shutdown.clone();
    let (fetch_tx, mut fetches) = mpsc::channel::<FetchRequest>(FETCH_QUEUE);
    let _fetcher = Fetcher::register(shared, &peer.name, fetch_tx);
    let mut waiting: HashMap<u64, oneshot::Sender<FetchAnswer>> = HashMap::new();
    let mut asking: Option<oneshot::Sender<FetchAnswer>> = None;
    loop {
        if let (Some(request), Some(reply)) = (out.requested, asking.take()) {
            waiting.insert(request, reply);
        }
        for answer in std::mem::take(&mut out.fetched) {
            if let Some(reply) = waiting.remove(&answer.request) {
                let _ = reply.send(answer);
            }
        }
        for bytes in std::mem::take(&mut out.frames) {
            if let Err(end) = outbox.push(bytes) {
                return end;
            }
        }
        let Some(writing) = writer.as_mut() else {
            return ConnEnd::Closed;
        };
        let deadline = tokio::time::Instant::from_std(out.deadline);
        let event = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Ok(frame)) => Event::Frame(frame),
                Some(Err(end)) => return end,
                None => return ConnEnd::Closed,
            },
            written = writing => {
                *writer = None;
                return match written {
                    Ok(Ok(())) => ConnEnd::Closed,
                    Ok(Err(end)) => end,
                    Err(e) => ConnEnd::Writer(e),
                };
            },
            changed = commits.changed() => match changed {
                Ok(()) => Event::LocalCommit,
                Err(_) => return ConnEnd::Shutdown,
            },
            Some(request) = fetches.recv() => {
                asking = Some(request.reply);
                Event::Fetch(request.ids)
            }
            _ = tokio::time::sleep_until(deadline) => Event::Timeout,
            _ = shutdown.changed() => return ConnEnd::Shutdown,
        };
        // Whether the peer is there is QUIC's to say: its keep-alives and idle timeout (set to
        // the session's heartbeat and peer timeout) run beside the session, and a connection
        // whose peer went silent closes, which ends this loop. The session's own clock counts
        // only frames it has handled, and a node busy applying the peer's batches (or a peer
        // busy applying ours) handles none for a while: no reason to drop a live connection
        // and send everything in flight again. (Until its hello, the session's clock alone
        // decides: a peer that connects and says nothing is dropped.)
        if matches!(event, Event::Timeout) && session.greeted() && conn.close_reason().is_none() {
            session.heard_at(Instant::now());
        }
        (session, out) = match step::step(shared, session, event, Instant::now()).await {
            Ok(stepped) => stepped,
            Err(end) => return end,
        };
    }
}

/// A connection's place among the node's fetchers: removed when the exchange ends, however
/// it ends (a later connection to the same peer keeps its own).
struct Fetcher<'a> {
    shared: &'a Shared,
    peer: NodeName,
    id: u64,
}

impl<'a> Fetcher<'a> {
    fn register(shared: &'a Shared, peer: &NodeName, tx: mpsc::Sender<FetchRequest>) -> Self {
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = shared.fetchers.lock() {
            f.insert(peer.clone(), (id, tx));
        }
        Fetcher {
            shared,
            peer: peer.clone(),
            id,
        }
    }
}

impl Drop for Fetcher<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.shared.fetchers.lock()
            && f.get(&self.peer).is_some_and(|(id, _)| *id == self.id)
        {
            f.remove(&self.peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{self, AcceptPolicy};
    use crate::mesh::MeshConfig;
    use lifeline_core::{NodeRole, Store, StoreOptions};
    use tokio::sync::watch;

    /// What a node's connections share, on a store and a certificate in `dir`.
    fn shared(dir: &std::path::Path) -> Arc<Shared> {
        identity::init_ca(dir).expect("CA");
        let name = NodeName::new("central").expect("valid");
        let id = NodeIdentity::new(name.clone(), NodeRole::Central, Vec::new());
        let files = identity::issue(dir, &id, 30).expect("issue");
        let loaded = identity::load(&files.tls_files()).expect("load");
        let store = Store::open(
            dir.join("store.redb"),
            StoreOptions::new(name, NodeRole::Central),
        )
        .expect("open");
        let cfg = MeshConfig::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            Vec::new(),
            AcceptPolicy::any(),
        );
        let (_, commits) = watch::channel(0u64);
        let (_, shutdown) = watch::channel(false);
        Arc::new(Shared::new(store, loaded, cfg, commits, shutdown))
    }

    /// Hole 6: a panic in a connection task killed its dial loop and left the peer
    /// registered, so its redials were refused as duplicates.
    #[tokio::test]
    async fn a_panicking_connection_task_unregisters_its_peer_and_its_caller_goes_on() {
        let dir = tempfile::tempdir().expect("dir");
        let shared = shared(dir.path());
        let peer = NodeName::new("W01").expect("valid");
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn({
            let (shared, peer, closed) = (shared.clone(), peer.clone(), closed.clone());
            async move {
                let close: Closer = Arc::new(move |_| closed.store(true, Ordering::Relaxed));
                assert!(
                    shared
                        .registry
                        .register(&shared.me.name, &peer, 7, &peer, close)
                );
                let _registration = Registration {
                    shared: shared.clone(),
                    peer: peer.clone(),
                    conn_id: 7,
                };
                assert!(shared.is_connected(&peer));
                panic!("a bug inside one connection, as a test");
            }
        });
        // The caller (a dial loop) is not taken down with it...
        supervise(task, &peer).await;
        // ...and the peer is not registered any more: its redial is taken.
        assert!(!shared.is_connected(&peer));
        let again: Closer = Arc::new(|_| {});
        assert!(
            shared
                .registry
                .register(&shared.me.name, &peer, 8, &peer, again)
        );
        assert!(
            !closed.load(Ordering::Relaxed),
            "nothing was left to replace"
        );
    }
}
