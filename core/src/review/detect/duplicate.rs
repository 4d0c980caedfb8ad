//! Duplicate patients: two live patient records that share a national id, or the same name,
//! birth date and phone, created on different nodes. Patients pulled from the HIS master are
//! records like any other, so an emergency patient who is already in the HIS is found here,
//! with the HIS's record (its `his_id` shown) suggested as the one to keep. Two records of the
//! same HIS patient (both bridges pulled it while central and the standby could not see each
//! other) are a duplicate too, found by their HIS id whatever else changed since.

use super::fingerprint;
use crate::record::{Patient, RecordKind};
use crate::review::conflict::{
    CompetingValue, Conflict, ConflictKind, ConflictStatus, DuplicateEvidence, MatchedKey,
    ReviewAction,
};
use crate::review::target::Target;
use crate::store::person_key;

/// The search keys two patients share (the same keys the patient index groups by).
fn matched_keys(a: &Patient, b: &Patient) -> Vec<MatchedKey> {
    let mut out = Vec::new();
    if let (Some(x), Some(y)) = (&a.his_id, &b.his_id)
        && x == y
    {
        out.push(MatchedKey {
            key: "his_id",
            value: x.clone(),
        });
    }
    if let (Some(x), Some(y)) = (&a.national_id, &b.national_id)
        && x.eq_ignore_ascii_case(y)
    {
        out.push(MatchedKey {
            key: "national_id",
            value: x.to_ascii_uppercase(),
        });
    }
    let person = person_key(a);
    if person == person_key(b) {
        out.push(MatchedKey {
            key: "name_birth_date_phone",
            value: person,
        });
    }
    out
}

/// The record to keep when merging: of two records of one HIS patient (both servers pulled
/// it), the one written from the HIS's later state, which reads as the HIS does now (seed
/// 5066 `--store`); otherwise one registered outside an emergency, then the older.
fn suggested_survivor<'a>(a: &'a Patient, b: &'a Patient) -> (&'a Patient, &'a Patient) {
    if a.his_id.is_some() && a.his_id == b.his_id && a.his_changed != b.his_changed {
        return if a.his_changed > b.his_changed {
            (a, b)
        } else {
            (b, a)
        };
    }
    let rank = |p: &Patient| (p.header.episode.is_some(), p.header.created_ms, p.header.id);
    if rank(a) <= rank(b) { (a, b) } else { (b, a) }
}

/// Of two records of one HIS patient, one merged (the pull followed the HIS's merge, or a
/// reviewer merged it into another patient) and the other still live because it arrived
/// after (both bridges pulled the patient while split apart: simulator seed 10157
/// `--store`): the live one and the patient it is to be merged into.
fn left_behind<'a>(a: &'a Patient, b: &'a Patient) -> Option<(&'a Patient, crate::id::RecordId)> {
    if a.his_id.is_none() || a.his_id != b.his_id || a.his_deleted || b.his_deleted {
        return None;
    }
    let (live, merged) = match (a.merged_into, b.merged_into) {
        (None, Some(_)) => (a, b),
        (Some(_), None) => (b, a),
        _ => return None,
    };
    let into = merged.merged_into?;
    (into != live.header.id).then_some((live, into))
}

/// Of two live records of one HIS patient, whether one is marked deleted and the other not:
/// both bridges pulled the patient while split apart and one pulled the HIS's deletion before
/// the other's record came back, which no later pull touches (simulator seed 11044
/// `--store`). The merge suggested first keeps the record of the HIS's later state
/// ([`suggested_survivor`]), so the one left behind follows the deletion.
fn missed_deletion(a: &Patient, b: &Patient) -> bool {
    a.his_id.is_some() && a.his_id == b.his_id && a.his_deleted != b.his_deleted
}

/// The duplicate-patient conflict between two live records that share a search key; or
/// between a live record of an HIS patient and a twin merged away (see [`left_behind`]),
/// whose action is to merge the live one the same way.
pub(crate) fn duplicate_conflict(a: &Patient, b: &Patient) -> Option<Conflict> {
    if a.header.id == b.header.id {
        return None;
    }
    if let Some((live, into)) = left_behind(a, b) {
        let follow = ReviewAction::MergePatients {
            survivor: into,
            duplicate: live.header.id,
        };
        return Some(pair_conflict(
            a,
            b,
            vec![follow, ReviewAction::KeepSeparate],
        ));
    }
    if a.merged_into.is_some() || b.merged_into.is_some() {
        return None;
    }
    // Two patients of the HIS master are the HIS's to merge, not Lifeline's, unless they are
    // one HIS patient pulled twice; a patient the HIS deleted is no one's candidate (it is no
    // longer found by a search either), but its twin that missed the deletion is (see
    // [`missed_deletion`]).
    let two_his_patients = matches!((&a.his_id, &b.his_id), (Some(x), Some(y)) if x != y);
    if two_his_patients || ((a.his_deleted || b.his_deleted) && !missed_deletion(a, b)) {
        return None;
    }
    if matched_keys(a, b).is_empty() {
        return None;
    }
    let (survivor, duplicate) = suggested_survivor(a, b);
    let actions = vec![
        ReviewAction::MergePatients {
            survivor: survivor.header.id,
            duplicate: duplicate.header.id,
        },
        ReviewAction::MergePatients {
            survivor: duplicate.header.id,
            duplicate: survivor.header.id,
        },
        ReviewAction::KeepSeparate,
    ];
    Some(pair_conflict(a, b, actions))
}

/// The conflict of a pair of patients that share a search key, with `actions`.
fn pair_conflict(a: &Patient, b: &Patient, actions: Vec<ReviewAction>) -> Conflict {
    let matched = matched_keys(a, b);
    let (a, b) = if a.header.id < b.header.id {
        (a, b)
    } else {
        (b, a)
    };
    let target = Target::pair(a.header.id, b.header.id);
    let values = [a, b]
        .iter()
        .enumerate()
        .map(|(index, p)| CompetingValue {
            index,
            record: p.header.id,
            value: serde_json::json!({
                "patient_no": p.patient_no,
                "name": p.name,
                "sex": p.sex,
                "birth_date": p.birth_date,
                "phone": p.phone,
                "national_id": p.national_id,
                "insurance": p.insurance,
                "his_id": p.his_id,
                "his_deleted": p.his_deleted,
            })
            .to_string(),
            node: Some(p.header.origin.to_string()),
            operator: Some(p.header.operator.to_string()),
            desk: None,
            action: Some("patient.create".into()),
            at_ms: Some(p.header.created_ms),
            shown: true,
        })
        .collect();
    let fingerprint = fingerprint(matched.iter().map(|m| format!("{}={}", m.key, m.value)));
    Conflict {
        id: target.id(),
        kind: ConflictKind::DuplicatePatient,
        status: ConflictStatus::Open,
        record_kind: RecordKind::Patient,
        records: vec![a.header.id, b.header.id],
        field: None,
        values,
        duplicate: Some(DuplicateEvidence {
            matched,
            patients: vec![a.clone(), b.clone()],
        }),
        automatic_decision: None,
        actions,
        decision: None,
        fingerprint,
    }
}
