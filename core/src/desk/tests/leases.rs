//! Ranges granted more than once, or to a node's earlier life: every grant is accounted for,
//! and none is numbered from twice.

use super::*;
use crate::numbers::Series;
use crate::store::{RestoreOptions, restore_from};
use crate::test_support::store_at;

fn no_progress(_: u64, _: u64) {}

/// `window` asks for ten emergency registration numbers, `central` grants them, and the
/// window takes what was granted: how many ranges it took.
fn asked_and_granted(window: &Store, central: &Store) -> usize {
    window
        .request_lease(&admin(), Series::EmergencyRegistration, 10)
        .expect("request");
    copy_all(window, central);
    central.fill_lease_requests(&admin()).expect("fill");
    copy_all(central, window);
    window.accept_granted_leases(&admin()).expect("accept")
}

/// Central and the standby, apart, both fill one request of W01's: W01 numbers from the grant
/// that reached it first, the merged request shows one of the two, and every node's report
/// still accounts for both ranges (seed 96 of the simulator: a number of no range leased).
#[test]
fn both_lessors_grants_of_one_request_are_accounted_for() {
    let (_w, w01, _) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let (_s, standby, _) = temp_store("standby", NodeRole::Standby);
    w01.request_lease(&admin(), Series::EmergencyRegistration, 10)
        .expect("request");
    copy_all(&w01, &central);
    copy_all(&w01, &standby);
    assert_eq!(
        central.fill_lease_requests(&admin()).expect("fill").value,
        1
    );
    assert_eq!(
        standby.fill_lease_requests(&admin()).expect("fill").value,
        1
    );
    copy_all(&standby, &w01);
    assert_eq!(w01.accept_granted_leases(&admin()).expect("accept"), 1);
    w01.void_next_number(&admin(), Series::EmergencyRegistration, "jam")
        .expect("numbered from the standby's grant");
    copy_all(&central, &w01);
    assert_eq!(
        w01.accept_granted_leases(&admin()).expect("accept"),
        1,
        "central's grant is taken too"
    );
    for (from, to) in [(&w01, &central), (&standby, &central)] {
        copy_all(from, to);
    }
    let lines = central.leases().expect("leases");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].grants.len(), 2, "{lines:?}");
    for store in [&central, &w01] {
        let report = store.hospital_range_report().expect("report");
        let ids: Vec<&str> = report.ranges.iter().map(|r| r.range_id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "emergency_registration:1-10",
                "emergency_registration:500000001-500000010"
            ]
        );
        assert!(report.is_clean(), "{report:?}");
    }
    assert!(w01.range_report().expect("report").is_clean());
}

/// W01 asks for a range, takes it and numbers from it; then its store is restored from a
/// backup taken before it asked. The lease comes back from central: the restored store must
/// not number from it again (seed 46: a number on two registrations), so it is taken retired.
/// A range asked for after the restore is numbered from as usual.
#[test]
fn a_range_asked_for_before_a_restore_comes_back_retired() {
    let (dir, w01, clock) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let backup = dir.path().join("backup.redb");
    w01.backup_to(&backup, &no_progress).expect("backup");
    clock.advance_ms(1_000);
    assert_eq!(asked_and_granted(&w01, &central), 1);
    w01.void_next_number(&admin(), Series::EmergencyRegistration, "jam")
        .expect("number 1 used");
    let path = w01.path().to_path_buf();
    drop(w01);
    clock.advance_ms(60_000);
    let options = RestoreOptions {
        at_ms: Some(crate::clock::Clock::now_ms(&clock)),
        ..RestoreOptions::default()
    };
    restore_from(&backup, &path, &node("W01"), options, &no_progress).expect("restore");
    let w01 = store_at(&path, "W01", NodeRole::Window, &clock);
    assert_eq!(
        w01.incarnation_ms().expect("read"),
        crate::clock::Clock::now_ms(&clock)
    );
    copy_all(&central, &w01);
    assert_eq!(w01.accept_granted_leases(&admin()).expect("accept"), 1);
    assert_eq!(
        w01.numbers_left(Series::EmergencyRegistration)
            .expect("left"),
        0
    );
    let err = w01
        .void_next_number(&admin(), Series::EmergencyRegistration, "jam")
        .unwrap_err();
    assert!(
        matches!(rule(err), RuleError::Number(NumberError::Exhausted { .. })),
        "numbered from a range of its earlier life"
    );
    let report = w01.range_report().expect("report");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.ranges[0].voided, report.ranges[0].unused), (10, 0));

    clock.advance_ms(1_000);
    assert_eq!(asked_and_granted(&w01, &central), 1);
    assert_eq!(
        w01.numbers_left(Series::EmergencyRegistration)
            .expect("left"),
        10
    );
}

/// Central's store made anew (or copied back from an old file) has its cursor at the start,
/// while the windows send back the ranges it granted before: a lease by hand must start past
/// them, not fail on the overlap (the simulator's seeds 7 and 12 with the emergency desk).
#[test]
fn a_lessor_made_anew_leases_past_the_grants_it_learns_back() {
    let (_w, w01, _) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    w01.request_lease(&admin(), Series::EmergencyRegistration, 10)
        .expect("request");
    copy_all(&w01, &central);
    central.fill_lease_requests(&admin()).expect("fill");
    copy_all(&central, &w01);
    let (_n, anew, _) = temp_store("central", NodeRole::Central);
    copy_all(&w01, &anew);
    let order = crate::desk::LeaseOrder {
        series: Series::EmergencyRegistration,
        holder: node("W02"),
        size: 10,
        operator: None,
        code: None,
        start: None,
    };
    let range = anew
        .lease_range_for(&admin(), order)
        .expect("a lease by hand past what it granted")
        .value;
    assert_eq!((range.start, range.end), (11, 20));
}

/// W01's store is made anew on a clock five minutes slow, so its life seems to begin before
/// its earlier life asked for a range (the simulator's seed 535: a clock set back, then a
/// store rebuilt). The range comes back retired all the same: this store never asked for it.
#[test]
fn a_range_an_earlier_life_asked_for_is_retired_whatever_the_clock() {
    let (_w, w01, _) = window();
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    assert_eq!(asked_and_granted(&w01, &central), 1);
    drop(w01);
    let dir = tempfile::tempdir().expect("dir");
    let slow = crate::clock::ManualClock::new(1_795_568_400_000 - 300_000);
    let anew = store_at(&dir.path().join("w01.redb"), "W01", NodeRole::Window, &slow);
    copy_all(&central, &anew);
    assert_eq!(anew.accept_granted_leases(&admin()).expect("accept"), 1);
    assert_eq!(
        anew.numbers_left(Series::EmergencyRegistration)
            .expect("left"),
        0
    );
    assert_eq!(asked_and_granted(&anew, &central), 1, "its own request");
    assert_eq!(
        anew.numbers_left(Series::EmergencyRegistration)
            .expect("left"),
        10
    );
}
