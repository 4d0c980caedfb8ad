//! The conflict review report: the records the open-item index and the recent decisions name,
//! each run through the detectors again, and the decisions found on the way applied to what is
//! seen now.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use automerge::Automerge;

use super::conflict::{Conflict, ConflictStatus, ReviewAction, ReviewRecord};
use super::detect::{
    DispenseFact, charge_conflicts, dispense_fact, duplicate_conflict, field_conflicts,
    prescription_conflicts,
};
use super::reviews::{keep_latest, reviews_in};
use super::target::Target;
use super::worklist::WorkCategory;
use super::{MS_PER_DAY, REVIEW_WINDOW_DAYS};
use crate::error::Chain;
use crate::id::RecordId;
use crate::record::{Header, Patient, RecordKind};
use crate::store::{ReadError, Store};

/// How many merges a suggested survivor is followed through (a chain longer is a loop).
const MAX_MERGE_CHAIN: usize = 16;

/// What one report scan has gathered.
#[derive(Default)]
struct Scan {
    found: Vec<Conflict>,
    reviews: BTreeMap<String, ReviewRecord>,
    /// Prescription → its dispense records in state dispensed.
    dispenses: BTreeMap<RecordId, Vec<DispenseFact>>,
}

impl Store {
    /// The conflict review report: open conflicts first, then resolved ones (known from their
    /// review decisions), each kind together, in id order.
    ///
    /// Reads the open-item index (every open conflict, whatever its age) and the decisions
    /// taken within [`REVIEW_WINDOW_DAYS`], then only the records those name: the cost follows
    /// the conflicts, not the history. A damaged record is skipped (and logged), not fatal to
    /// the report.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, ReadError> {
        let since_ms = self.now_ms() - REVIEW_WINDOW_DAYS * MS_PER_DAY;
        let mut wanted: BTreeMap<String, Vec<RecordId>> = BTreeMap::new();
        let categories = [
            WorkCategory::MergeDuplicatePatient,
            WorkCategory::ReviewConflict,
        ];
        for item in self.open_items(&categories)? {
            wanted.insert(item.id, item.records);
        }
        for (id, records) in self.decisions_since(since_ms)? {
            wanted.entry(id).or_insert(records);
        }
        let records: BTreeSet<RecordId> = wanted.values().flatten().copied().collect();
        let mut scan = Scan::default();
        for &id in &records {
            if self.header(id).ok().flatten().map(|h| h.kind) == Some(RecordKind::Prescription) {
                let facts = self.dispense_facts(id)?;
                scan.dispenses.insert(id, facts);
            }
        }
        for &id in &records {
            self.scan_record(&mut scan, id)?;
        }
        for id in wanted.keys() {
            if let Some(Target::Pair { a, b }) = Target::parse(id)
                && let (Some(pa), Some(pb)) = (self.patient_or_skip(a)?, self.patient_or_skip(b)?)
            {
                scan.found.extend(duplicate_conflict(&pa, &pb));
            }
        }
        let mut out = finish(scan);
        out.retain(|c| wanted.contains_key(&c.id));
        for c in &mut out {
            if c.status == ConflictStatus::Open {
                self.follow_survivors(c)?;
            }
        }
        Ok(out)
    }

    /// A merge the review suggests into a survivor merged since into another patient (by a
    /// reviewer, or by the HIS's merge pulled since) names the patient its merges lead to: a
    /// merge into a merged patient is refused ("use that record"), and the report's command
    /// is to work as printed.
    fn follow_survivors(&self, c: &mut Conflict) -> Result<(), ReadError> {
        for action in &mut c.actions {
            let ReviewAction::MergePatients {
                survivor,
                duplicate,
            } = action
            else {
                continue;
            };
            for _ in 0..MAX_MERGE_CHAIN {
                match self.patient_or_skip(*survivor)?.and_then(|p| p.merged_into) {
                    Some(into) if into != *duplicate => *survivor = into,
                    _ => break,
                }
            }
        }
        Ok(())
    }

    /// A prescription's dispense records in state dispensed.
    fn dispense_facts(&self, rx: RecordId) -> Result<Vec<DispenseFact>, ReadError> {
        let mut out = Vec::new();
        for id in self.ids_dispensing(rx)? {
            if let Some(doc) = self.doc_or_skip(id)?
                && let Some((of, fact)) = dispense_fact(&doc)
                && of == rx
            {
                out.push(fact);
            }
        }
        Ok(out)
    }

    /// Open and resolved conflicts of one record (and, for a patient, its duplicates).
    fn scan_record(&self, scan: &mut Scan, id: RecordId) -> Result<(), ReadError> {
        let Some(doc) = self.doc_or_skip(id)? else {
            return Ok(());
        };
        let Ok(header) = Header::of(&doc) else {
            tracing::warn!(%id, "record without a readable header skipped by the review");
            return Ok(());
        };
        // Reference data has one writer; node records (episodes, leases) merge by their own
        // rules.
        if header.kind.is_catalog() || header.kind.is_node_record() {
            return Ok(());
        }
        for (_, review) in reviews_in(&*doc) {
            keep_latest(&mut scan.reviews, review);
        }
        scan.found.extend(field_conflicts(&doc, &header));
        match header.kind {
            RecordKind::Prescription => {
                let dispenses = scan.dispenses.get(&id).map_or(&[][..], Vec::as_slice);
                let found = prescription_conflicts(&doc, &header, dispenses);
                scan.found.extend(found);
            }
            RecordKind::Charge => scan.found.extend(charge_conflicts(&doc, &header)),
            _ => {}
        }
        Ok(())
    }

    fn patient_or_skip(&self, id: RecordId) -> Result<Option<Patient>, ReadError> {
        match self.get::<Patient>(id) {
            Ok(p) => Ok(p),
            Err(e @ (ReadError::Corrupt { .. } | ReadError::WrongKind { .. })) => {
                tracing::warn!(%id, error = %Chain(&e), "patient skipped by the review");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A document, or `None` (logged) when it is stored damaged.
    pub(crate) fn doc_or_skip(&self, id: RecordId) -> Result<Option<Arc<Automerge>>, ReadError> {
        match self.doc(id) {
            Ok(doc) => Ok(doc),
            Err(e @ ReadError::Corrupt { .. }) => {
                tracing::warn!(%id, error = %Chain(&e), "damaged record skipped by the review");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Marks conflicts whose decision covers what is seen now as resolved, adds the decided
/// conflicts no longer present, and orders the report.
fn finish(scan: Scan) -> Vec<Conflict> {
    let mut by_id: BTreeMap<String, Conflict> = BTreeMap::new();
    for mut c in scan.found {
        if let Some(review) = scan.reviews.get(&c.id) {
            if review.evidence == c.fingerprint {
                c.status = ConflictStatus::Resolved;
                c.actions.clear();
            }
            c.decision = Some(review.clone());
        }
        by_id.insert(c.id.clone(), c);
    }
    for (id, review) in scan.reviews {
        by_id.entry(id).or_insert_with(|| Conflict::decided(review));
    }
    let mut out: Vec<Conflict> = by_id.into_values().collect();
    out.sort_by(|x, y| (x.status, x.kind, &x.id).cmp(&(y.status, y.kind, &y.id)));
    out
}
