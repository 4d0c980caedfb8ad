//! The recovery worklist after an emergency: every category listed, drained to zero through
//! the normal desk operations.

use super::*;

#[test]
fn the_worklist_after_an_emergency_lists_each_category_and_drains_to_zero() {
    let h = hospital();
    let range = h
        .central
        .lease_range(
            &admin(),
            Series::EmergencyRegistration,
            h.w1.node().clone(),
            100,
        )
        .expect("lease")
        .value;
    h.w1.accept_lease(&admin(), range).expect("accept");
    let p0 = patient(&h.w1, "张三", "13600136000", None);
    copy_all(&h.w1, &h.w2);
    assert!(h.w1.worklist().expect("worklist").is_empty());

    // Central goes down; both windows carry on in one episode.
    let episode =
        h.w1.open_episode(&admin(), "central down", Opening::Declared)
            .expect("open")
            .value;
    copy_all(&h.w1, &h.w2);
    h.w2.open_episode(&admin(), "central down", Opening::Declared)
        .expect("join");
    let p1 = patient(&h.w1, "王小明", "13800138000", Some(NID));
    let v1 = visit(&h.w1, p1);
    assert_eq!(
        v1.status_log.current::<VisitStatus>(),
        Ok(VisitStatus::Paused)
    );
    let rx = prescription(&h.w1, v1.header.id);
    let (rx, rx_charge) = (rx.header.id, rx.charge.expect("charge"));
    let pharmacy = op("ph1", DeskRole::Pharmacy);
    h.w1.print_prescription(&pharmacy, rx).expect("print");
    let cashier = op("c1", DeskRole::Cashier);
    let charge =
        h.w1.create_charge(
            &cashier,
            NewCharge {
                visit: v1.header.id,
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
    let p2 = patient(&h.w2, "王小明", "13800138000", Some(NID));
    set_phone(&h.w1, "reg1", p0, "13611111111");
    set_phone(&h.w2, "reg2", p0, "13622222222");
    sync(&h.w1, &h.w2);

    let list = h.w1.worklist().expect("worklist");
    assert_eq!(list.len(), 5, "{list:#?}");
    // The HIS's refusals have their own test (import::tests): no HIS here.
    for category in WorkCategory::ALL
        .into_iter()
        .filter(|c| *c != WorkCategory::FixHisRejection)
    {
        assert_eq!(list.count(category), 1, "{category}: {list:#?}");
    }
    let rx_item = list
        .of(WorkCategory::DispenseEmergencyPrescription)
        .next()
        .expect("item");
    assert_eq!(rx_item.record, rx);
    assert_eq!(rx_item.central_acked, Some(false));
    assert_eq!(rx_item.episode.as_ref(), Some(&episode));
    assert_eq!(rx_item.patient_name.as_deref(), Some("王小明"));
    let visit_item = list
        .of(WorkCategory::RestorePausedVisit)
        .next()
        .expect("item");
    assert_eq!(visit_item.record, v1.header.id);
    let charge_item = list
        .of(WorkCategory::ResettleInsurance)
        .next()
        .expect("item");
    assert_eq!(charge_item.record, charge);
    assert_eq!(
        charge_item.due, None,
        "due 7 working days after the outage ends"
    );
    assert!(!charge_item.overdue);
    let dup = list
        .of(WorkCategory::MergeDuplicatePatient)
        .next()
        .expect("item");
    assert_eq!(
        dup.conflict.as_deref(),
        Some(Target::pair(p1, p2).id().as_str())
    );
    let field = list
        .of(WorkCategory::ReviewConflict)
        .next()
        .expect("item")
        .clone();
    assert_eq!(field.record, p0);
    let json = serde_json::to_value(&list).expect("json");
    assert_eq!(
        json["items"][0]["category"],
        "dispense_emergency_prescription"
    );
    assert_eq!(json["counts"][4]["category"], "review_conflict");
    assert_eq!(json["counts"][4]["count"], 1);
    assert_eq!(json["items"][2]["due"], serde_json::Value::Null);

    // Central is back: the episode ends, the records reach central and are acknowledged.
    h.w1.leave_episode(&admin(), LeaveScope::HospitalWide)
        .expect("stop");
    copy_all(&h.w1, &h.w2);
    h.w2.reconcile_episodes(&admin()).expect("follow the stop");
    assert_eq!(h.w2.episode().expect("read"), None);
    for w in [&h.w1, &h.w2] {
        copy_all(w, &h.central);
    }
    // Ended on Wednesday 2026-11-25: due 7 working days later, Friday 2026-12-04.
    let due =
        h.w1.worklist()
            .expect("worklist")
            .of(WorkCategory::ResettleInsurance)
            .next()
            .and_then(|i| i.due);
    assert_eq!(due, Date::new(2026, 12, 4));
    h.central
        .acknowledge_emergency_records(&admin())
        .expect("ack");
    copy_all(&h.central, &h.w1);
    let list = h.w1.worklist().expect("worklist");
    assert_eq!(list.len(), 5);
    assert_eq!(
        list.of(WorkCategory::DispenseEmergencyPrescription)
            .next()
            .and_then(|i| i.central_acked),
        Some(true)
    );

    // Each item clears through the normal operation.
    let steps: Vec<Box<dyn Fn()>> = vec![
        Box::new(|| {
            h.w1.settle_charge(&cashier, rx_charge, Settlement::Paid)
                .expect("the drugs are paid");
            h.w1.dispense_prescription(&pharmacy, rx).expect("dispense");
        }),
        Box::new(|| {
            h.w1.resume_visit(&op("nurse1", DeskRole::Triage), v1.header.id)
                .expect("resume");
        }),
        Box::new(|| {
            cashier_on_shift(&h.w1, &cashier, 10);
            h.w1.resettle_charge(&cashier, charge).expect("resettle");
        }),
        Box::new(|| {
            h.w1.merge_patients(&admin(), p1, p2).expect("merge");
        }),
        Box::new(|| {
            let id = field.conflict.as_deref().expect("conflict id");
            h.w1.resolve_conflict(&admin(), id, Resolution::ChooseValue(0))
                .expect("resolve");
        }),
    ];
    for (done, step) in steps.iter().enumerate() {
        step();
        let list = h.w1.worklist().expect("worklist");
        assert_eq!(list.len(), 4 - done, "after step {done}: {list:#?}");
        assert_eq!(list.count(WorkCategory::ALL[done]), 0);
    }
    let list = h.w1.worklist().expect("worklist");
    assert!(list.is_empty());
    assert!(list.counts.iter().all(|c| c.count == 0));

    // The decisions replicate: W02's worklist drains too once it has them.
    sync(&h.w1, &h.w2);
    copy_all(&h.central, &h.w2);
    let w2 = h.w2.worklist().expect("worklist");
    assert!(w2.is_empty(), "{w2:#?}");
}

/// "财务结算部门在故障排除后7个工作日内 … 重新划卡结算": a re-settlement past its due date is
/// overdue and stays on the worklist, however old, until it is done; the overdue view lists
/// it alone.
#[test]
fn an_overdue_resettlement_stays_on_the_worklist_until_done() {
    let h = hospital();
    let p = patient(&h.w1, "王小明", "13800138000", None);
    let v = visit(&h.w1, p);
    let cashier = op("c1", DeskRole::Cashier);
    let fee = v.fee_charge.expect("fee");
    h.w1.settle_charge(&cashier, fee, Settlement::InsuranceFailed)
        .expect("settle");
    let rx = prescription(&h.w1, v.header.id);
    h.w1.settle_charge(&cashier, rx.charge.expect("charge"), Settlement::Paid)
        .expect("an ordinary payment: nothing to do");
    let item = |list: &Worklist| list.of(WorkCategory::ResettleInsurance).next().cloned();
    let first = item(&h.w1.worklist().expect("worklist")).expect("listed");
    assert_eq!(first.due, Date::new(2026, 12, 4));
    assert!(!first.overdue);
    // 40 days later (nearly twice past the old 21-day horizon) it is still there, overdue.
    for clock in &h.clocks {
        clock.advance_ms(40 * 86_400_000);
    }
    let list = h.w1.worklist().expect("worklist");
    let late = item(&list).expect("still listed");
    assert!(late.overdue, "{late:?}");
    let overdue: Vec<_> = list.overdue().map(|i| i.record).collect();
    assert_eq!(overdue, vec![fee]);
    let view = list.only_overdue();
    assert_eq!(view.len(), 1);
    assert_eq!(view.count(WorkCategory::ResettleInsurance), 1);
    // Done: off the list.
    cashier_on_shift(&h.w1, &cashier, 5);
    h.w1.resettle_charge(&cashier, fee).expect("resettle");
    let list = h.w1.worklist().expect("worklist");
    assert!(item(&list).is_none());
    assert_eq!(list.overdue().count(), 0);
}
