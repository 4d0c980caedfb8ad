//! Two bridges' concurrent values of an HIS patient, settled by the HIS's later state
//! (`review::his_later`; the simulator's seed 5035 `--store`).

use super::HisPatient;
use super::tests::{bridge, central, his_patient};
use crate::desk::{Opening, PatientEdit};
use crate::id::RecordId;
use crate::record::{Patient, RecordKind};
use crate::review::{ConflictKind, ConflictStatus, ReviewAction};
use crate::roles::{NodeRole, Operator};
use crate::store::Store;
use crate::test_support::{copy_all, registrar, temp_store};

fn row(phone: &str, changed: i64) -> HisPatient {
    HisPatient {
        phone: phone.into(),
        changed: Some(changed),
        ..his_patient("P1", "林小雨")
    }
}

fn phone_conflicts(store: &Store) -> Vec<(ConflictStatus, String)> {
    store
        .conflicts()
        .expect("conflicts")
        .into_iter()
        .filter(|c| c.kind == ConflictKind::FieldConflict && c.field.as_deref() == Some("phone"))
        .map(|c| {
            let decision = c.decision.map(|d| d.decision).unwrap_or_default();
            (c.status, decision)
        })
        .collect()
}

fn phone(store: &Store) -> String {
    let p: Patient = store
        .get(his_record(store, "P1"))
        .expect("read")
        .expect("held");
    p.phone
}

type Dirs = (tempfile::TempDir, tempfile::TempDir);

/// Central and the standby split apart, each pulling patient P1 once the HIS changed its phone
/// (to ...02 at change 2, then ...03 at change 3); `central_pulls_later`: central read the
/// later state. `first`: both held the patient from an earlier pull before the split.
fn split_pulls(central_pulls_later: bool, first: bool) -> (Dirs, Store, Store) {
    let (d, central, _c) = central();
    let (ds, standby, _cs) = temp_store("standby", NodeRole::Standby);
    if first {
        central
            .import_his_patients(&bridge(), vec![row("13900000001", 1)])
            .expect("the first pull");
        copy_all(&central, &standby);
    }
    let (early, late) = (row("13900000002", 2), row("13900000003", 3));
    let (at_central, at_standby) = if central_pulls_later {
        (late, early)
    } else {
        (early, late)
    };
    central
        .import_his_patients(&bridge(), vec![at_central])
        .expect("central's pull");
    standby
        .import_his_patients(&bridge(), vec![at_standby])
        .expect("the standby's pull");
    ((d, ds), central, standby)
}

/// Central and the standby, split apart, each pull the patient after the HIS changed its
/// phone, at different moments: whichever pulled later (and whatever Automerge shows), the
/// HIS's later state is kept, by central's system, and the review says so.
#[test]
fn two_bridges_phones_of_one_patient_are_settled_by_the_his_s_later_state() {
    for central_pulls_later in [true, false] {
        let (_dirs, central, standby) = split_pulls(central_pulls_later, true);
        copy_all(&standby, &central);
        copy_all(&central, &standby);
        assert_eq!(
            phone_conflicts(&central),
            vec![(ConflictStatus::Open, String::new())],
            "central pulls later: {central_pulls_later}"
        );

        assert_eq!(
            central
                .settle_his_conflicts(&Operator::system())
                .expect("settle"),
            1
        );
        assert_eq!(phone(&central), "13900000003");
        let settled = phone_conflicts(&central);
        assert_eq!(settled.len(), 1, "{settled:?}");
        assert_eq!(settled[0].0, ConflictStatus::Resolved, "{settled:?}");
        assert!(
            settled[0]
                .1
                .starts_with("took the HIS's later state, value"),
            "{settled:?}"
        );
        copy_all(&central, &standby);
        assert_eq!(phone(&standby), "13900000003");
        assert_eq!(
            central.check_kept().expect("check"),
            Vec::<String>::new(),
            "the kept counts follow"
        );
    }
}

/// A desk's correction in an outage, concurrent with a pull, is not the HIS's to settle: its
/// change carries no HIS state. It stays for the information department.
#[test]
fn a_desk_s_value_against_a_pulled_one_stays_for_the_review() {
    let (_d, central, _c) = central();
    let (_dw, w01, _cw) = temp_store("W01", NodeRole::Window);
    central
        .import_his_patients(&bridge(), vec![row("13900000001", 1)])
        .expect("the first pull");
    copy_all(&central, &w01);
    central
        .import_his_patients(&bridge(), vec![row("13900000002", 2)])
        .expect("central's pull");
    let id = his_record(&w01, "P1");
    w01.open_episode(&bridge(), "central is unreachable", Opening::Automatic)
        .expect("an outage at the window");
    let edit = PatientEdit {
        phone: Some("13800000009".into()),
        ..PatientEdit::default()
    };
    w01.update_patient(&registrar(), id, edit)
        .expect("a desk's correction");
    copy_all(&w01, &central);
    assert_eq!(
        central
            .settle_his_conflicts(&Operator::system())
            .expect("settle"),
        0
    );
    assert_eq!(
        phone_conflicts(&central),
        vec![(ConflictStatus::Open, String::new())]
    );
}

/// Two records of one HIS patient (each server made one while split apart, the HIS changing
/// the phone between their pulls): the merge the review suggests keeps the record written
/// from the HIS's later state, whichever was made first (seed 5066 `--store`).
#[test]
fn of_two_records_of_one_his_patient_the_merge_keeps_the_later_state() {
    // Record ids are random: eight pairs, so that a survivor picked by id (as for other
    // duplicates) would fail all but once in 256 runs.
    for round in 0..8 {
        let central_pulls_later = round % 2 == 0;
        let (_dirs, central, standby) = split_pulls(central_pulls_later, false);
        copy_all(&standby, &central);
        let pair = central
            .conflicts()
            .expect("conflicts")
            .into_iter()
            .find(|c| c.kind == ConflictKind::DuplicatePatient)
            .expect("the twins are paired");
        let Some(ReviewAction::MergePatients { survivor, .. }) = pair.actions.first() else {
            panic!("a merge is suggested first: {:?}", pair.actions);
        };
        let kept: Patient = central.get(*survivor).expect("read").expect("held");
        assert_eq!(
            kept.phone, "13900000003",
            "central pulls later: {central_pulls_later}"
        );
    }
}

/// Both servers pull patient P1 while split apart (`others`, HIS patients P1 may be merged
/// into, only central); central then pulls `his_changes` before the standby's record comes
/// back to it. Returns central, and central's and the standby's records of P1.
fn twin_left_behind(
    others: Vec<HisPatient>,
    his_changes: Vec<HisPatient>,
) -> (Dirs, Store, RecordId, RecordId) {
    let (d, central, _c) = central();
    let (ds, standby, _cs) = temp_store("standby", NodeRole::Standby);
    if !others.is_empty() {
        central
            .import_his_patients(&bridge(), others)
            .expect("the other patients");
    }
    standby
        .import_his_patients(&bridge(), vec![row("13900000001", 1)])
        .expect("the standby's pull");
    central
        .import_his_patients(&bridge(), vec![row("13900000001", 1)])
        .expect("central's pull");
    central
        .import_his_patients(&bridge(), his_changes)
        .expect("the HIS's changes");
    let own = his_record(&central, "P1");
    copy_all(&standby, &central);
    let twin = his_record(&standby, "P1");
    ((d, ds), central, own, twin)
}

fn his_record(store: &Store, his_id: &str) -> RecordId {
    store
        .find_his(RecordKind::Patient, his_id)
        .expect("find")
        .expect("held")
}

/// The review pairs the twin and suggests merging it into `survivor` first; merged so,
/// nothing is left open and the store's kept figures hold.
fn merged_as_suggested(central: &Store, survivor: RecordId, twin: RecordId) {
    let pair = central
        .conflicts()
        .expect("conflicts")
        .into_iter()
        .find(|c| c.kind == ConflictKind::DuplicatePatient && c.status == ConflictStatus::Open)
        .expect("the twin left behind is paired");
    assert_eq!(
        pair.actions.first(),
        Some(&ReviewAction::MergePatients {
            survivor,
            duplicate: twin
        })
    );
    central
        .merge_patients(&bridge(), survivor, twin)
        .expect("merged as suggested");
    let open = central
        .conflicts()
        .expect("conflicts")
        .into_iter()
        .filter(|c| c.status == ConflictStatus::Open)
        .count();
    assert_eq!(open, 0, "nothing left open");
    let followed: Patient = central.get(twin).expect("read").expect("held");
    assert_eq!(followed.merged_into, Some(survivor));
    assert_eq!(central.check_kept().expect("check"), Vec::<String>::new());
}

/// Both servers pulled a patient while split apart; central then pulled the HIS's merge of it
/// into another before the standby's record came back, so that one stayed live, and no
/// later pull touches a merged patient (simulator seed 10157 `--store`). The review pairs it
/// with its merged twin, suggesting the same merge.
#[test]
fn a_twin_that_comes_back_after_the_his_s_merge_is_paired_to_follow_it() {
    let p4 = HisPatient {
        phone: "13900000004".into(),
        ..his_patient("P4", "林小晴")
    };
    let merged = HisPatient {
        merged_into: Some("P4".into()),
        ..row("13900000001", 2)
    };
    let (_dirs, central, _, twin) = twin_left_behind(vec![p4], vec![merged]);
    merged_as_suggested(&central, his_record(&central, "P4"), twin);
}

/// The same with the HIS's deletion: the standby's record came back undeleted, and no later
/// pull reads the deleted row again, so the desks still found the patient (simulator seed
/// 11044 `--store`). The review pairs the two, suggesting to merge the one that missed the
/// deletion into the deleted one.
#[test]
fn a_twin_that_missed_the_his_s_deletion_is_paired_to_follow_it() {
    let deleted = HisPatient {
        deleted: true,
        ..row("13900000001", 2)
    };
    let (_dirs, central, gone, twin) = twin_left_behind(Vec::new(), vec![deleted]);
    merged_as_suggested(&central, gone, twin);
}

/// The twin left behind, where the HIS has since merged the survivor too (P1 into P4, then
/// P4 into P5): the review suggests the patient the merges lead to, not the merged survivor
/// a merge would be refused into.
#[test]
fn the_merge_suggested_for_a_twin_left_behind_leads_to_the_end_of_the_his_s_merges() {
    let p4 = his_patient("P4", "林小晴");
    let merges = vec![
        HisPatient {
            merged_into: Some("P4".into()),
            ..row("13900000001", 2)
        },
        HisPatient {
            merged_into: Some("P5".into()),
            changed: Some(3),
            ..p4.clone()
        },
    ];
    let (_dirs, central, _, twin) = twin_left_behind(vec![p4, his_patient("P5", "林小晴")], merges);
    merged_as_suggested(&central, his_record(&central, "P5"), twin);
}
