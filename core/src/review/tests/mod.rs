//! Review tests: real concurrent edits made on two or three stores and merged through the
//! replication API, the conflicts they leave, the decisions that settle them on every node,
//! and the recovery worklist draining to zero through the normal desk operations.

use std::collections::BTreeSet;

use automerge::{ROOT, ReadDoc};

use super::reviews::reviews_in;
use super::target::Target;
use super::*;
use crate::WriteError;
use crate::clock::{Date, ManualClock};
use crate::desk::{
    LeaveScope, NewCharge, NewChargeLine, NewPatient, NewPrescription, NewPrescriptionItem,
    Opening, PatientEdit, Settlement,
};
use crate::id::OperatorName;
use crate::id::RecordId;
use crate::numbers::Series;
use crate::record::{
    CatalogKind, InsuranceType, PaymentMethod, Prescription, Sex, Visit, catalog_id,
};
use crate::record::{Patient, RecordKind};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::status::{PrescriptionStatus, VisitStatus};
use crate::store::Store;
use crate::test_support::{cashier_on_shift, catalogs, copy_all, temp_store};

mod duplicates;
mod fields;
mod status_log;
mod worklist;

const NID: &str = "11010519491231002X";

fn op(name: &str, desk: DeskRole) -> Operator {
    Operator::new(OperatorName::new(name).expect("valid"), desk)
}

fn admin() -> Operator {
    op("info1", DeskRole::Admin)
}

fn sync(a: &Store, b: &Store) {
    copy_all(a, b);
    copy_all(b, a);
}

/// Central with the catalogs and two windows that have them.
struct Hospital {
    _dirs: Vec<tempfile::TempDir>,
    central: Store,
    w1: Store,
    w2: Store,
    clocks: Vec<ManualClock>,
}

fn hospital() -> Hospital {
    let (dc, central, cc) = temp_store("central", NodeRole::Central);
    central
        .import_catalog(&admin(), catalogs())
        .expect("import");
    let (d1, w1, c1) = temp_store("W01", NodeRole::Window);
    let (d2, w2, c2) = temp_store("W02", NodeRole::Window);
    copy_all(&central, &w1);
    copy_all(&central, &w2);
    Hospital {
        _dirs: vec![dc, d1, d2],
        central,
        w1,
        w2,
        clocks: vec![cc, c1, c2],
    }
}

impl Hospital {
    fn advance_ms(&self, ms: i64) {
        for c in &self.clocks {
            c.advance_ms(ms);
        }
    }
}

fn new_patient(name: &str, phone: &str, nid: Option<&str>) -> NewPatient {
    NewPatient {
        patient_no: None,
        name: name.into(),
        sex: Sex::Female,
        birth_date: Date::new(2019, 5, 4).expect("valid"),
        phone: phone.into(),
        national_id: nid.map(Into::into),
        insurance: InsuranceType::Resident,
        guardian: None,
    }
}

fn patient(store: &Store, name: &str, phone: &str, nid: Option<&str>) -> RecordId {
    store
        .create_patient(
            &op("reg1", DeskRole::Registration),
            new_patient(name, phone, nid),
        )
        .expect("patient")
        .value
        .header
        .id
}

fn visit(store: &Store, patient: RecordId) -> Visit {
    store
        .register_visit(
            &op("reg1", DeskRole::Registration),
            crate::test_support::paediatrics(patient),
        )
        .expect("visit")
        .value
}

fn prescription(store: &Store, visit: RecordId) -> Prescription {
    store
        .create_prescription(
            &op("dr1", DeskRole::Doctor),
            NewPrescription {
                visit,
                items: vec![NewPrescriptionItem {
                    drug_code: "DRG-0001".into(),
                    quantity: 2,
                    dosage: "0.125g tid".into(),
                }],
                payment: None,
                occurred_at: None,
            },
        )
        .expect("prescription")
        .value
}

fn set_phone(store: &Store, who: &str, id: RecordId, phone: &str) {
    store
        .update_patient(
            &op(who, DeskRole::Registration),
            id,
            PatientEdit {
                phone: Some(phone.into()),
                ..PatientEdit::default()
            },
        )
        .expect("update");
}

fn rule(err: WriteError) -> RuleError {
    match err {
        WriteError::Rule(r) => r,
        other => panic!("expected a rule refusal, got {other:?}"),
    }
}

fn open(store: &Store) -> Vec<Conflict> {
    store
        .conflicts()
        .expect("conflicts")
        .into_iter()
        .filter(|c| c.status == ConflictStatus::Open)
        .collect()
}

fn by_id(store: &Store, id: &str) -> Conflict {
    store
        .conflicts()
        .expect("conflicts")
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no conflict {id} on {}", store.node()))
}
