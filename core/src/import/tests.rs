//! Rows from the HIS into records: upserts that write only what changed, the rows that are
//! skipped and why, merges and deletions followed, the HIS's records read-only outside an
//! episode, and the HIS's refusals on the worklist.

use super::*;
use crate::clock::Date;
use crate::desk::Opening;
use crate::id::OperatorName;
use crate::money::Fen;
use crate::record::{
    CatalogKind, Charge, Guardian, InsuranceType, Invoice, Patient, PaymentChannel, PaymentMethod,
    Prescription, Sex, Visit,
};
use crate::review::WorkCategory;
use crate::status::{ChargeStatus, PrescriptionStatus, VisitStatus};
use crate::store::PatientQuery;
use crate::test_support::{catalogs, registrar, temp_store};

/// 2026-11-25 08:00 in the hospital (UTC+8), an hour before the test clock.
pub(crate) const MORNING: UnixMs = 1_795_564_800_000;

pub(crate) fn bridge() -> Operator {
    Operator::new(
        OperatorName::new("his-bridge").expect("valid"),
        DeskRole::Admin,
    )
}

pub(crate) fn central() -> (tempfile::TempDir, Store, crate::clock::ManualClock) {
    let (dir, store, clock) = temp_store("central", NodeRole::Central);
    store
        .import_catalog(&bridge(), catalogs())
        .expect("catalogs");
    (dir, store, clock)
}

pub(crate) fn his_patient(his_id: &str, name: &str) -> HisPatient {
    HisPatient {
        his_id: his_id.into(),
        patient_no: format!("8{his_id}"),
        name: name.into(),
        sex: Sex::Female,
        birth_date: Date::new(2021, 3, 14).expect("date"),
        phone: "13912345678".into(),
        national_id: None,
        insurance: InsuranceType::Resident,
        guardian: Some(Guardian {
            name: "林建华".into(),
            relationship: Some("父亲".into()),
            phone: Some("13812345678".into()),
            national_id: None,
        }),
        created_ms: 1_420_070_400_000,
        deleted: false,
        merged_into: None,
        changed: None,
    }
}

/// HIS prescription `his_id` of registration `visit`: two bottles of DRG-0001, written a
/// minute after the morning's registrations.
pub(crate) fn his_prescription(
    his_id: &str,
    visit: &str,
    status: PrescriptionStatus,
) -> HisPrescription {
    HisPrescription {
        his_id: his_id.into(),
        visit_his_id: visit.into(),
        items: vec![HisPrescriptionItem {
            drug_code: "DRG-0001".into(),
            quantity: 2,
            dosage: "每次5ml tid 3天".into(),
        }],
        status,
        written_ms: MORNING + 60_000,
        updated_ms: MORNING + 60_000,
    }
}

pub(crate) fn his_visit(his_id: &str, patient: &str, status: VisitStatus) -> HisVisit {
    HisVisit {
        his_id: his_id.into(),
        patient_his_id: patient.into(),
        department: "PED-GEN".into(),
        doctor: Some("D0001".into()),
        fee: Fen(1000),
        registration_no: format!("20261125{his_id}"),
        status,
        registered_ms: MORNING,
        updated_ms: MORNING,
    }
}

fn one(store: &Store, q: PatientQuery) -> Vec<RecordId> {
    store.find_patients(&q).expect("search")
}

#[test]
fn patients_are_upserted_by_his_id_and_a_re_read_writes_nothing() {
    let (_d, store, _c) = central();
    let rows = vec![his_patient("P1", "林小雨"), his_patient("P2", "王子涵")];
    let first = store
        .import_his_patients(&bridge(), rows.clone())
        .expect("import");
    assert_eq!((first.created, first.updated, first.unchanged), (2, 0, 0));
    let feed = store.feed_head().expect("feed");
    let again = store.import_his_patients(&bridge(), rows).expect("again");
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2));
    assert_eq!(store.feed_head().expect("feed"), feed, "nothing written");

    let id = one(&store, PatientQuery::HisId("P1".into()))[0];
    let p: Patient = store.get(id).expect("read").expect("there");
    assert_eq!(p.his_id.as_deref(), Some("P1"));
    assert_eq!(p.guardian.as_ref().map(|g| g.name.as_str()), Some("林建华"));
    assert_eq!(p.header.created_ms, 1_420_070_400_000);
    assert_eq!(p.header.episode, None);
    assert_eq!(one(&store, PatientQuery::Number("8P1".into())), vec![id]);
    let born = PatientQuery::NameBorn {
        name: "林小雨".into(),
        birth_date: Date::new(2021, 3, 14).expect("date"),
    };
    assert_eq!(one(&store, born), vec![id]);

    let mut moved = his_patient("P1", "林小雨");
    moved.phone = "13700000000".into();
    let changed = store
        .import_his_patients(&bridge(), vec![moved])
        .expect("update");
    assert_eq!(changed.updated, 1);
    let p: Patient = store.get(id).expect("read").expect("there");
    assert_eq!(p.phone, "13700000000");
}

#[test]
fn bad_rows_are_skipped_with_their_key_and_the_rest_of_the_page_goes_in() {
    let (_d, store, _c) = central();
    let mut nameless = his_patient("P9", " ");
    nameless.name = "  ".into();
    let outcome = store
        .import_his_patients(&bridge(), vec![nameless, his_patient("P1", "林小雨")])
        .expect("import");
    assert_eq!(outcome.created, 1);
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].his_id, "P9");
    assert!(outcome.skipped[0].reason.contains("name"), "{outcome:?}");
    assert!(one(&store, PatientQuery::HisId("P9".into())).is_empty());
}

#[test]
fn merges_and_deletions_in_the_his_are_followed() {
    let (_d, store, _c) = central();
    let mut dup = his_patient("P2", "林小雨");
    dup.merged_into = Some("P1".into());
    let mut orphan = his_patient("P3", "张三");
    orphan.merged_into = Some("P404".into());
    let outcome = store
        .import_his_patients(&bridge(), vec![dup, his_patient("P1", "林小雨"), orphan])
        .expect("import");
    assert_eq!(outcome.created, 3);
    assert_eq!(outcome.skipped.len(), 1, "{outcome:?}");
    assert!(outcome.skipped[0].reason.contains("P404"));
    let survivor = one(&store, PatientQuery::HisId("P1".into()))[0];
    let merged = one(&store, PatientQuery::HisId("P2".into()))[0];
    let p: Patient = store.get(merged).expect("read").expect("there");
    assert_eq!(p.merged_into, Some(survivor));

    let mut gone = his_patient("P1", "林小雨");
    gone.deleted = true;
    store
        .import_his_patients(&bridge(), vec![gone])
        .expect("delete");
    assert_eq!(
        one(&store, PatientQuery::HisId("P1".into())),
        vec![survivor],
        "the bridge still finds it"
    );
    assert!(
        !one(&store, PatientQuery::Name("林小雨".into())).contains(&survivor),
        "desks no longer do"
    );
    assert_eq!(store.check_kept().expect("check"), Vec::<String>::new());
}

#[test]
fn only_the_information_department_pulls_and_only_on_servers() {
    let (_d, store, _c) = central();
    let err = store
        .import_his_patients(&registrar(), vec![his_patient("P1", "林小雨")])
        .expect_err("a desk may not");
    assert!(matches!(
        err,
        WriteError::Rule(RuleError::NotPermitted { .. })
    ));
    let (_w, window, _c) = temp_store("W01", NodeRole::Window);
    assert!(
        window
            .import_his_patients(&bridge(), vec![his_patient("P1", "林小雨")])
            .is_err()
    );
}

#[test]
fn todays_work_comes_in_and_moves_only_forward() {
    let (_d, store, _c) = central();
    store
        .import_his_patients(&bridge(), vec![his_patient("P1", "林小雨")])
        .expect("patients");
    let mut unknown = his_visit("R2", "P1", VisitStatus::Queued);
    unknown.department = "NOPE".into();
    let orphan = his_visit("R3", "P404", VisitStatus::Queued);
    let outcome = store
        .import_his_visits(
            &bridge(),
            vec![his_visit("R1", "P1", VisitStatus::Queued), unknown, orphan],
        )
        .expect("visits");
    assert_eq!(outcome.created, 1);
    let reasons: Vec<&str> = outcome.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert!(
        reasons[0].contains("NOPE") && reasons[1].contains("P404"),
        "{reasons:?}"
    );
    let queue = store.triage_queue().expect("queue");
    assert_eq!(queue.len(), 1, "the HIS's registration is in today's queue");
    assert_eq!(queue[0].registration_no, "20261125R1");

    let seen = store
        .import_his_visits(&bridge(), vec![his_visit("R1", "P1", VisitStatus::Seen)])
        .expect("seen");
    assert_eq!(seen.updated, 1);
    let back = store
        .import_his_visits(&bridge(), vec![his_visit("R1", "P1", VisitStatus::Queued)])
        .expect("queued again");
    assert_eq!(back.unchanged, 1, "a status never moves back");
    let visit: Visit = store
        .get(
            store
                .find_his(RecordKind::Visit, "R1")
                .expect("find")
                .expect("there"),
        )
        .expect("read")
        .expect("there");
    assert_eq!(
        visit.status_log.current::<VisitStatus>(),
        Ok(VisitStatus::Seen)
    );

    let rx = his_prescription("X1", "R1", PrescriptionStatus::Issued);
    let mut bad_rx = rx.clone();
    bad_rx.his_id = "X2".into();
    bad_rx.items[0].drug_code = "NOPE".into();
    let outcome = store
        .import_his_prescriptions(&bridge(), vec![rx, bad_rx])
        .expect("prescriptions");
    assert_eq!((outcome.created, outcome.skipped.len()), (1, 1));
    let rx_id = store
        .find_his(RecordKind::Prescription, "X1")
        .expect("find")
        .expect("there");
    let rx: Prescription = store.get(rx_id).expect("read").expect("there");
    assert_eq!(rx.items[0].unit_price, Fen(1280), "priced from the catalog");
    assert_eq!(rx.patient, visit.patient);
    assert_eq!(store.pharmacy_queue().expect("queue").len(), 1);

    let invoice = HisInvoice {
        his_id: "10000001".into(),
        number: 10_000_001,
        code: "033002600111".into(),
        total: Fen(1000),
        voided: false,
        issued_ms: MORNING,
        updated_ms: MORNING,
    };
    store
        .import_his_invoices(&bridge(), vec![invoice])
        .expect("invoices");
    let charge = HisCharge {
        his_id: "C1".into(),
        visit_his_id: "R1".into(),
        catalog: CatalogKind::Service,
        code: "SVC-CBC".into(),
        quantity: 1,
        amount: Fen(1000),
        status: ChargeStatus::Settled,
        channel: Some(PaymentChannel::InsuranceFund),
        invoice_his_id: Some("10000001".into()),
        charged_ms: MORNING,
        updated_ms: MORNING,
    };
    let mut negative = charge.clone();
    negative.his_id = "C2".into();
    negative.amount = Fen(-100);
    let outcome = store
        .import_his_charges(&bridge(), vec![charge.clone(), negative])
        .expect("charges");
    assert_eq!((outcome.created, outcome.skipped.len()), (1, 1));
    let charge_id = store
        .find_his(RecordKind::Charge, "C1")
        .expect("find")
        .expect("there");
    let c: Charge = store.get(charge_id).expect("read").expect("there");
    assert_eq!(
        c.status_log.current::<ChargeStatus>(),
        Ok(ChargeStatus::Settled)
    );
    assert!(c.invoice.is_some(), "covered by its invoice");
    assert_eq!(c.payment, Some(PaymentMethod::Insurance));
    assert_eq!(c.payments[0].channel, PaymentChannel::InsuranceFund);
    let inv: Invoice = store
        .get(
            store
                .find_his(RecordKind::Invoice, "10000001")
                .expect("find")
                .expect("there"),
        )
        .expect("read")
        .expect("there");
    assert_eq!(inv.charges, vec![charge_id]);
    let again = store
        .import_his_charges(&bridge(), vec![charge])
        .expect("again");
    assert_eq!(again.unchanged, 1);
}

#[test]
fn the_his_records_are_read_only_outside_an_episode() {
    let (_d, store, _c) = central();
    store
        .import_his_patients(&bridge(), vec![his_patient("P1", "林小雨")])
        .expect("patients");
    store
        .import_his_visits(&bridge(), vec![his_visit("R1", "P1", VisitStatus::Queued)])
        .expect("visits");
    let visit = store
        .find_his(RecordKind::Visit, "R1")
        .expect("find")
        .expect("there");
    let triage = Operator::new(OperatorName::new("nurse").expect("valid"), DeskRole::Triage);
    let err = store.call_visit(&triage, visit).expect_err("read-only");
    assert!(
        matches!(err, WriteError::Rule(RuleError::HisReadOnly { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("HIS"));
    store
        .open_episode(&bridge(), "the HIS is unreachable", Opening::Automatic)
        .expect("episode");
    store
        .call_visit(&triage, visit)
        .expect("during an episode the work goes on");
}

/// What a desk does in an outage to a record from the HIS goes back with the episode: the
/// first change in the episode notes it in the record, and every node holding the record
/// finds it among the records changed in that episode (not among those created in it).
#[test]
fn a_his_record_changed_in_an_episode_is_found_with_it() {
    let (_d, store, _c) = central();
    store
        .import_his_patients(&bridge(), vec![his_patient("P1", "林小雨")])
        .expect("patients");
    store
        .import_his_visits(
            &bridge(),
            vec![
                his_visit("R1", "P1", VisitStatus::Queued),
                his_visit("R2", "P1", VisitStatus::Queued),
            ],
        )
        .expect("visits");
    let find = |his: &str| {
        store
            .find_his(RecordKind::Visit, his)
            .expect("find")
            .expect("there")
    };
    let called = find("R1");
    let episode = store
        .open_episode(&bridge(), "the HIS is unreachable", Opening::Automatic)
        .expect("episode")
        .value;
    assert!(
        store
            .ids_edited_in_episode(&episode)
            .expect("read")
            .is_empty(),
        "opening an episode marks nothing"
    );
    let triage = Operator::new(OperatorName::new("nurse").expect("valid"), DeskRole::Triage);
    store.call_visit(&triage, called).expect("call");
    assert_eq!(
        store.ids_edited_in_episode(&episode).expect("read"),
        vec![called]
    );
    assert!(
        !store
            .ids_in_episode(&episode)
            .expect("read")
            .contains(&called),
        "it was not created in the episode"
    );
    // Another node holding the record finds it the same way.
    let (_d2, other, _) = temp_store("standby", NodeRole::Standby);
    crate::test_support::copy_all(&store, &other);
    assert_eq!(
        other.ids_edited_in_episode(&episode).expect("read"),
        vec![called]
    );
}

#[test]
fn a_refusal_by_the_his_is_on_the_worklist_until_cleared() {
    let (_d, store, _c) = central();
    store
        .open_episode(&bridge(), "the HIS is unreachable", Opening::Automatic)
        .expect("episode");
    let reg = registrar();
    let patient = store
        .create_patient(&reg, crate::test_support::new_patient("新病人"))
        .expect("patient")
        .value;
    let id = patient.header.id;
    let refusal = HisRejection {
        table: "yj_patient".into(),
        revision: 1,
        reason: "证件号码格式错误".into(),
        seen_ms: MORNING,
    };
    assert_eq!(
        store
            .set_his_rejections(&bridge(), vec![(id, Some(refusal.clone()))])
            .expect("mark"),
        1
    );
    assert_eq!(
        store
            .set_his_rejections(&bridge(), vec![(id, Some(refusal))])
            .expect("again"),
        0,
        "the same refusal is not written twice"
    );
    let list = store.worklist().expect("worklist");
    let items: Vec<_> = list.of(WorkCategory::FixHisRejection).collect();
    assert_eq!(items.len(), 1);
    assert!(
        items[0].what.contains("证件号码格式错误"),
        "{}",
        items[0].what
    );
    assert_eq!(items[0].record, id);
    // An open item of the index like any other after-work: counted, and kept in step.
    let counted = |store: &Store| {
        store
            .stats()
            .expect("stats")
            .worklist_by_category
            .into_iter()
            .find(|(c, _)| *c == WorkCategory::FixHisRejection)
            .map(|(_, n)| n)
    };
    assert_eq!(counted(&store), Some(1));
    assert_eq!(store.check_kept().expect("check"), Vec::<String>::new());
    store
        .set_his_rejections(&bridge(), vec![(id, None)])
        .expect("clear");
    assert_eq!(
        store
            .worklist()
            .expect("worklist")
            .count(WorkCategory::FixHisRejection),
        0
    );
    assert_eq!(counted(&store), Some(0));
    assert_eq!(store.check_kept().expect("check"), Vec::<String>::new());
}

#[test]
fn an_emergency_patient_already_in_the_his_master_is_a_duplicate_with_the_his_record_kept() {
    let (_d, store, _c) = central();
    let mut twin = his_patient("P2", "林小雨");
    twin.patient_no = "8P2".into();
    store
        .import_his_patients(&bridge(), vec![his_patient("P1", "林小雨"), twin])
        .expect("patients");
    assert!(
        store.conflicts().expect("conflicts").is_empty(),
        "two patients of the HIS master are the HIS's to merge"
    );
    store
        .open_episode(&bridge(), "the HIS is unreachable", Opening::Automatic)
        .expect("episode");
    let mut walk_in = crate::test_support::new_patient("林小雨");
    walk_in.birth_date = Date::new(2021, 3, 14).expect("date");
    walk_in.phone = "13912345678".into();
    let new = store
        .create_patient(&registrar(), walk_in)
        .expect("patient")
        .value;
    let conflicts = store.conflicts().expect("conflicts");
    let pairs: Vec<_> = conflicts
        .iter()
        .filter(|c| c.records.contains(&new.header.id))
        .collect();
    assert_eq!(pairs.len(), 2, "one with each HIS record: {conflicts:#?}");
    for c in pairs {
        let his_side = c
            .values
            .iter()
            .find(|v| v.record != new.header.id)
            .expect("the HIS candidate");
        assert!(
            his_side.value.contains("\"his_id\":\"P"),
            "{}",
            his_side.value
        );
        assert!(
            matches!(
                c.actions.first(),
                Some(crate::review::ReviewAction::MergePatients { duplicate, .. }) if *duplicate == new.header.id
            ),
            "the HIS's record is suggested as the one to keep: {:?}",
            c.actions
        );
    }
    assert_eq!(store.check_kept().expect("check"), Vec::<String>::new());

    // The HIS deletes one of them: it is no one's candidate any more.
    let mut gone = his_patient("P2", "林小雨");
    gone.patient_no = "8P2".into();
    gone.deleted = true;
    store
        .import_his_patients(&bridge(), vec![gone])
        .expect("delete");
    let open: Vec<_> = store
        .conflicts()
        .expect("conflicts")
        .into_iter()
        .filter(|c| c.status == crate::review::ConflictStatus::Open)
        .collect();
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(store.check_kept().expect("check"), Vec::<String>::new());
}

/// The bridge writes through the store's writer like a desk: its changes are signed with
/// the node's key as they first leave the node, and every peer takes them under the rules (copy_all refuses nothing):
/// central's pull, the standby's pull as primary, and a window's change to an HIS record
/// during an episode.
#[test]
fn what_the_bridge_writes_is_signed_and_every_peer_takes_it() {
    use crate::test_support::copy_all;

    let (_d, central, _c) = central();
    central
        .import_his_patients(
            &bridge(),
            vec![his_patient("P1", "林小雨"), his_patient("P2", "王子涵")],
        )
        .expect("patients");
    central
        .import_his_visits(&bridge(), vec![his_visit("R1", "P1", VisitStatus::Queued)])
        .expect("visits");
    assert!(
        central.unsigned_changes().expect("count") > 0,
        "signed when they first leave central, not in their commit"
    );

    let (_dw, w01, _cw) = temp_store("W01", NodeRole::Window);
    let (_ds, standby, _cs) = temp_store("standby", NodeRole::Standby);
    copy_all(&central, &w01);
    assert_eq!(central.unsigned_changes().expect("count"), 0);
    copy_all(&central, &standby);
    assert_eq!(
        one(&w01, PatientQuery::HisId("P2".into())).len(),
        1,
        "the HIS patient master is at the window"
    );
    let visit = w01
        .find_his(RecordKind::Visit, "R1")
        .expect("find")
        .expect("the HIS registration is at the window");

    // The standby, acting as primary, pulls a new registration: central takes it.
    standby
        .import_his_visits(&bridge(), vec![his_visit("R2", "P2", VisitStatus::Queued)])
        .expect("the standby's pull");
    copy_all(&standby, &central);
    assert_eq!(standby.unsigned_changes().expect("count"), 0);
    assert!(
        central
            .find_his(RecordKind::Visit, "R2")
            .expect("find")
            .is_some()
    );

    // During an episode the window's triage calls the HIS's registration: central takes it.
    w01.open_episode(&bridge(), "the HIS is unreachable", Opening::Automatic)
        .expect("episode");
    let triage = Operator::new(OperatorName::new("nurse").expect("valid"), DeskRole::Triage);
    w01.call_visit(&triage, visit).expect("called");
    copy_all(&w01, &central);
    let called: Visit = central.get(visit).expect("read").expect("there");
    assert_eq!(
        called.status_log.current::<VisitStatus>(),
        Ok(VisitStatus::Called)
    );
    assert_eq!(central.quarantine_len().expect("count"), 0);
}

/// The HIS pull's pages are writes of hundreds of records, made before any of them leaves
/// central: they wait unsigned, and are then signed in commits of at most
/// [`crate::trust::COMMIT_HASHES`], consecutive records sharing one (a batch of those records
/// carries a few small commits, not one of the whole pull), more than
/// [`crate::store::SIGN_PER_WRITE`] of them over several writes, and a peer takes them all.
#[test]
fn a_large_pull_is_signed_in_small_commits_over_several_writes() {
    let (_d, central, _c) = central();
    // What setting central up wrote (its catalogs) went out before the pull.
    central.sign_unsigned().expect("signed");
    let total = crate::store::SIGN_PER_WRITE + 300;
    let keys: Vec<String> = (0..total).map(|i| format!("P{i:05}")).collect();
    for page in keys.chunks(1000) {
        let page: Vec<HisPatient> = page
            .iter()
            .map(|k| his_patient(k, &format!("患者{k}")))
            .collect();
        central
            .import_his_patients(&bridge(), page)
            .expect("one page");
    }
    assert_eq!(central.unsigned_changes().expect("count"), total as u64);
    assert_eq!(central.sign_unsigned().expect("signed"), total);
    assert_eq!(central.unsigned_changes().expect("count"), 0);

    let mut commits = std::collections::BTreeSet::new();
    let mut ids = Vec::with_capacity(total);
    for k in &keys {
        let id = one(&central, PatientQuery::HisId(k.clone()))[0];
        ids.push(id);
        for c in central.record_commits(id).expect("read") {
            let commit = crate::trust::SignedCommit::decode(&c.bytes).expect("a signed commit");
            assert!(
                commit.hashes.len() <= crate::trust::COMMIT_HASHES,
                "{} hashes in one commit",
                commit.hashes.len()
            );
            commits.insert(c.id);
        }
    }
    assert_eq!(
        commits.len(),
        total.div_ceil(crate::trust::COMMIT_HASHES),
        "{total} records' changes in {} commits",
        commits.len()
    );

    let (_dw, w01, _cw) = temp_store("W01", NodeRole::Window);
    w01.admit_member(central.member().expect("central's key"))
        .expect("admit");
    let export = central.export(&ids).expect("export");
    assert_eq!(export.signatures.len(), commits.len());
    let out = w01
        .apply_remote(central.node(), export.changes, export.signatures)
        .expect("apply");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected.first());
    assert_eq!(out.applied.len(), total);
}
