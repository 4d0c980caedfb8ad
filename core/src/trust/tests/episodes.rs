//! The rules on episodes between honest nodes that did not hear each other in time (each
//! found by `lifeline-sim --store`): what one node wrote from what it knew is taken by the
//! others, whatever they wrote meanwhile.

use super::*;
use crate::desk::Opening;

fn system() -> Operator {
    Operator::system()
}

fn enter(n: &Node) -> crate::id::EpisodeId {
    n.store
        .open_episode_because(&system(), "central unreachable", None, Opening::Automatic)
        .expect("enter")
        .value
}

fn open_episodes(n: &Node) -> usize {
    let all = n.store.episodes().expect("episodes");
    all.iter().filter(|e| e.open).count()
}

/// Central and two registration windows (no admin desk: a window closes an episode only
/// when the outage is over for every node in it), each knowing the others' keys.
fn windows() -> (Node, Node, Node) {
    let central = node("central", NodeRole::Central, &[]);
    let w01 = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let w03 = node("W03", NodeRole::Window, &[DeskRole::Registration]);
    admit_all(&[&central, &w01, &w03]);
    (central, w01, w03)
}

/// W03 closes the episode once, as far as it knows, every node in it has seen the system of
/// record back; W01, not having heard of that, is in the outage again and joins the episode
/// again. The close was honest when written: W01 takes it, though on W01 the merged episode
/// has a node in the outage (seed 5 of `lifeline-sim --seeds 20 --store`).
#[test]
fn a_close_written_before_a_concurrent_rejoin_is_taken() {
    let (central, w01, w03) = windows();
    let episode = enter(&w01);
    replicate(&w01, &w03);
    assert_eq!(enter(&w03), episode, "W03 joins W01's episode");
    replicate(&w03, &w01);
    w01.store.recover_from_episode(&system()).expect("recover");
    replicate(&w01, &w03);
    w03.store.recover_from_episode(&system()).expect("recover");
    w03.store.reconcile_episodes(&system()).expect("close");
    assert_eq!(open_episodes(&w03), 0, "closed on W03: every node is back");
    assert_eq!(enter(&w01), episode, "W01 is in the same episode again");
    // Not refused (`replicate` asserts it), here and at central.
    replicate(&w03, &w01);
    replicate(&w01, &central);
    replicate(&w03, &central);
    for n in [&central, &w01] {
        assert!(
            n.store
                .peer_state(w03.name())
                .expect("state")
                .refused
                .is_empty()
        );
    }
}

/// W01's store is restored from a backup taken before it entered an episode: it is in no
/// episode, while the episode (back from central) names it in the outage. Without its part
/// ended, the episode waited for W01's recovery for ever (seed 16 of `lifeline-sim --seeds
/// 20 --store`). Its next round ends it: recovered, the episode closed (W01 was its only
/// node), and central takes that.
#[test]
fn a_part_lost_with_a_restore_is_ended() {
    let (central, w01, _w03) = windows();
    let backup = w01._dir.path().join("before.redb");
    w01.store.backup_to(&backup, &|_, _| {}).expect("backup");
    let episode = enter(&w01);
    replicate(&w01, &central);
    let dir = tempfile::tempdir().expect("dir");
    let target = dir.path().join("store.redb");
    crate::store::restore_from(
        &backup,
        &target,
        w01.name(),
        crate::store::RestoreOptions::default(),
        &|_, _| {},
    )
    .expect("restore");
    let restored = open_node(dir, &target, w01.credentials.clone(), NOW_MS + 60_000);
    drop(w01);
    replicate(&central, &restored);
    assert_eq!(restored.store.episode().expect("read"), None);
    assert_eq!(
        open_episodes(&restored),
        1,
        "the episode names W01 in the outage"
    );
    restored
        .store
        .reconcile_episodes(&system())
        .expect("reconcile");
    let held = restored.store.episodes().expect("episodes");
    let e = held
        .iter()
        .find(|e| e.episode.episode_id == episode)
        .expect("held");
    assert!(!e.open, "closed: its only node is out of the outage");
    assert!(e.episode.nodes["W01"].recovered_ms.is_some());
    replicate(&restored, &central);
    assert_eq!(open_episodes(&central), 0);
}

/// A registration window whose clock reads `now_ms`, known to `others` and knowing them.
fn window_at(name: &str, now_ms: i64, others: &[&Node]) -> Node {
    let name = NodeName::new(name).expect("valid");
    let credentials =
        Credentials::uncertified(name, NodeRole::Window, &[DeskRole::Registration]).expect("a key");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("store.redb");
    let n = open_node(dir, &path, credentials, now_ms);
    let mut all = others.to_vec();
    all.push(&n);
    admit_all(&all);
    n
}

/// W03 and W05, cut off from each other, each open an episode; W05, hearing of W03's earlier
/// one, merges its own into it. The merge reaches central before W03's episode does (it is
/// sent alone here): central takes it, judging the episode it names by the minute in its id
/// (seed 4 of `lifeline-sim --seeds 20 --store`, where it was refused). A merge into a later
/// episode, or one named as no opening names it, is still refused.
#[test]
fn a_merge_that_comes_before_its_survivor_is_taken() {
    let (central, w01, w03) = windows();
    let w05 = window_at("W05", NOW_MS + 120_000, &[&central, &w01, &w03]);
    let earlier = enter(&w03);
    let later = enter(&w05);
    assert_ne!(earlier, later);
    replicate(&w05, &central);
    replicate(&w03, &w05);
    w05.store.reconcile_episodes(&system()).expect("merge");
    let held = w05.store.episodes().expect("episodes");
    let merged = held
        .iter()
        .find(|e| e.episode.episode_id == later)
        .expect("held");
    assert_eq!(merged.episode.merged_into.as_ref(), Some(&earlier));
    let export = w05.store.export(&[merged.record]).expect("export");
    let out = central
        .store
        .apply_remote(w05.name(), export.changes, export.signatures)
        .expect("apply");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    let at_central = central.store.episodes().expect("episodes");
    let taken = at_central
        .iter()
        .find(|e| e.episode.episode_id == later)
        .expect("held");
    assert_eq!(taken.episode.merged_into.as_ref(), Some(&earlier));
    assert!(
        at_central.iter().all(|e| e.episode.episode_id != earlier),
        "central does not hold the survivor yet"
    );
    // A forged merge of W03's episode into a later one, not held: refused.
    replicate(&w03, &central);
    let id = held
        .iter()
        .find(|e| e.episode.episode_id == earlier)
        .expect("held")
        .record;
    let doc = w03.store.doc(id).expect("read").expect("the episode");
    let (bytes, hashes) = forge(&doc, actor_of("W03"), |tx| {
        automerge::transaction::Transactable::put(
            tx,
            automerge::ROOT,
            "merged_into",
            "YJ-20261125-0905-W09",
        )
    });
    let before = heads(&central.store, id);
    let out = send(
        &central.store,
        w03.name(),
        id,
        bytes,
        signed(w03.key(), hashes),
    );
    assert_eq!(
        refused_as(&out, &central.store, id, before),
        "field_not_allowed"
    );
}
