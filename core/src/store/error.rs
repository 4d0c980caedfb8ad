//! The errors of reading and writing an open store, shared by every store module, and what
//! they say was wrong: a record stored damaged ([`RecordDamage`]), a file damaged
//! ([`FileDamage`]), a write abandoned ([`AbortCause`]) or a document that could not be
//! written ([`DocumentError`]).

use crate::error::Shared;
use crate::id::{NameError, RecordId};
use crate::numbers::{NumberUse, Series};
use crate::record::RecordKind;
use crate::rules::RuleError;

use super::audit::ChainError;

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("storage error while {context}")]
    Storage {
        context: &'static str,
        #[source]
        source: Shared<redb::Error>,
    },
    #[error("record {id} is stored damaged")]
    Corrupt {
        id: RecordId,
        #[source]
        source: Shared<RecordDamage>,
    },
    #[error("record {id} is a {found}, not a {expected}")]
    WrongKind {
        id: RecordId,
        expected: RecordKind,
        found: RecordKind,
    },
    #[error("stored {what} cannot be decoded")]
    Undecodable {
        what: &'static str,
        #[source]
        source: Shared<serde_json::Error>,
    },
    #[error("a stored audit entry cannot be decoded")]
    UndecodableAudit(#[source] Shared<super::audit_codec::AuditDecodeError>),
    #[error("the document cache is unavailable: a thread panicked while holding it")]
    CachePoisoned,
    /// A record received whole from a peer lacks changes the peer said it holds, or is
    /// another record.
    #[error("record {id} as received is incomplete")]
    Incomplete { id: RecordId },
}

impl ReadError {
    /// A record stored damaged.
    pub(crate) fn corrupt(id: RecordId, damage: RecordDamage) -> ReadError {
        ReadError::Corrupt {
            id,
            source: damage.into(),
        }
    }

    /// Stored JSON that does not decode.
    pub(crate) fn undecodable(what: &'static str) -> impl FnOnce(serde_json::Error) -> ReadError {
        move |e| ReadError::Undecodable {
            what,
            source: e.into(),
        }
    }
}

/// What is wrong with a record stored damaged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordDamage {
    #[error("its changes cannot be loaded")]
    Load(#[source] automerge::AutomergeError),
    #[error("its header cannot be read")]
    Header(#[source] autosurgeon::HydrateError),
    #[error("its contents cannot be read")]
    Contents(#[source] autosurgeon::HydrateError),
    #[error("a stored chunk of it cannot be read")]
    Chunk(#[source] super::chunks::ChunkDamage),
}

/// What is wrong with a damaged store file or snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileDamage {
    #[error(transparent)]
    Storage(redb::Error),
    #[error("the storage engine failed on damaged data")]
    EnginePanicked,
    #[error("the file ends early")]
    EndsEarly(#[source] std::io::Error),
    #[error("its last commit fails its checksums")]
    LastCommitFails,
    #[error("its node name is not valid")]
    NodeName(#[source] NameError),
    #[error("the audit chain is broken")]
    AuditChain(#[source] ChainError),
}

/// Shorthand for mapping any redb error into a [`ReadError`] with context.
pub(crate) trait StorageContext<T> {
    fn ctx(self, context: &'static str) -> Result<T, ReadError>;
}

impl<T, E: Into<redb::Error>> StorageContext<T> for Result<T, E> {
    fn ctx(self, context: &'static str) -> Result<T, ReadError> {
        self.map_err(|e| ReadError::Storage {
            context,
            source: e.into().into(),
        })
    }
}

/// Why a write did not happen. Nothing was written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the write was not saved, try again")]
    Aborted {
        #[source]
        cause: AbortCause,
    },
    #[error("the store is closed")]
    Closed,
    /// The table check found the file damaged ([`Store::check_tables`]): nothing more is
    /// written to it until the node is restored from a backup.
    ///
    /// [`Store::check_tables`]: super::Store::check_tables
    #[error(
        "the store file is damaged: nothing more is saved on this node until it is restored from a backup"
    )]
    StoreDamaged,
}

impl WriteError {
    /// A value that could not be written into a record's document.
    pub(crate) fn document(field: &str, source: impl Into<DocumentError>) -> WriteError {
        WriteError::Aborted {
            cause: AbortCause::Document {
                field: field.to_owned(),
                source: Shared::new(source.into()),
            },
        }
    }
}

impl From<redb::Error> for WriteError {
    fn from(e: redb::Error) -> Self {
        WriteError::Read(ReadError::Storage {
            context: "writing",
            source: e.into(),
        })
    }
}

/// Why a write was abandoned with nothing written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AbortCause {
    /// Its batch was aborted whole because another write in it failed after writing.
    #[error("another write in the same commit failed halfway")]
    BatchFailed,
    #[error("the {kind} document cannot be built")]
    Build {
        kind: RecordKind,
        #[source]
        source: Shared<autosurgeon::ReconcileError>,
    },
    #[error("{field} cannot be written into the record's document")]
    Document {
        field: String,
        #[source]
        source: Shared<DocumentError>,
    },
    /// The ledger already holds the number a range's cursor points at: never hand it out
    /// twice.
    #[error("{series} number {number} is already in the ledger ({existing:?})")]
    NumberInLedger {
        series: Series,
        number: u64,
        existing: NumberUse,
    },
}

/// Why Automerge could not take a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    #[error(transparent)]
    Reconcile(#[from] autosurgeon::ReconcileError),
    #[error(transparent)]
    Automerge(#[from] automerge::AutomergeError),
    #[error("the value nests deeper than {max} levels")]
    TooDeep { max: usize },
}
