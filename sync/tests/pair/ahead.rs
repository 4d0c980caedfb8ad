//! Central's receipts go ahead of the feed: a window catching up after an outage hears that
//! its own records are reconciled as soon as central has them, not once every other window's
//! outage records (which come before the receipt in central's feed) have reached it.

use lifeline_core::store::FeedPage;

use super::support::*;

/// `n` patients registered at `node`'s desk in an emergency episode.
fn outage_records(node: &Disk, episode: &EpisodeId, n: usize) -> Vec<RecordId> {
    let admin = Operator::new(OperatorName::new("admin").expect("valid"), DeskRole::Admin);
    node.store
        .start_episode(&admin, episode.clone(), "central unreachable")
        .expect("start the episode");
    (0..n).map(|i| node.register(&format!("急诊{i}"))).collect()
}

/// Central, and W02 with `n` outage records that reached central (central's feed holds them
/// and the receipts it wrote for them) and whose receipts came back.
fn central_after_w02(ca: &Ca, r: &Anchor, n: usize) -> (Disk, Disk, Vec<RecordId>) {
    let c = ca.disk("central", NodeRole::Central, &[]);
    let w2 = ca.disk("W02", NodeRole::Window, &[DeskRole::Registration]);
    let episode = EpisodeId::new("YJ-20261204-0900-W02").expect("valid");
    let outage = outage_records(&w2, &episode, n);
    let mut link = disk_link(&w2, &c, r);
    link.pump().expect("W02 to central");
    link.commit().expect("central's receipts to W02");
    assert!(
        w2.store.unreconciled().expect("read").is_empty(),
        "central's receipts reached W02"
    );
    (c, w2, outage)
}

#[test]
fn a_window_hears_its_outage_records_are_reconciled_before_the_others_records_reach_it() {
    let ca = Ca::new();
    let r = ca.anchor();
    // W02 reached central first: central's feed holds its 200 outage records before
    // anything of W01's.
    let (c, _w2, others) = central_after_w02(&ca, &r, 200);
    let w1 = ca.disk("W01", NodeRole::Window, &[DeskRole::Registration]);
    let episode = EpisodeId::new("YJ-20261204-0900-W01").expect("valid");
    let own = outage_records(&w1, &episode, 3);
    assert_eq!(w1.store.unreconciled().expect("read").len(), 3);
    // Small batches and a small window, so that central's feed to W01 takes many round trips.
    let cfg = SessionConfig {
        batch_docs: 8,
        window: 2,
        ..SessionConfig::default()
    };
    let mut link = Link::connect_with(
        (w1.store.clone(), &w1.id),
        (c.store.clone(), &c.id),
        &r,
        Instant::now(),
        cfg,
    );
    let mut steps = 0;
    while !w1.store.unreconciled().expect("read").is_empty() {
        assert!(
            link.step().expect("no protocol error"),
            "the link went quiet first"
        );
        steps += 1;
        assert!(steps < 10_000, "W01's records never reconciled");
    }
    let held = others
        .iter()
        .filter(|id| w1.store.get::<Patient>(**id).expect("read").is_some())
        .count();
    println!("W01 reconciled after {steps} steps, holding {held} of W02's 200 records");
    // In feed order the receipt for W01's records came after all 200 of W02's.
    assert!(
        held < 50,
        "W01 heard its records were reconciled only after {held} of W02's 200 reached it"
    );
    for id in &own {
        assert!(c.store.get::<Patient>(*id).expect("read").is_some());
    }
    // The rest of the feed still comes, and both end with the same records.
    link.pump().expect("no protocol error");
    same_records(&w1.store, &c.store);
    assert!(link.a.is_caught_up() && link.b.is_caught_up());
}

/// The store and the in-memory replica page their feeds by kind alike: the simulator's nodes
/// send ahead of the feed what real nodes do.
#[test]
fn both_replicas_page_their_feed_by_kind_alike() {
    let ca = Ca::new();
    let r = ca.anchor();
    let (c, _w2, outage) = central_after_w02(&ca, &r, 5);
    let w3 = ca.mem("W03", NodeRole::Window, &[DeskRole::Registration]);
    let mut second = Link::connect((w3.replica.clone(), &w3.id), (c.store.clone(), &c.id), &r);
    second.pump().expect("central to W03");
    same_records(&w3.replica, &c.store);
    let peer = NodeName::new("W09").expect("valid");
    let of = |replica: &dyn Fn(&[RecordKind]) -> FeedPage, kinds: &[RecordKind]| {
        let mut ids: Vec<RecordId> = replica(kinds)
            .entries
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        ids.sort();
        ids
    };
    let store = |kinds: &[RecordKind]| {
        c.store
            .feed_page(&peer, 0, 10_000, Scope::All, Some(kinds))
            .expect("page")
    };
    let memory = |kinds: &[RecordKind]| {
        w3.replica
            .feed_page(&peer, 0, 10_000, Scope::All, Some(kinds))
            .expect("page")
    };
    let receipts = of(&store, &[RecordKind::Receipt]);
    assert!(!receipts.is_empty(), "central wrote receipts");
    assert_eq!(of(&memory, &[RecordKind::Receipt]), receipts);
    let mut patients = outage.clone();
    patients.sort();
    assert_eq!(of(&store, &[RecordKind::Patient]), patients);
    assert_eq!(of(&memory, &[RecordKind::Patient]), patients);
    // A page of one kind still says how far it looked: to the end of the feed.
    assert_eq!(
        memory(&[RecordKind::Receipt]).upto,
        Some(w3.replica.feed_head().expect("head"))
    );
}
