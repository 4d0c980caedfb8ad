//! What the unit tests of several modules share: a store on a manual clock in a temporary
//! directory, a registration clerk, a patient to register and the hospital's catalogs.

use std::sync::Arc;

use crate::clock::ManualClock;
use crate::desk::{CatalogImport, NewPatient, parse_departments, parse_drugs, parse_services};
use crate::id::{NodeName, OperatorName};
use crate::record::{InsuranceType, Sex};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::store::{RemoteChanges, Store, StoreOptions};

/// A store in a temporary directory with a manual clock at 2026-11-25 09:00 (UTC+8).
pub(crate) fn temp_store(node: &str, role: NodeRole) -> (tempfile::TempDir, Store, ManualClock) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(1_795_568_400_000);
    let mut opts = StoreOptions::new(NodeName::new(node).expect("valid node"), role);
    opts.clock = Arc::new(clock.clone());
    let store = Store::open(dir.path().join("store.redb"), opts).expect("open store");
    (dir, store, clock)
}

/// A registration clerk, `reg1`.
pub(crate) fn registrar() -> Operator {
    Operator::new(
        OperatorName::new("reg1").expect("valid"),
        DeskRole::Registration,
    )
}

/// A self-paying girl born 2018-01-02, without a national id.
pub(crate) fn new_patient(name: &str) -> NewPatient {
    NewPatient {
        patient_no: None,
        name: name.into(),
        sex: Sex::Female,
        birth_date: "2018-01-02".parse().expect("valid"),
        phone: "13900000000".into(),
        national_id: None,
        insurance: InsuranceType::SelfPay,
    }
}

/// The drug, service and department catalogs in `data/`.
pub(crate) fn catalogs() -> CatalogImport {
    CatalogImport {
        drugs: Some(parse_drugs(include_str!("../../data/drugs.csv")).expect("drugs")),
        services: Some(parse_services(include_str!("../../data/services.csv")).expect("services")),
        departments: Some(
            parse_departments(include_str!("../../data/departments.csv")).expect("departments"),
        ),
        doctors: None,
    }
}

/// Copies every record of `from` into `to` through the merge API, as replication would.
pub(crate) fn copy_all(from: &Store, to: &Store) {
    let items: Vec<_> = from
        .feed_since(0, usize::MAX)
        .expect("feed")
        .into_iter()
        .map(|(_, id)| RemoteChanges {
            id,
            bytes: from.doc(id).expect("doc").expect("present").save(),
        })
        .collect();
    let out = to
        .apply_remote(from.node(), items, |_, _| Ok(()))
        .expect("apply");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}
