//! Review decisions, written as changes: choosing one of a field's concurrent values,
//! confirming what the rules kept, keeping two look-alike patients apart, and merging a
//! duplicate patient into the survivor by a pointer (nothing is deleted).
//!
//! Only the information department (the admin desk) reviews. Each decision re-checks the
//! conflict against the records as they are in the same commit, so a decision is never made
//! on a conflict that has changed since the report was read; it lands in the affected
//! document's `reviews` map and the audit trail (`review.resolve`, `review.confirm`,
//! `review.keep_separate`, `review.merge`).

use automerge::{ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

use super::conflict::{Conflict, ConflictKind, ReviewRecord};
use super::detect::{
    DispenseFact, charge_conflicts, dispense_fact, duplicate_conflict, field_conflict,
    prescription_conflicts,
};
use super::reviews::{put_review, reviews_in};
use super::target::Target;
use super::value;
use crate::WriteError;
use crate::desk::{Saved, admin_only, set_field};
use crate::id::RecordId;
use crate::record::{Header, Patient, Prescription, RecordKind};
use crate::roles::Operator;
use crate::rules::RuleError;
use crate::store::{ReadError, RecordDamage, Store, Tx};

/// A reviewer's decision on a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Field conflicts: keep the value at this index of the conflict's values (written
    /// again as one put, which ends the Automerge conflict on every node).
    ChooseValue(usize),
    /// Status conflicts (double dispense, dispensed and cancelled, double settlement or
    /// invoice): the reviewer has checked and confirms what the rules kept. On a field
    /// conflict: keep the value currently shown.
    Confirm,
    /// Duplicate patients: they are different people; keep both records.
    KeepSeparate,
}

fn not_open(id: &str) -> RuleError {
    RuleError::invalid(
        "conflict",
        format!("{id} is not an open conflict on this node (already resolved, or not here yet)"),
    )
}

fn refuse_choice(kind: ConflictKind, choice: Resolution) -> RuleError {
    let how = match kind {
        ConflictKind::FieldConflict => "choose one of its values (or confirm the shown one)",
        ConflictKind::DuplicatePatient => "merge the pair, or keep them separate",
        _ => "confirm it after checking",
    };
    RuleError::invalid(
        "resolution",
        format!("{choice:?} does not apply to a {kind}: {how}"),
    )
}

fn review_of(tx: &Tx<'_, '_>, who: &Operator, c: &Conflict, decision: String) -> ReviewRecord {
    ReviewRecord {
        conflict: c.id.clone(),
        kind: c.kind,
        record_kind: c.record_kind,
        records: c.records.clone(),
        field: c.field.clone(),
        decision,
        operator: who.name.clone(),
        node: tx.node().clone(),
        at_ms: tx.now_ms(),
        evidence: c.fingerprint.clone(),
    }
}

impl Store {
    /// Records a reviewer's decision on conflict `conflict_id` (as listed by
    /// [`Store::conflicts`]). Admin desk only. Refused, with nothing written, when the conflict
    /// is not open here or the resolution does not fit its kind.
    pub fn resolve_conflict(
        &self,
        who: &Operator,
        conflict_id: &str,
        choice: Resolution,
    ) -> Result<Saved<ReviewRecord>, WriteError> {
        let target = Target::parse(conflict_id).ok_or_else(|| {
            RuleError::invalid("conflict", format!("{conflict_id:?} is not a conflict id"))
        })?;
        let kind = match &target {
            Target::Field { record, .. } => self
                .header(*record)?
                .map_or(RecordKind::Patient, |h| h.kind),
            Target::Pair { .. } => RecordKind::Patient,
            Target::Status { kind, .. } => kind.record_kind().unwrap_or(RecordKind::Patient),
        };
        admin_only(who, kind, "review conflicts")?;
        let who = who.clone();
        self.write(move |tx| match target {
            Target::Field { record, field } => {
                resolve_field(tx, &who, record, &field, choice, None)
            }
            Target::Pair { a, b } => keep_separate(tx, &who, a, b, choice),
            Target::Status { kind, record } => confirm_status(tx, &who, kind, record, choice),
        })
    }

    /// Merges `duplicate` into `survivor`: the duplicate gets a `merged_into` pointer (its
    /// visits, prescriptions and charges stay where they are) and the decision in its
    /// `reviews`. Admin desk only. Refuses merging a patient into itself, into a merged
    /// patient, a merged patient, or a record that is not a patient.
    pub fn merge_patients(
        &self,
        who: &Operator,
        survivor: RecordId,
        duplicate: RecordId,
    ) -> Result<Saved<ReviewRecord>, WriteError> {
        admin_only(who, RecordKind::Patient, "merge patients")?;
        if survivor == duplicate {
            return Err(RuleError::invalid(
                "duplicate",
                format!("patient {survivor} cannot be merged into itself"),
            )
            .into());
        }
        let who = who.clone();
        self.write(move |tx| {
            let s: Patient = tx.read(survivor)?;
            let d: Patient = tx.read(duplicate)?;
            if let Some(into) = s.merged_into {
                return Err(RuleError::PatientMerged { id: survivor, into }.into());
            }
            if let Some(into) = d.merged_into {
                return Err(RuleError::PatientMerged {
                    id: duplicate,
                    into,
                }
                .into());
            }
            let target = Target::pair(survivor, duplicate);
            let (fingerprint, records) = match duplicate_conflict(&s, &d) {
                Some(c) => (c.fingerprint, c.records),
                None => (
                    String::new(),
                    vec![survivor.min(duplicate), survivor.max(duplicate)],
                ),
            };
            let review = ReviewRecord {
                conflict: target.id(),
                kind: ConflictKind::DuplicatePatient,
                record_kind: RecordKind::Patient,
                records,
                field: None,
                decision: format!("merged {duplicate} into {survivor}"),
                operator: who.name.clone(),
                node: tx.node().clone(),
                at_ms: tx.now_ms(),
                evidence: fingerprint,
            };
            tx.edit(duplicate, &who, "review.merge", |t| {
                set_field(t, "merged_into", Some(survivor))?;
                put_review(t, &review)
            })?;
            Ok(Saved::new(review))
        })
    }
}

/// Keeps one of a field's concurrent values, written again as one put. `because`: what the
/// decision says before the value, for one not taken by a reviewer (`chose value` otherwise).
pub(super) fn resolve_field(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    record: RecordId,
    field: &str,
    choice: Resolution,
    because: Option<&str>,
) -> Result<Saved<ReviewRecord>, WriteError> {
    let id = Target::Field {
        record,
        field: field.to_owned(),
    }
    .id();
    let doc = tx.doc(record)?.ok_or_else(|| not_open(&id))?;
    let header =
        Header::of(doc).map_err(|e| ReadError::corrupt(record, RecordDamage::Header(e)))?;
    let conflict = field_conflict(doc, &header, field).ok_or_else(|| not_open(&id))?;
    let n = conflict.values.len();
    let index = match choice {
        Resolution::ChooseValue(i) if i < n => i,
        Resolution::ChooseValue(i) => {
            return Err(RuleError::invalid(
                "resolution",
                format!(
                    "there is no value {i}: the conflict has values 0 to {}",
                    n - 1
                ),
            )
            .into());
        }
        Resolution::Confirm => n - 1,
        Resolution::KeepSeparate => return Err(refuse_choice(conflict.kind, choice).into()),
    };
    let decision = format!(
        "{} {index}: {}",
        because.unwrap_or("chose value"),
        conflict.values[index].value
    );
    let review = review_of(tx, who, &conflict, decision);
    tx.edit(record, who, "review.resolve", |t| {
        let chosen = {
            let all = t
                .get_all(ROOT, field)
                .map_err(|e| WriteError::document(field, e))?;
            let (v, op) = all.get(index).ok_or_else(|| not_open(&review.conflict))?;
            value::tree(t, v, op).map_err(|e| WriteError::document(field, e))?
        };
        value::put_tree(t, &ROOT, field, &chosen).map_err(|e| WriteError::document(field, e))?;
        put_review(t, &review)
    })?;
    Ok(Saved::new(review))
}

fn keep_separate(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    a: RecordId,
    b: RecordId,
    choice: Resolution,
) -> Result<Saved<ReviewRecord>, WriteError> {
    if choice != Resolution::KeepSeparate {
        return Err(refuse_choice(ConflictKind::DuplicatePatient, choice).into());
    }
    let pa: Patient = tx.read(a)?;
    let pb: Patient = tx.read(b)?;
    let id = Target::Pair { a, b }.id();
    let conflict = duplicate_conflict(&pa, &pb).ok_or_else(|| not_open(&id))?;
    let review = review_of(tx, who, &conflict, "kept separate: different people".into());
    for record in [a, b] {
        tx.edit(record, who, "review.keep_separate", |t| {
            put_review(t, &review)
        })?;
    }
    Ok(Saved::new(review))
}

/// The dispense records of a prescription in state dispensed, as of this commit.
fn dispenses_of(
    tx: &mut Tx<'_, '_>,
    rx: RecordId,
    patient: RecordId,
) -> Result<Vec<DispenseFact>, WriteError> {
    let mut out = Vec::new();
    for id in tx.ids_for_patient(patient)? {
        let Some(doc) = tx.doc(id)? else { continue };
        if let Some((of, fact)) = dispense_fact(doc)
            && of == rx
        {
            out.push(fact);
        }
    }
    Ok(out)
}

fn confirm_status(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    kind: ConflictKind,
    record: RecordId,
    choice: Resolution,
) -> Result<Saved<ReviewRecord>, WriteError> {
    if choice != Resolution::Confirm {
        return Err(refuse_choice(kind, choice).into());
    }
    let id = Target::Status { kind, record }.id();
    let dispenses = if kind.record_kind() == Some(RecordKind::Prescription) {
        let rx: Prescription = tx.read(record)?;
        dispenses_of(tx, record, rx.patient)?
    } else {
        Vec::new()
    };
    let doc = tx.doc(record)?.ok_or_else(|| not_open(&id))?;
    let header =
        Header::of(doc).map_err(|e| ReadError::corrupt(record, RecordDamage::Header(e)))?;
    let found = match header.kind {
        RecordKind::Prescription => prescription_conflicts(doc, &header, &dispenses),
        RecordKind::Charge => charge_conflicts(doc, &header),
        _ => Vec::new(),
    };
    let conflict = found
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| not_open(&id))?;
    if let Some(done) = reviews_in(doc).get(&id)
        && done.evidence == conflict.fingerprint
    {
        return Err(RuleError::invalid(
            "conflict",
            format!(
                "{id} was already confirmed by {} on {}",
                done.operator, done.node
            ),
        )
        .into());
    }
    let review = review_of(tx, who, &conflict, "confirmed after checking".into());
    tx.edit(record, who, "review.confirm", |t| put_review(t, &review))?;
    Ok(Saved::new(review))
}
