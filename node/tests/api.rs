//! The desk API, driven in-process: the router is built on a window store in a temporary
//! directory (catalogs copied from a temporary central store, as replication would), with
//! operators for every desk, and requests go straight to the router — no daemon, no socket.
//!
//! Covers the whole desk flow from registration to a voided invoice, the emergency rules as
//! the desks see them, and every kind of refusal (malformed JSON, unknown, missing and
//! mistyped fields, no token, the wrong desk, bad path ids), checking each time that nothing
//! was written.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use lifeline_core::desk::{CatalogImport, parse_departments, parse_drugs, parse_services};
use lifeline_core::numbers::Series;
use lifeline_core::store::Credentials;
use lifeline_core::{
    DeskRole, EpisodeId, ManualClock, NodeName, NodeRole, Operator, OperatorName, Store,
    StoreOptions,
};
use lifeline_node::api::{self, ApiState};
use lifeline_node::config::Config;
use lifeline_node::daemon::runtime::Runtime;
use lifeline_node::operators::Operators;
use serde_json::{Value, json};

/// 2026-11-25 09:00 in the hospital's time zone (UTC+8), a Wednesday.
const NOW_MS: i64 = 1_795_568_400_000;

fn admin() -> Operator {
    Operator::new(OperatorName::new("info1").expect("valid"), DeskRole::Admin)
}

fn open_store(dir: &std::path::Path, node: &str, role: NodeRole, clock: &ManualClock) -> Store {
    let name = NodeName::new(node).expect("valid");
    let mut opts = StoreOptions::new(name.clone(), role);
    opts.clock = Arc::new(clock.clone());
    opts.credentials = Some(Credentials::uncertified(name, role, DeskRole::ALL).expect("a key"));
    Store::open(dir.join(format!("{node}.redb")), opts).expect("open store")
}

fn catalogs() -> CatalogImport {
    CatalogImport {
        drugs: Some(parse_drugs(include_str!("../../data/drugs.csv")).expect("drugs")),
        services: Some(parse_services(include_str!("../../data/services.csv")).expect("services")),
        departments: Some(
            parse_departments(include_str!("../../data/departments.csv")).expect("departments"),
        ),
        doctors: None,
    }
}

/// Copies every record of `from` into `to` through the merge API, as replication would.
fn copy_all(from: &Store, to: &Store) {
    let out = to.merge_from(from).expect("apply");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}

/// A window node's API with its store, a central store to lease from, and a token per desk.
struct Node {
    state: ApiState,
    _dir: tempfile::TempDir,
    store: Store,
    central: Store,
    router: Router,
    tokens: BTreeMap<&'static str, String>,
}

const DESKS: [(&str, DeskRole); 6] = [
    ("reg1", DeskRole::Registration),
    ("cash1", DeskRole::Cashier),
    ("pharm1", DeskRole::Pharmacy),
    ("nurse1", DeskRole::Triage),
    ("doc1", DeskRole::Doctor),
    ("info1", DeskRole::Admin),
];

fn node(with_catalogs: bool) -> Node {
    node_with(with_catalogs, "")
}

/// A node whose config starts with `hospital` (a `[hospital]` section, or nothing).
fn node_with(with_catalogs: bool, hospital: &str) -> Node {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(NOW_MS);
    let store = open_store(dir.path(), "W01", NodeRole::Window, &clock);
    let central = open_store(dir.path(), "central", NodeRole::Central, &clock);
    if with_catalogs {
        central
            .import_catalog(&admin(), catalogs())
            .expect("import");
        copy_all(&central, &store);
    }
    let config_path = dir.path().join("lifeline.toml");
    std::fs::write(
        &config_path,
        format!(
            "{hospital}[node]\nname = \"W01\"\nrole = \"window\"\n\
             desks = [\"registration\", \"cashier\", \"pharmacy\", \"triage\", \"doctor\"]\n\
             data_dir = {:?}\n\
             [tls]\nca = \"ca.pem\"\ncert = \"W01.pem\"\nkey = \"W01.key\"\n",
            dir.path().display().to_string()
        ),
    )
    .expect("write config");
    let config = Config::load(&config_path).expect("config");
    let operators = Operators::open(&dir.path().join("operators.json")).expect("operators");
    let mut tokens = BTreeMap::new();
    for (name, desk) in DESKS {
        let token = operators
            .add(OperatorName::new(name).expect("valid"), desk, NOW_MS)
            .expect("add operator");
        tokens.insert(name, token);
    }
    let runtime = Arc::new(Runtime::new(config, NOW_MS));
    // As the daemon does once its store is open.
    runtime.metrics.watch(&store);
    let state = ApiState {
        store: store.clone(),
        operators: Arc::new(operators),
        runtime,
    };
    Node {
        _dir: dir,
        store,
        central,
        router: api::router(state.clone()),
        state,
        tokens,
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

/// What the store holds, to prove that a refusal wrote nothing.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    feed_head: u64,
    records: u64,
    audit_entries: u64,
}

impl Node {
    fn snapshot(&self) -> Snapshot {
        let stats = self.store.stats().expect("stats");
        Snapshot {
            feed_head: self.store.feed_head().expect("feed head"),
            records: stats.records,
            audit_entries: stats.audit_entries,
        }
    }

    /// Sends a request as operator `who` (None: no token), with a JSON body if given.
    async fn raw(
        &self,
        method: Method,
        uri: &str,
        who: Option<&str>,
        content_type: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(who) = who {
            req = req.header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.tokens[who]),
            );
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req
            .body(body.map_or_else(Body::empty, Body::from))
            .expect("request");
        let response = call(self.router.clone(), req).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        (status, value)
    }

    async fn get(&self, uri: &str, who: &str) -> (StatusCode, Value) {
        self.raw(Method::GET, uri, Some(who), None, None).await
    }

    async fn send(&self, method: Method, uri: &str, who: &str, body: Value) -> (StatusCode, Value) {
        self.raw(
            method,
            uri,
            Some(who),
            Some("application/json"),
            Some(body.to_string()),
        )
        .await
    }

    async fn post(&self, uri: &str, who: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, uri, who, body).await
    }

    /// A write that must succeed with `status`; returns the written value.
    async fn write(
        &self,
        method: Method,
        uri: &str,
        who: &str,
        body: Value,
        status: StatusCode,
    ) -> Value {
        let (got, answer) = self.send(method.clone(), uri, who, body).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
        assert_eq!(answer["durable"], true, "{uri}: {answer}");
        assert!(answer["warnings"].is_array(), "{uri}: {answer}");
        answer["value"].clone()
    }

    async fn created(&self, uri: &str, who: &str, body: Value) -> Value {
        self.write(Method::POST, uri, who, body, StatusCode::CREATED)
            .await
    }

    async fn done(&self, uri: &str, who: &str, body: Value) -> Value {
        self.write(Method::POST, uri, who, body, StatusCode::OK)
            .await
    }

    /// Sends a request that must be refused with `status` and error `code`, and checks that
    /// nothing was written. Returns the error object.
    async fn refused(
        &self,
        method: Method,
        uri: &str,
        who: Option<&str>,
        body: Option<String>,
        status: StatusCode,
        code: &str,
    ) -> Value {
        let before = self.snapshot();
        let content_type = body.as_ref().map(|_| "application/json");
        let (got, answer) = self.raw(method.clone(), uri, who, content_type, body).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
        let error = answer["error"].clone();
        assert_eq!(error["code"], code, "{method} {uri}: {answer}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
        assert_eq!(self.snapshot(), before, "{method} {uri} wrote something");
        error
    }

    async fn register(&self, name: &str) -> (String, String) {
        let patient = self
            .created(
                "/patients",
                "reg1",
                json!({
                    "name": name,
                    "sex": "female",
                    "birth_date": "2019-05-04",
                    "phone": "13800138000",
                    "insurance": "resident",
                }),
            )
            .await;
        let patient = id_of(&patient);
        let visit = self
            .created(
                "/visits",
                "reg1",
                json!({"patient": patient, "department": "PED-GEN"}),
            )
            .await;
        (patient, id_of(&visit))
    }

    /// An invoice range preset for a cashier, leased by the central store.
    fn lease_for(&self, cashier: &str, size: u64) {
        let range = self
            .central
            .lease_range_for(
                &admin(),
                lifeline_core::desk::LeaseOrder {
                    series: Series::Invoice,
                    holder: self.store.node().clone(),
                    size,
                    operator: Some(OperatorName::new(cashier).expect("valid")),
                    code: None,
                    start: None,
                },
            )
            .expect("lease")
            .value;
        self.store.accept_lease(&admin(), range).expect("accept");
    }

    fn lease(&self, series: Series, size: u64) {
        let range = self
            .central
            .lease_range(&admin(), series, self.store.node().clone(), size)
            .expect("lease")
            .value;
        self.store.accept_lease(&admin(), range).expect("accept");
    }
}

fn id_of(record: &Value) -> String {
    record["header"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no header.id in {record}"))
        .to_owned()
}

fn new_patient() -> Value {
    json!({
        "name": "王小明",
        "sex": "male",
        "birth_date": "2019-05-04",
        "phone": "13800138000",
        "insurance": "resident",
    })
}

#[tokio::test]
async fn the_whole_desk_flow_from_registration_to_a_voided_invoice() {
    let n = node(true);

    // Registration: a patient, corrected, found, and a visit.
    let patient = n.created("/patients", "reg1", new_patient()).await;
    assert_eq!(patient["patient_no"], "W01-000001");
    assert_eq!(patient["header"]["operator"], "reg1");
    assert_eq!(patient["header"]["origin"], "W01");
    assert_eq!(patient["header"]["episode"], Value::Null);
    let pid = id_of(&patient);
    let edited = n
        .write(
            Method::PATCH,
            &format!("/patients/{pid}"),
            "reg1",
            json!({"phone": "13900139000"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(edited["phone"], "13900139000");
    assert_eq!(edited["name"], "王小明");
    let (status, read) = n.get(&format!("/patients/{pid}"), "cash1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["phone"], "13900139000");
    for query in ["name=%E7%8E%8B", "number=W01-000001"] {
        let (status, found) = n.get(&format!("/patients?{query}"), "nurse1").await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["truncated"], false);
        assert_eq!(
            found["patients"][0]["header"]["id"],
            pid.as_str(),
            "{query}"
        );
    }
    let (_, none) = n
        .get("/patients?national_id=11010519491231002X", "reg1")
        .await;
    assert_eq!(none["patients"], json!([]));
    // Every patient is shown with the age staff read (born 2019-05-04; today 2026-11-25).
    assert_eq!(read["age"]["text"], "7岁");
    // An infant without an identity number, registered with a guardian, is found by the
    // guardian's phone and the birth date, and shown in months.
    let infant = n
        .created(
            "/patients",
            "reg1",
            json!({"name": "王小宝", "sex": "male", "birth_date": "2026-05-20",
                "phone": "13900139000", "insurance": "resident",
                "guardian": {"name": "王建华", "relationship": "父亲", "phone": "13900139000"}}),
        )
        .await;
    assert_eq!(infant["guardian"]["relationship"], "父亲");
    let (status, found) = n
        .get(
            "/patients?guardian_phone=13900139000&birth_date=2026-05-20",
            "reg1",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["patients"][0]["header"]["id"], infant["header"]["id"]);
    assert_eq!(found["patients"][0]["age"]["text"], "6个月");
    let (status, error) = n.get("/patients?guardian_phone=13900139000", "reg1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "birth_date");

    let visit = n
        .created(
            "/visits",
            "reg1",
            json!({"patient": pid, "department": "PED-GEN"}),
        )
        .await;
    let vid = id_of(&visit);
    assert_eq!(visit["status"], "queued");
    assert_eq!(visit["registration_no"], "W01-R000001");
    assert_eq!(visit["fee"], 1000);
    // The registration fee is a charge from the start.
    let fee_charge = visit["fee_charge"].as_str().expect("fee charge").to_owned();
    let (_, fee) = n.get(&format!("/charges/{fee_charge}"), "cash1").await;
    assert_eq!(fee["source"], "registration");
    assert_eq!(fee["amount"], 1000);
    assert_eq!(fee["status"], "pending");
    let (status, v) = n.get(&format!("/visits/{vid}"), "doc1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "queued");

    // Triage calls, the doctor sees.
    let (_, queue) = n.get("/triage/queue", "nurse1").await;
    assert_eq!(queue.as_array().map(Vec::len), Some(1), "{queue}");
    assert_eq!(queue[0]["visit"], vid.as_str());
    assert_eq!(queue[0]["patient_name"], "王小明");
    let called = n
        .done(&format!("/visits/{vid}/call"), "nurse1", json!({}))
        .await;
    assert_eq!(called["status"], "called");
    assert_eq!(called["status_log"]["called"]["operator"], "nurse1");
    let seen = n
        .done(&format!("/visits/{vid}/seen"), "doc1", json!({}))
        .await;
    assert_eq!(seen["status"], "seen");
    let (_, queue) = n.get("/triage/queue", "nurse1").await;
    assert_eq!(queue, json!([]));

    // The doctor prescribes; the pharmacy prints and dispenses.
    let rx = n
        .created(
            "/prescriptions",
            "doc1",
            json!({"visit": vid, "items": [{"drug_code": "DRG-0001", "quantity": 2, "dosage": "0.125g tid"}]}),
        )
        .await;
    let rxid = id_of(&rx);
    assert_eq!(rx["status"], "issued");
    assert_eq!(rx["items"][0]["unit_price"], 1280);
    assert_eq!(rx["patient"], pid.as_str());
    let (_, pharmacy) = n.get("/pharmacy/queue", "pharm1").await;
    assert_eq!(pharmacy[0]["prescription"], rxid.as_str(), "{pharmacy}");
    assert_eq!(pharmacy[0]["on_hold"], false);
    let dispense = n
        .created(&format!("/prescriptions/{rxid}/print"), "pharm1", json!({}))
        .await;
    assert_eq!(dispense["status"], "on_hold");
    assert_eq!(dispense["prescription"], rxid.as_str());
    // The pharmacy dispenses paid prescriptions: the drugs' charge, made with the
    // prescription at its prices, is paid first, by WeChat and cash.
    let rx_charge = rx["charge"]
        .as_str()
        .expect("the prescription's charge")
        .to_owned();
    let error = n
        .refused(
            Method::POST,
            &format!("/prescriptions/{rxid}/dispense"),
            Some("pharm1"),
            Some("{}".into()),
            StatusCode::CONFLICT,
            "refused",
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("not paid")),
        "{error}"
    );
    let (_, drug_charge) = n.get(&format!("/charges/{rx_charge}"), "cash1").await;
    assert_eq!(drug_charge["source"], "prescription");
    assert_eq!(drug_charge["amount"], 2 * 1280);
    let error = n
        .refused(
            Method::POST,
            &format!("/charges/{rx_charge}/settle"),
            Some("cash1"),
            Some(
                json!({"outcome": "paid", "payments": [{"channel": "wechat", "amount": 1}]})
                    .to_string(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        )
        .await;
    assert_eq!(error["field"], "payments");
    let paid = n
        .done(
            &format!("/charges/{rx_charge}/settle"),
            "cash1",
            json!({"outcome": "paid", "payments": [
                {"channel": "wechat", "amount": 2000},
                {"channel": "insurance_fund", "amount": 560},
            ]}),
        )
        .await;
    assert_eq!(paid["payments"][0]["channel"], "wechat");
    let dispensed = n
        .done(
            &format!("/prescriptions/{rxid}/dispense"),
            "pharm1",
            json!({}),
        )
        .await;
    assert_eq!(dispensed["status"], "dispensed");
    assert_eq!(dispensed["status_log"]["dispensed"]["operator"], "pharm1");
    let (_, pharmacy) = n.get("/pharmacy/queue", "pharm1").await;
    assert_eq!(pharmacy, json!([]));
    let (_, rx) = n.get(&format!("/prescriptions/{rxid}"), "cash1").await;
    assert_eq!(rx["status"], "dispensed");

    // The cashier charges; the insurance link fails and the charge is re-settled later.
    let charge = n
        .created(
            "/charges",
            "cash1",
            json!({
                "visit": vid,
                "payment": "insurance",
                "lines": [
                    {"catalog": "drug", "code": "DRG-0001", "quantity": 2},
                    {"catalog": "service", "code": "SVC-REG", "quantity": 1},
                ],
            }),
        )
        .await;
    let c1 = id_of(&charge);
    assert_eq!(charge["amount"], 2 * 1280 + 1000);
    assert_eq!(charge["status"], "pending");
    assert_eq!(charge["payment"], Value::Null);
    let settled = n
        .done(
            &format!("/charges/{c1}/settle"),
            "cash1",
            json!({"outcome": "insurance_failed"}),
        )
        .await;
    assert_eq!(settled["status"], "settled");
    assert_eq!(settled["payment"], "self_pay");
    // Wednesday 2026-11-25 + 7 working days, weekend skipped.
    assert_eq!(settled["resettle_due"], "2026-12-04");

    let charge = n
        .created(
            "/charges",
            "cash1",
            json!({"visit": vid, "payment": "self_pay", "lines": [{"catalog": "service", "code": "SVC-REG", "quantity": 1}]}),
        )
        .await;
    let c2 = id_of(&charge);
    let error = n
        .refused(
            Method::POST,
            &format!("/charges/{c2}/settle"),
            Some("cash1"),
            Some(json!({"outcome": "insurance_failed"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        )
        .await;
    assert_eq!(error["field"], "outcome");
    let settled = n
        .done(
            &format!("/charges/{c2}/settle"),
            "cash1",
            json!({"outcome": "paid"}),
        )
        .await;
    assert_eq!(settled["payment"], "self_pay");
    assert_eq!(settled["resettle_due"], Value::Null);

    // Invoices come from the cashier's range, confirmed at the start of the shift: refused
    // without one, then issued from it with a low-water warning, then voided (releasing the
    // charges); the next number is spoiled and never handed out.
    let invoice_body = json!({"charges": [c1, c2]}).to_string();
    let error = n
        .refused(
            Method::POST,
            "/invoices",
            Some("cash1"),
            Some(invoice_body.clone()),
            StatusCode::CONFLICT,
            "refused",
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("start the shift")),
        "{error}"
    );
    n.lease_for("cash1", 10);
    let (status, preset) = n.get("/cashier/shift", "cash1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(preset["next"], 1, "{preset}");
    let shift = n
        .done(
            "/cashier/shift",
            "cash1",
            json!({"code": "144031900111", "first_number": 1}),
        )
        .await;
    assert_eq!(shift["code"], "144031900111");
    assert_eq!(shift["confirmed"]["operator"], "cash1");
    let (status, answer) = n
        .post("/invoices", "cash1", json!({"charges": [c1, c2]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["durable"], true);
    assert_eq!(answer["warnings"][0]["warning"], "low_water", "{answer}");
    assert_eq!(answer["warnings"][0]["series"], "invoice");
    let invoice = &answer["value"];
    let inv = id_of(invoice);
    assert_eq!(invoice["number"], 1);
    assert_eq!(invoice["code"], "144031900111");
    assert_eq!(invoice["total"], 2 * 1280 + 1000 + 1000);
    assert_eq!(invoice["status"], "issued");
    let (_, c) = n.get(&format!("/charges/{c1}"), "cash1").await;
    assert_eq!(c["invoice"], inv.as_str());
    n.refused(
        Method::POST,
        "/invoices",
        Some("cash1"),
        Some(invoice_body),
        StatusCode::CONFLICT,
        "refused",
    )
    .await;
    let voided = n
        .done(
            &format!("/invoices/{inv}/void"),
            "cash1",
            json!({"reason": "printer jam"}),
        )
        .await;
    assert_eq!(voided["status"], "voided");
    assert_eq!(voided["void_reason"], "printer jam");
    assert_eq!(voided["status_log"]["voided"]["operator"], "cash1");
    let (_, read) = n.get(&format!("/invoices/{inv}"), "reg1").await;
    assert_eq!(read["status"], "voided");
    let spoiled = n
        .done(
            "/numbers/invoice/void-next",
            "cash1",
            json!({"reason": "torn slip"}),
        )
        .await;
    assert_eq!(
        spoiled,
        json!({"series": "invoice", "number": 2, "reason": "torn slip"})
    );
    let (_, released) = n.get(&format!("/charges/{c2}"), "cash1").await;
    assert_eq!(released["invoice"], Value::Null, "the void released it");

    // The failed insurance settlement is redone: its own record and invoice, the payment
    // kept; then refused, there is nothing left to re-settle.
    let resettled = n
        .created(&format!("/charges/{c1}/resettle"), "cash1", json!({}))
        .await;
    assert_eq!(resettled["charge"]["payment"], "self_pay");
    assert_eq!(
        resettled["resettlement"]["parts"][0]["channel"],
        "insurance_fund"
    );
    assert_eq!(resettled["invoice"]["number"], 3);
    n.refused(
        Method::POST,
        &format!("/charges/{c1}/resettle"),
        Some("cash1"),
        Some("{}".into()),
        StatusCode::CONFLICT,
        "refused",
    )
    .await;
    // A refund: its own record, the payment untouched.
    let refund = n
        .created(
            &format!("/charges/{c2}/refund"),
            "cash1",
            json!({"reason": "patient left"}),
        )
        .await;
    assert_eq!(refund["amount"], 1000);
    assert_eq!(refund["parts"][0]["channel"], "cash");
    let (status, read) = n.get(&format!("/refunds/{}", id_of(&refund)), "reg1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["reason"], "patient left");
    let (_, c2_now) = n.get(&format!("/charges/{c2}"), "cash1").await;
    assert_eq!(c2_now["status"], "refunded");
    assert_eq!(c2_now["payments"][0]["channel"], "cash");

    // The day's summary, by channel.
    let (status, summary) = n.get("/reports/cashier?date=2026-11-25", "cash1").await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let by_channel: BTreeMap<String, i64> = summary["by_channel"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap_or("?").to_owned(),
                c["amount"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    // WeChat 20.00 and the fund 5.60 for the drugs; cash 35.60 for c1 then given back by
    // its re-settlement; cash 10.00 for c2 then refunded; the fund 35.60 for c1's
    // re-settlement.
    assert_eq!(
        by_channel,
        BTreeMap::from([
            ("insurance_fund".to_owned(), 560 + 3560),
            ("wechat".to_owned(), 2000),
        ]),
        "{summary}"
    );

    // Reference data.
    let (status, drugs) = n.get("/catalogs/drugs", "pharm1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(drugs["drugs"]["DRG-0001"]["price"], 1280);
    assert_eq!(drugs["version"], 1);
    let (status, services) = n.get("/catalogs/services", "reg1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(services["departments"]["PED-GEN"]["registration_fee"], 1000);
    assert_eq!(services["services"]["SVC-REG"]["price"], 1000);

    // Every change is in the audit trail, which still verifies.
    assert!(n.store.verify_audit().expect("read").is_ok());
}

#[tokio::test]
async fn emergency_visits_are_paused_and_emergency_prescriptions_cannot_be_dispensed() {
    let n = node(true);
    let (pid, _) = n.register("李四").await;
    n.store
        .start_episode(
            &admin(),
            EpisodeId::new("YJ-20261125-01").expect("valid"),
            "central down",
        )
        .expect("start");
    let body = json!({"patient": pid, "department": "PED-GEN", "expert": true}).to_string();
    let error = n
        .refused(
            Method::POST,
            "/visits",
            Some("reg1"),
            Some(body.clone()),
            StatusCode::CONFLICT,
            "refused",
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("emergency_registration")),
        "{error}"
    );
    n.lease(Series::EmergencyRegistration, 100);
    let visit = n
        .created(
            "/visits",
            "reg1",
            serde_json::from_str(&body).expect("json"),
        )
        .await;
    let vid = id_of(&visit);
    assert_eq!(visit["registration_no"], "YJ00000001");
    assert_eq!(visit["status"], "paused");
    assert_eq!(visit["fee"], 3000);
    assert_eq!(visit["header"]["episode"], "YJ-20261125-01");
    let (_, queue) = n.get("/triage/queue", "nurse1").await;
    assert_eq!(queue.as_array().map(Vec::len), Some(2), "{queue}");
    assert_eq!(queue[0]["emergency"], false, "normal registrations first");
    assert_eq!(queue[1]["emergency"], true);
    // A paused registration cannot be called before the nurse resumes it.
    n.refused(
        Method::POST,
        &format!("/visits/{vid}/call"),
        Some("nurse1"),
        None,
        StatusCode::CONFLICT,
        "refused",
    )
    .await;
    let resumed = n
        .done(&format!("/visits/{vid}/resume"), "nurse1", json!({}))
        .await;
    assert_eq!(resumed["status"], "queued");

    let rx = n
        .created(
            "/prescriptions",
            "doc1",
            json!({"visit": vid, "items": [{"drug_code": "DRG-0001", "quantity": 1, "dosage": "bid"}]}),
        )
        .await;
    let rxid = id_of(&rx);
    n.created(&format!("/prescriptions/{rxid}/print"), "pharm1", json!({}))
        .await;
    let (_, pharmacy) = n.get("/pharmacy/queue", "pharm1").await;
    assert_eq!(pharmacy[0]["emergency"], true, "{pharmacy}");
    assert_eq!(pharmacy[0]["on_hold"], true);
    let error = n
        .refused(
            Method::POST,
            &format!("/prescriptions/{rxid}/dispense"),
            Some("pharm1"),
            None,
            StatusCode::CONFLICT,
            "refused",
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("reconciled")),
        "{error}"
    );

    // The doctor cancels the prescription and the registration desk the visit.
    let cancelled = n
        .done(&format!("/prescriptions/{rxid}/cancel"), "doc1", json!({}))
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    let cancelled = n
        .done(&format!("/visits/{vid}/cancel"), "reg1", json!({}))
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    let spoiled = n
        .done(
            "/numbers/emergency_registration/void-next",
            "reg1",
            json!({"reason": "misprint"}),
        )
        .await;
    assert_eq!(spoiled["number"], 2);
}

#[tokio::test]
async fn malformed_json_is_a_400_and_writes_nothing() {
    let n = node(true);
    for body in ["{\"name\": ", "not json", ""] {
        let error = n
            .refused(
                Method::POST,
                "/patients",
                Some("reg1"),
                Some(body.into()),
                StatusCode::BAD_REQUEST,
                "malformed_json",
            )
            .await;
        assert!(error["message"].is_string());
    }
    // A body that is not declared JSON.
    let before = n.snapshot();
    let (status, answer) = n
        .raw(
            Method::POST,
            "/patients",
            Some("reg1"),
            None,
            Some(new_patient().to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "not_json");
    assert_eq!(n.snapshot(), before);
}

#[tokio::test]
async fn unknown_missing_and_mistyped_fields_are_named_and_write_nothing() {
    let n = node(true);
    let (_, vid) = n.register("王小明").await;

    let mut unknown = new_patient();
    unknown["colour"] = json!("blue");
    let mut missing = new_patient();
    missing.as_object_mut().expect("object").remove("name");
    let mut mistyped = new_patient();
    mistyped["sex"] = json!("robot");
    let mut bad_date = new_patient();
    bad_date["birth_date"] = json!("2019-13-40");
    let mut future = new_patient();
    future["birth_date"] = json!("2030-01-01");
    let mut bad_nid = new_patient();
    bad_nid["national_id"] = json!("110105194912310021");
    let cases = [
        ("/patients", unknown, "colour"),
        ("/patients", missing, "name"),
        ("/patients", mistyped, "sex"),
        ("/patients", bad_date, "birth_date"),
        ("/patients", future, "birth_date"),
        ("/patients", bad_nid, "national_id"),
        (
            "/prescriptions",
            json!({"visit": vid, "items": [{"drug_code": "DRG-0001", "quantity": "two", "dosage": "tid"}]}),
            "items[0].quantity",
        ),
        (
            "/prescriptions",
            json!({"visit": vid, "items": [{"drug_code": "DRG-0001", "quantity": 0, "dosage": "tid"}]}),
            "items[0].quantity",
        ),
        (
            "/prescriptions",
            json!({"visit": vid, "items": []}),
            "items",
        ),
        (
            "/prescriptions",
            json!({"visit": "nope", "items": []}),
            "visit",
        ),
        (
            "/charges",
            json!({"visit": vid, "payment": "cash", "lines": [{"catalog": "drug", "code": "DRG-0001", "quantity": 1}]}),
            "payment",
        ),
        ("/invoices", json!({"charges": [], "extra": 1}), "extra"),
        ("/invoices", json!({}), "charges"),
        ("/invoices", json!({"charges": []}), "charges"),
        (
            "/numbers/invoice/void-next",
            json!({"reason": ""}),
            "reason",
        ),
        ("/numbers/invoice/void-next", json!({"why": "x"}), "why"),
    ];
    for (uri, body, field) in cases {
        let who = match uri {
            "/patients" => "reg1",
            "/prescriptions" => "doc1",
            _ => "cash1",
        };
        let error = n
            .refused(
                Method::POST,
                uri,
                Some(who),
                Some(body.to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            )
            .await;
        assert_eq!(error["field"], field, "{uri} {body}: {error}");
    }
    // Settling with an unknown field, and an edit that changes nothing.
    let pid = {
        let (_, found) = n.get("/patients?number=W01-000001", "reg1").await;
        found["patients"][0]["header"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    for (uri, body, field) in [
        (format!("/patients/{pid}"), json!({}), "body"),
        (
            format!("/patients/{pid}"),
            json!({"nickname": "x"}),
            "nickname",
        ),
        (
            format!("/patients/{pid}"),
            json!({"phone": "call me"}),
            "phone",
        ),
    ] {
        let error = n
            .refused(
                Method::PATCH,
                &uri,
                Some("reg1"),
                Some(body.to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            )
            .await;
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    // Codes that are not in the catalogs.
    for (uri, who, body) in [
        (
            "/visits",
            "reg1",
            json!({"patient": pid, "department": "NOPE"}),
        ),
        (
            "/prescriptions",
            "doc1",
            json!({"visit": vid, "items": [{"drug_code": "DRG-9999", "quantity": 1, "dosage": "tid"}]}),
        ),
    ] {
        let error = n
            .refused(
                Method::POST,
                uri,
                Some(who),
                Some(body.to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            )
            .await;
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("catalog")),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_missing_or_unknown_token_is_a_401_and_writes_nothing() {
    let n = node(true);
    let error = n
        .refused(
            Method::POST,
            "/patients",
            None,
            Some(new_patient().to_string()),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    assert_eq!(error["field"], "Authorization");
    let (status, _) = n.raw(Method::GET, "/triage/queue", None, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for value in ["Bearer not-a-token", "Basic cmVnMTpwdw==", "Bearer"] {
        let before = n.snapshot();
        let req = Request::builder()
            .method(Method::POST)
            .uri("/patients")
            .header(header::AUTHORIZATION, value)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(new_patient().to_string()))
            .expect("request");
        let response = call(n.router.clone(), req).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(n.snapshot(), before);
    }
}

#[tokio::test]
async fn a_desk_that_may_not_do_an_operation_gets_a_403_and_nothing_is_written() {
    let n = node(true);
    let (pid, vid) = n.register("王小明").await;
    let rx = n
        .created(
            "/prescriptions",
            "doc1",
            json!({"visit": vid, "items": [{"drug_code": "DRG-0001", "quantity": 1, "dosage": "tid"}]}),
        )
        .await;
    let rxid = id_of(&rx);
    let charge = n
        .created(
            "/charges",
            "cash1",
            json!({"visit": vid, "payment": "self_pay", "lines": [{"catalog": "service", "code": "SVC-REG", "quantity": 1}]}),
        )
        .await;
    let cid = id_of(&charge);
    n.lease(Series::Invoice, 100);
    let cases: Vec<(Method, String, &str, Option<Value>)> = vec![
        (
            Method::POST,
            "/patients".into(),
            "pharm1",
            Some(new_patient()),
        ),
        (
            Method::PATCH,
            format!("/patients/{pid}"),
            "cash1",
            Some(json!({"phone": "13900139000"})),
        ),
        (
            Method::POST,
            "/visits".into(),
            "cash1",
            Some(json!({"patient": pid, "department": "PED-GEN"})),
        ),
        (Method::POST, format!("/visits/{vid}/call"), "pharm1", None),
        (
            Method::POST,
            "/prescriptions".into(),
            "reg1",
            Some(
                json!({"visit": vid, "items": [{"drug_code": "DRG-0001", "quantity": 1, "dosage": "tid"}]}),
            ),
        ),
        (
            Method::POST,
            format!("/prescriptions/{rxid}/print"),
            "doc1",
            None,
        ),
        (
            Method::POST,
            format!("/prescriptions/{rxid}/dispense"),
            "cash1",
            None,
        ),
        (
            Method::POST,
            format!("/prescriptions/{rxid}/cancel"),
            "nurse1",
            None,
        ),
        (
            Method::POST,
            "/charges".into(),
            "pharm1",
            Some(
                json!({"visit": vid, "payment": "self_pay", "lines": [{"catalog": "service", "code": "SVC-REG", "quantity": 1}]}),
            ),
        ),
        (
            Method::POST,
            format!("/charges/{cid}/settle"),
            "pharm1",
            Some(json!({"outcome": "paid"})),
        ),
        (
            Method::POST,
            format!("/charges/{cid}/refund"),
            "doc1",
            Some(json!({"reason": "left"})),
        ),
        (
            Method::POST,
            "/cashier/shift".into(),
            "reg1",
            Some(json!({"code": "144031900111", "first_number": 1})),
        ),
        (
            Method::GET,
            "/reports/cashier?date=2026-11-25".into(),
            "nurse1",
            None,
        ),
        (
            Method::POST,
            "/invoices".into(),
            "doc1",
            Some(json!({"charges": [cid]})),
        ),
        (
            Method::POST,
            "/numbers/invoice/void-next".into(),
            "reg1",
            Some(json!({"reason": "torn"})),
        ),
        (
            Method::POST,
            "/numbers/emergency_registration/void-next".into(),
            "cash1",
            Some(json!({"reason": "torn"})),
        ),
    ];
    for (method, uri, who, body) in cases {
        let error = n
            .refused(
                method.clone(),
                &uri,
                Some(who),
                body.map(|b| b.to_string()),
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("may not")),
            "{method} {uri}: {error}"
        );
    }
}

#[tokio::test]
async fn path_ids_that_are_not_record_ids_are_a_422_naming_id() {
    let n = node(true);
    let (pid, vid) = n.register("王小明").await;
    let cases = [
        (Method::GET, "/patients/nope", None),
        (
            Method::PATCH,
            "/patients/12345",
            Some(json!({"phone": "13900139000"})),
        ),
        (Method::GET, "/visits/not-a-ulid", None),
        (Method::POST, "/visits/x/call", None),
        (Method::POST, "/prescriptions/x/print", None),
        (
            Method::POST,
            "/charges/x/settle",
            Some(json!({"outcome": "paid"})),
        ),
        (
            Method::POST,
            "/invoices/x/void",
            Some(json!({"reason": "r"})),
        ),
        (Method::GET, "/invoices/%E7%8E%8B", None),
    ];
    for (method, uri, body) in cases {
        let error = n
            .refused(
                method.clone(),
                uri,
                Some("info1"),
                body.map(|b| b.to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            )
            .await;
        assert_eq!(error["field"], "id", "{method} {uri}: {error}");
    }
    let error = n
        .refused(
            Method::POST,
            "/numbers/receipts/void-next",
            Some("info1"),
            Some(json!({"reason": "r"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        )
        .await;
    assert_eq!(error["field"], "series");

    // Well-formed ids of no record, or of a record of another kind, are a 404.
    let nobody = "01JD0N4V7Q8G8S2Y9X3K5M6P7R";
    for uri in [
        format!("/patients/{nobody}"),
        format!("/visits/{pid}"),
        format!("/patients/{vid}"),
        format!("/charges/{vid}"),
    ] {
        let error = n
            .refused(
                Method::GET,
                &uri,
                Some("reg1"),
                None,
                StatusCode::NOT_FOUND,
                "not_found",
            )
            .await;
        assert!(error["message"].is_string());
    }
    n.refused(
        Method::POST,
        &format!("/visits/{nobody}/call"),
        Some("nurse1"),
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    n.refused(
        Method::POST,
        "/visits",
        Some("reg1"),
        Some(json!({"patient": nobody, "department": "PED-GEN"}).to_string()),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_patient_search_takes_exactly_one_parameter() {
    let n = node(true);
    n.register("王小明").await;
    for (query, field) in [
        ("", "query"),
        ("?name=%E7%8E%8B&number=W01-000001", "number"),
        ("?phone=13800138000", "phone"),
        ("?name=", "name"),
    ] {
        let (status, answer) = n.get(&format!("/patients{query}"), "reg1").await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {answer}"
        );
        assert_eq!(answer["error"]["field"], field, "{query}: {answer}");
    }
}

#[tokio::test]
async fn catalogs_not_replicated_yet_are_a_clear_404() {
    let n = node(false);
    for uri in ["/catalogs/drugs", "/catalogs/services"] {
        let error = n
            .refused(
                Method::GET,
                uri,
                Some("pharm1"),
                None,
                StatusCode::NOT_FOUND,
                "catalog_missing",
            )
            .await;
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("central")),
            "{error}"
        );
    }
    let patient = n.created("/patients", "reg1", new_patient()).await;
    let error = n
        .refused(
            Method::POST,
            "/visits",
            Some("reg1"),
            Some(json!({"patient": id_of(&patient), "department": "PED-GEN"}).to_string()),
            StatusCode::CONFLICT,
            "refused",
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("catalog")),
        "{error}"
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_and_every_path_in_it_is_routed() {
    let n = node(true);
    let (status, doc) = n.raw(Method::GET, "/openapi.json", None, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.0"))
    );
    let paths = doc["paths"].as_object().expect("paths");
    let some_id = "01JD0N4V7Q8G8S2Y9X3K5M6P7R";
    for (path, methods) in paths {
        let uri = path.replace("{id}", some_id).replace("{series}", "invoice");
        for method in methods.as_object().expect("methods").keys() {
            let method: Method = method.to_uppercase().parse().expect("method");
            let (status, answer) = n
                .raw(
                    method.clone(),
                    &uri,
                    Some("info1"),
                    Some("application/json"),
                    Some("{}".into()),
                )
                .await;
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is not routed"
            );
            assert_ne!(
                answer["error"]["message"], "no such endpoint",
                "{method} {path} is not routed"
            );
        }
    }
    let (status, answer) = n.get("/no/such/thing", "reg1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "not_found");
    let (status, answer) = n
        .raw(Method::DELETE, "/patients", Some("reg1"), None, None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn episode_times_are_in_the_hospitals_offset() {
    let n = node_with(false, "[hospital]\nutc_offset = \"-05:00\"\n");
    n.done(
        "/admin/emergency/start",
        "info1",
        json!({ "reason": "drill" }),
    )
    .await;
    let (status, list) = n.get("/admin/episodes", "info1").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    // 2026-11-25 09:00 in Beijing is 20:00 the day before at UTC-5.
    assert_eq!(list[0]["opened_local"], "2026-11-24 20:00:00", "{list}");
    let (status, report) = n.get("/admin/episodes/latest/report", "info1").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["timezone"], "UTC-5");
    assert_eq!(report["opened_local"], "2026-11-24 20:00:00");
    assert_eq!(report["nodes"][0]["joined_local"], "2026-11-24 20:00:00");
}

#[tokio::test]
async fn every_metric_is_documented_and_served() {
    let n = node(true);
    n.register("王五").await;
    let text = lifeline_node::api::metrics::render(&n.state).expect("the metrics render");
    let documented: std::collections::BTreeSet<String> = include_str!("../../docs/metrics.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|m| m.starts_with("lifeline_"))
        .map(str::to_owned)
        .collect();
    let served: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect();
    let undocumented: Vec<&String> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    // This node has no mesh and no HIS bridge: only the per-peer and HIS metrics are absent
    // (the_his_bridge_is_in_the_metrics_where_it_runs has those).
    let absent: Vec<&String> = documented.difference(&served).collect();
    assert!(
        absent
            .iter()
            .all(|m| m.starts_with("lifeline_peer_") || m.starts_with("lifeline_his_")),
        "documented but not served: {absent:?}"
    );
    // The registration's two writes (patient, visit) are in the desk latency histogram, and
    // the counts come from the store.
    assert!(
        text.contains("lifeline_desk_write_seconds_count 2"),
        "{text}"
    );
    assert!(
        text.contains("lifeline_records{kind=\"patient\"} 1"),
        "{text}"
    );
    assert!(text.contains("lifeline_mode{mode=\"normal\"} 1"), "{text}");
    // The store's writer told both commit histograms of each commit, the registration's two
    // among them, each with the time it took.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} is served: {text}"))
    };
    let commits = value("lifeline_commit_seconds_count");
    assert!(commits >= 2.0, "{text}");
    assert_eq!(commits, value("lifeline_commit_batch_size_count"), "{text}");
    assert!(value("lifeline_commit_seconds_sum") > 0.0, "{text}");
}

#[tokio::test]
async fn the_his_bridge_is_in_the_metrics_where_it_runs() {
    use lifeline_node::his::bridge::{self, BridgeConfig, Reach};
    use lifeline_node::his::db::postgres::PgSettings;
    use lifeline_node::his::mapping::Mapping;
    use std::time::Duration;

    let n = node(false);
    // An HIS nobody answers at: the bridge finds it down.
    let config = BridgeConfig {
        settings: PgSettings {
            url: "postgresql://lifeline@127.0.0.1:1/his".into(),
            password: None,
            tls_ca: None,
            connect_timeout: Duration::from_millis(500),
            query_timeout: Duration::from_secs(1),
            utc_offset_min: 480,
        },
        mapping: Mapping::reference(),
        data_dir: n._dir.path().to_path_buf(),
        poll_interval: Duration::from_secs(60),
        health_interval: Duration::from_millis(50),
        overlap: Duration::from_secs(60),
        takeover_after: Duration::from_secs(30),
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (link, task) = bridge::start(
        n.central.clone(),
        config,
        n.state.runtime.watch_mode(),
        stop,
    );
    n.state.runtime.set_his(link.clone());
    for _ in 0..200 {
        if link.health().reach == Reach::Down {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(link.health().reach, Reach::Down);
    let text = lifeline_node::api::metrics::render(&n.state).expect("the metrics render");
    for line in [
        "lifeline_his_up{} 0.0",
        "lifeline_his_waiting_rows{} 0.0",
        "lifeline_his_refused_rows{} 0.0",
        "lifeline_his_last_pull_success_timestamp_seconds{} 0.0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    let documented: Vec<&str> = include_str!("../../docs/metrics.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|m| m.starts_with("lifeline_his_"))
        .collect();
    assert_eq!(documented.len(), 4);
    for m in documented {
        assert!(text.contains(&format!("# TYPE {m} ")), "{m} is served");
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
