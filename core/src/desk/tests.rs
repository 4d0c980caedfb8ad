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
use crate::status::{ChargeStatus, InvoiceStatus, PrescriptionStatus, StatusError, VisitStatus};
use crate::store::Store;
use crate::test_support::{catalogs, temp_store};

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
    let (dir, store, clock) = temp_store("W01", NodeRole::Window);
    let (_cdir, central, _) = temp_store("central", NodeRole::Central);
    central
        .import_catalog(&admin(), catalogs())
        .expect("import");
    copy_all(&central, &store);
    (dir, store, clock)
}

/// Copies every record of `from` into `to` through the merge API.
fn copy_all(from: &Store, to: &Store) {
    let items: Vec<_> = from
        .feed_since(0, usize::MAX)
        .expect("feed")
        .into_iter()
        .map(|(_, id)| crate::store::RemoteChanges {
            id,
            bytes: from.doc(id).expect("doc").expect("present").save(),
        })
        .collect();
    let out = to
        .apply_remote(from.node(), items, |_, _| Ok(()))
        .expect("apply");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
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
    }
}

fn registered(store: &Store) -> (Patient, Visit) {
    let reg = op("reg1", DeskRole::Registration);
    let p = store
        .create_patient(&reg, new_patient("王小明"))
        .expect("patient")
        .value;
    let v = store
        .register_visit(
            &reg,
            NewVisit {
                patient: p.header.id,
                department: "PED-GEN".into(),
                doctor: None,
                expert: false,
            },
        )
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

#[test]
fn a_patient_gets_a_node_local_number_and_is_searchable() {
    let (_d, store, _) = window();
    let reg = op("reg1", DeskRole::Registration);
    let a = store
        .create_patient(&reg, new_patient("王小明"))
        .expect("a")
        .value;
    let b = store
        .create_patient(&reg, new_patient("李四"))
        .expect("b")
        .value;
    assert_eq!(a.patient_no, "W01-000001");
    assert_eq!(b.patient_no, "W01-000002");
    assert_eq!(a.header.origin, node("W01"));
    assert_eq!(a.header.episode, None);
    let found = store
        .find_patients(&crate::store::PatientQuery::Name("王".into()))
        .expect("search");
    assert_eq!(found, vec![a.header.id]);
    let found = store
        .find_patients(&crate::store::PatientQuery::Number("W01-000002".into()))
        .expect("search");
    assert_eq!(found, vec![b.header.id]);
}

#[test]
fn bad_patient_input_is_refused_and_nothing_is_written() {
    let (_d, store, clock) = window();
    let reg = op("reg1", DeskRole::Registration);
    let before = store.feed_head().expect("feed");
    let mut p = new_patient("");
    assert!(
        matches!(rule(store.create_patient(&reg, p.clone()).unwrap_err()), RuleError::Invalid { field, .. } if field == "name")
    );
    p.name = "x".into();
    p.national_id = Some("110105194912310021".into());
    assert!(
        rule(store.create_patient(&reg, p.clone()).unwrap_err())
            .to_string()
            .contains("check character")
    );
    p.national_id = None;
    p.birth_date = Date::at(clock_now(&clock) + 3 * 86_400_000, 480);
    assert!(
        rule(store.create_patient(&reg, p).unwrap_err())
            .to_string()
            .contains("future")
    );
    let cashier = op("c1", DeskRole::Cashier);
    assert!(matches!(
        rule(
            store
                .create_patient(&cashier, new_patient("x"))
                .unwrap_err()
        ),
        RuleError::NotPermitted { .. }
    ));
    assert_eq!(store.feed_head().expect("feed"), before);
}

fn clock_now(clock: &ManualClock) -> i64 {
    crate::clock::Clock::now_ms(clock)
}

#[test]
fn normal_visits_queue_and_move_forward_only() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    assert_eq!(v.fee, Fen(1000));
    assert_eq!(v.registration_no, "W01-R000001");
    assert_eq!(
        v.status_log.current::<VisitStatus>(),
        Ok(VisitStatus::Queued)
    );
    let triage = op("nurse1", DeskRole::Triage);
    let queue = store.triage_queue().expect("queue");
    assert_eq!(queue.len(), 1);
    let called = store.call_visit(&triage, v.header.id).expect("call").value;
    assert_eq!(
        called.status_log.current::<VisitStatus>(),
        Ok(VisitStatus::Called)
    );
    let err = rule(store.resume_visit(&triage, v.header.id).unwrap_err());
    assert_eq!(err.to_string(), "a visit cannot move from called to queued");
    store.see_visit(&triage, v.header.id).expect("seen");
    assert!(matches!(
        rule(store.cancel_visit(&triage, v.header.id).unwrap_err()),
        RuleError::Status(StatusError::Transition(_))
    ));
    assert!(store.triage_queue().expect("queue").is_empty());
}

#[test]
fn emergency_visits_are_paused_marked_yj_and_numbered_from_the_lease() {
    let (_d, store, _) = window();
    let reg = op("reg1", DeskRole::Registration);
    let episode = EpisodeId::new("YJ-20261125-01").expect("valid");
    store
        .start_episode(&admin(), episode.clone(), "central down")
        .expect("start");
    let p = store
        .create_patient(&reg, new_patient("赵六"))
        .expect("patient")
        .value;
    let new_visit = NewVisit {
        patient: p.header.id,
        department: "PED-GEN".into(),
        doctor: None,
        expert: true,
    };
    // No emergency range leased yet: a clear refusal, nothing written.
    let err = rule(store.register_visit(&reg, new_visit.clone()).unwrap_err());
    assert!(matches!(
        err,
        RuleError::Number(NumberError::Exhausted {
            series: Series::EmergencyRegistration
        })
    ));
    lease(&store, Series::EmergencyRegistration, 100);
    let v = store
        .register_visit(&reg, new_visit.clone())
        .expect("visit")
        .value;
    assert_eq!(v.registration_no, "YJ00000001");
    assert_eq!(v.fee, Fen(3000));
    assert_eq!(v.header.episode.as_ref(), Some(&episode));
    assert_eq!(
        v.status_log.current::<VisitStatus>(),
        Ok(VisitStatus::Paused)
    );
    let normal_first = {
        store.stop_episode(&admin()).expect("stop");
        registered(&store).1
    };
    let queue = store.triage_queue().expect("queue");
    assert_eq!(
        queue.iter().map(|e| e.visit).collect::<Vec<_>>(),
        vec![normal_first.header.id, v.header.id]
    );
    assert!(queue[1].emergency);
    let triage = op("nurse1", DeskRole::Triage);
    let resumed = store
        .resume_visit(&triage, v.header.id)
        .expect("resume")
        .value;
    assert_eq!(
        resumed.status_log.current::<VisitStatus>(),
        Ok(VisitStatus::Queued)
    );
    assert!(store.unreconciled().expect("index").contains(&v.header.id));
}

#[test]
fn emergency_prescriptions_print_but_stay_on_hold_until_central_acknowledges() {
    let (_d, store, _) = window();
    let episode = EpisodeId::new("YJ-1").expect("valid");
    lease(&store, Series::EmergencyRegistration, 10);
    store
        .start_episode(&admin(), episode, "outage")
        .expect("start");
    let (_p, v) = registered(&store);
    let doctor = op("dr1", DeskRole::Doctor);
    let rx = store
        .create_prescription(
            &doctor,
            NewPrescription {
                visit: v.header.id,
                items: vec![NewPrescriptionItem {
                    drug_code: "DRG-0001".into(),
                    quantity: 2,
                    dosage: "0.125g tid".into(),
                }],
            },
        )
        .expect("rx")
        .value;
    assert_eq!(rx.items[0].unit_price, Fen(1280));
    assert_eq!(rx.items[0].catalog_version, 1);
    let pharmacy = op("ph1", DeskRole::Pharmacy);
    store
        .print_prescription(&pharmacy, rx.header.id)
        .expect("print");
    let err = rule(
        store
            .dispense_prescription(&pharmacy, rx.header.id)
            .unwrap_err(),
    );
    assert!(matches!(err, RuleError::EmergencyDispenseOnHold { .. }));
    let queue = store.pharmacy_queue().expect("queue");
    assert_eq!(queue.len(), 1);
    assert!(queue[0].on_hold && queue[0].emergency);

    // Central receives the records and acknowledges them; the stamps come back.
    let (_cd, central, _) = temp_store("central", NodeRole::Central);
    copy_all(&store, &central);
    let acked = central
        .acknowledge_emergency_records(&admin())
        .expect("ack")
        .value;
    assert!(
        acked >= 3,
        "patient, visit and prescription at least, got {acked}"
    );
    copy_all(&central, &store);
    assert!(store.unreconciled().expect("index").is_empty());
    let done = store
        .dispense_prescription(&pharmacy, rx.header.id)
        .expect("dispense")
        .value;
    assert_eq!(
        done.status_log.current::<PrescriptionStatus>(),
        Ok(PrescriptionStatus::Dispensed)
    );
    assert!(store.pharmacy_queue().expect("queue").is_empty());
}

#[test]
fn failed_insurance_is_self_pay_due_seven_working_days_later() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let charge = store
        .create_charge(
            &cashier,
            NewCharge {
                visit: v.header.id,
                lines: vec![
                    NewChargeLine {
                        catalog: CatalogKind::Service,
                        code: "SVC-CBC".into(),
                        quantity: 1,
                    },
                    NewChargeLine {
                        catalog: CatalogKind::Drug,
                        code: "DRG-0001".into(),
                        quantity: 2,
                    },
                ],
                payment: PaymentMethod::Insurance,
            },
        )
        .expect("charge")
        .value;
    assert_eq!(charge.amount, Fen(2000 + 2 * 1280));
    // The test clock is Wednesday 2026-11-25, 09:00 in Beijing.
    let settled = store
        .settle_charge(&cashier, charge.header.id, Settlement::InsuranceFailed)
        .expect("settle")
        .value;
    assert_eq!(settled.payment, Some(PaymentMethod::SelfPay));
    assert_eq!(
        settled.resettle_due.map(|d| d.to_string()).as_deref(),
        Some("2026-12-04")
    );
    let resettled = store
        .resettle_charge(&cashier, charge.header.id)
        .expect("resettle")
        .value;
    assert_eq!(resettled.payment, Some(PaymentMethod::Insurance));
    assert!(matches!(
        rule(
            store
                .resettle_charge(&cashier, charge.header.id)
                .unwrap_err()
        ),
        RuleError::NothingToResettle { .. }
    ));
}

#[test]
fn invoices_use_the_leased_range_in_order_and_voids_are_never_reused() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let charge = |store: &Store| {
        let c = store
            .create_charge(
                &cashier,
                NewCharge {
                    visit: v.header.id,
                    lines: vec![NewChargeLine {
                        catalog: CatalogKind::Service,
                        code: "SVC-REG".into(),
                        quantity: 1,
                    }],
                    payment: PaymentMethod::SelfPay,
                },
            )
            .expect("charge")
            .value;
        store
            .settle_charge(&cashier, c.header.id, Settlement::Paid)
            .expect("settle");
        c.header.id
    };
    let c1 = charge(&store);
    let err = rule(store.issue_invoice(&cashier, vec![c1]).unwrap_err());
    assert!(matches!(
        err,
        RuleError::Number(NumberError::Exhausted {
            series: Series::Invoice
        })
    ));
    lease(&store, Series::Invoice, 3);
    let inv1 = store.issue_invoice(&cashier, vec![c1]).expect("invoice");
    assert_eq!(inv1.value.number, 1);
    assert_eq!(
        inv1.warnings,
        vec![Warning::LowWater {
            series: Series::Invoice,
            remaining: 2
        }]
    );
    assert!(matches!(
        rule(store.issue_invoice(&cashier, vec![c1]).unwrap_err()),
        RuleError::AlreadyInvoiced { .. }
    ));
    let voided = store
        .void_invoice(&cashier, inv1.value.header.id, "wrong amount")
        .expect("void")
        .value;
    assert_eq!(
        voided.status_log.current::<InvoiceStatus>(),
        Ok(InvoiceStatus::Voided)
    );
    assert!(
        rule(
            store
                .void_invoice(&cashier, inv1.value.header.id, "again")
                .unwrap_err()
        )
        .to_string()
        .contains("cannot move from voided")
    );
    assert_eq!(
        store
            .void_next_number(&cashier, Series::Invoice, "printer jam")
            .expect("spoil")
            .value,
        2
    );
    let c2 = charge(&store);
    let inv3 = store
        .issue_invoice(&cashier, vec![c2])
        .expect("invoice")
        .value;
    assert_eq!(inv3.number, 3);
    let c3 = charge(&store);
    assert!(matches!(
        rule(store.issue_invoice(&cashier, vec![c3]).unwrap_err()),
        RuleError::Number(NumberError::Exhausted { .. })
    ));
    let c_status = store
        .get::<crate::record::Charge>(c3)
        .expect("read")
        .expect("present");
    assert_eq!(
        c_status.status_log.current::<ChargeStatus>(),
        Ok(ChargeStatus::Settled)
    );
    let report = store.range_report().expect("report");
    assert!(report.is_clean(), "{report:?}");
    let line = &report.ranges[0];
    assert_eq!((line.issued, line.voided, line.unused), (1, 2, 0));
}

#[test]
fn leases_are_refused_when_they_overlap_or_belong_elsewhere() {
    let (_d, store, _) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let r1 = central
        .lease_range(&admin(), Series::Invoice, node("W01"), 10)
        .expect("lease")
        .value;
    let r2 = central
        .lease_range(&admin(), Series::Invoice, node("W02"), 10)
        .expect("lease")
        .value;
    assert_eq!((r1.start, r1.end, r2.start, r2.end), (1, 10, 11, 20));
    store.accept_lease(&admin(), r1.clone()).expect("accept");
    store
        .accept_lease(&admin(), r1.clone())
        .expect("accepting twice is a no-op");
    assert!(matches!(
        rule(store.accept_lease(&admin(), r2).unwrap_err()),
        RuleError::Number(NumberError::NotOurs { .. })
    ));
    let mut overlapping = r1;
    overlapping.start = 5;
    overlapping.end = 15;
    assert!(matches!(
        rule(store.accept_lease(&admin(), overlapping).unwrap_err()),
        RuleError::Number(NumberError::Overlap { .. })
    ));
    assert!(matches!(
        rule(
            store
                .lease_range(&admin(), Series::Invoice, node("W03"), 5)
                .unwrap_err()
        ),
        RuleError::Number(NumberError::NotLessor)
    ));
}

#[test]
fn reports_refuse_in_emergency_mode_unless_asked_and_then_say_incomplete() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let c = store
        .create_charge(
            &cashier,
            NewCharge {
                visit: v.header.id,
                lines: vec![NewChargeLine {
                    catalog: CatalogKind::Service,
                    code: "SVC-CRP".into(),
                    quantity: 1,
                }],
                payment: PaymentMethod::SelfPay,
            },
        )
        .expect("charge")
        .value;
    store
        .settle_charge(&cashier, c.header.id, Settlement::Paid)
        .expect("settle");
    let today = Date::new(2026, 11, 25).expect("valid");
    let summary = store
        .cashier_summary(today, ReportMode::Complete)
        .expect("report");
    assert_eq!(summary.total_settled, Fen(3000));
    assert_eq!(summary.incomplete, None);
    store
        .start_episode(&admin(), EpisodeId::new("YJ-2").expect("valid"), "outage")
        .expect("start");
    assert!(matches!(
        rule(
            store
                .cashier_summary(today, ReportMode::Complete)
                .unwrap_err()
        ),
        RuleError::ReportInEmergency { .. }
    ));
    let forced = store
        .cashier_summary(today, ReportMode::AllowIncomplete)
        .expect("report");
    assert!(forced.incomplete.is_some());
    assert_eq!(forced.lines[0].self_pay, Fen(3000));
}

#[test]
fn only_central_writes_catalogs_and_imports_bump_the_version() {
    let (_d, window, _) = window();
    assert!(matches!(
        rule(window.import_catalog(&admin(), catalogs()).unwrap_err()),
        RuleError::CentralOnly { .. }
    ));
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    assert_eq!(
        central
            .import_catalog(&admin(), catalogs())
            .expect("import")
            .value,
        (1, 1)
    );
    assert_eq!(
        central
            .import_catalog(&admin(), catalogs())
            .expect("same again")
            .value,
        (1, 1)
    );
    let mut changed = catalogs();
    if let Some(drugs) = changed.drugs.as_mut() {
        drugs.get_mut("DRG-0001").expect("present").price = Fen(1300);
    }
    assert_eq!(
        central
            .import_catalog(&admin(), changed)
            .expect("import")
            .value,
        (2, 1)
    );
}

#[test]
fn concurrent_status_moves_on_two_nodes_merge_to_the_furthest() {
    let (_d, a, _) = window();
    let (_p, v) = registered(&a);
    let (_d2, b, _) = temp_store("W02", NodeRole::Window);
    copy_all(&a, &b);
    let triage = op("nurse1", DeskRole::Triage);
    // A calls then sees the patient; B, not knowing, cancels the visit.
    a.call_visit(&triage, v.header.id).expect("call");
    a.see_visit(&triage, v.header.id).expect("seen");
    b.cancel_visit(&triage, v.header.id).expect("cancel");
    copy_all(&a, &b);
    copy_all(&b, &a);
    for store in [&a, &b] {
        let visit: Visit = store.get(v.header.id).expect("read").expect("present");
        assert_eq!(
            visit.status_log.current::<VisitStatus>(),
            Ok(VisitStatus::Seen)
        );
    }
    assert_eq!(
        a.doc(v.header.id)
            .expect("doc")
            .expect("present")
            .get_heads(),
        b.doc(v.header.id)
            .expect("doc")
            .expect("present")
            .get_heads()
    );
}

#[test]
fn every_change_is_in_the_audit_chain_and_tampering_is_detected() {
    let (_d, store, _) = window();
    registered(&store);
    let entries = store.audit_entries(0, 100).expect("audit");
    assert!(
        entries
            .iter()
            .any(|e| e.action == "visit.register" && e.actor == "reg1")
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "sync.apply" && e.actor == "sync:central")
    );
    let n = store.verify_audit().expect("read").expect("chain intact");
    assert_eq!(n, entries.len() as u64);
}

#[test]
fn episodes_opened_apart_merge_into_the_earliest_and_close_with_a_grade() {
    let (_d1, a, clock_a) = window();
    let (_d2, b, clock_b) = temp_store("W02", NodeRole::Window);
    copy_all(&a, &b);
    let system = admin();
    // Cut off from each other, both open an episode; W01's is a minute earlier.
    let first = a
        .open_episode(&system, "central unreachable", true)
        .expect("open")
        .value;
    clock_b.advance_ms(60_000);
    let second = b
        .open_episode(&system, "central unreachable", true)
        .expect("open")
        .value;
    assert_ne!(first, second);
    // Joining is idempotent.
    assert_eq!(
        a.open_episode(&system, "again", true).expect("open").value,
        first
    );
    // They meet again.
    copy_all(&a, &b);
    copy_all(&b, &a);
    for store in [&a, &b] {
        let now = store.reconcile_episodes(&system).expect("reconcile").value;
        assert_eq!(
            now.as_ref(),
            Some(&first),
            "every node reports under the earliest"
        );
    }
    copy_all(&a, &b);
    copy_all(&b, &a);
    let (summary, merged) = a.episode_by_id(&second).expect("read").expect("found");
    assert_eq!(summary.episode.episode_id, first);
    assert_eq!(merged, vec![second]);
    assert!(summary.episode.nodes.contains_key("W01") && summary.episode.nodes.contains_key("W02"));
    // Three hours later both leave: the episode closes as grade III.
    clock_a.advance_ms(3 * 3_600_000);
    clock_b.advance_ms(3 * 3_600_000);
    a.leave_episode(&system, LeaveScope::ThisNode)
        .expect("leave");
    copy_all(&a, &b);
    b.leave_episode(&system, LeaveScope::ThisNode)
        .expect("leave");
    copy_all(&b, &a);
    let (summary, _) = a.episode_by_id(&first).expect("read").expect("found");
    assert!(!summary.open);
    assert_eq!(summary.grade, "III");
    assert_eq!(a.episode().expect("read"), None);
}
