//! The full scan behind the kept figures: every record read again, every count, the open-item
//! index, the unreconciled, re-settlement and queue indexes, each peer's backlog and the digest
//! recomputed from scratch and compared with what the commits kept. Slow by nature (it reads
//! the whole store); the property tests run it after every random step, so that a kept
//! figure can never drift unnoticed.

use std::collections::{BTreeMap, BTreeSet};

use redb::{ReadableTable, ReadableTableMetadata};

use super::Store;
use super::digest::{Digest, Scope};
use super::error::{ReadError, StorageContext};
use super::open_items::{IDENTIFYING, MAX_GROUP};
use super::tables::count_keys::open as open_key;
use super::tables::{self, decode_heads};
use crate::id::RecordId;
use crate::record::{Charge, Header, Patient, Receipt, RecordKind};
use crate::review::WorkCategory;
use crate::review::open::{ItemEntry, pair_item, record_items, reviewed};
use crate::review::{DispenseFact, dispense_fact};

impl Store {
    /// Recomputes everything the store keeps from the records themselves and lists every
    /// disagreement with the kept figures; empty when they all agree.
    pub fn check_kept(&self) -> Result<Vec<String>, ReadError> {
        let mut problems = Vec::new();
        let mut ids: Vec<(RecordId, Header)> = Vec::new();
        for kind in RecordKind::ALL {
            let of_kind = self.ids_of_kind(kind)?;
            let kept = self.count_of_kind(kind)?;
            if kept != of_kind.len() as u64 {
                problems.push(format!(
                    "{} records: kept {kept}, found {}",
                    kind.name(),
                    of_kind.len()
                ));
            }
            for id in of_kind {
                if let Some(h) = self.header(id)? {
                    ids.push((id, h));
                }
            }
        }
        self.check_unreconciled(&ids, &mut problems)?;
        self.check_queues(&ids, &mut problems)?;
        self.check_items(&ids, &mut problems)?;
        self.check_backlogs(&mut problems)?;
        self.check_digest(&mut problems)?;
        self.check_signatures(&ids, &mut problems)?;
        Ok(problems)
    }

    /// Every change of every record held is signed (its commit in the record's index of
    /// commits) or waits for the node's key; no record's index outlives the record.
    fn check_signatures(
        &self,
        ids: &[(RecordId, Header)],
        problems: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        if self.options().author_check != super::AuthorCheck::Signatures {
            return Ok(());
        }
        let change_signed = self.table(tables::CHANGE_SIGNED)?;
        let record_signed = self.table(tables::RECORD_SIGNED)?;
        let unsigned = self.table(tables::UNSIGNED)?;
        for (id, _) in ids {
            let Some(doc) = self.doc(*id)? else { continue };
            for change in doc.get_changes_meta(&[]) {
                let hash = change.hash.0;
                match change_signed.get(hash).ctx("checking signatures")? {
                    Some(commit) => {
                        let row = (id.to_bytes(), commit.value());
                        if record_signed.get(row).ctx("checking signatures")?.is_none() {
                            problems.push(format!(
                                "record {id}: change {} is signed but not in the record's commits",
                                change.hash
                            ));
                        }
                    }
                    None => {
                        let waiting = unsigned.get(hash).ctx("checking signatures")?;
                        if waiting.map(|r| r.value()) != Some(id.to_bytes()) {
                            problems.push(format!(
                                "record {id}: change {} is neither signed nor waiting for a key",
                                change.hash
                            ));
                        }
                    }
                }
            }
        }
        let held: BTreeSet<RecordId> = ids.iter().map(|(id, _)| *id).collect();
        for entry in record_signed.iter().ctx("checking signatures")? {
            let record = RecordId::from_bytes(entry.ctx("checking signatures")?.0.value().0);
            if !held.contains(&record) {
                problems.push(format!(
                    "record {record}: its commits are indexed but it is not held"
                ));
            }
        }
        Ok(())
    }

    /// The records central's receipts name (`acked`), the unreconciled index (emergency
    /// records no receipt names) and the re-settlement index (charges awaiting one), each
    /// against the records.
    fn check_unreconciled(
        &self,
        ids: &[(RecordId, Header)],
        problems: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        let mut acked = BTreeSet::new();
        for (id, h) in ids {
            if h.kind == RecordKind::Receipt
                && let Some(receipt) = self.get::<Receipt>(*id)?
            {
                acked.extend(receipt.records);
            }
        }
        let mut unreconciled = BTreeSet::new();
        let mut resettle = BTreeSet::new();
        for (id, h) in ids {
            let Some(doc) = self.doc(*id)? else { continue };
            if h.episode.is_some() && !acked.contains(id) {
                unreconciled.insert(*id);
            }
            if h.kind == RecordKind::Charge
                && crate::record::hydrate::<Charge>(&doc).is_ok_and(|c| c.awaits_resettlement())
            {
                resettle.insert(*id);
            }
        }
        let mut kept_acked = Vec::new();
        for entry in self.table(tables::ACKED)?.iter().ctx("reading an index")? {
            kept_acked.push(RecordId::from_bytes(
                entry.ctx("reading an index")?.0.value(),
            ));
        }
        for (name, kept, expected) in [
            ("acked", kept_acked, acked),
            ("unreconciled", self.unreconciled()?, unreconciled),
            ("resettle_pending", self.resettle_pending()?, resettle),
        ] {
            let kept: BTreeSet<RecordId> = kept.into_iter().collect();
            if kept != expected {
                problems.push(format!(
                    "{name}: kept {} records, found {}",
                    kept.len(),
                    expected.len()
                ));
            }
        }
        Ok(())
    }

    /// The desks' queues (`queues`) against the visits and prescriptions: the same records,
    /// with the same rows.
    fn check_queues(
        &self,
        ids: &[(RecordId, Header)],
        problems: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        let mut expected = BTreeMap::new();
        for (id, h) in ids {
            if !matches!(h.kind, RecordKind::Visit | RecordKind::Prescription) {
                continue;
            }
            if let Some(doc) = self.doc(*id)?
                && let Some(row) = super::index::queued(h, &*doc)
            {
                expected.insert((h.kind, *id), row);
            }
        }
        let mut kept = BTreeMap::new();
        for kind in [RecordKind::Visit, RecordKind::Prescription] {
            for (id, row) in self.queued_since(kind, None)? {
                kept.insert((kind, id), row);
            }
        }
        // A row written before rows carried the HIS id has none until its record next changes
        // (its twin, if any, is listed beside it until then: `store::twins`).
        let same = |kept: Option<&super::index::Queued>, expected: &super::index::Queued| {
            kept.is_some_and(|kept| {
                kept == expected
                    || (kept.his_id.is_none()
                        && *kept
                            == super::index::Queued {
                                his_id: None,
                                ..expected.clone()
                            })
            })
        };
        let differ = expected
            .iter()
            .filter(|(k, row)| !same(kept.get(*k), row))
            .count()
            + kept.keys().filter(|k| !expected.contains_key(*k)).count();
        if differ > 0 {
            problems.push(format!(
                "queues: kept {} rows, found {}; {differ} differ",
                kept.len(),
                expected.len()
            ));
        }
        Ok(())
    }

    fn check_items(
        &self,
        ids: &[(RecordId, Header)],
        problems: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        let mut dispenses: BTreeMap<RecordId, Vec<DispenseFact>> = BTreeMap::new();
        for (id, h) in ids {
            if h.kind == RecordKind::Dispense
                && let Some(doc) = self.doc(*id)?
                && let Some((rx, fact)) = dispense_fact(&doc)
            {
                dispenses.entry(rx).or_default().push(fact);
            }
        }
        let mut expected: BTreeMap<(u8, String), ItemEntry> = BTreeMap::new();
        for (id, h) in ids {
            if !reviewed(h.kind) {
                continue;
            }
            let Some(doc) = self.doc(*id)? else { continue };
            let facts = dispenses.get(id).map_or(&[][..], Vec::as_slice);
            for item in record_items(&crate::record::Snapshot::new(&doc), h, facts) {
                expected.insert((item.category.code(), item.id), item.entry);
            }
        }
        for kind in IDENTIFYING {
            for (_, group) in self.patients_sharing(kind)? {
                if group.len() > MAX_GROUP {
                    continue;
                }
                for (i, a) in group.iter().enumerate() {
                    for b in &group[i + 1..] {
                        let (Some(da), Some(db)) = (self.doc(*a)?, self.doc(*b)?) else {
                            continue;
                        };
                        let (Ok(pa), Ok(pb)) = (
                            crate::record::hydrate::<Patient>(&da),
                            crate::record::hydrate::<Patient>(&db),
                        ) else {
                            continue;
                        };
                        if let Some(item) = pair_item((&pa, &da), (&pb, &db)) {
                            expected.insert((item.category.code(), item.id), item.entry);
                        }
                    }
                }
            }
        }
        let mut kept: BTreeMap<(u8, String), ItemEntry> = BTreeMap::new();
        for item in self.open_items(&WorkCategory::ALL)? {
            kept.insert(
                (item.category.code(), item.id),
                ItemEntry {
                    records: item.records,
                    conflict: item.conflict,
                },
            );
        }
        for (key, entry) in &expected {
            match kept.get(key) {
                None => problems.push(format!("open item {} missing from the index", key.1)),
                Some(k) if k != entry => {
                    problems.push(format!("open item {} kept with other records", key.1));
                }
                Some(_) => {}
            }
        }
        for key in kept.keys() {
            if !expected.contains_key(key) {
                problems.push(format!("open item {} kept but no longer open", key.1));
            }
        }
        for category in WorkCategory::ALL {
            let found = expected
                .keys()
                .filter(|(code, _)| *code == category.code())
                .count() as u64;
            let counted = self.kept_count(&open_key(category.name()))?;
            if counted != found {
                problems.push(format!(
                    "{} items: kept {counted}, found {found}",
                    category.name()
                ));
            }
        }
        // Every record's list of items agrees with the items.
        let mut links = BTreeSet::new();
        for ((code, item), entry) in &kept {
            for r in &entry.records {
                links.insert((*r, *code, item.clone()));
            }
        }
        let t = self.table(tables::ITEMS_OF)?;
        let mut listed = BTreeSet::new();
        for entry in t.iter().ctx("reading the open items")? {
            let (k, _) = entry.ctx("reading the open items")?;
            let (r, code, item) = k.value();
            listed.insert((RecordId::from_bytes(r), code, item.to_owned()));
        }
        if listed != links {
            problems.push(format!(
                "records' item lists: {} links kept, {} expected",
                listed.len(),
                links.len()
            ));
        }
        Ok(())
    }

    fn check_backlogs(&self, problems: &mut Vec<String>) -> Result<(), ReadError> {
        let feed = self.table(tables::FEED)?;
        for (peer, state) in self.peers()? {
            let found = feed
                .range(state.acked_by_peer.saturating_add(1)..)
                .ctx("reading the feed")?
                .count() as u64;
            let kept = self.peer_backlog(&peer)?;
            if kept != found {
                problems.push(format!("backlog of {peer}: kept {kept}, found {found}"));
            }
        }
        let rows = feed.len().ctx("reading the feed")?;
        let records = self.table(tables::DOC_HEADS)?.len().ctx("reading heads")?;
        if rows != records {
            problems.push(format!("the feed has {rows} rows for {records} records"));
        }
        Ok(())
    }

    fn check_digest(&self, problems: &mut Vec<String>) -> Result<(), ReadError> {
        let t = self.table(tables::DOC_HEADS)?;
        let mut all = Vec::new();
        for entry in t.iter().ctx("reading heads")? {
            let (k, v) = entry.ctx("reading heads")?;
            all.push((RecordId::from_bytes(k.value()), decode_heads(v.value())));
        }
        let digest = |scope: Scope| -> Result<Digest, ReadError> {
            let mut held = Vec::new();
            for (id, heads) in &all {
                let Some(h) = self.header(*id)? else { continue };
                if scope.covers(h.kind, *id) {
                    held.push((*id, heads.as_slice()));
                }
            }
            Ok(Digest::of(held))
        };
        let week_ago = self.now_ms() - 7 * 86_400_000;
        for scope in [Scope::All, Scope::keeping_since(week_ago)] {
            if digest(scope)? != self.digest_of(scope)? {
                problems.push(format!("digest of {scope:?}: kept and recomputed differ"));
            }
        }
        Ok(())
    }
}
