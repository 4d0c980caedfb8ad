//! Field conflicts: concurrent edits of one field stay open until a reviewer chooses a value,
//! and decisions made concurrently on two nodes both count.

use super::*;

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
                occurred_at: None,
            },
        )
        .expect("charge")
        .value
        .header
        .id;
    h.w1.settle_charge(&cashier, charge, Settlement::InsuranceFailed)
        .expect("settle");
    copy_all(&h.w1, &h.w2);
    let c2 = op("c2", DeskRole::Cashier);
    cashier_on_shift(&h.w1, &cashier, 10);
    cashier_on_shift(&h.w2, &c2, 10);
    h.w1.resettle_charge(&cashier, charge).expect("resettle");
    h.w2.resettle_charge(&c2, charge).expect("resettle");
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
