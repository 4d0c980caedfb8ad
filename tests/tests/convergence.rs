//! Property tests for replication between windows: three window stores share patients and
//! visits, desks on each edit and move them concurrently (the rules may refuse a move, which
//! is fine), and the stores exchange changes in random orders, as whole documents or as the
//! changes since the receiver's heads.
//!
//! - After a full exchange every window holds the same documents (same heads), reads the same
//!   records, finds patients by their current names only, and shows the same triage queue.
//! - A visit's status, as any window shows it, never moves backwards, through any sequence of
//!   moves and merges; after the exchange it is the furthest state any window reached.
//!
//! Failing cases are saved in `tests/proptest-regressions/convergence.txt` and replayed first.

use std::num::NonZeroUsize;

use lifeline_core::desk::{NewVisit, PatientEdit};
use lifeline_core::numbers::Series;
use lifeline_core::record::{InsuranceType, Patient, Sex, Visit};
use lifeline_core::status::VisitStatus;
use lifeline_core::store::PatientQuery;
use lifeline_core::{Date, EpisodeId, NodeRole, RecordId, Store, WriteError};
use lifeline_tests::{
    Transfer, admin, copy_all, new_patient, node, record_ids, registered, registration, sync,
    temp_store, triage, window_with_catalogs, window_with_catalogs_and,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const WINDOWS: [&str; 3] = ["W01", "W02", "W03"];
const PATIENTS: usize = 2;
/// Visits shared by the windows; the last one was registered in an emergency episode.
const VISITS: usize = 3;
/// Full exchange rounds after which the windows must have nothing left to tell each other.
const MAX_EXCHANGE_ROUNDS: usize = 4;

const NAMES: [&str; 4] = ["王小明", "王晓明", "Wang Xiaoming", "李 四"];
const FIRST_NAMES: [&str; PATIENTS] = ["张三", "赵六"];
const PHONES: [&str; 3] = ["13800138000", "+86-139-0000-0001", "010-62345678"];
const SEXES: [Sex; 3] = [Sex::Female, Sex::Male, Sex::Unknown];
const INSURANCES: [InsuranceType; 3] = [
    InsuranceType::SelfPay,
    InsuranceType::Employee,
    InsuranceType::Resident,
];
const BIRTH_DATES: [(i32, u8, u8); 3] = [(2019, 5, 4), (2020, 2, 29), (2015, 12, 31)];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 256,
        // Relative to the package directory, where `cargo test` runs integration tests.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/convergence.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// One demographic correction, as an index into the value lists above.
#[derive(Debug, Clone, Copy)]
enum Field {
    Name(usize),
    Phone(usize),
    Sex(usize),
    Insurance(usize),
    BirthDate(usize),
}

impl Field {
    fn edit(self) -> PatientEdit {
        let mut edit = PatientEdit::default();
        match self {
            Field::Name(i) => edit.name = Some(NAMES[i].into()),
            Field::Phone(i) => edit.phone = Some(PHONES[i].into()),
            Field::Sex(i) => edit.sex = Some(SEXES[i]),
            Field::Insurance(i) => edit.insurance = Some(INSURANCES[i]),
            Field::BirthDate(i) => {
                let (y, m, d) = BIRTH_DATES[i];
                edit.birth_date = Some(Date::new(y, m, d).expect("a valid date"));
            }
        }
        edit
    }

    /// Whether the patient, as saved, carries this correction.
    fn holds(self, p: &Patient) -> bool {
        match self {
            Field::Name(i) => p.name == NAMES[i],
            Field::Phone(i) => p.phone == PHONES[i],
            Field::Sex(i) => p.sex == SEXES[i],
            Field::Insurance(i) => p.insurance == INSURANCES[i],
            Field::BirthDate(i) => {
                let (y, m, d) = BIRTH_DATES[i];
                Some(p.birth_date) == Date::new(y, m, d)
            }
        }
    }
}

/// A triage move.
#[derive(Debug, Clone, Copy)]
enum Move {
    Call,
    Resume,
    See,
    Cancel,
}

impl Move {
    fn target(self) -> VisitStatus {
        match self {
            Move::Call => VisitStatus::Called,
            Move::Resume => VisitStatus::Queued,
            Move::See => VisitStatus::Seen,
            Move::Cancel => VisitStatus::Cancelled,
        }
    }
}

/// One step on one window, or one window sending its changes to another.
#[derive(Debug, Clone, Copy)]
enum Op {
    Edit {
        at: usize,
        patient: usize,
        field: Field,
    },
    Move {
        at: usize,
        visit: usize,
        to: Move,
    },
    Sync {
        from: usize,
        to: usize,
        transfer: Transfer,
    },
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        (0..NAMES.len()).prop_map(Field::Name),
        (0..PHONES.len()).prop_map(Field::Phone),
        (0..SEXES.len()).prop_map(Field::Sex),
        (0..INSURANCES.len()).prop_map(Field::Insurance),
        (0..BIRTH_DATES.len()).prop_map(Field::BirthDate),
    ]
}

fn a_move() -> impl Strategy<Value = Move> {
    prop_oneof![
        Just(Move::Call),
        Just(Move::Resume),
        Just(Move::See),
        Just(Move::Cancel),
    ]
}

fn transfer() -> impl Strategy<Value = Transfer> {
    prop_oneof![Just(Transfer::FullSave), Just(Transfer::ChangesSince)]
}

fn sync_op() -> impl Strategy<Value = Op> {
    (0..WINDOWS.len(), 1..WINDOWS.len(), transfer()).prop_map(|(from, step, transfer)| Op::Sync {
        from,
        to: (from + step) % WINDOWS.len(),
        transfer,
    })
}

fn move_op() -> impl Strategy<Value = Op> {
    (0..WINDOWS.len(), 0..VISITS, a_move()).prop_map(|(at, visit, to)| Op::Move { at, visit, to })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..WINDOWS.len(), 0..PATIENTS, field())
            .prop_map(|(at, patient, field)| Op::Edit { at, patient, field }),
        4 => move_op(),
        2 => sync_op(),
    ]
}

/// Every ordered pair of windows once, in a random order, each with a random transfer.
fn exchange_order() -> impl Strategy<Value = Vec<(usize, usize, Transfer)>> {
    let pairs: Vec<(usize, usize)> = (0..WINDOWS.len())
        .flat_map(|a| (0..WINDOWS.len()).map(move |b| (a, b)))
        .filter(|(a, b)| a != b)
        .collect();
    let n = pairs.len();
    (
        Just(pairs).prop_shuffle(),
        proptest::collection::vec(transfer(), n),
    )
        .prop_map(|(pairs, transfers)| {
            pairs
                .into_iter()
                .zip(transfers)
                .map(|((a, b), t)| (a, b, t))
                .collect()
        })
}

/// Three windows sharing patients and visits, and what each has shown of every visit.
struct Mesh {
    _dirs: Vec<tempfile::TempDir>,
    stores: Vec<Store>,
    patients: Vec<RecordId>,
    visits: Vec<RecordId>,
    /// The status each window last showed for each visit.
    last_seen: Vec<Vec<VisitStatus>>,
    /// The furthest status any window showed for each visit.
    furthest: Vec<VisitStatus>,
    steps: usize,
}

fn heads(store: &Store, id: RecordId) -> Vec<lifeline_core::automerge::ChangeHash> {
    store
        .doc(id)
        .expect("the record reads")
        .expect("the record is stored")
        .get_heads()
}

fn status(store: &Store, id: RecordId) -> VisitStatus {
    store
        .get::<Visit>(id)
        .expect("the visit reads")
        .expect("the visit is stored")
        .status_log
        .current::<VisitStatus>()
        .expect("the visit has a status")
}

impl Mesh {
    /// Patients and visits registered on W01 and copied to the other windows. W01 keeps the
    /// default options; W02 and W03 keep one or two documents in memory and compact every
    /// record after one or two chunks, so that reads go to the file and compaction runs.
    fn new() -> Mesh {
        let (dirs, stores): (Vec<_>, Vec<_>) = WINDOWS
            .iter()
            .enumerate()
            .map(|(w, name)| {
                let (dir, store, _) = window_with_catalogs_and(name, |o| {
                    if w > 0 {
                        o.cache_docs = NonZeroUsize::new(w).unwrap_or(NonZeroUsize::MIN);
                        o.compact_after_chunks = w as u32;
                    }
                });
                (dir, store)
            })
            .unzip();
        let patients: Vec<RecordId> = FIRST_NAMES
            .iter()
            .map(|name| {
                stores[0]
                    .create_patient(&registration(), new_patient(name))
                    .expect("the patient is created")
                    .value
                    .header
                    .id
            })
            .collect();
        // The last visit is registered during an emergency episode: it starts paused, with a
        // "YJ" number from W01's leased emergency range.
        let (_central_dir, central, _) = temp_store("central", NodeRole::Central);
        let range = central
            .lease_range(
                &admin(),
                Series::EmergencyRegistration,
                node(WINDOWS[0]),
                10,
            )
            .expect("central leases an emergency range")
            .value;
        stores[0]
            .accept_lease(&admin(), range)
            .expect("W01 accepts the range");
        let visits: Vec<RecordId> = (0..VISITS)
            .map(|v| {
                if v == VISITS - 1 {
                    stores[0]
                        .start_episode(
                            &admin(),
                            EpisodeId::new("YJ-20261125-01").expect("a valid episode"),
                            "central unreachable",
                        )
                        .expect("the episode starts");
                }
                let visit = stores[0]
                    .register_visit(
                        &registration(),
                        NewVisit {
                            patient: patients[v % PATIENTS],
                            department: "PED-GEN".into(),
                            doctor: None,
                            expert: false,
                            payment: None,
                            occurred_at: None,
                        },
                    )
                    .expect("the visit is registered")
                    .value;
                if v == VISITS - 1 {
                    stores[0].stop_episode(&admin()).expect("the episode stops");
                }
                visit.header.id
            })
            .collect();
        for to in &stores[1..] {
            copy_all(&stores[0], to);
        }
        let initial: Vec<VisitStatus> = visits.iter().map(|v| status(&stores[0], *v)).collect();
        Mesh {
            _dirs: dirs,
            last_seen: vec![initial.clone(); stores.len()],
            furthest: initial,
            stores,
            patients,
            visits,
            steps: 0,
        }
    }

    fn apply(&mut self, op: Op) {
        self.steps += 1;
        match op {
            Op::Edit { at, patient, field } => {
                let (store, id) = (&self.stores[at], self.patients[patient]);
                let before = heads(store, id);
                match store.update_patient(&registration(), id, field.edit()) {
                    Ok(saved) => assert!(
                        field.holds(&saved.value),
                        "{}: the saved patient does not carry {field:?}",
                        store.node()
                    ),
                    Err(WriteError::Rule(_)) => assert_eq!(heads(store, id), before),
                    Err(e) => panic!("{}: editing a patient failed: {e}", store.node()),
                }
            }
            Op::Move { at, visit, to } => {
                let (store, id) = (&self.stores[at], self.visits[visit]);
                let before = heads(store, id);
                let result = match to {
                    Move::Call => store.call_visit(&triage(), id),
                    Move::Resume => store.resume_visit(&triage(), id),
                    Move::See => store.see_visit(&triage(), id),
                    Move::Cancel => store.cancel_visit(&triage(), id),
                };
                match result {
                    Ok(saved) => assert_eq!(
                        saved.value.status_log.current::<VisitStatus>(),
                        Ok(to.target()),
                        "{}: a move that succeeded did not reach its state",
                        store.node()
                    ),
                    Err(WriteError::Rule(_)) => assert_eq!(
                        heads(store, id),
                        before,
                        "{}: a refused move changed the visit",
                        store.node()
                    ),
                    Err(e) => panic!("{}: moving a visit failed: {e}", store.node()),
                }
            }
            Op::Sync { from, to, transfer } => {
                sync(&self.stores[from], &self.stores[to], transfer);
            }
        }
        self.observe(&format!("step {} ({op:?})", self.steps));
    }

    /// Reads every visit on every window and checks that none went backwards.
    fn observe(&mut self, after: &str) {
        for (w, store) in self.stores.iter().enumerate() {
            for (v, id) in self.visits.iter().enumerate() {
                let now = status(store, *id);
                let before = self.last_seen[w][v];
                assert!(
                    now >= before,
                    "{} shows visit {v} back at {now} after being {before}, after {after}",
                    store.node()
                );
                self.last_seen[w][v] = now;
                self.furthest[v] = self.furthest[v].max(now);
            }
        }
    }

    /// Exchanges changes in `order` until a whole round changes nothing.
    fn exchange(&mut self, order: &[(usize, usize, Transfer)]) {
        for round in 1..=MAX_EXCHANGE_ROUNDS {
            let mut changed = false;
            for &(from, to, transfer) in order {
                let out = sync(&self.stores[from], &self.stores[to], transfer);
                changed |= !out.applied.is_empty();
                self.observe(&format!(
                    "exchange round {round}: {} -> {}",
                    WINDOWS[from], WINDOWS[to]
                ));
            }
            if !changed {
                return;
            }
        }
        panic!("the windows still had changes for each other after {MAX_EXCHANGE_ROUNDS} rounds");
    }

    /// Every window holds the same documents and shows the same records.
    fn assert_converged(&self) {
        let reference = &self.stores[0];
        let ids = record_ids(reference);
        for store in &self.stores[1..] {
            assert_eq!(
                record_ids(store),
                ids,
                "{} and {} hold different records",
                store.node(),
                reference.node()
            );
            for id in &ids {
                assert_eq!(
                    heads(store, *id),
                    heads(reference, *id),
                    "record {id} differs between {} and {}",
                    store.node(),
                    reference.node()
                );
                assert_eq!(
                    store.header(*id).expect("the header reads"),
                    reference.header(*id).expect("the header reads")
                );
            }
        }
        for store in &self.stores {
            for id in &self.patients {
                let p: Patient = store.get(*id).expect("the patient reads").expect("stored");
                let theirs: Patient = reference
                    .get(*id)
                    .expect("the patient reads")
                    .expect("stored");
                assert_eq!(p, theirs, "{} reads patient {id} differently", store.node());
                // Search follows the merged record: its current name and number find it,
                // the names it no longer has do not.
                for name in NAMES.iter().chain(&FIRST_NAMES) {
                    let found = store
                        .find_patients(&PatientQuery::Name((*name).into()))
                        .expect("the search runs")
                        .contains(id);
                    assert_eq!(
                        found,
                        p.name == *name,
                        "{}: searching {name:?} for patient {id} named {:?}",
                        store.node(),
                        p.name
                    );
                }
                assert_eq!(
                    store
                        .find_patients(&PatientQuery::Number(p.patient_no.clone()))
                        .expect("the search runs"),
                    vec![*id]
                );
            }
            for (v, id) in self.visits.iter().enumerate() {
                let visit: Visit = store.get(*id).expect("the visit reads").expect("stored");
                let theirs: Visit = reference
                    .get(*id)
                    .expect("the visit reads")
                    .expect("stored");
                assert_eq!(
                    visit,
                    theirs,
                    "{} reads visit {v} differently",
                    store.node()
                );
                assert_eq!(
                    visit.status_log.current::<VisitStatus>(),
                    Ok(self.furthest[v]),
                    "{}: visit {v} is not at the furthest state any window reached",
                    store.node()
                );
            }
            assert_eq!(
                store.unreconciled().expect("the index reads"),
                reference.unreconciled().expect("the index reads"),
                "{} and {} list different unreconciled emergency records",
                store.node(),
                reference.node()
            );
            assert_eq!(
                store.triage_queue().expect("the queue reads"),
                reference.triage_queue().expect("the queue reads"),
                "{} and {} show different triage queues",
                store.node(),
                reference.node()
            );
            store
                .verify_audit()
                .expect("the audit trail reads")
                .unwrap_or_else(|e| panic!("{}: {e}", store.node()));
        }
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn windows_converge_after_concurrent_edits_and_any_exchange_order(
        ops in proptest::collection::vec(op(), 1..24),
        order in exchange_order(),
    ) {
        let mut mesh = Mesh::new();
        for op in ops {
            mesh.apply(op);
        }
        mesh.exchange(&order);
        mesh.assert_converged();
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn visit_statuses_never_move_backwards_through_moves_and_merges(
        ops in proptest::collection::vec(prop_oneof![3 => move_op(), 2 => sync_op()], 1..32),
        order in exchange_order(),
    ) {
        let mut mesh = Mesh::new();
        for op in ops {
            mesh.apply(op);
        }
        mesh.exchange(&order);
        for store in &mesh.stores {
            for (v, id) in mesh.visits.iter().enumerate() {
                prop_assert_eq!(status(store, *id), mesh.furthest[v]);
            }
        }
    }
}

/// A fixed case alongside the properties: one window sees the patient while another cancels
/// the visit, and the merge keeps "seen" everywhere.
#[test]
fn seen_beats_a_concurrent_cancel_on_every_window() {
    let (_dirs, stores): (Vec<_>, Vec<_>) = WINDOWS
        .iter()
        .map(|name| {
            let (dir, store, _) = window_with_catalogs(name);
            (dir, store)
        })
        .unzip();
    let (_patient, visit) = registered(&stores[0], "王小明");
    let id = visit.header.id;
    copy_all(&stores[0], &stores[1]);
    copy_all(&stores[0], &stores[2]);
    stores[1]
        .see_visit(&triage(), id)
        .expect("W02 sees the patient");
    stores[2]
        .cancel_visit(&triage(), id)
        .expect("W03 cancels, not knowing");
    for (from, to) in [(2, 0), (1, 0), (0, 1), (0, 2)] {
        sync(&stores[from], &stores[to], Transfer::ChangesSince);
    }
    for store in &stores {
        assert_eq!(status(store, id), VisitStatus::Seen, "{}", store.node());
    }
}
