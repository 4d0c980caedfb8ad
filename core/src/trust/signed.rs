//! Signed commits: one signature by the authoring node over the hashes of the changes it made
//! in one commit, kept beside those changes in every store and sent with them through every
//! relay. A receiver checks each signature once per batch, and only when a change in the
//! batch needs it ([`Signatures::signer`]); a change is then authored by the node whose
//! certified key signed its hash, whatever its Automerge actor id claims.
//!
//! Encoding (also the wire form): `LLS1`, the author's name (1-byte length, then its bytes),
//! the key id (32 bytes), the number of hashes (4 bytes, big-endian, at most
//! [`MAX_HASHES`]), the hashes (32 bytes each), then the 64-byte signature. The signed
//! message is [`DOMAIN`] followed by everything between the magic and the signature; a
//! commit's id is the SHA-256 of that message.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use automerge::ChangeHash;
use sha2::{Digest, Sha256};

use super::key::{KeyId, SIGNATURE_LEN, SigningKey, SigningKeyError};
use super::roster::Roster;
use crate::id::{NAME_MAX_LEN, NodeName};

/// What every change signature signs first: no other message of any protocol starts so.
pub const DOMAIN: &[u8] = b"lifeline change signature v1\0";

/// The first bytes of an encoded signed commit.
const MAGIC: &[u8; 4] = b"LLS1";

/// Most change hashes one signature covers: a received commit with more is refused.
pub const MAX_HASHES: usize = 65_536;

/// Change hashes per commit a node signs of its own (about 8 KB): a record travels to each
/// peer with every commit that signs its changes, so a commit of a large write (a page of
/// the HIS pull, a bulk load: thousands of records) would ride whole with every batch of
/// that write's records.
pub const COMMIT_HASHES: usize = 256;

/// A signed commit's id: the SHA-256 of its signed message.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(pub [u8; 32]);

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({})", hex::encode(&self.0[..8]))
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// One node's signature over the changes it made in one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCommit {
    pub author: NodeName,
    pub key: KeyId,
    pub hashes: Vec<ChangeHash>,
    pub signature: Vec<u8>,
}

/// Bytes that are not a signed commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitDecodeError {
    #[error("it does not start with the signed-commit magic")]
    Magic,
    #[error("it ends early")]
    Truncated,
    #[error("the author's name is not valid")]
    Author,
    #[error("it lists {count} hashes, more than the {max} allowed")]
    TooManyHashes { count: usize, max: usize },
    #[error("{count} bytes follow the signature")]
    Trailing { count: usize },
}

/// Why a change's signature does not make it its author's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureProblem {
    #[error("no signature in the batch covers it")]
    Unsigned,
    #[error("it is signed with key {key:?}, which no member of the roster holds")]
    UnknownKey { key: KeyId },
    #[error("it is signed with key {key:?} of {author}, which the hospital CA revoked")]
    Revoked { author: NodeName, key: KeyId },
    #[error("the signature names {claimed} but key {key:?} belongs to {holder}")]
    KeyOfAnother {
        claimed: NodeName,
        holder: NodeName,
        key: KeyId,
    },
    #[error("the signature by {author} does not verify")]
    Invalid { author: NodeName },
}

impl SignedCommit {
    /// Signs `hashes` (at most [`MAX_HASHES`]) with `key`.
    pub fn sign(
        key: &SigningKey,
        hashes: Vec<ChangeHash>,
    ) -> Result<SignedCommit, SigningKeyError> {
        let mut commit = SignedCommit {
            author: key.author().clone(),
            key: key.id(),
            hashes,
            signature: Vec::new(),
        };
        commit.signature = key.sign(&commit.message())?;
        Ok(commit)
    }

    /// Signs any number of hashes, in order, in parts of at most [`COMMIT_HASHES`].
    pub fn sign_all(
        key: &SigningKey,
        hashes: &[ChangeHash],
    ) -> Result<Vec<SignedCommit>, SigningKeyError> {
        hashes
            .chunks(COMMIT_HASHES)
            .map(|part| SignedCommit::sign(key, part.to_vec()))
            .collect()
    }

    /// What the signature signs.
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(DOMAIN.len() + 1 + 64 + 36 + 32 * self.hashes.len());
        m.extend_from_slice(DOMAIN);
        self.body(&mut m);
        m
    }

    fn body(&self, out: &mut Vec<u8>) {
        let name = self.author.as_str().as_bytes();
        // Names are at most NAME_MAX_LEN (64) bytes: the length fits in one byte.
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&self.key.0);
        out.extend_from_slice(&(self.hashes.len() as u32).to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(&h.0);
        }
    }

    pub fn id(&self) -> CommitId {
        CommitId(Sha256::digest(self.message()).into())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 1 + 64 + 36 + 32 * self.hashes.len() + 64);
        out.extend_from_slice(MAGIC);
        self.body(&mut out);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes an encoded signed commit; nothing is allocated beyond what the bytes hold.
    pub fn decode(bytes: &[u8]) -> Result<SignedCommit, CommitDecodeError> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(CommitDecodeError::Magic);
        }
        let len = usize::from(r.take(1)?[0]);
        if len > NAME_MAX_LEN {
            return Err(CommitDecodeError::Author);
        }
        let name = std::str::from_utf8(r.take(len)?).map_err(|_| CommitDecodeError::Author)?;
        let author = NodeName::new(name).map_err(|_| CommitDecodeError::Author)?;
        let mut key = [0u8; 32];
        key.copy_from_slice(r.take(32)?);
        let mut count = [0u8; 4];
        count.copy_from_slice(r.take(4)?);
        let count = u32::from_be_bytes(count) as usize;
        if count > MAX_HASHES {
            return Err(CommitDecodeError::TooManyHashes {
                count,
                max: MAX_HASHES,
            });
        }
        let raw = r.take(count.checked_mul(32).ok_or(CommitDecodeError::Truncated)?)?;
        let hashes = raw
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                ChangeHash(h)
            })
            .collect();
        let signature = r.take(SIGNATURE_LEN)?.to_vec();
        if !r.0.is_empty() {
            return Err(CommitDecodeError::Trailing { count: r.0.len() });
        }
        Ok(SignedCommit {
            author,
            key: KeyId(key),
            hashes,
            signature,
        })
    }

    /// Checks the signature against the roster: the key must be a member's, not revoked, and
    /// the member's name the author's.
    pub fn verify(&self, roster: &Roster) -> Result<(), SignatureProblem> {
        self.verify_remembering(roster, None)
    }

    /// [`SignedCommit::verify`], with the signature's own check answered from `verified` when
    /// it holds this commit (`id`, this commit's id) with these signature bytes, and
    /// remembered there when it passes.
    fn verify_remembering(
        &self,
        roster: &Roster,
        verified: Option<(&VerifiedSignatures, &CommitId)>,
    ) -> Result<(), SignatureProblem> {
        let member = roster
            .member(&self.key)
            .ok_or(SignatureProblem::UnknownKey { key: self.key })?;
        self.check_holder(roster, &member.name)?;
        if let Some((v, id)) = verified
            && v.holds(id, &self.signature)
        {
            return Ok(());
        }
        if !member.key.verifies(&self.message(), &self.signature) {
            return Err(SignatureProblem::Invalid {
                author: self.author.clone(),
            });
        }
        if let Some((v, id)) = verified {
            v.remember(*id, &self.signature);
        }
        Ok(())
    }

    /// Everything [`SignedCommit::verify`] checks but the signature itself: for a commit this
    /// node verified before and keeps.
    fn check_holder(&self, roster: &Roster, holder: &NodeName) -> Result<(), SignatureProblem> {
        if roster.is_revoked(&self.key) {
            return Err(SignatureProblem::Revoked {
                author: self.author.clone(),
                key: self.key,
            });
        }
        if *holder != self.author {
            return Err(SignatureProblem::KeyOfAnother {
                claimed: self.author.clone(),
                holder: holder.clone(),
                key: self.key,
            });
        }
        Ok(())
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CommitDecodeError> {
        if self.0.len() < n {
            return Err(CommitDecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

/// Who signed a change: the node, its key and the signed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub author: NodeName,
    pub key: KeyId,
    pub commit: CommitId,
}

/// Whether this node already keeps a signed commit (it verified it when it kept it).
pub type Held<'a> = dyn Fn(&CommitId) -> bool + 'a;

enum Check {
    Unchecked,
    Valid,
    Invalid(SignatureProblem),
}

struct Entry {
    commit: SignedCommit,
    id: CommitId,
    check: Check,
}

/// Signatures found valid, by commit and signature bytes: a commit that several peers relay,
/// that a batch's preparing verified before its writer judges the batch again, or (in the
/// simulation of a whole hospital) that every node of one process receives, is verified
/// once. Whether a signature verifies is a pure function of the key (the commit names it by
/// its hash), the message (the commit's id is its hash) and the signature's bytes, so a
/// remembered answer is the one verifying again gives; who may hold the key (member, revoked,
/// author) is still asked of the roster every time. The same commit with other signature
/// bytes is verified again. Bounded: the least recently used answers go first.
#[derive(Debug)]
pub struct VerifiedSignatures(Mutex<lru::LruCache<CommitId, Vec<u8>>>);

impl Default for VerifiedSignatures {
    fn default() -> Self {
        VerifiedSignatures::new(Self::CAPACITY)
    }
}

impl VerifiedSignatures {
    /// Most answers remembered by default.
    pub const CAPACITY: usize = 1 << 16;

    /// Remembers at most `capacity` answers.
    pub fn new(capacity: usize) -> VerifiedSignatures {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        VerifiedSignatures(Mutex::new(lru::LruCache::new(capacity)))
    }

    fn holds(&self, id: &CommitId, signature: &[u8]) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|remembered| remembered.as_slice() == signature)
    }

    fn remember(&self, id: CommitId, signature: &[u8]) {
        self.lock().put(id, signature.to_vec());
    }

    /// How many answers are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Only single inserts and lookups happen under the lock: a panic cannot leave the cache
    /// half-changed.
    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<CommitId, Vec<u8>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The signed commits that came with one batch, checked lazily: a commit is verified the
/// first time a change in the batch needs it, and only once.
#[derive(Default)]
pub struct Signatures {
    entries: Vec<Entry>,
    by_id: HashMap<CommitId, usize>,
    by_hash: HashMap<ChangeHash, Vec<usize>>,
    /// Signatures verified before, by any replica sharing these (see [`VerifiedSignatures`]).
    verified: Option<Arc<VerifiedSignatures>>,
}

impl fmt::Debug for Signatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signatures")
            .field("commits", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Signatures {
    /// The commits of a batch, as encoded on the wire. Those that do not decode are left out
    /// and returned with their problem (the changes they would have covered are then
    /// unsigned).
    pub fn decode(encoded: &[Vec<u8>]) -> (Signatures, Vec<CommitDecodeError>) {
        let mut problems = Vec::new();
        let mut commits = Vec::with_capacity(encoded.len());
        for bytes in encoded {
            match SignedCommit::decode(bytes) {
                Ok(c) => commits.push(c),
                Err(e) => problems.push(e),
            }
        }
        (Signatures::new(commits), problems)
    }

    pub fn new(commits: impl IntoIterator<Item = SignedCommit>) -> Signatures {
        let mut s = Signatures::default();
        for commit in commits {
            s.add(commit);
        }
        s
    }

    /// Adds a commit (one with the same id is added once).
    pub fn add(&mut self, commit: SignedCommit) {
        let id = commit.id();
        if self.by_id.contains_key(&id) {
            return;
        }
        let idx = self.entries.len();
        self.by_id.insert(id, idx);
        for h in &commit.hashes {
            self.by_hash.entry(*h).or_default().push(idx);
        }
        self.entries.push(Entry {
            commit,
            id,
            check: Check::Unchecked,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes signatures already found valid from `verified`, and remembers there those found
    /// valid now.
    pub fn remembering(mut self, verified: Arc<VerifiedSignatures>) -> Signatures {
        self.verified = Some(verified);
        self
    }

    /// Who signed the change `hash`: the first commit covering it that checks out. Commits
    /// `held` here were verified when kept, so only the roster is consulted for them.
    pub fn signer(
        &mut self,
        hash: &ChangeHash,
        roster: &Roster,
        held: &Held<'_>,
    ) -> Result<Signer, SignatureProblem> {
        let Some(candidates) = self.by_hash.get(hash) else {
            return Err(SignatureProblem::Unsigned);
        };
        let mut problem = SignatureProblem::Unsigned;
        for &idx in candidates {
            let entry = &mut self.entries[idx];
            if let Check::Unchecked = entry.check {
                let checked = if held(&entry.id) {
                    match roster.member(&entry.commit.key) {
                        Some(m) => entry.commit.check_holder(roster, &m.name),
                        None => Err(SignatureProblem::UnknownKey {
                            key: entry.commit.key,
                        }),
                    }
                } else {
                    let verified = self.verified.as_deref().map(|v| (v, &entry.id));
                    entry.commit.verify_remembering(roster, verified)
                };
                entry.check = match checked {
                    Ok(()) => Check::Valid,
                    Err(p) => Check::Invalid(p),
                };
            }
            match &entry.check {
                Check::Valid => {
                    return Ok(Signer {
                        author: entry.commit.author.clone(),
                        key: entry.commit.key,
                        commit: entry.id,
                    });
                }
                Check::Invalid(p) => problem = p.clone(),
                Check::Unchecked => {}
            }
        }
        Err(problem)
    }

    /// A commit of this batch by id, to keep beside the changes it signs.
    pub fn commit(&self, id: &CommitId) -> Option<&SignedCommit> {
        self.by_id.get(id).map(|&idx| &self.entries[idx].commit)
    }
}

#[cfg(test)]
mod tests;
