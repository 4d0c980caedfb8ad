//! What a streaming session leaves unwritten for a while (`proto::quiet`): a new window
//! taking central's feed echoes it page by page, and those pages move central's cursor into
//! the window's feed and nothing else; central's acks are recorded a few batches at a time.
//! Fewer commits on both sides, and nothing lost or left behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::support::*;

/// Counts the commits a store makes from now on.
fn commits_of(store: &Store) -> Arc<AtomicU64> {
    let n = Arc::new(AtomicU64::new(0));
    let counted = n.clone();
    store.observe_commits(Box::new(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
    }));
    n
}

/// Moves frames both ways as [`Link::step`] does, and after each step tells both sessions
/// that their stores committed, as a daemon's store does after every commit (the window's
/// feed grows with each batch it takes, and it fills again). `steps` at most; returns
/// whether the link went quiet.
fn run<A: Replica, B: Replica>(link: &mut Link<A, B>, steps: usize) -> bool {
    for _ in 0..steps {
        let moved = link.step().expect("no protocol error");
        link.a.local_commit().expect("fill");
        link.b.local_commit().expect("fill");
        if !moved && !link.step().expect("no protocol error") {
            return true;
        }
    }
    false
}

/// A link in batches of eight records, so that a feed takes many of them.
fn small_batches<A: Replica, B: Replica>(
    a: (A, &NodeIdentity),
    b: (B, &NodeIdentity),
    anchor: &Anchor,
) -> Link<A, B> {
    let cfg = SessionConfig {
        batch_docs: 8,
        ..SessionConfig::default()
    };
    Link::connect_with(a, b, anchor, Instant::now(), cfg)
}

#[test]
fn a_new_window_taking_central_s_feed_echoes_it_in_few_batches_and_ends_in_step() {
    let ca = Ca::new();
    let r = ca.anchor();
    let c = ca.disk("central", NodeRole::Central, &[DeskRole::Registration]);
    let records: Vec<RecordId> = (0..400).map(|i| c.register(&format!("p{i}"))).collect();
    let w = ca.disk("W01", NodeRole::Window, &[DeskRole::Registration]);
    let (central_commits, window_commits) = (commits_of(&c.store), commits_of(&w.store));
    let mut link = small_batches((w.store.clone(), &w.id), (c.store.clone(), &c.id), &r);
    assert!(run(&mut link, 100_000), "the link went quiet");
    same_records(&w.store, &c.store);
    assert!(link.a.is_caught_up() && link.b.is_caught_up());

    let taken = link.b.stats().batches_sent;
    assert!(taken >= 50, "central's feed went in {taken} batches");
    // Every page of the window's feed was central's records: one empty batch went back per
    // batch taken, and central committed each; now one per 32 pages, and the last.
    let echoed = link.a.stats().batches_sent;
    assert!(
        echoed <= taken / 32 + 2,
        "the window sent {echoed} batches back for the {taken} it took"
    );
    // The window commits what it takes; central its acks, four batches at a time. Each side
    // used to make one commit more per batch.
    let (central, window) = (
        central_commits.load(Ordering::Relaxed),
        window_commits.load(Ordering::Relaxed),
    );
    assert!(
        window <= taken + taken / 4,
        "the window made {window} commits for {taken} batches"
    );
    assert!(
        central <= taken / 2,
        "central made {central} commits for the {taken} batches it sent"
    );

    // Nothing is left behind: each side's cursor into the other's feed is at its head, and
    // central knows the window holds every record at its heads.
    let (c_name, w_name) = (c.id.name.clone(), w.id.name.clone());
    let at_central = c.store.peer_state(&w_name).expect("read");
    let at_window = w.store.peer_state(&c_name).expect("read");
    assert_eq!(at_central.acked_by_peer, c.store.feed_head().expect("read"));
    assert_eq!(
        at_central.applied_from_peer,
        w.store.feed_head().expect("read")
    );
    assert_eq!(at_window.acked_by_peer, w.store.feed_head().expect("read"));
    let heads = c.store.heads_of(&records).expect("read");
    for (id, mut heads) in records.iter().zip(heads) {
        let mut held = c.store.peer_heads(&w_name, *id).expect("read");
        held.sort();
        heads.sort();
        assert!(!heads.is_empty());
        assert_eq!(held, heads, "central knows the window holds {id}");
    }
}

/// The window's cursor not heard and central's acks not recorded when the connection drops
/// cost a rescan: after a reconnect nothing is sent twice and both end in step.
#[test]
fn a_connection_dropped_mid_feed_loses_nothing_that_was_left_unwritten() {
    let ca = Ca::new();
    let r = ca.anchor();
    let c = ca.disk("central", NodeRole::Central, &[DeskRole::Registration]);
    for i in 0..300 {
        c.register(&format!("p{i}"));
    }
    let w = ca.disk("W01", NodeRole::Window, &[DeskRole::Registration]);
    let connect = || small_batches((w.store.clone(), &w.id), (c.store.clone(), &c.id), &r);
    let mut first = connect();
    run(&mut first, 12);
    let took = first.a.stats().docs_received;
    assert!(
        took > 0 && took < 300,
        "the connection drops mid-feed ({took} records taken)"
    );
    drop(first);
    let mut second = connect();
    assert!(run(&mut second, 100_000), "the link went quiet");
    same_records(&w.store, &c.store);
    assert!(second.a.is_caught_up() && second.b.is_caught_up());
    assert_eq!(
        second.a.stats().docs_sent,
        0,
        "the window sends nothing back"
    );
    assert!(
        second.b.stats().docs_sent <= 300 - took + 8 * 8,
        "central sends again at most what was in flight and not recorded: {} after {took}",
        second.b.stats().docs_sent
    );
    let at_central = c.store.peer_state(&w.id.name).expect("read");
    assert_eq!(
        at_central.applied_from_peer,
        w.store.feed_head().expect("read")
    );
    assert_eq!(at_central.acked_by_peer, c.store.feed_head().expect("read"));
}

/// Two nodes each taking the other's feed keep back their echoed pages, never the pages they
/// held at the start: each one's stream ends, and neither waits for the other's cursor (no
/// time passes here, so no heartbeat sends it).
#[test]
fn two_nodes_taking_each_other_s_feed_never_wait_for_each_other() {
    let ca = Ca::new();
    let r = ca.anchor();
    let c = ca.mem("central", NodeRole::Central, &[DeskRole::Registration]);
    let s = ca.mem("standby", NodeRole::Standby, &[DeskRole::Registration]);
    for i in 0..120 {
        c.create(&format!("c{i}"));
        s.create(&format!("s{i}"));
    }
    let mut link = small_batches((c.replica.clone(), &c.id), (s.replica.clone(), &s.id), &r);
    assert!(run(&mut link, 100_000), "the link went quiet");
    same_records(&c.replica, &s.replica);
    assert_eq!(c.replica.records(), 240);
    assert!(link.a.is_caught_up() && link.b.is_caught_up());
}
