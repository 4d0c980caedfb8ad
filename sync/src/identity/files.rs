//! Identity material on disk: the file layout (`ca.pem`, `ca.key`, `<name>.pem`,
//! `<name>.key`) and reading it: files, PEM certificates, the hospital CA certificate, and the
//! warning for private keys other users can read. Shared by [`super::ca`] (which writes the
//! material) and [`super::load`] (which checks it before the node goes on the network).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use lifeline_core::NodeName;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::certificate::X509Certificate;

use super::IdentityError;
use super::error::{CaProblem, PemProblem};

/// File name of the CA certificate inside the CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// Paths of a node's TLS material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The hospital CA certificate (`ca.pem`).
    pub ca: PathBuf,
    /// The node's certificate (`<name>.pem`); intermediates may follow it in the file.
    pub cert: PathBuf,
    /// The node's private key (`<name>.key`).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The layout [`super::init_ca`] and [`super::issue`] write: `dir/ca.pem`,
    /// `dir/<name>.pem`, `dir/<name>.key`.
    pub fn in_dir(dir: &Path, name: &NodeName) -> TlsFiles {
        TlsFiles {
            ca: dir.join(CA_CERT_FILE),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        }
    }
}

pub(super) fn read_file(path: &Path) -> Result<Vec<u8>, IdentityError> {
    fs::read(path).map_err(|source| IdentityError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every `CERTIFICATE` section of a PEM file; at least one.
pub(super) fn read_certs(
    path: &Path,
    pem: &[u8],
    expected: &'static str,
) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let not_pem = |problem| IdentityError::NotPem {
        path: path.to_owned(),
        expected,
        problem,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem(PemProblem::Pem(e)))?;
    if certs.is_empty() {
        return Err(not_pem(PemProblem::NoCertificate));
    }
    Ok(certs)
}

/// The one CA certificate in `pem`.
pub(super) fn read_single_cert(
    path: &Path,
    pem: &[u8],
    expected: &'static str,
) -> Result<CertificateDer<'static>, IdentityError> {
    let mut certs = read_certs(path, pem, expected)?;
    match certs.len() {
        1 => Ok(certs.remove(0)),
        count => Err(IdentityError::CaCount {
            path: path.to_owned(),
            count,
        }),
    }
}

/// Parses the hospital CA certificate read from `path`, refusing one without CA rights.
pub(super) fn parse_ca<'a>(
    path: &Path,
    der: &'a CertificateDer<'_>,
) -> Result<X509Certificate<'a>, IdentityError> {
    let not_ca = |problem| IdentityError::NotCa {
        path: path.to_owned(),
        problem,
    };
    let (_, x509) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| not_ca(CaProblem::NotX509(e.into())))?;
    if !x509.is_ca() {
        return Err(not_ca(CaProblem::NoCaRights));
    }
    Ok(x509)
}

/// Logs a warning when a private key file can be read by group or others.
pub(super) fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                key = %path.display(),
                mode = format_args!("{mode:o}"),
                "private key is readable by other users; run chmod 600 on it"
            );
        }
    }
}
