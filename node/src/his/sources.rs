//! What each pushed record's rows were built from, so that a push rebuilds only the records
//! whose rows can have changed.
//!
//! A row is a pure function of the records read to build it (the record itself, and what it
//! names: its patient and the patient a reviewer merged it into, its registration, its
//! invoice, the service catalog's departments), of the episode it is pushed under, of the
//! mapping and the hospital's UTC offset, and of this code. [`Sources`] keeps, per record,
//! the ids it read and a digest of all that, with each record read at the heads of the very
//! document it was read from. A record read at other heads may read differently; heads only
//! grow, so heads the same as then mean the same document. The next push reads the current
//! heads of those ids (one index lookup each, no document loaded) and reuses the record when
//! the digest comes out the same: its rows would be built exactly as before.
//!
//! Invariant, kept by the push: a record has sources in the bridge state only while the
//! ledger holds the rows built from them, with their fingerprints. A rebuilt record's
//! sources are dropped before any of its rows is written, and stored again only after every
//! table was pushed; the state is saved whole, so no saved state pairs old sources with new
//! rows.

use std::collections::BTreeMap;

use lifeline_core::automerge::ChangeHash;
use lifeline_core::{EpisodeId, ReadError, RecordId, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::mapping::Mapping;

/// Bumped whenever the rows built from the same records change (a column added, a value
/// written differently), so that sources kept by an older build are not trusted. The
/// package version is part of the digest too.
const ROWS_FORMAT: u32 = 1;

/// What one record's rows were built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    /// The pushed table its rows go to; none for a record of a kind that is not pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The records read to build its rows, in the order read (itself first).
    pub read: Vec<RecordId>,
    /// A digest of the context, the episode and each record read with its heads then.
    pub digest: String,
    /// Its rows' ext ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<String>,
    /// Why it cannot be written as rows, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwritable: Option<String>,
}

impl Sources {
    /// The sources of a record that gives no row (of a kind not pushed, or gone): itself.
    pub fn unpushed(
        id: RecordId,
        heads: &[ChangeHash],
        context: &Context,
        edited_in: Option<&EpisodeId>,
    ) -> Sources {
        let mut log = ReadLog::default();
        log.note(id, heads);
        Sources {
            table: None,
            read: log.ids(),
            digest: log.digest(context, edited_in),
            rows: Vec::new(),
            unwritable: None,
        }
    }
}

/// What every record of a push shares: this code's row format, the mapping, the offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context([u8; 32]);

impl Context {
    pub fn new(mapping: &Mapping, utc_offset_min: i32) -> Context {
        let mut h = Sha256::new();
        h.update(ROWS_FORMAT.to_le_bytes());
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update([0]);
        // A mapping always encodes the same way: its maps are ordered.
        h.update(serde_json::to_vec(mapping).unwrap_or_default());
        h.update(utc_offset_min.to_le_bytes());
        Context(h.finalize().into())
    }

    /// The digest of one record's sources: the episode its rows carry when it came from the
    /// HIS (a record created in an episode says its own), and each record read with its
    /// heads, in order.
    pub fn digest<'h>(
        &self,
        edited_in: Option<&EpisodeId>,
        read: impl IntoIterator<Item = (RecordId, &'h [ChangeHash])>,
    ) -> String {
        let mut h = Sha256::new();
        h.update(self.0);
        match edited_in {
            Some(e) => {
                h.update([1]);
                h.update((e.as_str().len() as u64).to_le_bytes());
                h.update(e.as_str().as_bytes());
            }
            None => h.update([0]),
        }
        for (id, heads) in read {
            let mut sorted = heads.to_vec();
            sorted.sort();
            h.update(id.to_bytes());
            h.update((sorted.len() as u64).to_le_bytes());
            for head in sorted {
                h.update(head.0);
            }
        }
        hex::encode(&h.finalize()[..16])
    }
}

/// The records read while building one record's rows, each with the heads it was read at.
#[derive(Debug, Default)]
pub struct ReadLog(Vec<(RecordId, Vec<ChangeHash>)>);

impl ReadLog {
    /// Notes a read; a record absent from the store is noted with no heads, so that its
    /// arrival changes the digest. Read twice at the same heads, it is noted once.
    pub fn note(&mut self, id: RecordId, heads: &[ChangeHash]) {
        if !self.0.iter().any(|(i, h)| *i == id && h == heads) {
            self.0.push((id, heads.to_vec()));
        }
    }

    pub fn ids(&self) -> Vec<RecordId> {
        self.0.iter().map(|(id, _)| *id).collect()
    }

    pub fn digest(&self, context: &Context, edited_in: Option<&EpisodeId>) -> String {
        context.digest(edited_in, self.0.iter().map(|(id, h)| (*id, h.as_slice())))
    }
}

/// [`still_valid`], with the heads now of every record `prior`'s sources read, from one read
/// of the store's heads (no document loaded).
pub fn reusable(
    store: &Store,
    ids: &[RecordId],
    mut prior: BTreeMap<RecordId, Sources>,
    context: &Context,
    edited: &BTreeMap<RecordId, EpisodeId>,
) -> Result<(BTreeMap<RecordId, Sources>, Vec<RecordId>), ReadError> {
    let mut asked: Vec<RecordId> = ids
        .iter()
        .filter_map(|id| prior.get(id))
        .flat_map(|s| s.read.iter().copied())
        .collect();
    asked.sort();
    asked.dedup();
    let current: BTreeMap<RecordId, Vec<ChangeHash>> =
        asked.iter().copied().zip(store.heads_of(&asked)?).collect();
    Ok(still_valid(ids, &mut prior, context, edited, &current))
}

/// Which of `prior`'s records (of those pushed now, `ids`) can be reused as they are: those
/// whose digest, with every record they read at its heads now, is the one they were built
/// under. `current` gives the heads now of any record `prior` lists as read. Returns the
/// reused sources; the other records of `ids` are to be rebuilt, in order.
pub fn still_valid(
    ids: &[RecordId],
    prior: &mut BTreeMap<RecordId, Sources>,
    context: &Context,
    edited: &BTreeMap<RecordId, EpisodeId>,
    current: &BTreeMap<RecordId, Vec<ChangeHash>>,
) -> (BTreeMap<RecordId, Sources>, Vec<RecordId>) {
    let mut kept = BTreeMap::new();
    let mut stale = Vec::new();
    let none: Vec<ChangeHash> = Vec::new();
    for &id in ids {
        let Some(s) = prior.remove(&id) else {
            stale.push(id);
            continue;
        };
        let now = context.digest(
            edited.get(&id),
            s.read
                .iter()
                .map(|r| (*r, current.get(r).unwrap_or(&none).as_slice())),
        );
        if now == s.digest {
            kept.insert(id, s);
        } else {
            stale.push(id);
        }
    }
    (kept, stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    #[test]
    fn a_record_is_reused_only_while_everything_it_was_read_from_is_as_then() {
        let context = Context::new(&Mapping::reference(), 480);
        let (visit, patient) = (RecordId::generate(), RecordId::generate());
        let mut log = ReadLog::default();
        log.note(visit, &[head(1)]);
        log.note(patient, &[head(2), head(3)]);
        log.note(patient, &[head(2), head(3)]);
        assert_eq!(
            log.ids(),
            vec![visit, patient],
            "read twice the same, noted once"
        );
        let sources = Sources {
            table: Some("registrations".into()),
            read: log.ids(),
            digest: log.digest(&context, None),
            rows: vec![visit.to_string()],
            unwritable: None,
        };
        let edited = BTreeMap::new();
        let check = |current: &[(RecordId, Vec<ChangeHash>)],
                     context: &Context,
                     edited: &BTreeMap<RecordId, EpisodeId>| {
            let mut prior = BTreeMap::from([(visit, sources.clone())]);
            let current = current.iter().cloned().collect();
            let (kept, stale) = still_valid(&[visit], &mut prior, context, edited, &current);
            assert_eq!(kept.len() + stale.len(), 1);
            kept.len() == 1
        };
        let same = [(visit, vec![head(1)]), (patient, vec![head(3), head(2)])];
        assert!(check(&same, &context, &edited), "heads in another order");
        let patient_changed = [(visit, vec![head(1)]), (patient, vec![head(4)])];
        assert!(!check(&patient_changed, &context, &edited));
        let patient_gone = [(visit, vec![head(1)])];
        assert!(!check(&patient_gone, &context, &edited));
        let mut other = Mapping::reference();
        other.push.batch_rows += 1;
        assert!(!check(&same, &Context::new(&other, 480), &edited));
        assert!(!check(
            &same,
            &Context::new(&Mapping::reference(), 0),
            &edited
        ));
        let episode = EpisodeId::new("YJ-20261125-01").expect("valid");
        let edited_in = BTreeMap::from([(visit, episode)]);
        assert!(
            !check(&same, &context, &edited_in),
            "now pushed as a change in an episode"
        );
    }
}
