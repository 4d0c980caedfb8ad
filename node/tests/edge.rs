//! The desk API at its edges, in-process and over a real socket: what a window's certificate
//! lets its desks write whoever asks (hole 7), operators that expire, are removed and are
//! audited, patient numbers unique under concurrent registration (hole 8), and JSON errors
//! with the right status for names that read backwards, bodies and URIs too large, even
//! those hyper refuses before the router (hole 9).

use std::convert::Infallible;
use std::io::{Read, Write};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use lifeline_core::desk::{CatalogImport, parse_departments, parse_drugs, parse_services};
use lifeline_core::store::Credentials;
use lifeline_core::{
    DeskRole, ManualClock, NodeName, NodeRole, Operator, OperatorName, Store, StoreOptions,
};
use lifeline_node::api::{self, ApiState};
use lifeline_node::config::Config;
use lifeline_node::daemon::runtime::Runtime;
use lifeline_node::operators::Operators;
use serde_json::{Value, json};

/// 2026-11-25 09:00 in the hospital's time zone (UTC+8).
const NOW_MS: i64 = 1_795_568_400_000;

/// A registration window's API: its certificate names only the registration desk.
struct Window {
    dir: tempfile::TempDir,
    store: Store,
    clock: ManualClock,
    router: Router,
    admin: String,
    reg: String,
}

fn window() -> Window {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(NOW_MS);
    let name = NodeName::new("W01").expect("valid");
    let desks = [DeskRole::Registration];
    let mut opts = StoreOptions::new(name.clone(), NodeRole::Window);
    opts.clock = Arc::new(clock.clone());
    opts.desks = desks.to_vec();
    opts.credentials =
        Some(Credentials::uncertified(name, NodeRole::Window, &desks).expect("a key"));
    let store = Store::open(dir.path().join("W01.redb"), opts).expect("open");
    // The catalogs, from central, as replication brings them.
    let central_name = NodeName::new("central").expect("valid");
    let mut copts = StoreOptions::new(central_name.clone(), NodeRole::Central);
    copts.credentials =
        Some(Credentials::uncertified(central_name, NodeRole::Central, &[]).expect("a key"));
    let central = Store::open(dir.path().join("central.redb"), copts).expect("open");
    central
        .import_catalog(
            &Operator::new(OperatorName::new("info1").expect("valid"), DeskRole::Admin),
            CatalogImport {
                drugs: Some(parse_drugs(include_str!("../../data/drugs.csv")).expect("drugs")),
                services: Some(
                    parse_services(include_str!("../../data/services.csv")).expect("services"),
                ),
                departments: Some(
                    parse_departments(include_str!("../../data/departments.csv"))
                        .expect("departments"),
                ),
                doctors: None,
            },
        )
        .expect("import");
    let copied = store.merge_from(&central).expect("copy the catalogs");
    assert!(copied.rejected.is_empty(), "{copied:?}");
    drop(central);
    // The hospital CA, whose revocations the node takes.
    lifeline_sync::identity::init_ca(dir.path()).expect("CA");
    let config_path = dir.path().join("lifeline.toml");
    std::fs::write(
        &config_path,
        format!(
            "[node]\nname = \"W01\"\nrole = \"window\"\ndesks = [\"registration\"]\n\
             data_dir = {:?}\n[tls]\nca = {:?}\ncert = \"W01.pem\"\nkey = \"W01.key\"\n",
            dir.path().display().to_string(),
            dir.path().join("ca.pem").display().to_string()
        ),
    )
    .expect("write config");
    let config = Config::load(&config_path).expect("config");
    let operators = Operators::open(&dir.path().join("operators.json")).expect("operators");
    // The daemon's built-in administrator, and a registration clerk.
    let admin = operators
        .add(
            OperatorName::new("admin").expect("valid"),
            DeskRole::Admin,
            NOW_MS,
        )
        .expect("admin");
    let reg = operators
        .add(
            OperatorName::new("reg1").expect("valid"),
            DeskRole::Registration,
            NOW_MS,
        )
        .expect("reg1");
    let state = ApiState {
        store: store.clone(),
        operators: Arc::new(operators),
        runtime: Arc::new(Runtime::new(config, NOW_MS)),
    };
    Window {
        dir,
        store,
        clock,
        router: api::router(state),
        admin,
        reg,
    }
}

/// Calls a tower service once (the router is one; `tower` itself is not a dependency).
async fn call<S>(mut svc: S, req: Request<Body>) -> Response
where
    S: axum::ServiceExt<Request<Body>, Response = Response, Error = Infallible>,
{
    match std::future::poll_fn(|cx| svc.poll_ready(cx)).await {
        Ok(()) => {}
        Err(never) => match never {},
    }
    match svc.call(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

impl Window {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(body.map_or_else(Body::empty, Body::from))
            .expect("request");
        let response = call(self.router.clone(), req).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
        });
        (status, value)
    }

    async fn post(&self, uri: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, uri, token, Some(body.to_string()))
            .await
    }

    fn records(&self) -> u64 {
        self.store.stats().expect("stats").records
    }
}

fn patient(name: &str, patient_no: Option<&str>) -> Value {
    let mut p = json!({
        "name": name,
        "sex": "female",
        "birth_date": "2019-05-04",
        "phone": "13800138000",
        "insurance": "resident",
    });
    if let Some(no) = patient_no {
        p["patient_no"] = json!(no);
    }
    p
}

/// Hole 7: an operator could be given a desk role the node's certificate does not carry, and
/// the admin token wrote every kind: `POST /charges` on a registration window answered 201
/// "durable" for a record central refuses, and the desk never learned. (Registration now
/// charges the visit fee itself, so the kind tried here is a prescription.)
#[tokio::test]
async fn a_registration_window_writes_no_prescriptions_whoever_asks() {
    let w = window();
    let (status, p) = w.post("/patients", &w.reg, patient("王小明", None)).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (status, v) = w
        .post(
            "/visits",
            &w.reg,
            json!({"patient": p["value"]["header"]["id"], "department": "PED-GEN"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let before = w.records();
    let (status, err) = w
        .post(
            "/prescriptions",
            &w.admin,
            json!({"visit": v["value"]["header"]["id"],
                   "items": [{"drug_code": "DRG-0001", "quantity": 1, "dosage": "tid"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let message = err["error"]["message"].as_str().expect("message");
    assert!(message.contains("does not allow prescription"), "{message}");
    assert_eq!(w.records(), before, "nothing was written");

    // A cashier cannot be added here at all; nor an administrator under the built-in's name.
    let (status, err) = w
        .post(
            "/admin/operators",
            &w.admin,
            json!({"name": "zhang.li", "desk": "cashier"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(err["error"]["field"], "desk");
    let (status, _) = w
        .post(
            "/admin/operators",
            &w.admin,
            json!({"name": "admin", "desk": "registration"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// Tokens may expire, operators may be removed, and each change is in the audit chain under
/// the administrator who made it.
#[tokio::test]
async fn operators_expire_are_removed_and_audited() {
    let w = window();
    let (status, added) = w
        .post(
            "/admin/operators",
            &w.admin,
            json!({"name": "temp.reg", "desk": "registration", "valid_for_s": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["expires_ms"], NOW_MS + 3_600_000);
    let token = added["token"].as_str().expect("token").to_owned();
    let (status, _) = w.post("/patients", &token, patient("甲", None)).await;
    assert_eq!(status, StatusCode::CREATED);
    w.clock.advance_ms(3_600_000);
    let (status, err) = w.post("/patients", &token, patient("乙", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("expired")
    );

    let (status, added) = w
        .post(
            "/admin/operators",
            &w.admin,
            json!({"name": "li.lei", "desk": "registration"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = added["token"].as_str().expect("token").to_owned();
    let (status, _) = w
        .send(Method::DELETE, "/admin/operators/li.lei", &w.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = w.post("/patients", &token, patient("丙", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = w
        .send(Method::DELETE, "/admin/operators/admin", &w.admin, None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the built-in administrator stays"
    );

    let audit = w.store.audit_entries(0, 1000).expect("audit");
    let ops: Vec<(&str, &str)> = audit
        .iter()
        .filter(|e| e.action.starts_with("operator."))
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("operator.add", "admin"),
            ("operator.add", "admin"),
            ("operator.remove", "admin")
        ]
    );
    let (_, list) = w
        .send(Method::GET, "/admin/operators", &w.admin, None)
        .await;
    let names: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert!(
        names.contains(&"temp.reg") && !names.contains(&"li.lei"),
        "{names:?}"
    );
}

/// Hole 8: uniqueness was checked outside the write transaction; 10 concurrent registrations
/// with one HIS patient number gave 7 × 201.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_patient_number_is_registered_once_however_many_desks_try() {
    let w = Arc::new(window());
    let tries: Vec<_> = (0..10)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move {
                w.post(
                    "/patients",
                    &w.reg,
                    patient(&format!("同号{i}"), Some("HIS-0001")),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    for t in tries {
        let (status, answer) = t.await.expect("task");
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(answer["error"]["field"], "patient_no", "{answer}");
            }
            other => panic!("{other}: {answer}"),
        }
    }
    assert_eq!(created, 1);
}

/// Hole 9: a name with U+202E passed (only control characters were refused); a 10 MB body got
/// a 422 and an over-long URL hyper's empty 414, where the API promises JSON errors with the
/// right status.
#[tokio::test]
async fn names_bodies_and_uris_are_refused_as_json() {
    let w = window();
    let (status, err) = w
        .post("/patients", &w.reg, patient("\u{202E}nimda", None))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["field"], "name");
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(10 * 1024 * 1024));
    let (status, err) = w.send(Method::POST, "/patients", &w.reg, Some(big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert_eq!(err["error"]["code"], "too_large");
    let long = format!("/patients?q={}", "x".repeat(10 * 1024));
    let (status, err) = w.send(Method::GET, &long, &w.reg, None).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG, "{err}");
    assert_eq!(err["error"]["code"], "uri_too_long");

    // Over hyper's own limit, through a real socket: still JSON.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        axum::serve(api::http::DeskListener(listener), w.router.clone()).await
    });
    let answer = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
        let request = format!(
            "GET /patients?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
            "y".repeat(70 * 1024)
        );
        tcp.write_all(request.as_bytes()).expect("write");
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("client");
    server.abort();
    assert!(answer.starts_with("HTTP/1.1 414"), "{answer}");
    let body = &answer[answer.find("\r\n\r\n").expect("a head") + 4..];
    let json: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(json["error"]["code"], "uri_too_long");
}

/// The quarantine and revocations, as the information department reaches them.
#[tokio::test]
async fn refused_records_are_listed_and_revocations_taken() {
    use lifeline_core::store::RemoteChanges;
    use lifeline_sync::identity::{self, NodeIdentity};

    let w = window();
    let peer = NodeName::new("W66").expect("valid");
    let junk = vec![RemoteChanges {
        id: lifeline_core::RecordId::generate(),
        bytes: b"not automerge".to_vec(),
    }];
    w.store
        .apply_remote(&peer, junk, Vec::new())
        .expect("apply");
    let (status, list) = w
        .send(Method::GET, "/admin/quarantine", &w.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list[0]["peer"], "W66");
    assert_eq!(list[0]["code"], "undecodable");
    assert_eq!(list[0]["bytes_hex"], "", "lists leave the bytes out");
    let (status, one) = w
        .send(Method::GET, "/admin/quarantine/1", &w.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["bytes_hex"], hex::encode(b"not automerge"));
    let (status, _) = w
        .send(Method::GET, "/admin/quarantine/1", &w.reg, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let w07 = NodeIdentity::new(
        NodeName::new("W07").expect("valid"),
        NodeRole::Window,
        vec![],
    );
    identity::issue(w.dir.path(), &w07, 30).expect("issue");
    let revoked = identity::revoke(w.dir.path(), &w07.name, "PC stolen", 1).expect("revoke");
    let proof = String::from_utf8(revoked.revocation.proof.clone()).expect("JSON");
    let (status, taken) = w
        .post("/admin/revocations", &w.admin, json!({ "proof": proof }))
        .await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    assert_eq!(taken["new"], true);
    assert!(w.store.roster().is_revoked(&revoked.revocation.key));
    let forged = proof.replace("PC stolen", "PC stolen!");
    let (status, err) = w
        .post("/admin/revocations", &w.admin, json!({ "proof": forged }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("CA"),
        "{err}"
    );
}
