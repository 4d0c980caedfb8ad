//! `config` and `api_bodies`: a node's config file and its desks' HTTP request bodies.
//!
//! [`check_config`]: arbitrary bytes as the node's config file (`node/src/config.rs`, the TOML
//! the daemon reads at start-up) and as a hospital calendar file (`[hospital] calendar`). No
//! panic. The text parses and checks (`toml::from_str` then `Config::check`) or gives an error
//! that says something. `Config::load` on the same bytes in a file agrees (when the config
//! names no calendar file: no path an input names is read). A config that passes writes back
//! to TOML (as `lifeline demo` writes its nodes' configs) that reads as the same config and
//! passes again. The calendar parser gives a calendar or an error.
//!
//! [`Fixture::check`] (`api_bodies`): arbitrary request bodies for the desks' HTTP API,
//! through the real axum router (`lifeline_node::api::router`) in-process, on a window's store
//! that holds a patient, a visit with its fee charge, a prescription, a settled charge and an
//! invoice. Byte 0 picks a route from [`ROUTES`]; byte 1 the operator (the route's own desk,
//! unless its low four bits are zero: then another desk, to reach the permission checks); the
//! rest is the body, sent as `application/json`. In a body that is UTF-8, `@patient`,
//! `@visit`, `@fee`, `@rx`, `@charge` and `@invoice` are replaced by the ids of those records,
//! so that near-valid bodies reach the desk operations. No panic (in a handler or the store's
//! writer thread). Every answer is a success (2xx) or a refusal (4xx), its body JSON; a
//! refusal is `{"error": {"code", "message"}}` with both said, and leaves the store (feed,
//! records, audit trail) and the operators as they were. A store copy serves inputs until one
//! is answered with a success (or for 256 inputs), then a fresh copy of the template is
//! opened, so every input meets the same records.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use lifeline_core::calendar::WorkCalendar;
use lifeline_core::desk::{
    CatalogImport, LeaseOrder, parse_departments, parse_drugs, parse_services,
};
use lifeline_core::numbers::Series;
use lifeline_core::store::Credentials;
use lifeline_core::{
    DeskRole, ManualClock, NodeName, NodeRole, Operator, OperatorName, Store, StoreOptions,
};
use lifeline_node::api::{self, ApiState};
use lifeline_node::config::Config;
use lifeline_node::daemon::runtime::Runtime;
use lifeline_node::error::chain;
use lifeline_node::operators::Operators;
use serde_json::{Value, json};

const CA: &[u8] = include_bytes!("../seeds/ca.pem");

/// 2026-11-25 09:00 in the hospital's time zone (UTC+8), a Wednesday.
const NOW_MS: i64 = 1_795_568_400_000;

const DESKS: [(&str, DeskRole); 6] = [
    ("reg1", DeskRole::Registration),
    ("cash1", DeskRole::Cashier),
    ("pharm1", DeskRole::Pharmacy),
    ("nurse1", DeskRole::Triage),
    ("doc1", DeskRole::Doctor),
    ("info1", DeskRole::Admin),
];

/// The routes fuzzed: every one that takes a body (the OpenAPI document's), and those that
/// move a record on, with the desk that uses it; `{x}` is the id of the fixture's record `x`.
/// Not `/admin/backup`: it writes a file wherever its body says.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/patients", "reg1"),
    ("PATCH", "/patients/{patient}", "reg1"),
    ("POST", "/visits", "reg1"),
    ("POST", "/visits/{visit}/call", "nurse1"),
    ("POST", "/visits/{visit}/resume", "nurse1"),
    ("POST", "/visits/{visit}/seen", "doc1"),
    ("POST", "/visits/{visit}/cancel", "reg1"),
    ("POST", "/prescriptions", "doc1"),
    ("POST", "/prescriptions/{rx}/print", "pharm1"),
    ("POST", "/prescriptions/{rx}/dispense", "pharm1"),
    ("POST", "/prescriptions/{rx}/cancel", "doc1"),
    ("POST", "/charges", "cash1"),
    ("POST", "/charges/{fee}/settle", "cash1"),
    ("POST", "/charges/{charge}/resettle", "cash1"),
    ("POST", "/charges/{charge}/refund", "cash1"),
    ("POST", "/cashier/shift", "cash1"),
    ("POST", "/invoices", "cash1"),
    ("POST", "/invoices/{invoice}/void", "cash1"),
    ("POST", "/numbers/invoice/void-next", "cash1"),
    ("POST", "/admin/operators", "info1"),
    ("POST", "/admin/emergency/start", "info1"),
    ("POST", "/admin/emergency/estimate", "info1"),
    ("POST", "/admin/emergency/stop", "info1"),
    ("POST", "/admin/catalog/import", "info1"),
    ("POST", "/admin/ranges/lease", "info1"),
    ("POST", "/admin/conflicts/{patient}/resolve", "info1"),
    ("POST", "/admin/patients/merge", "info1"),
    ("POST", "/admin/restore-drills", "info1"),
    ("POST", "/admin/revocations", "info1"),
];

/// Names and what they stand for: desks and their tokens, records and their ids.
type Named = Vec<(&'static str, String)>;

/// The fixture's records, by the names the routes and bodies use.
const RECORDS: [&str; 6] = ["patient", "visit", "fee", "rx", "charge", "invoice"];

/// A window's API over copies of a template store.
pub struct Fixture {
    rt: tokio::runtime::Runtime,
    dir: PathBuf,
    template: PathBuf,
    credentials: Credentials,
    tokens: Named,
    ids: Named,
    next: u64,
    current: Option<Node>,
    uses: u32,
}

/// One copy of the template, served by the router.
struct Node {
    dir: PathBuf,
    store: Store,
    operators: Arc<Operators>,
    router: Router,
}

/// Inputs on one copy before a fresh one, when none changed anything.
const MAX_USES: u32 = 256;

fn name(s: &str) -> NodeName {
    NodeName::new(s).expect("a valid name")
}

fn store_options(clock: &ManualClock, credentials: &Credentials) -> StoreOptions {
    let mut opts = StoreOptions::new(name("W01"), NodeRole::Window);
    opts.clock = Arc::new(clock.clone());
    opts.credentials = Some(credentials.clone());
    opts
}

/// A node over the store and operators in `dir`, with its config written there.
fn open_node(dir: &Path, credentials: &Credentials) -> Node {
    let clock = ManualClock::new(NOW_MS);
    let store = Store::open(dir.join("W01.redb"), store_options(&clock, credentials))
        .expect("open the window's store");
    // The hospital CA (the seeds' own, `seeds/ca.pem`), whose revocations the node takes.
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, CA).expect("write the CA certificate");
    let config_path = dir.join("lifeline.toml");
    std::fs::write(
        &config_path,
        format!(
            "[node]\nname = \"W01\"\nrole = \"window\"\n\
             desks = [\"registration\", \"cashier\", \"pharmacy\", \"triage\", \"doctor\"]\n\
             data_dir = {:?}\n\
             [tls]\nca = {:?}\ncert = \"W01.pem\"\nkey = \"W01.key\"\n",
            dir.display().to_string(),
            ca.display().to_string()
        ),
    )
    .expect("write the config");
    let config = Config::load(&config_path).expect("the config loads");
    let operators =
        Arc::new(Operators::open(&dir.join("operators.json")).expect("open the operators"));
    let state = ApiState {
        store: store.clone(),
        operators: operators.clone(),
        runtime: Arc::new(Runtime::new(config, NOW_MS)),
    };
    Node {
        dir: dir.to_path_buf(),
        store,
        operators,
        router: api::router(state),
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

async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    token: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("a method"))
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("a request");
    let response = call(router.clone(), req).await;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the answer's body");
    (status, bytes.to_vec())
}

/// Builds the template: the catalogs from central, an invoice range for the cashier, and
/// through the API a patient, a visit (with its fee charge), a prescription, a charge settled
/// and invoiced.
fn template(rt: &tokio::runtime::Runtime, dir: &Path) -> (Credentials, Named, Named) {
    let clock = ManualClock::new(NOW_MS);
    let credentials =
        Credentials::uncertified(name("W01"), NodeRole::Window, DeskRole::ALL).expect("a key");
    let admin = Operator::new(OperatorName::new("info1").expect("valid"), DeskRole::Admin);
    let mut copts = StoreOptions::new(name("central"), NodeRole::Central);
    copts.clock = Arc::new(clock.clone());
    copts.credentials =
        Some(Credentials::uncertified(name("central"), NodeRole::Central, &[]).expect("a key"));
    let central = Store::open(dir.join("central.redb"), copts).expect("open central");
    central
        .import_catalog(
            &admin,
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
        .expect("import the catalogs");
    let operators = Operators::open(&dir.join("operators.json")).expect("operators");
    let tokens: Named = DESKS
        .iter()
        .map(|&(who, desk)| {
            let token = operators
                .add(OperatorName::new(who).expect("valid"), desk, NOW_MS)
                .expect("add an operator");
            (who, token)
        })
        .collect();
    drop(operators);
    let node = open_node(dir, &credentials);
    let copied = node.store.merge_from(&central).expect("copy the catalogs");
    assert!(copied.rejected.is_empty(), "{copied:?}");
    let range = central
        .lease_range_for(
            &admin,
            LeaseOrder {
                series: Series::Invoice,
                holder: name("W01"),
                size: 50,
                operator: Some(OperatorName::new("cash1").expect("valid")),
                code: None,
                start: None,
            },
        )
        .expect("lease an invoice range")
        .value;
    node.store
        .accept_lease(&admin, range)
        .expect("accept the range");
    let token = |who: &str| {
        tokens
            .iter()
            .find(|(w, _)| *w == who)
            .expect("a desk")
            .1
            .clone()
    };
    let post = |uri: &str, who: &str, body: Value| -> Value {
        let (status, answer) = rt.block_on(send(
            &node.router,
            "POST",
            uri,
            &token(who),
            body.to_string().into_bytes(),
        ));
        let answer: Value = serde_json::from_slice(&answer).expect("JSON");
        assert!(status.is_success(), "{uri}: {status} {answer}");
        answer["value"].clone()
    };
    let id = |v: &Value| v["header"]["id"].as_str().expect("an id").to_owned();
    let patient = post(
        "/patients",
        "reg1",
        json!({"name": "王小明", "sex": "male", "birth_date": "2019-05-04",
               "phone": "13800138000", "insurance": "resident"}),
    );
    let visit = post(
        "/visits",
        "reg1",
        json!({"patient": id(&patient), "department": "PED-GEN"}),
    );
    let fee = visit["fee_charge"]
        .as_str()
        .expect("a fee charge")
        .to_owned();
    let rx = post(
        "/prescriptions",
        "doc1",
        json!({"visit": id(&visit), "items": [{"drug_code": "DRG-0001", "quantity": 2, "dosage": "0.125g tid"}]}),
    );
    let charge = post(
        "/charges",
        "cash1",
        json!({"visit": id(&visit), "payment": "self_pay",
               "lines": [{"catalog": "service", "code": "SVC-REG", "quantity": 1}]}),
    );
    post(
        &format!("/charges/{}/settle", id(&charge)),
        "cash1",
        json!({"outcome": "paid"}),
    );
    post(
        "/cashier/shift",
        "cash1",
        json!({"code": "144031900111", "first_number": 1}),
    );
    let invoice = post("/invoices", "cash1", json!({"charges": [id(&charge)]}));
    let ids = vec![
        ("patient", id(&patient)),
        ("visit", id(&visit)),
        ("fee", fee),
        ("rx", id(&rx)),
        ("charge", id(&charge)),
        ("invoice", id(&invoice)),
    ];
    drop(node);
    (credentials, tokens, ids)
}

impl Fixture {
    /// Builds the template in `dir` (a directory of its own).
    pub fn new(dir: &Path) -> Fixture {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let template_dir = dir.join("template");
        std::fs::create_dir_all(&template_dir).expect("the template's directory");
        let (credentials, tokens, ids) = template(&rt, &template_dir);
        Fixture {
            rt,
            dir: dir.to_path_buf(),
            template: template_dir,
            credentials,
            tokens,
            ids,
            next: 0,
            current: None,
            uses: 0,
        }
    }

    fn node(&mut self) -> &Node {
        if self.current.is_none() {
            let dir = self.dir.join(format!("n{}", self.next));
            self.next += 1;
            std::fs::create_dir_all(&dir).expect("a copy's directory");
            for file in ["W01.redb", "operators.json"] {
                std::fs::copy(self.template.join(file), dir.join(file)).expect("copy the template");
            }
            self.current = Some(open_node(&dir, &self.credentials));
            self.uses = 0;
        }
        self.uses += 1;
        self.current.as_ref().expect("just opened")
    }

    fn discard(&mut self) {
        if let Some(node) = self.current.take() {
            let dir = node.dir.clone();
            drop(node);
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn id(&self, record: &str) -> &str {
        &self
            .ids
            .iter()
            .find(|(r, _)| *r == record)
            .expect("a record")
            .1
    }
}

/// What a refusal must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    feed_head: u64,
    records: u64,
    audit_entries: u64,
    operators: usize,
}

fn snapshot(node: &Node) -> Snapshot {
    let stats = node.store.stats().expect("stats");
    Snapshot {
        feed_head: node.store.feed_head().expect("the feed head"),
        records: stats.records,
        audit_entries: stats.audit_entries,
        operators: node.operators.list().len(),
    }
}

impl Fixture {
    /// One input: a request to the route, as the operator, with the body it names.
    pub fn check(&mut self, data: &[u8]) {
        let [route, who, body @ ..] = data else {
            return;
        };
        let (method, path, desk) = ROUTES[usize::from(*route) % ROUTES.len()];
        let desk = if who & 0x0F == 0 {
            DESKS[usize::from(who >> 4) % DESKS.len()].0
        } else {
            desk
        };
        let mut uri = path.to_owned();
        let mut body = body.to_vec();
        for record in RECORDS {
            let id = self.id(record).to_owned();
            uri = uri.replace(&format!("{{{record}}}"), &id);
            if let Ok(text) = std::str::from_utf8(&body)
                && text.contains('@')
            {
                body = text.replace(&format!("@{record}"), &id).into_bytes();
            }
        }
        let token = self
            .tokens
            .iter()
            .find(|(w, _)| *w == desk)
            .expect("a desk")
            .1
            .clone();
        let node = self.node();
        let before = snapshot(node);
        let router = node.router.clone();
        let (status, answer) = self.rt.block_on(send(&router, method, &uri, &token, body));
        drop(router);
        let node = self.current.as_ref().expect("in use");
        let answer: Value = serde_json::from_slice(&answer).unwrap_or_else(|e| {
            panic!(
                "{method} {uri}: {status}, not JSON ({e}): {}",
                String::from_utf8_lossy(&answer)
            )
        });
        assert!(
            status.is_success() || status.is_client_error(),
            "{method} {uri}: {status} {answer}"
        );
        if status.is_client_error() {
            let error = &answer["error"];
            for part in ["code", "message"] {
                assert!(
                    error[part].as_str().is_some_and(|s| !s.trim().is_empty()),
                    "{method} {uri}: {status} without an error {part}: {answer}"
                );
            }
            assert_eq!(
                snapshot(node),
                before,
                "{method} {uri}: refused ({answer}) yet changed"
            );
        }
        if status.is_success() || self.uses >= MAX_USES {
            self.discard();
        }
    }
}
fn said(e: &anyhow::Error) -> String {
    chain(e.as_ref())
}

/// One config file: `config_path` is where a scratch copy of it may be written.
pub fn check_config(config_path: &Path, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // `Config::load` reads the file as UTF-8 and refuses it otherwise.
        return;
    };
    if let Err(e) = WorkCalendar::parse("calendar.txt", text) {
        assert!(!e.to_string().is_empty(), "an empty calendar error");
    }
    let checked = match toml::from_str::<Config>(text) {
        Err(e) => {
            assert!(!e.to_string().trim().is_empty(), "an empty parse error");
            None
        }
        Ok(config) => match config.check() {
            Err(e) => {
                assert!(!said(&e).trim().is_empty(), "an empty check error");
                None
            }
            Ok(()) => Some(config),
        },
    };
    if let Some(config) = &checked {
        let written = toml::to_string(config).expect("a checked config writes as TOML");
        let again: Config = toml::from_str(&written)
            .unwrap_or_else(|e| panic!("a written config reads back: {e}\n{written}"));
        assert_eq!(&again, config, "written and read back differs:\n{written}");
        again.check().expect("a written config passes again");
    }
    let names_a_file = checked
        .as_ref()
        .is_some_and(|c| c.hospital.calendar.is_some());
    if !names_a_file {
        std::fs::write(config_path, data).expect("write the scratch config");
        match Config::load(config_path) {
            Ok(loaded) => {
                assert_eq!(
                    Some(&loaded),
                    checked.as_ref(),
                    "load took what check refused"
                )
            }
            Err(e) => {
                assert!(
                    checked.is_none(),
                    "load refused what check took: {}",
                    said(&e)
                );
                assert!(!said(&e).trim().is_empty(), "an empty load error");
            }
        }
    }
}
