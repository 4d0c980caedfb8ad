//! The memory replica against the store: the same inputs, through [`Replica`], to a real
//! store and to a memory replica, must give the same outcomes and leave the same state
//! (records and heads, feed, digest, emergency records, peer bookkeeping, what would be sent
//! to a peer). Adversarial inputs included: the refusals must be the same too. The last test
//! holds a whole conversation with each and compares every frame.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use lifeline_core::automerge::transaction::Transactable;
use lifeline_core::automerge::{ActorId, Automerge, ChangeHash, ROOT};
use lifeline_core::record::{Header, InsuranceType, Patient, Sex};
use lifeline_core::store::{
    ApplyOutcome, Ask, Credentials, IncomingDoc, PeerState, Refusal, Scope,
};
use lifeline_core::trust::SignedCommit;
use lifeline_core::{
    DeskRole, EpisodeId, ManualClock, NodeName, NodeRole, OperatorName, RecordId, RecordKind,
    Store, StoreOptions,
};

use super::MemoryReplica;
use crate::frame::Frame;
use crate::identity::{self, Anchor, NodeIdentity};
use crate::proto::{Session, SessionConfig};
use crate::replica::{PeerFeed, Replica};

fn name(s: &str) -> NodeName {
    NodeName::new(s).expect("valid")
}

/// W01's signing key, the same for every sender of a test (so that two senders built alike
/// sign alike, and a twin that knows one knows them all).
fn w01_credentials() -> Credentials {
    static KEY: OnceLock<Credentials> = OnceLock::new();
    KEY.get_or_init(|| {
        Credentials::uncertified(name("W01"), NodeRole::Window, &[DeskRole::Registration])
            .expect("a key")
    })
    .clone()
}

/// The signed commits of every change of `ids`, as `from` sends them to a peer it has sent
/// nothing.
fn signed(from: &MemoryReplica, ids: &[RecordId]) -> Vec<Vec<u8>> {
    let docs = Replica::outgoing(from, &name("nobody"), ids).expect("outgoing");
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in docs.iter().flat_map(|d| d.signatures.iter()) {
        if !out.contains(&c.bytes) {
            out.push(c.bytes.to_vec());
        }
    }
    out
}

/// A hospital CA in a temporary directory, for sessions to check roster entries with.
fn anchor() -> Anchor {
    let dir = tempfile::tempdir().expect("dir");
    identity::init_ca(dir.path()).expect("CA");
    let id = NodeIdentity::new(name("central"), NodeRole::Central, Vec::new());
    let files = identity::issue(dir.path(), &id, 30).expect("issue");
    identity::load(&files.tls_files())
        .expect("load")
        .anchor()
        .clone()
}

/// The same node twice: on a store (in a temporary directory) and in memory, on one clock.
/// The store is a standby's: a central store also acknowledges emergency records in the
/// commit that receives them (its own change, tested in lifeline-core), which the memory
/// replica does not model.
struct Twin {
    _dir: tempfile::TempDir,
    store: Store,
    memory: MemoryReplica,
}

impl Twin {
    fn new(node: &str) -> Twin {
        let dir = tempfile::tempdir().expect("dir");
        let clock = ManualClock::new(1_795_568_400_000);
        let mut opts = StoreOptions::new(name(node), NodeRole::Standby);
        opts.clock = Arc::new(clock.clone());
        let store = Store::open(dir.path().join("store.redb"), opts).expect("open");
        let memory = MemoryReplica::seeded(name(node), 99).with_clock(Arc::new(clock));
        // Both know W01, as the roster would have told them.
        let w01 = w01_credentials().member().clone();
        store.admit_member(w01.clone()).expect("admit");
        memory.admit_member(w01);
        Twin {
            _dir: dir,
            store,
            memory,
        }
    }

    /// Applies one batch (with these signed commits) to both and checks they agree; returns
    /// the outcome.
    fn apply(
        &mut self,
        peer: &str,
        items: Vec<IncomingDoc>,
        signatures: Vec<Vec<u8>>,
        cursor: Option<u64>,
    ) -> ApplyOutcome {
        let peer = name(peer);
        let stored = Replica::apply_batch(
            &mut self.store,
            &peer,
            items.clone(),
            signatures.clone(),
            cursor,
        )
        .expect("store applies");
        let held = self
            .memory
            .apply_batch(&peer, items, signatures, cursor)
            .expect("memory applies");
        assert_eq!(stored, held, "apply outcomes differ");
        self.assert_same();
        stored
    }

    /// Everything the protocol can see is the same on both.
    fn assert_same(&self) {
        let (s, m) = (&self.store, &self.memory);
        let week_ago = Scope::keeping_since(1_795_568_400_000 - 7 * 86_400_000);
        for scope in [Scope::All, week_ago] {
            assert_eq!(
                Replica::digest(s, scope).expect("digest"),
                m.digest(scope).expect("digest")
            );
        }
        assert_eq!(Replica::feed_head(s).ok(), m.feed_head().ok());
        let peer = name("W01");
        let feed = Replica::feed_page(s, &peer, 0, usize::MAX, Scope::All, None).expect("feed");
        assert_eq!(
            Some(&feed),
            m.feed_page(&peer, 0, usize::MAX, Scope::All, None)
                .ok()
                .as_ref()
        );
        let feed = feed.entries;
        assert_eq!(s.unreconciled().ok(), m.unreconciled().ok());
        let ids: Vec<RecordId> = feed.iter().map(|(_, id)| *id).collect();
        for id in &ids {
            let stored = s.doc(*id).expect("read").map(|d| d.get_heads());
            assert_eq!(stored, m.doc(*id).map(|d| d.get_heads()), "heads of {id}");
        }
        for peer in ["W01", "W02"] {
            let peer = name(peer);
            // Each notes the peer caught up with in its own opening, whose ids differ.
            let in_own_opening = |state: Option<PeerState>, opening: String| {
                state.map(|mut st| {
                    st.caught_up_in = st.caught_up_in.map(|o| (o == opening).to_string());
                    st
                })
            };
            assert_eq!(
                in_own_opening(Replica::peer_state(s, &peer).ok(), s.opening().0),
                in_own_opening(m.peer_state(&peer).ok(), m.opening().expect("opening").0),
                "state of {peer}"
            );
            assert_eq!(
                Replica::outgoing(s, &peer, &ids).map(signed_content).ok(),
                m.outgoing(&peer, &ids).map(signed_content).ok(),
                "outgoing to {peer}"
            );
        }
        let audited: Vec<Option<RecordId>> = s
            .audit_entries(0, 10_000)
            .expect("audit")
            .into_iter()
            .filter(|e| e.action == "sync.reject")
            .map(|e| e.record)
            .collect();
        let refused: Vec<Option<RecordId>> = m.refusals().into_iter().map(|r| Some(r.id)).collect();
        assert_eq!(audited, refused, "refusals recorded");
    }
}

/// Outgoing records with each signed commit as what it signs: two signatures of the same
/// hashes by the same key differ in their bytes (ECDSA is randomized) but not in meaning.
fn signed_content(
    docs: Vec<lifeline_core::store::OutgoingDoc>,
) -> Vec<(RecordId, Vec<u8>, Vec<SignedCommit>)> {
    docs.into_iter()
        .map(|d| {
            // The commits that go with a record are a set: a store lists them from its index,
            // the memory replica in the order of the changes.
            let mut commits: Vec<SignedCommit> = d
                .signatures
                .iter()
                .map(|c| {
                    let mut commit = SignedCommit::decode(&c.bytes).expect("a signed commit");
                    commit.signature.clear();
                    commit
                })
                .collect();
            commits.sort_by_key(|c| c.id().0);
            (d.id, d.bytes, commits)
        })
        .collect()
}

fn patient(id: RecordId, origin: &str, name: &str, episode: Option<EpisodeId>) -> Patient {
    Patient {
        header: Header {
            id,
            kind: RecordKind::Patient,
            origin: self::name(origin),
            operator: OperatorName::new("reg1").expect("valid"),
            created_ms: 1,
            episode,
            paper: None,
        },
        patient_no: format!("{origin}-{name}"),
        name: name.into(),
        sex: Sex::Male,
        birth_date: "2019-09-09".parse().expect("valid"),
        phone: "13500000000".into(),
        national_id: None,
        insurance: InsuranceType::Resident,
        merged_into: None,
        his_id: None,
        guardian: None,
        his_deleted: false,
        his_changed: None,
    }
}

/// W01 with records 1..=n (record 1 in an emergency episode): the same every time.
fn sender(n: u8) -> MemoryReplica {
    let w = MemoryReplica::seeded(name("W01"), 1).with_credentials(w01_credentials());
    for i in 1..=n {
        let episode = (i == 1).then(|| EpisodeId::new("YJ-1").expect("valid"));
        let record = patient(
            RecordId::from_bytes([i; 16]),
            "W01",
            &format!("p{i}"),
            episode,
        );
        w.create(&record).expect("create");
    }
    w
}

/// A record's changes after `known` (all of them when empty), as a peer sends them.
fn item(from: &MemoryReplica, id: RecordId, known: &[ChangeHash], seq: u64) -> IncomingDoc {
    let doc = from.doc(id).expect("present");
    let bytes = if known.is_empty() {
        doc.save()
    } else {
        doc.save_after(known)
    };
    IncomingDoc {
        id,
        bytes,
        sender_heads: doc.get_heads(),
        seq,
    }
}

fn heads(from: &MemoryReplica, id: RecordId) -> Vec<ChangeHash> {
    from.doc(id).expect("present").get_heads()
}

#[test]
fn new_records_repeats_edits_and_peer_bookkeeping_agree() {
    let w = sender(4);
    let ids: Vec<RecordId> = (1..=4).map(|i| RecordId::from_bytes([i; 16])).collect();
    let mut twin = Twin::new("central");
    let batch: Vec<IncomingDoc> = ids
        .iter()
        .zip(1u64..)
        .map(|(id, seq)| item(&w, *id, &[], seq))
        .collect();
    let first = twin.apply("W01", batch.clone(), signed(&w, &ids), Some(4));
    assert_eq!((first.applied.len(), first.applied_upto), (4, Some(4)));
    assert_eq!(twin.memory.unreconciled().expect("ids"), vec![ids[0]]);
    // The same batch again changes nothing.
    let again = twin.apply("W01", batch, signed(&w, &ids), Some(4));
    assert_eq!(again.unchanged, 4);
    // An edit goes as a delta from what central has.
    let before = heads(&w, ids[2]);
    w.update(ids[2], |p: &mut Patient| p.phone = "13511111111".into())
        .expect("edit");
    let edit = twin.apply(
        "W01",
        vec![item(&w, ids[2], &before, 5)],
        signed(&w, &[ids[2]]),
        Some(5),
    );
    assert_eq!(edit.applied, vec![ids[2]]);
    // What central keeps about W02, step by step.
    let w02 = name("W02");
    for r in [
        &mut twin.store as &mut dyn Replica,
        &mut twin.memory as &mut dyn Replica,
    ] {
        r.record_ack(&w02, 3, vec![(ids[0], before.clone()), (ids[1], vec![])])
            .expect("ack");
    }
    twin.assert_same();
    for r in [
        &mut twin.store as &mut dyn Replica,
        &mut twin.memory as &mut dyn Replica,
    ] {
        r.remember_hello(
            &w02,
            "inc-2".into(),
            "opening-2".into(),
            PeerFeed::Restarted,
        )
        .expect("hello");
        r.reset_peer(&w02, 1).expect("reset");
    }
    twin.assert_same();
    // W02 offers a record at the heads held here, one at heads before ours (its changes held
    // here, as a central's are after it stamps the record), one with a change not held, and
    // one not held at all: both record the first two as W02's, ask for the others, and offer
    // W02 the same.
    let unknown = RecordId::from_bytes([9; 16]);
    let offered = vec![
        (ids[1], heads(&w, ids[1])),
        (ids[2], before.clone()),
        (ids[3], vec![ChangeHash([8; 32])]),
        (unknown, vec![ChangeHash([7; 32])]),
    ];
    for r in [
        &mut twin.store as &mut dyn Replica,
        &mut twin.memory as &mut dyn Replica,
    ] {
        let lacking = r.peer_offers(&w02, offered.clone()).expect("offer");
        assert_eq!(lacking, vec![(ids[3], Ask::Now), (unknown, Ask::Now)]);
        // W03 offers the two W02 was asked for: later, once; then they are asked of it.
        let (w03, again) = (NodeName::new("W03").expect("name"), offered[2..].to_vec());
        let lacking = r.peer_offers(&w03, again.clone()).expect("offer");
        assert_eq!(lacking, vec![(ids[3], Ask::Later), (unknown, Ask::Later)]);
        let lacking = r.peer_offers(&w03, again).expect("offer");
        assert_eq!(lacking, vec![(ids[3], Ask::Now), (unknown, Ask::Now)]);
    }
    twin.assert_same();
    let written = Replica::written_here(&twin.store, &ids).expect("read");
    assert_eq!(written, twin.memory.written_here(&ids).expect("read"));
    assert_eq!(written, vec![false; 4], "W01 wrote them");
    assert_eq!(w.written_here(&ids).expect("read"), vec![true; 4]);
    let ours = Replica::offer(&twin.store, &w02, &ids).expect("offer");
    assert_eq!(ours, twin.memory.offer(&w02, &ids).expect("offer"));
    let offered_ids: Vec<RecordId> = ours.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        offered_ids,
        vec![ids[0], ids[2], ids[3]],
        "W02 holds ids[1] as we do, and ids[2] only before its edit"
    );
}

#[test]
fn refusals_agree() {
    let w = sender(3);
    let id = |i: u8| RecordId::from_bytes([i; 16]);
    let mut twin = Twin::new("central");
    let all = signed(&w, &[id(1), id(2), id(3)]);
    twin.apply("W01", vec![item(&w, id(1), &[], 1)], all.clone(), Some(1));
    let garbage = IncomingDoc {
        id: id(9),
        bytes: b"not automerge".to_vec(),
        sender_heads: Vec::new(),
        seq: 2,
    };
    // Record 2's document sent as record 7.
    let mut wrong_id = item(&w, id(2), &[], 3);
    wrong_id.id = id(7);
    // An edit that rewrites record 1's header.
    let before = heads(&w, id(1));
    w.update(id(1), |p: &mut Patient| p.header.origin = name("W66"))
        .expect("edit");
    let rewrite = item(&w, id(1), &before, 4);
    let rewrite_signed = signed(&w, &[id(1)]);
    // A document without a header.
    let mut bare = Automerge::new().with_actor(ActorId::from(b"W01\0bare0000".to_vec()));
    bare.transact(|tx| tx.put(ROOT, "x", 1))
        .expect("bare document");
    let no_header = IncomingDoc {
        id: id(8),
        bytes: bare.save(),
        sender_heads: bare.get_heads(),
        seq: 5,
    };
    let outcome = twin.apply(
        "W01",
        vec![garbage, wrong_id, rewrite, no_header],
        [all.clone(), rewrite_signed].concat(),
        Some(5),
    );
    let codes: Vec<&str> = outcome.rejected.iter().map(|r| r.reason.code()).collect();
    assert_eq!(
        codes,
        vec!["undecodable", "wrong_id", "header_rewritten", "no_header"]
    );
    // Record 3 without its signatures: unsigned.
    let refused = twin.apply("W01", vec![item(&w, id(3), &[], 6)], Vec::new(), Some(6));
    assert_eq!(refused.rejected[0].reason.code(), "unsigned");
    let state = twin.memory.peer_state(&name("W01")).expect("state");
    assert_eq!(state.rejected, 5);
    assert_eq!(state.refused.get("unsigned"), Some(&1));
    // The field rules too: a window writing central's acknowledgement into record 1, and a
    // change under W01's actor signed by a key of another node, are refused alike.
    let mut doc = twin.memory.doc(id(1)).expect("held");
    let before = doc.get_heads();
    doc.set_actor(ActorId::from(b"W01\0ack00000".to_vec()));
    doc.transact(|tx| {
        let stamp = tx.put_object(ROOT, "central_ack", lifeline_core::automerge::ObjType::Map)?;
        tx.put(&stamp, "at_ms", 1_i64)
    })
    .expect("forge");
    let hashes: Vec<ChangeHash> = doc.get_changes(&before).iter().map(|c| c.hash()).collect();
    let ack = IncomingDoc {
        id: id(1),
        bytes: doc.save_after(&before),
        sender_heads: doc.get_heads(),
        seq: 7,
    };
    let by_w01 = SignedCommit::sign(w01_credentials().key(), hashes.clone())
        .expect("sign")
        .encode();
    let other =
        Credentials::uncertified(name("W02"), NodeRole::Window, &[DeskRole::Admin]).expect("a key");
    twin.store
        .admit_member(other.member().clone())
        .expect("admit");
    twin.memory.admit_member(other.member().clone());
    let by_w02 = SignedCommit::sign(other.key(), hashes)
        .expect("sign")
        .encode();
    let refused = twin.apply("W01", vec![ack.clone()], vec![by_w01], Some(7));
    assert_eq!(refused.rejected[0].reason.code(), "field_not_allowed");
    let refused = twin.apply("W01", vec![ack], vec![by_w02], Some(7));
    assert_eq!(refused.rejected[0].reason.code(), "forged_author");
}

#[test]
fn missing_dependencies_and_the_sync_protocol_agree() {
    let id = RecordId::from_bytes([2; 16]);
    // Two identical senders, one for each side: the sync protocol keeps state per peer.
    let senders = [sender(2), sender(2)];
    let base = heads(&senders[0], id);
    for w in &senders {
        w.update(id, |p: &mut Patient| p.name = "renamed".into())
            .expect("edit");
    }
    let mut twin = Twin::new("central");
    // Only the edit arrives, without the record it edits.
    let delta = item(&senders[0], id, &base, 7);
    let outcome = twin.apply("W01", vec![delta], signed(&senders[0], &[id]), Some(7));
    assert_eq!(outcome.missing_deps, vec![id]);
    assert_eq!(outcome.applied_upto, Some(6));
    // Central opens the sync protocol with each sender; every message must be the same.
    let central = name("central");
    let w01 = name("W01");
    let mut states = [
        Replica::sync_state(&twin.store, &w01, id).expect("state"),
        twin.memory.sync_state(&w01, id).expect("state"),
    ];
    let mut sender_states = [
        lifeline_core::automerge::sync::State::new(),
        lifeline_core::automerge::sync::State::new(),
    ];
    for _round in 0..10 {
        let ours = [
            Replica::sync_generate(&twin.store, id, &mut states[0]).expect("generate"),
            twin.memory
                .sync_generate(id, &mut states[1])
                .expect("generate"),
        ];
        assert_eq!(ours[0], ours[1], "central's messages differ");
        let Some(message) = ours[0].clone() else {
            break;
        };
        let mut replies = Vec::new();
        for (w, state) in senders.iter().zip(sender_states.iter_mut()) {
            let mut w = w.clone();
            let (next, result) = w
                .sync_receive(
                    &central,
                    id,
                    state.clone(),
                    message.message.clone(),
                    Vec::new(),
                )
                .expect("sender receives");
            assert_eq!(result, Ok(false), "the sender has everything");
            *state = next;
            replies.push(w.sync_generate(id, state).expect("sender generates"));
        }
        // The same messages; signatures are randomized, so only their number is compared.
        let shape = |r: &Option<lifeline_core::store::SyncOut>| {
            r.as_ref().map(|o| (o.message.clone(), o.signatures.len()))
        };
        assert_eq!(shape(&replies[0]), shape(&replies[1]));
        let Some(reply) = replies.pop().flatten() else {
            break;
        };
        let sigs: Vec<Vec<u8>> = reply.signatures.iter().map(|c| c.bytes.to_vec()).collect();
        let stored = Replica::sync_receive(
            &mut twin.store,
            &w01,
            id,
            states[0].clone(),
            reply.message.clone(),
            sigs.clone(),
        )
        .expect("store receives");
        let held = twin
            .memory
            .sync_receive(&w01, id, states[1].clone(), reply.message, sigs)
            .expect("memory receives");
        assert_eq!(stored.1, held.1, "sync outcomes differ");
        states = [stored.0, held.0];
        twin.assert_same();
    }
    let got: Patient = twin.memory.get(id).expect("read").expect("present");
    assert_eq!(got.name, "renamed");
    let kept = Replica::sync_state(&twin.store, &w01, id).expect("state");
    assert!(
        !kept.shared_heads.is_empty(),
        "the store keeps the exchange"
    );
    assert_eq!(
        kept.shared_heads,
        twin.memory
            .sync_state(&w01, id)
            .expect("state")
            .shared_heads
    );
    // A message that is not one is refused the same way.
    let bad = [
        Replica::sync_receive(
            &mut twin.store,
            &w01,
            id,
            states[0].clone(),
            vec![1],
            Vec::new(),
        ),
        twin.memory
            .sync_receive(&w01, id, states[1].clone(), vec![1], Vec::new()),
    ];
    let [Ok((_, stored)), Ok((_, held))] = bad else {
        panic!("a bad message is a refusal, not an error");
    };
    assert!(matches!(stored, Err(Refusal::BadSyncMessage { .. })));
    assert_eq!(stored, held);
}

/// Hellos carry the incarnation and opening, which differ between a store and a memory
/// replica.
fn without_incarnation(frame: Frame) -> Frame {
    match frame {
        Frame::Hello(mut h) => {
            (h.incarnation, h.opening) = Default::default();
            Frame::Hello(h)
        }
        other => other,
    }
}

/// A session between `w` and central's replica `c`, frames pumped both ways, with heartbeats
/// and a digest round: every frame central's side sends.
fn conversation<R: Replica>(w: MemoryReplica, c: R, start: Instant) -> Vec<Frame> {
    let w_id = NodeIdentity::new(name("W01"), NodeRole::Window, Vec::new());
    let c_id = NodeIdentity::new(name("central"), NodeRole::Central, Vec::new());
    let anchor = anchor();
    let cfg = SessionConfig::default();
    let mut a = Session::new(w, cfg.clone(), c_id, anchor.clone(), start).expect("session");
    let mut b = Session::new(c, cfg, w_id, anchor, start).expect("session");
    let mut sent = Vec::new();
    let mut now = start;
    for step in 0..40 {
        if step > 0 {
            now += Duration::from_millis(500);
            a.handle_timeout(now).expect("timeout");
            b.handle_timeout(now).expect("timeout");
        }
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(f) = a.poll_transmit() {
                moved = true;
                b.handle_frame(f, now).expect("central handles");
            }
            while let Some(f) = b.poll_transmit() {
                moved = true;
                sent.push(without_incarnation(f.clone()));
                a.handle_frame(f, now).expect("window handles");
            }
            if !moved {
                break;
            }
        }
    }
    sent
}

#[test]
fn a_conversation_sends_the_same_frames_from_a_store_and_from_memory() {
    let start = Instant::now();
    let twin = Twin::new("central");
    let from_store = conversation(sender(30), twin.store.clone(), start);
    let from_memory = conversation(sender(30), twin.memory.clone(), start);
    assert!(
        from_store.iter().any(|f| matches!(f, Frame::Ack(_)))
            && from_store.iter().any(|f| matches!(f, Frame::Digest(_))),
        "{from_store:?}"
    );
    assert_eq!(from_store, from_memory);
    twin.assert_same();
}
