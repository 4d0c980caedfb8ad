//! The hospital CA on disk: creating it (`ca.pem`, `ca.key`) and issuing node certificates
//! (`<name>.pem`, `<name>.key`) that carry a [`NodeIdentity`].
//!
//! Private keys are written with mode 0600 and no file is ever overwritten: replacing a CA or
//! a node's material is a deliberate act (move the old files away first).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use lifeline_core::NodeName;
use lifeline_core::rules::check_text;
use lifeline_core::trust::{Revocation, RevocationStatement, SigningKey};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, ServerName};
use time::OffsetDateTime;

use super::error::{CaProblem, CertIdentityProblem, KeyProblem, PemProblem};
use super::files::{
    CA_CERT_FILE, CA_KEY_FILE, TlsFiles, parse_ca, read_file, read_single_cert,
    warn_if_readable_by_others,
};
use super::{IdentityError, NodeIdentity};
/// How long the hospital CA is valid: 20 years.
pub const CA_VALIDITY_DAYS: u32 = 7300;
/// Certificates start being valid this long before they are issued, so that a node whose
/// clock is a little behind the issuing machine's accepts them at once.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(3600);

const SECS_PER_DAY: u64 = 86_400;

/// Where [`init_ca`] wrote the CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where [`issue`] wrote a node's material, and the CA certificate that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl IssuedFiles {
    /// The paths [`super::load`] takes, as written here.
    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// Valid from now (less [`CLOCK_SKEW_ALLOWANCE`]) for `days` days.
    pub fn days_from_now(days: u32) -> Validity {
        let now = SystemTime::now();
        Validity {
            not_before: now
                .checked_sub(CLOCK_SKEW_ALLOWANCE)
                .unwrap_or(SystemTime::UNIX_EPOCH),
            not_after: now + Duration::from_secs(u64::from(days) * SECS_PER_DAY),
        }
    }

    fn apply(self, params: &mut CertificateParams) -> Result<(), IdentityError> {
        let not_before = OffsetDateTime::from(self.not_before);
        let not_after = OffsetDateTime::from(self.not_after);
        if not_before >= not_after {
            return Err(IdentityError::EmptyValidity {
                not_before: not_before.to_string(),
                not_after: not_after.to_string(),
            });
        }
        params.not_before = not_before;
        params.not_after = not_after;
        Ok(())
    }
}

/// Creates the hospital CA in `dir` (created if missing): `ca.pem` (certificate) and `ca.key`
/// (private key, mode 0600). Refuses to overwrite an existing CA.
pub fn init_ca(dir: &Path) -> Result<CaFiles, IdentityError> {
    fs::create_dir_all(dir).map_err(|source| IdentityError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    let files = CaFiles {
        cert: dir.join(CA_CERT_FILE),
        key: dir.join(CA_KEY_FILE),
    };
    refuse_existing(&[&files.cert, &files.key])?;

    let key = KeyPair::generate().map_err(|source| IdentityError::Generate {
        what: "CA key",
        source,
    })?;
    let mut params = CertificateParams::default();
    // The key id in the name tells two CAs apart, in file listings and in verifier errors
    // (a certificate of another CA is then an unknown issuer, not a bad signature).
    let key_id = params.key_identifier(&key);
    let key_id: String = key_id.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("Lifeline hospital CA {key_id}"));
    dn.push(DnType::OrganizationName, "Lifeline");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Validity::days_from_now(CA_VALIDITY_DAYS).apply(&mut params)?;
    let cert = params
        .self_signed(&key)
        .map_err(|source| IdentityError::Generate {
            what: "CA certificate",
            source,
        })?;

    write_pair(&files.key, &key.serialize_pem(), &files.cert, &cert.pem())?;
    tracing::info!(ca = %files.cert.display(), "created the hospital CA");
    Ok(files)
}

/// Issues a node certificate signed by the CA in `dir`: `<name>.pem` and `<name>.key` (mode
/// 0600) in the same directory, valid from now for `validity_days` days.
pub fn issue(
    dir: &Path,
    identity: &NodeIdentity,
    validity_days: u32,
) -> Result<IssuedFiles, IdentityError> {
    issue_with_validity(dir, identity, Validity::days_from_now(validity_days))
}

/// [`issue`] with explicit dates (tests use it to make certificates that already expired).
pub fn issue_with_validity(
    dir: &Path,
    identity: &NodeIdentity,
    validity: Validity,
) -> Result<IssuedFiles, IdentityError> {
    let name = identity.name.as_str();
    let dns_name = identity.server_name();
    if dns_name == "ca" {
        return Err(IdentityError::UnusableName {
            name: name.to_owned(),
            reason: "its files would collide with the CA's (ca.pem, ca.key)",
        });
    }
    if !matches!(
        ServerName::try_from(dns_name.as_str()),
        Ok(ServerName::DnsName(_))
    ) {
        return Err(IdentityError::UnusableName {
            name: name.to_owned(),
            reason: "lowercased, it must be a DNS name (labels of letters, digits, '-', '_' \
                     separated by single dots, not starting or ending with '-', not an IP address)",
        });
    }

    let ca_cert_path = dir.join(CA_CERT_FILE);
    let ca_key_path = dir.join(CA_KEY_FILE);
    let ca_pem = read_file(&ca_cert_path)?;
    let ca_der = read_single_cert(&ca_cert_path, &ca_pem, "CA certificate")?;
    let ca_key_pem = read_file(&ca_key_path)?;
    warn_if_readable_by_others(&ca_key_path);
    let ca_key_pem = String::from_utf8(ca_key_pem).map_err(|_| IdentityError::NotPem {
        path: ca_key_path.clone(),
        expected: "private key",
        problem: PemProblem::NotText,
    })?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| IdentityError::UnusableKey {
        path: ca_key_path.clone(),
        problem: KeyProblem::Parse(e),
    })?;
    let ca_x509 = parse_ca(&ca_cert_path, &ca_der)?;
    if ca_x509.public_key().subject_public_key.data.as_ref() != ca_key.public_key_raw() {
        return Err(IdentityError::KeyMismatch {
            key: ca_key_path,
            cert: ca_cert_path,
        });
    }
    let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key).map_err(|e| IdentityError::NotCa {
        path: ca_cert_path.clone(),
        problem: CaProblem::CannotIssue(e),
    })?;

    let files = IssuedFiles {
        ca: ca_cert_path,
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    refuse_existing(&[&files.cert, &files.key])?;

    let key = KeyPair::generate().map_err(|source| IdentityError::Generate {
        what: "node key",
        source,
    })?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationalUnitName, identity.subject_ou());
    params.distinguished_name = dn;
    let san = dns_name
        .clone()
        .try_into()
        .map_err(|source| IdentityError::Generate {
            what: "subject alternative name",
            source,
        })?;
    params.subject_alt_names = vec![SanType::DnsName(san)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    validity.apply(&mut params)?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| IdentityError::Generate {
            what: "node certificate",
            source,
        })?;

    write_pair(&files.key, &key.serialize_pem(), &files.cert, &cert.pem())?;
    tracing::info!(node = %identity, cert = %files.cert.display(), "issued a node certificate");
    Ok(files)
}

/// Where [`revoke`] writes a node's revocation: `<dir>/<name>.revoked.json`.
pub fn revocation_path(dir: &Path, name: &NodeName) -> PathBuf {
    dir.join(format!("{name}.revoked.json"))
}

/// What [`revoke`] made.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub path: PathBuf,
    pub revocation: Revocation,
}

/// Revokes the certificate `<dir>/<name>.pem` (a stolen window PC): signs, with the CA's key,
/// that its key must no longer be trusted, and writes it to [`revocation_path`]. Give the file
/// to central (`lifeline revoke`), which refuses the node at once and sends the revocation to
/// every peer. Refuses to overwrite an earlier revocation of the same name.
pub fn revoke(
    dir: &Path,
    name: &NodeName,
    reason: &str,
    now_ms: i64,
) -> Result<Revoked, IdentityError> {
    check_text("reason", reason, true).map_err(IdentityError::BadReason)?;
    let cert_path = dir.join(format!("{name}.pem"));
    let path = revocation_path(dir, name);
    refuse_existing(&[&path])?;
    let cert_pem = read_file(&cert_path)?;
    let cert = read_single_cert(&cert_path, &cert_pem, "certificate")?;
    let (_, x509) =
        x509_parser::parse_x509_certificate(&cert).map_err(|e| IdentityError::CertIdentity {
            path: cert_path.clone(),
            problem: CertIdentityProblem::NotX509(e.into()),
        })?;
    let identity =
        NodeIdentity::from_x509(&x509).map_err(|problem| IdentityError::CertIdentity {
            path: cert_path.clone(),
            problem,
        })?;
    let Some(key) = identity.key else {
        return Err(IdentityError::CertIdentity {
            path: cert_path,
            problem: CertIdentityProblem::MissingServerName {
                expected: identity.server_name(),
            },
        });
    };
    let ca_key_path = dir.join(CA_KEY_FILE);
    let ca_key_pem = read_file(&ca_key_path)?;
    warn_if_readable_by_others(&ca_key_path);
    let ca_key = PrivateKeyDer::from_pem_slice(&ca_key_pem).map_err(|e| IdentityError::NotPem {
        path: ca_key_path.clone(),
        expected: "private key",
        problem: PemProblem::Pem(e),
    })?;
    let ca_name = NodeName::new("ca").map_err(|_| IdentityError::UnusableName {
        name: "ca".into(),
        reason: "not a name",
    })?;
    let signer = SigningKey::from_pkcs8(ca_name, ca_key.secret_der()).map_err(|e| {
        IdentityError::UnusableKey {
            path: ca_key_path.clone(),
            problem: KeyProblem::NotForSigning(e),
        }
    })?;
    let statement = RevocationStatement {
        name: name.clone(),
        key,
        revoked_ms: now_ms,
        reason: reason.to_owned(),
    };
    let revocation = statement
        .sign(&signer)
        .map_err(|e| IdentityError::UnusableKey {
            path: ca_key_path,
            problem: KeyProblem::NotForSigning(e),
        })?;
    write_new(&path, &revocation.proof, 0o644)?;
    tracing::warn!(node = %name, key = %key.short(), file = %path.display(), "revoked a node's certificate");
    Ok(Revoked { path, revocation })
}

fn refuse_existing(paths: &[&Path]) -> Result<(), IdentityError> {
    for path in paths {
        // symlink_metadata: a dangling symlink counts as existing too.
        match fs::symlink_metadata(path) {
            Ok(_) => {
                return Err(IdentityError::AlreadyExists {
                    path: path.to_path_buf(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(IdentityError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Writes the key (0600) then the certificate (0644); if the certificate cannot be written,
/// removes the key again so that a retry starts clean.
fn write_pair(
    key_path: &Path,
    key_pem: &str,
    cert_path: &Path,
    cert_pem: &str,
) -> Result<(), IdentityError> {
    write_new(key_path, key_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(cert_path, cert_pem.as_bytes(), 0o644) {
        // Best effort: the error that matters is the one about the certificate.
        let _ = fs::remove_file(key_path);
        return Err(e);
    }
    Ok(())
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), IdentityError> {
    let write_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            IdentityError::AlreadyExists {
                path: path.to_owned(),
            }
        } else {
            IdentityError::Write {
                path: path.to_owned(),
                source,
            }
        }
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(write_err)?;
    file.write_all(contents).map_err(write_err)?;
    file.sync_all().map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_days_from_now_starts_a_little_early() {
        let v = Validity::days_from_now(2);
        let now = SystemTime::now();
        assert!(v.not_before < now);
        assert!(v.not_after > now + Duration::from_secs(SECS_PER_DAY));
    }

    #[test]
    fn empty_validity_is_refused() {
        let now = SystemTime::now();
        let v = Validity {
            not_before: now,
            not_after: now,
        };
        let err = v.apply(&mut CertificateParams::default()).unwrap_err();
        assert!(matches!(err, IdentityError::EmptyValidity { .. }), "{err}");
    }
}
