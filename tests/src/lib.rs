//! Shared helpers for the scenario tests in `tests/`: stores in temporary directories with a
//! fixed clock, the operators at each desk, the reference catalogs, and copying records
//! between stores through the merge API with their signatures, the way replication would.
//!
//! Helpers panic with a message naming what failed: they are only used by tests.

pub mod damage;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use lifeline_core::automerge::{Automerge, ChangeHash, ReadDoc};
use lifeline_core::desk::{
    CatalogImport, LeaseOrder, NewPatient, NewVisit, ShiftStart, parse_departments, parse_drugs,
    parse_services,
};
use lifeline_core::numbers::{NumberError, NumberRange, Series};
use lifeline_core::record::{InsuranceType, Patient, Sex, Visit};
use lifeline_core::store::{ApplyOutcome, Credentials, RemoteChanges};
use lifeline_core::trust::Member;
use lifeline_core::{
    Date, DeskRole, ManualClock, NodeName, NodeRole, Operator, OperatorName, RecordId, RuleError,
    Store, StoreOptions, WriteError,
};

/// 2026-11-25 09:00 in the hospital (UTC+8): a Wednesday morning.
pub const TEST_NOW_MS: i64 = 1_795_568_400_000;

pub fn node(name: &str) -> NodeName {
    NodeName::new(name).expect("a valid node name")
}

pub fn op(name: &str, desk: DeskRole) -> Operator {
    Operator::new(
        OperatorName::new(name).expect("a valid operator name"),
        desk,
    )
}

pub fn admin() -> Operator {
    op("info1", DeskRole::Admin)
}

pub fn registration() -> Operator {
    op("reg1", DeskRole::Registration)
}

pub fn triage() -> Operator {
    op("nurse1", DeskRole::Triage)
}

pub fn cashier() -> Operator {
    op("cash1", DeskRole::Cashier)
}

/// The options a node's store is opened with in tests: the given node and role, defaults
/// otherwise.
pub fn options(node_name: &str, role: NodeRole) -> StoreOptions {
    StoreOptions::new(node(node_name), role)
}

/// A store in its own temporary directory, with a manual clock at [`TEST_NOW_MS`], signing its
/// changes with a key of its own that no certificate proves (stores admit each other's
/// members directly: see [`sync`]). Keep the directory alive as long as the store.
pub fn temp_store(node_name: &str, role: NodeRole) -> (tempfile::TempDir, Store, ManualClock) {
    temp_store_with(node_name, role, |_| {})
}

/// [`temp_store`] with options changed by `adjust` (a small cache, early compaction).
pub fn temp_store_with(
    node_name: &str,
    role: NodeRole,
    adjust: impl FnOnce(&mut StoreOptions),
) -> (tempfile::TempDir, Store, ManualClock) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let clock = ManualClock::new(TEST_NOW_MS);
    let mut opts = options(node_name, role);
    opts.clock = Arc::new(clock.clone());
    opts.credentials = Some(
        Credentials::uncertified(node(node_name), role, DeskRole::ALL).expect("a signing key"),
    );
    adjust(&mut opts);
    let store = Store::open(dir.path().join("store.redb"), opts).expect("a new store opens");
    (dir, store, clock)
}

/// The reference catalogs shipped in `data/`.
pub fn catalogs() -> CatalogImport {
    CatalogImport {
        drugs: Some(parse_drugs(include_str!("../../data/drugs.csv")).expect("drugs.csv parses")),
        services: Some(
            parse_services(include_str!("../../data/services.csv")).expect("services.csv parses"),
        ),
        departments: Some(
            parse_departments(include_str!("../../data/departments.csv"))
                .expect("departments.csv parses"),
        ),
        doctors: None,
    }
}

/// The catalogs as central publishes them: the documents, their signatures, and central's
/// roster entry that checks them.
#[derive(Debug)]
pub struct Published {
    pub docs: Vec<RemoteChanges>,
    pub signatures: Vec<Vec<u8>>,
    pub central: Member,
}

/// The catalog documents as central publishes them, imported once per test process.
pub fn catalog_docs() -> &'static Published {
    static DOCS: OnceLock<Published> = OnceLock::new();
    DOCS.get_or_init(|| {
        let (_dir, central, _) = temp_store("central", NodeRole::Central);
        central
            .import_catalog(&admin(), catalogs())
            .expect("central imports the catalogs");
        let export = central
            .export(&record_ids(&central))
            .expect("central exports its catalogs");
        Published {
            docs: export.changes,
            signatures: export.signatures,
            central: central.member().expect("central signs"),
        }
    })
}

/// Gives `store` central's catalogs, as replication would (central's roster entry first).
pub fn receive_catalogs(store: &Store) -> ApplyOutcome {
    let published = catalog_docs();
    store
        .admit_member(published.central.clone())
        .expect("central's entry is admitted");
    store
        .apply_remote(
            &node("central"),
            published.docs.clone(),
            published.signatures.clone(),
        )
        .expect("the catalogs apply")
}

/// A window store holding the catalogs, received from central as replication would.
pub fn window_with_catalogs(node_name: &str) -> (tempfile::TempDir, Store, ManualClock) {
    window_with_catalogs_and(node_name, |_| {})
}

/// [`window_with_catalogs`] with options changed by `adjust`.
pub fn window_with_catalogs_and(
    node_name: &str,
    adjust: impl FnOnce(&mut StoreOptions),
) -> (tempfile::TempDir, Store, ManualClock) {
    let (dir, store, clock) = temp_store_with(node_name, NodeRole::Window, adjust);
    let out = receive_catalogs(&store);
    assert!(
        out.rejected.is_empty() && out.missing_deps.is_empty(),
        "{out:?}"
    );
    (dir, store, clock)
}

pub fn new_patient(name: &str) -> NewPatient {
    NewPatient {
        patient_no: None,
        name: name.into(),
        sex: Sex::Female,
        birth_date: Date::new(2019, 5, 4).expect("a valid date"),
        phone: "13800138000".into(),
        national_id: None,
        insurance: InsuranceType::Resident,
        guardian: None,
    }
}

/// A patient registered for a general paediatrics visit, on `store`.
pub fn registered(store: &Store, name: &str) -> (Patient, Visit) {
    let patient = store
        .create_patient(&registration(), new_patient(name))
        .expect("the patient is created")
        .value;
    let visit = store
        .register_visit(
            &registration(),
            NewVisit {
                patient: patient.header.id,
                department: "PED-GEN".into(),
                doctor: None,
                expert: false,
                payment: None,
                occurred_at: None,
            },
        )
        .expect("the visit is registered")
        .value;
    (patient, visit)
}

/// Every record a store holds, from its change feed.
pub fn record_ids(store: &Store) -> Vec<RecordId> {
    let mut ids: Vec<RecordId> = store
        .feed_since(0, usize::MAX)
        .expect("the feed reads")
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    ids.sort();
    ids
}

/// How a record's changes travel from one store to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// The whole document, as `save()` writes it.
    FullSave,
    /// Only the changes the receiver does not have yet, judged from its heads.
    ChangesSince,
}

/// What `from` would send `to` for one record, or `None` when `to` has nothing to learn.
pub fn changes_for(
    from: &Store,
    to: &Store,
    id: RecordId,
    transfer: Transfer,
) -> Option<RemoteChanges> {
    let doc = from
        .doc(id)
        .expect("the sender reads the record")
        .expect("the sender holds the record");
    let theirs = to.doc(id).expect("the receiver reads the record");
    let bytes = match (&theirs, transfer) {
        (Some(theirs), _) if knows_all(theirs, &doc.get_heads()) => return None,
        (Some(theirs), Transfer::ChangesSince) => {
            // Heads the sender does not know would make `save_after` guess; the heads it
            // knows mark a point the receiver is at or past, so sending everything after
            // them never leaves a gap.
            let common: Vec<ChangeHash> = theirs
                .get_heads()
                .into_iter()
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .collect();
            doc.save_after(&common)
        }
        _ => doc.save(),
    };
    Some(RemoteChanges { id, bytes })
}

fn knows_all(doc: &Automerge, heads: &[ChangeHash]) -> bool {
    heads.iter().all(|h| doc.get_change_by_hash(h).is_some())
}

/// Sends `to` every record of `from` it lacks or is behind on, in one batch, and checks that
/// nothing was refused or left waiting for dependencies.
pub fn sync(from: &Store, to: &Store, transfer: Transfer) -> ApplyOutcome {
    let items: Vec<RemoteChanges> = record_ids(from)
        .into_iter()
        .filter_map(|id| changes_for(from, to, id, transfer))
        .collect();
    if items.is_empty() {
        return ApplyOutcome::default();
    }
    for member in from.roster().members() {
        to.admit_member(member.clone())
            .expect("the sender's roster is admitted");
    }
    let signatures = from
        .export(&record_ids(from))
        .expect("the sender's signatures read")
        .signatures;
    let out = to
        .apply_remote(from.node(), items, signatures)
        .expect("the receiver applies the changes");
    assert!(
        out.rejected.is_empty(),
        "{} refused changes from {}: {:?}",
        to.node(),
        from.node(),
        out.rejected
    );
    assert!(
        out.missing_deps.is_empty(),
        "{} was sent changes from {} without their dependencies: {:?}",
        to.node(),
        from.node(),
        out.missing_deps
    );
    out
}

/// Copies every record of `from` into `to` as whole documents.
pub fn copy_all(from: &Store, to: &Store) -> ApplyOutcome {
    sync(from, to, Transfer::FullSave)
}

/// The size of a file, for messages.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The invoice code of the tests' paper stock.
pub const INVOICE_CODE: &str = "144031900111";

/// Leases `size` invoice numbers from `central` to `window`, preset for [`cashier`], and
/// takes them into the window's ledger (as the lease record would bring them).
pub fn lease_for_cashier(central: &Store, window: &Store, size: u64) -> NumberRange {
    let range = central
        .lease_range_for(
            &admin(),
            LeaseOrder {
                series: Series::Invoice,
                holder: window.node().clone(),
                size,
                operator: Some(cashier().name),
                code: None,
                start: None,
            },
        )
        .expect("central leases a range for the cashier")
        .value;
    window
        .accept_lease(&admin(), range.clone())
        .expect("the window accepts the range");
    range
}

/// What a cashier does with the next stock of invoices in hand: starts the shift on it,
/// confirming the code and its first number. False when the cashier has no range left.
pub fn confirm_next_stock(window: &Store) -> bool {
    let Some(next) = window
        .cashier_range(&cashier())
        .expect("the cashier's range")
    else {
        return false;
    };
    window
        .start_shift(
            &cashier(),
            ShiftStart {
                code: INVOICE_CODE.into(),
                first_number: next.next,
            },
        )
        .expect("the shift starts on the stock in hand");
    true
}

/// Whether a write was refused because the cashier has not confirmed the stock in hand.
pub fn needs_shift(err: &WriteError) -> bool {
    matches!(
        err,
        WriteError::Rule(RuleError::Number(
            NumberError::ShiftNotConfirmed { .. } | NumberError::NoCashierRange { .. }
        ))
    )
}
