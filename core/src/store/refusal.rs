//! Why changes from a peer were refused: one typed reason per refused record, so that the
//! audit trail, the per-peer counters and the sender's log all say the same thing.

use crate::error::Shared;
use crate::id::{NodeName, RecordId};
use crate::record::RecordKind;
use crate::roles::NodeRole;

/// Why a record's changes from a peer were not applied. Nothing of the record changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The bytes are not Automerge changes (or the decoder failed on them).
    #[error("undecodable changes")]
    Undecodable {
        #[source]
        source: Shared<DecodeError>,
    },
    /// An Automerge sync message that could not be decoded or applied.
    #[error("bad sync message")]
    BadSyncMessage {
        #[source]
        source: Shared<DecodeError>,
    },
    /// The document has no readable record header.
    #[error("no valid header")]
    NoHeader {
        #[source]
        source: Shared<autosurgeon::HydrateError>,
    },
    /// The document's header names another record than the one it was sent as.
    #[error("the document says it is record {claimed}")]
    WrongId { claimed: RecordId },
    /// The changes rewrite a header field (id, kind, origin, operator, created, episode).
    #[error("the change rewrites the record's header")]
    HeaderRewritten,
    /// A catalog change authored by a node other than central.
    #[error("catalog change authored by {author}; only central changes catalogs")]
    CatalogNotFromCentral { author: String },
    /// A change authored by a node that may not write this kind of record.
    #[error("{author} may not write {kind} records (sent by {sender} as {sender_role})")]
    KindNotAllowed {
        author: String,
        kind: RecordKind,
        sender: NodeName,
        sender_role: NodeRole,
    },
    /// The node's view of who may write what is unavailable (a thread panicked holding it).
    #[error("the roster is unavailable")]
    RosterUnavailable,
}

/// Why a peer's bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error(transparent)]
    Changes(#[from] automerge::AutomergeError),
    #[error(transparent)]
    SyncMessage(#[from] automerge::sync::ReadMessageError),
    /// The decoder panicked (found by fuzzing); caught, so that a peer's bytes never panic
    /// the node.
    #[error("the decoder failed")]
    Panicked,
}

impl Refusal {
    /// Changes that did not decode.
    pub(crate) fn undecodable(source: impl Into<DecodeError>) -> Refusal {
        Refusal::Undecodable {
            source: Shared::new(source.into()),
        }
    }

    /// A sync message that did not decode or apply.
    pub(crate) fn bad_sync_message(source: impl Into<DecodeError>) -> Refusal {
        Refusal::BadSyncMessage {
            source: Shared::new(source.into()),
        }
    }

    /// The reason with everything it rests on, as audited and sent back to the peer.
    pub fn detail(&self) -> String {
        crate::error::Chain(self).to_string()
    }

    /// A short stable name for counting refusals by reason.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Undecodable { .. } => "undecodable",
            Refusal::BadSyncMessage { .. } => "bad_sync_message",
            Refusal::NoHeader { .. } => "no_header",
            Refusal::WrongId { .. } => "wrong_id",
            Refusal::HeaderRewritten => "header_rewritten",
            Refusal::CatalogNotFromCentral { .. } => "catalog_not_from_central",
            Refusal::KindNotAllowed { .. } => "kind_not_allowed",
            Refusal::RosterUnavailable => "roster_unavailable",
        }
    }
}
