//! The keys that sign changes: a node's ECDSA P-256 key (the key its hospital certificate
//! certifies) and the public half every receiver checks signatures with, named by its
//! [`KeyId`].
//!
//! Signatures are ECDSA P-256 with SHA-256 in the fixed 64-byte form (ring). Every message
//! signed here starts with a domain string of its own (see [`super::signed`]), so a signature
//! made for a change can never pass for a TLS handshake signature of the same key (those sign
//! a different context string), nor the other way round.

use std::fmt;
use std::sync::Arc;

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::NodeName;

/// Length of an uncompressed SEC1 P-256 point: `04 || x || y`.
pub const PUBLIC_KEY_LEN: usize = 65;

/// Length of a fixed-form P-256 signature: `r || s`.
pub const SIGNATURE_LEN: usize = 64;

/// A public key's name: the SHA-256 of its uncompressed point. Each certificate carries a key
/// of its own, so a key id names one certificate of one node.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(pub [u8; 32]);

impl KeyId {
    /// The first 8 bytes in hex, for logs and reports.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.short())
    }
}

/// Text that is not a key id (64 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a key id (64 hex digits)")]
pub struct ParseKeyIdError {
    pub value: String,
}

impl std::str::FromStr for KeyId {
    type Err = ParseKeyIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseKeyIdError {
            value: s.to_owned(),
        };
        let bytes = hex::decode(s).map_err(|_| bad())?;
        Ok(KeyId(bytes.try_into().map_err(|_| bad())?))
    }
}

impl TryFrom<String> for KeyId {
    type Error = ParseKeyIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.to_string()
    }
}

/// A P-256 public key as an uncompressed SEC1 point.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey(Vec<u8>);

/// Bytes that are not a P-256 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an uncompressed P-256 public key ({len} bytes)")]
pub struct PublicKeyError {
    pub len: usize,
}

impl PublicKey {
    /// An uncompressed SEC1 point (65 bytes starting with 0x04). The point itself is checked
    /// when a signature is verified with it.
    pub fn from_sec1(bytes: &[u8]) -> Result<PublicKey, PublicKeyError> {
        if bytes.len() != PUBLIC_KEY_LEN || bytes[0] != 4 {
            return Err(PublicKeyError { len: bytes.len() });
        }
        Ok(PublicKey(bytes.to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn id(&self) -> KeyId {
        KeyId(Sha256::digest(&self.0).into())
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id().short())
    }
}

impl TryFrom<String> for PublicKey {
    type Error = PublicKeyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let bytes = hex::decode(&s).map_err(|_| PublicKeyError { len: s.len() / 2 })?;
        PublicKey::from_sec1(&bytes)
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        hex::encode(key.0)
    }
}

/// Why a signing key could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// The bytes are not a PKCS#8 ECDSA P-256 private key (ring's reason is not more precise).
    #[error("not a PKCS#8 ECDSA P-256 private key: {reason}")]
    NotP256 { reason: String },
    #[error("no randomness to make a key")]
    NoRandomness,
}

/// A node's private signing key and the node it signs for. Cheap to clone; its `Debug` shows
/// the node and the key id, never the key.
#[derive(Clone)]
pub struct SigningKey {
    author: NodeName,
    pair: Arc<EcdsaKeyPair>,
    public: PublicKey,
}

impl SigningKey {
    /// The key of a node's certificate, from its PKCS#8 DER (what `<name>.key` holds).
    pub fn from_pkcs8(author: NodeName, der: &[u8]) -> Result<SigningKey, SigningKeyError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map_err(|e| SigningKeyError::NotP256 {
                reason: e.to_string(),
            })?;
        let public = PublicKey(pair.public_key().as_ref().to_vec());
        Ok(SigningKey {
            author,
            pair: Arc::new(pair),
            public,
        })
    }

    /// A fresh random key, certified by nobody: for tests, simulations and benchmarks, whose
    /// stores admit each other's members directly. Peers on the network refuse its changes,
    /// since no certificate of the hospital CA carries it.
    pub fn generate(author: NodeName) -> Result<SigningKey, SigningKeyError> {
        SigningKey::from_pkcs8(author, &generate_pkcs8()?)
    }

    pub fn author(&self) -> &NodeName {
        &self.author
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn id(&self) -> KeyId {
        self.public.id()
    }

    /// Signs `message` (which must start with its domain string).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningKeyError> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SigningKeyError::NoRandomness)
    }
}

/// A fresh random P-256 private key as PKCS#8 DER (what [`SigningKey::from_pkcs8`] reads), for
/// fixtures that must keep a key across runs (the fuzz seeds).
pub fn generate_pkcs8() -> Result<Vec<u8>, SigningKeyError> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map(|doc| doc.as_ref().to_vec())
        .map_err(|_| SigningKeyError::NoRandomness)
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("author", &self.author)
            .field("key", &self.id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_and_its_public_half_verifies() {
        let key = SigningKey::generate(NodeName::new("W01").expect("valid")).expect("key");
        let sig = key.sign(b"domain\0message").expect("sign");
        assert_eq!(sig.len(), SIGNATURE_LEN);
        assert!(key.public_key().verifies(b"domain\0message", &sig));
        assert!(!key.public_key().verifies(b"domain\0massage", &sig));
        let id = key.id();
        assert_eq!(id.to_string().parse::<KeyId>(), Ok(id));
        assert!(!format!("{key:?}").contains("pair"));
    }

    #[test]
    fn public_keys_must_be_uncompressed_points() {
        assert!(PublicKey::from_sec1(&[4; 65]).is_ok());
        assert!(PublicKey::from_sec1(&[2; 33]).is_err());
        assert!(PublicKey::from_sec1(&[]).is_err());
        assert!("zz".parse::<KeyId>().is_err());
    }
}
