//! The hospital CA as the judge of roster entries: a certificate a peer relays becomes a
//! [`Member`] only if the CA issued it and it carries a node identity and a P-256 key; a
//! revocation only if the CA signed it. Certificates are checked for their chain, not their
//! dates: a member's old signatures stay checkable after its certificate expires (the
//! handshake still refuses an expired certificate).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lifeline_core::trust::{Member, PublicKey, Revocation, RevocationProblem};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;

use super::error::{CaProblem, CredentialProblem};
use super::files::{parse_ca, read_file, read_single_cert};
use super::tls::crypto_provider;
use super::{IdentityError, NodeIdentity};

/// The hospital CA, to check roster entries with. Cheap to clone.
#[derive(Clone)]
pub struct Anchor {
    roots: Arc<RootCertStore>,
    ca_key: Option<PublicKey>,
}

impl fmt::Debug for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anchor")
            .field("ca_key", &self.ca_key)
            .finish_non_exhaustive()
    }
}

impl Anchor {
    /// The hospital CA of the certificate file `ca` (`ca.pem`), checked to be a CA.
    pub fn load(ca: &Path) -> Result<Anchor, IdentityError> {
        let pem = read_file(ca)?;
        let der = read_single_cert(ca, &pem, "CA certificate")?;
        parse_ca(ca, &der)?;
        let mut roots = RootCertStore::empty();
        roots.add(der.clone()).map_err(|e| IdentityError::NotCa {
            path: ca.to_owned(),
            problem: CaProblem::NotTrustAnchor(e),
        })?;
        Ok(Anchor::new(Arc::new(roots), &der))
    }

    /// The CA whose certificate is `ca_der` (already checked to be a CA) in `roots`.
    pub(super) fn new(roots: Arc<RootCertStore>, ca_der: &CertificateDer<'_>) -> Anchor {
        let ca_key = x509_parser::parse_x509_certificate(ca_der)
            .ok()
            .and_then(|(_, x509)| {
                PublicKey::from_sec1(&x509.public_key().subject_public_key.data).ok()
            });
        Anchor { roots, ca_key }
    }

    /// The CA's public key, which signs revocations (none for a CA whose key is not P-256).
    pub fn ca_key(&self) -> Option<&PublicKey> {
        self.ca_key.as_ref()
    }

    /// The member a certificate makes, if the CA issued it.
    pub fn member(&self, der: &[u8]) -> Result<Member, CredentialProblem> {
        let (_, x509) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| CredentialProblem::NotX509(e.into()))?;
        let identity = NodeIdentity::from_x509(&x509).map_err(CredentialProblem::Identity)?;
        let key = PublicKey::from_sec1(&x509.public_key().subject_public_key.data)
            .map_err(|_| CredentialProblem::KeyNotP256)?;
        // A moment inside the certificate's validity: its chain, not its dates.
        let validity = x509.validity();
        let secs = |t: i64| Duration::from_secs(u64::try_from(t).unwrap_or(0));
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let at = now
            .min(secs(validity.not_after.timestamp()).saturating_sub(Duration::from_secs(1)))
            .max(secs(validity.not_before.timestamp()) + Duration::from_secs(1));
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(&self.roots), crypto_provider())
                .build()
                .map_err(CredentialProblem::Verifier)?;
        let cert = CertificateDer::from(der.to_vec());
        verifier
            .verify_client_cert(&cert, &[], UnixTime::since_unix_epoch(at))
            .map_err(CredentialProblem::Untrusted)?;
        Ok(Member {
            name: identity.name,
            role: identity.role,
            desks: identity.desks,
            key,
            credential: der.to_vec(),
        })
    }

    /// The revocation a proof makes, if the CA signed it.
    pub fn revocation(&self, proof: &[u8]) -> Result<Revocation, RevocationProblem> {
        let ca = self.ca_key.as_ref().ok_or(RevocationProblem::NotByTheCa)?;
        Revocation::from_proof(proof, ca)
    }
}
