//! The conflict review report: which records are read (see the module docs of `review`),
//! each run through the detectors, and the decisions found on the way applied to what is seen
//! now.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use automerge::Automerge;

use super::conflict::{Conflict, ConflictStatus, ReviewRecord};
use super::detect::{
    DispenseFact, charge_conflicts, dispense_fact, duplicate_conflict, field_conflicts,
    prescription_conflicts,
};
use super::reviews::{keep_latest, reviews_in};
use super::{MS_PER_DAY, REVIEW_WINDOW_DAYS};
use crate::error::Chain;
use crate::id::RecordId;
use crate::record::{Header, Patient, RecordKind};
use crate::store::{ReadError, Store};

/// Most patients of one shared key compared pairwise (a placeholder national id shared by
/// hundreds of records would otherwise make a quadratic report).
const MAX_GROUP: usize = 16;

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
    /// Reads every patient, the other records created within [`REVIEW_WINDOW_DAYS`] and the
    /// emergency records central has not acknowledged; duplicates come from the patient-key
    /// index. A damaged record is skipped (and logged), not fatal to the report.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, ReadError> {
        let since_ms = self.now_ms() - REVIEW_WINDOW_DAYS * MS_PER_DAY;
        let old_unreconciled: Vec<RecordId> = self
            .unreconciled()?
            .into_iter()
            .filter(|id| id.created_ms() < since_ms)
            .collect();
        let mut scan = Scan::default();
        // Dispense records first, so that each prescription is checked with all of them.
        let mut dispense_ids = Vec::new();
        self.each_id(RecordKind::Dispense, Some(since_ms), |id| {
            dispense_ids.push(id);
            Ok(())
        })?;
        for id in dispense_ids
            .into_iter()
            .chain(old_unreconciled.iter().copied())
        {
            if let Some(doc) = self.doc_or_skip(id)?
                && let Some((rx, fact)) = dispense_fact(&doc)
            {
                scan.dispenses.entry(rx).or_default().push(fact);
            }
        }
        self.each_id(RecordKind::Patient, None, |id| {
            self.scan_record(&mut scan, id)
        })?;
        for kind in [
            RecordKind::Visit,
            RecordKind::Prescription,
            RecordKind::Charge,
            RecordKind::Invoice,
            RecordKind::Dispense,
        ] {
            self.each_id(kind, Some(since_ms), |id| self.scan_record(&mut scan, id))?;
        }
        for id in old_unreconciled {
            if self.header(id).ok().flatten().map(|h| h.kind) != Some(RecordKind::Patient) {
                self.scan_record(&mut scan, id)?;
            }
        }
        scan.found.extend(self.duplicate_patients()?);
        Ok(finish(scan))
    }

    /// Open and resolved conflicts of one record (and, for a patient, its duplicates).
    fn scan_record(&self, scan: &mut Scan, id: RecordId) -> Result<(), ReadError> {
        let Some(doc) = self.doc_or_skip(id)? else {
            return Ok(());
        };
        let Ok(header) = Header::of(&*doc) else {
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

    /// Live patient pairs that share a national id, or a name, birth date and phone.
    fn duplicate_patients(&self) -> Result<Vec<Conflict>, ReadError> {
        let mut pairs: BTreeSet<(RecordId, RecordId)> = BTreeSet::new();
        for key_kind in ["nid", "person"] {
            for (_, ids) in self.patients_sharing(key_kind)? {
                let ids: Vec<RecordId> = ids.into_iter().take(MAX_GROUP).collect();
                for (i, &x) in ids.iter().enumerate() {
                    for &y in &ids[i + 1..] {
                        pairs.insert((x.min(y), x.max(y)));
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (a, b) in pairs {
            let (Some(pa), Some(pb)) = (self.patient_or_skip(a)?, self.patient_or_skip(b)?) else {
                continue;
            };
            out.extend(duplicate_conflict(&pa, &pb));
        }
        Ok(out)
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
