//! Trust no peer: who wrote a change, and whether they may.
//!
//! Mutual TLS proves who a direct peer is, not who wrote what it relays. So every change a
//! node authors is signed (one signature per commit over the hashes of the changes it made,
//! [`SignedCommit`]) with the key its hospital certificate certifies ([`SigningKey`]); the
//! signatures travel with the changes through every relay and are kept beside them; and every
//! receiver checks each new change against its author's certified key before applying it
//! ([`Signatures`]). The certified keys of every node reach every node through a replicated
//! [`Roster`], whose entries each receiver checks against the CA (lifeline-sync does that; core
//! knows no certificates). Then the field-level [`rules`] say what each author may write, and
//! [`validate`] that the result reads as a record.
//!
//! - [`key`]: key ids, public keys, signing keys;
//! - [`signed`]: signed commits, their encoding, and checking a batch's signatures once each;
//! - [`roster`]: members, their rights, revocations;
//! - [`revocation`]: the CA's signed revocations;
//! - [`paths`]: which fields a change writes;
//! - [`rules`]: the rules ([`Judge`]) and why a change breaks them ([`Breach`]);
//! - [`validate`]: whether a document reads as its kind.

mod breach;
mod episodes;
pub mod key;
pub mod paths;
pub mod revocation;
pub mod roster;
pub mod rules;
pub mod signed;
pub mod validate;

pub use key::{KeyId, PublicKey, PublicKeyError, SigningKey, SigningKeyError, generate_pkcs8};
pub use paths::SoleChange;
pub use revocation::{RevocationProblem, RevocationStatement};
pub use roster::{Admitted, Member, Revocation, Rights, Roster};
pub use rules::{
    Answer, Authorship, Breach, Grant, Incoming, Judge, Knowledge, LeaseProblem, NewChanges,
    Unknowable, Verdict,
};
pub use signed::{
    COMMIT_HASHES, CommitDecodeError, CommitId, DOMAIN, Held, MAX_HASHES, SignatureProblem,
    Signatures, SignedCommit, Signer, VerifiedSignatures,
};
pub use validate::{Invalid, validate};

use automerge::ActorId;

/// The node name inside an Automerge actor id written by a Lifeline replica: the name, a zero
/// byte, then random bytes. Only a claim: [`rules`] checks it against the change's signer.
pub fn actor_node(actor: &ActorId) -> Option<&str> {
    let bytes = actor.to_bytes();
    let end = bytes.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&bytes[..end]).ok()
}

#[cfg(test)]
mod tests;
