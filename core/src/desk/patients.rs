//! Registration desk: the patient master, with a child's guardian.
//!
//! A children's hospital registers most of its patients as children: an infant often has no
//! identity number yet, so the guardian (name, relationship, phone, identity number) is
//! recorded with the child, and the child is found by the guardian's phone and the birth
//! date. A patient under 18 registered with neither an identity number nor a guardian is
//! saved with a warning: nothing but the name would find them again.

use serde::Deserialize;

use super::{Saved, Warning, permit, set_field};
use crate::WriteError;
use crate::clock::{Age, Date};
use crate::id::RecordId;
use crate::record::{Guardian, InsuranceType, Patient, RecordKind, Sex};
use crate::roles::Operator;
use crate::rules::{RuleError, check_national_id, check_phone, check_text};
use crate::store::{Counter, PatientQuery, Store, Tx};

/// A new patient, as entered at the registration desk.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    /// The HIS patient number, when the patient already has one; otherwise the node
    /// assigns `<node>-<n>`, unique without coordination.
    #[serde(default)]
    pub patient_no: Option<String>,
    pub name: String,
    pub sex: Sex,
    pub birth_date: Date,
    pub phone: String,
    #[serde(default)]
    pub national_id: Option<String>,
    pub insurance: InsuranceType,
    /// The parent or guardian registering the child.
    #[serde(default)]
    pub guardian: Option<Guardian>,
}

/// Demographic corrections; absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientEdit {
    pub name: Option<String>,
    pub sex: Option<Sex>,
    pub birth_date: Option<Date>,
    pub phone: Option<String>,
    pub national_id: Option<String>,
    pub insurance: Option<InsuranceType>,
    /// Sets (or replaces) the guardian.
    pub guardian: Option<Guardian>,
}

/// Checks a guardian as entered at the desk.
fn check_guardian(g: &Guardian) -> Result<(), RuleError> {
    check_text("guardian.name", &g.name, true)?;
    if let Some(r) = &g.relationship {
        check_text("guardian.relationship", r, false)?;
    }
    if let Some(phone) = &g.phone {
        check_phone(phone).map_err(|e| rename(e, "guardian.phone"))?;
    }
    if let Some(nid) = &g.national_id {
        check_national_id(nid).map_err(|e| rename(e, "guardian.national_id"))?;
    }
    Ok(())
}

/// The same refusal, naming the guardian's field.
fn rename(e: RuleError, field: &str) -> RuleError {
    match e {
        RuleError::Invalid { reason, .. } => RuleError::invalid(field, reason),
        other => other,
    }
}

/// Whole years of age under which a patient is a child (needs a guardian to be found without
/// an identity number).
pub const ADULT_AGE_YEARS: u32 = 18;

fn check_birth_date(tx: &Tx<'_, '_>, date: Date) -> Result<(), RuleError> {
    let today = Date::at(tx.now_ms(), tx.opts().utc_offset_min);
    if date > today {
        return Err(RuleError::invalid(
            "birth_date",
            format!("{date} is in the future"),
        ));
    }
    Ok(())
}

impl Store {
    /// A patient's age today (hospital time), as every desk shows it.
    pub fn age_today(&self, birth_date: Date) -> Option<Age> {
        Age::of(
            birth_date,
            Date::at(self.now_ms(), self.options().utc_offset_min),
        )
    }

    /// A patient's name and age today, for the lists the desks read. Reads the two fields
    /// alone: a queue shows hundreds of patients, and reading each whole (guardian and all)
    /// costs several times more.
    pub(crate) fn name_and_age(&self, id: RecordId) -> (Option<String>, Option<Age>) {
        use automerge::{ROOT, ReadDoc};
        let Some(doc) = self.doc(id).ok().flatten() else {
            return (None, None);
        };
        let kind: Option<RecordKind> = doc
            .get(ROOT, "header")
            .ok()
            .flatten()
            .and_then(|(_, header)| autosurgeon::hydrate_prop(&*doc, &header, "kind").ok());
        if kind != Some(RecordKind::Patient) {
            return (None, None);
        }
        let name: Option<String> = autosurgeon::hydrate_prop(&*doc, ROOT, "name").ok();
        let birth_date: Option<Date> = autosurgeon::hydrate_prop(&*doc, ROOT, "birth_date").ok();
        (name, birth_date.and_then(|b| self.age_today(b)))
    }

    pub fn create_patient(
        &self,
        who: &Operator,
        new: NewPatient,
    ) -> Result<Saved<Patient>, WriteError> {
        permit(who, RecordKind::Patient, "register patients")?;
        check_text("name", &new.name, true)?;
        check_phone(&new.phone)?;
        if let Some(nid) = &new.national_id {
            check_national_id(nid)?;
        }
        if let Some(g) = &new.guardian {
            check_guardian(g)?;
        }
        if let Some(no) = &new.patient_no {
            check_text("patient_no", no, true)?;
        }
        let who = who.clone();
        self.write(move |tx| {
            check_birth_date(tx, new.birth_date)?;
            // Checked inside the writer's transaction: two desks registering the same number
            // at once are one after the other here, and the second is refused.
            if let Some(no) = &new.patient_no
                && !tx
                    .find_patients(&PatientQuery::Number(no.clone()))?
                    .is_empty()
            {
                return Err(
                    RuleError::invalid("patient_no", format!("{no} is already taken")).into(),
                );
            }
            let today = Date::at(tx.now_ms(), tx.opts().utc_offset_min);
            let child = Age::of(new.birth_date, today).is_some_and(|a| a.years < ADULT_AGE_YEARS);
            let unfindable = child && new.national_id.is_none() && new.guardian.is_none();
            let header = tx.new_header(RecordKind::Patient, &who)?;
            let patient_no = match new.patient_no {
                Some(no) => no,
                None => {
                    let n = tx.next_counter(Counter::Patient)?;
                    format!("{}-{n:06}", tx.node())
                }
            };
            let patient = Patient {
                header,
                patient_no,
                name: new.name.trim().to_owned(),
                sex: new.sex,
                birth_date: new.birth_date,
                phone: new.phone,
                national_id: new.national_id.map(|s| s.to_ascii_uppercase()),
                insurance: new.insurance,
                merged_into: None,
                his_id: None,
                guardian: new.guardian.map(|g| Guardian {
                    name: g.name.trim().to_owned(),
                    national_id: g.national_id.map(|n| n.to_ascii_uppercase()),
                    ..g
                }),
                his_deleted: false,
                his_changed: None,
            };
            tx.create(&patient, &who, "patient.create")?;
            let mut saved = Saved::new(patient);
            if unfindable {
                saved.warnings.push(Warning::NoGuardian);
            }
            Ok(saved)
        })
    }

    /// Corrects a patient's demographics. Only the given fields are written, so concurrent
    /// edits of different fields on different nodes merge without conflict; concurrent edits
    /// of the same field are kept side by side for review.
    pub fn update_patient(
        &self,
        who: &Operator,
        id: RecordId,
        edit: PatientEdit,
    ) -> Result<Saved<Patient>, WriteError> {
        permit(who, RecordKind::Patient, "edit patients")?;
        if let Some(name) = &edit.name {
            check_text("name", name, true)?;
        }
        if let Some(phone) = &edit.phone {
            check_phone(phone)?;
        }
        if let Some(nid) = &edit.national_id {
            check_national_id(nid)?;
        }
        if let Some(g) = &edit.guardian {
            check_guardian(g)?;
        }
        let who = who.clone();
        self.write(move |tx| {
            let current: Patient = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Patient, id, current.his_id.as_ref())?;
            if let Some(into) = current.merged_into {
                return Err(RuleError::PatientMerged { id, into }.into());
            }
            if let Some(date) = edit.birth_date {
                check_birth_date(tx, date)?;
            }
            tx.edit(id, &who, "patient.update", |t| {
                if let Some(v) = &edit.name {
                    set_field(t, "name", v.trim())?;
                }
                if let Some(v) = &edit.sex {
                    set_field(t, "sex", v)?;
                }
                if let Some(v) = &edit.birth_date {
                    set_field(t, "birth_date", v)?;
                }
                if let Some(v) = &edit.phone {
                    set_field(t, "phone", v)?;
                }
                if let Some(v) = &edit.national_id {
                    set_field(t, "national_id", Some(v.to_ascii_uppercase()))?;
                }
                if let Some(v) = &edit.insurance {
                    set_field(t, "insurance", v)?;
                }
                if let Some(g) = &edit.guardian {
                    set_field(t, "guardian", Some(g))?;
                }
                Ok(())
            })?;
            Ok(Saved::new(tx.read(id)?))
        })
    }
}
