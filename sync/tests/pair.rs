//! The protocol state machine between two real stores, with frames moved by hand: controlled
//! time, dropped connections, restarts and restored stores. Every frame goes through the wire
//! encoding, and its bytes are counted.

use std::time::{Duration, Instant};

use lifeline_core::desk::{NewPatient, PatientEdit};
use lifeline_core::record::{InsuranceType, Patient, Sex};
use lifeline_core::store::PatientQuery;
use lifeline_core::{
    DeskRole, EpisodeId, NodeName, NodeRole, Operator, OperatorName, RecordId, Store, StoreOptions,
};
use lifeline_sync::frame::Frame;
use lifeline_sync::identity::NodeIdentity;
use lifeline_sync::permissions::{Roster, SharedRoster};
use lifeline_sync::proto::{Session, SessionConfig, SessionError};

fn identity(name: &str, role: NodeRole, desks: &[DeskRole]) -> NodeIdentity {
    NodeIdentity::new(NodeName::new(name).expect("valid"), role, desks.to_vec())
}

struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    id: NodeIdentity,
}

fn node(name: &str, role: NodeRole, desks: &[DeskRole]) -> Node {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(
        dir.path().join("store.redb"),
        StoreOptions::new(NodeName::new(name).expect("valid"), role),
    )
    .expect("open");
    Node {
        _dir: dir,
        store,
        id: identity(name, role, desks),
    }
}

impl Node {
    /// Closes the store and opens the same file again, as a restarted node does.
    fn reopen(self) -> Node {
        let Node { _dir, store, id } = self;
        let path = store.path().to_path_buf();
        drop(store);
        let store =
            Store::open(&path, StoreOptions::new(id.name.clone(), id.role)).expect("reopen");
        Node { _dir, store, id }
    }
}

fn roster(nodes: &[&Node]) -> SharedRoster {
    let mut r = Roster::new();
    for n in nodes {
        r.learn(&n.id);
    }
    r.shared()
}

fn reg() -> Operator {
    Operator::new(
        OperatorName::new("reg1").expect("valid"),
        DeskRole::Registration,
    )
}

fn patient(name: &str) -> NewPatient {
    NewPatient {
        patient_no: None,
        name: name.into(),
        sex: Sex::Female,
        birth_date: "2020-02-02".parse().expect("valid"),
        phone: "13700000000".into(),
        national_id: None,
        insurance: InsuranceType::SelfPay,
    }
}

/// Two connected sessions and the wire between them.
struct Link {
    a: Session,
    b: Session,
    now: Instant,
    bytes: u64,
    batches: Vec<usize>,
}

impl Link {
    fn connect(a: &Node, b: &Node, roster: &SharedRoster) -> Link {
        let now = Instant::now();
        let cfg = SessionConfig::default();
        Link {
            a: Session::new(
                a.store.clone(),
                cfg.clone(),
                b.id.clone(),
                roster.clone(),
                now,
            )
            .expect("session"),
            b: Session::new(b.store.clone(), cfg, a.id.clone(), roster.clone(), now)
                .expect("session"),
            now,
            bytes: 0,
            batches: Vec::new(),
        }
    }

    /// Moves frames both ways until neither side has anything to say.
    fn pump(&mut self) -> Result<(), SessionError> {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(f) = self.a.poll_transmit() {
                moved = true;
                let f = self.wire(f);
                self.b.handle_frame(f, self.now)?;
            }
            while let Some(f) = self.b.poll_transmit() {
                moved = true;
                let f = self.wire(f);
                self.a.handle_frame(f, self.now)?;
            }
            if !moved {
                return Ok(());
            }
        }
        panic!("the sessions never went quiet");
    }

    fn wire(&mut self, f: Frame) -> Frame {
        if let Frame::Batch(b) = &f {
            self.batches.push(b.docs.len());
        }
        let bytes = f.encode().expect("encode");
        self.bytes += bytes.len() as u64;
        let (decoded, used) = Frame::split(&bytes).expect("decode").expect("whole frame");
        assert_eq!(used, bytes.len());
        decoded
    }

    fn commit(&mut self) -> Result<(), SessionError> {
        self.a.local_commit()?;
        self.b.local_commit()?;
        self.pump()
    }

    fn advance(&mut self, d: Duration) -> Result<(), SessionError> {
        self.now += d;
        self.a.handle_timeout(self.now)?;
        self.b.handle_timeout(self.now)?;
        self.pump()
    }
}

fn same_records(a: &Store, b: &Store) {
    let da = a.digest().expect("digest");
    let db = b.digest().expect("digest");
    assert_eq!(da, db, "stores differ");
}

#[test]
fn a_window_replicates_to_an_empty_central_and_they_prove_it() {
    let w = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = node("central", NodeRole::Central, &[]);
    let r = roster(&[&w, &c]);
    for i in 0..300 {
        w.store
            .create_patient(&reg(), patient(&format!("p{i}")))
            .expect("create");
    }
    let mut link = Link::connect(&w, &c, &r);
    link.pump().expect("pump");
    assert_eq!(c.store.stats().expect("stats").records, 300);
    same_records(&w.store, &c.store);
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
}

#[test]
fn new_commits_are_pushed_and_nothing_is_echoed_back() {
    let w = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = node("central", NodeRole::Central, &[]);
    let r = roster(&[&w, &c]);
    let mut link = Link::connect(&w, &c, &r);
    link.pump().expect("pump");
    let p = w
        .store
        .create_patient(&reg(), patient("x"))
        .expect("create")
        .value;
    link.commit().expect("push");
    assert!(c.store.get::<Patient>(p.header.id).expect("read").is_some());
    // central applied it, its feed moved, but it knows W01 has those heads: no batch back.
    assert_eq!(link.b.stats().docs_sent, 0);
}

#[test]
fn concurrent_edits_on_three_nodes_converge() {
    let w1 = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let w2 = node("W02", NodeRole::Window, &[DeskRole::Registration]);
    let c = node("central", NodeRole::Central, &[]);
    let r = roster(&[&w1, &w2, &c]);
    let p = w1
        .store
        .create_patient(&reg(), patient("shared"))
        .expect("create")
        .value;
    let mut l1 = Link::connect(&w1, &c, &r);
    let mut l2 = Link::connect(&w2, &c, &r);
    l1.pump().expect("pump");
    l2.pump().expect("pump");
    assert!(
        w2.store
            .get::<Patient>(p.header.id)
            .expect("read")
            .is_some()
    );
    // Both windows edit the same patient concurrently and create their own.
    let edit = |phone: &str| PatientEdit {
        phone: Some(phone.into()),
        ..PatientEdit::default()
    };
    w1.store
        .update_patient(&reg(), p.header.id, edit("13811111111"))
        .expect("edit");
    w2.store
        .update_patient(&reg(), p.header.id, edit("13922222222"))
        .expect("edit");
    w1.store
        .create_patient(&reg(), patient("a"))
        .expect("create");
    w2.store
        .create_patient(&reg(), patient("b"))
        .expect("create");
    for _ in 0..3 {
        l1.commit().expect("push");
        l2.commit().expect("push");
    }
    same_records(&w1.store, &c.store);
    same_records(&w2.store, &c.store);
    let seen: Vec<String> = [&w1, &w2, &c]
        .iter()
        .map(|n| {
            n.store
                .get::<Patient>(p.header.id)
                .expect("read")
                .expect("present")
                .phone
        })
        .collect();
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

#[test]
fn a_reconnect_resumes_without_resending() {
    let w = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = node("central", NodeRole::Central, &[]);
    let r = roster(&[&w, &c]);
    for i in 0..100 {
        w.store
            .create_patient(&reg(), patient(&format!("p{i}")))
            .expect("create");
    }
    let mut link = Link::connect(&w, &c, &r);
    link.pump().expect("pump");
    let first_bytes = link.bytes;
    drop(link);
    // Both nodes restart: everything the sessions knew is read back from the files.
    let (w, c) = (w.reopen(), c.reopen());
    for i in 0..10 {
        w.store
            .create_patient(&reg(), patient(&format!("late{i}")))
            .expect("create");
    }
    let mut link = Link::connect(&w, &c, &r);
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
fn emergency_records_go_first_on_reconnect() {
    let w = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = node("central", NodeRole::Central, &[]);
    let r = roster(&[&w, &c]);
    for i in 0..20 {
        w.store
            .create_patient(&reg(), patient(&format!("normal{i}")))
            .expect("create");
    }
    let admin = Operator::new(OperatorName::new("info").expect("valid"), DeskRole::Admin);
    w.store
        .start_episode(
            &admin,
            EpisodeId::new("YJ-1").expect("valid"),
            "central down",
        )
        .expect("start");
    let urgent: Vec<RecordId> = (0..5)
        .map(|i| {
            w.store
                .create_patient(&reg(), patient(&format!("yj{i}")))
                .expect("create")
                .value
                .header
                .id
        })
        .collect();
    let mut link = Link::connect(&w, &c, &r);
    // Deliver the hellos, then look at the first batch.
    let hello_a = link.a.poll_transmit().expect("hello");
    let hello_b = link.b.poll_transmit().expect("hello");
    link.b.handle_frame(hello_a, link.now).expect("hello");
    link.a.handle_frame(hello_b, link.now).expect("hello");
    let Some(Frame::Batch(first)) = link.a.poll_transmit() else {
        panic!("expected a batch first");
    };
    let ids: Vec<RecordId> = first
        .docs
        .iter()
        .map(|d| RecordId::from_bytes(d.id))
        .collect();
    assert_eq!(first.upto, None);
    assert_eq!(ids.len(), 5);
    assert!(ids.iter().all(|id| urgent.contains(id)));
}

#[test]
fn a_forbidden_write_is_refused_logged_and_counted() {
    let w = node("W01", NodeRole::Window, &[DeskRole::Pharmacy]);
    let c = node("central", NodeRole::Central, &[]);
    let r = roster(&[&w, &c]);
    // A pharmacy window holds a patient it created (a tampered node): central refuses it.
    let p = w
        .store
        .create_patient(&reg(), patient("smuggled"))
        .expect("create")
        .value;
    let mut link = Link::connect(&w, &c, &r);
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

#[test]
fn a_peer_restored_empty_is_sent_everything_again() {
    let w = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = node("central", NodeRole::Central, &[]);
    let r = roster(&[&w, &c]);
    for i in 0..30 {
        w.store
            .create_patient(&reg(), patient(&format!("p{i}")))
            .expect("create");
    }
    let mut link = Link::connect(&w, &c, &r);
    link.pump().expect("pump");
    drop(link);
    // Central comes back with a brand-new store.
    let c2 = node("central", NodeRole::Central, &[]);
    let mut link = Link::connect(&w, &c2, &r);
    link.pump().expect("pump");
    same_records(&w.store, &c2.store);
    assert_eq!(c2.store.stats().expect("stats").records, 30);
}

#[test]
fn a_delta_missing_dependencies_falls_back_to_the_sync_protocol() {
    let w = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = node("central", NodeRole::Central, &[]);
    let r = roster(&[&w, &c]);
    let p = w
        .store
        .create_patient(&reg(), patient("x"))
        .expect("create")
        .value;
    let id = p.header.id;
    // W01 wrongly believes central already has the first version of the record.
    let heads = w.store.doc(id).expect("doc").expect("present").get_heads();
    w.store
        .record_ack(&c.id.name, 0, vec![(id, heads)])
        .expect("belief");
    let rename = PatientEdit {
        name: Some("y".into()),
        ..PatientEdit::default()
    };
    w.store.update_patient(&reg(), id, rename).expect("edit");
    let mut link = Link::connect(&w, &c, &r);
    link.pump().expect("pump");
    assert!(link.a.stats().sync_messages + link.b.stats().sync_messages > 0);
    let got: Patient = c.store.get(id).expect("read").expect("present after sync");
    assert_eq!(got.name, "y");
    // The sync state is kept per peer and record, so a cut exchange resumes.
    let kept = c.store.sync_state(&w.id.name, id).expect("state");
    assert!(!kept.shared_heads.is_empty());
    same_records(&w.store, &c.store);
}

#[test]
fn a_silent_peer_times_out_and_bad_sequences_are_protocol_errors() {
    let w = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = node("central", NodeRole::Central, &[]);
    let r = roster(&[&w, &c]);
    let mut link = Link::connect(&w, &c, &r);
    link.pump().expect("pump");
    link.now += Duration::from_secs(6);
    assert!(matches!(
        link.a.handle_timeout(link.now),
        Err(SessionError::Timeout { .. })
    ));

    let mut fresh = Link::connect(&w, &c, &r);
    let err = fresh
        .b
        .handle_frame(Frame::Ping { nonce: 1 }, fresh.now)
        .unwrap_err();
    assert!(err.to_string().contains("before hello"), "{err}");
    let mut liar = Link::connect(&w, &c, &r);
    let Some(Frame::Hello(mut hello)) = liar.a.poll_transmit() else {
        panic!("hello first");
    };
    hello.node = "central".into();
    let err = liar
        .b
        .handle_frame(Frame::Hello(hello), liar.now)
        .unwrap_err();
    assert!(err.to_string().contains("certificate names W01"), "{err}");
}
