//! The `lifeline` binary's commands, run as a user would: the CA, a daemon's refusals to
//! start, operators, status, emergency mode, catalogs and ranges.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use lifeline_core::{DeskRole, NodeRole};
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::{Hospital, NodeSpec};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lifeline"))
}

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
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
    assert!(text(&out).contains("names node W01"), "{}", text(&out));

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
    assert!(
        text(&out).contains("drug catalog version 1"),
        "{}",
        text(&out)
    );
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
    let out = run(&[
        "operator", "add", "-c", w, "--name", "x", "--desk", "janitor",
    ]);
    assert!(!out.status.success() && text(&out).contains("janitor"));

    // Status: the window reaches central, gets its ranges; JSON parses.
    h.wait_for(
        "W01 connected with its ranges",
        Duration::from_secs(60),
        |h| {
            let s = h.status("W01")?;
            Ok(s.peers.iter().any(|p| p.connected) && s.ranges.len() == 2)
        },
    )
    .expect("ready");
    let out = run(&["status", "-c", w, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(json["node"], "W01");
    assert_eq!(json["mode"]["mode"], "normal");
    assert_eq!(json["peers"][0]["name"], "central");
    let out = run(&["status", "-c", w]);
    assert!(text(&out).contains("mode NORMAL"), "{}", text(&out));

    // Reconciliation, watched: nothing outstanding on a healthy node.
    let out = run(&["reconcile", "-c", w, "--timeout", "60s"]);
    assert!(out.status.success(), "{}", text(&out));
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
    let out = run(&["status", "-c", w]);
    assert!(
        text(&out).contains("EMERGENCY episode YJ-"),
        "{}",
        text(&out)
    );
    let out = run(&["emergency", "stop", "-c", w]);
    assert!(
        out.status.success() && text(&out).contains("stopped"),
        "{}",
        text(&out)
    );

    // Ranges: central leases by hand; W01's report proves no gaps or duplicates.
    let out = run(&[
        "ranges", "lease", "-c", c, "--series", "invoice", "--holder", "W09", "--size", "10",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["ranges", "report", "-c", w]);
    assert!(
        text(&out).contains("no gaps, no duplicates"),
        "{}",
        text(&out)
    );

    // Commands against a node that is not running say so.
    h.stop("W01").expect("stop");
    let out = run(&["status", "-c", w]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("is the daemon running"),
        "{}",
        text(&out)
    );
}

/// Hole 9: opening a damaged store logged a redb panic backtrace before the clear refusal.
/// Damaged copies of a real store on which redb panics (caught: a refusal) are found
/// in-process, then a daemon is started on each: it refuses to start, saying the store is
/// damaged, and prints no panic and no backtrace, even with backtraces on.
#[test]
fn a_damaged_store_is_refused_without_a_panic_backtrace() {
    use lifeline_core::desk::NewPatient;
    use lifeline_core::record::{InsuranceType, Sex};
    use lifeline_core::store::FileDamage;
    use lifeline_core::{NodeName, OpenError, Operator, OperatorName, Store, StoreOptions};

    let dir = tempfile::tempdir().expect("dir");
    let specs = [NodeSpec::new("central", NodeRole::Central, &[], &[])];
    let h = Hospital::create(&bin(), dir.path(), &specs, quick()).expect("hospital");
    let config = h.config("central").expect("config").clone();
    std::fs::create_dir_all(&config.node.data_dir).expect("data dir");
    let path = config.store_path();
    let opts = || StoreOptions::new(NodeName::new("central").expect("valid"), NodeRole::Central);
    {
        let store = Store::open(&path, opts()).expect("open");
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
                    },
                )
                .expect("create");
        }
    }
    let bytes = std::fs::read(&path).expect("read");
    let step = bytes.len() / 48 + 1;
    let mut panicking = Vec::new();
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
        }) = Store::open(&probe, opts())
        {
            panicking.push(damaged);
        }
        let _ = std::fs::remove_file(&probe);
    }
    assert!(
        !panicking.is_empty(),
        "no damaged copy makes the storage engine panic: the test no longer reaches it"
    );
    let cfg = h.config_path("central").expect("config path");
    for damaged in panicking.iter().take(3) {
        std::fs::write(&path, damaged).expect("write");
        let out = Command::new(bin())
            .args(["daemon", "-c", cfg.to_str().expect("utf-8")])
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("run lifeline");
        let said = text(&out);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains("damaged"), "{said}");
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
        out.status.success() && text(&out).contains("removed"),
        "{}",
        text(&out)
    );
    let out = run(&["operator", "list", "-c", w]);
    assert!(!text(&out).contains("clerk.a"), "{}", text(&out));

    // Nothing refused yet.
    let out = run(&["quarantine", "list", "-c", c]);
    assert!(
        out.status.success() && text(&out).contains("empty"),
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
    assert!(text(&out).contains("took the revocation"), "{}", text(&out));
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
    let out = run(&["revoke", "-c", c, "--file", file.to_str().expect("utf-8")]);
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
