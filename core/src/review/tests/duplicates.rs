//! Duplicate patients registered on two nodes: listed with their evidence until merged.

use super::*;

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
