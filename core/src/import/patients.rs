//! The HIS patient master: each HIS patient one Lifeline patient record, found again by its
//! HIS id; the HIS's merges (`merged_into`) and deletions followed. A patient both servers
//! pulled (split apart) is two records until a reviewer merges the pair; the HIS's changes
//! reach both meanwhile.

use super::{Change, ImportOutcome, PULL_ACTION, import_page, text_ok};
use crate::WriteError;
use crate::clock::{Date, UnixMs};
use crate::desk::set_field;
use crate::record::{Guardian, InsuranceType, Patient, RecordKind, Sex};
use crate::roles::Operator;
use crate::store::{Store, Tx};

/// A patient as the HIS master holds it, mapped to Lifeline's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HisPatient {
    pub his_id: String,
    /// The number the family knows the patient by (the card number, or the HIS id).
    pub patient_no: String,
    pub name: String,
    pub sex: Sex,
    pub birth_date: Date,
    pub phone: String,
    pub national_id: Option<String>,
    pub insurance: InsuranceType,
    pub guardian: Option<Guardian>,
    /// When the HIS created the patient.
    pub created_ms: UnixMs,
    /// Deleted in the HIS.
    pub deleted: bool,
    /// The HIS id of the patient this one was merged into.
    pub merged_into: Option<String>,
    /// The row's change mark in the HIS (its `updated_at` in microseconds, or a version), if
    /// it has one: kept on the record with the fields written from the row.
    pub changed: Option<i64>,
}

impl HisPatient {
    fn check(&self) -> Result<(), String> {
        text_ok("name", &self.name, true)?;
        text_ok("patient_no", &self.patient_no, true)?;
        text_ok("phone", &self.phone, false)?;
        if let Some(nid) = &self.national_id {
            text_ok("national_id", nid, true)?;
        }
        if let Some(g) = &self.guardian {
            text_ok("guardian.name", &g.name, true)?;
            for v in [&g.relationship, &g.phone, &g.national_id]
                .into_iter()
                .flatten()
            {
                text_ok("guardian", v, false)?;
            }
        }
        if self.merged_into.as_deref() == Some(self.his_id.as_str()) {
            return Err("merged into itself".into());
        }
        Ok(())
    }
}

impl Store {
    /// Upserts one page of the HIS patient master in one commit. Merges are resolved after
    /// the page's patients are in, so a survivor in the same page is found.
    pub fn import_his_patients(
        &self,
        who: &Operator,
        rows: Vec<HisPatient>,
    ) -> Result<ImportOutcome, WriteError> {
        import_page(self, who, vec![rows], import_patients)
    }
}

fn import_patients(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    rows: &Vec<HisPatient>,
    outcome: &mut ImportOutcome,
) -> Result<(), WriteError> {
    let mut taken = Vec::with_capacity(rows.len());
    for row in rows {
        match row.check() {
            Err(reason) => outcome.skip(&row.his_id, reason),
            Ok(()) => {
                let change = upsert(tx, who, row)?;
                taken.push((row, change));
            }
        }
    }
    for (row, change) in taken {
        match follow_merge(tx, who, row)? {
            Ok(merged) => {
                let change = match (change, merged) {
                    (Change::Unchanged, true) => Change::Updated,
                    (c, _) => c,
                };
                outcome.count(change);
            }
            Err(reason) => {
                outcome.count(change);
                outcome.skip(&row.his_id, reason);
            }
        }
    }
    Ok(())
}

/// The records of HIS patient `his_id` that the HIS's changes go to: the live ones (two when
/// both servers pulled the patient and no one has merged the pair yet, so that whichever the
/// reviewer keeps is current), or every one when all are merged.
fn current_records(tx: &mut Tx<'_, '_>, his_id: &str) -> Result<Vec<Patient>, WriteError> {
    let mut all = Vec::new();
    for id in tx.his_records(RecordKind::Patient, his_id)? {
        all.push(tx.read::<Patient>(id)?);
    }
    if all.iter().any(|p| p.merged_into.is_none()) {
        all.retain(|p| p.merged_into.is_none());
    }
    Ok(all)
}

/// Creates the patient, or brings its records' fields in line with the row.
fn upsert(tx: &mut Tx<'_, '_>, who: &Operator, row: &HisPatient) -> Result<Change, WriteError> {
    let national_id = row.national_id.as_ref().map(|s| s.to_ascii_uppercase());
    let current = current_records(tx, &row.his_id)?;
    if current.is_empty() {
        let patient = Patient {
            header: tx.his_header(RecordKind::Patient, row.created_ms, who),
            patient_no: row.patient_no.clone(),
            name: row.name.trim().to_owned(),
            sex: row.sex,
            birth_date: row.birth_date,
            phone: row.phone.clone(),
            national_id,
            insurance: row.insurance,
            merged_into: None,
            his_id: Some(row.his_id.clone()),
            guardian: row.guardian.clone(),
            his_deleted: row.deleted,
            his_changed: row.changed,
        };
        tx.create(&patient, who, PULL_ACTION)?;
        return Ok(Change::Created);
    }
    let mut change = Change::Unchanged;
    for p in &current {
        if update(tx, who, row, p, &national_id)? {
            change = Change::Updated;
        }
    }
    Ok(change)
}

/// Writes into `current` the fields of `row` it lacks, with the row's change mark. Returns
/// whether it wrote.
fn update(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    row: &HisPatient,
    current: &Patient,
    national_id: &Option<String>,
) -> Result<bool, WriteError> {
    let name = row.name.trim();
    let changed = current.patient_no != row.patient_no
        || current.name != name
        || current.sex != row.sex
        || current.birth_date != row.birth_date
        || current.phone != row.phone
        || current.national_id != *national_id
        || current.insurance != row.insurance
        || current.guardian != row.guardian
        || current.his_deleted != row.deleted;
    if !changed {
        return Ok(false);
    }
    tx.edit(current.header.id, who, PULL_ACTION, |t| {
        if current.patient_no != row.patient_no {
            set_field(t, "patient_no", &row.patient_no)?;
        }
        if current.name != name {
            set_field(t, "name", name)?;
        }
        if current.sex != row.sex {
            set_field(t, "sex", row.sex)?;
        }
        if current.birth_date != row.birth_date {
            set_field(t, "birth_date", row.birth_date)?;
        }
        if current.phone != row.phone {
            set_field(t, "phone", &row.phone)?;
        }
        if current.national_id != *national_id {
            set_field(t, "national_id", national_id)?;
        }
        if current.insurance != row.insurance {
            set_field(t, "insurance", row.insurance)?;
        }
        if current.guardian != row.guardian {
            set_field(t, "guardian", &row.guardian)?;
        }
        if current.his_deleted != row.deleted {
            set_field(t, "his_deleted", row.deleted)?;
        }
        // In the same change as the fields, always: which HIS state each value came from is
        // what settles two bridges' concurrent values (`review::his_later`).
        if row.changed.is_some() {
            set_field(t, "his_changed", row.changed)?;
        }
        Ok(())
    })?;
    Ok(true)
}

/// Points a patient the HIS merged into another at the survivor's record (as a reviewer's
/// merge does), each of its live records if both servers pulled it. Returns whether it
/// wrote, or why the merge cannot be followed.
fn follow_merge(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    row: &HisPatient,
) -> Result<Result<bool, String>, WriteError> {
    let Some(into) = &row.merged_into else {
        // A merge made in Lifeline (a reviewer's) is kept when the HIS says nothing.
        return Ok(Ok(false));
    };
    let current = current_records(tx, &row.his_id)?;
    if current.is_empty() {
        return Ok(Ok(false));
    }
    let Some(target) = tx.find_his(RecordKind::Patient, into)? else {
        return Ok(Err(format!(
            "merged into HIS patient {into}, which is not in Lifeline (yet)"
        )));
    };
    let mut wrote = false;
    for p in current {
        if p.merged_into == Some(target) {
            continue;
        }
        tx.edit(p.header.id, who, PULL_ACTION, |t| {
            set_field(t, "merged_into", Some(target))
        })?;
        wrote = true;
    }
    Ok(Ok(wrote))
}

impl Store {
    /// Gives patients written during an episode, which the HIS has since taken from its
    /// interface table, the HIS id the HIS gave them, so that the next pull of that HIS
    /// patient updates this record instead of making another. A patient that already has an
    /// HIS id keeps it. Returns how many were linked.
    pub fn link_his_patients(
        &self,
        who: &Operator,
        links: Vec<(crate::id::RecordId, String)>,
    ) -> Result<usize, WriteError> {
        super::check_bridge(self, who)?;
        let who = who.clone();
        self.write(move |tx| {
            let mut linked = 0;
            for (id, his_id) in &links {
                if tx.doc(*id)?.is_none() || tx.find_his(RecordKind::Patient, his_id)?.is_some() {
                    continue;
                }
                let p: Patient = tx.read(*id)?;
                if p.his_id.is_some() {
                    continue;
                }
                tx.edit(*id, &who, PULL_ACTION, |t| {
                    set_field(t, "his_id", Some(his_id))
                })?;
                linked += 1;
            }
            Ok(linked)
        })
    }
}
