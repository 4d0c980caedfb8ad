//! One HIS patient pulled by two bridges: central and the standby acting as primary, while
//! they could not see each other (found by the simulator's HIS master, seed 2 of its first
//! sweep). The two records are a duplicate on the review, whatever else differs, and once
//! merged the next pull updates the one kept.

use super::tests::{bridge, central, his_patient, his_prescription, his_visit};
use crate::record::Patient;
use crate::review::{ConflictKind, ConflictStatus, ReviewAction};
use crate::roles::NodeRole;
use crate::status::{PrescriptionStatus, VisitStatus};
use crate::store::PatientQuery;
use crate::test_support::{copy_all, temp_store};

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
    let (_d, central, _c) = central();
    let (_ds, standby, _cs) = temp_store("standby", NodeRole::Standby);
    central
        .import_his_patients(&bridge(), vec![his_patient("P9", "王子涵")])
        .expect("the survivor");
    copy_all(&central, &standby);
    for store in [&central, &standby] {
        store
            .import_his_patients(
                &bridge(),
                vec![his_patient("P1", "林小雨"), his_patient("P2", "林小雨")],
            )
            .expect("both pull");
    }
    copy_all(&standby, &central);
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
    let (_d, central, _c) = central();
    let (_ds, standby, _cs) = temp_store("standby", NodeRole::Standby);
    central
        .import_his_patients(&bridge(), vec![his_patient("P1", "林小雨")])
        .expect("the patient");
    copy_all(&central, &standby);
    let rx = |status| his_prescription("X1", "R1", status);
    for store in [&central, &standby] {
        store
            .import_his_visits(&bridge(), vec![his_visit("R1", "P1", VisitStatus::Queued)])
            .expect("both pull the registration");
        store
            .import_his_prescriptions(&bridge(), vec![rx(PrescriptionStatus::Issued)])
            .expect("and its prescription");
    }
    copy_all(&standby, &central);
    assert_eq!(central.triage_queue().expect("queue").len(), 2, "twins");
    assert_eq!(central.pharmacy_queue().expect("queue").len(), 2, "twins");

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
