//! Why a session ends: the peer broke the protocol ([`Violation`]), fell silent, said
//! goodbye, or our replica failed (the store's error, with its chain).

use lifeline_core::{NodeName, ReadError, WriteError};

use crate::permissions::HelloNameMismatch;

/// Why a session ended. The mesh closes the connection with this (and its causes) as the
/// reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("protocol violation by {peer}: {violation}")]
    Protocol {
        peer: NodeName,
        violation: Violation,
    },
    #[error("{peer} has been silent for {silent_ms} ms")]
    Timeout { peer: NodeName, silent_ms: u128 },
    #[error("{peer} said goodbye: {reason}")]
    PeerClosed { peer: NodeName, reason: String },
    #[error("the hospital CA revoked {peer}'s certificate")]
    Revoked { peer: NodeName },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// What the peer did that the protocol does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// Anything but a hello (or a goodbye) came first.
    #[error("{frame} before hello")]
    BeforeHello { frame: &'static str },
    #[error("a second hello")]
    SecondHello,
    #[error("speaks protocol {theirs}, we speak {ours}")]
    ProtocolVersion { theirs: u16, ours: u16 },
    /// The hello names another node than the certificate.
    #[error(transparent)]
    HelloName(#[from] HelloNameMismatch),
    #[error("ack for batch {batch} that is not in flight")]
    AckNotInFlight { batch: u64 },
    #[error("ack for batch {acked} while batch {in_flight} is in flight")]
    AckOutOfOrder { acked: u64, in_flight: u64 },
    /// The peer opened the sync protocol for more records at once than we keep.
    #[error("more than {limit} records in the sync protocol at once")]
    TooManySyncing { limit: usize },
    /// The peer asked for more records in one fetch than the protocol allows.
    #[error("a fetch of more than {limit} records")]
    FetchTooLarge { limit: usize },
    #[error("a batch of {docs} records, more than the {limit} accepted")]
    BatchTooLarge { docs: usize, limit: usize },
    #[error("{count} signed commits in one {frame}, more than the {limit} accepted")]
    TooManySignatures {
        frame: &'static str,
        count: usize,
        limit: usize,
    },
    #[error("an offer of {docs} records, more than the {limit} accepted")]
    OfferTooLarge { docs: usize, limit: usize },
    #[error("an answer to offer {offer}, which is not the oldest unanswered")]
    WantNotOffered { offer: u64 },
    #[error("{entries} roster entries in one frame, more than the {limit} accepted")]
    RosterTooLarge { entries: usize, limit: usize },
}
