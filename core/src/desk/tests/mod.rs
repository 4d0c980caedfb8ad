//! Unit tests for the desk operations and their refusals, on a real store in a temporary
//! directory with a manual clock.

use super::*;
use crate::WriteError;
use crate::clock::{Date, ManualClock};
use crate::id::{EpisodeId, NodeName, OperatorName};
use crate::money::Fen;
use crate::numbers::{NumberError, Series};
use crate::record::{CatalogKind, InsuranceType, Patient, PaymentMethod, Sex, Visit};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::status::{ChargeStatus, PrescriptionStatus, StatusError, VisitStatus};
use crate::store::Store;
use crate::test_support::{cashier_on_shift, catalogs, copy_all, paediatrics, temp_store};

mod catalogs;
mod emergency;
mod episodes;
mod leases;
mod money;
mod numbers;
mod registration;
mod returning;

fn op(name: &str, desk: DeskRole) -> Operator {
    Operator::new(OperatorName::new(name).expect("valid"), desk)
}

fn admin() -> Operator {
    op("info1", DeskRole::Admin)
}

fn node(n: &str) -> NodeName {
    NodeName::new(n).expect("valid")
}

/// A window store with the catalogs (copied from a central store, as replication would).
fn window() -> (tempfile::TempDir, Store, ManualClock) {
    window_named("W01")
}

/// Two windows cut off from each other, each in an episode of its own; W01's opened a minute
/// earlier (by W02's clock).
struct TwoEpisodes {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    a: Store,
    clock_a: ManualClock,
    b: Store,
    clock_b: ManualClock,
    first: EpisodeId,
    second: EpisodeId,
}

fn two_windows_in_episodes_of_their_own() -> TwoEpisodes {
    let (d1, a, clock_a) = window();
    let (d2, b, clock_b) = temp_store("W02", NodeRole::Window);
    copy_all(&a, &b);
    let system = admin();
    let first = a
        .open_episode(&system, "central unreachable", Opening::Automatic)
        .expect("open")
        .value;
    clock_b.advance_ms(60_000);
    let second = b
        .open_episode(&system, "central unreachable", Opening::Automatic)
        .expect("open")
        .value;
    TwoEpisodes {
        _dirs: (d1, d2),
        a,
        clock_a,
        b,
        clock_b,
        first,
        second,
    }
}

/// A window of that name with the catalogs.
fn window_named(name: &str) -> (tempfile::TempDir, Store, ManualClock) {
    let (dir, store, clock) = temp_store(name, NodeRole::Window);
    let (_cdir, central, _) = temp_store("central", NodeRole::Central);
    central
        .import_catalog(&admin(), catalogs())
        .expect("import");
    copy_all(&central, &store);
    (dir, store, clock)
}

fn new_patient(name: &str) -> NewPatient {
    NewPatient {
        patient_no: None,
        name: name.into(),
        sex: Sex::Female,
        birth_date: Date::new(2019, 5, 4).expect("valid"),
        phone: "13800138000".into(),
        national_id: None,
        insurance: InsuranceType::Resident,
        guardian: None,
    }
}

fn registered(store: &Store) -> (Patient, Visit) {
    let reg = op("reg1", DeskRole::Registration);
    let p = store
        .create_patient(&reg, new_patient("王小明"))
        .expect("patient")
        .value;
    let v = store
        .register_visit(&reg, paediatrics(p.header.id))
        .expect("visit")
        .value;
    (p, v)
}

fn rule(err: WriteError) -> RuleError {
    match err {
        WriteError::Rule(r) => r,
        other => panic!("expected a rule refusal, got {other:?}"),
    }
}

fn lease(store: &Store, series: Series, size: u64) {
    let (_d, central, _) = temp_store("central", NodeRole::Central);
    let range = central
        .lease_range(&admin(), series, store.node().clone(), size)
        .expect("lease")
        .value;
    store.accept_lease(&admin(), range).expect("accept");
}

/// A doctor's prescription of `quantity` DRG-0001 for a visit.
fn prescribe(
    store: &Store,
    visit: crate::id::RecordId,
    quantity: u32,
) -> crate::record::Prescription {
    store
        .create_prescription(
            &op("dr1", DeskRole::Doctor),
            NewPrescription {
                visit,
                items: vec![NewPrescriptionItem {
                    drug_code: "DRG-0001".into(),
                    quantity,
                    dosage: "0.125g tid".into(),
                }],
                payment: None,
                occurred_at: None,
            },
        )
        .expect("prescription")
        .value
}

fn clock_now(clock: &ManualClock) -> i64 {
    crate::clock::Clock::now_ms(clock)
}
