//! Status-log conflicts: a prescription dispensed, or a charge settled, on two nodes.

use super::*;

#[test]
fn a_prescription_dispensed_on_two_nodes_is_confirmed_by_a_reviewer() {
    let h = hospital();
    let p = patient(&h.w1, "王小明", "13800138000", None);
    let v = visit(&h.w1, p);
    let (rx, rx2) = (
        prescription(&h.w1, v.header.id),
        prescription(&h.w1, v.header.id),
    );
    // The pharmacy dispenses paid prescriptions.
    for r in [&rx, &rx2] {
        h.w1.settle_charge(
            &op("c1", DeskRole::Cashier),
            r.charge.expect("charge"),
            Settlement::Paid,
        )
        .expect("settle");
    }
    let (rx, rx2) = (rx.header.id, rx2.header.id);
    copy_all(&h.w1, &h.w2);
    let pharmacy = op("ph1", DeskRole::Pharmacy);
    let pharmacy2 = op("ph2", DeskRole::Pharmacy);
    h.w1.dispense_prescription(&pharmacy, rx).expect("dispense");
    h.w2.dispense_prescription(&pharmacy2, rx)
        .expect("dispense");
    h.w1.cancel_prescription(&pharmacy, rx2).expect("cancel");
    h.w2.dispense_prescription(&pharmacy2, rx2)
        .expect("dispense");
    sync(&h.w1, &h.w2);

    let double = format!("double-dispense:{rx}");
    let cancelled = format!("dispensed-cancelled:{rx2}");
    for store in [&h.w1, &h.w2] {
        let found = open(store);
        assert_eq!(found.len(), 2, "{found:#?}");
        let c = by_id(store, &double);
        assert_eq!(c.kind, ConflictKind::DoubleDispense);
        assert_eq!(
            c.records.len(),
            3,
            "the prescription and both dispense records"
        );
        let nodes: BTreeSet<&str> = c.values.iter().filter_map(|v| v.node.as_deref()).collect();
        assert_eq!(nodes, BTreeSet::from(["W01", "W02"]));
        let operators: BTreeSet<&str> = c
            .values
            .iter()
            .filter_map(|v| v.operator.as_deref())
            .collect();
        assert_eq!(operators, BTreeSet::from(["ph1", "ph2"]));
        assert_eq!(c.actions, vec![ReviewAction::Confirm]);
        let c2 = by_id(store, &cancelled);
        assert_eq!(c2.kind, ConflictKind::DispensedAndCancelled);
        assert!(
            c2.automatic_decision
                .as_deref()
                .is_some_and(|d| d.starts_with("kept dispensed"))
        );
        let shown: Vec<&str> = c2
            .values
            .iter()
            .filter(|v| v.shown)
            .map(|v| v.value.as_str())
            .collect();
        assert_eq!(shown.len(), 1);
        assert!(shown[0].contains("\"state\":\"dispensed\""), "{shown:?}");
        let rx2 = store
            .get::<Prescription>(rx2)
            .expect("read")
            .expect("present");
        assert_eq!(
            rx2.status_log.current::<PrescriptionStatus>(),
            Ok(PrescriptionStatus::Dispensed)
        );
    }

    let before = h.w1.feed_head().expect("feed");
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&pharmacy, &double, Resolution::Confirm)
                .unwrap_err()
        ),
        RuleError::NotPermitted { .. }
    ));
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&admin(), &double, Resolution::ChooseValue(0))
                .unwrap_err()
        ),
        RuleError::Invalid { .. }
    ));
    assert_eq!(h.w1.feed_head().expect("feed"), before);
    h.w1.resolve_conflict(&admin(), &double, Resolution::Confirm)
        .expect("confirm");
    assert!(matches!(
        rule(
            h.w1.resolve_conflict(&admin(), &double, Resolution::Confirm)
                .unwrap_err()
        ),
        RuleError::Invalid { .. }
    ));
    h.w2.resolve_conflict(&admin(), &cancelled, Resolution::Confirm)
        .expect("confirm");
    sync(&h.w1, &h.w2);
    for store in [&h.w1, &h.w2] {
        assert!(open(store).is_empty(), "{:#?}", open(store));
        let c = by_id(store, &double);
        assert_eq!(c.status, ConflictStatus::Resolved);
        assert_eq!(c.values.len(), 4, "the evidence stays visible");
        assert_eq!(by_id(store, &cancelled).status, ConflictStatus::Resolved);
    }
}

#[test]
fn a_charge_settled_on_two_nodes_goes_to_review() {
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
                payment: PaymentMethod::SelfPay,
                occurred_at: None,
            },
        )
        .expect("charge")
        .value
        .header
        .id;
    copy_all(&h.w1, &h.w2);
    h.w1.settle_charge(&cashier, charge, Settlement::Paid)
        .expect("settle");
    h.w2.settle_charge(&op("c2", DeskRole::Cashier), charge, Settlement::Paid)
        .expect("settle");
    sync(&h.w1, &h.w2);
    let found = open(&h.w1);
    let kinds: Vec<ConflictKind> = found.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec![ConflictKind::DoubleSettlement], "{found:#?}");
    assert_eq!(found[0].id, format!("double-settlement:{charge}"));
    h.w2.resolve_conflict(&admin(), &found[0].id, Resolution::Confirm)
        .expect("confirm");
    sync(&h.w1, &h.w2);
    assert!(open(&h.w1).is_empty());
}
