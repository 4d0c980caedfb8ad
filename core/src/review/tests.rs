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
    NewCharge, NewChargeLine, NewPatient, NewPrescription, NewPrescriptionItem, NewVisit,
    PatientEdit, Settlement,
};
use crate::id::RecordId;
use crate::id::{EpisodeId, OperatorName};
use crate::numbers::Series;
use crate::record::{
    CatalogKind, InsuranceType, PaymentMethod, Prescription, Sex, Visit, catalog_id,
};
use crate::record::{Patient, RecordKind};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::status::{PrescriptionStatus, VisitStatus};
use crate::store::RemoteChanges;
use crate::store::Store;
use crate::test_support::{catalogs, temp_store};

const NID: &str = "11010519491231002X";

fn op(name: &str, desk: DeskRole) -> Operator {
    Operator::new(OperatorName::new(name).expect("valid"), desk)
}

fn admin() -> Operator {
    op("info1", DeskRole::Admin)
}

/// Copies every record of `from` into `to` through the merge API, as replication would.
fn copy_all(from: &Store, to: &Store) {
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
            NewVisit {
                patient,
                department: "PED-GEN".into(),
                doctor: None,
                expert: false,
            },
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

#[test]
fn concurrent_phone_edits_are_one_field_conflict_until_a_reviewer_chooses() {
    let h = hospital();
    let p = patient(&h.w1, "王小明", "13800138000", None);
    copy_all(&h.w1, &h.w2);
    assert!(h.w1.conflicts().expect("conflicts").is_empty());

    set_phone(&h.w1, "reg1", p, "13911111111");
    h.advance_ms(1000);
    set_phone(&h.w2, "reg2", p, "13922222222");
    sync(&h.w1, &h.w2);

    let mut ids = Vec::new();
    for store in [&h.w1, &h.w2] {
        let found = open(store);
        assert_eq!(found.len(), 1, "{found:#?}");
        let c = &found[0];
        assert_eq!(c.kind, ConflictKind::FieldConflict);
        assert_eq!(c.record_kind, RecordKind::Patient);
        assert_eq!(c.records, vec![p]);
        assert_eq!(c.field.as_deref(), Some("phone"));
        let mut seen: Vec<(String, String, String)> = c
            .values
            .iter()
            .map(|v| {
                (
                    v.value.clone(),
                    v.node.clone().expect("node"),
                    v.operator.clone().expect("operator"),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("\"13911111111\"".into(), "W01".into(), "reg1".into()),
                ("\"13922222222\"".into(), "W02".into(), "reg2".into()),
            ]
        );
        assert!(
            c.values
                .iter()
                .all(|v| v.at_ms.is_some() && v.action.as_deref() == Some("patient.update"))
        );
        let shown: Vec<_> = c.values.iter().filter(|v| v.shown).collect();
        assert_eq!(shown.len(), 1);
        let current = store.get::<Patient>(p).expect("read").expect("present");
        assert_eq!(shown[0].value, format!("\"{}\"", current.phone));
        assert!(
            c.automatic_decision
                .as_deref()
                .is_some_and(|d| d.starts_with("currently shown"))
        );
        assert_eq!(c.actions.len(), 2);
        assert!(c.summary().starts_with("[open] field_conflict patient"));
        assert!(c.summary().contains("13922222222"), "{}", c.summary());
        ids.push(c.id.clone());
    }
    assert_eq!(
        ids[0], ids[1],
        "the same conflict has the same id on every node"
    );
    let id = ids[0].clone();
    assert_eq!(id, format!("field:{p}:phone"));

    // The report's JSON shape.
    let json = serde_json::to_value(by_id(&h.w1, &id)).expect("json");
    assert_eq!(json["kind"], "field_conflict");
    assert_eq!(json["status"], "open");
    assert_eq!(json["record_kind"], "patient");
    assert_eq!(json["field"], "phone");
    assert_eq!(json["actions"][0]["action"], "choose_value");
    assert!(json["values"][0]["node"].is_string());
    assert!(json.get("fingerprint").is_none());

    // A registration clerk may not decide; nothing is written.
    let before = h.w1.feed_head().expect("feed");
    let err = rule(
        h.w1.resolve_conflict(
            &op("reg1", DeskRole::Registration),
            &id,
            Resolution::ChooseValue(0),
        )
        .unwrap_err(),
    );
    assert!(matches!(err, RuleError::NotPermitted { .. }), "{err}");
    assert_eq!(h.w1.feed_head().expect("feed"), before);
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&admin(), &id, Resolution::ChooseValue(2))
                .unwrap_err()
        ),
        RuleError::Invalid { .. }
    ));
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&admin(), "field:nonsense", Resolution::Confirm)
                .unwrap_err()
        ),
        RuleError::Invalid { .. }
    ));
    assert_eq!(h.w1.feed_head().expect("feed"), before);

    // The reviewer on W02 keeps W01's number.
    let c = by_id(&h.w2, &id);
    let keep = c
        .values
        .iter()
        .find(|v| v.node.as_deref() == Some("W01"))
        .expect("W01 value")
        .index;
    let saved =
        h.w2.resolve_conflict(&admin(), &id, Resolution::ChooseValue(keep))
            .expect("resolve")
            .value;
    assert_eq!(
        saved.decision,
        "chose value ".to_owned() + &format!("{keep}: \"13911111111\"")
    );
    assert_eq!(saved.node.as_str(), "W02");
    sync(&h.w1, &h.w2);
    for store in [&h.w1, &h.w2] {
        assert!(open(store).is_empty(), "{:#?}", open(store));
        let c = by_id(store, &id);
        assert_eq!(c.status, ConflictStatus::Resolved);
        let decision = c.decision.expect("decision");
        assert_eq!(decision.operator.as_str(), "info1");
        assert!(c.actions.is_empty());
        let p = store.get::<Patient>(p).expect("read").expect("present");
        assert_eq!(p.phone, "13911111111");
        let doc = store.doc(p.header.id).expect("doc").expect("present");
        assert_eq!(doc.get_all(ROOT, "phone").expect("values").len(), 1);
        let reviews = reviews_in(&*doc);
        assert_eq!(reviews.get(&id).map(|r| r.node.as_str()), Some("W02"));
        assert!(
            by_id(store, &id)
                .summary()
                .starts_with("[resolved] field_conflict")
        );
    }
    let audit = h.w2.audit_entries(0, 10_000).expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "review.resolve" && e.actor == "info1" && e.record == Some(p))
    );
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&admin(), &id, Resolution::Confirm)
                .unwrap_err()
        ),
        RuleError::Invalid { .. }
    ));

    // New concurrent edits after the decision reopen the field.
    set_phone(&h.w1, "reg1", p, "13933333333");
    set_phone(&h.w2, "reg2", p, "13944444444");
    sync(&h.w1, &h.w2);
    let c = by_id(&h.w1, &id);
    assert_eq!(c.status, ConflictStatus::Open);
    assert!(c.decision.is_some(), "the earlier decision is still shown");
    // Confirm keeps what is shown.
    let shown = c
        .values
        .iter()
        .find(|v| v.shown)
        .expect("shown")
        .value
        .clone();
    h.w1.resolve_conflict(&admin(), &id, Resolution::Confirm)
        .expect("confirm");
    let p1 = h.w1.get::<Patient>(p).expect("read").expect("present");
    assert_eq!(format!("\"{}\"", p1.phone), shown);
    assert!(open(&h.w1).is_empty());
}

#[test]
fn duplicate_patients_from_two_nodes_are_listed_with_evidence_until_merged() {
    let h = hospital();
    let a = patient(&h.w1, "王小明", "13800138000", Some(NID));
    h.advance_ms(60_000);
    let b = patient(&h.w2, "王小明", "13800138000", Some(NID));
    let c = patient(&h.w1, "李四", "13700137000", None);
    let d = patient(&h.w2, " 李四 ", "137-0013-7000", None);
    sync(&h.w1, &h.w2);

    let ab = Target::pair(a, b).id();
    let cd = Target::pair(c, d).id();
    for store in [&h.w1, &h.w2] {
        let found = open(store);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found
                .iter()
                .all(|c| c.kind == ConflictKind::DuplicatePatient)
        );
        let pair = by_id(store, &ab);
        let evidence = pair.duplicate.as_ref().expect("evidence");
        let keys: Vec<&str> = evidence.matched.iter().map(|m| m.key).collect();
        assert_eq!(keys, vec!["national_id", "name_birth_date_phone"]);
        let origins: Vec<&str> = evidence
            .patients
            .iter()
            .map(|p| p.header.origin.as_str())
            .collect();
        assert_eq!(origins.len(), 2);
        assert!(origins.contains(&"W01") && origins.contains(&"W02"));
        assert!(
            evidence
                .patients
                .iter()
                .all(|p| p.header.created_ms > 0 && p.header.episode.is_none())
        );
        assert_eq!(
            pair.actions[0],
            ReviewAction::MergePatients {
                survivor: a,
                duplicate: b
            },
            "the older record is suggested as the survivor"
        );
        let other = by_id(store, &cd);
        let keys: Vec<&str> = other
            .duplicate
            .as_ref()
            .expect("evidence")
            .matched
            .iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(keys, vec!["name_birth_date_phone"]);
    }
    let json = serde_json::to_value(by_id(&h.w1, &ab)).expect("json");
    assert_eq!(json["kind"], "duplicate_patient");
    assert_eq!(json["duplicate"]["matched"][0]["key"], "national_id");
    assert_eq!(json["duplicate"]["patients"][1]["header"]["origin"], "W02");
    assert_eq!(json["actions"][0]["action"], "merge_patients");

    // Refusals: not an admin, into itself, not a patient. Nothing is written.
    let before = h.w1.feed_head().expect("feed");
    assert!(matches!(
        rule(
            h.w1.merge_patients(&op("reg1", DeskRole::Registration), a, b)
                .unwrap_err()
        ),
        RuleError::NotPermitted { .. }
    ));
    assert!(matches!(
        rule(h.w1.merge_patients(&admin(), a, a).unwrap_err()),
        RuleError::Invalid { .. }
    ));
    assert!(matches!(
        rule(
            h.w1.merge_patients(&admin(), catalog_id(CatalogKind::Drug), b)
                .unwrap_err()
        ),
        RuleError::WrongKind { .. }
    ));
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&admin(), &ab, Resolution::ChooseValue(0))
                .unwrap_err()
        ),
        RuleError::Invalid { .. }
    ));
    assert_eq!(h.w1.feed_head().expect("feed"), before);

    let review = h.w1.merge_patients(&admin(), a, b).expect("merge").value;
    assert_eq!(review.conflict, ab);
    assert_eq!(
        h.w1.get::<Patient>(b)
            .expect("read")
            .expect("present")
            .merged_into,
        Some(a)
    );
    assert!(matches!(
        rule(h.w1.merge_patients(&admin(), c, b).unwrap_err()),
        RuleError::PatientMerged { .. }
    ));
    assert!(matches!(
        rule(h.w1.merge_patients(&admin(), b, c).unwrap_err()),
        RuleError::PatientMerged { .. }
    ));
    assert!(
        h.w1.audit_entries(0, 10_000)
            .expect("audit")
            .iter()
            .any(|e| e.action == "review.merge" && e.record == Some(b))
    );

    // Different people after all: kept apart on W02.
    h.w2.resolve_conflict(&admin(), &cd, Resolution::KeepSeparate)
        .expect("keep separate");
    sync(&h.w1, &h.w2);
    for store in [&h.w1, &h.w2] {
        assert!(open(store).is_empty(), "{:#?}", open(store));
        let merged = by_id(store, &ab);
        assert_eq!(merged.status, ConflictStatus::Resolved);
        assert!(
            merged
                .decision
                .as_ref()
                .is_some_and(|d| d.decision.starts_with("merged"))
        );
        assert_eq!(by_id(store, &cd).status, ConflictStatus::Resolved);
        assert_eq!(
            store
                .get::<Patient>(b)
                .expect("read")
                .expect("present")
                .merged_into,
            Some(a)
        );
    }
}

#[test]
fn a_prescription_dispensed_on_two_nodes_is_confirmed_by_a_reviewer() {
    let h = hospital();
    let p = patient(&h.w1, "王小明", "13800138000", None);
    let v = visit(&h.w1, p);
    let rx = prescription(&h.w1, v.header.id).header.id;
    let rx2 = prescription(&h.w1, v.header.id).header.id;
    copy_all(&h.w1, &h.w2);
    let pharmacy = op("ph1", DeskRole::Pharmacy);
    let pharmacy2 = op("ph2", DeskRole::Pharmacy);
    h.w1.dispense_prescription(&pharmacy, rx).expect("dispense");
    h.w2.dispense_prescription(&pharmacy2, rx)
        .expect("dispense");
    h.w1.cancel_prescription(&pharmacy, rx2).expect("cancel");
    h.w2.dispense_prescription(&pharmacy2, rx2)
        .expect("dispense");
    sync(&h.w1, &h.w2);

    let double = format!("double-dispense:{rx}");
    let cancelled = format!("dispensed-cancelled:{rx2}");
    for store in [&h.w1, &h.w2] {
        let found = open(store);
        assert_eq!(found.len(), 2, "{found:#?}");
        let c = by_id(store, &double);
        assert_eq!(c.kind, ConflictKind::DoubleDispense);
        assert_eq!(
            c.records.len(),
            3,
            "the prescription and both dispense records"
        );
        let nodes: BTreeSet<&str> = c.values.iter().filter_map(|v| v.node.as_deref()).collect();
        assert_eq!(nodes, BTreeSet::from(["W01", "W02"]));
        let operators: BTreeSet<&str> = c
            .values
            .iter()
            .filter_map(|v| v.operator.as_deref())
            .collect();
        assert_eq!(operators, BTreeSet::from(["ph1", "ph2"]));
        assert_eq!(c.actions, vec![ReviewAction::Confirm]);
        let c2 = by_id(store, &cancelled);
        assert_eq!(c2.kind, ConflictKind::DispensedAndCancelled);
        assert!(
            c2.automatic_decision
                .as_deref()
                .is_some_and(|d| d.starts_with("kept dispensed"))
        );
        let shown: Vec<&str> = c2
            .values
            .iter()
            .filter(|v| v.shown)
            .map(|v| v.value.as_str())
            .collect();
        assert_eq!(shown.len(), 1);
        assert!(shown[0].contains("\"state\":\"dispensed\""), "{shown:?}");
        let rx2 = store
            .get::<Prescription>(rx2)
            .expect("read")
            .expect("present");
        assert_eq!(
            rx2.status_log.current::<PrescriptionStatus>(),
            Ok(PrescriptionStatus::Dispensed)
        );
    }

    let before = h.w1.feed_head().expect("feed");
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&pharmacy, &double, Resolution::Confirm)
                .unwrap_err()
        ),
        RuleError::NotPermitted { .. }
    ));
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&admin(), &double, Resolution::ChooseValue(0))
                .unwrap_err()
        ),
        RuleError::Invalid { .. }
    ));
    assert_eq!(h.w1.feed_head().expect("feed"), before);
    h.w1.resolve_conflict(&admin(), &double, Resolution::Confirm)
        .expect("confirm");
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&admin(), &double, Resolution::Confirm)
                .unwrap_err()
        ),
        RuleError::Invalid { .. }
    ));
    h.w2.resolve_conflict(&admin(), &cancelled, Resolution::Confirm)
        .expect("confirm");
    sync(&h.w1, &h.w2);
    for store in [&h.w1, &h.w2] {
        assert!(open(store).is_empty(), "{:#?}", open(store));
        let c = by_id(store, &double);
        assert_eq!(c.status, ConflictStatus::Resolved);
        assert_eq!(c.values.len(), 4, "the evidence stays visible");
        assert_eq!(by_id(store, &cancelled).status, ConflictStatus::Resolved);
    }
}

#[test]
fn a_charge_settled_on_two_nodes_goes_to_review() {
    let h = hospital();
    let p = patient(&h.w1, "王小明", "13800138000", None);
    let v = visit(&h.w1, p);
    let cashier = op("c1", DeskRole::Cashier);
    let charge =
        h.w1.create_charge(
            &cashier,
            NewCharge {
                visit: v.header.id,
                lines: vec![NewChargeLine {
                    catalog: CatalogKind::Service,
                    code: "SVC-CBC".into(),
                    quantity: 1,
                }],
                payment: PaymentMethod::SelfPay,
            },
        )
        .expect("charge")
        .value
        .header
        .id;
    copy_all(&h.w1, &h.w2);
    h.w1.settle_charge(&cashier, charge, Settlement::Paid)
        .expect("settle");
    h.w2.settle_charge(&op("c2", DeskRole::Cashier), charge, Settlement::Paid)
        .expect("settle");
    sync(&h.w1, &h.w2);
    let found = open(&h.w1);
    let kinds: Vec<ConflictKind> = found.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec![ConflictKind::DoubleSettlement], "{found:#?}");
    assert_eq!(found[0].id, format!("double-settlement:{charge}"));
    h.w2.resolve_conflict(&admin(), &found[0].id, Resolution::Confirm)
        .expect("confirm");
    sync(&h.w1, &h.w2);
    assert!(open(&h.w1).is_empty());
}

#[test]
fn the_worklist_after_an_emergency_lists_each_category_and_drains_to_zero() {
    let h = hospital();
    let range = h
        .central
        .lease_range(
            &admin(),
            Series::EmergencyRegistration,
            h.w1.node().clone(),
            100,
        )
        .expect("lease")
        .value;
    h.w1.accept_lease(&admin(), range).expect("accept");
    let p0 = patient(&h.w1, "张三", "13600136000", None);
    copy_all(&h.w1, &h.w2);
    assert!(h.w1.worklist().expect("worklist").is_empty());

    // Central goes down; both windows carry on in one episode.
    let episode = EpisodeId::new("YJ-20261125-01").expect("valid");
    for w in [&h.w1, &h.w2] {
        w.start_episode(&admin(), episode.clone(), "central down")
            .expect("start");
    }
    let p1 = patient(&h.w1, "王小明", "13800138000", Some(NID));
    let v1 = visit(&h.w1, p1);
    assert_eq!(
        v1.status_log.current::<VisitStatus>(),
        Ok(VisitStatus::Paused)
    );
    let rx = prescription(&h.w1, v1.header.id).header.id;
    let pharmacy = op("ph1", DeskRole::Pharmacy);
    h.w1.print_prescription(&pharmacy, rx).expect("print");
    let cashier = op("c1", DeskRole::Cashier);
    let charge =
        h.w1.create_charge(
            &cashier,
            NewCharge {
                visit: v1.header.id,
                lines: vec![NewChargeLine {
                    catalog: CatalogKind::Service,
                    code: "SVC-CBC".into(),
                    quantity: 1,
                }],
                payment: PaymentMethod::Insurance,
            },
        )
        .expect("charge")
        .value
        .header
        .id;
    h.w1.settle_charge(&cashier, charge, Settlement::InsuranceFailed)
        .expect("settle");
    let p2 = patient(&h.w2, "王小明", "13800138000", Some(NID));
    set_phone(&h.w1, "reg1", p0, "13611111111");
    set_phone(&h.w2, "reg2", p0, "13622222222");
    sync(&h.w1, &h.w2);

    let list = h.w1.worklist().expect("worklist");
    assert_eq!(list.len(), 5, "{list:#?}");
    for category in WorkCategory::ALL {
        assert_eq!(list.count(category), 1, "{category}: {list:#?}");
    }
    let rx_item = list
        .of(WorkCategory::DispenseEmergencyPrescription)
        .next()
        .expect("item");
    assert_eq!(rx_item.record, rx);
    assert_eq!(rx_item.central_acked, Some(false));
    assert_eq!(rx_item.episode.as_ref(), Some(&episode));
    assert_eq!(rx_item.patient_name.as_deref(), Some("王小明"));
    let visit_item = list
        .of(WorkCategory::RestorePausedVisit)
        .next()
        .expect("item");
    assert_eq!(visit_item.record, v1.header.id);
    let charge_item = list
        .of(WorkCategory::ResettleInsurance)
        .next()
        .expect("item");
    assert_eq!(charge_item.record, charge);
    assert_eq!(charge_item.due, Date::new(2026, 12, 4));
    assert!(!charge_item.overdue);
    let dup = list
        .of(WorkCategory::MergeDuplicatePatient)
        .next()
        .expect("item");
    assert_eq!(
        dup.conflict.as_deref(),
        Some(Target::pair(p1, p2).id().as_str())
    );
    let field = list
        .of(WorkCategory::ReviewConflict)
        .next()
        .expect("item")
        .clone();
    assert_eq!(field.record, p0);
    let json = serde_json::to_value(&list).expect("json");
    assert_eq!(
        json["items"][0]["category"],
        "dispense_emergency_prescription"
    );
    assert_eq!(json["counts"][4]["category"], "review_conflict");
    assert_eq!(json["counts"][4]["count"], 1);
    assert_eq!(json["items"][2]["due"], "2026-12-04");

    // Central is back: the episode ends, the records reach central and are acknowledged.
    for w in [&h.w1, &h.w2] {
        w.stop_episode(&admin()).expect("stop");
        copy_all(w, &h.central);
    }
    h.central
        .acknowledge_emergency_records(&admin())
        .expect("ack");
    copy_all(&h.central, &h.w1);
    let list = h.w1.worklist().expect("worklist");
    assert_eq!(list.len(), 5);
    assert_eq!(
        list.of(WorkCategory::DispenseEmergencyPrescription)
            .next()
            .and_then(|i| i.central_acked),
        Some(true)
    );

    // Each item clears through the normal operation.
    let steps: Vec<Box<dyn Fn()>> = vec![
        Box::new(|| {
            h.w1.dispense_prescription(&pharmacy, rx).expect("dispense");
        }),
        Box::new(|| {
            h.w1.resume_visit(&op("nurse1", DeskRole::Triage), v1.header.id)
                .expect("resume");
        }),
        Box::new(|| {
            h.w1.resettle_charge(&cashier, charge).expect("resettle");
        }),
        Box::new(|| {
            h.w1.merge_patients(&admin(), p1, p2).expect("merge");
        }),
        Box::new(|| {
            let id = field.conflict.as_deref().expect("conflict id");
            h.w1.resolve_conflict(&admin(), id, Resolution::ChooseValue(0))
                .expect("resolve");
        }),
    ];
    for (done, step) in steps.iter().enumerate() {
        step();
        let list = h.w1.worklist().expect("worklist");
        assert_eq!(list.len(), 4 - done, "after step {done}: {list:#?}");
        assert_eq!(list.count(WorkCategory::ALL[done]), 0);
    }
    let list = h.w1.worklist().expect("worklist");
    assert!(list.is_empty());
    assert!(list.counts.iter().all(|c| c.count == 0));

    // The decisions replicate: W02's worklist drains too once it has them.
    sync(&h.w1, &h.w2);
    copy_all(&h.central, &h.w2);
    let w2 = h.w2.worklist().expect("worklist");
    assert!(w2.is_empty(), "{w2:#?}");
}

#[test]
fn two_reviewers_deciding_concurrently_on_one_record_both_count() {
    let h = hospital();
    let p = patient(&h.w1, "王小明", "13800138000", None);
    copy_all(&h.w1, &h.w2);
    let edit = |store: &Store, who: &str, name: &str, phone: &str| {
        store
            .update_patient(
                &op(who, DeskRole::Registration),
                p,
                PatientEdit {
                    name: Some(name.into()),
                    phone: Some(phone.into()),
                    ..PatientEdit::default()
                },
            )
            .expect("update");
    };
    edit(&h.w1, "reg1", "王晓明", "13911111111");
    edit(&h.w2, "reg2", "王小鸣", "13922222222");
    sync(&h.w1, &h.w2);
    let phone = format!("field:{p}:phone");
    let name = format!("field:{p}:name");
    assert_eq!(open(&h.w1).len(), 2);
    // Each window's reviewer takes one field, before either sees the other's decision: both
    // create the record's `reviews` map.
    h.w1.resolve_conflict(&admin(), &phone, Resolution::ChooseValue(0))
        .expect("phone");
    h.w2.resolve_conflict(
        &op("info2", DeskRole::Admin),
        &name,
        Resolution::ChooseValue(1),
    )
    .expect("name");
    sync(&h.w1, &h.w2);
    for store in [&h.w1, &h.w2] {
        assert!(open(store).is_empty(), "{:#?}", open(store));
        assert_eq!(by_id(store, &phone).status, ConflictStatus::Resolved);
        let decided = by_id(store, &name);
        assert_eq!(decided.status, ConflictStatus::Resolved);
        assert_eq!(
            decided.decision.map(|d| d.operator.to_string()).as_deref(),
            Some("info2")
        );
    }
    let a = h.w1.get::<Patient>(p).expect("read").expect("present");
    let b = h.w2.get::<Patient>(p).expect("read").expect("present");
    assert_eq!(a, b);
}

#[test]
fn a_double_resettlement_is_a_field_conflict_resolved_by_choosing_one_stamp() {
    let h = hospital();
    let p = patient(&h.w1, "王小明", "13800138000", None);
    let v = visit(&h.w1, p);
    let cashier = op("c1", DeskRole::Cashier);
    let charge =
        h.w1.create_charge(
            &cashier,
            NewCharge {
                visit: v.header.id,
                lines: vec![NewChargeLine {
                    catalog: CatalogKind::Service,
                    code: "SVC-CBC".into(),
                    quantity: 1,
                }],
                payment: PaymentMethod::Insurance,
            },
        )
        .expect("charge")
        .value
        .header
        .id;
    h.w1.settle_charge(&cashier, charge, Settlement::InsuranceFailed)
        .expect("settle");
    copy_all(&h.w1, &h.w2);
    h.w1.resettle_charge(&cashier, charge).expect("resettle");
    h.w2.resettle_charge(&op("c2", DeskRole::Cashier), charge)
        .expect("resettle");
    sync(&h.w1, &h.w2);
    let found = open(&h.w1);
    assert_eq!(found.len(), 1, "{found:#?}");
    let c = &found[0];
    assert_eq!(c.field.as_deref(), Some("resettled"));
    let keep = c
        .values
        .iter()
        .find(|v| v.operator.as_deref() == Some("c2"))
        .expect("c2's stamp");
    assert!(keep.value.contains("\"operator\":\"c2\""), "{}", keep.value);
    h.w1.resolve_conflict(&admin(), &c.id, Resolution::ChooseValue(keep.index))
        .expect("resolve");
    sync(&h.w1, &h.w2);
    for store in [&h.w1, &h.w2] {
        assert!(open(store).is_empty());
        let charge = store
            .get::<crate::record::Charge>(charge)
            .expect("read")
            .expect("present");
        let stamp = charge.resettled.expect("resettled");
        assert_eq!(stamp.operator.as_str(), "c2");
        assert_eq!(stamp.node.as_str(), "W02");
    }
}
