//! The record indexes: by kind, by patient, by episode, the emergency records central has
//! not acknowledged, and the desks' queues. The writer keeps them in line with every change
//! ([`Tx::reindex`]); readers and the batch itself query them here.

use automerge::ROOT;
use redb::ReadableTable;

use super::episode_edits::{edited_in, edited_key};
use super::error::{ReadError, RecordDamage, StorageContext, WriteError};
use super::patient_index::his_key_kind;
use super::tables::count_keys::records as records_key;
use super::tables::{self, Id};
use super::{Store, Tx};
use crate::id::{EpisodeId, RecordId};
use crate::record::{Charge, Header, Patient, RecordKind, Snapshot};
use crate::status::{PrescriptionStatus, Status, VisitStatus};

const LOWEST: Id = [0u8; 16];
const HIGHEST: Id = [0xffu8; 16];

/// A record in a desk's queue, as the `queues` index keeps it: what a queue's row shows of the
/// record itself (the patient's name and age are read from the patient, which may change
/// while the record waits).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Queued {
    pub patient: RecordId,
    /// The current status's name.
    pub status: String,
    /// Created in an emergency episode.
    pub emergency: bool,
    pub created_ms: i64,
    /// A visit's registration number and department (empty for a prescription).
    #[serde(default)]
    pub registration_no: String,
    #[serde(default)]
    pub department: String,
    /// The HIS row's id, of a record pulled from the HIS (`store::twins`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub his_id: Option<String>,
}

/// Whether a status keeps a record in a desk's queue: a visit paused, queued or called (the
/// triage and doctor's queues); a prescription issued or printed (the pharmacy's).
fn in_queue(kind: RecordKind, status: &str) -> bool {
    match kind {
        RecordKind::Visit => matches!(
            VisitStatus::parse(status),
            Some(VisitStatus::Paused | VisitStatus::Queued | VisitStatus::Called)
        ),
        RecordKind::Prescription => matches!(
            PrescriptionStatus::parse(status),
            Some(PrescriptionStatus::Issued | PrescriptionStatus::Printed)
        ),
        _ => false,
    }
}

/// The furthest state a record's status log reached (read from the log's keys alone); `None`
/// for an unreadable log, or one that holds no state of `S`.
pub(super) fn furthest_status<S: Status>(doc: &impl autosurgeon::ReadDoc) -> Option<S> {
    let (_, log) = doc.get(&ROOT, "status_log").ok().flatten()?;
    doc.map_range(&log, ..)
        .filter_map(|item| S::parse(&item.key))
        .max()
}

/// The current status's name of a visit or prescription document; `None` for other kinds and
/// unreadable logs.
fn current_status(kind: RecordKind, doc: &impl autosurgeon::ReadDoc) -> Option<String> {
    match kind {
        RecordKind::Visit => furthest_status::<VisitStatus>(doc).map(|s| s.name()),
        RecordKind::Prescription => furthest_status::<PrescriptionStatus>(doc).map(|s| s.name()),
        _ => None,
    }
    .map(str::to_owned)
}

/// A record's row in the desks' queues, if its status keeps it there (see [`in_queue`]).
pub(crate) fn queued(header: &Header, doc: &impl autosurgeon::ReadDoc) -> Option<Queued> {
    let status = current_status(header.kind, doc)?;
    if !in_queue(header.kind, &status) {
        return None;
    }
    let text = |field: &str| -> String {
        autosurgeon::hydrate_prop::<_, Option<String>, _, _>(doc, ROOT, field)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    Some(Queued {
        patient: id_field(doc, "patient")?,
        status,
        emergency: header.episode.is_some(),
        created_ms: header.created_ms,
        registration_no: text("registration_no"),
        department: text("department"),
        his_id: Some(text("his_id")).filter(|his| !his.is_empty()),
    })
}

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

impl Tx<'_, '_> {
    /// Records of a kind, as of this batch.
    pub(crate) fn ids_of_kind(&self, kind: RecordKind) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::BY_KIND)
            .ctx("reading an index")?;
        of_kind(&*t, kind, None)
    }

    /// Records linked to a patient, as of this batch.
    pub(crate) fn ids_for_patient(&self, patient: RecordId) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::BY_PATIENT)
            .ctx("reading an index")?;
        for_patient(&*t, patient)
    }

    /// Whether central's receipts name a record, as of this batch: central holds it.
    pub(crate) fn central_acked(&self, id: RecordId) -> Result<bool, ReadError> {
        self.indexed(tables::ACKED, id)
    }

    /// Whether a record is an emergency record central has not acknowledged, as of this batch.
    pub(crate) fn is_unreconciled(&self, id: RecordId) -> Result<bool, ReadError> {
        self.indexed(tables::UNRECONCILED, id)
    }

    /// Whether a set of records (`table`) holds `id`, as of this batch.
    fn indexed(
        &self,
        table: redb::TableDefinition<'static, Id, ()>,
        id: RecordId,
    ) -> Result<bool, ReadError> {
        Ok(self
            .r()
            .open_table(table)
            .ctx("reading an index")?
            .get(id.to_bytes())
            .ctx("reading an index")?
            .is_some())
    }

    /// The dispense records of a prescription, as of this batch.
    pub(crate) fn ids_dispensing(
        &self,
        prescription: RecordId,
    ) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::BY_PRESCRIPTION)
            .ctx("reading an index")?;
        let p = prescription.to_bytes();
        collect_ids(
            t.range((p, LOWEST)..=(p, HIGHEST))
                .ctx("reading an index")?,
            |k: (Id, Id)| k.1,
        )
    }

    /// Brings the indexes, the kept counts and the open-item index in line with a working
    /// document.
    pub(super) fn reindex(&mut self, id: RecordId, header: &Header) -> Result<(), WriteError> {
        let read_by_the_rules = self.read_patient.take().filter(|(read, _)| *read == id);
        let Some(doc) = self.shared_loaded(id) else {
            return Ok(());
        };
        // Read through a snapshot: a dozen fields of one document, and its open items.
        let doc = &Snapshot::new(&doc);
        let acked = header.episode.is_some() && self.central_acked(id)?;
        let receipt: Option<Vec<RecordId>> = (header.kind == RecordKind::Receipt)
            .then(|| autosurgeon::hydrate_prop(doc, ROOT, "records"))
            .transpose()
            .map_err(|e| ReadError::corrupt(id, RecordDamage::Contents(e)))?;
        let patient = id_field(doc, "patient");
        let edits = edited_in(doc);
        let prescription = match header.kind {
            RecordKind::Dispense => id_field(doc, "prescription"),
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
            Some(
                Charge::awaits_resettlement_in(doc)
                    .map_err(|e| ReadError::corrupt(id, RecordDamage::Contents(e)))?,
            )
        } else {
            None
        };
        let patient_record: Option<Patient> = match (header.kind, read_by_the_rules) {
            (RecordKind::Patient, Some((_, patient))) => Some(*patient),
            (RecordKind::Patient, None) => Some(
                autosurgeon::hydrate(doc)
                    .map_err(|e| ReadError::corrupt(id, RecordDamage::Contents(e)))?,
            ),
            _ => None,
        };
        let queue_row = matches!(header.kind, RecordKind::Visit | RecordKind::Prescription)
            .then(|| queued(header, doc));
        let key = id.to_bytes();
        let w = self.w();
        if let Some(row) = queue_row {
            let mut t = w.open_table(tables::QUEUES).ctx("indexing")?;
            let k = (header.kind.code(), key);
            match row {
                Some(row) => {
                    let bytes = serde_json::to_vec(&row)
                        .expect("a queue row is plain data and always serializes");
                    t.insert(k, bytes.as_slice()).ctx("indexing")?;
                }
                None => {
                    t.remove(k).ctx("indexing")?;
                }
            }
        }
        let new = w
            .open_table(tables::BY_KIND)
            .ctx("indexing")?
            .insert((header.kind.code(), key), ())
            .ctx("indexing")?
            .is_none();
        if !edits.is_empty() {
            let mut t = w.open_table(tables::BY_EPISODE).ctx("indexing")?;
            for episode in &edits {
                t.insert((edited_key(episode).as_str(), key), ())
                    .ctx("indexing")?;
            }
        }
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
        if let Some(records) = receipt {
            let mut acked = w.open_table(tables::ACKED).ctx("indexing")?;
            let mut unreconciled = w.open_table(tables::UNRECONCILED).ctx("indexing")?;
            for record in records {
                let key = record.to_bytes();
                acked.insert(key, ()).ctx("indexing")?;
                unreconciled.remove(key).ctx("indexing")?;
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
        if let Some(rx) = prescription {
            w.open_table(tables::BY_PRESCRIPTION)
                .ctx("indexing")?
                .insert((rx.to_bytes(), key), ())
                .ctx("indexing")?;
        }
        if new {
            self.count(records_key(header.kind), 1);
        }
        if matches!(header.kind, RecordKind::DrugItem | RecordKind::ServiceItem)
            && let Some(doc) = self.shared_loaded(id)
        {
            self.index_catalog_item(header.kind, id, &doc)?;
        }
        let old_keys = match &patient_record {
            Some(patient) => self.index_patient(patient)?,
            None => Vec::new(),
        };
        self.keep_open_items(
            id,
            header,
            doc,
            prescription,
            patient_record.as_ref(),
            &old_keys,
        )?;
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

/// A record id held in a top-level field of a document, if any.
pub(super) fn id_field(doc: &impl autosurgeon::ReadDoc, field: &str) -> Option<RecordId> {
    match doc.get(&ROOT, field) {
        Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
            automerge::ScalarValue::Str(s) => s.parse().ok(),
            _ => None,
        },
        _ => None,
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

    /// Every record linked to a patient.
    pub fn ids_for_patient(&self, patient: RecordId) -> Result<Vec<RecordId>, ReadError> {
        for_patient(&self.table(tables::BY_PATIENT)?, patient)
    }

    /// The rows of the desks' queues of `kind` (visits or prescriptions) created at or after
    /// `since_ms` (all of them without), oldest first: reads only what waits.
    pub(crate) fn queued_since(
        &self,
        kind: RecordKind,
        since_ms: Option<i64>,
    ) -> Result<Vec<(RecordId, Queued)>, ReadError> {
        let t = self.table(tables::QUEUES)?;
        let first = since_ms.map_or(LOWEST, |ms| RecordId::lowest_at(ms).to_bytes());
        let mut out = Vec::new();
        for entry in t
            .range((kind.code(), first)..=(kind.code(), HIGHEST))
            .ctx("reading the queues")?
        {
            let (k, v) = entry.ctx("reading the queues")?;
            let id = RecordId::from_bytes(k.value().1);
            match serde_json::from_slice::<Queued>(v.value()) {
                Ok(row) => out.push((id, row)),
                // Written by this store's writer; a row that does not decode is left out of
                // the queue and said, as a damaged record is.
                Err(e) => tracing::error!(%id, error = %e, "a queue row does not decode; left out"),
            }
        }
        Ok(out)
    }

    /// The row of one record in the desks' queues, if it waits there.
    pub(crate) fn queued_one(
        &self,
        kind: RecordKind,
        id: RecordId,
    ) -> Result<Option<Queued>, ReadError> {
        let t = self.table(tables::QUEUES)?;
        let row = t
            .get((kind.code(), id.to_bytes()))
            .ctx("reading the queues")?;
        Ok(row.and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    /// The dispense records of a prescription.
    pub fn ids_dispensing(&self, prescription: RecordId) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::BY_PRESCRIPTION)?;
        let p = prescription.to_bytes();
        collect_ids(
            t.range((p, LOWEST)..=(p, HIGHEST))
                .ctx("reading an index")?,
            |k: (Id, Id)| k.1,
        )
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

    /// Every record from the HIS a desk changed during an episode (not created in it: those
    /// are [`Store::ids_in_episode`]).
    pub fn ids_edited_in_episode(&self, episode: &EpisodeId) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::BY_EPISODE)?;
        let e = edited_key(episode.as_str());
        collect_ids(
            t.range((e.as_str(), LOWEST)..=(e.as_str(), HIGHEST))
                .ctx("reading an index")?,
            |k: (&str, Id)| k.1,
        )
    }

    /// Charges awaiting re-settlement, whatever their age.
    pub fn resettle_pending(&self) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::RESETTLE_PENDING)?;
        collect_ids(t.iter().ctx("reading an index")?, |k: Id| k)
    }

    /// Whether central has acknowledged a record: one of its receipts names it.
    pub fn central_acked(&self, id: RecordId) -> Result<bool, ReadError> {
        Ok(self
            .table(tables::ACKED)?
            .get(id.to_bytes())
            .ctx("reading an index")?
            .is_some())
    }

    /// Records created during an episode that central has not yet acknowledged.
    pub fn unreconciled(&self) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::UNRECONCILED)?;
        collect_ids(t.iter().ctx("reading an index")?, |k: Id| k)
    }

    /// Up to `limit` records of `kind` created before `before_ms`, oldest first, appended to
    /// `out`.
    pub(crate) fn each_id_before(
        &self,
        kind: RecordKind,
        before_ms: i64,
        limit: usize,
        out: &mut Vec<RecordId>,
    ) -> Result<(), ReadError> {
        let t = self.table(tables::BY_KIND)?;
        let upper = RecordId::lowest_at(before_ms).to_bytes();
        let range = t
            .range((kind.code(), LOWEST)..(kind.code(), upper))
            .ctx("reading an index")?;
        for entry in range.take(limit) {
            let (k, _) = entry.ctx("reading an index")?;
            out.push(RecordId::from_bytes(k.value().1));
        }
        Ok(())
    }
}
