//! Emergency mode: paused "YJ" registrations numbered from the lease, prescriptions on hold
//! until central acknowledges them, and episodes opened apart that merge.

use super::*;
use crate::record::{Receipt, RecordKind};

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
        payment: None,
        occurred_at: None,
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

/// "应急系统下 … 不能发药,但是可以打印处方,发药界面左边病人姓名时呈现红色字体" and "药房把有
/// 应急标志的已收费处方进行发药": an emergency prescription is printed, not dispensed in the
/// system, until central has it; then the paid one is dispensed.
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
                payment: None,
                occurred_at: None,
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

    // Central acknowledges the records in the commit that receives them, with one receipt
    // naming them all and no change to any of them; nothing is left for its housekeeping; the
    // receipt comes back.
    let (_cd, central, _) = temp_store("central", NodeRole::Central);
    copy_all(&store, &central);
    assert!(central.unreconciled().expect("index").is_empty());
    let emergency = store.unreconciled().expect("index");
    assert!(emergency.contains(&rx.header.id), "{emergency:?}");
    let receipts = central.ids_of_kind(RecordKind::Receipt).expect("index");
    assert_eq!(receipts.len(), 1, "one receipt for the batch");
    let receipt: Receipt = central.get(receipts[0]).expect("read").expect("held");
    assert_eq!(receipt.records, emergency);
    assert_eq!(receipt.header.episode, None);
    for id in &emergency {
        let heads = |s: &Store| s.doc(*id).expect("read").expect("held").get_heads();
        assert_eq!(heads(&central), heads(&store), "central changed {id}");
    }
    let acked = central
        .acknowledge_emergency_records(&admin())
        .expect("ack")
        .value;
    assert_eq!(acked, 0, "everything was acknowledged on receipt");
    copy_all(&central, &store);
    assert!(store.unreconciled().expect("index").is_empty());
    let err = rule(
        store
            .dispense_prescription(&pharmacy, rx.header.id)
            .unwrap_err(),
    );
    assert!(matches!(err, RuleError::NotPaid { .. }), "{err}");
    store
        .settle_charge(
            &op("c1", DeskRole::Cashier),
            rx.charge.expect("charge"),
            Settlement::Paid,
        )
        .expect("settle");
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

/// A receipt can reach a node before the records it names (relayed apart, or the records
/// pruned and fetched again): they are reconciled when they come, and the kept indexes agree
/// with a full scan throughout.
#[test]
fn a_receipt_before_its_records_reconciles_them_when_they_come() {
    let (_d, w01, _) = window();
    lease(&w01, Series::EmergencyRegistration, 10);
    w01.start_episode(&admin(), EpisodeId::new("YJ-1").expect("valid"), "outage")
        .expect("start");
    let (_p, v) = registered(&w01);
    let emergency = w01.unreconciled().expect("index");
    assert!(emergency.contains(&v.header.id), "{emergency:?}");
    let (_cd, central, _) = temp_store("central", NodeRole::Central);
    copy_all(&w01, &central);
    let receipts = central.ids_of_kind(RecordKind::Receipt).expect("index");
    assert_eq!(receipts.len(), 1);

    // W02 is sent the receipt alone: it names records W02 does not hold.
    let (_d2, w02, _) = window_named("W02");
    for member in central.roster().members() {
        w02.admit_member(member.clone()).expect("admit");
    }
    let export = central.export(&receipts).expect("export");
    let out = w02
        .apply_remote(central.node(), export.changes, export.signatures)
        .expect("apply");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    assert!(w02.central_acked(v.header.id).expect("read"));
    assert!(w02.unreconciled().expect("index").is_empty());
    assert_eq!(w02.check_kept().expect("check"), Vec::<String>::new());
    // The records come later: none of them waits for central.
    copy_all(&w01, &w02);
    assert!(w02.doc(v.header.id).expect("read").is_some());
    assert!(w02.unreconciled().expect("index").is_empty());
    // The window that wrote them waits until the receipt comes.
    assert_eq!(w01.unreconciled().expect("index"), emergency);
    copy_all(&central, &w01);
    assert!(w01.unreconciled().expect("index").is_empty());
    for store in [&w01, &w02, &central] {
        assert_eq!(store.check_kept().expect("check"), Vec::<String>::new());
    }
}

#[test]
fn episodes_opened_apart_merge_into_the_earliest_and_close_with_a_grade() {
    let TwoEpisodes {
        _dirs,
        a,
        clock_a,
        b,
        clock_b,
        first,
        second,
    } = two_windows_in_episodes_of_their_own();
    let system = admin();
    assert_ne!(first, second);
    // Joining is idempotent.
    assert_eq!(
        a.open_episode(&system, "again", Opening::Automatic)
            .expect("open")
            .value,
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

/// Central declares an emergency and the window follows; then central's store is replaced
/// (restored from before the declaration): central is in no episode, the window still is,
/// and a declared episode ends only by hand. The department's stop at central must still
/// close it for every node (the simulator's seed 23: the windows stayed in it for ever).
#[test]
fn a_declared_emergency_is_stopped_from_a_server_no_longer_in_it() {
    let (_w, w01, _) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let declared = central
        .open_episode(&admin(), "计划维护", Opening::Declared)
        .expect("declare")
        .value;
    copy_all(&central, &w01);
    w01.open_episode(
        &admin(),
        "central is in an emergency episode",
        Opening::Automatic,
    )
    .expect("follow");
    assert_eq!(w01.episode().expect("read"), Some(declared.clone()));
    let (_r, restored, _) = temp_store("central", NodeRole::Central);
    copy_all(&w01, &restored);
    assert_eq!(restored.episode().expect("read"), None);
    let stopped = restored
        .leave_episode(&admin(), LeaveScope::HospitalWide)
        .expect("stop")
        .value;
    assert_eq!(stopped, Some(declared.clone()));
    copy_all(&restored, &w01);
    w01.reconcile_episodes(&admin()).expect("reconcile");
    let (summary, _) = w01.episode_by_id(&declared).expect("read").expect("held");
    assert!(!summary.open, "{summary:?}");
    assert_eq!(
        w01.episode().expect("read"),
        None,
        "the window's outage ended"
    );
    assert_eq!(
        restored
            .leave_episode(&admin(), LeaveScope::ThisNode)
            .expect("leave")
            .value,
        None,
        "a node in no episode has nothing of its own to leave"
    );
}
