//! The digest of what a node holds, kept up to date in the commit of every change instead of
//! hashed from every record on request.
//!
//! Each record contributes SHA-256(id ‖ its sorted heads). Contributions are XORed into
//! buckets (by the last byte of the id), so a change takes the old contribution out and puts
//! the new one in, in O(1). Buckets are kept per scope: the whole store ([`ALL`]), the records
//! every node keeps whatever their age ([`ALWAYS`]: patients, catalogs, episodes, leases) and,
//! for the other records, the UTC day they were created (`DAY_BASE + day`). A full replica
//! compares [`ALL`]; a window, which keeps only recent records, compares [`ALWAYS`] and the
//! days it keeps ([`Scope::Since`]), and both sides compute that from their kept rows.
//!
//! The rows are kept the same way in memory by [`DigestRows`], which the in-memory replica of
//! lifeline-sync keeps as the store keeps its table, and which a batch's [`DigestDelta`]
//! gathers before it is written; [`contribution`] and [`Digest::of`] (the digest computed
//! from every record) are the pure functions both agree with.

use std::collections::BTreeMap;

use automerge::ChangeHash;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::{ReadError, StorageContext};
use super::tables;
use super::tx_tables::TxTables;
use crate::id::RecordId;
use crate::record::RecordKind;

/// Buckets in a digest.
pub const DIGEST_BUCKETS: usize = 64;

/// Scope row of everything held.
const ALL: u32 = 0;
/// Scope row of the records kept whatever their age.
const ALWAYS: u32 = 1;
/// Scope rows of dated records: `DAY_BASE + ` the UTC day of creation.
const DAY_BASE: u32 = 2;

const MS_PER_DAY: i64 = 86_400_000;

/// Which records a digest covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Everything held.
    All,
    /// What a window keeps: the records kept whatever their age, and the others created on
    /// or after this UTC day (days since the epoch).
    Since { day: u32 },
}

impl Scope {
    /// The scope of a window keeping records created since `since_ms`: from the first whole
    /// UTC day after it, so that both sides count only days the window holds entirely.
    pub fn keeping_since(since_ms: i64) -> Scope {
        Scope::Since {
            day: day_of(since_ms).saturating_add(1),
        }
    }

    /// Whether a record is in the scope.
    pub fn covers(self, kind: RecordKind, id: RecordId) -> bool {
        match self {
            Scope::All => true,
            Scope::Since { day } => kept_always(kind) || day_of(id.created_ms()) >= day,
        }
    }
}

/// Records every node keeps whatever their age: the patient master, reference data, central's
/// receipts (which say what is reconciled, whenever the record comes), and the records nodes
/// write about themselves.
pub fn kept_always(kind: RecordKind) -> bool {
    kind == RecordKind::Patient || kind.is_central_only() || kind.is_node_record()
}

/// The UTC day (since the epoch) of a time, clamped to what a scope row holds.
fn day_of(ms: i64) -> u32 {
    u32::try_from(ms.max(0) / MS_PER_DAY).unwrap_or(u32::MAX - DAY_BASE)
}

/// A summary of every record a node holds (in a scope): per-bucket hashes of (record, heads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub records: u64,
    /// Hex of each bucket's XOR of its records' hashes.
    pub buckets: Vec<String>,
}

impl Digest {
    /// Buckets that differ between two digests.
    pub fn differing_buckets(&self, other: &Digest) -> Vec<usize> {
        (0..DIGEST_BUCKETS)
            .filter(|&i| self.buckets.get(i) != other.buckets.get(i))
            .collect()
    }

    /// The digest of some records, each given by its id and heads (any order).
    pub fn of<'a>(records: impl IntoIterator<Item = (RecordId, &'a [ChangeHash])>) -> Digest {
        let mut sums = Sums::default();
        for (id, heads) in records {
            sums.add(bucket(id), &contribution(id, heads), 1);
        }
        sums.digest()
    }
}

/// What one record adds to its bucket: SHA-256 of its id and sorted heads.
pub fn contribution(id: RecordId, heads: &[ChangeHash]) -> [u8; 32] {
    let mut sorted = heads.to_vec();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(id.to_bytes());
    for head in sorted {
        h.update(head.0);
    }
    h.finalize().into()
}

/// The digest bucket a record counts in.
pub fn bucket(id: RecordId) -> u8 {
    // DIGEST_BUCKETS divides 256, so the bucket fits a byte.
    (usize::from(id.to_bytes()[15]) % DIGEST_BUCKETS) as u8
}

/// Per-bucket XOR sums, and the count of records.
#[derive(Debug, Clone)]
struct Sums {
    buckets: [[u8; 32]; DIGEST_BUCKETS],
    records: i64,
}

impl Default for Sums {
    fn default() -> Self {
        Sums {
            buckets: [[0; 32]; DIGEST_BUCKETS],
            records: 0,
        }
    }
}

impl Sums {
    /// Adds a row. Every row counts its records; a bucket past the digest's (only a damaged
    /// table holds one) has no hash to add to.
    fn add(&mut self, bucket: u8, hash: &[u8; 32], count: i64) {
        if let Some(sum) = self.buckets.get_mut(usize::from(bucket)) {
            xor(sum, hash);
        }
        self.records += count;
    }

    fn digest(&self) -> Digest {
        Digest {
            records: u64::try_from(self.records).unwrap_or(0),
            buckets: self.buckets.iter().map(hex_of).collect(),
        }
    }
}

/// Lower-case hex of a bucket's hash (what `hex::encode` gives, without a `char` at a time).
fn hex_of(hash: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in hash {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

fn xor(into: &mut [u8; 32], hash: &[u8; 32]) {
    for (a, b) in into.iter_mut().zip(hash) {
        *a ^= b;
    }
}

/// A row's value: the 32-byte XOR, then the count (big-endian i64).
fn decode_row(bytes: &[u8]) -> ([u8; 32], i64) {
    let mut hash = [0u8; 32];
    let mut count = [0u8; 8];
    if bytes.len() == 40 {
        hash.copy_from_slice(&bytes[..32]);
        count.copy_from_slice(&bytes[32..]);
    }
    (hash, i64::from_be_bytes(count))
}

fn encode_row(hash: &[u8; 32], count: i64) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(hash);
    out[32..].copy_from_slice(&count.to_be_bytes());
    out
}

/// The digest's rows, (scope, bucket) → (XOR of the records' contributions, count), as the
/// store's digest table holds them: changed per record in O(1), read per scope in O(buckets).
#[derive(Debug, Clone, Default)]
pub struct DigestRows(BTreeMap<(u32, u8), ([u8; 32], i64)>);

impl DigestRows {
    /// A record's heads changed from `old` (none: new here) to `new` (none: removed). A
    /// record's kind and id never change, so neither does the scope row it counts in.
    pub fn change(
        &mut self,
        id: RecordId,
        kind: RecordKind,
        old: Option<&[ChangeHash]>,
        new: Option<&[ChangeHash]>,
    ) {
        let scope = if kept_always(kind) {
            ALWAYS
        } else {
            DAY_BASE + day_of(id.created_ms())
        };
        let b = bucket(id);
        for (heads, count) in [(old, -1), (new, 1)] {
            let Some(heads) = heads else { continue };
            let h = contribution(id, heads);
            for s in [ALL, scope] {
                let e = self.0.entry((s, b)).or_insert(([0; 32], 0));
                xor(&mut e.0, &h);
                e.1 += count;
            }
        }
    }

    /// The digest of a scope, as [`read`] reads it from the store's table. A row whose count
    /// came back to 0 holds no record, and its XOR is then 0: it changes nothing.
    pub fn digest(&self, scope: Scope) -> Digest {
        let mut sums = Sums::default();
        for (lo, hi) in scope_rows(scope) {
            for ((_, b), (hash, count)) in self.0.range((lo, 0u8)..=(hi, u8::MAX)) {
                sums.add(*b, hash, *count);
            }
        }
        sums.digest()
    }
}

/// The scope rows, as inclusive ranges, whose buckets add up to a scope's digest: the one row
/// of everything, or the kept-always rows and one row per kept day.
fn scope_rows(scope: Scope) -> Vec<(u32, u32)> {
    match scope {
        Scope::All => vec![(ALL, ALL)],
        Scope::Since { day } => vec![(ALWAYS, ALWAYS), (DAY_BASE.saturating_add(day), u32::MAX)],
    }
}

/// The digest changes of one batch, written when it finishes: rows of changes, added to the
/// kept rows.
#[derive(Debug, Default)]
pub(super) struct DigestDelta(DigestRows);

impl DigestDelta {
    /// A record's heads changed from `old` (none: new here) to `new` (none: removed).
    pub(super) fn change(
        &mut self,
        id: RecordId,
        kind: RecordKind,
        old: Option<&[ChangeHash]>,
        new: Option<&[ChangeHash]>,
    ) {
        self.0.change(id, kind, old, new);
    }

    pub(super) fn write(self, w: &TxTables<'_>) -> Result<(), ReadError> {
        if self.0.0.is_empty() {
            return Ok(());
        }
        let mut t = w.open_table(tables::DIGEST).ctx("keeping the digest")?;
        for ((scope, b), (hash, count)) in self.0.0 {
            let (mut sum, mut n) = match t.get((scope, b)).ctx("keeping the digest")? {
                Some(v) => decode_row(v.value()),
                None => ([0; 32], 0),
            };
            xor(&mut sum, &hash);
            n += count;
            if n == 0 {
                t.remove((scope, b)).ctx("keeping the digest")?;
            } else {
                t.insert((scope, b), encode_row(&sum, n).as_slice())
                    .ctx("keeping the digest")?;
            }
        }
        Ok(())
    }
}

/// The digest of a scope from the kept rows: one scope row per bucket for everything, the
/// kept-always rows and one row per kept day for a window.
pub(super) fn read(
    t: &impl ReadableTable<(u32, u8), &'static [u8]>,
    scope: Scope,
) -> Result<Digest, ReadError> {
    let mut sums = Sums::default();
    for (lo, hi) in scope_rows(scope) {
        for entry in t
            .range((lo, 0u8)..=(hi, u8::MAX))
            .ctx("reading the digest")?
        {
            let (k, v) = entry.ctx("reading the digest")?;
            let (hash, count) = decode_row(v.value());
            sums.add(k.value().1, &hash, count);
        }
    }
    Ok(sums.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(n: u8) -> Vec<ChangeHash> {
        vec![ChangeHash([n; 32])]
    }

    #[test]
    fn a_kept_digest_equals_one_computed_from_scratch() {
        let ids: Vec<RecordId> = (0..40).map(|_| RecordId::generate()).collect();
        let mut delta = DigestDelta::default();
        let mut sums = Sums::default();
        for (i, id) in ids.iter().enumerate() {
            let h = heads(i as u8);
            delta.change(*id, RecordKind::Visit, None, Some(&h));
            // Changed once more: the old contribution goes out.
            let h2 = heads(i as u8 + 100);
            delta.change(*id, RecordKind::Visit, Some(&h), Some(&h2));
            sums.add(bucket(*id), &contribution(*id, &h2), 1);
        }
        let mut all = Sums::default();
        for ((scope, b), (hash, n)) in &delta.0.0 {
            if *scope == ALL {
                all.add(*b, hash, *n);
            }
        }
        assert_eq!(all.digest(), sums.digest());
        assert_eq!(delta.0.digest(Scope::All), sums.digest());
        let from_list = Digest::of(
            ids.iter()
                .enumerate()
                .map(|(i, id)| (*id, vec![ChangeHash([i as u8 + 100; 32])]))
                .collect::<Vec<_>>()
                .iter()
                .map(|(id, h)| (*id, h.as_slice())),
        );
        assert_eq!(from_list, sums.digest());
        assert_eq!(from_list.records, 40);
    }

    #[test]
    fn a_bucket_reads_as_its_hex() {
        let hash: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(hex_of(&hash), hex::encode(hash));
    }

    #[test]
    fn kept_rows_give_each_scope_the_digest_of_its_records() {
        let now = 1_795_568_400_000;
        let day = MS_PER_DAY;
        let records: Vec<(RecordId, RecordKind)> = [
            (RecordKind::Patient, now - 30 * day),
            (RecordKind::Visit, now - 30 * day),
            (RecordKind::Visit, now - day),
            (RecordKind::Charge, now - 2 * day),
            (RecordKind::Lease, now - 40 * day),
            (RecordKind::Visit, now),
        ]
        .into_iter()
        .map(|(kind, at)| (RecordId::generate_at(at), kind))
        .collect();
        let mut rows = DigestRows::default();
        for (i, (id, kind)) in records.iter().enumerate() {
            let (first, last) = (heads(i as u8), heads(i as u8 + 50));
            rows.change(*id, *kind, None, Some(&first));
            rows.change(*id, *kind, Some(&first), Some(&last));
        }
        // The last record removed again: it leaves every scope.
        let (gone, gone_kind) = records[5];
        rows.change(gone, gone_kind, Some(&heads(55)), None);
        for scope in [Scope::All, Scope::keeping_since(now - 7 * day)] {
            let held: Vec<(RecordId, Vec<ChangeHash>)> = records[..5]
                .iter()
                .enumerate()
                .filter(|(_, (id, kind))| scope.covers(*kind, *id))
                .map(|(i, (id, _))| (*id, heads(i as u8 + 50)))
                .collect();
            let expected = Digest::of(held.iter().map(|(id, h)| (*id, h.as_slice())));
            assert_eq!(rows.digest(scope), expected, "{scope:?}");
        }
        assert_eq!(rows.digest(Scope::All).records, 5);
        assert_eq!(rows.digest(Scope::keeping_since(now - 7 * day)).records, 4);
    }

    #[test]
    fn a_window_scope_keeps_patients_and_recent_records() {
        let now = 1_795_568_400_000;
        let scope = Scope::keeping_since(now - 7 * MS_PER_DAY);
        let old = RecordId::generate_at(now - 30 * MS_PER_DAY);
        let recent = RecordId::generate_at(now - MS_PER_DAY);
        assert!(scope.covers(RecordKind::Patient, old));
        assert!(!scope.covers(RecordKind::Visit, old));
        assert!(scope.covers(RecordKind::Visit, recent));
        assert!(Scope::All.covers(RecordKind::Visit, old));
    }
}
