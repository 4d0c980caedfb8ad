//! The index of what is open for a person (conflicts no decision covers, and recovery
//! after-work), kept by the writer in the commit of every change: the review reports read it
//! instead of scanning every record, and `status` reads its counts.
//!
//! Each change re-derives the changed record's items with the review's pure detectors
//! ([`crate::review::open`]) and replaces what the index held for it. A dispense also
//! re-derives its prescription's items (a prescription dispensed twice is told by its
//! dispenses); a patient re-derives the duplicate pairs it makes with the patients sharing its
//! identifying keys (the patient-key index), so duplicate detection never scans the master.

use std::collections::BTreeSet;
use std::sync::Arc;

use automerge::{Automerge, ROOT};
use redb::ReadableTable;

use super::Store;
use super::Tx;
use super::error::{ReadError, RecordDamage, StorageContext, WriteError};
use super::patient_index::{indexed_under, patient_keys};
use super::tables;
use super::tables::count_keys::open as open_key;
use crate::id::RecordId;
use crate::record::{Header, Patient, RecordKind, Snapshot};
use crate::review::REVIEWS_KEY;
use crate::review::WorkCategory;
use crate::review::open::{ItemEntry, OpenItem, pair_item, record_items, reviewed};
use crate::review::{DispenseFact, dispense_fact, reviews_in};

/// Most patients sharing one identifying key compared pairwise with a changed patient (a
/// placeholder national id shared by hundreds of records would otherwise make every change to
/// them quadratic).
pub(crate) const MAX_GROUP: usize = 16;

/// The key kinds that identify a person, for duplicate detection: a national id, the name,
/// birth date and phone, and the HIS id (one HIS patient pulled twice).
pub(crate) const IDENTIFYING: [&str; 3] = ["nid", "person", "his"];

fn decode_entry(bytes: &[u8]) -> Option<ItemEntry> {
    serde_json::from_slice(bytes).ok()
}

impl Tx<'_, '_> {
    /// A document of the batch, shared (not copied), loading it if needed.
    fn shared_doc(&mut self, id: RecordId) -> Result<Option<Arc<Automerge>>, ReadError> {
        self.doc(id)?;
        Ok(self.shared_loaded(id))
    }

    /// Brings the open-item index in line with a changed record (and, for a dispense, with
    /// its prescription `prescription`).
    /// `old_keys` are a patient's identifying keys before the change.
    pub(super) fn keep_open_items(
        &mut self,
        id: RecordId,
        header: &Header,
        view: &Snapshot<'_>,
        prescription: Option<RecordId>,
        patient: Option<&Patient>,
        old_keys: &[(String, String)],
    ) -> Result<(), WriteError> {
        if !reviewed(header.kind) {
            return Ok(());
        }
        self.note_decisions(id, view)?;
        self.refresh_items_of(id, header, patient, Some(view))?;
        if let Some(patient) = patient {
            self.refresh_groups(patient, old_keys)?;
        }
        if let Some(rx) = prescription
            && let Some(doc) = self.shared_doc(rx)?
            && let Ok(rx_header) = Header::of(&doc)
            && rx_header.kind == RecordKind::Prescription
        {
            self.refresh_items(rx, &rx_header)?;
        }
        Ok(())
    }

    /// Decisions a document carries, by time, for the report's resolved conflicts; `view`
    /// reads its document (most have none: one look at the view's root says so).
    fn note_decisions(&mut self, id: RecordId, view: &Snapshot<'_>) -> Result<(), ReadError> {
        if matches!(
            autosurgeon::ReadDoc::get(view, &ROOT, REVIEWS_KEY),
            Ok(None)
        ) {
            return Ok(());
        }
        let Some(doc) = self.shared_loaded(id) else {
            return Ok(());
        };
        let reviews = reviews_in(&*doc);
        if reviews.is_empty() {
            return Ok(());
        }
        let mut t = self
            .w()
            .open_table(tables::DECISIONS)
            .ctx("indexing decisions")?;
        for (conflict, review) in reviews {
            let records = serde_json::to_vec(&review.records).unwrap_or_default();
            t.insert((review.at_ms, conflict.as_str()), records.as_slice())
                .ctx("indexing decisions")?;
        }
        Ok(())
    }

    /// Replaces the items the index holds for a record with those it has now.
    fn refresh_items(&mut self, id: RecordId, header: &Header) -> Result<(), WriteError> {
        self.refresh_items_of(id, header, None, None)
    }

    /// [`Tx::refresh_items`], with the patient already read when the record is one, and
    /// through the caller's view of its document if it has one.
    fn refresh_items_of(
        &mut self,
        id: RecordId,
        header: &Header,
        patient: Option<&Patient>,
        view: Option<&Snapshot<'_>>,
    ) -> Result<(), WriteError> {
        let now = self.items_now(id, header, patient, view)?;
        let old = self.items_of(id)?;
        for (code, item) in &old {
            let still = now
                .iter()
                .any(|i| i.category.code() == *code && i.id == *item);
            if !still {
                self.close_item(*code, item)?;
            }
        }
        for item in now {
            self.open_item(&item)?;
        }
        Ok(())
    }

    /// The items a record has now, from its document (and, for a patient, its look-alikes).
    fn items_now(
        &mut self,
        id: RecordId,
        header: &Header,
        known: Option<&Patient>,
        view: Option<&Snapshot<'_>>,
    ) -> Result<Vec<OpenItem>, WriteError> {
        let Some(doc) = self.shared_loaded(id) else {
            return Ok(Vec::new());
        };
        let dispenses = match header.kind {
            RecordKind::Prescription => self.dispense_facts(id)?,
            _ => Vec::new(),
        };
        let mut items = match view {
            Some(view) => record_items(view, header, &dispenses),
            None => record_items(&Snapshot::new(&doc), header, &dispenses),
        };
        if header.kind == RecordKind::Patient {
            let patient: Patient = match known {
                Some(p) => p.clone(),
                None => crate::record::hydrate(&doc)
                    .map_err(|e| ReadError::corrupt(id, RecordDamage::Contents(e)))?,
            };
            for other in self.look_alikes(&patient)? {
                let Some(other_doc) = self.shared_doc(other)? else {
                    continue;
                };
                let Ok(other_patient) = crate::record::hydrate::<Patient>(&other_doc) else {
                    continue;
                };
                items.extend(pair_item((&patient, &doc), (&other_patient, &other_doc)));
            }
        }
        Ok(items)
    }

    /// The dispense records of a prescription in state dispensed, as of this batch.
    fn dispense_facts(&mut self, rx: RecordId) -> Result<Vec<DispenseFact>, ReadError> {
        let key = rx.to_bytes();
        let ids: Vec<RecordId> = {
            let t = self
                .r()
                .open_table(tables::BY_PRESCRIPTION)
                .ctx("reading an index")?;
            let mut ids = Vec::new();
            for entry in t
                .range((key, [0u8; 16])..=(key, [0xffu8; 16]))
                .ctx("reading an index")?
            {
                ids.push(RecordId::from_bytes(
                    entry.ctx("reading an index")?.0.value().1,
                ));
            }
            ids
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(doc) = self.shared_doc(id)?
                && let Some((of, fact)) = dispense_fact(&doc)
                && of == rx
            {
                out.push(fact);
            }
        }
        Ok(out)
    }

    /// The patients sharing one identifying key, at most `limit` of them.
    fn group(&self, kind: &str, value: &str, limit: usize) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::PATIENT_KEYS)
            .ctx("reading an index")?;
        indexed_under(&*t, kind, value, limit)
    }

    /// A patient's identifying keys changed (or it is new): every member of a group it left
    /// or joined has its pairs re-derived, so that a group growing past [`MAX_GROUP`] (a
    /// placeholder id, not a person) drops its pairs and one shrinking back regains them.
    fn refresh_groups(
        &mut self,
        p: &Patient,
        old_keys: &[(String, String)],
    ) -> Result<(), WriteError> {
        let id = p.header.id;
        let mut keys: BTreeSet<(String, String)> = patient_keys(p).into_iter().collect();
        keys.extend(old_keys.iter().cloned());
        let mut members = BTreeSet::new();
        for (kind, value) in keys {
            if !IDENTIFYING.contains(&kind.as_str()) {
                continue;
            }
            let g = self.group(&kind, &value, MAX_GROUP + 2)?;
            if g.len() <= MAX_GROUP + 1 {
                members.extend(g);
            }
        }
        members.remove(&id);
        for m in members {
            if let Some(doc) = self.shared_doc(m)?
                && let Ok(h) = Header::of(&doc)
            {
                self.refresh_items(m, &h)?;
            }
        }
        Ok(())
    }

    /// The patients `p` is compared with: those sharing an identifying key in a group of at
    /// most [`MAX_GROUP`], and those it was paired with before.
    fn look_alikes(&mut self, p: &Patient) -> Result<BTreeSet<RecordId>, ReadError> {
        let me = p.header.id;
        let mut out = BTreeSet::new();
        for (kind, value) in patient_keys(p) {
            if !IDENTIFYING.contains(&kind.as_str()) {
                continue;
            }
            let g = self.group(&kind, &value, MAX_GROUP + 1)?;
            if g.len() <= MAX_GROUP {
                out.extend(g.into_iter().filter(|o| *o != me));
            }
        }
        for (code, item) in self.items_of(me)? {
            if code != WorkCategory::MergeDuplicatePatient.code() {
                continue;
            }
            if let Some(entry) = self.item(code, &item)? {
                out.extend(entry.records.into_iter().filter(|r| *r != me));
            }
        }
        Ok(out)
    }

    /// The items a record takes part in, as (category code, item id).
    fn items_of(&self, id: RecordId) -> Result<Vec<(u8, String)>, ReadError> {
        let t = self
            .r()
            .open_table(tables::ITEMS_OF)
            .ctx("reading the open items")?;
        let key = id.to_bytes();
        let mut out = Vec::new();
        for entry in t
            .range((key, 0u8, "")..=(key, u8::MAX, "\u{10ffff}"))
            .ctx("reading the open items")?
        {
            let (k, _) = entry.ctx("reading the open items")?;
            let (_, code, item) = k.value();
            out.push((code, item.to_owned()));
        }
        Ok(out)
    }

    fn item(&self, code: u8, item: &str) -> Result<Option<ItemEntry>, ReadError> {
        let t = self
            .r()
            .open_table(tables::OPEN_ITEMS)
            .ctx("reading the open items")?;
        Ok(t.get((code, item))
            .ctx("reading the open items")?
            .and_then(|v| decode_entry(v.value())))
    }

    fn open_item(&mut self, item: &OpenItem) -> Result<(), ReadError> {
        let code = item.category.code();
        if let Some(old) = self.item(code, &item.id)? {
            if old == item.entry {
                return Ok(());
            }
            self.close_item(code, &item.id)?;
        }
        let bytes = serde_json::to_vec(&item.entry).unwrap_or_default();
        let w = self.w();
        w.open_table(tables::OPEN_ITEMS)
            .ctx("keeping the open items")?
            .insert((code, item.id.as_str()), bytes.as_slice())
            .ctx("keeping the open items")?;
        let mut of = w
            .open_table(tables::ITEMS_OF)
            .ctx("keeping the open items")?;
        for r in &item.entry.records {
            of.insert((r.to_bytes(), code, item.id.as_str()), ())
                .ctx("keeping the open items")?;
        }
        drop(of);
        self.count(open_key(item.category.name()), 1);
        Ok(())
    }

    /// Removes an item from the index, and from every record taking part in it.
    pub(super) fn close_item(&mut self, code: u8, item: &str) -> Result<(), ReadError> {
        let w = self.w();
        let removed = w
            .open_table(tables::OPEN_ITEMS)
            .ctx("keeping the open items")?
            .remove((code, item))
            .ctx("keeping the open items")?
            .map(|v| decode_entry(v.value()));
        let Some(entry) = removed else {
            return Ok(());
        };
        let mut of = w
            .open_table(tables::ITEMS_OF)
            .ctx("keeping the open items")?;
        for r in entry.map(|e| e.records).unwrap_or_default() {
            of.remove((r.to_bytes(), code, item))
                .ctx("keeping the open items")?;
        }
        drop(of);
        if let Some(category) = WorkCategory::from_code(code) {
            self.count(open_key(category.name()), -1);
        }
        Ok(())
    }

    /// Whether a record takes part in an open item (a window keeps it then).
    pub(super) fn has_open_items(&self, id: RecordId) -> Result<bool, ReadError> {
        Ok(!self.items_of(id)?.is_empty())
    }
}

/// An open item as listed from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedItem {
    pub category: WorkCategory,
    pub id: String,
    pub records: Vec<RecordId>,
    pub conflict: Option<crate::review::ConflictKind>,
}

impl Store {
    /// Every open item of the given categories, from the index: proportional to the open
    /// items, whatever the history.
    pub(crate) fn open_items(
        &self,
        categories: &[WorkCategory],
    ) -> Result<Vec<ListedItem>, ReadError> {
        let t = self.table(tables::OPEN_ITEMS)?;
        let mut out = Vec::new();
        for &category in categories {
            let code = category.code();
            for entry in t
                .range((code, "")..=(code, "\u{10ffff}"))
                .ctx("reading the open items")?
            {
                let (k, v) = entry.ctx("reading the open items")?;
                let Some(entry) = decode_entry(v.value()) else {
                    continue;
                };
                out.push(ListedItem {
                    category,
                    id: k.value().1.to_owned(),
                    records: entry.records,
                    conflict: entry.conflict,
                });
            }
        }
        Ok(out)
    }

    /// Review decisions seen in documents since `since_ms`: (conflict id, records).
    pub(crate) fn decisions_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(String, Vec<RecordId>)>, ReadError> {
        let t = self.table(tables::DECISIONS)?;
        let mut out = Vec::new();
        for entry in t.range((since_ms, "")..).ctx("reading decisions")? {
            let (k, v) = entry.ctx("reading decisions")?;
            let records: Vec<RecordId> = serde_json::from_slice(v.value()).unwrap_or_default();
            out.push((k.value().1.to_owned(), records));
        }
        Ok(out)
    }
}
