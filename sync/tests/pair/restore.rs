//! Restored stores: one restored empty, one restored from an older backup, and a peer
//! that meets a store restored under it.

use super::support::*;

#[test]
fn a_peer_restored_empty_is_sent_everything_again() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    for i in 0..30 {
        w.create(&format!("p{i}"));
    }
    let mut link = link(&w, &c, &r);
    link.pump().expect("pump");
    drop(link);
    // Central comes back empty, with a new incarnation.
    let c2 = ca.mem("central", NodeRole::Central, &[]);
    let mut link = self::link(&w, &c2, &r);
    link.pump().expect("pump");
    same_records(&w.replica, &c2.replica);
    assert_eq!(c2.replica.records(), 30);
}

/// A window restored from an older backup (a new incarnation, the records as they were)
/// edits a record it had edited after the backup. Its new change must not reuse the
/// sequence number of the lost one, which central holds: a restored store writes under a
/// new actor, and central takes the edit. The window then gets back what it lost.
#[test]
fn a_window_restored_from_an_older_backup_writes_under_a_new_actor() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    let ids: Vec<RecordId> = (0..10).map(|i| w.create(&format!("p{i}"))).collect();
    link(&w, &c, &r).pump().expect("first sync");
    let backup = w.replica.backup();
    // After the backup: an edit and a new patient, both reaching central.
    w.replica
        .update(ids[0], |p: &mut Patient| p.phone = "13900000001".into())
        .expect("edit after the backup");
    let later = w.create("after the backup");
    link(&w, &c, &r).pump().expect("second sync");

    let restored = Mem {
        replica: MemoryReplica::restored(&backup, 7),
        id: w.id.clone(),
    };
    assert_ne!(
        restored.replica.incarnation().expect("incarnation"),
        w.replica.incarnation().expect("incarnation")
    );
    assert_eq!(restored.replica.records(), 10, "as the backup held them");
    assert!(restored.patient(later).is_none());
    restored
        .replica
        .update(ids[0], |p: &mut Patient| p.name = "p0 again".into())
        .expect("edit after the restore");
    link(&restored, &c, &r)
        .pump()
        .expect("sync after the restore");
    assert_eq!(c.replica.refusals(), vec![], "central refused nothing");
    same_records(&restored.replica, &c.replica);
    assert_eq!(restored.replica.records(), 11);
    let p0 = c.patient(ids[0]).expect("p0");
    assert_eq!(
        (p0.name.as_str(), p0.phone.as_str()),
        ("p0 again", "13900000001")
    );
}

/// Issue 9, hole 11: a standby rejoins a central restored from a backup. Central pushes a
/// batch right after the hellos; the standby, seeing central's new incarnation, asks it to
/// rewind; central forgets the batch in flight and starts again, and the standby's ack of the
/// first batch arrives late. An honest peer is never a protocol violation: the late ack is
/// taken for what it is, and both sides end in sync.
#[test]
fn a_late_ack_of_a_batch_sent_before_a_rewind_is_no_violation() {
    let ca = Ca::new();
    let s = ca.mem("standby", NodeRole::Standby, &[]);
    let old = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    for i in 0..10 {
        old.create(&format!("before{i}"));
    }
    link(&old, &s, &r)
        .pump()
        .expect("the standby follows central");
    // Central is restored from a backup: a new incarnation, whose feed has since grown past
    // the standby's cursor into the old one (windows reconnected first).
    let central = ca.mem("central", NodeRole::Central, &[]);
    for i in 0..30 {
        central.create(&format!("after{i}"));
    }
    let mut link = link(&central, &s, &r);
    let hello_c = link.a.poll_transmit().expect("central's hello");
    let hello_s = link.b.poll_transmit().expect("the standby's hello");
    let (hello_c, hello_s) = (link.carry(hello_c), link.carry(hello_s));
    link.a
        .handle_frame(hello_s, link.now)
        .expect("central reads the hello");
    link.b
        .handle_frame(hello_c, link.now)
        .expect("the standby reads the hello");
    // The standby's rewind (and anything else it says) reaches central first: central drops
    // its first batch and sends again from the start.
    while let Some(f) = link.b.poll_transmit() {
        let f = link.carry(f);
        link.a.handle_frame(f, link.now).expect("central rewinds");
    }
    // Then the standby receives both of central's batches and acks each.
    while let Some(f) = link.a.poll_transmit() {
        let f = link.carry(f);
        link.b
            .handle_frame(f, link.now)
            .expect("the standby applies");
    }
    link.pump()
        .expect("the late ack of the batch sent before the rewind is no violation");
    same_records(&central.replica, &s.replica);
    assert_eq!(s.replica.records(), 40);
}

/// A window's data directory copied back from an older backup by hand (not through `lifeline
/// restore`, which would give it a new incarnation; and whole, so the mark beside the store
/// cannot tell either): real files, the same incarnation, and a
/// feed shorter than central has applied of it, until the window writes past that point
/// again. Central must forget what it believed the window holds and send back the patients
/// the window wrote after the backup, which only central now has, and take those it wrote
/// after the copy under feed sequences central had applied already. Before, it went on
/// believing the window held them, and their digests differed for ever.
#[test]
fn a_store_copied_back_by_hand_gets_back_what_it_wrote_since() {
    let ca = Ca::new();
    let w = ca.disk("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.disk("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    for i in 0..5 {
        w.register(&format!("p{i}"));
    }
    disk_link(&w, &c, &r).pump().expect("first sync");
    let backup = w.backup_whole(&w._dir.path().join("backup.redb"));
    let later: Vec<RecordId> = (0..3).map(|i| w.register(&format!("later{i}"))).collect();
    // Central takes everything W01 says; of central, W01 hears only the hello (what central
    // says after it is lost): W01 acknowledges no more of central's feed than the backup
    // holds, and only what W01 sent tells central that W01 holds those patients.
    let mut link = disk_link(&w, &c, &r);
    let hello = link.b.poll_transmit().expect("central's hello");
    let hello = link.carry(hello);
    link.a
        .handle_frame(hello, link.now)
        .expect("W01 reads the hello");
    loop {
        let mut said = false;
        while let Some(f) = link.a.poll_transmit() {
            let f = link.carry(f);
            link.b.handle_frame(f, link.now).expect("central applies");
            said = true;
        }
        while link.b.poll_transmit().is_some() {}
        if !said {
            break;
        }
    }
    drop(link);
    for &id in &later {
        assert!(c.store.get::<Patient>(id).expect("read").is_some(), "{id}");
    }
    let incarnation = w.store.incarnation().expect("incarnation");

    // The data directory copied back while the node is stopped, then opened again; its
    // desks write on (central is away) until its feed is longer than central has applied.
    let w = w.copied_over(&backup);
    assert_eq!(w.store.incarnation().expect("incarnation"), incarnation);
    assert!(w.store.get::<Patient>(later[0]).expect("read").is_none());
    let after: Vec<RecordId> = (0..5).map(|i| w.register(&format!("after{i}"))).collect();

    disk_link(&w, &c, &r).pump().expect("sync after the copy");
    same_records(&w.store, &c.store);
    for id in later {
        assert!(w.store.get::<Patient>(id).expect("read").is_some(), "{id}");
    }
    for id in after {
        assert!(c.store.get::<Patient>(id).expect("read").is_some(), "{id}");
    }
}
