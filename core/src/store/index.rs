//! The record indexes: by kind, by patient, by episode, and the emergency records central
//! has not acknowledged. The writer keeps them in line with every change ([`Tx::reindex`]);
//! readers and the batch itself query them here.

use std::collections::BTreeSet;
use std::ops::Bound;

use automerge::{ROOT, ReadDoc};
use redb::ReadableTable;

use super::error::{ReadError, RecordDamage, StorageContext, WriteError};
use super::patient_index::his_key_kind;
use super::tables::{self, Id};
use super::{Store, Tx};
use crate::id::{EpisodeId, RecordId};
use crate::record::{CENTRAL_ACK_KEY, Charge, Header, Patient, RecordKind};

/// Ids read from an index per read transaction by [`Store::each_id`].
const PAGE: usize = 1024;

/// Most distinct episodes read from the episode index by [`Store::episode_ids_since`].
const MAX_EPISODES: usize = 1000;

const LOWEST: Id = [0u8; 16];
const HIGHEST: Id = [0xffu8; 16];

/// Records of a kind created at or after `since_ms` (all of them without), oldest first.
fn of_kind(
    t: &impl ReadableTable<(u8, Id), ()>,
    kind: RecordKind,
    since_ms: Option<i64>,
) -> Result<Vec<RecordId>, ReadError> {
    let first = since_ms.map_or(LOWEST, |ms| RecordId::lowest_at(ms).to_bytes());
    let range = t
        .range((kind.code(), first)..=(kind.code(), HIGHEST))
        .ctx("reading an index")?;
    collect_ids(range, |k: (u8, Id)| k.1)
}

/// Records linked to a patient.
fn for_patient(
    t: &impl ReadableTable<(Id, Id), ()>,
    patient: RecordId,
) -> Result<Vec<RecordId>, ReadError> {
    let p = patient.to_bytes();
    let range = t
        .range((p, LOWEST)..=(p, HIGHEST))
        .ctx("reading an index")?;
    collect_ids(range, |k: (Id, Id)| k.1)
}

fn collect_ids<K: redb::Key + 'static>(
    range: redb::Range<'_, K, ()>,
    id_of: impl Fn(K::SelfType<'_>) -> Id,
) -> Result<Vec<RecordId>, ReadError> {
    let mut out = Vec::new();
    for entry in range {
        let (k, _) = entry.ctx("reading an index")?;
        out.push(RecordId::from_bytes(id_of(k.value())));
    }
    Ok(out)
}

impl Tx<'_> {
    /// Records of a kind, as of this batch.
    pub(crate) fn ids_of_kind(&self, kind: RecordKind) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::BY_KIND)
            .ctx("reading an index")?;
        of_kind(&t, kind, None)
    }

    /// Records linked to a patient, as of this batch.
    pub(crate) fn ids_for_patient(&self, patient: RecordId) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::BY_PATIENT)
            .ctx("reading an index")?;
        for_patient(&t, patient)
    }

    /// Brings the indexes in line with a working document.
    pub(super) fn reindex(&mut self, id: RecordId) -> Result<(), WriteError> {
        let Some(doc) = self.loaded(id) else {
            return Ok(());
        };
        let header =
            Header::of(doc).map_err(|e| ReadError::corrupt(id, RecordDamage::Header(e)))?;
        let acked = doc.get(ROOT, CENTRAL_ACK_KEY).ok().flatten().is_some();
        let patient: Option<RecordId> = match doc.get(ROOT, "patient") {
            Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
                automerge::ScalarValue::Str(s) => s.parse().ok(),
                _ => None,
            },
            _ => None,
        };
        let his_id: Option<String> = match header.kind {
            RecordKind::Visit
            | RecordKind::Prescription
            | RecordKind::Charge
            | RecordKind::Invoice => autosurgeon::hydrate_prop(doc, ROOT, "his_id")
                .ok()
                .flatten(),
            _ => None,
        };
        let lease: Option<crate::record::Lease> = if header.kind == RecordKind::Lease {
            autosurgeon::hydrate(doc).ok()
        } else {
            None
        };
        let awaits_resettlement = if header.kind == RecordKind::Charge {
            let charge: Charge = autosurgeon::hydrate(doc)
                .map_err(|e| ReadError::corrupt(id, RecordDamage::Contents(e)))?;
            Some(charge.awaits_resettlement())
        } else {
            None
        };
        let patient_record: Option<Patient> = if header.kind == RecordKind::Patient {
            Some(
                autosurgeon::hydrate(doc)
                    .map_err(|e| ReadError::corrupt(id, RecordDamage::Contents(e)))?,
            )
        } else {
            None
        };
        let key = id.to_bytes();
        let w = self.w();
        w.open_table(tables::BY_KIND)
            .ctx("indexing")?
            .insert((header.kind.code(), key), ())
            .ctx("indexing")?;
        if let Some(episode) = &header.episode {
            w.open_table(tables::BY_EPISODE)
                .ctx("indexing")?
                .insert((episode.as_str(), key), ())
                .ctx("indexing")?;
            let mut unreconciled = w.open_table(tables::UNRECONCILED).ctx("indexing")?;
            if acked {
                unreconciled.remove(key).ctx("indexing")?;
            } else {
                unreconciled.insert(key, ()).ctx("indexing")?;
            }
        }
        if let Some(pending) = awaits_resettlement {
            let mut t = w.open_table(tables::RESETTLE_PENDING).ctx("indexing")?;
            if pending {
                t.insert(key, ()).ctx("indexing")?;
            } else {
                t.remove(key).ctx("indexing")?;
            }
        }
        if let Some(patient) = patient {
            w.open_table(tables::BY_PATIENT)
                .ctx("indexing")?
                .insert((patient.to_bytes(), key), ())
                .ctx("indexing")?;
        }
        if let Some(patient) = patient_record {
            self.index_patient(&patient)?;
        }
        if let Some(his_id) = his_id {
            // Pulled from the HIS: its key never changes, so it is indexed once.
            let keys = vec![(his_key_kind(header.kind).to_owned(), his_id)];
            self.index_keys(id, keys)?;
        }
        if let Some(lease) = lease {
            self.index_granted(id, lease)?;
        }
        Ok(())
    }
}

impl Store {
    /// Every record of a kind, oldest first.
    pub fn ids_of_kind(&self, kind: RecordKind) -> Result<Vec<RecordId>, ReadError> {
        of_kind(&self.table(tables::BY_KIND)?, kind, None)
    }

    /// Records of a kind created at or after `since_ms`, oldest first.
    pub fn ids_of_kind_since(
        &self,
        kind: RecordKind,
        since_ms: i64,
    ) -> Result<Vec<RecordId>, ReadError> {
        of_kind(&self.table(tables::BY_KIND)?, kind, Some(since_ms))
    }

    pub fn count_of_kind(&self, kind: RecordKind) -> Result<u64, ReadError> {
        Ok(self.ids_of_kind(kind)?.len() as u64)
    }

    /// Every record linked to a patient.
    pub fn ids_for_patient(&self, patient: RecordId) -> Result<Vec<RecordId>, ReadError> {
        for_patient(&self.table(tables::BY_PATIENT)?, patient)
    }

    /// Every record created during an episode.
    pub fn ids_in_episode(&self, episode: &EpisodeId) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::BY_EPISODE)?;
        let e = episode.as_str();
        collect_ids(
            t.range((e, LOWEST)..=(e, HIGHEST))
                .ctx("reading an index")?,
            |k: (&str, Id)| k.1,
        )
    }

    /// Charges awaiting re-settlement, whatever their age.
    pub fn resettle_pending(&self) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::RESETTLE_PENDING)?;
        collect_ids(t.iter().ctx("reading an index")?, |k: Id| k)
    }

    /// Records created during an episode that central has not yet acknowledged.
    pub fn unreconciled(&self) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::UNRECONCILED)?;
        collect_ids(t.iter().ctx("reading an index")?, |k: Id| k)
    }

    /// Calls `f` with every record of `kind` (created at or after `since_ms`), oldest first,
    /// reading the index a page at a time so that memory does not grow with the store.
    pub(crate) fn each_id(
        &self,
        kind: RecordKind,
        since_ms: Option<i64>,
        mut f: impl FnMut(RecordId) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let first = since_ms.map_or(LOWEST, |ms| RecordId::lowest_at(ms).to_bytes());
        let mut lower = Bound::Included((kind.code(), first));
        let upper = Bound::Included((kind.code(), HIGHEST));
        loop {
            let page: Vec<RecordId> = {
                let t = self.table(tables::BY_KIND)?;
                let range = t.range((lower, upper)).ctx("reading an index")?;
                let mut page = Vec::with_capacity(PAGE);
                for entry in range.take(PAGE) {
                    let (k, _) = entry.ctx("reading an index")?;
                    page.push(RecordId::from_bytes(k.value().1));
                }
                page
            };
            for &id in &page {
                f(id)?;
            }
            match page.last() {
                Some(last) if page.len() == PAGE => {
                    lower = Bound::Excluded((kind.code(), last.to_bytes()));
                }
                _ => return Ok(()),
            }
        }
    }

    /// Records of every episode created at or after `since_ms`: a skip-scan of the episode
    /// index (one range per episode, at most [`MAX_EPISODES`] episodes).
    pub(crate) fn episode_ids_since(&self, since_ms: i64) -> Result<BTreeSet<RecordId>, ReadError> {
        let t = self.table(tables::BY_EPISODE)?;
        let mut out = BTreeSet::new();
        let mut next: Option<String> = None;
        let lowest = RecordId::lowest_at(since_ms).to_bytes();
        for _ in 0..MAX_EPISODES {
            // The next episode name after `next` (or the first).
            let lower = match &next {
                None => Bound::Unbounded,
                Some(e) => Bound::Excluded((e.as_str(), HIGHEST)),
            };
            let Some(entry) = t
                .range::<(&str, Id)>((lower, Bound::Unbounded))
                .ctx("reading an index")?
                .next()
            else {
                break;
            };
            let (k, _) = entry.ctx("reading an index")?;
            let episode = k.value().0.to_owned();
            for entry in t
                .range((episode.as_str(), lowest)..=(episode.as_str(), HIGHEST))
                .ctx("reading an index")?
            {
                let (k, _) = entry.ctx("reading an index")?;
                out.insert(RecordId::from_bytes(k.value().1));
            }
            next = Some(episode);
        }
        Ok(out)
    }
}
