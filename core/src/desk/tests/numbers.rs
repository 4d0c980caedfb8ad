//! Numbers that match the paper: invoice ranges that belong to a cashier and are checked at
//! the start of the shift, numbers never reused, manual leases that reach their holder, and
//! a range report that covers the whole hospital and counts duplicates for what they are.

use super::*;
use crate::desk::{LeaseOrder, ShiftStart};
use crate::record::Invoice;
use crate::test_support::INVOICE_CODE;

/// A settled self-pay charge of 20 yuan on the visit, ready to invoice.
pub(super) fn settled_charge(
    store: &Store,
    visit: crate::id::RecordId,
    cashier: &Operator,
) -> RecordId {
    let c = store
        .create_charge(
            cashier,
            NewCharge {
                visit,
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
        .settle_charge(cashier, c.header.id, Settlement::Paid)
        .expect("settle");
    c.header.id
}

fn order(holder: &str, size: u64, operator: Option<&str>, start: Option<u64>) -> LeaseOrder {
    LeaseOrder {
        series: Series::Invoice,
        holder: node(holder),
        size,
        operator: operator.map(|o| OperatorName::new(o).expect("valid")),
        code: None,
        start,
    }
}

fn shift(code: &str, first_number: u64) -> ShiftStart {
    ShiftStart {
        code: code.into(),
        first_number,
    }
}

use crate::id::RecordId;

/// A number is handed out at most once: a cashier's invoices come from the cashier's range in
/// order, a voided invoice's number and a spoiled one are recorded and never reused, and a
/// used-up range is a clear refusal with nothing written.
#[test]
fn invoices_use_the_cashier_s_range_in_order_and_voids_are_never_reused() {
    let (_d, store, _) = window();
    let (_p, v) = registered(&store);
    let cashier = op("c1", DeskRole::Cashier);
    let c1 = settled_charge(&store, v.header.id, &cashier);
    let err = rule(store.issue_invoice(&cashier, vec![c1]).unwrap_err());
    assert!(
        matches!(err, RuleError::Number(NumberError::NoCashierRange { .. })),
        "{err}"
    );
    cashier_on_shift(&store, &cashier, 3);
    let inv1 = store.issue_invoice(&cashier, vec![c1]).expect("invoice");
    assert_eq!(inv1.value.number, 1);
    assert_eq!(inv1.value.code.as_deref(), Some(INVOICE_CODE));
    assert_eq!(
        inv1.warnings,
        vec![Warning::LowWater {
            series: Series::Invoice,
            remaining: 2
        }]
    );
    store
        .void_invoice(&cashier, inv1.value.header.id, "wrong amount")
        .expect("void");
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
    let inv3 = store
        .issue_invoice(&cashier, vec![c1])
        .expect("the released charge on a new invoice")
        .value;
    assert_eq!(inv3.number, 3);
    let c2 = settled_charge(&store, v.header.id, &cashier);
    assert!(matches!(
        rule(store.issue_invoice(&cashier, vec![c2]).unwrap_err()),
        RuleError::Number(NumberError::Exhausted { .. })
    ));
    let report = store.range_report().expect("report");
    assert!(report.is_clean(), "{report:?}");
    let line = &report.ranges[0];
    assert_eq!((line.issued, line.voided, line.unused), (1, 2, 0));
    assert_eq!(line.operator.as_ref().map(|o| o.as_str()), Some("c1"));
    assert_eq!(line.code.as_deref(), Some(INVOICE_CODE));
}

/// "以下为收款员的票号设置,如有不对的可以修改 … 如果发票号码没问题的话,请点击'完成'。进入系统
/// 后,按此号码进行收费" (the cashier's invoice numbers, preset, are checked and corrected at
/// the start of the shift; then the cashier bills from them): the range belongs to the
/// cashier; the cashier confirms the invoice code and first number of the stock in hand;
/// numbers skipped to reach it are recorded voided; a stock the range cannot be is refused;
/// the confirmation holds for the day.
#[test]
fn a_cashier_confirms_the_code_and_first_number_of_the_stock_at_the_start_of_the_shift() {
    let (_d, store, clock) = window();
    let (_p, v) = registered(&store);
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let (zhang, li) = (op("zhang", DeskRole::Cashier), op("li", DeskRole::Cashier));
    let preset = central
        .lease_range_for(&admin(), order("W01", 10, Some("zhang"), None))
        .expect("lease")
        .value;
    let free = central
        .lease_range_for(&admin(), order("W01", 10, None, None))
        .expect("lease")
        .value;
    for r in [preset, free] {
        store.accept_lease(&admin(), r).expect("accept");
    }
    let c = settled_charge(&store, v.header.id, &zhang);
    // Before confirming the stock, no invoice.
    let err = rule(store.issue_invoice(&zhang, vec![c]).unwrap_err());
    assert!(
        matches!(
            err,
            RuleError::Number(NumberError::ShiftNotConfirmed { .. })
        ),
        "{err}"
    );
    assert_eq!(
        store.cashier_range(&zhang).expect("read").map(|r| r.next),
        Some(1),
        "the desk shows the preset range before the shift"
    );
    // The stock in hand starts at 4: 1 to 3 are recorded voided, never lost.
    let confirmed = store
        .start_shift(&zhang, shift("144031900222", 4))
        .expect("shift")
        .value;
    assert_eq!(confirmed.skipped, vec![1, 2, 3]);
    assert_eq!(confirmed.next, 4);
    let inv = store.issue_invoice(&zhang, vec![c]).expect("invoice").value;
    assert_eq!((inv.number, inv.code.as_deref()), (4, Some("144031900222")));
    // Another cashier at the same window takes the node's free range, not zhang's.
    let li_range = store
        .start_shift(&li, shift("144031900333", 11))
        .expect("li's shift")
        .value;
    assert_eq!(li_range.range_id, "invoice:11-20");
    let c2 = settled_charge(&store, v.header.id, &li);
    assert_eq!(
        store
            .issue_invoice(&li, vec![c2])
            .expect("invoice")
            .value
            .number,
        11
    );
    // A stock that is not the range's is refused, nothing changed.
    for (bad, what) in [
        (shift("999", 5), "code 999"),
        (shift("144031900222", 3), "starts at 3"),
        (shift("144031900222", 11), "ends at 10"),
    ] {
        let err = rule(store.start_shift(&zhang, bad).unwrap_err());
        assert!(err.to_string().contains(what), "{err}");
    }
    // A third cashier finds no free range.
    let err = rule(
        store
            .start_shift(&op("wang", DeskRole::Cashier), shift("1", 1))
            .unwrap_err(),
    );
    assert!(err.to_string().contains("lifeline ranges lease"), "{err}");
    // The next day the stock is checked again before the first invoice.
    clock.advance_ms(86_400_000);
    let c3 = settled_charge(&store, v.header.id, &zhang);
    assert!(matches!(
        rule(store.issue_invoice(&zhang, vec![c3]).unwrap_err()),
        RuleError::Number(NumberError::ShiftNotConfirmed { .. })
    ));
    store
        .start_shift(&zhang, shift("144031900222", 5))
        .expect("shift");
    assert_eq!(
        store
            .issue_invoice(&zhang, vec![c3])
            .expect("invoice")
            .value
            .number,
        5
    );
    let report = store.range_report().expect("report");
    assert!(report.is_clean(), "{report:?}");
}

/// The range a cashier takes from the node's free ones at the start of the shift is theirs
/// in every node's report too: the lease record names the cashier and the stock's code.
#[test]
fn a_free_range_taken_at_the_shift_start_is_the_cashier_s_everywhere() {
    let (_d, w01, _) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    central
        .lease_range_for(&admin(), order("W01", 10, None, None))
        .expect("lease");
    copy_all(&central, &w01);
    w01.accept_granted_leases(&admin()).expect("accept");
    let li = op("li", DeskRole::Cashier);
    w01.start_shift(&li, shift("144031900333", 1))
        .expect("shift");
    copy_all(&w01, &central);
    let report = central.hospital_range_report().expect("report");
    let line = &report.ranges[0];
    assert_eq!(line.operator.as_ref().map(|o| o.as_str()), Some("li"));
    assert_eq!(line.code.as_deref(), Some("144031900333"));
}

/// A cashier whose range is used up, on a window holding a free range (housekeeping leased
/// it when the numbers ran low), is asked to start a shift, not told the numbers are gone:
/// the shift start takes the free range and invoicing goes on (`lifeline-sim --store`, seed
/// 2715: a window's store restored empty got its earlier life's range back retired, every
/// number voided, and its cashier could not re-settle a charge though a new range was held).
#[test]
fn a_cashier_whose_range_is_used_up_starts_a_shift_on_the_node_s_free_range() {
    let (_d, w01, _) = window();
    let (_p, v) = registered(&w01);
    let cashier = op("c1", DeskRole::Cashier);
    cashier_on_shift(&w01, &cashier, 1);
    let c1 = settled_charge(&w01, v.header.id, &cashier);
    w01.issue_invoice(&cashier, vec![c1]).expect("invoice 1");
    let c2 = settled_charge(&w01, v.header.id, &cashier);
    assert!(matches!(
        rule(w01.issue_invoice(&cashier, vec![c2]).unwrap_err()),
        RuleError::Number(NumberError::Exhausted { .. })
    ));
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    central
        .lease_range_for(&admin(), order("W01", 10, None, Some(101)))
        .expect("lease");
    copy_all(&central, &w01);
    w01.accept_granted_leases(&admin()).expect("accept");
    let err = rule(w01.issue_invoice(&cashier, vec![c2]).unwrap_err());
    assert!(
        matches!(err, RuleError::Number(NumberError::NoCashierRange { .. })),
        "{err}"
    );
    w01.start_shift(&cashier, shift(INVOICE_CODE, 101))
        .expect("the shift takes the free range");
    let invoice = w01.issue_invoice(&cashier, vec![c2]).expect("invoice 2");
    assert_eq!(invoice.value.number, 101);
}

/// `lifeline ranges lease` records the lease: it travels to the holder as a record, the
/// holder takes it into its ledger and numbers from it, and the next automatic lease comes
/// after it; central's range report then covers every range of every node, from the
/// records.
#[test]
fn a_manual_lease_reaches_its_holder_is_used_and_central_reports_every_range() {
    let (_d, w01, _) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let cashier = op("c1", DeskRole::Cashier);
    // Numbers 1-20 were leased automatically before; 21-40 by hand for cashier c1.
    central
        .lease_range_for(&admin(), order("W02", 20, None, None))
        .expect("lease");
    let manual = central
        .lease_range_for(&admin(), order("W01", 20, Some("c1"), None))
        .expect("lease")
        .value;
    assert_eq!((manual.start, manual.end), (21, 40));
    copy_all(&central, &w01);
    assert_eq!(w01.accept_granted_leases(&admin()).expect("accept"), 1);
    let held = w01.ranges().expect("ranges");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].range.operator.as_ref(), Some(&cashier.name));
    assert!(held[0].lease_record.is_some());
    // The cashier starts the shift and invoices from 21.
    w01.start_shift(&cashier, shift(INVOICE_CODE, 21))
        .expect("shift");
    let (_p, v) = registered(&w01);
    let c = settled_charge(&w01, v.header.id, &cashier);
    assert_eq!(
        w01.issue_invoice(&cashier, vec![c])
            .expect("invoice")
            .value
            .number,
        21
    );
    w01.void_next_number(&cashier, Series::Invoice, "printer jam")
        .expect("spoil 22");
    // The next automatic lease comes after the manual one.
    w01.request_lease(&admin(), Series::Invoice, 20)
        .expect("request");
    copy_all(&w01, &central);
    central.fill_lease_requests(&admin()).expect("fill");
    let next = central
        .leases()
        .expect("leases")
        .into_iter()
        .filter_map(|l| (l.holder == node("W01")).then_some(l.range).flatten())
        .max();
    assert_eq!(next, Some((41, 60)));
    // Central's report covers W02's unused range and W01's two, with 21 issued and 22
    // spoiled, from the records alone.
    copy_all(&w01, &central);
    let report = central.hospital_range_report().expect("report");
    assert_eq!(report.scope, crate::numbers::ReportScope::Hospital);
    let ids: Vec<&str> = report.ranges.iter().map(|r| r.range_id.as_str()).collect();
    assert_eq!(ids, vec!["invoice:1-20", "invoice:21-40", "invoice:41-60"]);
    let manual_line = &report.ranges[1];
    assert_eq!(
        (manual_line.issued, manual_line.voided, manual_line.unused),
        (1, 1, 18)
    );
    assert_eq!(manual_line.holder, node("W01"));
    assert_eq!(manual_line.operator.as_ref(), Some(&cashier.name));
    assert!(report.is_clean(), "{report:?}");
}

/// "no number issued twice": the duplicates column counts numbers printed on two records,
/// not numbers past a cursor. Two lessors that wrongly leased the same numbers to two
/// windows make the same invoice number twice; central's report and each window's show it.
#[test]
fn the_range_report_counts_duplicates_for_what_they_are() {
    let (_d1, w01, _) = window();
    let (_d2, w02, _) = window_named("W02");
    let cashier = op("c1", DeskRole::Cashier);
    cashier_on_shift(&w01, &cashier, 5);
    cashier_on_shift(&w02, &cashier, 5);
    for w in [&w01, &w02] {
        let (_p, v) = registered(w);
        let c = settled_charge(w, v.header.id, &cashier);
        assert_eq!(
            w.issue_invoice(&cashier, vec![c])
                .expect("invoice")
                .value
                .number,
            1
        );
    }
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    copy_all(&w01, &central);
    copy_all(&w02, &central);
    copy_all(&w02, &w01);
    let own = w01.range_report().expect("report");
    assert_eq!(own.duplicates.len(), 1, "{own:?}");
    assert_eq!(own.ranges[0].duplicates, vec![1]);
    assert!(own.ranges[0].beyond_cursor.is_empty());
    assert!(!own.is_clean());
    let invoices = central.ids_of_kind(RecordKind::Invoice).expect("ids");
    assert_eq!(invoices.len(), 2);
    let dup = &own.duplicates[0];
    for id in &dup.records {
        let inv: Invoice = central.get(*id).expect("read").expect("present");
        assert_eq!(inv.number, 1);
    }
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
    // A paper stock's numbers, leased by hand, may not overlap any leased range.
    let err = rule(
        central
            .lease_range_for(&admin(), order("W03", 10, None, Some(15)))
            .unwrap_err(),
    );
    assert!(
        matches!(err, RuleError::Number(NumberError::Overlap { .. })),
        "{err}"
    );
    let paper = central
        .lease_range_for(&admin(), order("W03", 10, None, Some(1_000_001)))
        .expect("a stock far ahead")
        .value;
    assert_eq!(paper.end, 1_000_010);
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
