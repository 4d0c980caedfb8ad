//! Node identity and mutual TLS: the hospital CA, node certificates, and the quinn
//! configurations that refuse unknown, expired or wrong-role peers at the handshake.
//!
//! # How a certificate names a node
//! A node certificate is issued by the hospital CA (`ca.pem`, `ca.key`) and says:
//! - subject `CN` = the node name, exactly as configured (`W01`, `central`);
//! - one subject `OU` = `role=<role>;desks=<desk>,<desk>` (for example
//!   `role=window;desks=registration,cashier`; `desks=` with nothing after it when the node
//!   has no desks), using the names of [`NodeRole`] and [`DeskRole`];
//! - one DNS subject alternative name = the node name lowercased, which is also the TLS
//!   server name a client dials it by ([`server_name`]);
//! - extended key usages `serverAuth` and `clientAuth` (every node both serves and dials), and
//!   no CA rights, so a node certificate cannot issue others.
//!
//! A certificate that does not carry exactly this (one CN that is a valid [`NodeName`], one
//! well-formed OU, the matching SAN) has no identity and is refused, at load and at the
//! handshake alike.
//!
//! # Invariants
//! - Trust comes from the hospital CA only: no system roots, no platform verifier.
//! - Every refusal happens inside rustls' verifiers, so a refused peer never gets a
//!   connection, and the reason is logged on the refusing side.
//! - TLS session resumption is off on both sides: every connection runs the full verifier,
//!   so a policy or a certificate that changed applies to the next connection.

mod anchor;
mod ca;
mod error;
mod files;
mod load;
mod tls;

use std::fmt;

use lifeline_core::trust::KeyId;
use lifeline_core::{DeskRole, NodeName, NodeRole};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

pub use anchor::Anchor;
pub use ca::{
    CaFiles, IssuedFiles, Revoked, Validity, init_ca, issue, issue_with_validity, revocation_path,
    revoke,
};
pub use error::{
    BoxedCause, CaProblem, CertIdentityProblem, CredentialProblem, HandshakeRefusal, IdentityError,
    KeyProblem, PemProblem, TrustProblem,
};
pub use files::{CA_CERT_FILE, CA_KEY_FILE, TlsFiles};
pub use load::{LoadedIdentity, RevocationCheck, load, load_allowing_expired};
pub use tls::{
    ALPN, AcceptPolicy, WindowMesh, client_config, client_config_for, install_crypto_provider,
    peer_identity, server_config,
};

/// Who a node is, as its certificate says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeIdentity {
    pub name: NodeName,
    pub role: NodeRole,
    /// The desk roles the node serves; empty for a node without desks.
    pub desks: Vec<DeskRole>,
    /// The certificate's key (the SHA-256 of its public key), when the identity was read
    /// from a certificate: what a revocation names.
    pub key: Option<KeyId>,
}

impl NodeIdentity {
    /// An identity not read from a certificate (it names no key).
    pub fn new(name: NodeName, role: NodeRole, desks: Vec<DeskRole>) -> Self {
        NodeIdentity {
            name,
            role,
            desks,
            key: None,
        }
    }

    /// The TLS server name of this node: its name lowercased.
    pub fn server_name(&self) -> String {
        server_name(&self.name)
    }

    /// The subject `OU` that carries role and desks: `role=window;desks=registration,cashier`.
    pub fn subject_ou(&self) -> String {
        let desks: Vec<&str> = self.desks.iter().map(|d| d.name()).collect();
        format!("role={};desks={}", self.role, desks.join(","))
    }

    /// Reads the identity a DER certificate carries (see the module docs for the layout).
    /// Does not check who signed it or when it expires: the verifiers do that.
    pub fn from_cert_der(der: &[u8]) -> Result<NodeIdentity, CertIdentityProblem> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| CertIdentityProblem::NotX509(e.into()))?;
        NodeIdentity::from_x509(&cert)
    }

    pub(crate) fn from_x509(
        cert: &X509Certificate<'_>,
    ) -> Result<NodeIdentity, CertIdentityProblem> {
        let subject = cert.subject();
        let cns: Vec<_> = subject.iter_common_name().collect();
        let [cn] = cns.as_slice() else {
            return Err(CertIdentityProblem::CommonNameCount { count: cns.len() });
        };
        let cn = cn.as_str().map_err(|_| CertIdentityProblem::NotText {
            field: "common name",
        })?;
        let name = NodeName::new(cn).map_err(CertIdentityProblem::BadName)?;

        let ous: Vec<_> = subject.iter_organizational_unit().collect();
        let [ou] = ous.as_slice() else {
            return Err(CertIdentityProblem::OrganizationalUnitCount { count: ous.len() });
        };
        let ou = ou.as_str().map_err(|_| CertIdentityProblem::NotText {
            field: "organizational unit",
        })?;
        let (role, desks) = parse_subject_ou(ou)?;

        let expected_san = server_name(&name);
        let sans = cert
            .subject_alternative_name()
            .map_err(CertIdentityProblem::BadSubjectAltNames)?;
        let has_san = sans.is_some_and(|ext| {
            ext.value
                .general_names
                .iter()
                .any(|n| matches!(n, GeneralName::DNSName(dns) if *dns == expected_san))
        });
        if !has_san {
            return Err(CertIdentityProblem::MissingServerName {
                expected: expected_san,
            });
        }
        let key = KeyId(Sha256::digest(&*cert.public_key().subject_public_key.data).into());
        Ok(NodeIdentity {
            name,
            role,
            desks,
            key: Some(key),
        })
    }
}

impl fmt::Display for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.subject_ou())
    }
}

/// The TLS server name (and certificate DNS name) of a node: its name lowercased. A client
/// dials a node with `endpoint.connect_with(config, addr, &server_name(&name))`.
pub fn server_name(name: &NodeName) -> String {
    name.as_str().to_ascii_lowercase()
}

/// Parses `role=<role>;desks=<a>,<b>`. Strict: both keys, in this order, each desk once.
fn parse_subject_ou(ou: &str) -> Result<(NodeRole, Vec<DeskRole>), CertIdentityProblem> {
    let bad = |reason: &'static str| CertIdentityProblem::BadOrganizationalUnit {
        value: ou.to_owned(),
        reason,
    };
    let (role_part, desks_part) = ou
        .split_once(';')
        .ok_or_else(|| bad("expected `role=<role>;desks=<desks>`"))?;
    let role = role_part
        .strip_prefix("role=")
        .ok_or_else(|| bad("it does not start with `role=`"))?;
    let role: NodeRole = role.parse().map_err(CertIdentityProblem::BadRole)?;
    let desks = desks_part
        .strip_prefix("desks=")
        .ok_or_else(|| bad("`desks=` does not follow the role"))?;
    let mut parsed = Vec::new();
    if !desks.is_empty() {
        for desk in desks.split(',') {
            let desk: DeskRole = desk.parse().map_err(CertIdentityProblem::BadRole)?;
            if parsed.contains(&desk) {
                return Err(bad("a desk role is listed twice"));
            }
            parsed.push(desk);
        }
    }
    Ok((role, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> NodeIdentity {
        NodeIdentity::new(
            NodeName::new("W01").unwrap(),
            NodeRole::Window,
            vec![DeskRole::Registration, DeskRole::Cashier],
        )
    }

    #[test]
    fn subject_ou_round_trips() {
        let id = window();
        assert_eq!(id.subject_ou(), "role=window;desks=registration,cashier");
        assert_eq!(
            parse_subject_ou(&id.subject_ou()).unwrap(),
            (
                NodeRole::Window,
                vec![DeskRole::Registration, DeskRole::Cashier]
            )
        );
        assert_eq!(
            parse_subject_ou("role=central;desks=").unwrap(),
            (NodeRole::Central, vec![])
        );
        assert_eq!(id.server_name(), "w01");
    }

    #[test]
    fn subject_ou_refuses_garbage() {
        for ou in [
            "",
            "role=window",
            "desks=cashier;role=window",
            "role=janitor;desks=",
            "role=window;desks=cashier,mopping",
            "role=window;desks=cashier,cashier",
            "role=window;desks=cashier,",
            "Role=window;desks=",
        ] {
            assert!(parse_subject_ou(ou).is_err(), "{ou:?} was accepted");
        }
        let err = parse_subject_ou("role=janitor;desks=").unwrap_err();
        let shown = crate::chain::chain(&err);
        assert!(shown.contains("janitor"), "{shown}");
    }

    #[test]
    fn garbage_der_has_no_identity() {
        let err = NodeIdentity::from_cert_der(b"not a certificate").unwrap_err();
        assert!(matches!(err, CertIdentityProblem::NotX509 { .. }), "{err}");
    }
}
