//! Property test for the figures the store keeps in its commits instead of scanning (records
//! per kind, the open-item index and its counts per category, the unreconciled and
//! re-settlement indexes, each peer's backlog, the digest): after every step of a random
//! sequence of desk writes on two windows and central (refunds and re-settlements among them),
//! merges between them in any order, review decisions, central's acknowledgements and prunes
//! of old records on the windows, every kept figure equals what a full scan of the records
//! finds (`Store::check_kept`). So the kept counts can never drift.
//!
//! Failing cases are saved in `tests/proptest-regressions/kept_counts.txt` and replayed first.

use lifeline_core::desk::{
    NewCharge, NewChargeLine, NewPrescription, NewPrescriptionItem, NewRefund, NewVisit,
    PatientEdit, Settlement,
};
use lifeline_core::numbers::Series;
use lifeline_core::record::{CatalogKind, PaymentMethod};
use lifeline_core::review::{ConflictStatus, Resolution, ReviewAction};
use lifeline_core::{Clock, DeskRole, EpisodeId, ManualClock, NodeRole, RecordId, Store};
use lifeline_tests::{
    Transfer, admin, cashier, new_patient, registration, sync, temp_store, triage,
    window_with_catalogs,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Two windows and central.
const NODES: usize = 3;
const NAMES: [&str; 2] = ["王小明", "李四"];
const PHONES: [&str; 2] = ["13800138000", "13900139000"];
const NATIONAL_IDS: [&str; 2] = ["110101201905040014", "110101201905040022"];
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A new patient at a window: a name, and maybe a national id, from small sets, so that
    /// look-alikes and shared ids come up.
    Patient {
        at: usize,
        name: usize,
        nid: Option<usize>,
    },
    /// A phone corrected at a window: concurrent corrections conflict after a merge.
    Phone {
        at: usize,
        patient: usize,
        phone: usize,
    },
    Visit {
        at: usize,
        patient: usize,
    },
    Triage {
        at: usize,
        visit: usize,
    },
    Prescribe {
        at: usize,
        visit: usize,
    },
    Dispense {
        at: usize,
        prescription: usize,
    },
    /// A charge on a visit, settled; with `failed`, as self-pay after the insurance link failed.
    Charge {
        at: usize,
        visit: usize,
        failed: bool,
    },
    Resettle {
        at: usize,
        charge: usize,
    },
    /// The money of a charge given back: a refund record, and the charge no longer awaits a
    /// re-settlement.
    Refund {
        at: usize,
        charge: usize,
    },
    /// A window enters or leaves an emergency episode.
    Emergency {
        at: usize,
        on: bool,
    },
    Sync {
        from: usize,
        to: usize,
    },
    /// The first open conflict at a node, decided with its first action.
    Decide {
        at: usize,
    },
    /// Central stamps the emergency records it holds.
    Acknowledge,
    /// Days pass, and the windows prune what they no longer keep.
    Prune {
        days: i64,
    },
}

fn window() -> impl Strategy<Value = usize> {
    0..2usize
}

fn step() -> impl Strategy<Value = Op> {
    let any = 0..4usize;
    prop_oneof![
        3 => (window(), 0..NAMES.len(), proptest::option::of(0..NATIONAL_IDS.len()))
            .prop_map(|(at, name, nid)| Op::Patient { at, name, nid }),
        4 => (window(), any.clone(), 0..PHONES.len())
            .prop_map(|(at, patient, phone)| Op::Phone { at, patient, phone }),
        3 => (window(), any.clone()).prop_map(|(at, patient)| Op::Visit { at, patient }),
        1 => (window(), any.clone()).prop_map(|(at, visit)| Op::Triage { at, visit }),
        2 => (window(), any.clone()).prop_map(|(at, visit)| Op::Prescribe { at, visit }),
        2 => (window(), any.clone()).prop_map(|(at, prescription)| Op::Dispense { at, prescription }),
        2 => (window(), any.clone(), proptest::bool::ANY)
            .prop_map(|(at, visit, failed)| Op::Charge { at, visit, failed }),
        1 => (window(), any.clone()).prop_map(|(at, charge)| Op::Resettle { at, charge }),
        1 => (window(), any.clone()).prop_map(|(at, charge)| Op::Refund { at, charge }),
        1 => (window(), proptest::bool::ANY).prop_map(|(at, on)| Op::Emergency { at, on }),
        8 => (0..NODES, 0..NODES)
            .prop_filter("two nodes", |(a, b)| a != b)
            .prop_map(|(from, to)| Op::Sync { from, to }),
        2 => (0..NODES).prop_map(|at| Op::Decide { at }),
        1 => Just(Op::Acknowledge),
        2 => (1..12i64).prop_map(|days| Op::Prune { days }),
    ]
}

struct Hospital {
    _dirs: Vec<tempfile::TempDir>,
    stores: Vec<Store>,
    clocks: Vec<ManualClock>,
    /// Records created so far, by kind, wherever they were created.
    patients: Vec<RecordId>,
    visits: Vec<RecordId>,
    prescriptions: Vec<RecordId>,
    charges: Vec<RecordId>,
    episodes: usize,
}

impl Hospital {
    fn new() -> Hospital {
        let mut dirs = Vec::new();
        let mut stores = Vec::new();
        let mut clocks = Vec::new();
        for name in ["W01", "W02"] {
            let (dir, store, clock) = window_with_catalogs(name);
            dirs.push(dir);
            stores.push(store);
            clocks.push(clock);
        }
        let (dir, central, clock) = temp_store("central", NodeRole::Central);
        // Each window holds emergency registration numbers, so that it registers in an episode.
        for window in &stores {
            let range = central
                .lease_range(
                    &admin(),
                    Series::EmergencyRegistration,
                    window.node().clone(),
                    500,
                )
                .expect("central leases a range")
                .value;
            window
                .accept_lease(&admin(), range)
                .expect("the window takes the range");
        }
        dirs.push(dir);
        stores.push(central);
        clocks.push(clock);
        Hospital {
            _dirs: dirs,
            stores,
            clocks,
            patients: Vec::new(),
            visits: Vec::new(),
            prescriptions: Vec::new(),
            charges: Vec::new(),
            episodes: 0,
        }
    }

    /// The `i`-th (modulo) of the records in `list` that the store at `at` holds.
    fn pick(&self, at: usize, list: &[RecordId], i: usize) -> Option<RecordId> {
        let held: Vec<RecordId> = list
            .iter()
            .copied()
            .filter(|id| self.stores[at].header(*id).ok().flatten().is_some())
            .collect();
        (!held.is_empty()).then(|| held[i % held.len()])
    }

    /// Runs one step. Refusals by the rules (a record not here yet, a move not allowed) are
    /// part of the game: they write nothing.
    fn run(&mut self, op: Op) {
        let doctor = op_doctor();
        let pharmacy = lifeline_tests::op("pharm1", DeskRole::Pharmacy);
        match op {
            Op::Patient { at, name, nid } => {
                let mut p = new_patient(NAMES[name]);
                p.national_id = nid.map(|i| NATIONAL_IDS[i].to_owned());
                if let Ok(saved) = self.stores[at].create_patient(&registration(), p) {
                    self.patients.push(saved.value.header.id);
                }
            }
            Op::Phone { at, patient, phone } => {
                if let Some(id) = self.pick(at, &self.patients, patient) {
                    let edit = PatientEdit {
                        phone: Some(PHONES[phone].into()),
                        ..PatientEdit::default()
                    };
                    let _ = self.stores[at].update_patient(&registration(), id, edit);
                }
            }
            Op::Visit { at, patient } => {
                if let Some(id) = self.pick(at, &self.patients, patient) {
                    let visit = NewVisit {
                        patient: id,
                        department: "PED-GEN".into(),
                        doctor: None,
                        expert: false,
                        payment: None,
                        occurred_at: None,
                    };
                    if let Ok(saved) = self.stores[at].register_visit(&registration(), visit) {
                        self.visits.push(saved.value.header.id);
                    }
                }
            }
            Op::Triage { at, visit } => {
                if let Some(id) = self.pick(at, &self.visits, visit) {
                    let _ = self.stores[at].resume_visit(&triage(), id);
                }
            }
            Op::Prescribe { at, visit } => {
                if let Some(id) = self.pick(at, &self.visits, visit) {
                    let new = NewPrescription {
                        visit: id,
                        items: vec![NewPrescriptionItem {
                            drug_code: "DRG-0001".into(),
                            quantity: 1,
                            dosage: "tid".into(),
                        }],
                        payment: None,
                        occurred_at: None,
                    };
                    if let Ok(saved) = self.stores[at].create_prescription(&doctor, new) {
                        self.prescriptions.push(saved.value.header.id);
                    }
                }
            }
            Op::Dispense { at, prescription } => {
                if let Some(id) = self.pick(at, &self.prescriptions, prescription) {
                    let _ = self.stores[at].print_prescription(&pharmacy, id);
                    let _ = self.stores[at].dispense_prescription(&pharmacy, id);
                }
            }
            Op::Charge { at, visit, failed } => {
                if let Some(id) = self.pick(at, &self.visits, visit) {
                    let new = NewCharge {
                        visit: id,
                        lines: vec![NewChargeLine {
                            catalog: CatalogKind::Service,
                            code: "SVC-REG".into(),
                            quantity: 1,
                        }],
                        payment: PaymentMethod::Insurance,
                        occurred_at: None,
                    };
                    if let Ok(saved) = self.stores[at].create_charge(&cashier(), new) {
                        let charge = saved.value.header.id;
                        self.charges.push(charge);
                        let outcome = if failed {
                            Settlement::InsuranceFailed
                        } else {
                            Settlement::Paid
                        };
                        let _ = self.stores[at].settle_charge(&cashier(), charge, outcome);
                    }
                }
            }
            Op::Resettle { at, charge } => {
                if let Some(id) = self.pick(at, &self.charges, charge) {
                    let _ = self.stores[at].resettle_charge(&cashier(), id);
                }
            }
            Op::Refund { at, charge } => {
                if let Some(id) = self.pick(at, &self.charges, charge) {
                    let refund = NewRefund {
                        reason: "挂号错误".into(),
                        parts: None,
                    };
                    let _ = self.stores[at].refund_charge(&cashier(), id, refund);
                }
            }
            Op::Emergency { at, on } => {
                let store = &self.stores[at];
                if on {
                    self.episodes += 1;
                    let id = EpisodeId::new(format!("YJ-20261125-{:02}", self.episodes))
                        .expect("a valid episode id");
                    let _ = store.start_episode(&admin(), id, "drill");
                } else {
                    let _ = store.stop_episode(&admin());
                }
            }
            Op::Sync { from, to } => {
                sync(&self.stores[from], &self.stores[to], Transfer::ChangesSince);
                if to == 2 {
                    // Central acknowledges the window's feed, as replication's ack does.
                    let window = &self.stores[from];
                    let central = lifeline_tests::node("central");
                    window
                        .update_peer(&central, |s| s.role = Some(NodeRole::Central))
                        .expect("the window remembers central");
                    let head = window.feed_head().expect("the feed reads");
                    window
                        .record_ack(&central, head, Vec::new())
                        .expect("the window records central's ack");
                }
            }
            Op::Decide { at } => self.decide(at),
            Op::Acknowledge => {
                let _ = self.stores[2].acknowledge_emergency_records(&admin());
            }
            Op::Prune { days } => {
                for clock in &self.clocks {
                    clock.advance_ms(days * DAY_MS);
                }
                for (store, clock) in self.stores[..2].iter().zip(&self.clocks) {
                    let keep_since = clock.now_ms() - 7 * DAY_MS;
                    store
                        .prune(keep_since, usize::MAX)
                        .expect("the window prunes");
                }
            }
        }
    }

    fn decide(&mut self, at: usize) {
        let store = &self.stores[at];
        let conflicts = store.conflicts().expect("the report reads");
        let Some(c) = conflicts.iter().find(|c| c.status == ConflictStatus::Open) else {
            return;
        };
        let _ = match c.actions.first() {
            Some(ReviewAction::ChooseValue { index, .. }) => {
                store.resolve_conflict(&admin(), &c.id, Resolution::ChooseValue(*index))
            }
            Some(ReviewAction::MergePatients {
                survivor,
                duplicate,
            }) => store.merge_patients(&admin(), *survivor, *duplicate),
            Some(ReviewAction::KeepSeparate) => {
                store.resolve_conflict(&admin(), &c.id, Resolution::KeepSeparate)
            }
            _ => store.resolve_conflict(&admin(), &c.id, Resolution::Confirm),
        };
    }

    fn check(&self, step: usize, op: Op) {
        for store in &self.stores {
            let problems = store.check_kept().expect("the full scan reads");
            assert!(
                problems.is_empty(),
                "after step {step} ({op:?}), {} keeps figures a full scan disagrees with: {problems:#?}",
                store.node()
            );
        }
    }
}

fn op_doctor() -> lifeline_core::Operator {
    lifeline_tests::op("doc1", DeskRole::Doctor)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 128,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/kept_counts.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn every_kept_figure_equals_a_full_scan(ops in proptest::collection::vec(step(), 1..60)) {
        let mut hospital = Hospital::new();
        for (step, op) in ops.into_iter().enumerate() {
            hospital.run(op);
            hospital.check(step, op);
        }
    }
}
