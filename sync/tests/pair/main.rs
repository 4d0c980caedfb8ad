//! The protocol state machine between two replicas, with frames moved by hand: controlled
//! time, dropped connections, restarts and restored stores. Every frame goes through the wire
//! encoding, and its bytes are counted.
//!
//! Most scenarios run on in-memory replicas (no files, no sleeps, no clock but the `now` the
//! test passes); the ones about what only a store has (a restart that reads everything back
//! from the file, the audit trail and indexes) run on real stores, and one runs a store
//! against a memory replica.

mod ahead;
mod offers;
mod quiet;
mod relearn;
mod repair;
mod restore;
mod support;

use support::*;

#[test]
fn a_window_replicates_to_an_empty_central_and_they_prove_it() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    for i in 0..300 {
        w.create(&format!("p{i}"));
    }
    let mut link = link(&w, &c, &r);
    link.pump().expect("pump");
    assert_eq!(c.replica.records(), 300);
    same_records(&w.replica, &c.replica);
    // Bounded batches: 300 records in batches of at most 256, one round trip each.
    assert_eq!(link.batches, vec![256, 44]);
    assert!(link.a.is_caught_up() && link.b.is_caught_up());
    // After catch-up, digests are compared on a timer and agree.
    for _ in 0..11 {
        link.advance(Duration::from_secs(1))
            .expect("heartbeats and the digest round");
    }
    let conv = link.a.convergence().expect("compared");
    assert!(conv.in_sync);
    assert_eq!(conv.peer_records, 300);
    // The heartbeats were answered: the round trip is measured in the test's own time.
    assert_eq!(link.a.rtt(), Some(Duration::ZERO));
}

/// A batch's signed commits count against its byte budget with its documents: a frame never
/// grows past the budget by the signatures that ride with it (a history signed in a few large
/// commits once made a 34.5 MB batch against a 16 MiB frame limit, and the connection closed
/// and redialled for ever).
#[test]
fn a_batch_s_signatures_count_against_its_budget() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    for i in 0..40 {
        w.create(&format!("p{i}"));
    }
    let cfg = SessionConfig {
        // About four records' documents, without what signs them.
        batch_bytes: 4 * 600,
        ..SessionConfig::default()
    };
    let mut link = Link::connect_with(
        (w.replica.clone(), &w.id),
        (c.replica.clone(), &c.id),
        &r,
        Instant::now(),
        cfg.clone(),
    );
    link.pump().expect("pump");
    assert_eq!(c.replica.records(), 40);
    let mut batches = 0;
    for bytes in &link.wire {
        let Ok(Some((Frame::Batch(b), _))) = Frame::split(bytes) else {
            continue;
        };
        batches += 1;
        let docs: usize = b.docs.iter().map(|d| d.bytes.len()).sum();
        let signatures: usize = b.signatures.iter().map(Vec::len).sum();
        assert!(!b.signatures.is_empty(), "each record is signed");
        assert!(
            b.docs.len() == 1 || docs + signatures <= cfg.batch_bytes,
            "a batch of {} records carries {docs} bytes of records and {signatures} of \
             signatures, over its budget of {}",
            b.docs.len(),
            cfg.batch_bytes
        );
    }
    assert!(batches > 1, "the budget split the records");
}

#[test]
fn new_commits_are_pushed_and_nothing_is_echoed_back() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    let mut link = link(&w, &c, &r);
    link.pump().expect("pump");
    let p = w.create("x");
    link.commit().expect("push");
    assert!(c.patient(p).is_some());
    // central applied it, its feed moved, but it knows W01 has those heads: no batch back.
    assert_eq!(link.b.stats().docs_sent, 0);
}

#[test]
fn concurrent_edits_on_three_nodes_converge() {
    let ca = Ca::new();
    let w1 = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let w2 = ca.mem("W02", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    let p = w1.create("shared");
    let mut l1 = link(&w1, &c, &r);
    let mut l2 = link(&w2, &c, &r);
    l1.pump().expect("pump");
    l2.pump().expect("pump");
    assert!(w2.patient(p).is_some());
    // Both windows edit the same patient concurrently and create their own.
    let edit = |node: &Mem, phone: &str| {
        node.replica
            .update(p, |patient: &mut Patient| patient.phone = phone.into())
            .expect("edit");
    };
    edit(&w1, "13811111111");
    edit(&w2, "13922222222");
    w1.create("a");
    w2.create("b");
    for _ in 0..3 {
        l1.commit().expect("push");
        l2.commit().expect("push");
    }
    same_records(&w1.replica, &c.replica);
    same_records(&w2.replica, &c.replica);
    let seen: Vec<String> = [&w1, &w2, &c]
        .iter()
        .map(|n| n.patient(p).expect("present").phone)
        .collect();
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

#[test]
fn a_reconnect_resumes_without_resending() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    for i in 0..100 {
        w.create(&format!("p{i}"));
    }
    let mut first = link(&w, &c, &r);
    first.pump().expect("pump");
    let first_bytes = first.bytes;
    drop(first);
    for i in 0..10 {
        w.create(&format!("late{i}"));
    }
    // The sessions are gone; the cursors they moved are in the replicas.
    let mut link = link(&w, &c, &r);
    link.pump().expect("pump");
    assert_eq!(link.a.stats().docs_sent, 10, "only the new records go");
    assert_eq!(link.b.stats().docs_sent, 0);
    assert!(
        link.bytes * 5 < first_bytes,
        "resume sent {} bytes after {first_bytes}",
        link.bytes
    );
    same_records(&w.replica, &c.replica);
}

#[test]
fn a_reconnect_after_a_restart_resumes_from_the_files_without_resending() {
    let ca = Ca::new();
    let w = ca.disk("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.disk("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    for i in 0..100 {
        w.store
            .create_patient(&reg(), new_patient(&format!("p{i}")))
            .expect("create");
    }
    let mut link = disk_link(&w, &c, &r);
    link.pump().expect("pump");
    let first_bytes = link.bytes;
    drop(link);
    // Both nodes restart: everything the sessions knew is read back from the files.
    let (w, c) = (w.reopen(), c.reopen());
    for i in 0..10 {
        w.store
            .create_patient(&reg(), new_patient(&format!("late{i}")))
            .expect("create");
    }
    let mut link = disk_link(&w, &c, &r);
    link.pump().expect("pump");
    assert_eq!(link.a.stats().docs_sent, 10, "only the new records go");
    assert_eq!(link.b.stats().docs_sent, 0);
    assert!(
        link.bytes * 5 < first_bytes,
        "resume sent {} bytes after {first_bytes}",
        link.bytes
    );
    same_records(&w.store, &c.store);
}

#[test]
fn a_forbidden_write_is_refused_recorded_and_counted() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Pharmacy]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    // A pharmacy window holds a patient it created (a tampered node): central refuses it.
    let p = w.create("smuggled");
    let mut link = link(&w, &c, &r);
    link.pump().expect("pump");
    assert!(c.patient(p).is_none());
    assert_eq!(c.replica.peer_state(&w.id.name).expect("state").rejected, 1);
    let refusals = c.replica.refusals();
    assert_eq!(refusals.len(), 1);
    assert_eq!(
        (refusals[0].peer.clone(), refusals[0].id),
        (w.id.name.clone(), p)
    );
    assert_eq!(refusals[0].reason.code(), "kind_not_allowed");
    assert!(
        refusals[0]
            .reason
            .to_string()
            .contains("may not write patient"),
        "{:?}",
        refusals[0].reason
    );
    assert_eq!(link.b.stats().rejected_received, 1);
}

#[test]
fn a_forbidden_write_to_a_store_is_audited_and_not_indexed() {
    let ca = Ca::new();
    // A tampered pharmacy window: its store wrote a patient past the rules a node applies to
    // its own writes (here: before it had its key, when they are not judged), then signed it
    // with its real key.
    let loaded = ca.identity("W01", NodeRole::Window, &[DeskRole::Pharmacy]);
    let credentials = loaded.credentials().expect("credentials");
    let dir = tempfile::tempdir().expect("dir");
    let opts = StoreOptions::new(NodeName::new("W01").expect("valid"), NodeRole::Window);
    let store = Store::open(dir.path().join("store.redb"), opts).expect("open");
    let p = store
        .create_patient(&reg(), new_patient("smuggled"))
        .expect("create")
        .value;
    store.sign_as(credentials.clone()).expect("signed");
    let w = Disk {
        _dir: dir,
        store,
        id: loaded.identity().clone(),
        credentials,
    };
    let c = ca.disk("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    let mut link = disk_link(&w, &c, &r);
    link.pump().expect("pump");
    assert!(c.store.get::<Patient>(p.header.id).expect("read").is_none());
    assert_eq!(c.store.peer_state(&w.id.name).expect("state").rejected, 1);
    assert!(
        c.store
            .find_patients(&PatientQuery::Name("smuggled".into()))
            .expect("search")
            .is_empty()
    );
    let audit = c.store.audit_entries(0, 100).expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "sync.reject" && e.record == Some(p.header.id))
    );
}

/// `w` comes to believe that `c` holds the record as it is now (it does not), then edits it:
/// what it sends `c` next is a delta lacking its dependencies.
fn believed_held_then_edited(w: &Mem, c: &Mem, id: RecordId, edit: impl FnOnce(&mut Patient)) {
    let heads = w.replica.doc(id).expect("present").get_heads();
    w.replica
        .clone()
        .record_ack(&c.id.name, 0, vec![(id, heads)])
        .expect("belief");
    w.replica.update(id, edit).expect("edit");
}

#[test]
fn a_delta_missing_dependencies_falls_back_to_the_sync_protocol() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    let id = w.create("x");
    // W01 wrongly believes central already has the first version of the record.
    believed_held_then_edited(&w, &c, id, |p| p.name = "y".into());
    let mut link = link(&w, &c, &r);
    link.pump().expect("pump");
    assert!(link.a.stats().sync_messages + link.b.stats().sync_messages > 0);
    assert_eq!(c.patient(id).expect("present after sync").name, "y");
    // The sync state is kept per peer and record, so a cut exchange resumes.
    let kept = c.replica.sync_state(&w.id.name, id).expect("state");
    assert!(!kept.shared_heads.is_empty());
    same_records(&w.replica, &c.replica);
}

#[test]
fn records_lacking_dependencies_beyond_the_open_syncs_wait_and_a_cut_exchange_is_resent() {
    let ca = Ca::new();
    let r = ca.anchor();
    let one_sync_at_a_time = SessionConfig {
        max_syncing: 1,
        ..SessionConfig::default()
    };
    // W01 wrongly believes central already has the first version of three records.
    let lacking = |w: &Mem, c: &Mem| -> Vec<RecordId> {
        let ids: Vec<RecordId> = (0..3).map(|i| w.create(&format!("x{i}"))).collect();
        for &id in &ids {
            believed_held_then_edited(w, c, id, |p| p.name.push('!'));
        }
        ids
    };
    let whole = |c: &Mem, ids: &[RecordId]| {
        for &id in ids {
            let name = c.patient(id).expect("present after sync").name;
            assert!(name.ends_with('!'), "{name}");
        }
    };

    // On one connection, three exchanges one at a time: the others wait their turn.
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let ids = lacking(&w, &c);
    let connect = |w: &Mem, c: &Mem| {
        Link::connect_with(
            (w.replica.clone(), &w.id),
            (c.replica.clone(), &c.id),
            &r,
            Instant::now(),
            one_sync_at_a_time.clone(),
        )
    };
    let mut link = connect(&w, &c);
    link.pump().expect("pump");
    whole(&c, &ids);
    assert_eq!(link.batches.iter().sum::<usize>(), 3, "{:?}", link.batches);
    assert!(link.a.is_caught_up() && link.b.is_caught_up());
    same_records(&w.replica, &c.replica);

    // A connection that loses every sync message, then is cut: the exchanges never finish,
    // while the batches and their acks go through.
    let w = ca.mem("W02", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let ids = lacking(&w, &c);
    let later = w.create("later");
    let mut link = connect(&w, &c);
    for _ in 0..100 {
        let mut moved = false;
        while let Some(f) = link.a.poll_transmit() {
            moved = true;
            if !matches!(f, Frame::Sync { .. }) {
                let f = link.carry(f);
                link.b.handle_frame(f, link.now).expect("frame");
            }
        }
        while let Some(f) = link.b.poll_transmit() {
            moved = true;
            if !matches!(f, Frame::Sync { .. }) {
                let f = link.carry(f);
                link.a.handle_frame(f, link.now).expect("frame");
            }
        }
        if !moved {
            break;
        }
    }
    drop(link);
    assert!(c.patient(later).is_some(), "the record after them arrived");
    assert!(c.patient(ids[0]).is_none());
    let state = c.replica.peer_state(&w.id.name).expect("state");
    assert_eq!(state.waiting.len(), 3, "{state:?}");
    // Reconnected: the cursor stayed before them, so they come again, whole.
    let mut link = connect(&w, &c);
    link.pump().expect("pump");
    whole(&c, &ids);
    let state = c.replica.peer_state(&w.id.name).expect("state");
    assert!(state.waiting.is_empty(), "{state:?}");
    assert!(link.a.is_caught_up() && link.b.is_caught_up());
    same_records(&w.replica, &c.replica);
}

#[test]
fn a_silent_peer_times_out_and_bad_sequences_are_protocol_errors() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    let mut link = link(&w, &c, &r);
    link.pump().expect("pump");
    // Frames read off the connection but not handled yet (behind batches being applied)
    // are the peer's voice too: no timeout while they come.
    let start = link.now;
    link.now += Duration::from_secs(4);
    link.a.heard_at(link.now);
    link.now += Duration::from_secs(4);
    link.a
        .handle_timeout(link.now)
        .expect("heard 4 s ago: not silent for the 5 s timeout");
    link.now += Duration::from_secs(2);
    assert!(matches!(
        link.a.handle_timeout(link.now),
        Err(SessionError::Timeout { .. })
    ));
    assert!(link.now - start > Duration::from_secs(6));

    let mut fresh = self::link(&w, &c, &r);
    let err = fresh
        .b
        .handle_frame(Frame::Ping { nonce: 1 }, fresh.now)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SessionError::Protocol {
                violation: Violation::BeforeHello { frame: "ping" },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("before hello"), "{err}");
    let mut liar = self::link(&w, &c, &r);
    let Some(Frame::Hello(mut hello)) = liar.a.poll_transmit() else {
        panic!("hello first");
    };
    hello.node = "central".into();
    let err = liar
        .b
        .handle_frame(Frame::Hello(hello), liar.now)
        .unwrap_err();
    let SessionError::Protocol {
        violation: Violation::HelloName(mismatch),
        ..
    } = &err
    else {
        panic!("expected a hello naming another node: {err}");
    };
    assert_eq!(
        (mismatch.claimed.as_str(), mismatch.certified.as_str()),
        ("central", "W01")
    );
    assert!(err.to_string().contains("certificate names W01"), "{err}");
}

#[test]
fn a_store_and_a_memory_replica_replicate_both_ways_and_agree() {
    let ca = Ca::new();
    let w = ca.disk("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    let from_store = w
        .store
        .create_patient(&reg(), new_patient("on disk"))
        .expect("create")
        .value
        .header
        .id;
    let mut link = Link::connect((w.store.clone(), &w.id), (c.replica.clone(), &c.id), &r);
    link.pump().expect("pump");
    // Central (in memory) edits the store's record and writes its own; both go back.
    c.replica
        .update(from_store, |p: &mut Patient| p.phone = "13900000000".into())
        .expect("edit");
    c.create("in memory");
    link.commit().expect("push");
    let edited = w
        .store
        .get::<Patient>(from_store)
        .expect("read")
        .expect("present");
    assert_eq!(edited.phone, "13900000000");
    same_records(&w.store, &c.replica);
    for _ in 0..11 {
        link.advance(Duration::from_secs(1)).expect("digest round");
    }
    assert!(link.a.convergence().expect("compared").in_sync);
    assert!(link.b.convergence().expect("compared").in_sync);
}

#[test]
fn seeded_replicas_and_controlled_time_replay_byte_for_byte() {
    // Everything a session does follows from its replica and the `now` it is given; only
    // the signatures' bytes differ (ECDSA signatures are randomized), so they are compared by
    // what they sign.
    let ca = Ca::new();
    let w_key = ca.identity("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c_key = ca.identity("central", NodeRole::Central, &[]);
    let run = |start: Instant| -> Vec<Frame> {
        let node = |loaded: &LoadedIdentity, seed| {
            let id = loaded.identity().clone();
            let replica = MemoryReplica::seeded(id.name.clone(), seed)
                .with_credentials(loaded.credentials().expect("credentials"));
            Mem { replica, id }
        };
        let w = node(&w_key, 1);
        let c = node(&c_key, 2);
        let r = ca.anchor();
        for i in 0..40u8 {
            let id = RecordId::from_bytes([i; 16]);
            let record = patient_record(id, &w, &format!("p{i}"), None);
            w.replica.create(&record).expect("create");
        }
        let mut link = Link::connect_at(
            (w.replica.clone(), &w.id),
            (c.replica.clone(), &c.id),
            &r,
            start,
        );
        link.pump().expect("pump");
        for _ in 0..12 {
            link.advance(Duration::from_millis(900)).expect("advance");
        }
        link.wire
            .iter()
            .map(|bytes| {
                without_signature_bytes(Frame::split(bytes).expect("frame").expect("whole").0)
            })
            .collect()
    };
    let start = Instant::now();
    let first = run(start);
    assert!(first.len() > 10, "{} frames", first.len());
    assert_eq!(first, run(start));
}
