//! Signatures in the store: this node signs the changes it makes, keeps the signed commits
//! that came with peers' changes beside those changes, and reads them back to send with the
//! changes to other peers.
//!
//! A node's own changes are signed when they first leave it, not in the commit that makes
//! them: each commit notes its changes in the `unsigned` table, and the first send (a batch,
//! a sync message, an export: [`Store::sign_before_sending`], after the records are read)
//! signs every change waiting there, in commits of [`COMMIT_HASHES`](crate::trust::COMMIT_HASHES) in
//! record order, [`SIGN_PER_WRITE`] per write ([`Store::sign_unsigned`]). A window connected
//! to its peers thus signs about as often as it sends; one that wrote thousands of records
//! through an outage signs them in a few dozen commits when it reconnects, and every receiver
//! verifies one signature per commit instead of one per desk write (ECDSA verification is the
//! largest cost of receiving signed changes). Nothing of a change leaves the node unsigned:
//! the signatures are read after the records they go with, and everything committed before
//! that read is signed by it. A node without a key yet keeps its changes unsigned until it
//! gets one ([`Store::take_credentials`], [`Store::sign_as`]).

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use automerge::ChangeHash;
use lru::LruCache;
use redb::ReadableTable;

use super::error::{ReadError, StorageContext, WriteError};
use super::tables;
use super::tx_tables::TxTables;
use super::{AuthorCheck, Store, Tx};
use crate::id::{NodeName, RecordId};
use crate::roles::{DeskRole, NodeRole};
use crate::trust::{CommitId, Judge, Member, SignedCommit, SigningKey, SigningKeyError};

/// Most changes one write signs (16 commits of 256): a backlog of a million changes waiting
/// (a bulk load, the HIS's patient master pulled before any peer connected) is signed in
/// writes the desks' writes come between.
pub const SIGN_PER_WRITE: usize = 16 * crate::trust::COMMIT_HASHES;

/// A node's signing key with the roster entry that certifies it.
#[derive(Debug, Clone)]
pub struct Credentials {
    key: SigningKey,
    member: Member,
}

/// A key and a roster entry that do not belong together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signing key of {key_author} is not the key of roster entry {member}")]
pub struct CredentialsMismatch {
    pub key_author: NodeName,
    pub member: NodeName,
}

impl Credentials {
    /// A key and the member (from its certificate) that certifies it.
    pub fn new(key: SigningKey, member: Member) -> Result<Credentials, CredentialsMismatch> {
        if member.key != *key.public_key() || member.name != *key.author() {
            return Err(CredentialsMismatch {
                key_author: key.author().clone(),
                member: member.name,
            });
        }
        Ok(Credentials { key, member })
    }

    /// A fresh key with a member no certificate proves: for tests, simulations and
    /// benchmarks, whose stores admit each other's members directly.
    pub fn uncertified(
        name: NodeName,
        role: NodeRole,
        desks: &[DeskRole],
    ) -> Result<Credentials, SigningKeyError> {
        let key = SigningKey::generate(name.clone())?;
        let member = Member {
            name,
            role,
            desks: desks.to_vec(),
            key: key.public_key().clone(),
            credential: Vec::new(),
        };
        Ok(Credentials { key, member })
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    pub fn member(&self) -> &Member {
        &self.member
    }
}

/// A signed commit as it goes to a peer: its id and its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireCommit {
    pub id: CommitId,
    pub bytes: Arc<Vec<u8>>,
}

/// Recently read signed commits, by id: one commit signs the changes of many records, which
/// go out in the same batch.
#[derive(Debug)]
pub(crate) struct CommitCache(LruCache<CommitId, Arc<Vec<u8>>>);

impl CommitCache {
    pub(crate) fn new() -> CommitCache {
        CommitCache(LruCache::new(
            NonZeroUsize::new(1024).unwrap_or(NonZeroUsize::MIN),
        ))
    }
}

/// Whether the store keeps a signed commit (it verified it when it kept it).
pub(super) fn holds_commit(w: &TxTables<'_>, id: &CommitId) -> bool {
    w.open_table(tables::SIGNED)
        .ok()
        .and_then(|t| t.get(id.0).ok().flatten().map(|_| ()))
        .is_some()
}

impl Tx<'_, '_> {
    /// Changes this node made to a record in this batch, noted as waiting for their signature
    /// when the batch finishes.
    pub(super) fn authored(&mut self, id: RecordId, hashes: impl IntoIterator<Item = ChangeHash>) {
        if self.opts().author_check == AuthorCheck::Signatures {
            self.authored.extend(hashes.into_iter().map(|h| (id, h)));
        }
    }

    /// Notes what this node made in the batch as waiting for its signature (see the module's
    /// documentation: it is signed when it first leaves the node).
    pub(super) fn keep_authored(&mut self) -> Result<(), ReadError> {
        if self.authored.is_empty() {
            return Ok(());
        }
        let authored = std::mem::take(&mut self.authored);
        self.keep_unsigned(&authored)
    }

    /// Signs those of `part` (record and change, in record order) still waiting in the
    /// `unsigned` table (another send may have signed them meanwhile), and takes them out of
    /// it. Returns how many it signed.
    fn sign_waiting(
        &mut self,
        credentials: &Credentials,
        part: &[(RecordId, ChangeHash)],
    ) -> Result<usize, WriteError> {
        let mut still = Vec::with_capacity(part.len());
        {
            let mut t = self
                .w()
                .open_table(tables::UNSIGNED)
                .ctx("signing unsigned changes")?;
            for (record, hash) in part {
                if t.remove(hash.0).ctx("signing unsigned changes")?.is_some() {
                    still.push((*record, *hash));
                }
            }
        }
        if still.is_empty() {
            return Ok(0);
        }
        let hashes: Vec<ChangeHash> = still.iter().map(|(_, h)| *h).collect();
        let commits = SignedCommit::sign_all(credentials.key(), &hashes)
            .map_err(|e| crate::rules::RuleError::invalid("credentials", e.to_string()))?;
        let record_of = still.iter().map(|(r, h)| (*h, *r)).collect();
        self.keep_own_commits(&commits, &record_of)?;
        Ok(still.len())
    }

    /// Keeps the commits this node signed, each change linked to its commit and each record
    /// to the commits that sign its changes.
    fn keep_own_commits(
        &mut self,
        commits: &[SignedCommit],
        record_of: &BTreeMap<ChangeHash, RecordId>,
    ) -> Result<(), ReadError> {
        for commit in commits {
            let id = commit.id();
            self.keep_commit(&id, commit)?;
            for h in &commit.hashes {
                self.link_change(h, &id)?;
                if let Some(record) = record_of.get(h) {
                    self.link_record(*record, &id)?;
                }
            }
        }
        Ok(())
    }

    fn keep_unsigned(&mut self, authored: &[(RecordId, ChangeHash)]) -> Result<(), ReadError> {
        let mut t = self
            .w()
            .open_table(tables::UNSIGNED)
            .ctx("keeping unsigned changes")?;
        for (id, h) in authored {
            t.insert(h.0, id.to_bytes())
                .ctx("keeping unsigned changes")?;
        }
        Ok(())
    }

    /// Keeps `commit` under `id`, its id (a hash of the commit: the caller has it already,
    /// and a commit of many changes is kept once per record it signs).
    fn keep_commit(&mut self, id: &CommitId, commit: &SignedCommit) -> Result<(), ReadError> {
        if self.kept_commits.contains(id) {
            return Ok(());
        }
        let mut t = self
            .w()
            .open_table(tables::SIGNED)
            .ctx("keeping a signature")?;
        if t.get(id.0).ctx("keeping a signature")?.is_none() {
            t.insert(id.0, commit.encode().as_slice())
                .ctx("keeping a signature")?;
        }
        drop(t);
        self.kept_commits.insert(*id);
        Ok(())
    }

    fn link_change(&mut self, hash: &ChangeHash, commit: &CommitId) -> Result<(), ReadError> {
        self.w()
            .open_table(tables::CHANGE_SIGNED)
            .ctx("keeping a signature")?
            .insert(hash.0, commit.0)
            .ctx("keeping a signature")?;
        Ok(())
    }

    fn link_record(&mut self, record: RecordId, commit: &CommitId) -> Result<(), ReadError> {
        self.w()
            .open_table(tables::RECORD_SIGNED)
            .ctx("keeping a signature")?
            .insert((record.to_bytes(), commit.0), ())
            .ctx("keeping a signature")?;
        Ok(())
    }

    /// Keeps the signed commits of a peer's changes to `record` this node applied, beside
    /// them.
    pub(super) fn keep_signed(
        &mut self,
        record: RecordId,
        signed_by: &[(ChangeHash, CommitId)],
        judge: &Judge<'_>,
    ) -> Result<(), ReadError> {
        for (hash, id) in signed_by {
            // The judge holds each commit under the id it was decoded with.
            if let Some(commit) = judge.commit(id) {
                self.keep_commit(id, commit)?;
            }
            self.link_change(hash, id)?;
            self.link_record(record, id)?;
        }
        Ok(())
    }
}

impl Store {
    /// Gives this node its signing key (and admits its roster entry): its changes are signed
    /// from now on as they first leave it, and those waiting are signed now. Returns how many
    /// it signed.
    pub fn sign_as(&self, credentials: Credentials) -> Result<usize, WriteError> {
        self.take_credentials(credentials)?;
        self.sign_unsigned()
    }

    /// Gives this node its signing key (and admits its roster entry) without signing what
    /// waits: opening a store and starting the mesh do this, so that a store holding many
    /// changes made without the key (a bulk load, a long outage before a restart) opens at
    /// once; the first send signs them.
    pub fn take_credentials(&self, credentials: Credentials) -> Result<(), WriteError> {
        if credentials.member().name != *self.node() {
            return Err(WriteError::Rule(crate::rules::RuleError::invalid(
                "credentials",
                format!(
                    "they are {}'s, and this store is {}'s",
                    credentials.member().name,
                    self.node()
                ),
            )));
        }
        self.admit_member(credentials.member().clone())?;
        if let Ok(mut signer) = self.shared.signer.write() {
            *signer = Some(credentials);
        }
        Ok(())
    }

    /// Signs every change of this node's waiting in the `unsigned` table: sorted by record and
    /// in commits of [`COMMIT_HASHES`](crate::trust::COMMIT_HASHES) (a record goes to a peer
    /// with every commit that signs its changes, so a commit of a whole outage would ride,
    /// megabytes, with every batch; commits of consecutive records are shared by a batch's
    /// records), [`SIGN_PER_WRITE`] changes per write, so that the desks' writes go on between
    /// them however many wait. Returns how many it signed; none without a key.
    pub fn sign_unsigned(&self) -> Result<usize, WriteError> {
        let Some(credentials) = self.shared.signer.read().ok().and_then(|s| s.clone()) else {
            return Ok(0);
        };
        let mut waiting: Vec<(RecordId, ChangeHash)> = {
            let t = self.table(tables::UNSIGNED)?;
            let mut out = Vec::new();
            for entry in t.iter().ctx("reading unsigned changes")? {
                let (hash, record) = entry.ctx("reading unsigned changes")?;
                out.push((
                    RecordId::from_bytes(record.value()),
                    ChangeHash(hash.value()),
                ));
            }
            out
        };
        waiting.sort_unstable();
        let mut signed = 0;
        for part in waiting.chunks(SIGN_PER_WRITE) {
            let part = part.to_vec();
            let credentials = credentials.clone();
            signed += self.write(move |tx| tx.sign_waiting(&credentials, &part))?;
        }
        if signed > 0 {
            tracing::debug!(changes = signed, "signed this node's changes");
        }
        Ok(signed)
    }

    /// Before signatures are read to go out: signs this node's changes still waiting for
    /// their signature, if it has a key and there are any. Not on the writer's own thread
    /// (no send path runs there; waiting for the writer there would never end). A failure
    /// is logged: the changes then go without signatures, and their receivers refuse them
    /// until a later send signs them.
    pub(super) fn sign_before_sending(&self) -> Result<(), ReadError> {
        use redb::ReadableTableMetadata;
        if super::writer::on_writer_thread() || self.member().is_none() {
            return Ok(());
        }
        let waiting = self
            .table(tables::UNSIGNED)?
            .len()
            .ctx("reading unsigned changes")?;
        if waiting > 0
            && let Err(e) = self.sign_unsigned()
        {
            tracing::error!(error = %crate::error::Chain(&e), "cannot sign this node's changes before sending them");
        }
        Ok(())
    }

    /// Changes this node made that are not signed yet (it has no key).
    pub fn unsigned_changes(&self) -> Result<u64, ReadError> {
        use redb::ReadableTableMetadata;
        self.table(tables::UNSIGNED)?
            .len()
            .ctx("reading unsigned changes")
    }

    /// The signed commits that sign `hashes`, each once; changes without one are left out
    /// (their receiver refuses them). Nothing waiting is signed here: the caller did that once after reading the records
    /// these go with ([`Store::sign_before_sending`]).
    pub(super) fn kept_commits_of(
        &self,
        hashes: impl IntoIterator<Item = ChangeHash>,
    ) -> Result<Vec<WireCommit>, ReadError> {
        let links = self.table(tables::CHANGE_SIGNED)?;
        let mut ids: Vec<CommitId> = Vec::new();
        for h in hashes {
            if let Some(id) = links.get(h.0).ctx("reading signatures")? {
                let id = CommitId(id.value());
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        self.commits_by_id(ids)
    }

    /// The signed commits that sign any change of a record, each once, from the record's own
    /// index rows: the record is not loaded.
    pub(crate) fn record_commits(&self, record: RecordId) -> Result<Vec<WireCommit>, ReadError> {
        self.sign_before_sending()?;
        self.kept_record_commits(record)
    }

    /// [`Store::record_commits`] without signing what waits first (see
    /// [`Store::kept_commits_of`]): for `outgoing`, which signs once per batch.
    pub(super) fn kept_record_commits(
        &self,
        record: RecordId,
    ) -> Result<Vec<WireCommit>, ReadError> {
        let t = self.table(tables::RECORD_SIGNED)?;
        let key = record.to_bytes();
        let mut ids = Vec::new();
        for entry in t
            .range((key, [0u8; 32])..=(key, [0xffu8; 32]))
            .ctx("reading signatures")?
        {
            ids.push(CommitId(entry.ctx("reading signatures")?.0.value().1));
        }
        self.commits_by_id(ids)
    }

    /// Signed commits by id, through the cache; ids not kept are left out.
    fn commits_by_id(&self, ids: Vec<CommitId>) -> Result<Vec<WireCommit>, ReadError> {
        let mut out = Vec::with_capacity(ids.len());
        let mut signed = None;
        for id in ids {
            let cached = self
                .shared
                .commits
                .lock()
                .ok()
                .and_then(|mut c| c.0.get(&id).cloned());
            let bytes = match cached {
                Some(bytes) => bytes,
                None => {
                    if signed.is_none() {
                        signed = Some(self.table(tables::SIGNED)?);
                    }
                    let Some(t) = &signed else { continue };
                    let Some(v) = t.get(id.0).ctx("reading signatures")? else {
                        continue;
                    };
                    let bytes = Arc::new(v.value().to_vec());
                    if let Ok(mut c) = self.shared.commits.lock() {
                        c.0.put(id, bytes.clone());
                    }
                    bytes
                }
            };
            out.push(WireCommit { id, bytes });
        }
        Ok(out)
    }
}

/// Records' changes with the signed commits of every change, as replication sends them to a
/// peer that holds none of them.
#[derive(Debug, Clone, Default)]
pub struct Export {
    pub changes: Vec<super::RemoteChanges>,
    /// Encoded signed commits, each once.
    pub signatures: Vec<Vec<u8>>,
}

impl Store {
    /// This node's own roster entry, once it has a signing key.
    pub fn member(&self) -> Option<Member> {
        self.shared
            .signer
            .read()
            .ok()
            .and_then(|s| s.as_ref().map(|c| c.member().clone()))
    }

    /// Every change of `ids` (records not held are left out) with their signed commits: what
    /// a peer holding nothing of them would be sent.
    pub fn export(&self, ids: &[crate::id::RecordId]) -> Result<Export, ReadError> {
        let mut out = Export::default();
        let mut seen = std::collections::HashSet::new();
        for &id in ids {
            let Some(doc) = self.doc(id)? else { continue };
            out.changes.push(super::RemoteChanges {
                id,
                bytes: doc.save(),
            });
            for commit in self.record_commits(id)? {
                if seen.insert(commit.id) {
                    out.signatures.push(commit.bytes.to_vec());
                }
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Merges every record `other` (another store open in this process) holds, with their
    /// signatures and under every rule, as if they had replicated: `other`'s roster entries
    /// first, as the roster replicates ahead of the changes. For tools and tests that move
    /// records between stores without a network.
    pub fn merge_from(&self, other: &Store) -> Result<super::ApplyOutcome, WriteError> {
        for member in other.roster().members() {
            self.admit_member(member.clone())?;
        }
        let ids: Vec<crate::id::RecordId> = other
            .feed_since(0, usize::MAX)?
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let export = other.export(&ids)?;
        self.apply_remote(other.node(), export.changes, export.signatures)
    }
}
