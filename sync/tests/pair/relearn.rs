//! A lessor that lost history relearns it from its peers before it leases from its cursor
//! (`lifeline_core::store::relearn`).

use lifeline_core::housekeeping::system_operator;
use lifeline_core::numbers::Series;

use super::support::*;

fn held(node: &Disk) -> Vec<String> {
    let names = node.store.leasing_held_for().expect("read");
    names.iter().map(|n| n.to_string()).collect()
}

fn request(node: &Disk) {
    node.store
        .request_lease(&system_operator(), Series::EmergencyRegistration, 10)
        .expect("request");
}

/// Central's data directory is copied back by hand from a backup taken before it granted W02
/// a range (the store, and the mark beside it as it was then): the same incarnation, so
/// neither can tell, and the cursor is back where the grant started (a store copied back
/// alone is told by the mark: `core store::relearn_tests`). W01,
/// which had read further into central's feed, finds it went back and rewinds
/// central: central lost history, and leases nothing from its cursor until it has caught up
/// with W02 too, the one member holding the lost grant. Then W01's range starts after W02's.
#[test]
fn a_lessor_copied_back_by_hand_relearns_its_grants_before_it_leases_again() {
    let ca = Ca::new();
    let r = ca.anchor();
    let central = ca.disk("central", NodeRole::Central, &[]);
    let w01 = ca.disk("W01", NodeRole::Window, &[DeskRole::Registration]);
    let w02 = ca.disk("W02", NodeRole::Window, &[DeskRole::Registration]);
    for w in [&w01, &w02] {
        w.register("p");
        disk_link(w, &central, &r).pump().expect("first sync");
    }
    let backup = central.backup_whole(&central._dir.path().join("backup.redb"));

    w02.register("q");
    request(&w02);
    disk_link(&w02, &central, &r).pump().expect("W02's request");
    disk_link(&w01, &central, &r)
        .pump()
        .expect("W01 reads on in central's feed");
    let system = system_operator();
    central.store.fill_lease_requests(&system).expect("grant");
    disk_link(&w02, &central, &r).pump().expect("the grant");
    w02.store.accept_granted_leases(&system).expect("take");
    let w02_ranges = w02.store.ranges().expect("ranges");
    assert_eq!(w02_ranges.len(), 1, "{w02_ranges:?}");
    let w02_range = &w02_ranges[0].range;

    let central = central.copied_over(&backup);
    assert_eq!(
        held(&central),
        Vec::<String>::new(),
        "the files cannot tell"
    );
    request(&w01);
    disk_link(&w01, &central, &r)
        .pump()
        .expect("W01 rewinds central");
    assert_eq!(held(&central), ["W02"]);
    let err = central.store.fill_lease_requests(&system).unwrap_err();
    assert!(err.to_string().contains("caught up with W02"), "{err}");

    disk_link(&w02, &central, &r)
        .pump()
        .expect("W02 brings the grant back");
    assert_eq!(held(&central), Vec::<String>::new());
    central.store.fill_lease_requests(&system).expect("lease");
    disk_link(&w01, &central, &r).pump().expect("W01's grant");
    w01.store.accept_granted_leases(&system).expect("take");
    let w01_ranges = w01.store.ranges().expect("ranges");
    assert_eq!(w01_ranges.len(), 1, "{w01_ranges:?}");
    assert!(
        w01_ranges[0].range.start > w02_range.end,
        "{:?} overlaps {w02_range:?}",
        w01_ranges[0].range
    );
}
