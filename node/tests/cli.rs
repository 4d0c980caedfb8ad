//! The `lifeline` binary's commands, run as a user would: the CA, a daemon's refusals to
//! start, operators, status, emergency mode, catalogs and ranges.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use lifeline_core::{DeskRole, NodeRole};
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::{Hospital, NodeSpec};
use serde_json::{Value, json};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lifeline"))
}

/// Runs the binary as staff would: in its default language (Chinese), whatever the
/// environment running the tests says.
fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("LIFELINE_LANG")
        .output()
        .expect("run lifeline")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn quick() -> Thresholds {
    Thresholds {
        heartbeat: Duration::from_millis(200),
        peer_timeout: Duration::from_secs(1),
        emergency_after: Duration::from_secs(2),
        low_water: 50,
        lease_size: 1000,
    }
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn ca_init_and_issue_write_keys_only_their_owner_reads() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = dir.path().join("pki");
    let pki_s = pki.to_str().expect("utf-8");
    let out = run(&["ca", "init", "--dir", pki_s]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode_of(&pki.join("ca.key")), 0o600);
    let again = run(&["ca", "init", "--dir", pki_s]);
    assert!(
        !again.status.success(),
        "a second CA must not overwrite the first"
    );
    let out = run(&[
        "ca",
        "issue",
        "--dir",
        pki_s,
        "--name",
        "W01",
        "--role",
        "window",
        "--desks",
        "registration,cashier",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("role=window;desks=registration,cashier"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("已签发 W01"), "{}", text(&out));
    assert!(text(&out).contains("有效期 825 天"), "{}", text(&out));
    let out = run(&[
        "--lang", "en", "ca", "issue", "--dir", pki_s, "--name", "W04", "--role", "window",
        "--desks", "triage",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("issued W04"), "{}", text(&out));
    assert!(text(&out).contains("valid 825 days"), "{}", text(&out));
    assert_eq!(mode_of(&pki.join("W01.key")), 0o600);
    let bad_role = run(&[
        "ca", "issue", "--dir", pki_s, "--name", "W02", "--role", "janitor",
    ]);
    assert!(!bad_role.status.success());
    assert!(text(&bad_role).contains("janitor"), "{}", text(&bad_role));
    let bad_desk = run(&[
        "ca", "issue", "--dir", pki_s, "--name", "W03", "--role", "window", "--desks", "kitchen",
    ]);
    assert!(text(&bad_desk).contains("kitchen"), "{}", text(&bad_desk));
}

#[test]
fn the_daemon_refuses_to_start_and_says_why() {
    let dir = tempfile::tempdir().expect("dir");
    let specs = [NodeSpec::new(
        "W01",
        NodeRole::Window,
        &[DeskRole::Registration],
        &[],
    )];
    let h = Hospital::create(&bin(), dir.path(), &specs, quick()).expect("hospital");
    let config = h.config_path("W01").expect("config");
    let original = std::fs::read_to_string(&config).expect("read");
    let daemon = |path: &Path| run(&["daemon", "--config", path.to_str().expect("utf-8")]);

    let missing = daemon(&dir.path().join("nope.toml"));
    assert!(!missing.status.success());
    assert!(text(&missing).contains("nope.toml"), "{}", text(&missing));

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, original.replace("desks", "deskz")).expect("write");
    let out = daemon(&typo);
    assert!(!out.status.success());
    assert!(text(&out).contains("deskz"), "{}", text(&out));

    let open_api = dir.path().join("open.toml");
    std::fs::write(&open_api, original.replacen("127.0.0.1:", "0.0.0.0:", 2)).expect("write");
    let out = daemon(&open_api);
    assert!(
        text(&out).contains("不是本机回环地址：工作台 API 不得从网络访问"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("无法使用"), "{}", text(&out));
    let out = run(&[
        "--lang",
        "en",
        "daemon",
        "--config",
        open_api.to_str().expect("utf-8"),
    ]);
    assert!(
        text(&out).contains("is not a usable config: api.listen 0.0.0.0"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("loopback"), "{}", text(&out));

    let no_cert = dir.path().join("nocert.toml");
    std::fs::write(&no_cert, original.replace("W01.pem", "W99.pem")).expect("write");
    let out = daemon(&no_cert);
    assert!(!out.status.success());
    assert!(text(&out).contains("W99.pem"), "{}", text(&out));

    let other_node = dir.path().join("other.toml");
    std::fs::write(
        &other_node,
        original.replace("name = \"W01\"", "name = \"W02\""),
    )
    .expect("write");
    let out = daemon(&other_node);
    assert!(
        text(&out).contains("属于节点 W01，但配置中写的是 W02"),
        "{}",
        text(&out)
    );

    // A store that is not a store.
    let data = h.config("W01").expect("config").node.data_dir.clone();
    std::fs::create_dir_all(&data).expect("dir");
    std::fs::write(data.join("store.redb"), b"not a database").expect("write");
    let out = daemon(&config);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("is not a Lifeline store"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(data.join("store.redb")).expect("read"),
        b"not a database"
    );
}

#[test]
fn operators_status_emergency_catalogs_and_ranges_through_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let specs = [
        NodeSpec::new("central", NodeRole::Central, &[], &[]),
        NodeSpec::new(
            "W01",
            NodeRole::Window,
            &[DeskRole::Registration, DeskRole::Cashier],
            &["central"],
        ),
    ];
    let mut h = Hospital::create(&bin(), dir.path(), &specs, quick()).expect("hospital");
    h.start_all().expect("start");
    let central = h.config_path("central").expect("config");
    let w01 = h.config_path("W01").expect("config");
    let (c, w) = (
        central.to_str().expect("utf-8"),
        w01.to_str().expect("utf-8"),
    );
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../data");

    // Catalogs: a bad file is refused naming the line; the real ones import.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "code,name_zh,name_en,unit,price_fen,category\nX,a,b,c,twelve,lab\n",
    )
    .expect("write");
    let out = run(&[
        "catalog",
        "import",
        "-c",
        c,
        "--services",
        bad.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("line 2"), "{}", text(&out));
    let out = run(&[
        "catalog",
        "import",
        "-c",
        c,
        "--drugs",
        &format!("{data}/drugs.csv"),
        "--services",
        &format!("{data}/services.csv"),
        "--departments",
        &format!("{data}/departments.csv"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("药品目录版本 1"), "{}", text(&out));
    let out = run(&[
        "catalog",
        "import",
        "-c",
        w,
        "--drugs",
        &format!("{data}/drugs.csv"),
    ]);
    assert!(!out.status.success(), "a window may not change catalogs");
    assert!(text(&out).contains("only central"), "{}", text(&out));

    // Operators: a token once, then listed without it.
    let out = run(&[
        "operator",
        "add",
        "-c",
        w,
        "--name",
        "zhang.li",
        "--desk",
        "cashier",
        "--token-only",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(token.len(), 64);
    let out = run(&["operator", "list", "-c", w]);
    assert!(text(&out).contains("zhang.li") && !text(&out).contains(&token));
    assert!(
        text(&out).contains("收费") && text(&out).contains("长期有效"),
        "{}",
        text(&out)
    );
    let out = run(&["--lang", "en", "operator", "list", "-c", w]);
    assert!(text(&out).contains("no expiry"), "{}", text(&out));
    let out = run(&[
        "operator", "add", "-c", w, "--name", "x", "--desk", "janitor",
    ]);
    assert!(!out.status.success() && text(&out).contains("janitor"));

    // Status: the window reaches central, gets its ranges, and its store's table check,
    // run after it began serving, has passed; JSON parses.
    h.wait_for(
        "W01 connected with its ranges, its store checked",
        Duration::from_secs(60),
        |h| {
            let s = h.status("W01")?;
            let checked = matches!(
                s.store.check,
                lifeline_node::daemon::table_check::TableCheck::Passed { .. }
            );
            Ok(s.peers.iter().any(|p| p.connected) && s.ranges.len() == 2 && checked)
        },
    )
    .expect("ready");
    let out = run(&["status", "-c", w, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(json["node"], "W01");
    assert_eq!(json["mode"]["mode"], "normal");
    assert_eq!(json["peers"][0]["name"], "central");
    // What staff read is Chinese by default, English with --lang en.
    let out = run(&["status", "-c", w]);
    let status = text(&out);
    for part in [
        "W01（窗口：挂号、收费）  模式 正常",
        "存储完整性检查通过",
        "节点连接",
        "号段",
        "central",
    ] {
        assert!(status.contains(part), "{part} missing from\n{status}");
    }
    assert!(!status.contains("mode NORMAL"), "{status}");
    let out = run(&["status", "-c", w, "--lang", "en"]);
    assert!(text(&out).contains("mode NORMAL"), "{}", text(&out));
    assert!(text(&out).contains("number ranges"), "{}", text(&out));

    // Reconciliation, watched: nothing outstanding on a healthy node.
    let out = run(&["reconcile", "-c", w, "--timeout", "60s"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("W01：对账完成"), "{}", text(&out));
    let out = run(&["--lang", "en", "reconcile", "-c", w, "--timeout", "60s"]);
    assert!(text(&out).contains("W01: reconciled"), "{}", text(&out));

    // Emergency by hand, on the window, then stopped.
    let out = run(&[
        "emergency",
        "start",
        "-c",
        w,
        "--reason",
        "planned HIS maintenance",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("应急事件 YJ-"), "{}", text(&out));
    let out = run(&["status", "-c", w]);
    assert!(text(&out).contains("应急状态 YJ-"), "{}", text(&out));
    let out = run(&["status", "-c", w, "--lang", "en"]);
    assert!(
        text(&out).contains("EMERGENCY episode YJ-"),
        "{}",
        text(&out)
    );
    let out = run(&["emergency", "stop", "-c", w, "--lang", "en"]);
    assert!(
        out.status.success() && text(&out).contains("stopped"),
        "{}",
        text(&out)
    );

    // A drill and the 30-minute assessment, then stopped.
    let out = run(&[
        "emergency",
        "start",
        "-c",
        w,
        "--reason",
        "monthly drill",
        "--drill",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("演练 YJ-DRILL-"), "{}", text(&out));
    let out = run(&[
        "emergency",
        "estimate",
        "-c",
        w,
        "--hours",
        "4",
        "--cause",
        "drill: core switch",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["status", "-c", w]);
    let status = text(&out);
    assert!(status.contains("演练 YJ-DRILL-"), "{status}");
    assert!(status.contains("预计等级 III"), "{status}");
    assert!(status.contains("下一步（"), "{status}");
    assert!(status.contains("故障原因：drill: core switch"), "{status}");
    let out = run(&["status", "-c", w, "--lang", "en"]);
    let status = text(&out);
    assert!(status.contains("DRILL YJ-DRILL-"), "{status}");
    assert!(status.contains("expected grade III"), "{status}");
    assert!(status.contains("next step at"), "{status}");
    assert!(status.contains("cause: drill: core switch"), "{status}");
    let out = run(&["emergency", "stop", "-c", w]);
    assert!(out.status.success(), "{}", text(&out));

    // Ranges by hand, as a new user would: a window nobody knows is refused, naming it; a
    // range preset for cashier zhang.li reaches W01, is confirmed at the start of the shift
    // and numbers the next invoice; central's report covers every range of every node.
    let out = run(&[
        "ranges", "lease", "-c", c, "--series", "invoice", "--holder", "W09", "--size", "10",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("W09 is not a window"), "{}", text(&out));
    let out = run(&[
        "--lang",
        "en",
        "ranges",
        "lease",
        "-c",
        c,
        "--series",
        "invoice",
        "--holder",
        "W01",
        "--size",
        "20",
        "--operator",
        "zhang.li",
        "--code",
        "144031900111",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let leased = text(&out);
    let range_id = leased
        .split_whitespace()
        .nth(1)
        .expect("leased RANGE to W01")
        .to_owned();
    let (start, _end) = range_id
        .trim_start_matches("invoice:")
        .split_once('-')
        .expect("a range id");
    let start: u64 = start.parse().expect("a number");
    h.wait_for("the manual range on W01", Duration::from_secs(60), |h| {
        Ok(h.status("W01")?
            .ranges
            .iter()
            .any(|r| r.range_id == range_id))
    })
    .expect("the lease reached W01");
    let cashier = h.admin("W01").expect("client").with_token(&token);
    let registration = h.desk("W01", DeskRole::Registration).expect("desk");
    let patient: serde_json::Value = registration
        .post(
            "/patients",
            &serde_json::json!({"name": "赵六", "sex": "male", "birth_date": "2020-01-02",
                "phone": "13700137000", "insurance": "self_pay"}),
        )
        .expect("patient");
    let visit: serde_json::Value = registration
        .post(
            "/visits",
            &serde_json::json!({"patient": patient["value"]["header"]["id"], "department": "PED-GEN"}),
        )
        .expect("visit");
    let fee = visit["value"]["fee_charge"]
        .as_str()
        .expect("fee charge")
        .to_owned();
    let _: serde_json::Value = cashier
        .post(
            &format!("/charges/{fee}/settle"),
            &serde_json::json!({"outcome": "paid"}),
        )
        .expect("settle");
    let _: serde_json::Value = cashier
        .post(
            "/cashier/shift",
            &serde_json::json!({"code": "144031900111", "first_number": start}),
        )
        .expect("the shift starts on the manual range");
    let invoice: serde_json::Value = cashier
        .post("/invoices", &serde_json::json!({"charges": [fee]}))
        .expect("invoice");
    assert_eq!(invoice["value"]["number"], start, "{invoice}");
    assert_eq!(invoice["value"]["code"], "144031900111");
    let out = run(&["ranges", "report", "-c", w]);
    assert!(text(&out).contains("无缺号、无重号"), "{}", text(&out));
    h.wait_for(
        "central's report to cover W01's invoice",
        Duration::from_secs(60),
        |_| {
            let out = run(&["ranges", "report", "-c", c, "--json"]);
            let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            Ok(report["scope"] == "hospital"
                && report["ranges"].as_array().is_some_and(|r| {
                    r.iter().any(|l| {
                        l["range_id"] == range_id.as_str()
                            && l["issued"] == 1
                            && l["operator"] == "zhang.li"
                    })
                }))
        },
    )
    .expect("central's range report");
    let out = run(&["ranges", "report", "-c", c]);
    assert!(text(&out).contains("全院各节点的号段"), "{}", text(&out));
    let out = run(&["ranges", "report", "-c", c, "--lang", "en"]);
    let report = text(&out);
    assert!(report.contains("number ranges of every node"), "{report}");
    assert!(
        report.contains("W01") && report.contains("zhang.li"),
        "{report}"
    );
    assert!(report.contains("no gaps, no duplicates"), "{report}");

    // The cashier summary of the day, by channel (cash, the default channel for self-pay).
    let today = lifeline_node::time::UtcOffset::CHINA
        .date(lifeline_core::Clock::now_ms(&lifeline_core::SystemClock));
    let out = run(&["report", "cashier", "-c", w, "--date", &today.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("zhang.li"), "{}", text(&out));
    assert!(
        text(&out).contains("按收款方式：现金 ¥10.00"),
        "{}",
        text(&out)
    );
    let today = today.to_string();
    let out = run(&[
        "report", "cashier", "-c", w, "--date", &today, "--lang", "en",
    ]);
    assert!(
        text(&out).contains("by channel: cash ¥10.00"),
        "{}",
        text(&out)
    );

    // Commands against a node that is not running say so.
    h.stop("W01").expect("stop");
    let out = run(&["status", "-c", w]);
    assert!(!out.status.success());
    assert!(text(&out).contains("守护进程是否在运行"), "{}", text(&out));
    let out = run(&["status", "-c", w, "--lang", "en"]);
    assert!(
        text(&out).contains("is the daemon running"),
        "{}",
        text(&out)
    );
}

/// Hole 9: opening a damaged store logged a redb panic backtrace before the clear refusal.
/// Damaged copies of a real store on which redb panics (caught: a refusal) are found
/// in-process, then a daemon is started on each, with backtraces on. The daemon reads only
/// the file's identity before it serves and checks every table beside the work: a copy whose
/// identity is damaged is refused at start, saying the store is damaged; one whose tables
/// are damaged is found by the table check, which `lifeline status` reports, and the node then
/// saves nothing more (a write is refused with the reason). Never a panic or a backtrace.
#[test]
fn a_damaged_store_is_refused_without_a_panic_backtrace() {
    use lifeline_core::desk::NewPatient;
    use lifeline_core::record::{InsuranceType, Sex};
    use lifeline_core::store::{FileDamage, OpenCheck};
    use lifeline_core::{NodeName, OpenError, Operator, OperatorName, Store, StoreOptions};

    let dir = tempfile::tempdir().expect("dir");
    let specs = [NodeSpec::new("central", NodeRole::Central, &[], &[])];
    let h = Hospital::create(&bin(), dir.path(), &specs, quick()).expect("hospital");
    let config = h.config("central").expect("config").clone();
    std::fs::create_dir_all(&config.node.data_dir).expect("data dir");
    let path = config.store_path();
    let opts = |check: OpenCheck| {
        let mut o = StoreOptions::new(NodeName::new("central").expect("valid"), NodeRole::Central);
        o.open_check = check;
        o
    };
    {
        let store = Store::open(&path, opts(OpenCheck::Full)).expect("open");
        let reg = Operator::new(
            OperatorName::new("reg1").expect("valid"),
            DeskRole::Registration,
        );
        for i in 0..40 {
            store
                .create_patient(
                    &reg,
                    NewPatient {
                        patient_no: None,
                        name: format!("患者{i}"),
                        sex: Sex::Female,
                        birth_date: "2019-05-04".parse().expect("date"),
                        phone: "13800138000".into(),
                        national_id: None,
                        insurance: InsuranceType::Resident,
                        guardian: None,
                    },
                )
                .expect("create");
        }
    }
    let bytes = std::fs::read(&path).expect("read");
    let step = bytes.len() / 192 + 1;
    // (the damaged bytes, whether a deferred open gets past the file's identity)
    let mut panicking: Vec<(Vec<u8>, bool)> = Vec::new();
    for offset in (0..bytes.len()).step_by(step) {
        let mut damaged = bytes.clone();
        for b in damaged.iter_mut().skip(offset).take(64) {
            *b ^= 0x5a;
        }
        let probe = dir.path().join("probe.redb");
        std::fs::write(&probe, &damaged).expect("write");
        if let Err(OpenError::Corrupt {
            damage: FileDamage::EnginePanicked,
            ..
        }) = Store::open(&probe, opts(OpenCheck::Full))
        {
            let deferred = Store::open(&probe, opts(OpenCheck::Deferred)).is_ok();
            panicking.push((damaged, deferred));
        }
        let _ = std::fs::remove_file(&probe);
    }
    let later: Vec<&Vec<u8>> = panicking
        .iter()
        .filter(|(_, d)| *d)
        .map(|(b, _)| b)
        .collect();
    let at_start: Vec<&Vec<u8>> = panicking
        .iter()
        .filter(|(_, d)| !*d)
        .map(|(b, _)| b)
        .collect();
    assert!(
        !later.is_empty(),
        "no damaged copy gets past a deferred open: the table check is not reached"
    );
    let cfg = h.config_path("central").expect("config path");
    let cfg = cfg.to_str().expect("utf-8");
    let log_path = dir.path().join("damaged.log");
    for damaged in later.iter().take(2).chain(at_start.iter().take(2)) {
        std::fs::write(&path, damaged).expect("write");
        let _ = std::fs::remove_file(config.node.data_dir.join("ready.json"));
        let log = std::fs::File::create(&log_path).expect("log");
        let mut child = Command::new(bin())
            .args(["daemon", "-c", cfg])
            .env("RUST_BACKTRACE", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run lifeline");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let exited = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            let said = std::fs::read_to_string(&log_path).unwrap_or_default();
            let serving = config.node.data_dir.join("ready.json").exists();
            if said.contains("the store is damaged") && serving {
                break None;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon neither refused the store nor found its damage:\n{said}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        match exited {
            Some(status) => {
                let said = std::fs::read_to_string(&log_path).unwrap_or_default();
                assert!(!status.success(), "{said}");
                assert!(said.contains("damaged"), "{said}");
            }
            None => {
                let status = run(&["status", "-c", cfg, "--json"]);
                let report: Value = serde_json::from_slice(&status.stdout)
                    .unwrap_or_else(|e| panic!("status json: {e}: {}", text(&status)));
                assert_eq!(report["store"]["check"]["state"], "damaged", "{report}");
                let words = text(&run(&["status", "-c", cfg]));
                assert!(words.contains("存储文件已损坏"), "{words}");
                let refused = h
                    .admin("central")
                    .expect("admin")
                    .post::<_, Value>(
                        "/admin/emergency/start",
                        &json!({ "reason": "演练", "drill": true }),
                    )
                    .expect_err("a damaged store saves nothing");
                assert!(
                    refused.to_string().contains("503") && refused.to_string().contains("damaged"),
                    "{refused}"
                );
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let stopped = child.wait().expect("wait");
                assert!(stopped.success() || stopped.code().is_some(), "{stopped}");
            }
        }
        let said = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert!(
            !said.contains("panicked at") && !said.contains("stack backtrace"),
            "{said}"
        );
    }
}

/// A stolen window PC, as the information department handles it from the command line: its
/// operators removed, its certificate revoked at the CA and handed to central; central then
/// refuses it at the handshake and takes nothing more from it, and says so in its audit.
#[test]
fn a_stolen_window_is_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let specs = [
        NodeSpec::new("central", NodeRole::Central, &[], &[]),
        NodeSpec::new(
            "W01",
            NodeRole::Window,
            &[DeskRole::Registration],
            &["central"],
        ),
    ];
    let mut h = Hospital::create(&bin(), dir.path(), &specs, quick()).expect("hospital");
    h.start_all().expect("start");
    let c = h.config_path("central").expect("config");
    let w = h.config_path("W01").expect("config");
    let (c, w) = (c.to_str().expect("utf-8"), w.to_str().expect("utf-8"));
    h.wait_for("W01 connected", Duration::from_secs(60), |h| {
        Ok(h.status("central")?
            .peers
            .iter()
            .any(|p| p.name == "W01" && p.connected))
    })
    .expect("connected");

    // The window's operators go first: their tokens were on the PC.
    let out = run(&[
        "operator",
        "add",
        "-c",
        w,
        "--name",
        "clerk.a",
        "--desk",
        "registration",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("已添加操作员 clerk.a（挂号岗位）；令牌（仅显示这一次）"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("控制台初始化码"), "{}", text(&out));
    let out = run(&[
        "operator", "add", "-c", w, "--name", "clerk.b", "--desk", "cashier",
    ]);
    assert!(
        !out.status.success(),
        "a desk the certificate does not name: {}",
        text(&out)
    );
    assert!(text(&out).contains("certificate"), "{}", text(&out));
    let out = run(&["operator", "remove", "-c", w, "--name", "clerk.a"]);
    assert!(
        out.status.success() && text(&out).contains("已移除操作员 clerk.a"),
        "{}",
        text(&out)
    );
    let out = run(&["operator", "list", "-c", w]);
    assert!(!text(&out).contains("clerk.a"), "{}", text(&out));

    // Nothing refused yet.
    let out = run(&["quarantine", "list", "-c", c]);
    assert!(
        out.status.success() && text(&out).contains("隔离区为空"),
        "{}",
        text(&out)
    );

    // Revoked at the CA, handed to central in the same command.
    let pki = dir.path().join("pki");
    let out = run(&[
        "ca",
        "revoke",
        "--dir",
        pki.to_str().expect("utf-8"),
        "--name",
        "W01",
        "--reason",
        "PC stolen from the hall",
        "-c",
        c,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("已接收该吊销"), "{}", text(&out));
    assert!(text(&out).contains("已吊销 W01"), "{}", text(&out));
    h.wait_for("central drops W01", Duration::from_secs(30), |h| {
        Ok(!h
            .status("central")?
            .peers
            .iter()
            .any(|p| p.name == "W01" && p.connected))
    })
    .expect("dropped");
    // It stays out: its redials are refused at the handshake.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !h.status("central")
            .expect("status")
            .peers
            .iter()
            .any(|p| p.name == "W01" && p.connected),
        "a revoked window connected again"
    );
    // Handing it over again changes nothing.
    let file = pki.join("W01.revoked.json");
    let out = run(&[
        "--lang",
        "en",
        "revoke",
        "-c",
        c,
        "--file",
        file.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success() && text(&out).contains("already held"),
        "{}",
        text(&out)
    );
    let audit: Vec<serde_json::Value> = h
        .admin("central")
        .expect("admin")
        .get("/admin/audit?action=revocation.")
        .expect("audit");
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit.iter().all(|e| e["actor"] == "admin"));
}

/// The operator's friction, tried as a new user would: the admin token survives a restart
/// (scripts keep working) and changes only when rotated; a certificate valid for 0 days is
/// refused; the daemon's human log has no colour codes when it goes to a file.
#[test]
fn the_admin_token_is_stable_expired_certificates_are_refused_and_logs_have_no_colour() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = dir.path().join("pki0");
    let pki_s = pki.to_str().expect("utf-8");
    assert!(run(&["ca", "init", "--dir", pki_s]).status.success());
    let out = run(&[
        "ca", "issue", "--dir", pki_s, "--name", "W05", "--role", "window", "--days", "0",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--days"), "{}", text(&out));
    assert!(
        !pki.join("W05.pem").exists(),
        "no expired certificate written"
    );

    let specs = [NodeSpec::new(
        "W01",
        NodeRole::Window,
        &[DeskRole::Registration],
        &[],
    )];
    let mut h = Hospital::create(&bin(), dir.path(), &specs, quick()).expect("hospital");
    h.start("W01").expect("start");
    let w = h.config_path("W01").expect("config");
    let w = w.to_str().expect("utf-8");
    let token_path = h.config("W01").expect("config").admin_token_path();
    let first = std::fs::read_to_string(&token_path).expect("admin.token");
    h.stop("W01").expect("stop");
    h.start("W01").expect("restart");
    let second = std::fs::read_to_string(&token_path).expect("admin.token");
    assert_eq!(first, second, "the admin token survives a restart");
    assert!(run(&["status", "-c", w]).status.success());
    let out = run(&["operator", "rotate-admin-token", "-c", w]);
    assert!(out.status.success(), "{}", text(&out));
    let third = std::fs::read_to_string(&token_path).expect("admin.token");
    assert_ne!(third, first, "rotated");
    let old = h.admin("W01").expect("client").with_token(first.trim());
    assert!(
        old.get::<serde_json::Value>("/admin/status").is_err(),
        "the old token is refused"
    );
    assert!(
        run(&["status", "-c", w]).status.success(),
        "the CLI uses the new one"
    );
    h.stop("W01").expect("stop");
    let log = std::fs::read_to_string(dir.path().join("W01.log")).expect("log");
    assert!(log.contains("lifeline daemon ready"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log file: {log}");
}

/// `--help` is in the reader's language: Chinese by default, English with `--lang en` or
/// `LIFELINE_LANG=en`, for the command list and each subcommand's line; a language without
/// a catalog is refused in both.
#[test]
fn the_help_is_in_the_readers_language() {
    let out = run(&["--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let zh = text(&out);
    for part in [
        "用法：lifeline",
        "命令:",
        "运行节点",
        "恢复演练",
        "显示帮助",
    ] {
        assert!(zh.contains(part), "{part} missing from\n{zh}");
    }
    assert!(!zh.contains("Usage:"), "{zh}");
    let out = run(&["ca", "issue", "-h"]);
    assert!(
        text(&out).contains("签发由 CA 签名的节点证书"),
        "{}",
        text(&out)
    );
    let out = run(&["--lang", "en", "--help"]);
    let en = text(&out);
    assert!(
        en.contains("Usage: lifeline") && en.contains("Run a node"),
        "{en}"
    );
    let out = Command::new(bin())
        .args(["backup", "--help"])
        .env("LIFELINE_LANG", "en")
        .output()
        .expect("run lifeline");
    assert!(
        text(&out).contains("Write a consistent snapshot"),
        "{}",
        text(&out)
    );
    // A language without a catalog is refused in both.
    let out = Command::new(bin())
        .args(["status"])
        .env("LIFELINE_LANG", "fr")
        .output()
        .expect("run lifeline");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("LIFELINE_LANG=\"fr\" 不是 Lifeline 支持的语言")
            && text(&out).contains("is not a language Lifeline speaks"),
        "{}",
        text(&out)
    );
    // A command line the parser refuses is said in the reader's language too, with the
    // parser's own words as the detail.
    for (args, says) in [
        (&["status", "--bogus"][..], "不认识的参数 --bogus"),
        (&["stauts"][..], "没有这个命令：stauts"),
        (
            &["conflicts", "--format", "pdf"][..],
            "参数 --format <FORMAT> 不能取值 pdf",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains(says) && text(&out).contains("命令行有误"),
            "{args:?}: {}",
            text(&out)
        );
    }
    let out = run(&["--lang", "en", "status", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("unexpected argument '--bogus'") && !text(&out).contains("命令行"),
        "{}",
        text(&out)
    );
}
