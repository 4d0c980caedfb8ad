//! Real QUIC on loopback: nodes with certificates from one hospital CA replicate through
//! `Mesh`, converge, push new commits without polling, and shut a peer that sends garbage.

use std::net::SocketAddr;
use std::time::Duration;

use lifeline_core::desk::NewPatient;
use lifeline_core::record::{InsuranceType, Patient, Sex};
use lifeline_core::{
    DeskRole, NodeName, NodeRole, Operator, OperatorName, RecordId, Store, StoreOptions,
};
use lifeline_sync::identity::{self, AcceptPolicy, NodeIdentity};
use lifeline_sync::mesh::{Mesh, MeshConfig, PeerAddr};

mod dial;

struct TestNode {
    store: Store,
    mesh: Mesh,
    addr: SocketAddr,
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn issue(
    ca_dir: &std::path::Path,
    name: &str,
    role: NodeRole,
    desks: &[DeskRole],
) -> identity::LoadedIdentity {
    let id = NodeIdentity::new(NodeName::new(name).expect("valid"), role, desks.to_vec());
    let files = identity::issue(ca_dir, &id, 30).expect("issue");
    identity::load(&files.tls_files()).expect("load")
}

async fn start(
    dir: &std::path::Path,
    ca_dir: &std::path::Path,
    name: &str,
    role: NodeRole,
    desks: &[DeskRole],
    peers: Vec<PeerAddr>,
) -> TestNode {
    start_with(dir, ca_dir, name, role, desks, peers, |_| {}).await
}

/// [`start`], with the mesh's configuration changed by `tweak` first.
async fn start_with(
    dir: &std::path::Path,
    ca_dir: &std::path::Path,
    name: &str,
    role: NodeRole,
    desks: &[DeskRole],
    peers: Vec<PeerAddr>,
    tweak: impl FnOnce(&mut MeshConfig),
) -> TestNode {
    let store = Store::open(
        dir.join(format!("{name}.redb")),
        StoreOptions::new(NodeName::new(name).expect("valid"), role),
    )
    .expect("open");
    let loaded = issue(ca_dir, name, role, desks);
    let mut cfg = MeshConfig::new(loopback(), peers, AcceptPolicy::any());
    tweak(&mut cfg);
    let mesh = Mesh::start(store.clone(), loaded, cfg).await.expect("mesh");
    let addr = mesh.local_addr().expect("bound");
    TestNode { store, mesh, addr }
}

/// A central with no peers to dial, its mesh configuration changed by `tweak`.
async fn start_central(
    dir: &std::path::Path,
    ca_dir: &std::path::Path,
    tweak: impl FnOnce(&mut MeshConfig),
) -> TestNode {
    start_with(
        dir,
        ca_dir,
        "central",
        NodeRole::Central,
        &[],
        vec![],
        tweak,
    )
    .await
}

fn reg() -> Operator {
    Operator::new(
        OperatorName::new("reg1").expect("valid"),
        DeskRole::Registration,
    )
}

fn new_patient(name: &str) -> NewPatient {
    NewPatient {
        patient_no: None,
        name: name.into(),
        sex: Sex::Male,
        birth_date: "2017-07-07".parse().expect("valid"),
        phone: "13600000000".into(),
        national_id: None,
        insurance: InsuranceType::SelfPay,
        guardian: None,
    }
}

async fn write(store: &Store, name: String) -> RecordId {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.create_patient(&reg(), new_patient(&name)))
        .await
        .expect("join")
        .expect("create")
        .value
        .header
        .id
}

/// Waits until `f` holds, polling; panics after the deadline.
async fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn peer(name: &str, role: NodeRole, addr: SocketAddr) -> PeerAddr {
    PeerAddr {
        name: NodeName::new(name).expect("valid"),
        role,
        addr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_converge_over_quic() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    identity::init_ca(&ca).expect("ca");
    let central = start(dir.path(), &ca, "central", NodeRole::Central, &[], vec![]).await;
    let desks = [DeskRole::Registration];
    let w1 = start(
        dir.path(),
        &ca,
        "W01",
        NodeRole::Window,
        &desks,
        vec![peer("central", NodeRole::Central, central.addr)],
    )
    .await;
    let w2 = start(
        dir.path(),
        &ca,
        "W02",
        NodeRole::Window,
        &desks,
        vec![peer("central", NodeRole::Central, central.addr)],
    )
    .await;

    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(write(&w1.store, format!("a{i}")).await);
        ids.push(write(&w2.store, format!("b{i}")).await);
    }
    for node in [&central, &w1, &w2] {
        let store = node.store.clone();
        let ids = ids.clone();
        eventually("every record on every node", 20, move || {
            ids.iter()
                .all(|id| matches!(store.get::<Patient>(*id), Ok(Some(_))))
        })
        .await;
    }
    let d = central.store.digest().expect("digest");
    assert_eq!(w1.store.digest().expect("digest"), d);
    assert_eq!(w2.store.digest().expect("digest"), d);
    assert!(
        central
            .mesh
            .is_connected(&NodeName::new("W01").expect("valid"))
    );
    let status = w1.mesh.status();
    assert_eq!(status.len(), 1);
    assert!(status[0].connected);

    // A new write lands everywhere quickly: pushed on commit, not polled.
    let late = write(&w1.store, "late".into()).await;
    let store = w2.store.clone();
    eventually(
        "the late record reaches W02 through central",
        10,
        move || matches!(store.get::<Patient>(late), Ok(Some(_))),
    )
    .await;

    for n in [w1, w2, central] {
        n.mesh.shutdown().await;
    }
}

/// A window that wrongly believes central holds three of its records (a drift, planted in its
/// file while its daemon is stopped) never sends them by replication; the digest comparison,
/// finding the same difference for a whole period, repairs it over QUIC, and the status says
/// so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_is_repaired_over_quic_and_shown_in_the_status() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    identity::init_ca(&ca).expect("ca");
    let quick = |cfg: &mut MeshConfig| cfg.session.digest_every = Duration::from_secs(1);
    let central = start_central(dir.path(), &ca, quick).await;
    let w01 = NodeName::new("W01").expect("valid");
    let files = identity::issue(
        &ca,
        &NodeIdentity::new(w01.clone(), NodeRole::Window, vec![DeskRole::Registration]),
        30,
    )
    .expect("issue");
    let path = dir.path().join("W01.redb");
    let open =
        || Store::open(&path, StoreOptions::new(w01.clone(), NodeRole::Window)).expect("open");
    let mesh_of = |store: &Store| {
        let mut cfg = MeshConfig::new(
            loopback(),
            vec![peer("central", NodeRole::Central, central.addr)],
            AcceptPolicy::any(),
        );
        quick(&mut cfg);
        Mesh::start(
            store.clone(),
            identity::load(&files.tls_files()).expect("load"),
            cfg,
        )
    };

    let store = open();
    let mesh = mesh_of(&store).await.expect("mesh");
    let first = write(&store, "first".into()).await;
    let at_central = central.store.clone();
    eventually("central has W01's first patient", 20, move || {
        matches!(at_central.get::<Patient>(first), Ok(Some(_)))
    })
    .await;
    mesh.shutdown().await;

    let mut lost = Vec::new();
    for i in 0..3 {
        lost.push(write(&store, format!("lost{i}")).await);
    }
    let central_name = NodeName::new("central").expect("valid");
    let planted = store.clone();
    let cursor = planted
        .peer_state(&central_name)
        .expect("state")
        .acked_by_peer;
    let heads = store.heads_of(&lost).expect("heads");
    planted
        .record_ack(
            &central_name,
            cursor,
            lost.iter().copied().zip(heads).collect(),
        )
        .expect("plant the drift");
    drop((planted, store));

    let store = open();
    let mesh = mesh_of(&store).await.expect("mesh");
    let at_central = central.store.clone();
    let wanted = lost.clone();
    eventually(
        "central has the three patients W01 wrongly believed it held",
        30,
        move || {
            wanted
                .iter()
                .all(|id| matches!(at_central.get::<Patient>(*id), Ok(Some(_))))
        },
    )
    .await;
    eventually("the repair is in W01's status", 10, || {
        mesh.status()
            .iter()
            .any(|p| p.name == "central" && p.repairs >= 1 && p.records_repaired == 3)
    })
    .await;
    assert_eq!(
        central.store.digest().expect("digest"),
        store.digest().expect("digest")
    );
    mesh.shutdown().await;
    central.mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_and_oversized_frames_close_only_that_connection() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    identity::init_ca(&ca).expect("ca");
    let central = start(dir.path(), &ca, "central", NodeRole::Central, &[], vec![]).await;
    let before = central.store.digest().expect("digest");
    let evil = issue(&ca, "W66", NodeRole::Window, &[DeskRole::Registration]);
    identity::install_crypto_provider();
    let client = identity::client_config_for(
        &evil,
        &NodeName::new("central").expect("valid"),
        NodeRole::Central,
    )
    .expect("client config");
    let mut endpoint = quinn::Endpoint::client(loopback()).expect("endpoint");
    endpoint.set_default_client_config(client);
    let payloads: Vec<Vec<u8>> = vec![
        b"\x00\x00\x00\x05garbage-that-is-not-postcard".to_vec(),
        vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        vec![0, 0, 1, 0, 1, 2],
    ];
    for payload in payloads {
        let conn = endpoint
            .connect(
                central.addr,
                &identity::server_name(&NodeName::new("central").expect("valid")),
            )
            .expect("connect")
            .await
            .expect("handshake");
        let (mut send, mut recv) = conn.open_bi().await.expect("stream");
        send.write_all(&payload).await.expect("write");
        let _ = send.finish();
        // The server closes the connection; reading ends with an error or EOF.
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            let mut buf = [0u8; 1024];
            while let Ok(Some(_)) = recv.read(&mut buf).await {}
            conn.closed().await
        })
        .await;
        assert!(
            closed.is_ok(),
            "central did not close a connection that sent garbage"
        );
    }
    assert_eq!(
        central.store.digest().expect("digest"),
        before,
        "nothing stored"
    );
    // Central still serves honest peers.
    let w1 = start(
        dir.path(),
        &ca,
        "W01",
        NodeRole::Window,
        &[DeskRole::Registration],
        vec![peer("central", NodeRole::Central, central.addr)],
    )
    .await;
    let id = write(&w1.store, "honest".into()).await;
    let store = central.store.clone();
    eventually("central still replicates", 10, move || {
        matches!(store.get::<Patient>(id), Ok(Some(_)))
    })
    .await;
    w1.mesh.shutdown().await;
    central.mesh.shutdown().await;
}

/// The mesh runs session work (durable commits) on blocking threads of its own choosing, so
/// it needs nothing of the runtime but I/O: a single-threaded one does.
#[tokio::test(flavor = "current_thread")]
async fn the_mesh_runs_on_a_single_threaded_runtime() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    identity::init_ca(&ca).expect("ca");
    let central = start(dir.path(), &ca, "central", NodeRole::Central, &[], vec![]).await;
    let w1 = start(
        dir.path(),
        &ca,
        "W01",
        NodeRole::Window,
        &[DeskRole::Registration],
        vec![peer("central", NodeRole::Central, central.addr)],
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(write(&w1.store, format!("p{i}")).await);
    }
    let store = central.store.clone();
    eventually("every record on central", 20, move || {
        ids.iter()
            .all(|id| matches!(store.get::<Patient>(*id), Ok(Some(_))))
    })
    .await;
    let w1_status = w1.mesh.status();
    assert!(w1_status[0].connected, "{w1_status:?}");
    w1.mesh.shutdown().await;
    central.mesh.shutdown().await;
}

/// A window keeping 7 days of records joins a central holding older ones: it receives the
/// patients and the recent records only, both sides agree on the records a window keeps, and
/// an old record it does not hold comes from central on request (not stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_receives_its_working_set_and_fetches_older_records_on_request() {
    use lifeline_core::desk::NewVisit;
    use lifeline_core::record::Visit;
    use lifeline_core::store::record_from_bytes;
    use lifeline_core::{Clock, ManualClock, SystemClock};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    identity::init_ca(&ca).expect("ca");
    // Central's records of a month ago: written on a clock set back, then the clock is now.
    let now = SystemClock.now_ms();
    let clock = ManualClock::new(now - 30 * 86_400_000);
    let mut opts = StoreOptions::new(NodeName::new("central").expect("valid"), NodeRole::Central);
    opts.clock = Arc::new(clock.clone());
    let store = Store::open(dir.path().join("central.redb"), opts).expect("open");
    let admin = Operator::new(OperatorName::new("info1").expect("valid"), DeskRole::Admin);
    let catalogs = lifeline_core::desk::CatalogImport {
        drugs: None,
        services: None,
        departments: Some(
            lifeline_core::desk::parse_departments(
                "code,name_zh,name_en,registration_fee_fen,expert_fee_fen\nPED-GEN,儿科,Paediatrics,1000,3000\n",
            )
            .expect("departments"),
        ),
        doctors: None,
    };
    store.import_catalog(&admin, catalogs).expect("catalogs");
    let patient = write(&store, "old".into()).await;
    let visit = store
        .register_visit(
            &reg(),
            NewVisit {
                patient,
                department: "PED-GEN".into(),
                doctor: None,
                expert: false,
                payment: None,
                occurred_at: None,
            },
        )
        .expect("visit")
        .value
        .header
        .id;
    clock.set(now);
    let recent = write(&store, "recent".into()).await;
    let loaded = issue(&ca, "central", NodeRole::Central, &[]);
    let cfg = MeshConfig::new(loopback(), vec![], AcceptPolicy::any());
    let central = Mesh::start(store.clone(), loaded, cfg).await.expect("mesh");
    let addr = central.local_addr().expect("bound");

    let w_store = Store::open(
        dir.path().join("W01.redb"),
        StoreOptions::new(NodeName::new("W01").expect("valid"), NodeRole::Window),
    )
    .expect("open");
    let loaded = issue(&ca, "W01", NodeRole::Window, &[DeskRole::Registration]);
    let mut cfg = MeshConfig::new(
        loopback(),
        vec![peer("central", NodeRole::Central, addr)],
        AcceptPolicy::any(),
    );
    cfg.window_days = Some(7);
    let window = Mesh::start(w_store.clone(), loaded, cfg)
        .await
        .expect("mesh");
    let ws = w_store.clone();
    eventually("the window holds the patients", 20, move || {
        [patient, recent]
            .iter()
            .all(|id| matches!(ws.get::<Patient>(*id), Ok(Some(_))))
    })
    .await;
    let status = window.status();
    eventually("the window caught up and compared digests", 20, || {
        window
            .status()
            .first()
            .is_some_and(|p| p.caught_up && p.in_sync == Some(true))
    })
    .await;
    assert!(
        status
            .first()
            .is_some_and(|p| p.peer_keeps_since_ms.is_none())
    );
    assert!(
        matches!(w_store.get::<Visit>(visit), Ok(None)),
        "the month-old visit is outside the working set"
    );
    let (server, answer) = window
        .fetcher()
        .fetch(vec![visit])
        .await
        .expect("central answers");
    assert_eq!(server.as_str(), "central");
    let doc = answer.docs.first().expect("central holds the visit");
    let fetched: Visit = record_from_bytes(visit, &doc.bytes, &doc.heads).expect("a visit");
    assert_eq!(fetched.patient, patient);
    assert!(
        matches!(w_store.get::<Visit>(visit), Ok(None)),
        "fetched, not stored"
    );
    window.shutdown().await;
    central.shutdown().await;
}
