//! Why the rules refuse a record's new changes ([`super::rules`]): one [`Breach`] per broken
//! rule, with a short stable code for counting refusals by reason.

use super::paths::UnknownObject;
use super::rules::Unknowable;
use super::signed::SignatureProblem;
use super::validate::Invalid;
use crate::error::Shared;
use crate::id::{NodeName, RecordId};
use crate::record::RecordKind;
use crate::roles::NodeRole;

/// A broken rule: why a record's new changes are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Breach {
    #[error("change {change} (claimed by {claimed}) is not signed by its author")]
    Signature {
        change: String,
        claimed: String,
        #[source]
        problem: Box<SignatureProblem>,
    },
    #[error("change {change} claims to be by {claimed} but is signed by {signer}")]
    ForgedAuthor {
        change: String,
        claimed: String,
        signer: NodeName,
    },
    #[error("{author} is not a node this one knows")]
    UnknownAuthor { author: String },
    #[error("catalog change authored by {author}; only central changes catalogs")]
    CatalogNotFromCentral { author: NodeName },
    #[error("{author} ({role}) may not write {kind} records")]
    KindNotAllowed {
        author: NodeName,
        role: NodeRole,
        kind: RecordKind,
    },
    #[error("the change rewrites the record's header")]
    HeaderRewritten,
    #[error("{author} writes the header of a record it did not create")]
    HeaderAfterCreation { author: NodeName },
    #[error("the record says it was created by {origin} but {author} created it")]
    OriginForged { origin: NodeName, author: NodeName },
    #[error("{author} may not write `{field}` of a {kind} record")]
    FieldNotAllowed {
        field: String,
        author: NodeName,
        kind: RecordKind,
    },
    #[error("the change removes state `{state}` from the status log: statuses only move forward")]
    StatusRemoved { state: String },
    #[error("the range granted is not acceptable")]
    Lease(#[source] LeaseProblem),
    #[error("the record does not read as a {kind}")]
    Invalid {
        kind: RecordKind,
        #[source]
        source: Invalid,
    },
    #[error("the changes cannot be read")]
    Unreadable(#[source] Shared<UnknownObject>),
    #[error("the rules could not be checked")]
    Unknowable(#[source] Unknowable),
    #[error("checking the rules failed on these changes")]
    CheckPanicked,
}

/// What is wrong with a granted number range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseProblem {
    #[error("the range {start}..={end} is empty or starts at 0")]
    Empty { start: u64, end: u64 },
    #[error("{len} numbers granted for a request of {asked} (at most {max} per lease)")]
    WrongSize { len: u64, asked: u64, max: u64 },
    #[error("the range says {leased_by} granted it, but {authors} wrote it")]
    NotItsLessor {
        leased_by: NodeName,
        authors: String,
    },
    #[error("{leased_by} ({role}) may not grant {start}..={end}: outside its half of the numbers")]
    OutsideHalf {
        leased_by: NodeName,
        role: NodeRole,
        start: u64,
        end: u64,
    },
    #[error("the range overlaps the one granted in lease {other}")]
    Overlaps { other: RecordId },
    #[error("unknown series {series:?}")]
    UnknownSeries { series: String },
    #[error("the lease is for {holder} but {origin}, neither it nor the lessor, made it")]
    NotItsHolder { holder: NodeName, origin: NodeName },
}

impl Breach {
    /// A short stable name for counting refusals by reason.
    pub fn code(&self) -> &'static str {
        match self {
            Breach::Signature { problem, .. } => match **problem {
                SignatureProblem::Unsigned => "unsigned",
                SignatureProblem::UnknownKey { .. } => "unknown_key",
                SignatureProblem::Revoked { .. } => "revoked",
                SignatureProblem::KeyOfAnother { .. } | SignatureProblem::Invalid { .. } => {
                    "bad_signature"
                }
            },
            Breach::ForgedAuthor { .. } => "forged_author",
            Breach::UnknownAuthor { .. } => "unknown_author",
            Breach::CatalogNotFromCentral { .. } => "catalog_not_from_central",
            Breach::KindNotAllowed { .. } => "kind_not_allowed",
            Breach::HeaderRewritten
            | Breach::HeaderAfterCreation { .. }
            | Breach::OriginForged { .. } => "header_rewritten",
            Breach::FieldNotAllowed { .. } => "field_not_allowed",
            Breach::StatusRemoved { .. } => "status_backwards",
            Breach::Lease(_) => "bad_lease",
            Breach::Invalid { .. } => "invalid",
            Breach::Unreadable(_) => "unreadable",
            Breach::Unknowable(_) => "unknowable",
            Breach::CheckPanicked => "check_failed",
        }
    }
}
