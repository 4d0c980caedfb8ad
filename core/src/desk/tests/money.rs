//! Money that adds up: fees and drugs become charges, the pharmacy dispenses paid
//! prescriptions, payments by channel recorded once, voids that release charges, refunds and
//! re-settlements as records of their own, deadlines in working days.

use super::*;
use crate::desk::{NewRefund, SettleRequest};
use crate::record::{Charge, ChargeSource, PaymentChannel, PaymentPart};

fn part(channel: PaymentChannel, fen: i64) -> PaymentPart {
    PaymentPart {
        channel,
        amount: Fen(fen),
    }
}

/// "启用应急系统后挂号处, 收费处的操作 … 进入系统后,按此号码进行收费" (registration and the
/// cashier bill what they register), "管理员将应急数据库中数据传回总服务器,包括处方信息,收费
/// 信息和票据信息" (prescriptions, charges and invoices go back to central together):
/// registering a visit creates its fee charge, a prescription its drug charge at the catalog
/// prices it was written with, each in the same commit and linked both ways.
#[test]
fn a_visit_charges_its_fee_and_a_prescription_its_drugs_at_catalog_prices() {
    let (_d, store, _) = window();
    let (p, v) = registered(&store);
    let fee: Charge = store
        .get(v.fee_charge.expect("the visit names its fee charge"))
        .expect("read")
        .expect("the fee charge is stored with the visit");
    assert_eq!(fee.source, ChargeSource::Registration);
    assert_eq!((fee.visit, fee.patient), (v.header.id, p.header.id));
    assert_eq!(fee.amount, Fen(1000), "PED-GEN's registration fee");
    assert_eq!(fee.lines[0].catalog, CatalogKind::Department);
    assert_eq!(fee.lines[0].code, "PED-GEN");
    // The patient is insured (resident): the fee is asked of the insurance.
    assert_eq!(fee.requested_payment, PaymentMethod::Insurance);
    assert_eq!(
        fee.status_log.current::<ChargeStatus>(),
        Ok(ChargeStatus::Pending)
    );

    let rx = prescribe(&store, v.header.id, 3);
    let drugs: Charge = store
        .get(rx.charge.expect("the prescription names its charge"))
        .expect("read")
        .expect("stored");
    assert_eq!(drugs.source, ChargeSource::Prescription);
    assert_eq!(drugs.prescription, Some(rx.header.id));
    assert_eq!(drugs.amount, Fen(3 * 1280), "DRG-0001 at 12.80 yuan");
    assert_eq!(drugs.lines[0].unit_price, rx.items[0].unit_price);
    assert_eq!(drugs.lines[0].catalog_version, rx.items[0].catalog_version);
    // A desk cannot charge a registration fee by hand.
    let err = rule(
        store
            .create_charge(
                &op("c1", DeskRole::Cashier),
                NewCharge {
                    visit: v.header.id,
                    lines: vec![NewChargeLine {
                        catalog: CatalogKind::Department,
                        code: "PED-GEN".into(),
                        quantity: 1,
                    }],
                    payment: PaymentMethod::SelfPay,
                    occurred_at: None,
                },
            )
            .unwrap_err(),
    );
    assert!(
        err.to_string().contains("when the visit is registered"),
        "{err}"
    );
}

/// "药房把有应急标志的已收费处方进行发药" (the pharmacy dispenses the paid prescriptions): in
/// normal mode a prescription is dispensed in the system only once its charge is settled.
#[test]
fn the_pharmacy_dispenses_paid_prescriptions_only() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let rx = prescribe(&store, v.header.id, 1);
    let pharmacy = op("ph1", DeskRole::Pharmacy);
    let err = rule(
        store
            .dispense_prescription(&pharmacy, rx.header.id)
            .unwrap_err(),
    );
    assert!(matches!(err, RuleError::NotPaid { .. }), "{err}");
    assert!(err.to_string().contains("cashier"), "{err}");
    let unchanged: crate::record::Prescription =
        store.get(rx.header.id).expect("read").expect("present");
    assert_eq!(
        unchanged.status_log.current::<PrescriptionStatus>(),
        Ok(PrescriptionStatus::Issued),
        "nothing written"
    );
    store
        .settle_charge(
            &op("c1", DeskRole::Cashier),
            rx.charge.expect("charge"),
            Settlement::Paid,
        )
        .expect("settle");
    let done = store
        .dispense_prescription(&pharmacy, rx.header.id)
        .expect("dispense a paid prescription")
        .value;
    assert_eq!(
        done.status_log.current::<PrescriptionStatus>(),
        Ok(PrescriptionStatus::Dispensed)
    );
}

/// "医保结算系统故障,而医院信息系统正常时,为医保病人按自费标准登记和收费,并打印自费收据;财务
/// 结算部门在故障排除后7个工作日内凭原手工收据,为医保病人重新划卡结算": outside an episode the 7
/// working days (by the calendar: National Day off, the make-up Saturday worked) count from
/// the settlement; during an episode, from the day the episode ends, and there is no due
/// date while it lasts.
#[test]
fn failed_insurance_is_due_seven_working_days_after_the_fault_is_cleared() {
    let (_d, store, clock) = window();
    // Wednesday 2026-09-30, 09:00 in Beijing: National Day is next.
    clock.set(Date::new(2026, 9, 30).expect("valid").start_ms(480) + 9 * 3_600_000);
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let fee = v.fee_charge.expect("fee charge");
    let settled = store
        .settle_charge(&cashier, fee, Settlement::InsuranceFailed)
        .expect("settle")
        .value;
    assert_eq!(settled.payment, Some(PaymentMethod::SelfPay));
    assert_eq!(settled.payments, vec![part(PaymentChannel::Cash, 1000)]);
    assert_eq!(settled.resettle_due, Date::new(2026, 10, 15));
    assert!(settled.awaits_resettlement());
    assert_read_alike(&store, &settled);
    assert_eq!(
        store.resettle_due_date(&settled).expect("read"),
        Date::new(2026, 10, 15)
    );

    // In an episode: due 7 working days after the episode ends.
    lease(&store, Series::EmergencyRegistration, 10);
    let system = admin();
    store
        .open_episode(&system, "central down", Opening::Declared)
        .expect("open");
    let (_p2, v2) = registered(&store);
    let during = store
        .settle_charge(
            &cashier,
            v2.fee_charge.expect("fee"),
            Settlement::InsuranceFailed,
        )
        .expect("settle")
        .value;
    assert_eq!(during.resettle_due, None);
    assert!(during.resettle_after.is_some());
    let item = |store: &Store| {
        store
            .worklist()
            .expect("worklist")
            .of(crate::review::WorkCategory::ResettleInsurance)
            .find(|i| i.record == during.header.id)
            .cloned()
            .expect("on the worklist")
    };
    assert_eq!(item(&store).due, None, "no due date while the outage lasts");
    assert_eq!(store.resettle_due_date(&during).expect("read"), None);
    assert!(item(&store).what.contains("after the outage ends"));
    // The outage ends on Friday 2026-10-09 (a working day): due Monday 2026-10-19
    // (10, a worked Saturday; 12-16; 19).
    clock.set(Date::new(2026, 10, 9).expect("valid").start_ms(480) + 15 * 3_600_000);
    store
        .leave_episode(&system, LeaveScope::HospitalWide)
        .expect("stop");
    assert_eq!(item(&store).due, Date::new(2026, 10, 19));
    // The notice printed now carries the date.
    assert_eq!(
        store.resettle_due_date(&during).expect("read"),
        Date::new(2026, 10, 19)
    );
    // A charge that never owed a re-settlement has no date.
    let (_p3, v3) = registered(&store);
    let paid = store
        .settle_charge(&cashier, v3.fee_charge.expect("fee"), Settlement::Paid)
        .expect("settle")
        .value;
    assert_eq!(store.resettle_due_date(&paid).expect("read"), None);
}

/// Payment channels and splits: cash, bank card, WeChat, Alipay, the insurance fund and the
/// personal account; the parts of a payment must add up to the charge, each channel once,
/// and a self-pay patient pays through no insurance channel.
#[test]
fn a_payment_is_split_by_channel_and_must_add_up() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let fee = v.fee_charge.expect("fee");
    let settle = |payments: Vec<PaymentPart>| {
        store.settle_charge_with(
            &cashier,
            fee,
            SettleRequest {
                outcome: Settlement::Paid,
                payments: Some(payments),
            },
        )
    };
    for (bad, why) in [
        (vec![part(PaymentChannel::Cash, 900)], "add up"),
        (
            vec![
                part(PaymentChannel::Cash, 500),
                part(PaymentChannel::Cash, 500),
            ],
            "twice",
        ),
        (vec![part(PaymentChannel::Wechat, 0)], "above zero"),
    ] {
        let err = rule(settle(bad).unwrap_err());
        assert!(err.to_string().contains(why), "{err}");
    }
    let split = vec![
        part(PaymentChannel::InsuranceFund, 700),
        part(PaymentChannel::PersonalAccount, 200),
        part(PaymentChannel::Wechat, 100),
    ];
    let settled = settle(split.clone()).expect("a split payment").value;
    assert_eq!(settled.payments, split);
    assert_eq!(settled.payment, Some(PaymentMethod::Insurance));
    // A self-pay charge cannot be paid from the insurance fund.
    let own = store
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
    let err = rule(
        store
            .settle_charge_with(
                &cashier,
                own.header.id,
                SettleRequest {
                    outcome: Settlement::Paid,
                    payments: Some(vec![part(PaymentChannel::InsuranceFund, 3000)]),
                },
            )
            .unwrap_err(),
    );
    assert!(err.to_string().contains("insurance"), "{err}");
}

/// A doctor writes charges (orders) but never takes the money: settling is refused, and the
/// cashier settles the same charge.
#[test]
fn a_doctor_orders_but_does_not_settle() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let doctor = op("d1", DeskRole::Doctor);
    let order = store
        .create_charge(
            &doctor,
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
        .expect("a doctor's order")
        .value;
    let paid = SettleRequest {
        outcome: Settlement::Paid,
        payments: None,
    };
    let err = rule(
        store
            .settle_charge_with(&doctor, order.header.id, paid.clone())
            .unwrap_err(),
    );
    assert!(matches!(err, RuleError::NotPermitted { .. }), "{err}");
    store
        .settle_charge_with(&op("c1", DeskRole::Cashier), order.header.id, paid)
        .expect("the cashier settles it");
}

/// Voiding an invoice with a reason releases its charges for a new invoice, and a refund is
/// its own record (amount, channel, reason, operator) that never edits the payment: the
/// charge keeps how it was paid, and is marked refunded.
#[test]
fn a_void_releases_the_charges_and_a_refund_never_edits_the_payment() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    cashier_on_shift(&store, &cashier, 10);
    let fee = v.fee_charge.expect("fee");
    store
        .settle_charge_with(
            &cashier,
            fee,
            SettleRequest {
                outcome: Settlement::Paid,
                payments: Some(vec![part(PaymentChannel::Alipay, 1000)]),
            },
        )
        .expect("settle");
    let first = store
        .issue_invoice(&cashier, vec![fee])
        .expect("invoice")
        .value;
    let again = rule(store.issue_invoice(&cashier, vec![fee]).unwrap_err());
    assert!(matches!(again, RuleError::AlreadyInvoiced { .. }));
    // Refunding an invoiced charge: take the invoice back first.
    let new_refund = || NewRefund {
        reason: "patient left before being seen".into(),
        parts: None,
    };
    let err = rule(
        store
            .refund_charge(&cashier, fee, new_refund())
            .unwrap_err(),
    );
    assert!(matches!(err, RuleError::OnInvoice { .. }), "{err}");
    store
        .void_invoice(&cashier, first.header.id, "wrong patient name")
        .expect("void");
    let released: Charge = store.get(fee).expect("read").expect("present");
    assert_eq!(released.invoice, None, "the void released the charge");
    let second = store
        .issue_invoice(&cashier, vec![fee])
        .expect("a new invoice for the released charge")
        .value;
    assert_eq!(second.number, first.number + 1);
    assert_eq!(
        second.code.as_deref(),
        Some(crate::test_support::INVOICE_CODE)
    );
    store
        .void_invoice(&cashier, second.header.id, "patient left")
        .expect("void");

    let refund = store
        .refund_charge(&cashier, fee, new_refund())
        .expect("refund")
        .value;
    assert_eq!(refund.amount, Fen(1000));
    assert_eq!(refund.parts, vec![part(PaymentChannel::Alipay, 1000)]);
    assert_eq!(refund.header.operator.as_str(), "c1");
    assert_eq!(refund.reason, "patient left before being seen");
    let after: Charge = store.get(fee).expect("read").expect("present");
    assert_eq!(
        after.payments, released.payments,
        "the payment is untouched"
    );
    assert_eq!(after.payment, released.payment);
    assert_eq!(after.refund, Some(refund.header.id));
    assert_eq!(
        after.status_log.current::<ChargeStatus>(),
        Ok(ChargeStatus::Refunded)
    );
    let twice = rule(
        store
            .refund_charge(&cashier, fee, new_refund())
            .unwrap_err(),
    );
    assert!(twice.to_string().contains("refunded"), "{twice}");
    let not_invoiced = rule(store.issue_invoice(&cashier, vec![fee]).unwrap_err());
    assert!(matches!(not_invoiced, RuleError::AlreadyRefunded { .. }));

    // Drugs handed out are not refunded at the cashier.
    let rx = prescribe(&store, v.header.id, 1);
    let drugs = rx.charge.expect("charge");
    store
        .settle_charge(&cashier, drugs, Settlement::Paid)
        .expect("settle");
    store
        .dispense_prescription(&op("ph1", DeskRole::Pharmacy), rx.header.id)
        .expect("dispense");
    let err = rule(
        store
            .refund_charge(&cashier, drugs, new_refund())
            .unwrap_err(),
    );
    assert!(matches!(err, RuleError::DrugsHandedOut { .. }), "{err}");
}

/// "财务结算部门 … 凭原手工收据,为医保病人重新划卡结算": the re-settlement is its own record
/// with its own invoice; the original payment is kept, so yesterday's cashier summary is
/// what it was, and today's shows the insurance in and the cash given back.
#[test]
fn a_resettlement_is_its_own_record_and_yesterday_s_summary_does_not_change() {
    let (_d, store, clock) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let fee = v.fee_charge.expect("fee");
    store
        .settle_charge(&cashier, fee, Settlement::InsuranceFailed)
        .expect("settle");
    let day1 = Date::new(2026, 11, 25).expect("valid");
    let before = store
        .cashier_summary(day1, ReportMode::Complete)
        .expect("summary");
    assert_eq!(before.lines[0].awaiting_resettlement, 1);
    assert_eq!(
        before.by_channel,
        vec![crate::desk::ChannelAmount {
            channel: PaymentChannel::Cash,
            amount: Fen(1000)
        }]
    );

    clock.advance_ms(86_400_000);
    cashier_on_shift(&store, &cashier, 10);
    let done = store
        .resettle_charge(&cashier, fee)
        .expect("resettle")
        .value;
    assert_eq!(done.resettlement.charge, fee);
    assert_eq!(
        done.resettlement.parts,
        vec![part(PaymentChannel::InsuranceFund, 1000)]
    );
    assert_eq!(
        done.resettlement.returned,
        vec![part(PaymentChannel::Cash, 1000)]
    );
    assert_eq!(done.invoice.resettlement, Some(done.resettlement.header.id));
    assert_eq!(done.invoice.total, Fen(1000));
    assert_eq!(done.resettlement.invoice, done.invoice.header.id);
    assert_eq!(done.charge.payment, Some(PaymentMethod::SelfPay), "kept");
    assert_eq!(done.charge.payments, vec![part(PaymentChannel::Cash, 1000)]);
    assert!(!done.charge.awaits_resettlement());
    assert_read_alike(&store, &done.charge);
    let again = rule(store.resettle_charge(&cashier, fee).unwrap_err());
    assert!(matches!(again, RuleError::NothingToResettle { .. }));

    let after = store
        .cashier_summary(day1, ReportMode::Complete)
        .expect("summary");
    assert_eq!(after.by_channel, before.by_channel, "day 1 is what it was");
    assert_eq!(after.total_settled, before.total_settled);
    let day2 = store
        .cashier_summary(day1.add_days(1), ReportMode::Complete)
        .expect("summary");
    let line = &day2.lines[0];
    assert_eq!(line.resettlements, 1);
    assert_eq!(line.invoices_issued, 1);
    assert_eq!(day2.net_total, Fen::ZERO, "insurance in, cash back");
    assert_eq!(
        line.resettled,
        vec![crate::desk::ChannelAmount {
            channel: PaymentChannel::InsuranceFund,
            amount: Fen(1000)
        }]
    );
}

/// "请不要在应急系统中做报表,等正式数据库恢复,再做报表" (no reports in emergency mode): the
/// cashier summary by channel is refused in an episode unless asked for, and then marked
/// incomplete. A charge typed in later from paper counts on the day on the paper.
#[test]
fn the_cashier_summary_is_by_channel_and_refused_in_emergency_unless_asked() {
    let (_d, store, clock) = window();
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
        .settle_charge_with(
            &cashier,
            c.header.id,
            SettleRequest {
                outcome: Settlement::Paid,
                payments: Some(vec![
                    part(PaymentChannel::Wechat, 1000),
                    part(PaymentChannel::Cash, 2000),
                ]),
            },
        )
        .expect("settle");
    let today = Date::new(2026, 11, 25).expect("valid");
    let summary = store
        .cashier_summary(today, ReportMode::Complete)
        .expect("report");
    assert_eq!(summary.total_settled, Fen(3000));
    assert_eq!(summary.net_total, Fen(3000));
    assert_eq!(summary.incomplete, None);
    let channels: Vec<_> = summary.by_channel.iter().map(|c| c.channel).collect();
    assert_eq!(channels, vec![PaymentChannel::Cash, PaymentChannel::Wechat]);

    // Typed in the next day from the paper of the 25th: counts on the 25th.
    clock.advance_ms(86_400_000);
    let paper = store
        .create_charge(
            &cashier,
            NewCharge {
                visit: v.header.id,
                lines: vec![NewChargeLine {
                    catalog: CatalogKind::Service,
                    code: "SVC-CBC".into(),
                    quantity: 1,
                }],
                payment: PaymentMethod::SelfPay,
                occurred_at: Some("2026-11-25 10:30".parse().expect("valid")),
            },
        )
        .expect("charge")
        .value;
    store
        .settle_charge(&cashier, paper.header.id, Settlement::Paid)
        .expect("settle");
    let again = store
        .cashier_summary(today, ReportMode::Complete)
        .expect("report");
    assert_eq!(again.total_settled, Fen(3000 + 2000));
    let next_day = store
        .cashier_summary(today.add_days(1), ReportMode::Complete)
        .expect("report");
    assert!(next_day.lines.is_empty(), "{next_day:?}");

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
    assert_eq!(forced.lines[0].self_pay, Fen(5000));
}

/// The store's narrow read of whether a charge awaits re-settlement (from its document,
/// without hydrating the whole charge) says what the charge itself says.
fn assert_read_alike(store: &Store, charge: &Charge) {
    let doc = store
        .doc(charge.header.id)
        .expect("read")
        .expect("the charge is held");
    assert_eq!(
        Charge::awaits_resettlement_in(&*doc).expect("the fields read"),
        charge.awaits_resettlement()
    );
}
