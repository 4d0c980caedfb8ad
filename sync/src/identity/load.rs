//! Loading a node's own TLS material and checking it before the node goes on the network:
//! every file readable and PEM, the certificate carrying an identity, chaining to the CA,
//! inside its validity, and matching the private key.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, RootCertStore};
use x509_parser::certificate::X509Certificate;

use lifeline_core::store::Credentials;
use lifeline_core::trust::{KeyId, SigningKey};

use super::anchor::Anchor;
use super::error::{CaProblem, CertIdentityProblem, KeyProblem, PemProblem, TrustProblem};
use super::files::{
    TlsFiles, parse_ca, read_certs, read_file, read_single_cert, warn_if_readable_by_others,
};
use super::tls::crypto_provider;
use super::{IdentityError, NodeIdentity};

/// Whether a key (by its id) is revoked: the handshake refuses such a peer.
pub type RevocationCheck = Arc<dyn Fn(&KeyId) -> bool + Send + Sync>;

/// A node's checked TLS material and the identity its certificate carries.
pub struct LoadedIdentity {
    identity: NodeIdentity,
    files: TlsFiles,
    roots: Arc<RootCertStore>,
    anchor: Anchor,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    not_after: SystemTime,
    revocations: Option<RevocationCheck>,
}

impl LoadedIdentity {
    /// Who this node is, as its certificate says.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// Where the material was loaded from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// When the node's certificate expires (for `status` and early warnings).
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    pub(super) fn roots(&self) -> Arc<RootCertStore> {
        Arc::clone(&self.roots)
    }

    pub(super) fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    pub(super) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }

    /// The hospital CA, to check roster entries peers relay.
    pub fn anchor(&self) -> &Anchor {
        &self.anchor
    }

    /// The node's signing key (its certificate's key) and its own roster entry, to sign its
    /// changes with.
    pub fn credentials(&self) -> Result<Credentials, IdentityError> {
        let unusable = |problem| IdentityError::UnusableKey {
            path: self.files.key.clone(),
            problem,
        };
        let key = SigningKey::from_pkcs8(self.identity.name.clone(), self.key.secret_der())
            .map_err(|e| unusable(KeyProblem::NotForSigning(e)))?;
        let own = self.chain.first().map(|c| c.as_ref()).unwrap_or_default();
        let member = self
            .anchor
            .member(own)
            .map_err(|e| unusable(KeyProblem::NotAMember(Box::new(e))))?;
        Credentials::new(key, member).map_err(|e| unusable(KeyProblem::Mismatch(e)))
    }

    /// Refuses, from now on, every peer whose key `check` says is revoked, at the handshake
    /// of each side (configurations built after this call).
    pub fn set_revocations(&mut self, check: RevocationCheck) {
        self.revocations = Some(check);
    }

    pub(super) fn revocations(&self) -> Option<RevocationCheck> {
        self.revocations.clone()
    }
}

impl Clone for LoadedIdentity {
    fn clone(&self) -> Self {
        LoadedIdentity {
            identity: self.identity.clone(),
            files: self.files.clone(),
            roots: Arc::clone(&self.roots),
            anchor: self.anchor.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            not_after: self.not_after,
            revocations: self.revocations.clone(),
        }
    }
}

impl fmt::Debug for LoadedIdentity {
    // Never prints the private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedIdentity")
            .field("identity", &self.identity)
            .field("files", &self.files)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Whether [`load`] refuses a certificate outside its validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpiryCheck {
    Refuse,
    Allow,
}

/// Loads and checks a node's own material: each file readable and PEM, the certificate
/// carrying a node identity, chaining to the CA, valid now, and matching the key. The error
/// names the file and the problem.
pub fn load(files: &TlsFiles) -> Result<LoadedIdentity, IdentityError> {
    load_checked(files, ExpiryCheck::Refuse)
}

/// [`load`] without the validity dates check (everything else is checked). For showing an
/// expired certificate in `status`, and for tests that need peers with expired certificates;
/// such a node is refused by every peer at the handshake.
pub fn load_allowing_expired(files: &TlsFiles) -> Result<LoadedIdentity, IdentityError> {
    load_checked(files, ExpiryCheck::Allow)
}

fn load_checked(files: &TlsFiles, expiry: ExpiryCheck) -> Result<LoadedIdentity, IdentityError> {
    let ca_pem = read_file(&files.ca)?;
    let ca_der = read_single_cert(&files.ca, &ca_pem, "CA certificate")?;
    parse_ca(&files.ca, &ca_der)?;
    let mut roots = RootCertStore::empty();
    roots
        .add(ca_der.clone())
        .map_err(|e| IdentityError::NotCa {
            path: files.ca.clone(),
            problem: CaProblem::NotTrustAnchor(e),
        })?;
    let roots = Arc::new(roots);
    let anchor = Anchor::new(Arc::clone(&roots), &ca_der);

    let cert_pem = read_file(&files.cert)?;
    let chain = read_certs(&files.cert, &cert_pem, "certificate")?;
    let Some((end_entity, intermediates)) = chain.split_first() else {
        // read_certs never returns an empty list; keep the error honest anyway.
        return Err(IdentityError::NotPem {
            path: files.cert.clone(),
            expected: "certificate",
            problem: PemProblem::NoCertificate,
        });
    };

    let key_pem = read_file(&files.key)?;
    warn_if_readable_by_others(&files.key);
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| IdentityError::NotPem {
        path: files.key.clone(),
        expected: "private key",
        problem: PemProblem::Pem(e),
    })?;

    let (_, x509) = x509_parser::parse_x509_certificate(end_entity).map_err(|e| {
        IdentityError::CertIdentity {
            path: files.cert.clone(),
            problem: CertIdentityProblem::NotX509(e.into()),
        }
    })?;
    let identity =
        NodeIdentity::from_x509(&x509).map_err(|problem| IdentityError::CertIdentity {
            path: files.cert.clone(),
            problem,
        })?;
    let not_after = cert_not_after(&x509);
    let now = SystemTime::now();
    let verify_at = match expiry {
        ExpiryCheck::Refuse => {
            check_dates(&files.cert, &x509, now)?;
            now
        }
        // Check the chain as of a moment inside the certificate's validity.
        ExpiryCheck::Allow => not_after
            .checked_sub(Duration::from_secs(1))
            .unwrap_or(SystemTime::UNIX_EPOCH),
    };
    let verify_at = UnixTime::since_unix_epoch(
        verify_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO),
    );

    check_chain(
        files,
        &roots,
        end_entity,
        intermediates,
        &identity,
        verify_at,
    )?;
    check_key(files, &chain, &key)?;

    Ok(LoadedIdentity {
        identity,
        files: files.clone(),
        roots,
        anchor,
        chain,
        key,
        not_after,
        revocations: None,
    })
}

/// The certificate must serve both as a server and as a client certificate of this CA.
fn check_chain(
    files: &TlsFiles,
    roots: &Arc<RootCertStore>,
    end_entity: &CertificateDer<'static>,
    intermediates: &[CertificateDer<'static>],
    identity: &NodeIdentity,
    now: UnixTime,
) -> Result<(), IdentityError> {
    let untrusted = |problem| IdentityError::Untrusted {
        path: files.cert.clone(),
        ca: files.ca.clone(),
        problem,
    };
    let provider = crypto_provider();
    let server_verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| untrusted(TrustProblem::Verifier(e)))?;
    let dns_name = identity.server_name();
    let server_name = ServerName::try_from(dns_name.as_str()).map_err(|source| {
        untrusted(TrustProblem::DnsName {
            name: dns_name.clone(),
            source,
        })
    })?;
    rustls::client::danger::ServerCertVerifier::verify_server_cert(
        server_verifier.as_ref(),
        end_entity,
        intermediates,
        &server_name,
        &[],
        now,
    )
    .map_err(|e| untrusted(TrustProblem::AsServer(e)))?;

    let client_verifier = WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), provider)
        .build()
        .map_err(|e| untrusted(TrustProblem::Verifier(e)))?;
    client_verifier
        .verify_client_cert(end_entity, intermediates, now)
        .map_err(|e| untrusted(TrustProblem::AsClient(e)))?;
    Ok(())
}

fn check_key(
    files: &TlsFiles,
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
) -> Result<(), IdentityError> {
    let signing_key = crypto_provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| IdentityError::UnusableKey {
            path: files.key.clone(),
            problem: KeyProblem::Unsupported(e),
        })?;
    match CertifiedKey::new(chain.to_vec(), signing_key).keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(()),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(IdentityError::KeyMismatch {
                key: files.key.clone(),
                cert: files.cert.clone(),
            })
        }
        Err(e) => Err(IdentityError::UnusableKey {
            path: files.key.clone(),
            problem: KeyProblem::Unsupported(e),
        }),
    }
}

fn check_dates(
    path: &Path,
    x509: &X509Certificate<'_>,
    now: SystemTime,
) -> Result<(), IdentityError> {
    let now_secs = match now.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    let validity = x509.validity();
    if now_secs < validity.not_before.timestamp() {
        return Err(IdentityError::NotYetValid {
            path: path.to_owned(),
            not_before: validity.not_before.to_string(),
        });
    }
    if now_secs > validity.not_after.timestamp() {
        return Err(IdentityError::Expired {
            path: path.to_owned(),
            not_after: validity.not_after.to_string(),
        });
    }
    Ok(())
}

fn cert_not_after(x509: &X509Certificate<'_>) -> SystemTime {
    let secs = x509.validity().not_after.timestamp();
    match u64::try_from(secs) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}
