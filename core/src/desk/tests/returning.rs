//! A window whose whole data directory went back to an older copy (the store and the mark
//! beside it, so nothing on disk tells: `desk::returning`) never hands out again the numbers
//! its lost records carry once they come back from central.

use super::numbers::settled_charge;
use super::*;
use crate::desk::ShiftStart;
use crate::numbers::RangeState;
use crate::store::mark_file;
use crate::test_support::store_at;

fn emergency_visit(store: &Store, reg: &Operator) -> Visit {
    let p = store
        .create_patient(reg, new_patient("赵六"))
        .expect("patient")
        .value;
    let new_visit = paediatrics(p.header.id);
    store.register_visit(reg, new_visit).expect("visit").value
}

fn cursor(store: &Store, series: Series) -> u64 {
    let ranges: Vec<RangeState> = store.ranges().expect("ranges");
    let state = ranges
        .iter()
        .find(|r| r.range.series == series)
        .expect("a range of the series");
    state.next
}

/// W01 holding a range of `series` central leased it (taken from the lease, so the range
/// knows its lease record), with central beside it.
struct Leased {
    dir: tempfile::TempDir,
    w01: Store,
    clock: ManualClock,
    _central_dir: tempfile::TempDir,
    central: Store,
}

fn leased(series: Series) -> Leased {
    let (dir, w01, clock) = window();
    let (central_dir, central, _) = temp_store("central", NodeRole::Central);
    central
        .lease_range(&admin(), series, node("W01"), 10)
        .expect("lease");
    copy_all(&central, &w01);
    assert_eq!(w01.accept_granted_leases(&admin()).expect("accept"), 1);
    Leased {
        dir,
        w01,
        clock,
        _central_dir: central_dir,
        central,
    }
}

/// A copy of the window's whole data directory as it is now: the store and the mark beside it.
struct WholeCopy {
    store: std::path::PathBuf,
    mark: Vec<u8>,
}

fn copy_whole(dir: &std::path::Path, w01: &Store) -> WholeCopy {
    let store = dir.join("copy.redb");
    w01.backup_to(&store, &|_, _| {}).expect("backup");
    let mark = std::fs::read(mark_file(w01.path())).expect("the mark");
    WholeCopy { store, mark }
}

/// The copy put back over the window's directory, and the window started on it.
fn put_back(w01: Store, copy: &WholeCopy, clock: &ManualClock) -> Store {
    let store_path = w01.path().to_path_buf();
    drop(w01);
    std::fs::copy(&copy.store, &store_path).expect("copy the store back");
    std::fs::write(mark_file(&store_path), &copy.mark).expect("copy the mark back");
    store_at(&store_path, "W01", NodeRole::Window, clock)
}

#[test]
fn numbers_on_its_records_that_come_back_are_never_handed_out_again() {
    let Leased {
        dir,
        w01,
        clock,
        central,
        ..
    } = leased(Series::EmergencyRegistration);
    let (reg, cashier) = (
        op("reg1", DeskRole::Registration),
        op("c1", DeskRole::Cashier),
    );
    cashier_on_shift(&w01, &cashier, 10);
    w01.start_episode(
        &admin(),
        EpisodeId::new("YJ-20261125-01").expect("valid"),
        "central down",
    )
    .expect("start");
    let first = emergency_visit(&w01, &reg);
    assert_eq!(first.registration_no, "YJ00000001");

    // The whole data directory as a copy of it taken now holds it.
    let copy = copy_whole(dir.path(), &w01);

    // Since the copy: YJ2, a number spoiled (3), YJ4, and invoice 1 (voided) and 2; central
    // receives them all.
    assert_eq!(emergency_visit(&w01, &reg).registration_no, "YJ00000002");
    w01.void_next_number(&admin(), Series::EmergencyRegistration, "printer jam")
        .expect("spoil");
    assert_eq!(emergency_visit(&w01, &reg).registration_no, "YJ00000004");
    let c1 = settled_charge(&w01, first.header.id, &cashier);
    let voided = w01.issue_invoice(&cashier, vec![c1]).expect("invoice");
    w01.void_invoice(&cashier, voided.value.header.id, "wrong amount")
        .expect("void");
    let c2 = settled_charge(&w01, first.header.id, &cashier);
    assert_eq!(
        w01.issue_invoice(&cashier, vec![c2])
            .expect("invoice")
            .value
            .number,
        2
    );
    copy_all(&w01, &central);

    let w01 = put_back(w01, &copy, &clock);
    assert_eq!(
        cursor(&w01, Series::EmergencyRegistration),
        2,
        "nothing told it"
    );

    // Its records come back from central: the numbers they carry are taken.
    copy_all(&central, &w01);
    assert_eq!(cursor(&w01, Series::EmergencyRegistration), 5);
    assert_eq!(cursor(&w01, Series::Invoice), 3);
    assert_eq!(emergency_visit(&w01, &reg).registration_no, "YJ00000005");
    let c3 = settled_charge(&w01, first.header.id, &cashier);
    assert_eq!(
        w01.issue_invoice(&cashier, vec![c3])
            .expect("invoice")
            .value
            .number,
        3
    );
    let own = w01.range_report().expect("report");
    assert!(own.is_clean(), "{own:?}");
    let lines: Vec<(u64, u64)> = own.ranges.iter().map(|l| (l.issued, l.voided)).collect();
    assert_eq!(
        lines,
        [(2, 1), (4, 1)],
        "invoices, then registrations: {own:?}"
    );
}

/// The copy went back to before the cashier's first shift claimed the window's invoice range:
/// when the lease, which names the cashier, comes back, the range is the cashier's again, part
/// used, and the cashier starts the next shift from where the invoices that came back leave it.
#[test]
fn a_cashiers_range_claimed_after_the_copy_is_the_cashiers_again() {
    let Leased {
        dir,
        w01,
        clock,
        central,
        ..
    } = leased(Series::Invoice);
    let cashier = op("c1", DeskRole::Cashier);
    let (_, visit) = registered(&w01);

    let copy = copy_whole(dir.path(), &w01);

    // Since the copy: the cashier's shift claims the range, and invoice 1.
    let shift = |store: &Store, first_number| {
        let start = ShiftStart {
            code: "SIM0001".into(),
            first_number,
        };
        store.start_shift(&cashier, start).map(|s| s.value)
    };
    shift(&w01, 1).expect("the first shift");
    let c1 = settled_charge(&w01, visit.header.id, &cashier);
    let first = w01.issue_invoice(&cashier, vec![c1]).expect("invoice");
    assert_eq!(first.value.number, 1);
    copy_all(&w01, &central);

    let w01 = put_back(w01, &copy, &clock);
    assert_eq!(
        w01.cashier_range(&cashier).expect("read"),
        None,
        "nothing told it"
    );

    copy_all(&central, &w01);
    let range = w01
        .cashier_range(&cashier)
        .expect("read")
        .expect("the cashier's range again");
    assert_eq!((range.next, range.code.as_deref()), (2, Some("SIM0001")));
    shift(&w01, 2).expect("the next shift");
    let c2 = settled_charge(&w01, visit.header.id, &cashier);
    let second = w01.issue_invoice(&cashier, vec![c2]).expect("invoice");
    assert_eq!(second.value.number, 2);
    let own = w01.range_report().expect("report");
    assert!(own.is_clean(), "{own:?}");
}
