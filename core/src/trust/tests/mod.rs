//! The rules against a hostile window, on real stores: W02 holds a valid window certificate
//! (here an uncertified key every store admits) and forges what it can with it; W01 and
//! central refuse each forgery with one typed reason, keep nothing of it, and go on taking
//! honest changes. Each test is one hole of the trust issue.

mod authorship;
mod episodes;
mod fields;
mod prepared;
mod valid;

use std::sync::Arc;

use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, AutomergeError, ChangeHash};

use crate::clock::ManualClock;
use crate::id::{NodeName, OperatorName, RecordId};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::store::{ApplyOutcome, Credentials, RemoteChanges, Store, StoreOptions};
use crate::test_support::copy_all;
use crate::trust::{SignedCommit, SigningKey};

/// A node: its store and the key it signs with.
struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    credentials: Credentials,
}

impl Node {
    fn key(&self) -> &SigningKey {
        self.credentials.key()
    }

    fn name(&self) -> &NodeName {
        self.store.node()
    }
}

/// 2026-11-25 09:00 (UTC+8): the nodes' clocks.
const NOW_MS: i64 = 1_795_568_400_000;

/// A store for `name` on a manual clock at 2026-11-25 09:00 (UTC+8), with the desks its
/// certificate would name.
fn node(name: &str, role: NodeRole, desks: &[DeskRole]) -> Node {
    let name = NodeName::new(name).expect("valid");
    let credentials = Credentials::uncertified(name, role, desks).expect("a key");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("store.redb");
    open_node(dir, &path, credentials, NOW_MS)
}

/// The store at `path` (in `dir`) opened for the member `credentials` name, with its desks,
/// on a manual clock at `now_ms`.
fn open_node(
    dir: tempfile::TempDir,
    path: &std::path::Path,
    credentials: Credentials,
    now_ms: i64,
) -> Node {
    let member = credentials.member();
    let mut opts = StoreOptions::new(member.name.clone(), member.role);
    opts.clock = Arc::new(ManualClock::new(now_ms));
    opts.desks = member.desks.clone();
    opts.credentials = Some(credentials.clone());
    let store = Store::open(path, opts).expect("open");
    Node {
        _dir: dir,
        store,
        credentials,
    }
}

/// Every node admits every other's key.
fn admit_all(nodes: &[&Node]) {
    for a in nodes {
        for b in nodes {
            a.store
                .admit_member(b.credentials.member().clone())
                .expect("admit");
        }
    }
}

/// Central, an honest window W01 and a hostile window W02, each knowing the others' keys.
fn hospital(w01_desks: &[DeskRole]) -> (Node, Node, Node) {
    let central = node("central", NodeRole::Central, &[]);
    let w01 = node("W01", NodeRole::Window, w01_desks);
    let w02 = node(
        "W02",
        NodeRole::Window,
        &[DeskRole::Registration, DeskRole::Cashier, DeskRole::Admin],
    );
    admit_all(&[&central, &w01, &w02]);
    (central, w01, w02)
}

fn op(name: &str, desk: DeskRole) -> Operator {
    Operator::new(OperatorName::new(name).expect("valid"), desk)
}

/// An actor id of `node`'s, as a store makes them: the name, a zero byte, random bytes.
fn actor_of(node: &str) -> ActorId {
    let mut bytes = node.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&RecordId::generate().to_bytes()[8..]);
    ActorId::from(bytes)
}

/// Changes `f` makes on a copy of `doc` as `actor`: their bytes and hashes, as a peer sends
/// them.
fn forge(
    doc: &Automerge,
    actor: ActorId,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>,
) -> (Vec<u8>, Vec<ChangeHash>) {
    let mut copy = doc.clone();
    copy.set_actor(actor);
    let before = copy.get_heads();
    copy.transact(f).expect("the forged change applies");
    let hashes = copy.get_changes(&before).iter().map(|c| c.hash()).collect();
    (copy.save_after(&before), hashes)
}

/// A signature of `hashes` by `key`, encoded as it travels.
fn signed(key: &SigningKey, hashes: Vec<ChangeHash>) -> Vec<Vec<u8>> {
    vec![SignedCommit::sign(key, hashes).expect("sign").encode()]
}

/// Sends one record's changes from `from` to `to`.
fn send(
    to: &Store,
    from: &NodeName,
    id: RecordId,
    bytes: Vec<u8>,
    signatures: Vec<Vec<u8>>,
) -> ApplyOutcome {
    to.apply_remote(from, vec![RemoteChanges { id, bytes }], signatures)
        .expect("apply")
}

/// The one refusal of an outcome, by code, and that the record's heads did not move.
fn refused_as(
    out: &ApplyOutcome,
    to: &Store,
    id: RecordId,
    before: Option<Vec<ChangeHash>>,
) -> &'static str {
    assert_eq!(out.rejected.len(), 1, "{out:?}");
    assert!(out.applied.is_empty(), "{out:?}");
    let after = to.doc(id).expect("read").map(|d| d.get_heads());
    assert_eq!(after, before, "a refused record changed");
    // The refusal is audited and kept in the quarantine.
    let audited = to
        .audit_entries(0, 100_000)
        .expect("audit")
        .into_iter()
        .any(|e| e.action == "sync.reject" && e.record == Some(id));
    assert!(audited, "the refusal is not audited");
    assert!(
        to.quarantined(0, 100_000)
            .expect("quarantine")
            .iter()
            .any(|q| q.record == id),
        "the refused record is not in the quarantine"
    );
    out.rejected[0].reason.code()
}

fn heads(store: &Store, id: RecordId) -> Option<Vec<ChangeHash>> {
    store.doc(id).expect("read").map(|d| d.get_heads())
}

/// `to` takes everything `from` holds (signed, under the rules), refusing nothing.
fn replicate(from: &Node, to: &Node) {
    copy_all(&from.store, &to.store);
}
