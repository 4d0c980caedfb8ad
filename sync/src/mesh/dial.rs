//! Getting connections: accepting peers' handshakes (bounded) and dialing every configured
//! peer, again with backoff whenever the connection is gone. Both hand an authenticated
//! connection to [`connection::run`].

use std::sync::Arc;

use tokio::task::JoinSet;

use super::connection::{self, Side};
use super::shared::Shared;
use super::{PeerAddr, transport};
use crate::chain::chain;
use crate::identity;

/// Maximum concurrent incoming handshakes, so a flood cannot exhaust the node.
const MAX_INCOMING: usize = 256;

/// Of the dials nobody answered in a row, every this many waits the whole connect timeout
/// for an answer instead of `answer_timeout`.
const PATIENT_EVERY: u32 = 5;

pub(super) async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    let mut shutdown = shared.shutdown.clone();
    let mut handshakes = JoinSet::new();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i { Some(i) => i, None => break },
            _ = shutdown.changed() => break,
        };
        while handshakes.try_join_next().is_some() {}
        if handshakes.len() >= MAX_INCOMING {
            incoming.refuse();
            continue;
        }
        let shared = shared.clone();
        handshakes.spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(conn) => match identity::peer_identity(&conn) {
                    Ok(peer) => {
                        let dialer = peer.name.clone();
                        connection::run(shared, conn, peer, dialer, Side::Acceptor).await;
                    }
                    Err(e) => {
                        tracing::warn!(%remote, error = %chain(&e), "refused a peer without a usable identity");
                        conn.close(2u32.into(), b"no usable identity");
                    }
                },
                Err(e) => tracing::warn!(%remote, error = %e, "incoming handshake failed"),
            }
        });
    }
    handshakes.abort_all();
}

pub(super) async fn dial_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint, peer: PeerAddr) {
    let mut backoff = shared.cfg.reconnect_min;
    let mut shutdown = shared.shutdown.clone();
    let client = match identity::client_config_for(&shared.identity, &peer.name, peer.role) {
        Ok(mut c) => {
            c.transport_config(transport(&shared.cfg.session));
            c
        }
        Err(e) => {
            tracing::error!(peer = %peer.name, error = %chain(&e), "cannot build a client config; not dialing");
            return;
        }
    };
    // Dials in a row that nobody answered; every `PATIENT_EVERY`th waits the whole connect
    // timeout for an answer, so that a server too slow to answer within `answer_timeout`
    // (a machine overloaded) is still reached.
    let mut unanswered = 0u32;
    while !shared.stopping() {
        let grown = (backoff * 2).min(shared.cfg.reconnect_max);
        let wait = if shared.is_connected(&peer.name) {
            std::mem::replace(&mut backoff, grown)
        } else {
            let patient = unanswered % PATIENT_EVERY == PATIENT_EVERY - 1;
            let dialed = dial(&shared, &endpoint, &client, &peer, patient).await;
            unanswered = if dialed == Dialed::NoAnswer {
                unanswered.saturating_add(1)
            } else {
                0
            };
            match dialed {
                Dialed::Connected => {
                    backoff = shared.cfg.reconnect_min;
                    backoff
                }
                // Nothing listens there: probe again soon, so that a server coming back is
                // heard within a fraction of a second (a probe is an Initial packet or three).
                Dialed::NoAnswer => shared.cfg.reconnect_min,
                Dialed::Failed => std::mem::replace(&mut backoff, grown),
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// How a dial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialed {
    /// The handshake succeeded; the connection has run to its end.
    Connected,
    /// Nothing answered the handshake's first packets within `answer_timeout`.
    NoAnswer,
    /// The peer answered and the handshake failed, or the dial could not start: retried
    /// with backoff, so that a peer refusing us is not asked for a handshake every moment.
    Failed,
}

/// One dial; runs the connection to its end if the handshake succeeds.
///
/// quinn hears nothing of a port nobody listens on (no ICMP reaches it): a dial to a server
/// that is down retransmits its Initial at growing intervals until the timeout, so a server
/// coming back would be heard only at the next retransmission or the next dial, seconds
/// later. The dial therefore gives the peer `answer_timeout` to answer at all (its first
/// flight, `handshake_data`), and only a peer that answered the rest of `connect_timeout`;
/// a `patient` dial gives it the whole `connect_timeout` to answer.
async fn dial(
    shared: &Arc<Shared>,
    endpoint: &quinn::Endpoint,
    client: &quinn::ClientConfig,
    peer: &PeerAddr,
    patient: bool,
) -> Dialed {
    let server_name = identity::server_name(&peer.name);
    let mut connecting = match endpoint.connect_with(client.clone(), peer.addr, &server_name) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(peer = %peer.name, error = %e, "cannot dial");
            return Dialed::Failed;
        }
    };
    let failed = |shown: String| {
        tracing::debug!(peer = %peer.name, error = %shown, "dial failed");
        shared.set_status(&peer.name, |s| s.last_error = Some(shown));
        Dialed::Failed
    };
    let started = tokio::time::Instant::now();
    let answer_within = if patient {
        shared.cfg.connect_timeout
    } else {
        shared.cfg.answer_timeout.min(shared.cfg.connect_timeout)
    };
    match tokio::time::timeout(answer_within, connecting.handshake_data()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return failed(chain(&e)),
        Err(_) => {
            tracing::trace!(peer = %peer.name, "no answer to the dial");
            shared.set_status(&peer.name, |s| {
                s.last_error = Some("no answer to the dial".into())
            });
            return Dialed::NoAnswer;
        }
    }
    // The rest of the connect timeout, and at least the time an answer was given (an answer
    // that came at the last moment still has the time to finish the handshake).
    let rest = shared
        .cfg
        .connect_timeout
        .saturating_sub(started.elapsed())
        .max(shared.cfg.answer_timeout);
    let conn = match tokio::time::timeout(rest, connecting).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return failed(chain(&e)),
        Err(_) => return failed("dial timed out".into()),
    };
    match identity::peer_identity(&conn) {
        Ok(id) => {
            let me = shared.me.name.clone();
            connection::run(shared.clone(), conn, id, me, Side::Dialer).await;
        }
        Err(e) => {
            tracing::warn!(peer = %peer.name, error = %chain(&e), "peer has no usable identity");
            conn.close(2u32.into(), b"no usable identity");
            return Dialed::Failed;
        }
    }
    Dialed::Connected
}
