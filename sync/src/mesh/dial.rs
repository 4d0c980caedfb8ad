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
    while !shared.stopping() {
        if !shared.is_connected(&peer.name) {
            let connected = dial(&shared, &endpoint, &client, &peer).await;
            if connected {
                backoff = shared.cfg.reconnect_min;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => break,
        }
        backoff = (backoff * 2).min(shared.cfg.reconnect_max);
    }
}

/// One dial; runs the connection to its end if the handshake succeeds. True if it did.
async fn dial(
    shared: &Arc<Shared>,
    endpoint: &quinn::Endpoint,
    client: &quinn::ClientConfig,
    peer: &PeerAddr,
) -> bool {
    let server_name = identity::server_name(&peer.name);
    let connecting = match endpoint.connect_with(client.clone(), peer.addr, &server_name) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(peer = %peer.name, error = %e, "cannot dial");
            return false;
        }
    };
    let conn = match tokio::time::timeout(shared.cfg.connect_timeout, connecting).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            let shown = chain(&e);
            tracing::debug!(peer = %peer.name, error = %shown, "dial failed");
            shared.set_status(&peer.name, |s| s.last_error = Some(shown));
            return false;
        }
        Err(_) => {
            tracing::debug!(peer = %peer.name, "dial timed out");
            shared.set_status(&peer.name, |s| s.last_error = Some("dial timed out".into()));
            return false;
        }
    };
    match identity::peer_identity(&conn) {
        Ok(id) => {
            let me = shared.me.name.clone();
            connection::run(shared.clone(), conn, id, me, Side::Dialer).await;
        }
        Err(e) => {
            tracing::warn!(peer = %peer.name, error = %chain(&e), "peer has no usable identity");
            conn.close(2u32.into(), b"no usable identity");
        }
    }
    true
}
