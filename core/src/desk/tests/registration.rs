//! Registration and triage: patients, visits, statuses that only move forward (also when
//! two nodes move one concurrently), and the audit chain behind every change.

use super::*;
use crate::id::RecordId;

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

/// "儿童医院门诊信息系统应急预案" (the plan is a children's hospital's): a child is registered
/// with a guardian (name, relationship, phone, identity number); an infant without an
/// identity number is found by the guardian's phone and the birth date; the age shows in
/// years and months under 3 years, wherever the patient is listed.
#[test]
fn a_child_carries_a_guardian_and_is_found_by_the_guardian_s_phone_and_birth_date() {
    use crate::record::Guardian;
    use crate::store::PatientQuery;
    let (_d, store, _) = window();
    let reg = op("reg1", DeskRole::Registration);
    let guardian = Guardian {
        name: " 王建华 ".into(),
        relationship: Some("父亲".into()),
        phone: Some("139-0013-9000".into()),
        national_id: Some("11010519491231002x".into()),
    };
    let infant = NewPatient {
        birth_date: Date::new(2026, 5, 20).expect("valid"),
        guardian: Some(guardian),
        ..new_patient("王小宝")
    };
    let saved = store.create_patient(&reg, infant.clone()).expect("patient");
    assert!(saved.warnings.is_empty(), "{:?}", saved.warnings);
    let p = saved.value;
    let g = p.guardian.clone().expect("the guardian is kept");
    assert_eq!(g.name, "王建华");
    assert_eq!(g.national_id.as_deref(), Some("11010519491231002X"));
    let found = store
        .find_patients(&PatientQuery::GuardianPhone {
            phone: "13900139000".into(),
            birth_date: Date::new(2026, 5, 20).expect("valid"),
        })
        .expect("search");
    assert_eq!(found, vec![p.header.id]);
    let other_day = store
        .find_patients(&PatientQuery::GuardianPhone {
            phone: "13900139000".into(),
            birth_date: Date::new(2026, 5, 21).expect("valid"),
        })
        .expect("search");
    assert!(other_day.is_empty());
    // Today is 2026-11-25: six months old.
    let age = store.age_today(p.birth_date).expect("age");
    assert_eq!((age.years, age.months, age.text.as_str()), (0, 6, "6个月"));
    let v = store
        .register_visit(&reg, paediatrics(p.header.id))
        .expect("visit")
        .value;
    let queue = store.triage_queue().expect("queue");
    let line = queue
        .iter()
        .find(|e| e.visit == v.header.id)
        .expect("queued");
    assert_eq!(
        line.patient_age.as_ref().map(|a| a.text.as_str()),
        Some("6个月")
    );
    // A bad guardian phone is refused naming the guardian's field, nothing written.
    let bad = NewPatient {
        guardian: Some(Guardian {
            name: "李".into(),
            relationship: None,
            phone: Some("call me".into()),
            national_id: None,
        }),
        ..new_patient("李小宝")
    };
    let err = rule(store.create_patient(&reg, bad).unwrap_err());
    assert!(
        matches!(&err, RuleError::Invalid { field, .. } if field == "guardian.phone"),
        "{err}"
    );
    // A child with neither an identity number nor a guardian is saved, with a warning.
    let alone = store
        .create_patient(&reg, new_patient("赵小宝"))
        .expect("patient");
    assert_eq!(alone.warnings, vec![Warning::NoGuardian]);
    // The guardian can be added later; the child is then found by it.
    store
        .update_patient(
            &reg,
            alone.value.header.id,
            PatientEdit {
                guardian: Some(Guardian {
                    name: "赵母".into(),
                    relationship: Some("母亲".into()),
                    phone: Some("13700137000".into()),
                    national_id: None,
                }),
                ..PatientEdit::default()
            },
        )
        .expect("edit");
    let found = store
        .find_patients(&PatientQuery::GuardianPhone {
            phone: "13700137000".into(),
            birth_date: alone.value.birth_date,
        })
        .expect("search");
    assert_eq!(found, vec![alone.value.header.id]);
}

#[test]
fn the_triage_queue_follows_every_move_wherever_it_was_made() {
    let (_d, store, clock) = window();
    let (_d2, other, _) = window_named("W02");
    let (p, seen_elsewhere) = registered(&store);
    let reg = op("reg1", DeskRole::Registration);
    let waiting = store
        .register_visit(
            &reg,
            NewVisit {
                patient: p.header.id,
                department: "PED-GEN".into(),
                doctor: None,
                expert: false,
                payment: None,
                occurred_at: None,
            },
        )
        .expect("visit")
        .value;
    let visits = |s: &Store| -> Vec<(RecordId, VisitStatus, String)> {
        s.triage_queue()
            .expect("queue")
            .into_iter()
            .map(|e| (e.visit, e.status, e.patient_name))
            .collect()
    };
    assert_eq!(visits(&store).len(), 2);
    // The patient's name is read as it is now, not as it was at registration.
    store
        .update_patient(
            &reg,
            p.header.id,
            crate::desk::PatientEdit {
                name: Some("王晓明".into()),
                ..Default::default()
            },
        )
        .expect("rename");
    assert!(visits(&store).iter().all(|(_, _, name)| name == "王晓明"));
    // A doctor on another window sees one patient; the move arrives by replication.
    copy_all(&store, &other);
    other
        .see_visit(&op("dr1", DeskRole::Doctor), seen_elsewhere.header.id)
        .expect("seen");
    copy_all(&other, &store);
    store
        .call_visit(&op("nurse1", DeskRole::Triage), waiting.header.id)
        .expect("call");
    assert_eq!(
        visits(&store),
        vec![(waiting.header.id, VisitStatus::Called, "王晓明".to_owned())]
    );
    assert_eq!(store.check_kept().expect("check"), Vec::<String>::new());
    // Tomorrow's queue starts empty: a visit left waiting yesterday is not in it.
    clock.advance_ms(86_400_000);
    assert!(visits(&store).is_empty());
}

/// A patient a peer sends is indexed as the replica rules read it from the document being
/// saved (the store does not read it again): found by the name it was sent with, then by the
/// name a later edit gave it, and no longer by the first.
#[test]
fn a_patient_a_peer_sends_is_found_as_the_peer_last_wrote_it() {
    use crate::desk::PatientEdit;
    use crate::store::PatientQuery;
    let (_d, w01, _) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let reg = op("reg1", DeskRole::Registration);
    let p = w01
        .create_patient(&reg, new_patient("李小明"))
        .expect("patient")
        .value;
    copy_all(&w01, &central);
    let by_name = |name: &str| {
        central
            .find_patients(&PatientQuery::Name(name.into()))
            .expect("search")
    };
    assert_eq!(by_name("李小明"), vec![p.header.id]);
    w01.update_patient(
        &reg,
        p.header.id,
        PatientEdit {
            name: Some("王小红".into()),
            ..PatientEdit::default()
        },
    )
    .expect("renamed");
    copy_all(&w01, &central);
    assert_eq!(by_name("王小红"), vec![p.header.id]);
    assert!(by_name("李小明").is_empty());
}
