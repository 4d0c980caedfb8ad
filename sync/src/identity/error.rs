//! Errors of the identity module: each names the file or the peer and says what is wrong,
//! so an operator can act on the message and its chain of causes alone. A message never
//! repeats its cause: the cause is its `source()`, and whoever shows the error prints the
//! chain.

use std::io;
use std::path::PathBuf;

use lifeline_core::id::NameError;
use lifeline_core::roles::RoleParseError;
use lifeline_core::{NodeName, NodeRole};
use x509_parser::error::X509Error;

/// A cause that comes from one of several libraries (rustls, its verifier builder, quinn).
pub type BoxedCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a certificate carries no Lifeline identity (see the layout in [`super`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CertIdentityProblem {
    #[error("it is not an X.509 certificate")]
    NotX509(#[source] X509Error),
    #[error("its subject has {count} common names (expected exactly one: the node name)")]
    CommonNameCount { count: usize },
    #[error("its subject {field} is not text")]
    NotText { field: &'static str },
    #[error("its common name is not a node name")]
    BadName(#[source] NameError),
    #[error(
        "its subject has {count} organizational units (expected exactly one: `role=<role>;desks=<desks>`)"
    )]
    OrganizationalUnitCount { count: usize },
    #[error("its organizational unit {value:?} is malformed: {reason}")]
    BadOrganizationalUnit { value: String, reason: &'static str },
    #[error("its organizational unit names an unknown role")]
    BadRole(#[source] RoleParseError),
    #[error("its subject alternative names cannot be read")]
    BadSubjectAltNames(#[source] X509Error),
    #[error("it has no DNS subject alternative name {expected:?} (the node name lowercased)")]
    MissingServerName { expected: String },
}

/// Why a certificate is not admitted to the roster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialProblem {
    #[error("it is not an X.509 certificate")]
    NotX509(#[source] X509Error),
    #[error("it carries no node identity")]
    Identity(#[source] CertIdentityProblem),
    #[error("the hospital CA did not issue it")]
    Untrusted(#[source] rustls::Error),
    #[error("its key is not a P-256 key, which Lifeline signs changes with")]
    KeyNotP256,
    #[error("the CA's verifier cannot be built")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
}

/// Why a file holds no usable PEM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PemProblem {
    #[error("the file is not text")]
    NotText,
    #[error("no `-----BEGIN CERTIFICATE-----` section found")]
    NoCertificate,
    #[error("it does not parse as PEM")]
    Pem(#[source] rustls::pki_types::pem::Error),
}

/// Why a certificate cannot serve as the hospital CA.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaProblem {
    #[error("it is not an X.509 certificate")]
    NotX509(#[source] X509Error),
    #[error("it has no CA rights (basic constraints)")]
    NoCaRights,
    #[error("it cannot be used as a trust anchor")]
    NotTrustAnchor(#[source] rustls::Error),
    #[error("it cannot issue certificates")]
    CannotIssue(#[source] rcgen::Error),
}

/// Why a node's certificate does not check out against the hospital CA.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustProblem {
    #[error("the CA's verifier cannot be built")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    #[error("its DNS name {name:?} is invalid")]
    DnsName {
        name: String,
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
    #[error("it is refused as a server certificate")]
    AsServer(#[source] rustls::Error),
    #[error("it is refused as a client certificate")]
    AsClient(#[source] rustls::Error),
}

/// Why a private key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    #[error("it does not parse as a key pair")]
    Parse(#[source] rcgen::Error),
    #[error("rustls cannot sign with it")]
    Unsupported(#[source] rustls::Error),
    #[error("changes cannot be signed with it")]
    NotForSigning(#[source] lifeline_core::trust::SigningKeyError),
    #[error("its certificate cannot be a roster entry")]
    NotAMember(#[source] Box<CredentialProblem>),
    #[error("it does not go with its certificate's roster entry")]
    Mismatch(#[source] lifeline_core::store::CredentialsMismatch),
}

/// Why a peer was refused during the TLS handshake, after the CA's own check passed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeRefusal {
    #[error("its certificate carries no node identity")]
    NoIdentity(#[source] CertIdentityProblem),
    #[error("role {role} may not connect to this node (accepted: {accepted})")]
    RoleNotAccepted { role: NodeRole, accepted: String },
    #[error(
        "expected node {expected_name} with role {expected_role}, but its certificate says {name} with role {role}"
    )]
    NotTheNodeDialed {
        expected_name: NodeName,
        expected_role: NodeRole,
        name: NodeName,
        role: NodeRole,
    },
    #[error("the hospital CA revoked its key {key:?}")]
    Revoked { key: lifeline_core::trust::KeyId },
}

/// Everything that can go wrong creating, loading or checking node identities.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create the directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("refusing to overwrite {path}: it already exists (move it away first to replace it)")]
    AlreadyExists { path: PathBuf },
    #[error("{path} holds no PEM {expected}")]
    NotPem {
        path: PathBuf,
        expected: &'static str,
        #[source]
        problem: PemProblem,
    },
    #[error("{path} holds {count} CA certificates; a hospital has exactly one CA")]
    CaCount { path: PathBuf, count: usize },
    #[error("{path} is not the hospital CA")]
    NotCa {
        path: PathBuf,
        #[source]
        problem: CaProblem,
    },
    #[error("{path} carries no Lifeline node identity")]
    CertIdentity {
        path: PathBuf,
        #[source]
        problem: CertIdentityProblem,
    },
    #[error("{path} expired on {not_after} (issue a new one with `lifeline ca issue`)")]
    Expired { path: PathBuf, not_after: String },
    #[error("{path} is not valid before {not_before} (check this machine's clock)")]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("{path} is not trusted by the CA in {ca}")]
    Untrusted {
        path: PathBuf,
        ca: PathBuf,
        #[source]
        problem: TrustProblem,
    },
    #[error("{key} is not the private key of the certificate {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("{path} holds a private key that cannot be used")]
    UnusableKey {
        path: PathBuf,
        #[source]
        problem: KeyProblem,
    },
    #[error("node name {name:?} cannot be used in a certificate: {reason}")]
    UnusableName { name: String, reason: &'static str },
    #[error("the revocation's reason is not acceptable")]
    BadReason(#[source] lifeline_core::RuleError),
    #[error("validity is empty: not_before {not_before} is not before not_after {not_after}")]
    EmptyValidity {
        not_before: String,
        not_after: String,
    },
    #[error("generating the {what} failed")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("building the {side} TLS configuration failed")]
    TlsConfig {
        side: &'static str,
        #[source]
        source: BoxedCause,
    },
    #[error("peer {peer} presented no certificate")]
    NoPeerCertificate { peer: String },
    #[error("peer {peer} carries no Lifeline node identity")]
    PeerIdentity {
        peer: String,
        #[source]
        problem: CertIdentityProblem,
    },
    /// Raised inside a verifier during a handshake; the peer gets a TLS alert and this
    /// error, with its reason, is logged on the refusing side.
    #[error("refused peer {peer}")]
    PeerRefused {
        peer: String,
        #[source]
        reason: HandshakeRefusal,
    },
}
