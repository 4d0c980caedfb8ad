//! A lessor that lost history relearns it before it leases from its cursor (`relearn.rs`).

use super::{RestoreOptions, Store, restore_from};
use crate::WriteError;
use crate::desk::LeaseOrder;
use crate::id::{NodeName, OperatorName};
use crate::numbers::{NumberError, Series};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::test_support::{copy_all, store_at, temp_store};

fn node(name: &str) -> NodeName {
    NodeName::new(name).expect("valid")
}

fn admin() -> Operator {
    Operator::new(OperatorName::new("info").expect("valid"), DeskRole::Admin)
}

fn system() -> Operator {
    Operator::new(OperatorName::new("system").expect("valid"), DeskRole::Admin)
}

/// Every record of `from` merged into `to`, without the catch-up a session would note: these
/// tests say when `to` has caught up with whom.
fn merge_only(from: &Store, to: &Store) {
    let out = to.merge_from(from).expect("apply");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}

fn held(store: &Store) -> Vec<String> {
    let names = store.leasing_held_for().expect("read");
    names.iter().map(|n| n.to_string()).collect()
}

/// `central` backed up now, closed, restored from that backup and opened again.
fn restored(central: Store, dir: &std::path::Path, clock: &crate::clock::ManualClock) -> Store {
    let path = central.path().to_path_buf();
    let backup = dir.join("backup.redb");
    central.backup_to(&backup, &|_, _| {}).expect("backup");
    drop(central);
    restore_from(
        &backup,
        &path,
        &node("central"),
        RestoreOptions::default(),
        &|_, _| {},
    )
    .expect("restore");
    store_at(&path, "central", NodeRole::Central, clock)
}

fn by_hand(start: Option<u64>) -> LeaseOrder {
    LeaseOrder {
        series: Series::EmergencyRegistration,
        holder: node("W02"),
        size: 10,
        operator: None,
        code: None,
        start,
    }
}

fn relearning(e: &WriteError) -> Option<&str> {
    match e {
        WriteError::Rule(RuleError::Number(NumberError::Relearning { waiting_for })) => {
            Some(waiting_for)
        }
        _ => None,
    }
}

type Window = (tempfile::TempDir, Store);

/// Central, and windows W01 and W02 on its roster.
fn central_with_two_windows() -> (
    tempfile::TempDir,
    Store,
    crate::clock::ManualClock,
    Window,
    Window,
) {
    let (dir, central, clock) = temp_store("central", NodeRole::Central);
    let (d1, w01, _) = temp_store("W01", NodeRole::Window);
    let (d2, w02, _) = temp_store("W02", NodeRole::Window);
    for w in [&w01, &w02] {
        for member in w.roster().members() {
            central.admit_member(member.clone()).expect("admit");
        }
    }
    (dir, central, clock, (d1, w01), (d2, w02))
}

/// `central` neither fills a request nor leases by hand from its cursor while it waits for
/// `waiting_for`.
fn leases_nothing_from_its_cursor(central: &Store, waiting_for: &str) {
    let err = central.fill_lease_requests(&system()).unwrap_err();
    assert_eq!(relearning(&err), Some(waiting_for), "{err}");
    let err = central
        .lease_range_for(&admin(), by_hand(None))
        .unwrap_err();
    assert_eq!(relearning(&err), Some(waiting_for), "{err}");
}

/// Seed 6032 `--store`: the standby, restored twice from one old backup, granted in its
/// second life the numbers its first life had granted, before that grant came back to it. A
/// restored lessor now leases from its cursor only once it has caught up with every member in
/// one opening; a range with its first number given by hand it may lease meanwhile.
#[test]
fn a_restored_lessor_leases_from_its_cursor_once_it_has_caught_up_with_every_member() {
    let (dir, central, clock, (_d1, w01), (_d2, _w02)) = central_with_two_windows();
    for member in central.roster().members() {
        w01.admit_member(member.clone()).expect("admit");
    }
    assert_eq!(held(&central), Vec::<String>::new(), "never restored");

    let path = central.path().to_path_buf();
    let central = restored(central, dir.path(), &clock);
    assert_eq!(held(&central), ["W01", "W02"]);

    w01.request_lease(&system(), Series::EmergencyRegistration, 10)
        .expect("request");
    merge_only(&w01, &central);
    leases_nothing_from_its_cursor(&central, "W01, W02");
    let paper = central
        .lease_range_for(&admin(), by_hand(Some(700_001)))
        .expect("a range whose first number is given");
    assert_eq!(paper.value.start, 700_001);

    central
        .note_caught_up(&node("W01"))
        .expect("caught up with W01");
    assert_eq!(held(&central), ["W02"]);
    // Caught up with in an earlier opening is not enough: what was learned then is held, but
    // the relearning is over only once every member is caught up with in one opening.
    drop(central);
    let central = store_at(&path, "central", NodeRole::Central, &clock);
    assert_eq!(held(&central), ["W01", "W02"]);
    for w in ["W02", "W01"] {
        central.note_caught_up(&node(w)).expect("caught up");
    }
    assert_eq!(held(&central), Vec::<String>::new());
    assert_eq!(
        central.fill_lease_requests(&system()).expect("lease").value,
        1
    );
    drop(central);
    let central = store_at(&path, "central", NodeRole::Central, &clock);
    assert_eq!(held(&central), Vec::<String>::new(), "relearned for good");
}

/// A peer that finds our feed restarted (a store copied back by hand keeps its incarnation)
/// tells us with a rewind: that too is lost history. Caught up with every member earlier in
/// the same opening, the node has relearned it already.
#[test]
fn a_rewind_is_lost_history_and_catching_up_earlier_in_the_opening_counts() {
    let (_dir, central, _) = temp_store("central", NodeRole::Central);
    let (_d1, w01, _) = temp_store("W01", NodeRole::Window);
    for member in w01.roster().members() {
        central.admit_member(member.clone()).expect("admit");
    }
    central.note_history_lost().expect("noted");
    assert_eq!(held(&central), ["W01"]);
    central.note_caught_up(&node("W01")).expect("caught up");
    assert_eq!(held(&central), Vec::<String>::new());

    central.note_history_lost().expect("noted again");
    assert_eq!(
        held(&central),
        Vec::<String>::new(),
        "caught up with W01 in this opening, after the loss"
    );
}

/// A restored server pulls from the HIS once it has caught up with the other server, which
/// holds what it pulled since its backup (the windows need not all be back: the HIS mirror
/// must not wait for a window PC switched off for the night).
#[test]
fn a_restored_server_pulls_from_the_his_once_it_has_caught_up_with_the_other_server() {
    let (dir, central, clock) = temp_store("central", NodeRole::Central);
    let (_ds, standby, _) = temp_store("standby", NodeRole::Standby);
    let (_d1, w01, _) = temp_store("W01", NodeRole::Window);
    for other in [&standby, &w01] {
        for member in other.roster().members() {
            central.admit_member(member.clone()).expect("admit");
        }
    }
    assert_eq!(central.his_pull_waits_for().expect("read"), None);
    let central = restored(central, dir.path(), &clock);
    assert_eq!(
        central.his_pull_waits_for().expect("read"),
        Some(node("standby"))
    );
    central.note_caught_up(&node("W01")).expect("caught up");
    assert_eq!(
        central.his_pull_waits_for().expect("read"),
        Some(node("standby"))
    );
    central.note_caught_up(&node("standby")).expect("caught up");
    assert_eq!(central.his_pull_waits_for().expect("read"), None);
}

/// The grants of each request on `store`, by holder.
fn grants(store: &Store) -> Vec<(String, Vec<(u64, u64)>)> {
    let lines = store.leases().expect("leases");
    lines
        .into_iter()
        .map(|l| (l.holder.to_string(), l.grants))
        .collect()
}

/// Seed 14103 `--store`: the standby's backup copied over its store by hand (the store's
/// incarnation and cursors the backup's, so nothing in it tells), its first round filled a
/// request from the cursor before any peer had rewound it, granting W02 the numbers its
/// earlier life had granted W01. The mark beside the store tells it when it opens: it is
/// stamped as restored, and relearns first.
#[test]
fn a_lessor_whose_backup_is_copied_over_its_store_relearns_before_it_leases() {
    let (dir, central, clock, (_d1, w01), (_d2, w02)) = central_with_two_windows();
    let path = central.path().to_path_buf();
    let backup = dir.path().join("backup.redb");
    central.backup_to(&backup, &|_, _| {}).expect("backup");
    let incarnation = central.incarnation().expect("incarnation");
    w01.request_lease(&system(), Series::EmergencyRegistration, 10)
        .expect("W01 asks");
    copy_all(&w01, &central);
    assert_eq!(
        central.fill_lease_requests(&system()).expect("fill").value,
        1
    );
    copy_all(&central, &w01);
    assert_eq!(grants(&w01), [("W01".to_string(), vec![(1, 10)])]);

    drop(central);
    std::fs::copy(&backup, &path).expect("the backup copied over the store by hand");
    let central = store_at(&path, "central", NodeRole::Central, &clock);
    assert_ne!(central.incarnation().expect("read"), incarnation);
    let entries = central.audit_entries(0, usize::MAX).expect("audit");
    assert!(
        entries.iter().any(|e| e.action == "store.copied-back"),
        "{entries:?}"
    );
    assert_eq!(
        held(&central),
        ["W01", "W02"],
        "nothing in the store tells, the mark beside it does"
    );
    w02.request_lease(&system(), Series::EmergencyRegistration, 10)
        .expect("W02 asks");
    merge_only(&w02, &central);
    leases_nothing_from_its_cursor(&central, "W01, W02");

    for w in [&w01, &w02] {
        merge_only(w, &central);
        central.note_caught_up(w.node()).expect("caught up");
    }
    assert_eq!(
        central.fill_lease_requests(&system()).expect("fill").value,
        1
    );
    let granted = grants(&central);
    let w02_grant = granted
        .iter()
        .find(|(holder, _)| holder == "W02")
        .map(|(_, g)| g.clone());
    assert!(
        w02_grant
            .as_ref()
            .is_some_and(|g| g.len() == 1 && g[0].0 > 10),
        "W02 gets numbers after W01's: {granted:?}"
    );
    // Told once: the mark follows the store, and a reopening leases on.
    drop(central);
    let central = store_at(&path, "central", NodeRole::Central, &clock);
    assert_eq!(held(&central), Vec::<String>::new());
    central
        .lease_range_for(&admin(), by_hand(None))
        .expect("leases from its cursor again");
}

/// A mark that does not read is no evidence of a loss: the store opens as it is and leases,
/// and the mark is written again from the store.
#[test]
fn a_mark_that_does_not_read_is_written_again() {
    let (_dir, central, clock) = temp_store("central", NodeRole::Central);
    let path = central.path().to_path_buf();
    let incarnation = central.incarnation().expect("incarnation");
    let file = super::mark_file(&path);
    drop(central);
    std::fs::write(&file, "lifeline-mark 1\nlots\n\u{0}\u{ff}").expect("damage");
    let central = store_at(&path, "central", NodeRole::Central, &clock);
    assert_eq!(central.incarnation().expect("read"), incarnation);
    assert_eq!(held(&central), Vec::<String>::new());
    central
        .lease_range_for(&admin(), by_hand(None))
        .expect("leases");
    let text = std::fs::read_to_string(&file).expect("written again");
    let line = text.strip_prefix("lifeline-mark 1\n").expect("the header");
    let (life, rest) = line.split_once(' ').expect("one life");
    assert_eq!(life, incarnation);
    let commits = rest.split_once('\n').expect("a line").0;
    assert!(commits.parse::<u64>().expect("a count") > 0, "{text:?}");
}

/// Seed 24068 `--store`: central's whole data directory (its store and the mark beside it)
/// copied back from before it answered the windows' requests. Nothing on disk tells, and its
/// first round, before any peer had greeted it, answered them again from its cursor gone back:
/// every window's range granted twice, two values of each request's range. A lessor answers a
/// request only once it has caught up, in this opening, with the request's holder; the grant
/// the holder took is back by then.
#[test]
fn a_lessor_copied_back_whole_answers_a_request_only_once_caught_up_with_its_holder() {
    let (dir, central, clock, (_d1, w01), _w02) = central_with_two_windows();
    w01.request_lease(&system(), Series::EmergencyRegistration, 10)
        .expect("W01 asks");
    copy_all(&w01, &central);
    let copy = dir.path().join("copy.redb");
    central
        .backup_to(&copy, &|_, _| {})
        .expect("the store copied");
    let mark = std::fs::read(super::mark_file(central.path())).expect("the mark copied");
    assert_eq!(
        central.fill_lease_requests(&system()).expect("fill").value,
        1
    );
    copy_all(&central, &w01);
    assert_eq!(grants(&w01), [("W01".to_string(), vec![(1, 10)])]);

    let path = central.path().to_path_buf();
    drop(central);
    std::fs::copy(&copy, &path).expect("the store put back");
    std::fs::write(super::mark_file(&path), &mark).expect("the mark put back");
    let central = store_at(&path, "central", NodeRole::Central, &clock);
    assert_eq!(
        held(&central),
        Vec::<String>::new(),
        "nothing on disk tells"
    );
    assert_eq!(grants(&central), [("W01".to_string(), vec![])]);
    assert_eq!(
        central.fill_lease_requests(&system()).expect("fill").value,
        0,
        "W01 is not caught up with in this opening"
    );
    assert_eq!(central.requests_wait_for(), [node("W01")]);

    copy_all(&w01, &central);
    assert_eq!(
        central.fill_lease_requests(&system()).expect("fill").value,
        0,
        "answered before the copy, as W01 brought back"
    );
    assert!(central.requests_wait_for().is_empty());
    assert_eq!(grants(&central), [("W01".to_string(), vec![(1, 10)])]);
}
