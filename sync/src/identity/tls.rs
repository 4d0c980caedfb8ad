//! quinn configurations with mutual TLS through the hospital CA, and the verifiers that refuse
//! a peer at the handshake when its certificate is untrusted, expired, carries no identity,
//! has a role the [`AcceptPolicy`] does not accept, or is not the node a client meant to dial.

use std::fmt;
use std::sync::{Arc, OnceLock};

use lifeline_core::{NodeName, NodeRole};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};

use super::error::{BoxedCause, HandshakeRefusal};
use super::{IdentityError, LoadedIdentity, NodeIdentity, RevocationCheck};

/// The ALPN protocol both sides require.
pub const ALPN: &[u8] = b"lifeline/2";

/// Installs rustls' ring provider as the process default. Idempotent. The configurations
/// built here name their provider explicitly and do not need it; it is for other rustls users
/// in the process.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is all this function promises.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The provider every configuration here is built with (ring, as the workspace's rustls).
pub(super) fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// Whether windows connect to each other (the mesh used when no server is reachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowMesh {
    Off,
    On,
}

/// Which peer roles a server lets in. A client whose certificate role is not accepted is
/// refused inside the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptPolicy {
    roles: Vec<NodeRole>,
}

impl AcceptPolicy {
    /// Accepts exactly these roles.
    pub fn roles(roles: &[NodeRole]) -> AcceptPolicy {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        AcceptPolicy { roles }
    }

    /// Accepts every role.
    pub fn any() -> AcceptPolicy {
        AcceptPolicy::roles(NodeRole::ALL)
    }

    /// The usual policy of a node: central and standby accept everyone; a window accepts
    /// central and standby, and other windows only when window meshing is on.
    pub fn for_node(own: NodeRole, mesh: WindowMesh) -> AcceptPolicy {
        match (own, mesh) {
            (NodeRole::Central | NodeRole::Standby, _) | (NodeRole::Window, WindowMesh::On) => {
                AcceptPolicy::any()
            }
            (NodeRole::Window, WindowMesh::Off) => {
                AcceptPolicy::roles(&[NodeRole::Central, NodeRole::Standby])
            }
        }
    }

    pub fn accepts(&self, role: NodeRole) -> bool {
        self.roles.contains(&role)
    }

    pub fn accepted_roles(&self) -> &[NodeRole] {
        &self.roles
    }
}

/// A server configuration: presents this node's certificate, requires a client certificate
/// chained to the CA whose role `policy` accepts, and speaks ALPN [`ALPN`].
pub fn server_config(
    id: &LoadedIdentity,
    policy: AcceptPolicy,
) -> Result<quinn::ServerConfig, IdentityError> {
    let err = |e: BoxedCause| IdentityError::TlsConfig {
        side: "server",
        source: e,
    };
    let provider = crypto_provider();
    let inner = WebPkiClientVerifier::builder_with_provider(id.roots(), Arc::clone(&provider))
        .build()
        .map_err(|e| err(e.into()))?;
    let verifier = Arc::new(PolicyClientVerifier {
        inner,
        policy,
        node: id.identity().name.clone(),
        revoked: Revocations(id.revocations()),
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| err(e.into()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(id.chain(), id.key())
        .map_err(|e| err(e.into()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // No resumption: every connection runs the verifier against the current policy.
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    let quic = QuicServerConfig::try_from(tls).map_err(|e| err(e.into()))?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(quic)))
}

/// A client configuration that accepts any node whose certificate chains to the CA, carries
/// an identity, and names the server name the connection dials (see [`super::server_name`]).
/// Prefer [`client_config_for`], which also pins the node and role expected.
pub fn client_config(id: &LoadedIdentity) -> Result<quinn::ClientConfig, IdentityError> {
    build_client_config(id, None)
}

/// A client configuration for dialing one known peer: the handshake is refused unless the
/// server's certificate names `expected_name` with role `expected_role`. Dial with
/// `endpoint.connect_with(config, addr, &server_name(expected_name))`.
pub fn client_config_for(
    id: &LoadedIdentity,
    expected_name: &NodeName,
    expected_role: NodeRole,
) -> Result<quinn::ClientConfig, IdentityError> {
    build_client_config(
        id,
        Some(ExpectedServer {
            name: expected_name.clone(),
            role: expected_role,
        }),
    )
}

fn build_client_config(
    id: &LoadedIdentity,
    expected: Option<ExpectedServer>,
) -> Result<quinn::ClientConfig, IdentityError> {
    let err = |e: BoxedCause| IdentityError::TlsConfig {
        side: "client",
        source: e,
    };
    let provider = crypto_provider();
    let inner = WebPkiServerVerifier::builder_with_provider(id.roots(), Arc::clone(&provider))
        .build()
        .map_err(|e| err(e.into()))?;
    let verifier = Arc::new(NodeServerVerifier {
        inner,
        expected,
        node: id.identity().name.clone(),
        revoked: Revocations(id.revocations()),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| err(e.into()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(id.chain(), id.key())
        .map_err(|e| err(e.into()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.resumption = rustls::client::Resumption::disabled();
    tls.enable_early_data = false;
    let quic = QuicClientConfig::try_from(tls).map_err(|e| err(e.into()))?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}

/// The identity of the peer of an established connection, from its certificate.
pub fn peer_identity(conn: &quinn::Connection) -> Result<NodeIdentity, IdentityError> {
    let peer = conn.remote_address().to_string();
    let no_cert = || IdentityError::NoPeerCertificate { peer: peer.clone() };
    let certs = conn
        .peer_identity()
        .ok_or_else(no_cert)?
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| no_cert())?;
    let end_entity = certs.first().ok_or_else(no_cert)?;
    NodeIdentity::from_cert_der(end_entity).map_err(|problem| IdentityError::PeerIdentity {
        peer: peer.clone(),
        problem,
    })
}

/// Turns a refusal by identity into the rustls error that aborts the handshake, logging it
/// first. The peer gets a `certificate_unknown` alert; the local error carries the reason.
fn refuse(node: &NodeName, peer: &str, reason: HandshakeRefusal) -> rustls::Error {
    let shown = crate::chain::chain(&reason);
    tracing::warn!(node = %node, peer, reason = %shown, "refused a peer at the TLS handshake");
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(PeerRefusal(
        IdentityError::PeerRefused {
            peer: peer.to_owned(),
            reason,
        },
    )))))
}

/// Passes a failure of the CA's WebPKI check through unchanged, so that the peer gets the
/// precise alert (`unknown_ca`, `certificate_expired`, `bad_certificate`), and logs it.
fn untrusted(
    node: &NodeName,
    end_entity: &CertificateDer<'_>,
    err: rustls::Error,
) -> rustls::Error {
    let peer = match NodeIdentity::from_cert_der(end_entity) {
        Ok(identity) => format!("{} (claimed)", identity.name),
        Err(_) => "<unidentified>".to_owned(),
    };
    tracing::warn!(node = %node, peer, reason = %err, "refused an untrusted peer at the TLS handshake");
    err
}

/// The identity a peer's certificate carries; a certificate without one is refused.
fn identify(
    node: &NodeName,
    end_entity: &CertificateDer<'_>,
) -> Result<NodeIdentity, rustls::Error> {
    NodeIdentity::from_cert_der(end_entity).map_err(|problem| {
        refuse(
            node,
            "<unidentified>",
            HandshakeRefusal::NoIdentity(problem),
        )
    })
}

/// Handshake signatures: both verifiers leave them to the CA's WebPKI verifier they wrap
/// (`self.inner`).
macro_rules! delegate_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    };
}

/// rustls prints the error inside `CertificateError::Other` with `Debug`, so this wrapper's
/// `Debug` is the readable message with its causes.
struct PeerRefusal(IdentityError);

impl fmt::Debug for PeerRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::chain::chain(&self.0))
    }
}

impl fmt::Display for PeerRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for PeerRefusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Refuses an identity whose key the CA revoked.
fn check_revoked(
    node: &NodeName,
    identity: &NodeIdentity,
    revoked: &Revocations,
) -> Result<(), rustls::Error> {
    if let (Some(check), Some(key)) = (&revoked.0, identity.key)
        && check(&key)
    {
        let reason = HandshakeRefusal::Revoked { key };
        return Err(refuse(node, identity.name.as_str(), reason));
    }
    Ok(())
}

/// A verifier's revocation check, if it has one.
#[derive(Clone)]
struct Revocations(Option<RevocationCheck>);

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "checked" } else { "none" })
    }
}

/// Server side: the CA's WebPKI check, then an identity whose role the policy accepts and
/// whose key is not revoked.
#[derive(Debug)]
struct PolicyClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    policy: AcceptPolicy,
    node: NodeName,
    revoked: Revocations,
}

impl ClientCertVerifier for PolicyClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|e| untrusted(&self.node, end_entity, e))?;
        let identity = identify(&self.node, end_entity)?;
        if !self.policy.accepts(identity.role) {
            let reason = HandshakeRefusal::RoleNotAccepted {
                role: identity.role,
                accepted: role_list(self.policy.accepted_roles()),
            };
            return Err(refuse(&self.node, identity.name.as_str(), reason));
        }
        check_revoked(&self.node, &identity, &self.revoked)?;
        Ok(ClientCertVerified::assertion())
    }

    delegate_signatures!();
}

#[derive(Debug, Clone)]
struct ExpectedServer {
    name: NodeName,
    role: NodeRole,
}

/// Client side: the CA's WebPKI check (including the server name), then an identity that is
/// the one expected, if any, and whose key is not revoked.
#[derive(Debug)]
struct NodeServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    expected: Option<ExpectedServer>,
    node: NodeName,
    revoked: Revocations,
}

impl ServerCertVerifier for NodeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| untrusted(&self.node, end_entity, e))?;
        let identity = identify(&self.node, end_entity)?;
        if let Some(expected) = &self.expected
            && (identity.name != expected.name || identity.role != expected.role)
        {
            let reason = HandshakeRefusal::NotTheNodeDialed {
                expected_name: expected.name.clone(),
                expected_role: expected.role,
                name: identity.name.clone(),
                role: identity.role,
            };
            return Err(refuse(&self.node, identity.name.as_str(), reason));
        }
        check_revoked(&self.node, &identity, &self.revoked)?;
        Ok(ServerCertVerified::assertion())
    }

    delegate_signatures!();

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

fn role_list(roles: &[NodeRole]) -> String {
    if roles.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_policy_depends_on_meshing() {
        let off = AcceptPolicy::for_node(NodeRole::Window, WindowMesh::Off);
        assert!(!off.accepts(NodeRole::Window));
        assert!(off.accepts(NodeRole::Central));
        let on = AcceptPolicy::for_node(NodeRole::Window, WindowMesh::On);
        assert!(on.accepts(NodeRole::Window));
        let central = AcceptPolicy::for_node(NodeRole::Central, WindowMesh::Off);
        assert!(central.accepts(NodeRole::Window));
        assert_eq!(
            AcceptPolicy::roles(&[NodeRole::Window, NodeRole::Central, NodeRole::Window])
                .accepted_roles(),
            &[NodeRole::Central, NodeRole::Window]
        );
    }

    #[test]
    fn install_crypto_provider_is_idempotent() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(CryptoProvider::get_default().is_some());
    }
}
