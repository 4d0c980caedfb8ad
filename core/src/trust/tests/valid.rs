//! Validate before persist: a record that does not read as its kind is refused before
//! anything of it is written, so it never aborts a commit, never makes a peer resend its
//! batch for ever, and never reaches a reader.

use std::sync::atomic::{AtomicBool, Ordering};

use automerge::ROOT;
use automerge::transaction::Transactable;

use super::*;
use crate::desk::NewVisit;
use crate::test_support::{catalogs, new_patient};

/// Hole 5: only the header was checked before a record was persisted; a body that did not
/// hydrate failed indexing after the write, aborted the whole group commit (the desks' writes
/// in it answered "not saved"), and the peer resent the batch for ever.
#[test]
fn a_record_that_does_not_read_is_refused_and_the_rest_commits() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration, DeskRole::Triage]);
    central
        .store
        .import_catalog(&op("info1", DeskRole::Admin), catalogs())
        .expect("import");
    replicate(&central, &w01);
    replicate(&central, &w02);
    let reg = op("reg1", DeskRole::Registration);
    // W02 registers two visits; one of them it damages: a fee that is text, and a sex no
    // version knows on its patient.
    let p = w02
        .store
        .create_patient(&reg, new_patient("丙"))
        .expect("patient")
        .value;
    let visit = |store: &Store| {
        store
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
            .value
            .header
            .id
    };
    let good = visit(&w02.store);
    let bad = visit(&w02.store);
    let bad_doc = w02.store.doc(bad).expect("read").expect("the visit");
    let (damage, damage_hashes) =
        forge(&bad_doc, actor_of("W02"), |tx| tx.put(ROOT, "fee", "free"));
    let patient_doc = w02
        .store
        .doc(p.header.id)
        .expect("read")
        .expect("the patient");
    let (robot, robot_hashes) = forge(&patient_doc, actor_of("W02"), |tx| {
        tx.put(ROOT, "sex", "robot")
    });
    let export = w02.store.export(&[good, bad, p.header.id]).expect("export");
    let mut signatures = export.signatures;
    signatures.extend(signed(w02.key(), damage_hashes));
    signatures.extend(signed(w02.key(), robot_hashes));
    let mut items = export.changes;
    for item in &mut items {
        if item.id == bad {
            item.bytes = [item.bytes.clone(), damage.clone()].concat();
        }
        if item.id == p.header.id {
            item.bytes = [item.bytes.clone(), robot.clone()].concat();
        }
    }
    // Desks keep writing on W01 while the batch applies: none of them hears "not saved".
    let writing = AtomicBool::new(true);
    let out = std::thread::scope(|s| {
        let desk = s.spawn(|| {
            let mut saved = 0;
            while writing.load(Ordering::Relaxed) || saved < 20 {
                w01.store
                    .create_patient(&reg, new_patient("丁"))
                    .expect("a desk's write in the same commits is saved");
                saved += 1;
            }
            saved
        });
        let out = w01
            .store
            .apply_remote(w02.name(), items, signatures)
            .expect("the batch applies: a bad record is not an error");
        writing.store(false, Ordering::Relaxed);
        assert!(desk.join().expect("the desk thread") >= 20);
        out
    });
    let codes: Vec<(RecordId, &str)> = out
        .rejected
        .iter()
        .map(|r| (r.id, r.reason.code()))
        .collect();
    assert_eq!(
        codes,
        vec![(bad, "invalid"), (p.header.id, "invalid")],
        "{out:?}"
    );
    assert!(
        out.rejected[0]
            .reason
            .detail()
            .contains("does not read as a visit"),
        "{out:?}"
    );
    assert_eq!(out.applied, vec![good]);
    assert!(w01.store.doc(bad).expect("read").is_none());
    // Kept in the quarantine as it came, for the information department.
    let kept = w01.store.quarantined(0, 100).expect("quarantine");
    let entry = kept
        .iter()
        .find(|q| q.record == bad)
        .expect("the bad visit");
    assert_eq!(entry.code, "invalid");
    assert_eq!(entry.peer, *w02.name());
    assert!(entry.bytes_len > damage.len());
    // The triage queue answers (the good visit is registered, not queued: empty, no error).
    w01.store.triage_queue().expect("the triage queue answers");
}

/// Hole 5: a bad visit that got stored made the triage queue answer 500 on every node. A visit
/// whose patient is another kind of record reads as a visit, so it is kept; the queue shows it
/// without a name, and answers for everyone else.
#[test]
fn a_visit_for_a_record_that_is_no_patient_does_not_stop_the_triage_queue() {
    use crate::record::{CatalogKind, Header, RecordKind, Visit, catalog_id};
    use crate::status::{Stamp, StatusLog, VisitStatus};

    let (central, w01, w02) = hospital(&[DeskRole::Registration, DeskRole::Triage]);
    central
        .store
        .import_catalog(&op("info1", DeskRole::Admin), catalogs())
        .expect("import");
    replicate(&central, &w01);
    let reg = op("reg1", DeskRole::Registration);
    let p = w01
        .store
        .create_patient(&reg, new_patient("戊"))
        .expect("patient")
        .value;
    let honest = w01
        .store
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
        .value
        .header
        .id;
    let now = w01.store.now_ms();
    let stamp = Stamp {
        at_ms: now,
        node: w02.name().clone(),
        operator: crate::id::OperatorName::new("reg2").expect("valid"),
    };
    let mut log = StatusLog::starting(VisitStatus::Registered, stamp.clone());
    log.0.insert("queued".into(), stamp);
    let odd = Visit {
        header: Header {
            id: RecordId::generate_at(now),
            kind: RecordKind::Visit,
            origin: w02.name().clone(),
            operator: crate::id::OperatorName::new("reg2").expect("valid"),
            created_ms: now,
            episode: None,
            paper: None,
        },
        patient: catalog_id(CatalogKind::Drug),
        department: "PED-GEN".into(),
        doctor: None,
        fee: crate::money::Fen(0),
        fee_charge: None,
        registration_no: "X1".into(),
        his_id: None,
        status_log: log,
    };
    let mut doc = Automerge::new().with_actor(actor_of("W02"));
    doc.transact(|tx| autosurgeon::reconcile(tx, &odd))
        .expect("build");
    let hashes = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let out = send(
        &w01.store,
        w02.name(),
        odd.header.id,
        doc.save(),
        signed(w02.key(), hashes),
    );
    assert_eq!(out.applied, vec![odd.header.id], "{out:?}");
    let queue = w01.store.triage_queue().expect("the triage queue answers");
    let ids: Vec<RecordId> = queue.iter().map(|e| e.visit).collect();
    assert!(
        ids.contains(&honest) && ids.contains(&odd.header.id),
        "{ids:?}"
    );
}
