//! The hostile-peer suite, on real QUIC and real stores: a test node holding a valid window
//! certificate (W09) connects to central and tries every hole the trust issue found, plus
//! garbage sync messages, roster entries the CA never issued, oversized batches, replays of
//! old batches and changes signed by a revoked node. Each is refused, counted and audited,
//! nothing stored changes, and meanwhile the honest nodes keep converging and their desks
//! keep answering. A second hostile window asks without ever reading, and is dropped.

mod harness;

use std::time::Duration;

use harness::{Hostile, Reading, actor_of, dial, eventually, forge, issue, name, start, wire};
use lifeline_core::automerge::transaction::Transactable;
use lifeline_core::automerge::{Automerge, ObjType, ROOT, ReadDoc};
use lifeline_core::desk::{
    CatalogImport, NewPatient, parse_departments, parse_drugs, parse_services,
};
use lifeline_core::money::Fen;
use lifeline_core::numbers::Series;
use lifeline_core::record::{
    CENTRAL_ACK_KEY, CatalogKind, DrugItem, Header, InsuranceType, Lease, Patient, RecordKind, Sex,
};
use lifeline_core::store::Scope;
use lifeline_core::{DeskRole, NodeRole, Operator, OperatorName, RecordId, Store, StoreOptions};
use lifeline_sync::frame::Frame;
use lifeline_sync::identity::{self, Anchor};

fn op(n: &str, desk: DeskRole) -> Operator {
    Operator::new(OperatorName::new(n).expect("valid"), desk)
}

fn new_patient(n: &str) -> NewPatient {
    NewPatient {
        patient_no: None,
        name: n.into(),
        sex: Sex::Female,
        birth_date: "2019-05-04".parse().expect("date"),
        phone: "13800138000".into(),
        national_id: None,
        insurance: InsuranceType::Resident,
        guardian: None,
    }
}

fn catalogs() -> CatalogImport {
    CatalogImport {
        drugs: Some(parse_drugs(include_str!("../../../data/drugs.csv")).expect("drugs")),
        services: Some(
            parse_services(include_str!("../../../data/services.csv")).expect("services"),
        ),
        departments: Some(
            parse_departments(include_str!("../../../data/departments.csv")).expect("departments"),
        ),
        doctors: None,
    }
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

/// The record of drug DRG-0001 (each drug is a record of its own).
fn drug_id(store: &Store) -> RecordId {
    store
        .catalog_item_id(CatalogKind::Drug, "DRG-0001")
        .expect("read")
        .expect("the drug's record")
}

fn drug_price(store: &Store) -> Fen {
    let item: DrugItem = store.get(drug_id(store)).expect("read").expect("the drug");
    item.drug.price
}

/// Puts a stamp map at the root key `key`.
fn stamp(
    tx: &mut lifeline_core::automerge::transaction::Transaction<'_>,
    key: &str,
) -> Result<(), lifeline_core::automerge::AutomergeError> {
    let s = tx.put_object(ROOT, key, ObjType::Map)?;
    tx.put(&s, "at_ms", 1_i64)?;
    tx.put(&s, "node", "central")?;
    tx.put(&s, "operator", "forger")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_window_is_refused_everything_and_the_honest_nodes_go_on() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    identity::init_ca(&ca).expect("CA");
    let central = start(dir.path(), &ca, "central", NodeRole::Central, &[], vec![]).await;
    let w01 = start(
        dir.path(),
        &ca,
        "W01",
        NodeRole::Window,
        &[DeskRole::Registration, DeskRole::Cashier],
        vec![dial("central", NodeRole::Central, central.addr)],
    )
    .await;

    // The hospital in service: catalogs on central, a patient and a range request on W01.
    let c = central.store.clone();
    blocking(move || c.import_catalog(&op("info1", DeskRole::Admin), catalogs()))
        .await
        .expect("import");
    let w = w01.store.clone();
    let patient = blocking(move || {
        w.create_patient(&op("reg1", DeskRole::Registration), new_patient("王小明"))
    })
    .await
    .expect("patient")
    .value
    .header
    .id;
    let w = w01.store.clone();
    let lease = blocking(move || {
        w.request_lease(
            &op("lifeline-system", DeskRole::Admin),
            Series::Invoice,
            100,
        )
    })
    .await
    .expect("request")
    .value
    .expect("a new request");
    let c = central.store.clone();
    eventually("central holds W01's records", 20, move || {
        c.doc(patient).ok().flatten().is_some() && c.doc(lease).ok().flatten().is_some()
    })
    .await;

    // The hostile window connects with its valid certificate, shows it, and learns
    // everything central holds.
    let w09_id = issue(&ca, "W09", NodeRole::Window, &[DeskRole::Registration]);
    let mut w09 = Hostile::connect(
        &w09_id,
        central.addr,
        "central",
        NodeRole::Central,
        Reading::Reads,
    )
    .await
    .expect("a valid certificate connects");
    let own = w09.certificate.clone();
    w09.send(&Frame::Roster {
        members: vec![own],
        revocations: Vec::new(),
    })
    .await;
    let catalog = drug_id(&central.store);
    w09.pump_until(Duration::from_secs(20), |h, _| {
        [catalog, patient, lease]
            .iter()
            .all(|id| h.docs.contains_key(id))
    })
    .await;
    let doc = |id: RecordId| w09.docs.get(&id).cloned().expect("learned");
    let (cat, p_doc, l_doc) = (doc(catalog), doc(patient), doc(lease));
    let before = central.store.digest().expect("digest");

    // --- every hole in one batch, and one honest record ---
    let cut_price = |tx: &mut lifeline_core::automerge::transaction::Transaction<'_>| {
        let (_, drug) = tx.get(ROOT, "drug")?.expect("the drug's fields");
        tx.put(&drug, "price", 2_i64)
    };
    // Hole 1: catalog changes as central, unsigned and signed by W09; and as W09.
    let (as_central, h1) = forge(&cat, actor_of("central"), cut_price);
    let (as_w09, h2) = forge(&cat, actor_of("W09"), cut_price);
    // Hole 2: W09 grants W01's range request.
    let (grant, h3) = forge(&l_doc, actor_of("W09"), |tx| {
        let r = tx.put_object(ROOT, "range", ObjType::Map)?;
        tx.put(&r, "start", 1_u64)?;
        tx.put(&r, "end", 100_u64)?;
        tx.put(&r, "leased_by", "W09")?;
        tx.put(&r, "leased_ms", 1_i64)
    });
    // Hole 3: W09 acknowledges W01's record as central would.
    let (ack, h4) = forge(&p_doc, actor_of("W09"), |tx| stamp(tx, CENTRAL_ACK_KEY));
    // Hole 4: W01's actor, its next sequence number.
    let w01_actor = p_doc.get_changes(&[])[0].actor_id().clone();
    let (reuse, h5) = forge(&p_doc, w01_actor, |tx| tx.put(ROOT, "phone", "13000000000"));
    // Hole 5: a record that does not read (a sex no version knows).
    let bad_id = RecordId::generate();
    let honest_id = RecordId::generate();
    let make = |id: RecordId, sex: &str| {
        let mut record = Patient {
            header: Header {
                id,
                kind: RecordKind::Patient,
                origin: name("W09"),
                operator: OperatorName::new("reg9").expect("valid"),
                created_ms: 1,
                episode: None,
                paper: None,
            },
            patient_no: format!("W09-{id}"),
            name: "张三".into(),
            sex: Sex::Male,
            birth_date: "2018-01-01".parse().expect("date"),
            phone: "13900000000".into(),
            national_id: None,
            insurance: InsuranceType::SelfPay,
            merged_into: None,
            his_id: None,
            guardian: None,
            his_deleted: false,
            his_changed: None,
        };
        record.header.id = id;
        let mut d = Automerge::new().with_actor(actor_of("W09"));
        d.transact(|tx| autosurgeon::reconcile(tx, &record))
            .expect("build");
        let first: Vec<_> = d.get_changes(&[]).iter().map(|c| c.hash()).collect();
        if sex != "male" {
            let (more, hashes) = forge(&d, actor_of("W09"), |tx| tx.put(ROOT, "sex", sex));
            d.load_incremental(&more).expect("load");
            return (d.save(), [first, hashes].concat());
        }
        (d.save(), first)
    };
    let (bad, h6) = make(bad_id, "robot");
    let (honest, h7) = make(honest_id, "male");
    let mut signatures = w09.sign([h2, h3, h4, h5, h6, h7].concat());
    signatures.extend(w09.sign(h1.clone()));
    let all = vec![
        wire(catalog, as_central),
        wire(lease, grant),
        wire(patient, ack),
        wire(patient, reuse),
        wire(bad_id, bad),
        wire(catalog, as_w09),
        wire(honest_id, honest),
    ];
    let ack = w09
        .batch(all.clone(), signatures.clone())
        .await
        .expect("an ack");
    assert_eq!(ack.rejected.len(), 6, "{ack:?}");
    assert!(
        !ack.rejected
            .iter()
            .any(|(id, _)| *id == honest_id.to_bytes()),
        "{ack:?}"
    );
    let c = central.store.clone();
    eventually("W09's honest record applied", 10, move || {
        c.doc(honest_id).ok().flatten().is_some()
    })
    .await;
    let refused = central
        .store
        .peer_state(&name("W09"))
        .expect("state")
        .refused;
    let count = |code: &str| refused.get(code).copied().unwrap_or(0);
    assert_eq!(count("forged_author"), 2, "{refused:?}");
    assert_eq!(count("catalog_not_from_central"), 1, "{refused:?}");
    assert_eq!(count("field_not_allowed"), 2, "{refused:?}");
    assert_eq!(count("invalid"), 1, "{refused:?}");

    // A replay of the same batch: refused again, counted again, kept once.
    let replay = w09.batch(all, signatures).await.expect("an ack");
    assert_eq!(replay.rejected.len(), 6);
    let quarantined = central.store.quarantined(0, 1000).expect("quarantine");
    assert!(quarantined.iter().all(|q| q.peer == name("W09")));
    assert!(quarantined.iter().all(|q| q.times == 2), "{quarantined:?}");

    // Garbage where a sync message should be, and roster entries the CA never issued.
    w09.send(&Frame::Sync {
        id: patient.to_bytes(),
        message: b"junk".to_vec(),
        signatures: Vec::new(),
    })
    .await;
    w09.send(&Frame::Roster {
        members: vec![b"not a certificate".to_vec()],
        revocations: vec![b"{}".to_vec()],
    })
    .await;
    let c = central.store.clone();
    eventually("the garbage sync message refused", 10, move || {
        c.peer_state(&name("W09"))
            .map(|s| s.refused.contains_key("bad_sync_message"))
            .unwrap_or(false)
    })
    .await;

    // --- a revoked node's changes, relayed ---
    let w07_id = issue(&ca, "W07", NodeRole::Window, &[DeskRole::Registration]);
    let mut opts = StoreOptions::new(name("W07"), NodeRole::Window);
    opts.credentials = Some(w07_id.credentials().expect("credentials"));
    let w07 = Store::open(dir.path().join("W07.redb"), opts).expect("open");
    let stolen = w07
        .create_patient(&op("reg7", DeskRole::Registration), new_patient("被盗"))
        .expect("p")
        .value
        .header
        .id;
    let export = w07.export(&[stolen]).expect("export");
    let cert = w07.member().expect("member").credential;
    w09.send(&Frame::Roster {
        members: vec![cert],
        revocations: Vec::new(),
    })
    .await;
    let revoked = identity::revoke(&ca, &name("W07"), "window PC stolen", 1).expect("revoke");
    let anchor = Anchor::load(&ca.join(identity::CA_CERT_FILE)).expect("the CA");
    let taken = anchor
        .revocation(&revoked.revocation.proof)
        .expect("the CA's");
    let c = central.store.clone();
    blocking(move || c.revoke(taken))
        .await
        .expect("central takes it");
    let ack = w09
        .batch(
            vec![wire(stolen, export.changes[0].bytes.clone())],
            export.signatures,
        )
        .await
        .expect("an ack");
    assert_eq!(ack.rejected.len(), 1, "{ack:?}");
    assert!(ack.rejected[0].1.contains("revoked"), "{ack:?}");
    // The revoked node itself is refused at the handshake.
    let refused_at_handshake = Hostile::connect(
        &w07_id,
        central.addr,
        "central",
        NodeRole::Central,
        Reading::Reads,
    )
    .await;
    match refused_at_handshake {
        Err(_) => {}
        Ok(h) => assert!(
            h.closed_within(Duration::from_secs(5)).await,
            "a revoked node was let in"
        ),
    }
    // ...and W01 learns the revocation through central, with the roster.
    let w = w01.store.clone();
    let key = w07.member().expect("member").key_id();
    eventually("W01 learns the revocation", 20, move || {
        w.roster().is_revoked(&key)
    })
    .await;

    // --- an oversized batch ends the connection, counted and audited ---
    let junk: Vec<_> = (0..1025)
        .map(|_| wire(RecordId::generate(), vec![0]))
        .collect();
    w09.send(&Frame::Batch(lifeline_sync::frame::Batch {
        batch: 99,
        upto: None,
        docs: junk,
        signatures: Vec::new(),
    }))
    .await;
    assert!(
        w09.closed_within(Duration::from_secs(10)).await,
        "an oversized batch is a violation"
    );
    let c = central.store.clone();
    eventually("the violation counted", 10, move || {
        c.peer_state(&name("W09"))
            .map(|s| s.violations == 1)
            .unwrap_or(false)
    })
    .await;

    // --- nothing forged is stored, anywhere; the honest nodes go on ---
    for store in [&central.store, &w01.store] {
        let s = store.clone();
        eventually("the catalogs' price stays", 20, move || {
            drug_price(&s) == Fen(1280)
        })
        .await;
        let got: Option<Lease> = store.get(lease).expect("read");
        assert!(got.is_some_and(|l| l.range.is_none()), "no forged grant");
        assert!(
            !store.central_acked(patient).expect("read"),
            "no forged acknowledgement"
        );
        assert!(store.doc(bad_id).expect("read").is_none());
        assert!(store.doc(stolen).expect("read").is_none());
    }
    let got: Patient = central.store.get(patient).expect("read").expect("present");
    assert_eq!(got.phone, "13800138000");
    assert_ne!(
        central.store.digest().expect("digest"),
        before,
        "the honest record came in"
    );
    let audit = central.store.audit_entries(0, 100_000).expect("audit");
    let rejects = audit
        .iter()
        .filter(|e| e.action == "sync.reject" && e.actor == "sync:W09")
        .count();
    assert_eq!(rejects, 6 + 6 + 1 + 1, "every refusal audited");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "sync.violation" && e.actor == "sync:W09")
    );
    let status = central.mesh.status();
    let w09_status = status
        .iter()
        .find(|p| p.name == "W09")
        .expect("W09 in status");
    assert_eq!(w09_status.roster_refused, 2, "{w09_status:?}");

    // Desks answer on both, and their work converges.
    let c = central.store.clone();
    blocking(move || c.create_patient(&op("reg0", DeskRole::Registration), new_patient("中心")))
        .await
        .expect("central's desk answers");
    let w = w01.store.clone();
    let late = blocking(move || {
        w.create_patient(&op("reg1", DeskRole::Registration), new_patient("之后"))
    })
    .await
    .expect("W01's desk answers")
    .value
    .header
    .id;
    let (c, w) = (central.store.clone(), w01.store.clone());
    eventually("W01 and central converge", 30, move || {
        c.doc(late).ok().flatten().is_some() && c.digest().ok() == w.digest().ok()
    })
    .await;
    w01.mesh.shutdown().await;
    central.mesh.shutdown().await;
}

/// Hole 6: the driver wrote its whole outbox before reading again, so a peer that asks and
/// never reads blocked it (two peers flushing at once could deadlock), and the session's
/// timeout could not fire. A deaf window asks central for thousands of digests and says
/// goodbye: central keeps reading while its answers pile up, takes the goodbye, drops the
/// connection, and serves an honest window all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_that_asks_without_reading_is_dropped_and_blocks_no_one() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    identity::init_ca(&ca).expect("CA");
    let central = start(dir.path(), &ca, "central", NodeRole::Central, &[], vec![]).await;
    let w10_id = issue(&ca, "W10", NodeRole::Window, &[DeskRole::Registration]);
    let mut w10 = Hostile::connect(
        &w10_id,
        central.addr,
        "central",
        NodeRole::Central,
        Reading::Deaf,
    )
    .await
    .expect("connects");
    // About 9 MB of answers, far more than a QUIC stream buffers for a reader that never
    // reads.
    let mut asks = Vec::new();
    for _ in 0..2000 {
        asks.extend(
            Frame::DigestRequest { scope: Scope::All }
                .encode()
                .expect("encode"),
        );
    }
    w10.send_raw(&asks).await;
    w10.send(&Frame::Goodbye {
        reason: "done asking".into(),
    })
    .await;
    let w10_name = name("W10");
    let mesh = &central.mesh;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while mesh.is_connected(&w10_name) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !mesh.is_connected(&w10_name),
        "central is stuck writing to a peer that never reads"
    );
    let w01 = start(
        dir.path(),
        &ca,
        "W01",
        NodeRole::Window,
        &[DeskRole::Registration],
        vec![dial("central", NodeRole::Central, central.addr)],
    )
    .await;
    let w = w01.store.clone();
    let id = blocking(move || {
        w.create_patient(&op("reg1", DeskRole::Registration), new_patient("诚实"))
    })
    .await
    .expect("create")
    .value
    .header
    .id;
    let c = central.store.clone();
    eventually("central serves an honest window", 20, move || {
        c.doc(id).ok().flatten().is_some()
    })
    .await;
    w01.mesh.shutdown().await;
    central.mesh.shutdown().await;
}
