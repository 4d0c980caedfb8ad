//! The errors of reading and writing an open store, shared by every store module.

use crate::id::RecordId;
use crate::record::RecordKind;
use crate::rules::RuleError;

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("storage error while {context}: {message}")]
    Storage {
        context: &'static str,
        message: String,
    },
    #[error("record {id} is stored damaged: {reason}")]
    Corrupt { id: RecordId, reason: String },
    #[error("record {id} is a {found}, not a {expected}")]
    WrongKind {
        id: RecordId,
        expected: RecordKind,
        found: String,
    },
    #[error("stored {what} cannot be decoded: {reason}")]
    Undecodable { what: String, reason: String },
}

impl ReadError {
    pub(crate) fn storage(context: &'static str) -> impl FnOnce(redb::Error) -> ReadError {
        move |e| ReadError::Storage {
            context,
            message: e.to_string(),
        }
    }
}

/// Shorthand for mapping any redb error into a [`ReadError`] with context.
pub(crate) trait StorageContext<T> {
    fn ctx(self, context: &'static str) -> Result<T, ReadError>;
}

impl<T, E: Into<redb::Error>> StorageContext<T> for Result<T, E> {
    fn ctx(self, context: &'static str) -> Result<T, ReadError> {
        self.map_err(|e| ReadError::storage(context)(e.into()))
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
    #[error("the write was not saved: {reason}; try again")]
    Aborted { reason: String },
    #[error("the store is closed")]
    Closed,
}

impl From<redb::Error> for WriteError {
    fn from(e: redb::Error) -> Self {
        WriteError::Read(ReadError::Storage {
            context: "writing",
            message: e.to_string(),
        })
    }
}
