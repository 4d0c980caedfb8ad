//! Backup, restore and verify tests: snapshots taken while writes go on, restores under a new
//! incarnation that never reuse a number, refusals, and damaged snapshots reported without a
//! panic.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use redb::{ReadableDatabase, TableHandle};

use super::files::sha256_file;
use super::*;
use crate::id::{NodeName, OperatorName, RecordId};
use crate::record::{Patient, RecordKind};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::store::{Store, StoreOptions};
use crate::test_support::{new_patient as patient, registrar as reg};

fn node(name: &str) -> NodeName {
    NodeName::new(name).expect("valid")
}

fn open(path: &Path, name: &str) -> Store {
    Store::open(path, StoreOptions::new(node(name), NodeRole::Window)).expect("open")
}

fn create(store: &Store, name: &str) -> RecordId {
    store
        .create_patient(&reg(), patient(name))
        .expect("create")
        .value
        .header
        .id
}

/// A store with `n` patients, and a backup of it.
fn backed_up(dir: &Path, n: usize) -> (Store, Vec<RecordId>, PathBuf) {
    let store = open(&dir.join("store.redb"), "W01");
    let ids = (0..n).map(|i| create(&store, &format!("p{i}"))).collect();
    let backup = dir.join("backups").join("w01.redb");
    store.backup_to(&backup, &|_, _| {}).expect("backup");
    (store, ids, backup)
}

fn no_progress(_: u64, _: u64) {}

#[test]
fn every_table_of_a_store_is_known_to_backup() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir.path().join("s.redb"), "W01");
    let r = store.shared.db.begin_read().expect("read");
    let mut names: Vec<String> = r
        .list_tables()
        .expect("list")
        .map(|t| t.name().to_owned())
        .collect();
    names.sort();
    let mut known = tables::names();
    known.sort();
    assert_eq!(names, known);
}

#[test]
fn a_backup_taken_while_writes_go_on_is_consistent_and_holds_every_acknowledged_write() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir.path().join("store.redb"), "W01");
    for i in 0..50 {
        create(&store, &format!("before{i}"));
    }
    let acked: Arc<Mutex<Vec<RecordId>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, acked, stop) = (store.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = create(&store, &format!("during{i}"));
                acked.lock().expect("lock").push(id);
                i += 1;
            }
            i
        })
    };
    while acked.lock().expect("lock").len() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let before: Vec<RecordId> = acked.lock().expect("lock").clone();
    let backup = dir.path().join("b.redb");
    let calls = Mutex::new(Vec::new());
    let info = store
        .backup_to(&backup, &|done, total| {
            calls.lock().expect("lock").push((done, total));
        })
        .expect("backup");
    std::thread::sleep(std::time::Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().expect("writer");
    assert!(written > before.len(), "writes went on during the backup");
    let calls = calls.into_inner().expect("lock");
    let (done, total) = *calls.last().expect("progress was reported");
    assert_eq!(done, total);
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));

    assert_eq!(info.node.as_str(), "W01");
    assert_eq!(info.bytes, fs::metadata(&backup).expect("meta").len());
    assert_eq!(info.sha256, sha256_file(&backup).expect("sha").0);
    assert!(checksum_path(&backup).exists());
    assert_eq!(info.incarnation, store.incarnation().expect("incarnation"));
    assert!(info.records >= 50 + before.len() as u64);
    assert_eq!(
        info.audit_entries, info.records,
        "one audit entry per patient"
    );

    let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.records, info.records);
    // The scratch copy records its own restore in its audit chain.
    assert_eq!(report.audit_entries, info.audit_entries + 1);
    assert_eq!(report.checksum_file, Some(checksum_path(&backup)));
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("lifeline-verify-")
        })
        .collect();
    assert!(leftovers.is_empty(), "the scratch copy is removed");

    let target = dir.path().join("restored").join("store.redb");
    restore_from(
        &backup,
        &target,
        &node("W01"),
        RestoreOptions::default(),
        &no_progress,
    )
    .expect("restore");
    let restored = open(&target, "W01");
    for id in &before {
        assert!(
            restored.get::<Patient>(*id).expect("read").is_some(),
            "acknowledged before the backup, missing from it: {id}"
        );
    }
    let stats = restored.stats().expect("stats");
    assert_eq!(stats.records, info.records);
    assert_eq!(stats.feed_seq, info.feed_seq);
}

#[test]
fn a_restore_brings_the_records_back_under_a_new_incarnation() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, ids, backup) = backed_up(dir.path(), 5);
    let old_incarnation = store.incarnation().expect("incarnation");
    let target = store.path().to_path_buf();
    create(&store, "after the backup");
    drop(store);
    // The store is damaged: the usual reason to restore.
    let mut before_bytes = fs::read(&target).expect("read");
    for (i, b) in before_bytes.iter_mut().enumerate().skip(4096) {
        *b = (i % 251) as u8;
    }
    fs::write(&target, &before_bytes).expect("damage");
    assert!(Store::open(&target, StoreOptions::new(node("W01"), NodeRole::Window)).is_err());

    let seen = Mutex::new(0u64);
    let info = restore_from(
        &backup,
        &target,
        &node("W01"),
        RestoreOptions::default(),
        &|done, _| *seen.lock().expect("lock") = done,
    )
    .expect("restore");
    assert_eq!(*seen.lock().expect("lock"), info.bytes);
    assert_eq!(info.snapshot_incarnation, old_incarnation);
    assert_ne!(info.incarnation, old_incarnation);
    assert_eq!(info.records, 5);
    let kept = before_restore_path(&target);
    assert_eq!(info.previous.as_deref(), Some(kept.as_path()));
    assert_eq!(fs::read(&kept).expect("kept"), before_bytes);

    let store = open(&target, "W01");
    assert_eq!(store.incarnation().expect("incarnation"), info.incarnation);
    assert_eq!(store.count_of_kind(RecordKind::Patient).expect("count"), 5);
    for id in &ids {
        assert!(store.get::<Patient>(*id).expect("read").is_some());
    }
    // Five creations, and the restore itself.
    assert_eq!(store.verify_audit().expect("read").expect("intact"), 6);
    let last = store.audit_entries(6, 1).expect("audit");
    assert_eq!(last[0].action, "store.restore");
    // The restored store takes writes again.
    create(&store, "after the restore");
    assert_eq!(store.count_of_kind(RecordKind::Patient).expect("count"), 6);
    // The snapshot itself was not changed.
    assert_eq!(sha256_file(&backup).expect("sha").0, info.sha256);
}

#[test]
fn a_restored_node_never_hands_out_or_leases_a_number_twice() {
    never_twice_once_brought_back(&|backup, store, name| {
        restore_from(
            backup,
            store,
            &node(name),
            RestoreOptions::default(),
            &no_progress,
        )
        .map(drop)
        .map_err(|e| e.to_string())
    });
}

/// A backup copied over the store by hand, not restored: the mark beside the store tells its
/// opening, which stamps it as a restore does (`store::mark`). Without, W01 hands out 2 again.
#[test]
fn a_node_whose_backup_is_copied_over_its_store_never_hands_out_or_leases_a_number_twice() {
    never_twice_once_brought_back(&|backup, store, _| {
        std::fs::copy(backup, store)
            .map(drop)
            .map_err(|e| e.to_string())
    });
}

/// W01 and central backed up, then numbers handed out and leased, then each brought back from
/// its backup by `bring_back(backup, store, node)`: neither hands out or leases them again.
fn never_twice_once_brought_back(
    bring_back: &dyn Fn(&std::path::Path, &std::path::Path, &str) -> Result<(), String>,
) {
    use crate::WriteError;
    use crate::numbers::{NumberError, Series};
    use crate::rules::RuleError;
    let dir = tempfile::tempdir().expect("dir");
    let admin = Operator::new(OperatorName::new("info").expect("valid"), DeskRole::Admin);
    let central = Store::open(
        dir.path().join("central.redb"),
        StoreOptions::new(node("central"), NodeRole::Central),
    )
    .expect("open central");
    let w01 = open(&dir.path().join("w01.redb"), "W01");
    let range = central
        .lease_range(&admin, Series::EmergencyRegistration, node("W01"), 10)
        .expect("lease")
        .value;
    w01.accept_lease(&admin, range).expect("accept");
    w01.void_next_number(&admin, Series::EmergencyRegistration, "jam")
        .expect("spoil 1");
    let central_backup = dir.path().join("central-backup.redb");
    let w01_backup = dir.path().join("w01-backup.redb");
    central
        .backup_to(&central_backup, &no_progress)
        .expect("backup central");
    w01.backup_to(&w01_backup, &no_progress)
        .expect("backup W01");
    // After the backups: W01 hands out 2 and 3; central leases 11-20 to W02.
    w01.void_next_number(&admin, Series::EmergencyRegistration, "jam")
        .expect("spoil 2");
    w01.void_next_number(&admin, Series::EmergencyRegistration, "jam")
        .expect("spoil 3");
    let later = central
        .lease_range(&admin, Series::EmergencyRegistration, node("W02"), 10)
        .expect("lease")
        .value;
    let (w01_path, central_path) = (w01.path().to_path_buf(), central.path().to_path_buf());
    drop((w01, central));
    bring_back(&w01_backup, &w01_path, "W01").expect("W01 brought back");
    bring_back(&central_backup, &central_path, "central").expect("central brought back");
    // W01 must not hand out 2 again: what was unused in the backup is retired.
    let w01 = open(&w01_path, "W01");
    let err = w01
        .void_next_number(&admin, Series::EmergencyRegistration, "jam")
        .unwrap_err();
    assert!(
        matches!(
            err,
            WriteError::Rule(RuleError::Number(NumberError::Exhausted { .. }))
        ),
        "{err}"
    );
    assert!(w01.range_report().expect("report").is_clean());
    // Central must not lease 11-20 again.
    let central = Store::open(
        &central_path,
        StoreOptions::new(node("central"), NodeRole::Central),
    )
    .expect("open");
    let next = central
        .lease_range(&admin, Series::EmergencyRegistration, node("W03"), 10)
        .expect("lease")
        .value;
    assert!(next.start > later.end, "{next:?} overlaps {later:?}");
}

/// A lessor whose backup predates its first lease of a series has no cursor for it in the
/// backup: restored, it must still jump past what it leased since (the simulator's seed 5,
/// central restored then leasing 1-1000 to W01 a second time).
#[test]
fn a_lessor_restored_from_before_its_first_lease_never_leases_those_numbers_again() {
    use crate::numbers::Series;
    let dir = tempfile::tempdir().expect("dir");
    let admin = Operator::new(OperatorName::new("info").expect("valid"), DeskRole::Admin);
    let path = dir.path().join("central.redb");
    let options = || StoreOptions::new(node("central"), NodeRole::Central);
    let central = Store::open(&path, options()).expect("open central");
    let backup = dir.path().join("central-backup.redb");
    central.backup_to(&backup, &no_progress).expect("backup");
    let before = central
        .lease_range(&admin, Series::EmergencyRegistration, node("W02"), 10)
        .expect("lease")
        .value;
    drop(central);
    restore_from(
        &backup,
        &path,
        &node("central"),
        RestoreOptions::default(),
        &no_progress,
    )
    .expect("restore");
    let central = Store::open(&path, options()).expect("open");
    for series in Series::ALL {
        let next = central
            .lease_range(&admin, series, node("W03"), 10)
            .expect("lease")
            .value;
        assert!(next.start > before.end, "{next:?} after {before:?}");
    }
}

#[test]
fn a_restore_refuses_an_open_store_and_another_nodes_snapshot() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _, backup) = backed_up(dir.path(), 2);
    let target = store.path().to_path_buf();
    let err = restore_from(
        &backup,
        &target,
        &node("W01"),
        RestoreOptions::default(),
        &no_progress,
    )
    .unwrap_err();
    assert!(matches!(err, RestoreError::TargetLocked { .. }), "{err}");
    assert!(err.to_string().contains("stop the daemon"), "{err}");
    assert!(!before_restore_path(&target).exists());
    drop(store);

    let other = dir.path().join("w02").join("store.redb");
    let err = restore_from(
        &backup,
        &other,
        &node("W02"),
        RestoreOptions::default(),
        &no_progress,
    )
    .unwrap_err();
    assert!(matches!(err, RestoreError::OtherNode { .. }), "{err}");
    assert!(err.to_string().contains("backup of node W01"), "{err}");
    assert!(!other.exists());

    let info = restore_from(
        &backup,
        &other,
        &node("W02"),
        RestoreOptions {
            allow_other_node: true,
            ..RestoreOptions::default()
        },
        &no_progress,
    )
    .expect("allowed");
    assert_eq!(info.node.as_str(), "W02");
    assert_eq!(info.snapshot_node, "W01");
    let store = open(&other, "W02");
    assert_eq!(store.count_of_kind(RecordKind::Patient).expect("count"), 2);
}

#[test]
fn a_backup_never_overwrites_and_a_restore_refuses_what_is_not_a_snapshot() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _, backup) = backed_up(dir.path(), 1);
    let err = store.backup_to(&backup, &no_progress).unwrap_err();
    assert!(matches!(err, BackupError::Exists { .. }), "{err}");

    let text = dir.path().join("notes.txt");
    fs::write(&text, "not a database").expect("write");
    let target = dir.path().join("t").join("store.redb");
    let err = restore_from(
        &text,
        &target,
        &node("W01"),
        RestoreOptions::default(),
        &no_progress,
    )
    .unwrap_err();
    assert!(matches!(err, RestoreError::NotASnapshot { .. }), "{err}");
    let err = restore_from(
        &dir.path().join("missing.redb"),
        &target,
        &node("W01"),
        RestoreOptions::default(),
        &no_progress,
    )
    .unwrap_err();
    assert!(matches!(err, RestoreError::SnapshotIo { .. }), "{err}");
    assert!(err.to_string().contains("missing.redb"), "{err}");
    assert!(!target.exists());
}

/// Flips the bytes of the first occurrence of `needle` in the file.
fn flip(path: &Path, needle: &[u8]) {
    let mut bytes = fs::read(path).expect("read");
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in file");
    for b in &mut bytes[at..at + needle.len()] {
        *b ^= 0x5a;
    }
    fs::write(path, bytes).expect("write");
}

#[test]
fn a_damaged_snapshot_is_reported_never_restored_and_never_panics() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _, backup) = backed_up(dir.path(), 20);
    drop(store);
    let good = fs::read(&backup).expect("read");

    // A changed audit entry (its action) with the checksum file present: caught by the
    // checksum.
    flip(&backup, b"patient.create");
    let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
    assert!(!report.passed());
    assert!(
        report.problems[0].contains("checksum"),
        "{:?}",
        report.problems
    );

    // Without it: caught by redb's page checksums.
    fs::remove_file(checksum_path(&backup)).expect("remove");
    let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
    assert!(!report.passed(), "a flipped audit entry went unnoticed");
    let target = dir.path().join("t").join("store.redb");
    let err = restore_from(
        &backup,
        &target,
        &node("W01"),
        RestoreOptions::default(),
        &no_progress,
    )
    .unwrap_err();
    assert!(matches!(err, RestoreError::Damaged { .. }), "{err}");
    assert!(!target.exists());

    // Garbage over the middle of the file, or a truncated file: an error or problems.
    let mut bytes = good.clone();
    let (a, b) = (bytes.len() / 4, bytes.len() * 3 / 4);
    for (i, byte) in bytes[a..b].iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(31) ^ 0xa5;
    }
    fs::write(&backup, &bytes).expect("write");
    let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
    assert!(!report.passed());
    fs::write(&backup, &good[..good.len() / 2]).expect("write");
    let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
    assert!(!report.passed());
    fs::write(&backup, &good[..2]).expect("write");
    let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
    assert!(
        report.problems[0].contains("not a Lifeline snapshot"),
        "{:?}",
        report.problems
    );

    // The good bytes pass again.
    fs::write(&backup, &good).expect("write");
    let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.records, 20);
    assert_eq!(
        report
            .records_by_kind
            .iter()
            .find(|(k, _)| *k == RecordKind::Patient),
        Some(&(RecordKind::Patient, 20))
    );
}

#[test]
fn verify_reports_records_whose_heads_disagree_with_the_index() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, ids, _) = backed_up(dir.path(), 3);
    {
        let w = store.shared.db.begin_write().expect("write");
        w.open_table(tables::DOC_HEADS)
            .expect("table")
            .insert(ids[1].to_bytes(), [7u8; 32].as_slice())
            .expect("insert");
        w.commit().expect("commit");
    }
    let backup = dir.path().join("tampered.redb");
    store.backup_to(&backup, &no_progress).expect("backup");
    let report = verify_snapshot(&backup, dir.path(), &no_progress).expect("verify");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains(&ids[1].to_string()));
    assert!(report.problems[0].contains("heads differ"));
}
