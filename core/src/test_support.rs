//! What the unit tests of several modules share: a store on a manual clock in a temporary
//! directory, a registration clerk, a patient to register and the hospital's catalogs.

use std::sync::Arc;

use crate::clock::ManualClock;
use crate::desk::{CatalogImport, NewPatient, parse_departments, parse_drugs, parse_services};
use crate::id::{NodeName, OperatorName};
use crate::record::{InsuranceType, Sex};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::store::{Credentials, Store, StoreOptions};

/// A store in a temporary directory with a manual clock at 2026-11-25 09:00 (UTC+8), signing
/// with a key of its own that no certificate proves (see [`copy_all`]).
pub(crate) fn temp_store(node: &str, role: NodeRole) -> (tempfile::TempDir, Store, ManualClock) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(1_795_568_400_000);
    let store = store_at(&dir.path().join("store.redb"), node, role, &clock);
    (dir, store, clock)
}

/// Opens (or creates) the store at `path` as [`temp_store`] does, on `clock`: how a test
/// opens a store again after a restore.
pub(crate) fn store_at(
    path: &std::path::Path,
    node: &str,
    role: NodeRole,
    clock: &ManualClock,
) -> Store {
    let name = NodeName::new(node).expect("valid node");
    let mut opts = StoreOptions::new(name.clone(), role);
    opts.clock = Arc::new(clock.clone());
    opts.credentials =
        Some(Credentials::uncertified(name, role, DeskRole::ALL).expect("a signing key"));
    Store::open(path, opts).expect("open store")
}

/// Two stores of one node opened apart with the same seeded [`crate::id::Ids`] and clock, and
/// given the same desk writes, hold the same records at the same heads: what a simulation
/// replaying a seed with store-backed nodes needs.
#[test]
fn a_seeded_store_replays_its_ids_actor_and_heads() {
    let run = || {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut opts = StoreOptions::new(NodeName::new("W01").expect("valid"), NodeRole::Window);
        opts.clock = Arc::new(ManualClock::new(1_795_568_400_000));
        opts.ids = crate::id::Ids::seeded(42);
        let store = Store::open(dir.path().join("store.redb"), opts).expect("open store");
        let saved: Vec<_> = ["甲", "乙"]
            .into_iter()
            .map(|name| {
                store
                    .create_patient(&registrar(), new_patient(name))
                    .expect("saved")
                    .value
                    .header
                    .id
            })
            .collect();
        let heads = store.heads_of(&saved).expect("read");
        (saved, heads, store.shared.actor.clone())
    };
    let (first, second) = (run(), run());
    assert_eq!(first.0, second.0, "record ids");
    assert_eq!(first.2, second.2, "the actor");
    assert_eq!(
        first.1, second.1,
        "the heads: the same changes, byte for byte"
    );
}

/// Records with their heads, as a peer acknowledges them.
pub(crate) type Acked = Vec<(crate::id::RecordId, Vec<automerge::ChangeHash>)>;

/// A central store (see [`temp_store`]) holding `n` new patients, each with its heads.
pub(crate) fn central_with_patients(n: usize) -> (tempfile::TempDir, Store, Acked) {
    let (dir, store, _) = temp_store("central", NodeRole::Central);
    let ids: Vec<_> = (0..n)
        .map(|i| {
            let saved = store
                .create_patient(&registrar(), new_patient(&format!("p{i}")))
                .expect("create");
            saved.value.header.id
        })
        .collect();
    let heads = store.heads_of(&ids).expect("heads");
    (dir, store, ids.into_iter().zip(heads).collect())
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
        guardian: None,
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

/// Copies every record of `from` into `to` through the merge API, with their signatures, as
/// replication would ([`Store::merge_from`]); `to` then holds everything `from` held, as a
/// session that caught up notes.
pub(crate) fn copy_all(from: &Store, to: &Store) {
    let out = to.merge_from(from).expect("apply");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    to.note_caught_up(from.node()).expect("note the catch-up");
}

/// The invoice code the tests' cashiers hold stock of.
pub(crate) const INVOICE_CODE: &str = "144031900111";

/// Gives `cashier` at `window` an invoice range of `size` numbers (leased by a central of its
/// own, from 1) and starts the cashier's shift on it; returns the first number.
pub(crate) fn cashier_on_shift(window: &Store, cashier: &Operator, size: u64) -> u64 {
    use crate::desk::{LeaseOrder, ShiftStart};
    use crate::numbers::Series;
    let (_dir, central, _) = temp_store("central", NodeRole::Central);
    let admin = Operator::new(OperatorName::new("info1").expect("valid"), DeskRole::Admin);
    let range = central
        .lease_range_for(
            &admin,
            LeaseOrder {
                series: Series::Invoice,
                holder: window.node().clone(),
                size,
                operator: Some(cashier.name.clone()),
                code: None,
                start: None,
            },
        )
        .expect("lease")
        .value;
    window.accept_lease(&admin, range.clone()).expect("accept");
    window
        .start_shift(
            cashier,
            ShiftStart {
                code: INVOICE_CODE.into(),
                first_number: range.start,
            },
        )
        .expect("start the shift");
    range.start
}

/// An ordinary registration of `patient` with general paediatrics (the tests' catalog).
pub(crate) fn paediatrics(patient: crate::id::RecordId) -> crate::desk::NewVisit {
    crate::desk::NewVisit {
        patient,
        department: "PED-GEN".into(),
        doctor: None,
        expert: false,
        payment: None,
        occurred_at: None,
    }
}
