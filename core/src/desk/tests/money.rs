//! Money and numbers: insurance that fails over to self-pay, invoices from leased ranges that
//! are never reused, lease refusals, and reports refused in emergency mode.

use super::*;

#[test]
fn failed_insurance_is_self_pay_due_seven_working_days_later() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let charge = store
        .create_charge(
            &cashier,
            NewCharge {
                visit: v.header.id,
                lines: vec![
                    NewChargeLine {
                        catalog: CatalogKind::Service,
                        code: "SVC-CBC".into(),
                        quantity: 1,
                    },
                    NewChargeLine {
                        catalog: CatalogKind::Drug,
                        code: "DRG-0001".into(),
                        quantity: 2,
                    },
                ],
                payment: PaymentMethod::Insurance,
                occurred_at: None,
            },
        )
        .expect("charge")
        .value;
    assert_eq!(charge.amount, Fen(2000 + 2 * 1280));
    // The test clock is Wednesday 2026-11-25, 09:00 in Beijing.
    let settled = store
        .settle_charge(&cashier, charge.header.id, Settlement::InsuranceFailed)
        .expect("settle")
        .value;
    assert_eq!(settled.payment, Some(PaymentMethod::SelfPay));
    assert_eq!(
        settled.resettle_due.map(|d| d.to_string()).as_deref(),
        Some("2026-12-04")
    );
    let resettled = store
        .resettle_charge(&cashier, charge.header.id)
        .expect("resettle")
        .value;
    assert_eq!(resettled.charge.payment, Some(PaymentMethod::SelfPay));
    assert!(matches!(
        rule(
            store
                .resettle_charge(&cashier, charge.header.id)
                .unwrap_err()
        ),
        RuleError::NothingToResettle { .. }
    ));
}

#[test]
fn invoices_use_the_leased_range_in_order_and_voids_are_never_reused() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let charge = |store: &Store| {
        let c = store
            .create_charge(
                &cashier,
                NewCharge {
                    visit: v.header.id,
                    lines: vec![NewChargeLine {
                        catalog: CatalogKind::Service,
                        code: "SVC-REG".into(),
                        quantity: 1,
                    }],
                    payment: PaymentMethod::SelfPay,
                    occurred_at: None,
                },
            )
            .expect("charge")
            .value;
        store
            .settle_charge(&cashier, c.header.id, Settlement::Paid)
            .expect("settle");
        c.header.id
    };
    let c1 = charge(&store);
    let err = rule(store.issue_invoice(&cashier, vec![c1]).unwrap_err());
    assert!(matches!(
        err,
        RuleError::Number(NumberError::Exhausted {
            series: Series::Invoice
        })
    ));
    lease(&store, Series::Invoice, 3);
    let inv1 = store.issue_invoice(&cashier, vec![c1]).expect("invoice");
    assert_eq!(inv1.value.number, 1);
    assert_eq!(
        inv1.warnings,
        vec![Warning::LowWater {
            series: Series::Invoice,
            remaining: 2
        }]
    );
    assert!(matches!(
        rule(store.issue_invoice(&cashier, vec![c1]).unwrap_err()),
        RuleError::AlreadyInvoiced { .. }
    ));
    let voided = store
        .void_invoice(&cashier, inv1.value.header.id, "wrong amount")
        .expect("void")
        .value;
    assert_eq!(
        voided.status_log.current::<InvoiceStatus>(),
        Ok(InvoiceStatus::Voided)
    );
    assert!(
        rule(
            store
                .void_invoice(&cashier, inv1.value.header.id, "again")
                .unwrap_err()
        )
        .to_string()
        .contains("cannot move from voided")
    );
    assert_eq!(
        store
            .void_next_number(&cashier, Series::Invoice, "printer jam")
            .expect("spoil")
            .value,
        2
    );
    let c2 = charge(&store);
    let inv3 = store
        .issue_invoice(&cashier, vec![c2])
        .expect("invoice")
        .value;
    assert_eq!(inv3.number, 3);
    let c3 = charge(&store);
    assert!(matches!(
        rule(store.issue_invoice(&cashier, vec![c3]).unwrap_err()),
        RuleError::Number(NumberError::Exhausted { .. })
    ));
    let c_status = store
        .get::<crate::record::Charge>(c3)
        .expect("read")
        .expect("present");
    assert_eq!(
        c_status.status_log.current::<ChargeStatus>(),
        Ok(ChargeStatus::Settled)
    );
    let report = store.range_report().expect("report");
    assert!(report.is_clean(), "{report:?}");
    let line = &report.ranges[0];
    assert_eq!((line.issued, line.voided, line.unused), (1, 2, 0));
}

#[test]
fn leases_are_refused_when_they_overlap_or_belong_elsewhere() {
    let (_d, store, _) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let r1 = central
        .lease_range(&admin(), Series::Invoice, node("W01"), 10)
        .expect("lease")
        .value;
    let r2 = central
        .lease_range(&admin(), Series::Invoice, node("W02"), 10)
        .expect("lease")
        .value;
    assert_eq!((r1.start, r1.end, r2.start, r2.end), (1, 10, 11, 20));
    store.accept_lease(&admin(), r1.clone()).expect("accept");
    store
        .accept_lease(&admin(), r1.clone())
        .expect("accepting twice is a no-op");
    assert!(matches!(
        rule(store.accept_lease(&admin(), r2).unwrap_err()),
        RuleError::Number(NumberError::NotOurs { .. })
    ));
    let mut overlapping = r1;
    overlapping.start = 5;
    overlapping.end = 15;
    assert!(matches!(
        rule(store.accept_lease(&admin(), overlapping).unwrap_err()),
        RuleError::Number(NumberError::Overlap { .. })
    ));
    assert!(matches!(
        rule(
            store
                .lease_range(&admin(), Series::Invoice, node("W03"), 5)
                .unwrap_err()
        ),
        RuleError::Number(NumberError::NotLessor)
    ));
}

#[test]
fn reports_refuse_in_emergency_mode_unless_asked_and_then_say_incomplete() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let c = store
        .create_charge(
            &cashier,
            NewCharge {
                visit: v.header.id,
                lines: vec![NewChargeLine {
                    catalog: CatalogKind::Service,
                    code: "SVC-CRP".into(),
                    quantity: 1,
                }],
                payment: PaymentMethod::SelfPay,
                occurred_at: None,
            },
        )
        .expect("charge")
        .value;
    store
        .settle_charge(&cashier, c.header.id, Settlement::Paid)
        .expect("settle");
    let today = Date::new(2026, 11, 25).expect("valid");
    let summary = store
        .cashier_summary(today, ReportMode::Complete)
        .expect("report");
    assert_eq!(summary.total_settled, Fen(3000));
    assert_eq!(summary.incomplete, None);
    store
        .start_episode(&admin(), EpisodeId::new("YJ-2").expect("valid"), "outage")
        .expect("start");
    assert!(matches!(
        rule(
            store
                .cashier_summary(today, ReportMode::Complete)
                .unwrap_err()
        ),
        RuleError::ReportInEmergency { .. }
    ));
    let forced = store
        .cashier_summary(today, ReportMode::AllowIncomplete)
        .expect("report");
    assert!(forced.incomplete.is_some());
    assert_eq!(forced.lines[0].self_pay, Fen(3000));
}
