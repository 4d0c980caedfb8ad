//! Store tests: opening and refusing files, durability across reopen, group commit, the
//! bounded cache, the merge API with bad input, and the audit chain.

use redb::Database;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use redb::ReadableTable;

use super::tables::{self, meta_keys};
use super::*;
use crate::desk::{NewPatient, Saved};
use crate::record::RecordKind;
use crate::record::{Patient, Sex};
use crate::roles::Operator;
use crate::test_support::{new_patient, registrar, temp_store};

fn reg() -> Operator {
    registrar()
}

fn patient(name: &str) -> NewPatient {
    NewPatient {
        sex: Sex::Male,
        ..new_patient(name)
    }
}

fn opts(node: &str) -> StoreOptions {
    StoreOptions::new(NodeName::new(node).expect("valid"), NodeRole::Window)
}

fn create_some(path: &Path, n: usize) -> Vec<RecordId> {
    let store = Store::open(path, opts("W01")).expect("open");
    (0..n)
        .map(|i| {
            store
                .create_patient(&reg(), patient(&format!("p{i}")))
                .expect("create")
                .value
                .header
                .id
        })
        .collect()
}

#[test]
fn records_survive_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("s.redb");
    let ids = create_some(&path, 5);
    let store = Store::open(&path, opts("W01")).expect("reopen");
    for id in &ids {
        let p: Patient = store.get(*id).expect("read").expect("present");
        assert_eq!(p.header.id, *id);
    }
    assert_eq!(store.count_of_kind(RecordKind::Patient).expect("count"), 5);
    assert_eq!(store.feed_since(0, 100).expect("feed").len(), 5);
    assert_eq!(store.verify_audit().expect("read").expect("intact"), 5);
    // What the file takes on disk, as the file system allocated it (not its length).
    let stats = store.stats().expect("stats");
    let meta = std::fs::metadata(&path).expect("metadata");
    #[cfg(unix)]
    assert_eq!(
        stats.disk_bytes,
        std::os::unix::fs::MetadataExt::blocks(&meta) * 512
    );
    assert!(stats.disk_bytes > 0 && stats.file_bytes == meta.len());
}

#[test]
fn a_store_of_another_node_or_schema_is_refused_unchanged() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("s.redb");
    create_some(&path, 1);
    let before = std::fs::read(&path).expect("read");
    let err = Store::open(&path, opts("W02")).unwrap_err();
    assert!(matches!(err, OpenError::WrongNode { .. }), "{err}");
    assert!(err.to_string().contains("belongs to node W01"));
    assert!(
        std::fs::read(&path).expect("read") == before,
        "the refused file changed"
    );

    {
        let db = Database::open(&path).expect("raw open");
        let w = db.begin_write().expect("write");
        w.open_table(tables::META)
            .expect("meta")
            .insert(meta_keys::SCHEMA, b"99".as_slice())
            .expect("insert");
        w.commit().expect("commit");
    }
    let before = std::fs::read(&path).expect("read");
    let err = Store::open(&path, opts("W01")).unwrap_err();
    assert!(matches!(err, OpenError::SchemaVersion { .. }), "{err}");
    assert!(err.to_string().contains("schema version 99"), "{err}");
    assert!(
        std::fs::read(&path).expect("read") == before,
        "the refused file changed"
    );
}

/// A roster entry that does not decode refuses the file, and leaves it as it was: the roster
/// was read only once the file was open for writing, whose close then wrote to the refused
/// file (found by the `store_open` fuzz target).
#[test]
fn a_roster_that_does_not_decode_refuses_the_file_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("w01.redb");
    create_some(&path, 1);
    {
        let db = Database::open(&path).expect("raw open");
        let w = db.begin_write().expect("write");
        w.open_table(tables::ROSTER)
            .expect("roster")
            .insert(&[7u8; 32], b"not a member".as_slice())
            .expect("insert");
        w.commit().expect("commit");
    }
    let before = std::fs::read(&path).expect("read");
    let err = Store::open(&path, opts("W01")).unwrap_err();
    assert!(matches!(err, OpenError::Unreadable { .. }), "{err}");
    assert!(
        std::fs::read(&path).expect("read") == before,
        "the refused file changed"
    );
}

#[test]
fn files_that_are_not_stores_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"hello, this is not a database").expect("write");
    assert!(matches!(
        Store::open(&path, opts("W01")).unwrap_err(),
        OpenError::NotAStore { .. }
    ));
    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, b"").expect("write");
    assert!(matches!(
        Store::open(&empty, opts("W01")).unwrap_err(),
        OpenError::NotAStore { .. }
    ));
    // A redb database without our metadata is not a store either.
    let foreign = dir.path().join("foreign.redb");
    drop(Database::create(&foreign).expect("create"));
    let err = Store::open(&foreign, opts("W01")).unwrap_err();
    assert!(matches!(err, OpenError::NotAStore { .. }), "{err}");
}

#[test]
fn truncated_and_corrupted_files_are_refused_without_panic_or_change() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("s.redb");
    create_some(&path, 20);
    let good = std::fs::read(&path).expect("read");
    for cut in [good.len() / 2, 4096, 600, 64, 8] {
        let truncated = dir.path().join(format!("cut{cut}.redb"));
        std::fs::write(&truncated, &good[..cut.min(good.len())]).expect("write");
        let before = std::fs::read(&truncated).expect("read");
        let result = Store::open(&truncated, opts("W01"));
        assert!(result.is_err(), "a file cut to {cut} bytes was accepted");
        assert!(
            std::fs::read(&truncated).expect("read") == before,
            "cut {cut}: file changed"
        );
    }
    // Flip bytes across the file: open must not panic; whatever opens must read or error.
    for offset in (0..good.len()).step_by(good.len() / 16 + 1) {
        let damaged = dir.path().join(format!("flip{offset}.redb"));
        let mut bytes = good.clone();
        for b in bytes.iter_mut().skip(offset).take(32) {
            *b ^= 0x5a;
        }
        std::fs::write(&damaged, &bytes).expect("write");
        if let Ok(store) = Store::open(&damaged, opts("W01")) {
            for kind in RecordKind::ALL {
                if let Ok(ids) = store.ids_of_kind(kind) {
                    for id in ids {
                        let _ = store.get::<Patient>(id);
                    }
                }
            }
            let _ = store.verify_audit();
        }
    }
}

/// A deferred open checks only who the file belongs to; the table check run beside the work
/// then finds what a full open would have refused, and changes nothing.
#[test]
fn a_deferred_open_leaves_the_damage_to_the_table_check() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("s.redb");
    create_some(&path, 60);
    let good = std::fs::read(&path).expect("read");
    let deferred = |node: &str| {
        let mut o = opts(node);
        o.open_check = OpenCheck::Deferred;
        o
    };
    // A whole file passes both ways, and a deferred open still refuses another node's file.
    Store::open(&path, deferred("W01"))
        .expect("a whole file opens deferred")
        .check_tables(&AtomicBool::new(false))
        .expect("and passes the table check")
        .then_some(())
        .expect("to its end");
    // A check asked to stop gives up without a verdict.
    let stopped = Store::open(&path, deferred("W01")).expect("open");
    assert_eq!(
        stopped.check_tables(&AtomicBool::new(true)).ok(),
        Some(false)
    );
    drop(stopped);
    assert!(matches!(
        Store::open(&path, deferred("W02")).unwrap_err(),
        OpenError::WrongNode { .. }
    ));
    let mut caught_later = 0;
    for offset in (4096..good.len()).step_by(2048) {
        let damaged = dir.path().join(format!("flip{offset}.redb"));
        let mut bytes = good.clone();
        for b in bytes.iter_mut().skip(offset).take(64) {
            *b ^= 0x5a;
        }
        std::fs::write(&damaged, &bytes).expect("write");
        let full_refuses = matches!(
            Store::open(&damaged, opts("W01")),
            Err(OpenError::Corrupt { .. })
        );
        if !full_refuses {
            continue;
        }
        // Only files the full open refused for their tables are of interest here.
        if let Ok(store) = Store::open(&damaged, deferred("W01")) {
            let before = std::fs::read(&damaged).expect("read");
            assert!(
                store.check_tables(&AtomicBool::new(false)).is_err(),
                "damage at {offset} refused by a full open passed the table check"
            );
            assert!(
                matches!(
                    store.create_patient(&reg(), patient("after the check")),
                    Err(WriteError::StoreDamaged)
                ),
                "a store found damaged saves nothing more"
            );
            assert!(std::fs::read(&damaged).expect("read") == before);
            caught_later += 1;
        }
    }
    assert!(
        caught_later > 0,
        "no damage was left to the table check ({} bytes): the test no longer tests it",
        good.len()
    );
}

#[test]
fn opening_twice_is_refused_clearly() {
    let (_dir, store, _) = temp_store("W01", NodeRole::Window);
    let err = Store::open(store.path(), opts("W01")).unwrap_err();
    assert!(matches!(err, OpenError::AlreadyOpen { .. }), "{err}");
}

#[test]
fn concurrent_writers_share_commits_and_all_are_durable() {
    let (_dir, store, _) = temp_store("W01", NodeRole::Window);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..20)
                    .map(|i| {
                        let saved: Saved<Patient> = store
                            .create_patient(&reg(), patient(&format!("t{t}-{i}")))
                            .expect("create");
                        saved.value.header.id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<RecordId> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(ids.len(), 320);
    let path = store.path().to_path_buf();
    drop(store);
    let store = Store::open(&path, opts("W01")).expect("reopen");
    assert_eq!(
        store.count_of_kind(RecordKind::Patient).expect("count"),
        320
    );
    let mut numbers: Vec<String> = ids
        .iter()
        .map(|id| {
            store
                .get::<Patient>(*id)
                .expect("read")
                .expect("present")
                .patient_no
        })
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 320, "patient numbers must be unique");
}

#[test]
fn the_cache_stays_bounded() {
    let dir = tempfile::tempdir().expect("dir");
    let mut o = opts("W01");
    o.cache_docs = std::num::NonZeroUsize::new(8).expect("non-zero");
    let store = Store::open(dir.path().join("s.redb"), o).expect("open");
    let ids: Vec<_> = (0..40)
        .map(|i| {
            store
                .create_patient(&reg(), patient(&format!("p{i}")))
                .expect("create")
                .value
                .header
                .id
        })
        .collect();
    for id in &ids {
        assert!(store.get::<Patient>(*id).expect("read").is_some());
    }
    assert!(store.stats().expect("stats").cached_docs <= 8);
}

#[test]
fn garbage_from_a_peer_is_rejected_and_changes_nothing() {
    let (_d, a, _) = temp_store("W01", NodeRole::Window);
    let (_d2, b, _) = temp_store("W02", NodeRole::Window);
    let id = a
        .create_patient(&reg(), patient("x"))
        .expect("create")
        .value
        .header
        .id;
    let peer = a.node().clone();
    let good = a.doc(id).expect("doc").expect("present").save();
    let before = b.feed_head().expect("feed");
    let junk = vec![
        RemoteChanges {
            id,
            bytes: b"garbage".to_vec(),
        },
        RemoteChanges {
            id,
            bytes: good[..good.len() / 2].to_vec(),
        },
        // A valid document under the wrong id.
        RemoteChanges {
            id: RecordId::generate(),
            bytes: good.clone(),
        },
    ];
    let signatures = a.export(&[id]).expect("export").signatures;
    let out = b
        .apply_remote(&peer, junk, signatures.clone())
        .expect("apply");
    assert_eq!(out.applied.len(), 0);
    assert_eq!(out.rejected.len() + out.missing_deps.len(), 3, "{out:?}");
    assert_eq!(b.feed_head().expect("feed"), before);
    assert_eq!(b.count_of_kind(RecordKind::Patient).expect("count"), 0);

    // Signed by a key this node does not know (W01 is not in its roster yet): refused too.
    let item = || RemoteChanges {
        id,
        bytes: good.clone(),
    };
    let out = b
        .apply_remote(&peer, vec![item()], signatures.clone())
        .expect("apply");
    assert_eq!(out.rejected[0].reason.code(), "unknown_key", "{out:?}");
    assert!(b.doc(id).expect("doc").is_none());
    // Without its signatures, it is unsigned.
    let out = b
        .apply_remote(&peer, vec![item()], Vec::new())
        .expect("apply");
    assert_eq!(out.rejected[0].reason.code(), "unsigned", "{out:?}");

    // Once W01 is in the roster, the real thing applies, twice idempotently.
    b.admit_member(a.member().expect("signing")).expect("admit");
    let first = b.apply_remote(&peer, vec![item()], signatures.clone());
    assert_eq!(first.expect("apply").applied, vec![id]);
    assert_eq!(
        b.apply_remote(&peer, vec![item()], signatures)
            .expect("apply")
            .unchanged,
        1
    );
    // Every refusal is counted by reason and kept in the quarantine.
    let state = b.peer_state(&peer).expect("state");
    assert_eq!(state.rejected, 5);
    assert_eq!(state.refused.get("unknown_key"), Some(&1));
    assert_eq!(state.refused.get("unsigned"), Some(&1));
    // The same bytes refused twice are one entry, seen twice.
    let kept = b.quarantined(0, 10).expect("quarantine");
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert!(kept.iter().all(|q| q.peer == peer));
    assert_eq!(kept[3].times, 2);
    assert_eq!(kept[3].bytes_len, good.len());
}

#[test]
fn tampering_with_the_audit_chain_is_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("s.redb");
    create_some(&path, 3);
    {
        let db = Database::open(&path).expect("raw open");
        let w = db.begin_write().expect("write");
        {
            let mut t = w.open_table(tables::AUDIT).expect("audit");
            let bytes = t.get(2).expect("get").expect("present").value().to_vec();
            let first = t.get(1).expect("get").expect("present").value().to_vec();
            let prev = AuditEntry::decode(&first, 1, GENESIS).expect("decode").hash;
            let mut entry = AuditEntry::decode(&bytes, 2, &prev).expect("decode");
            assert_eq!(bytes.first(), Some(&2), "stored in the chained form");
            entry.actor = "somebody-else".into();
            t.insert(2, entry.encode().as_slice()).expect("insert");
        }
        w.commit().expect("commit");
    }
    let store = Store::open(&path, opts("W01")).expect("open");
    let err = store.verify_audit().expect("read").unwrap_err();
    assert_eq!(err, ChainError::Altered { seq: 2 });
}

#[test]
fn the_actor_names_the_node() {
    let (_d, store, _) = temp_store("W07", NodeRole::Window);
    assert_eq!(actor_node(&store.shared.actor), Some("W07"));
    let _ = Arc::clone(&store.shared);
}

#[test]
fn changes_short_of_the_senders_heads_are_reported_missing_not_applied() {
    let (_d, a, _) = temp_store("W01", NodeRole::Window);
    let (_d2, b, _) = temp_store("W02", NodeRole::Window);
    let id = a
        .create_patient(&reg(), patient("x"))
        .expect("create")
        .value
        .header
        .id;
    let peer = a.node().clone();
    b.admit_member(a.member().expect("signing")).expect("admit");
    let first = a.export(&[id]).expect("export");
    b.apply_remote(&peer, first.changes, first.signatures)
        .expect("apply");
    let edit = crate::desk::PatientEdit {
        phone: Some("13711112222".into()),
        ..Default::default()
    };
    let before = a.doc(id).expect("doc").expect("present").get_heads();
    a.update_patient(&reg(), id, edit).expect("edit");
    let doc = a.doc(id).expect("doc").expect("present");
    let delta = doc.save_after(&before);
    // The delta arrives damaged: Automerge skips it silently; the sender's heads show it.
    let damaged = IncomingDoc {
        id,
        bytes: delta[..delta.len() / 2].to_vec(),
        sender_heads: doc.get_heads(),
        seq: 2,
    };
    let signatures = a.export(&[id]).expect("export").signatures;
    let out = b
        .apply_batch(&peer, vec![damaged], signatures, Some(2))
        .expect("apply");
    assert_eq!(out.missing_deps, vec![id], "{out:?}");
    assert_eq!(
        out.applied_upto,
        Some(1),
        "the cursor stays before the damaged record"
    );

    // A later batch applies whole; the cursor still stays before the record that is not,
    // so that a reconnect sends it again even if its sync exchange was cut.
    let other = a
        .create_patient(&reg(), patient("y"))
        .expect("create")
        .value
        .header
        .id;
    let later = a.export(&[other]).expect("export");
    let later_item = IncomingDoc {
        seq: 3,
        sender_heads: a.doc(other).expect("doc").expect("present").get_heads(),
        ..IncomingDoc::from(later.changes[0].clone())
    };
    let out = b
        .apply_batch(&peer, vec![later_item], later.signatures, Some(3))
        .expect("apply");
    assert_eq!(out.applied, vec![other], "{out:?}");
    assert_eq!(
        out.applied_upto,
        Some(1),
        "the cursor passed a missing record"
    );
    assert_eq!(b.peer_state(&peer).expect("state").applied_from_peer, 1);
    let reopened_state = b.peer_state(&peer).expect("state");
    assert_eq!(reopened_state.waiting, vec![(2, id)]);

    // Sent again whole (after a reconnect, from the cursor): the cursor moves past both.
    let whole = a.export(&[id]).expect("export");
    let again = IncomingDoc {
        seq: 4,
        sender_heads: doc.get_heads(),
        ..IncomingDoc::from(whole.changes[0].clone())
    };
    let out = b
        .apply_batch(&peer, vec![again], whole.signatures, Some(4))
        .expect("apply");
    assert_eq!(
        (out.applied.clone(), out.applied_upto),
        (vec![id], Some(4)),
        "{out:?}"
    );
    assert!(b.peer_state(&peer).expect("state").waiting.is_empty());
}

#[test]
fn a_waiting_record_holds_the_cursor_until_it_is_whole_or_the_peer_restarts() {
    let id = RecordId::generate();
    let other = RecordId::generate();
    let mut s = PeerState::default();
    s.applied_batch(10, &[(7, id)], &[other]);
    assert_eq!(s.applied_from_peer, 6);
    s.applied_batch(20, &[(15, other)], &[]);
    assert_eq!(s.applied_from_peer, 6, "the first waiting record holds it");
    s.now_whole(id);
    assert_eq!(s.applied_from_peer, 14, "then the next one");
    s.applied_batch(30, &[], &[other]);
    assert_eq!(s.applied_from_peer, 30);
    s.applied_batch(40, &[(35, id)], &[]);
    s.peer_feed_restarted();
    assert_eq!((s.applied_from_peer, s.waiting.len()), (0, 0));
    // A store written before the list existed keeps its cursor.
    let mut old = PeerState {
        applied_from_peer: 50,
        ..PeerState::default()
    };
    old.applied_batch(45, &[], &[]);
    assert_eq!(old.applied_from_peer, 50);
}

/// Errors keep what they rest on as their source and never repeat it in their own text; the
/// chain says everything once.
#[test]
fn errors_keep_their_source_and_say_it_once() {
    use std::error::Error as _;

    use crate::error::Chain;

    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("s.redb");
    create_some(&path, 3);
    let good = std::fs::read(&path).expect("read");
    let cut = dir.path().join("cut.redb");
    std::fs::write(&cut, &good[..good.len() / 2]).expect("write");
    let err = Store::open(&cut, opts("W01")).expect_err("a truncated file is refused");
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err:?}");
    let source = err.source().expect("the damage is the source").to_string();
    assert!(!err.to_string().contains(&source), "{err} repeats {source}");
    assert_eq!(
        Chain(&err).to_string(),
        format!("{err}: {}", Chain(err.source().expect("source")))
    );

    // A peer's undecodable bytes: the refusal keeps the decoder's error, and the audit trail
    // and the outcome sent back say the whole chain.
    let (_dir, store, _) = temp_store("W02", NodeRole::Window);
    let peer = NodeName::new("W01").expect("valid");
    let id = RecordId::generate();
    let junk = vec![RemoteChanges {
        id,
        bytes: b"garbage".to_vec(),
    }];
    let out = store.apply_remote(&peer, junk, Vec::new()).expect("apply");
    let reason = &out.rejected[0].reason;
    assert!(matches!(reason, Refusal::Undecodable { .. }), "{reason:?}");
    let decoder = reason.source().expect("the decoder's error").to_string();
    assert_eq!(reason.to_string(), "undecodable changes");
    assert_eq!(reason.detail(), format!("undecodable changes: {decoder}"));
    let json = serde_json::to_value(&out.rejected[0]).expect("json");
    assert_eq!(json["reason"], reason.detail());
    let audit = store.audit_entries(1, 10).expect("audit");
    let refusal = audit
        .iter()
        .find(|e| e.action == "sync.reject")
        .expect("the refusal is audited");
    assert_eq!(
        refusal.detail.as_deref(),
        Some(format!("undecodable: {}", reason.detail()).as_str())
    );
}
