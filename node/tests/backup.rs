//! Backup, restore and the restore drill through the real `lifeline` binary: a backup while
//! the daemon runs and desks keep writing, `verify` passing on it, `restore` refused while the
//! daemon runs, a damaged store brought back from the backup (with a new incarnation), and
//! `verify` failing with a message — never a panic — on a damaged backup.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeline_core::desk::NewPatient;
use lifeline_core::record::{InsuranceType, Sex};
use lifeline_core::{DeskRole, NodeName, NodeRole, Operator, OperatorName, Store, StoreOptions};
use lifeline_node::api::admin::CatalogCsv;
use lifeline_node::client::Client;
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::{Hospital, NodeSpec};
use serde_json::{Value, json};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lifeline"))
}

/// Runs the binary in its default language (Chinese), whatever the environment says.
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

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn thresholds() -> Thresholds {
    Thresholds {
        heartbeat: Duration::from_millis(200),
        peer_timeout: Duration::from_secs(1),
        emergency_after: Duration::from_secs(2),
        low_water: 50,
        lease_size: 1000,
    }
}

fn new_patient(n: usize) -> Value {
    json!({
        "name": format!("患者 {n}"),
        "sex": if n.is_multiple_of(2) { "female" } else { "male" },
        "birth_date": format!("2019-{:02}-{:02}", n % 12 + 1, n % 28 + 1),
        "phone": format!("138{n:08}"),
        "insurance": "resident",
    })
}

fn create(desk: &Client, n: usize) -> String {
    let answer: Value = desk
        .post("/patients", &new_patient(n))
        .expect("create patient");
    assert_eq!(answer["durable"], true);
    answer["value"]["header"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Every patient of `ids` reads back through the desk, and the store takes a new one.
fn every_patient_there_and_one_more(desk: &Client, ids: &[String]) {
    for id in ids {
        let patient: Value = desk
            .get(&format!("/patients/{id}"))
            .expect("patient is there");
        assert_eq!(patient["header"]["id"], id.as_str());
    }
    create(desk, 999);
}

/// A hospital of one central in `dir`, started: with its config file and its store's path.
fn central_running(dir: &Path) -> (Hospital, PathBuf, PathBuf) {
    let specs = [NodeSpec::new("central", NodeRole::Central, &[], &[])];
    let mut h = Hospital::create(&bin(), dir, &specs, thresholds()).expect("hospital");
    h.start("central").expect("start");
    let config = h.config_path("central").expect("config");
    let store_path = h.store_path("central").expect("store path");
    (h, config, store_path)
}

fn incarnation(path: &Path) -> String {
    let opts = StoreOptions::new(NodeName::new("central").expect("valid"), NodeRole::Central);
    Store::open(path, opts)
        .expect("open store")
        .incarnation()
        .expect("incarnation")
}

#[test]
fn backup_while_running_verify_and_restore_a_damaged_store() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut h, config, store_path) = central_running(dir.path());
    let c = s(&config);

    let imported: Value = h
        .admin("central")
        .expect("admin")
        .post(
            "/admin/catalog/import",
            &CatalogCsv {
                drugs_csv: Some(include_str!("../../data/drugs.csv").into()),
                services_csv: Some(include_str!("../../data/services.csv").into()),
                departments_csv: Some(include_str!("../../data/departments.csv").into()),
            },
        )
        .expect("import catalogs");
    assert_eq!(imported["durable"], true);
    let desk = h
        .desk("central", DeskRole::Registration)
        .expect("registration desk");
    let mut before: Vec<String> = (0..5).map(|n| create(&desk, n)).collect();

    // A desk keeps writing while the backup runs.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (desk, acked, stop) = (desk.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 100;
            while !stop.load(Ordering::Relaxed) {
                let id = create(&desk, n);
                acked.lock().expect("lock").push(id);
                n += 1;
            }
        })
    };
    while acked.lock().expect("lock").len() < 3 {
        std::thread::sleep(Duration::from_millis(10));
    }
    before.extend(acked.lock().expect("lock").iter().cloned());
    let backup = dir.path().join("backups").join("central.redb");
    let started = Instant::now();
    let out = run(&["backup", "-c", c, "--out", s(&backup)]);
    let backup_took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("经由运行中的守护进程"),
        "{}",
        text(&out)
    );
    assert!(backup.exists());
    let sums = std::fs::read_to_string(format!("{}.sha256", backup.display())).expect("sha256");
    assert!(text(&out).contains(sums.split_whitespace().next().expect("sum")));
    eprintln!(
        "backup through the daemon took {backup_took:?}:\n{}",
        text(&out)
    );

    // A backup never overwrites.
    let out = run(&["backup", "-c", c, "--out", s(&backup)]);
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"), "{}", text(&out));

    // The drill passes.
    let scratch = dir.path().join("scratch");
    let started = Instant::now();
    let out = run(&["verify", s(&backup), "--scratch", s(&scratch)]);
    eprintln!("verify took {:?}:\n{}", started.elapsed(), text(&out));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("通过："), "{}", text(&out));
    assert!(text(&out).contains("节点 central"), "{}", text(&out));
    let out = run(&[
        "--lang",
        "en",
        "verify",
        s(&backup),
        "--scratch",
        s(&scratch),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("PASS"), "{}", text(&out));
    assert!(text(&out).contains("node central"), "{}", text(&out));
    let out = run(&["verify", s(&backup), "--scratch", s(&scratch), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    assert!(report["problems"].as_array().expect("problems").is_empty());
    assert!(report["records"].as_u64().expect("records") >= before.len() as u64 + 2);
    assert_eq!(
        std::fs::read_dir(&scratch).expect("scratch").count(),
        0,
        "the scratch copy is removed"
    );
    // "平时每月对全系统备份数据要进行模拟恢复一次": the drill is recorded on the node (date,
    // file, result, operator), and `status` stops warning about it.
    let status: Value = h
        .admin("central")
        .expect("admin")
        .get("/admin/status")
        .expect("status");
    assert_eq!(
        status["restore_drill"]["overdue"], true,
        "no drill yet: {status}"
    );
    let out = run(&[
        "verify",
        s(&backup),
        "--scratch",
        s(&scratch),
        "-c",
        c,
        "--operator",
        "zhang.li",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("恢复演练已记录：经由守护进程记录在该节点上"),
        "{}",
        text(&out)
    );
    let status: Value = h
        .admin("central")
        .expect("admin")
        .get("/admin/status")
        .expect("status");
    let last = &status["restore_drill"]["last"];
    assert_eq!(last["operator"], "zhang.li", "{status}");
    assert_eq!(last["passed"], true);
    assert_eq!(last["file"], s(&backup));
    assert_eq!(status["restore_drill"]["overdue"], false);
    let out = run(&["status", "-c", c]);
    assert!(
        text(&out).contains("恢复演练：最近一次于"),
        "{}",
        text(&out)
    );

    // Restore is refused while the daemon runs, and changes nothing.
    let out = run(&["restore", "-c", c, "--from", s(&backup)]);
    assert!(!out.status.success());
    assert!(text(&out).contains("stop the daemon"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));

    // Stopped: the store is damaged and refused; restore brings it back.
    h.stop("central").expect("stop");
    let old_incarnation = incarnation(&store_path);
    let mut bytes = std::fs::read(&store_path).expect("read store");
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i % 251) as u8;
    }
    std::fs::write(&store_path, &bytes).expect("damage the store");
    assert!(
        h.start("central").is_err(),
        "a damaged store must be refused"
    );
    let started = Instant::now();
    let out = run(&["restore", "-c", c, "--from", s(&backup)]);
    eprintln!("restore took {:?}:\n{}", started.elapsed(), text(&out));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("新的实例标识"), "{}", text(&out));
    let kept = PathBuf::from(format!("{}.before-restore", store_path.display()));
    assert_eq!(
        std::fs::read(&kept).expect("kept"),
        bytes,
        "the damaged file is kept"
    );
    assert_ne!(incarnation(&store_path), old_incarnation);

    h.start("central").expect("start after the restore");
    every_patient_there_and_one_more(&desk, &before);

    // With the daemon stopped, backup reads the store file directly.
    h.stop("central").expect("stop");
    let offline = dir.path().join("backups").join("offline.redb");
    let out = run(&["backup", "-c", c, "--out", s(&offline)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("守护进程已停止，直接读取数据库"),
        "{}",
        text(&out)
    );
    let out = run(&["verify", s(&offline), "--scratch", s(&scratch), "-c", c]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("直接写入该节点的数据库（其守护进程已停止）"),
        "{}",
        text(&out)
    );
    h.start("central").expect("start");
    let drills: Vec<Value> = h
        .admin("central")
        .expect("admin")
        .get("/admin/restore-drills")
        .expect("drills");
    assert_eq!(
        drills.last().map(|d| d["file"].clone()),
        Some(Value::from(s(&offline))),
        "{drills:?}"
    );
}

/// `lifeline compact`: refused while the daemon runs; with it stopped, the store comes back
/// smaller under the same incarnation (peers resend nothing) and holds every record.
#[test]
fn compact_gives_back_space_with_the_daemon_stopped_and_keeps_every_record() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut h, config, store_path) = central_running(dir.path());
    let c = s(&config);
    let desk = h
        .desk("central", DeskRole::Registration)
        .expect("registration desk");
    let ids: Vec<String> = (0..150).map(|n| create(&desk, n)).collect();

    let out = run(&["compact", "-c", c]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("未整理（保持原样）"), "{}", text(&out));
    assert!(text(&out).contains("stop the daemon"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));

    h.stop("central").expect("stop");
    let old_incarnation = incarnation(&store_path);
    let before = std::fs::metadata(&store_path).expect("store").len();
    let out = run(&["compact", "-c", c]);
    eprintln!("{}", text(&out));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("已整理"), "{}", text(&out));
    assert!(text(&out).contains("实例标识"), "{}", text(&out));
    let after = std::fs::metadata(&store_path).expect("store").len();
    assert!(after < before, "{after} bytes after, {before} before");
    assert_eq!(incarnation(&store_path), old_incarnation);

    h.start("central").expect("start after compacting");
    every_patient_there_and_one_more(&desk, &ids);
}

fn reg() -> Operator {
    Operator::new(
        OperatorName::new("reg1").expect("valid"),
        DeskRole::Registration,
    )
}

/// A way to damage a file, and its name.
type Damage = (&'static str, fn(&mut Vec<u8>));

#[test]
fn verify_fails_with_a_message_on_a_damaged_backup() {
    let dir = tempfile::tempdir().expect("dir");
    let opts = StoreOptions::new(NodeName::new("W01").expect("valid"), NodeRole::Window);
    let store = Store::open(dir.path().join("store.redb"), opts).expect("open");
    for n in 0..30 {
        store
            .create_patient(
                &reg(),
                NewPatient {
                    patient_no: None,
                    name: format!("患者 {n}"),
                    sex: Sex::Male,
                    birth_date: "2019-05-04".parse().expect("date"),
                    phone: "13800138000".into(),
                    national_id: None,
                    insurance: InsuranceType::Resident,
                    guardian: None,
                },
            )
            .expect("create");
    }
    let backup = dir.path().join("w01.redb");
    store.backup_to(&backup, &|_, _| {}).expect("backup");
    drop(store);
    let scratch = dir.path().join("scratch");
    let out = run(&["verify", s(&backup), "--scratch", s(&scratch)]);
    assert!(out.status.success(), "{}", text(&out));

    let good = std::fs::read(&backup).expect("read");
    let sums = PathBuf::from(format!("{}.sha256", backup.display()));
    let damages: [Damage; 3] = [
        // A few bytes in the middle of every page past the header: wherever redb put the
        // records (the file's layout changes with the schema), some of them are hit.
        ("bytes flipped in every page", |b: &mut Vec<u8>| {
            for page in (4096..b.len()).step_by(4096) {
                let mid = (page + 2048).min(b.len() - 16);
                for x in &mut b[mid..mid + 16] {
                    *x ^= 0xff;
                }
            }
        }),
        ("garbage over half the file", |b: &mut Vec<u8>| {
            let (from, to) = (b.len() / 4, b.len() * 3 / 4);
            for (i, x) in b[from..to].iter_mut().enumerate() {
                *x = (i % 253) as u8;
            }
        }),
        ("cut short", |b: &mut Vec<u8>| b.truncate(b.len() / 3)),
    ];
    for with_checksum_file in [true, false] {
        for (what, damage) in &damages {
            let mut bytes = good.clone();
            damage(&mut bytes);
            std::fs::write(&backup, &bytes).expect("write");
            if !with_checksum_file {
                let _ = std::fs::remove_file(&sums);
            }
            let out = run(&["verify", s(&backup), "--scratch", s(&scratch)]);
            let all = text(&out);
            eprintln!("--- verify, {what} (checksum file: {with_checksum_file}):\n{all}");
            assert!(
                !out.status.success(),
                "{what} (checksum file: {with_checksum_file}): {all}"
            );
            assert!(all.contains("未通过恢复演练"), "{what}: {all}");
            assert!(all.contains("未通过："), "{what}: {all}");
            assert!(!all.contains("panicked"), "{what}: {all}");
            assert_eq!(out.status.code(), Some(1), "{what}: {all}");
        }
    }

    let out = run(&["verify", s(&dir.path().join("missing.redb"))]);
    assert!(!out.status.success());
    assert!(text(&out).contains("missing.redb"), "{}", text(&out));
}
