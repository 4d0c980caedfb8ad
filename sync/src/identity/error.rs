//! Errors of the identity module: each names the file or the peer and says what is wrong,
//! so an operator can act on the message alone.

use std::io;
use std::path::PathBuf;

use lifeline_core::id::NameError;
use lifeline_core::roles::RoleParseError;

/// Why a certificate carries no Lifeline identity (see the layout in [`super`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertIdentityProblem {
    #[error("it is not an X.509 certificate ({detail})")]
    NotX509 { detail: String },
    #[error("its subject has {count} common names (expected exactly one: the node name)")]
    CommonNameCount { count: usize },
    #[error("its subject {field} is not text")]
    NotText { field: &'static str },
    #[error("its common name is not a node name: {0}")]
    BadName(#[source] NameError),
    #[error(
        "its subject has {count} organizational units (expected exactly one: `role=<role>;desks=<desks>`)"
    )]
    OrganizationalUnitCount { count: usize },
    #[error("its organizational unit {value:?} is malformed: {reason}")]
    BadOrganizationalUnit { value: String, reason: &'static str },
    #[error("its organizational unit names an unknown role: {0}")]
    BadRole(#[source] RoleParseError),
    #[error("it has no DNS subject alternative name {expected:?} (the node name lowercased)")]
    MissingServerName { expected: String },
}

/// Everything that can go wrong creating, loading or checking node identities.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create the directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("refusing to overwrite {path}: it already exists (move it away first to replace it)")]
    AlreadyExists { path: PathBuf },
    #[error("{path} holds no PEM {expected}: {detail}")]
    NotPem {
        path: PathBuf,
        expected: &'static str,
        detail: String,
    },
    #[error("{path} holds {count} CA certificates; a hospital has exactly one CA")]
    CaCount { path: PathBuf, count: usize },
    #[error("{path} is not the hospital CA: {detail}")]
    NotCa { path: PathBuf, detail: String },
    #[error("{path} carries no Lifeline node identity: {problem}")]
    CertIdentity {
        path: PathBuf,
        #[source]
        problem: CertIdentityProblem,
    },
    #[error("{path} expired on {not_after} (issue a new one with `lifeline ca issue`)")]
    Expired { path: PathBuf, not_after: String },
    #[error("{path} is not valid before {not_before} (check this machine's clock)")]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("{path} is not trusted by the CA in {ca}: {reason}")]
    Untrusted {
        path: PathBuf,
        ca: PathBuf,
        reason: String,
    },
    #[error("{key} is not the private key of the certificate {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("{path} holds a private key that cannot be used: {detail}")]
    UnusableKey { path: PathBuf, detail: String },
    #[error("node name {name:?} cannot be used in a certificate: {reason}")]
    UnusableName { name: String, reason: &'static str },
    #[error("validity is empty: not_before {not_before} is not before not_after {not_after}")]
    EmptyValidity {
        not_before: String,
        not_after: String,
    },
    #[error("generating the {what} failed: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("building the {side} TLS configuration failed: {detail}")]
    TlsConfig { side: &'static str, detail: String },
    #[error("peer {peer} presented no certificate")]
    NoPeerCertificate { peer: String },
    #[error("peer {peer} carries no Lifeline node identity: {problem}")]
    PeerIdentity {
        peer: String,
        #[source]
        problem: CertIdentityProblem,
    },
    /// Raised inside a verifier during a handshake; the peer gets a TLS alert and this
    /// message is logged on the refusing side.
    #[error("refused peer {peer}: {reason}")]
    PeerRefused { peer: String, reason: String },
}
