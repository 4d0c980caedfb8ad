//! Fetching whole records from a server on request: a window asked for a record it no longer
//! keeps (pruned from its working set) asks central, or the standby, through the connection's
//! session, and waits a bounded time for the answer. Nothing fetched is stored: the caller
//! shows it.

use std::time::Duration;

use lifeline_core::{NodeName, NodeRole, RecordId};
use tokio::sync::oneshot;

use crate::proto::{FetchAnswer, MAX_FETCH};

/// How long a fetch waits for the server's answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A fetch handed to a connection: the records, and where to send the answer.
#[derive(Debug)]
pub(super) struct FetchRequest {
    pub(super) ids: Vec<RecordId>,
    pub(super) reply: oneshot::Sender<FetchAnswer>,
}

/// Why a fetch got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("no server (central or standby) is connected to fetch from")]
    NoServer,
    #[error("at most {MAX_FETCH} records can be fetched at once, not {asked}")]
    TooMany { asked: usize },
    #[error("{server} did not answer within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout { server: NodeName },
    #[error("the connection to {server} ended before it answered")]
    ConnectionLost { server: NodeName },
}

/// The servers to ask, in order: central, then the standby.
pub(super) fn servers(connected: &[(NodeName, Option<NodeRole>)]) -> Vec<NodeName> {
    let mut out = Vec::new();
    for role in [NodeRole::Central, NodeRole::Standby] {
        out.extend(
            connected
                .iter()
                .filter(|(_, r)| *r == Some(role))
                .map(|(n, _)| n.clone()),
        );
    }
    out
}
