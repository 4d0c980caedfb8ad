//! Revocations: the hospital CA's signed word that a node's key must no longer be trusted
//! (`lifeline ca revoke --name W07` makes one; central distributes it with the roster).
//!
//! The proof is JSON, so a person can read the file: `{"name", "key", "revoked_ms", "reason",
//! "signature"}`. The signature (ECDSA P-256 by the CA's key, fixed form, hex) is over
//! [`REVOCATION_DOMAIN`], then the name (1-byte length and bytes), the key id (32 bytes), the
//! time (8 bytes, big-endian) and the reason (4-byte length and UTF-8 bytes).

use serde::{Deserialize, Serialize};

use super::key::{KeyId, PublicKey, SigningKey, SigningKeyError};
use super::roster::Revocation;
use crate::clock::UnixMs;
use crate::id::NodeName;
use crate::rules::{RuleError, check_text};

/// What every revocation signature signs first.
pub const REVOCATION_DOMAIN: &[u8] = b"lifeline revocation v1\0";

/// Largest revocation proof read, in bytes.
pub const MAX_PROOF_BYTES: usize = 4096;

/// What a revocation says, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationStatement {
    pub name: NodeName,
    pub key: KeyId,
    pub revoked_ms: UnixMs,
    pub reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Proof {
    name: NodeName,
    key: KeyId,
    revoked_ms: UnixMs,
    reason: String,
    signature: String,
}

/// Why a revocation proof is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationProblem {
    #[error("it is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("it is not a revocation")]
    Malformed { reason: String },
    #[error("its reason is not acceptable")]
    Reason(#[source] RuleError),
    #[error("it is not signed by this hospital's CA")]
    NotByTheCa,
}

impl RevocationStatement {
    fn message(&self) -> Vec<u8> {
        let name = self.name.as_str().as_bytes();
        let reason = self.reason.as_bytes();
        let mut m =
            Vec::with_capacity(REVOCATION_DOMAIN.len() + 1 + name.len() + 44 + reason.len());
        m.extend_from_slice(REVOCATION_DOMAIN);
        m.push(name.len() as u8);
        m.extend_from_slice(name);
        m.extend_from_slice(&self.key.0);
        m.extend_from_slice(&self.revoked_ms.to_be_bytes());
        m.extend_from_slice(&(reason.len() as u32).to_be_bytes());
        m.extend_from_slice(reason);
        m
    }

    /// Signs the statement with the CA's key: the revocation, with its proof.
    pub fn sign(self, ca: &SigningKey) -> Result<Revocation, SigningKeyError> {
        let signature = hex::encode(ca.sign(&self.message())?);
        let proof = Proof {
            name: self.name.clone(),
            key: self.key,
            revoked_ms: self.revoked_ms,
            reason: self.reason.clone(),
            signature,
        };
        let proof = serde_json::to_vec_pretty(&proof).unwrap_or_default();
        Ok(Revocation {
            name: self.name,
            key: self.key,
            revoked_ms: self.revoked_ms,
            reason: self.reason,
            proof,
        })
    }
}

impl Revocation {
    /// Reads a revocation proof and checks it is signed by the CA whose public key is `ca`.
    pub fn from_proof(bytes: &[u8], ca: &PublicKey) -> Result<Revocation, RevocationProblem> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(RevocationProblem::TooLarge {
                max: MAX_PROOF_BYTES,
            });
        }
        let proof: Proof =
            serde_json::from_slice(bytes).map_err(|e| RevocationProblem::Malformed {
                reason: e.to_string(),
            })?;
        check_text("reason", &proof.reason, false).map_err(RevocationProblem::Reason)?;
        let statement = RevocationStatement {
            name: proof.name,
            key: proof.key,
            revoked_ms: proof.revoked_ms,
            reason: proof.reason,
        };
        let signature = hex::decode(&proof.signature).map_err(|_| RevocationProblem::NotByTheCa)?;
        if !ca.verifies(&statement.message(), &signature) {
            return Err(RevocationProblem::NotByTheCa);
        }
        Ok(Revocation {
            name: statement.name,
            key: statement.key,
            revoked_ms: statement.revoked_ms,
            reason: statement.reason,
            proof: bytes.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> RevocationStatement {
        RevocationStatement {
            name: NodeName::new("W07").expect("valid"),
            key: KeyId([7; 32]),
            revoked_ms: 1_795_568_400_000,
            reason: "window PC stolen".into(),
        }
    }

    #[test]
    fn only_the_ca_s_signature_makes_a_revocation() {
        let ca = SigningKey::generate(NodeName::new("ca").expect("valid")).expect("key");
        let other = SigningKey::generate(NodeName::new("ca").expect("valid")).expect("key");
        let revocation = statement().sign(&ca).expect("sign");
        let read = Revocation::from_proof(&revocation.proof, ca.public_key()).expect("valid");
        assert_eq!(read, revocation);
        assert_eq!(
            Revocation::from_proof(&revocation.proof, other.public_key()),
            Err(RevocationProblem::NotByTheCa)
        );
        // Changing what it says breaks the signature.
        let text = String::from_utf8(revocation.proof.clone()).expect("json");
        let forged = text.replace("W07", "W08");
        assert_eq!(
            Revocation::from_proof(forged.as_bytes(), ca.public_key()),
            Err(RevocationProblem::NotByTheCa)
        );
        assert!(matches!(
            Revocation::from_proof(b"{}", ca.public_key()),
            Err(RevocationProblem::Malformed { .. })
        ));
        assert!(matches!(
            Revocation::from_proof(&[b' '; MAX_PROOF_BYTES + 1], ca.public_key()),
            Err(RevocationProblem::TooLarge { .. })
        ));
    }
}
