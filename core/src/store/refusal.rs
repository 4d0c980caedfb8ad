//! Why changes from a peer were refused: one typed reason per refused record, so that the
//! audit trail, the per-peer counters and the sender's log all say the same thing.

use crate::error::Shared;
use crate::id::RecordId;
use crate::trust::Breach;

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
    /// The changes break a rule: who signed them, what their author may write, which fields,
    /// statuses only forward, or the record does not read as its kind.
    #[error(transparent)]
    Breach(#[from] Breach),
}

/// Why a peer's bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error(transparent)]
    Changes(#[from] automerge::AutomergeError),
    #[error(transparent)]
    SyncMessage(#[from] automerge::sync::ReadMessageError),
    /// A record sent packed, as the sender stores it, that does not unpack.
    #[error("the packed record does not unpack: {0}")]
    Packed(#[from] super::chunks::ChunkDamage),
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

    /// Every code [`Refusal::code`] can give (the node has words for each).
    pub const CODES: [&'static str; 20] = [
        "undecodable",
        "bad_sync_message",
        "no_header",
        "wrong_id",
        "unsigned",
        "unknown_key",
        "revoked",
        "bad_signature",
        "forged_author",
        "unknown_author",
        "catalog_not_from_central",
        "kind_not_allowed",
        "header_rewritten",
        "field_not_allowed",
        "status_backwards",
        "bad_lease",
        "invalid",
        "unreadable",
        "unknowable",
        "check_failed",
    ];

    /// A short stable name for counting refusals by reason.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Undecodable { .. } => "undecodable",
            Refusal::BadSyncMessage { .. } => "bad_sync_message",
            Refusal::NoHeader { .. } => "no_header",
            Refusal::WrongId { .. } => "wrong_id",
            Refusal::Breach(b) => b.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeName;
    use crate::record::RecordKind;

    #[test]
    fn every_code_is_listed_once() {
        let node = || NodeName::new("W01".to_owned()).expect("a node name");
        let refusals = [
            Refusal::WrongId {
                claimed: RecordId::from_bytes([1; 16]),
            },
            Refusal::undecodable(DecodeError::Panicked),
            Refusal::bad_sync_message(DecodeError::Panicked),
            Refusal::Breach(Breach::FieldNotAllowed {
                field: "amount".into(),
                author: node(),
                kind: RecordKind::Charge,
            }),
            Refusal::Breach(Breach::HeaderRewritten),
            Refusal::Breach(Breach::CheckPanicked),
            Refusal::Breach(Breach::StatusRemoved {
                state: "paid".into(),
            }),
            Refusal::Breach(Breach::UnknownAuthor { author: "X".into() }),
        ];
        for r in &refusals {
            assert!(Refusal::CODES.contains(&r.code()), "{}", r.code());
        }
        let mut codes = Refusal::CODES.to_vec();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Refusal::CODES.len());
    }
}
