//! One HIS patient pulled by two bridges: central and the standby acting as primary, while
//! they could not see each other (found by the simulator's HIS master, seed 2 of its first
//! sweep). The two records are a duplicate on the review, whatever else differs, and once
//! merged the next pull updates the one kept.

use super::tests::{MORNING, bridge, central, his_patient, his_prescription, his_visit};
use super::{HisCharge, HisPatient};
use crate::desk::Opening;
use crate::desk::Settlement;
use crate::id::OperatorName;
use crate::money::Fen;
use crate::record::{CatalogKind, Patient, RecordKind};
use crate::review::{ConflictKind, ConflictStatus, ReviewAction};
use crate::roles::NodeRole;
use crate::roles::{DeskRole, Operator};
use crate::status::{ChargeStatus, PrescriptionStatus, VisitStatus};
use crate::store::{PatientQuery, Store};
use crate::test_support::{copy_all, temp_store};
use tempfile::TempDir;

/// Central pulls `first` from the HIS and the standby takes it; then, split apart, each
/// pulls as `pull` says, and central takes what the standby pulled. Returns central (and
/// the directories to keep).
fn both_servers_pulled(first: Vec<HisPatient>, pull: impl Fn(&Store)) -> (TempDir, TempDir, Store) {
    let (d, central, _c) = central();
    let (ds, standby, _cs) = temp_store("standby", NodeRole::Standby);
    central
        .import_his_patients(&bridge(), first)
        .expect("pulled before the split");
    copy_all(&central, &standby);
    for store in [&central, &standby] {
        pull(store);
    }
    copy_all(&standby, &central);
    (d, ds, central)
}

#[test]
fn a_his_patient_pulled_by_both_servers_is_a_duplicate_and_the_next_pull_updates_the_one_kept() {
    let (_d, central, _c) = central();
    let (_ds, standby, _cs) = temp_store("standby", NodeRole::Standby);
    // Split: central pulls the row; the HIS then changes the phone, and the standby (primary
    // on its side) pulls the row as it is now.
    central
        .import_his_patients(&bridge(), vec![his_patient("P1", "林小雨")])
        .expect("central's pull");
    let mut changed = his_patient("P1", "林小雨");
    changed.phone = "13700000001".into();
    standby
        .import_his_patients(&bridge(), vec![changed])
        .expect("the standby's pull");
    // Healed.
    copy_all(&standby, &central);
    copy_all(&central, &standby);

    let twins = central
        .find_patients(&PatientQuery::HisId("P1".into()))
        .expect("search");
    assert_eq!(twins.len(), 2, "one HIS row, two records: {twins:?}");
    let open: Vec<_> = central
        .conflicts()
        .expect("conflicts")
        .into_iter()
        .filter(|c| c.status == ConflictStatus::Open && c.kind == ConflictKind::DuplicatePatient)
        .collect();
    assert_eq!(open.len(), 1, "the pair is on the review: {open:#?}");
    let evidence = open[0].duplicate.as_ref().expect("evidence");
    let keys: Vec<&str> = evidence.matched.iter().map(|m| m.key).collect();
    assert_eq!(
        keys,
        vec!["his_id"],
        "found by the HIS id alone (the phones differ)"
    );
    assert_eq!(standby.conflicts().expect("conflicts").len(), 1);
    assert_eq!(central.check_kept().expect("check"), Vec::<String>::new());

    // The information department merges as suggested: the pair is settled everywhere.
    let Some(ReviewAction::MergePatients {
        survivor,
        duplicate,
    }) = open[0].actions.first().cloned()
    else {
        panic!("a merge is offered: {:?}", open[0].actions);
    };
    central
        .merge_patients(&bridge(), duplicate, survivor)
        .expect("merge");
    copy_all(&central, &standby);
    for store in [&central, &standby] {
        assert!(
            store
                .conflicts()
                .expect("conflicts")
                .iter()
                .all(|c| c.status != ConflictStatus::Open),
            "merged"
        );
        assert_eq!(store.check_kept().expect("check"), Vec::<String>::new());
    }

    // The HIS changes the phone again: the pull writes it on the patient kept (here the one
    // the reviewer kept, though it was not the suggestion), not the one merged away.
    let mut again = his_patient("P1", "林小雨");
    again.phone = "13700000002".into();
    central
        .import_his_patients(&bridge(), vec![again])
        .expect("the next pull");
    let kept: Patient = central.get(duplicate).expect("read").expect("there");
    assert_eq!(kept.merged_into, None);
    assert_eq!(kept.phone, "13700000002");
    let merged: Patient = central.get(survivor).expect("read").expect("there");
    assert_eq!(merged.merged_into, Some(duplicate));
}

/// The HIS's later changes of a patient both servers pulled reach both records while no one
/// has merged the pair: a deletion marks both (neither is then anyone's candidate, nor found
/// by a search), a merge points both at the survivor (found by the simulator once the HIS
/// merged and deleted patients: the second record stayed live, undeleted).
#[test]
fn the_his_s_deletion_or_merge_of_a_patient_pulled_twice_reaches_both_records() {
    let (_d, _ds, central) = both_servers_pulled(vec![his_patient("P9", "王子涵")], |store| {
        store
            .import_his_patients(
                &bridge(),
                vec![his_patient("P1", "林小雨"), his_patient("P2", "林小雨")],
            )
            .expect("both pull");
    });
    let twins = |his: &str| -> Vec<Patient> {
        central
            .find_patients(&PatientQuery::HisId(his.into()))
            .expect("search")
            .into_iter()
            .map(|id| central.get(id).expect("read").expect("there"))
            .collect()
    };
    assert_eq!(twins("P1").len(), 2);

    let mut deleted = his_patient("P1", "林小雨");
    deleted.deleted = true;
    let mut merged = his_patient("P2", "林小雨");
    merged.merged_into = Some("P9".into());
    central
        .import_his_patients(&bridge(), vec![deleted, merged])
        .expect("the next pull");
    assert!(
        twins("P1").iter().all(|p| p.his_deleted),
        "{:#?}",
        twins("P1")
    );
    let survivor = central
        .find_patients(&PatientQuery::HisId("P9".into()))
        .expect("search");
    assert!(
        twins("P2")
            .iter()
            .all(|p| p.merged_into.is_some() && p.merged_into == survivor.first().copied()),
        "{:#?}",
        twins("P2")
    );
    assert!(
        central
            .conflicts()
            .expect("conflicts")
            .iter()
            .all(|c| c.status != ConflictStatus::Open),
        "nothing left to review"
    );
    assert_eq!(central.check_kept().expect("check"), Vec::<String>::new());
}

/// A registration and its prescription both servers pulled while split apart are two records
/// each. The HIS's later changes (the doctor saw the child, the pharmacy dispensed) reach both,
/// so that neither twin waits in the triage queue or at the pharmacy for what the HIS has
/// done (a second dispensing of a prescription the HIS dispensed).
#[test]
fn the_his_s_later_changes_of_todays_work_pulled_twice_reach_both_records() {
    let rx = |status| his_prescription("X1", "R1", status);
    let (_d, _ds, central) = both_servers_pulled(vec![his_patient("P1", "林小雨")], |store| {
        store
            .import_his_visits(&bridge(), vec![his_visit("R1", "P1", VisitStatus::Queued)])
            .expect("both pull the registration");
        store
            .import_his_prescriptions(&bridge(), vec![rx(PrescriptionStatus::Issued)])
            .expect("and its prescription");
    });
    assert_eq!(
        central
            .his_twins(RecordKind::Visit, "R1")
            .expect("read")
            .len(),
        2,
        "twins"
    );
    assert_eq!(
        central.triage_queue().expect("queue").len(),
        1,
        "listed once"
    );
    assert_eq!(
        central.pharmacy_queue().expect("queue").len(),
        1,
        "listed once"
    );

    central
        .import_his_visits(&bridge(), vec![his_visit("R1", "P1", VisitStatus::Seen)])
        .expect("seen in the HIS");
    central
        .import_his_prescriptions(&bridge(), vec![rx(PrescriptionStatus::Dispensed)])
        .expect("dispensed in the HIS");
    assert_eq!(
        central.triage_queue().expect("queue"),
        Vec::new(),
        "no twin left waiting"
    );
    assert_eq!(
        central.pharmacy_queue().expect("queue"),
        Vec::new(),
        "no twin left to dispense"
    );
    assert_eq!(central.check_kept().expect("check"), Vec::<String>::new());
}

/// Twins of a registration and its prescription, in an outage (the HIS away, the desks write
/// on): the nurse calls the child once and the pharmacy hands the drugs out once. The queues
/// list each HIS row once, the twin whose status went furthest; once it has left the queue,
/// its twin is not listed either (before, the twin still waited: a second dispensing).
#[test]
fn twins_of_his_work_are_listed_once_and_the_work_done_on_one_leaves_no_twin_waiting() {
    let his_charge = |his: &str, visit: &str| HisCharge {
        his_id: his.into(),
        visit_his_id: visit.into(),
        catalog: CatalogKind::Service,
        code: "SVC-CBC".into(),
        quantity: 1,
        amount: Fen(1000),
        status: ChargeStatus::Pending,
        channel: None,
        invoice_his_id: None,
        charged_ms: MORNING,
        updated_ms: MORNING,
    };
    let (_d, _ds, central) = both_servers_pulled(vec![his_patient("P1", "林小雨")], |store| {
        store
            .import_his_visits(&bridge(), vec![his_visit("R1", "P1", VisitStatus::Queued)])
            .expect("both pull the registration");
        store
            .import_his_prescriptions(
                &bridge(),
                vec![his_prescription("X1", "R1", PrescriptionStatus::Issued)],
            )
            .expect("and its prescription");
        store
            .import_his_charges(&bridge(), vec![his_charge("C1", "R1")])
            .expect("and its charge");
    });
    central
        .open_episode(&bridge(), "the HIS is unreachable", Opening::Automatic)
        .expect("an outage");

    // The cashier takes the fee of the twin listed; the other is not listed to be paid again.
    let patient = central
        .find_his(RecordKind::Patient, "P1")
        .expect("find")
        .expect("the patient");
    let charges = central.patient_charges(patient).expect("charges");
    assert_eq!(charges.len(), 1, "{charges:?}");
    let cashier = Operator::new(
        OperatorName::new("cashier").expect("valid"),
        DeskRole::Cashier,
    );
    central
        .settle_charge(&cashier, charges[0].header.id, Settlement::Paid)
        .expect("paid");
    let charges = central.patient_charges(patient).expect("charges");
    let settled: Vec<_> = charges
        .iter()
        .map(|c| c.status_log.current::<ChargeStatus>())
        .collect();
    assert_eq!(settled, [Ok(ChargeStatus::Settled)], "{charges:?}");

    // The nurse calls the twin listed; it stays listed (called), and alone.
    let queue = central.triage_queue().expect("queue");
    assert_eq!(queue.len(), 1, "{queue:?}");
    let nurse = Operator::new(OperatorName::new("nurse").expect("valid"), DeskRole::Triage);
    let twins = central.his_twins(RecordKind::Visit, "R1").expect("read");
    let other = twins.iter().find(|&&id| id != queue[0].visit).copied();
    let other = other.expect("its twin");
    central.call_visit(&nurse, other).expect("called");
    let queue = central.triage_queue().expect("queue");
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(
        (queue[0].visit, queue[0].status),
        (other, VisitStatus::Called)
    );

    // The pharmacist dispenses the twin listed: neither waits any more.
    let queue = central.pharmacy_queue().expect("queue");
    assert_eq!(queue.len(), 1, "{queue:?}");
    let pharmacist = Operator::new(
        OperatorName::new("pharmacist").expect("valid"),
        DeskRole::Pharmacy,
    );
    central
        .dispense_prescription(&pharmacist, queue[0].prescription)
        .expect("dispensed");
    assert_eq!(
        central.pharmacy_queue().expect("queue"),
        Vec::new(),
        "the twin must not wait to be dispensed again"
    );
    assert_eq!(
        central
            .his_twins(RecordKind::Prescription, "X1")
            .expect("read")
            .len(),
        2,
        "both records are kept"
    );
}
