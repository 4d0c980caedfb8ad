//! `lifeline demo` end to end: a whole local hospital through an outage, with its reports
//! (in Chinese, the default language; the story around them is told in English);
//! with `--stay` it keeps running, its desk consoles answer at the printed addresses, and
//! Ctrl-C (SIGINT) stops it with nothing left behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const STAYING: &str = "the hospital keeps running";

#[test]
fn the_demo_runs_a_hospital_through_an_outage_and_cleans_up() {
    let tmp = tempfile::tempdir().expect("dir");
    let reports = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifeline"))
        .args(["demo", "--patients", "3", "--stay", "--reports"])
        .arg(reports.path())
        .env("TMPDIR", tmp.path())
        .env_remove("LIFELINE_LANG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the demo");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stdout = String::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !stdout.contains(STAYING) {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                stdout.push_str(&line);
                stdout.push('\n');
            }
            Err(_) if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the demo did not stay running:\n{stdout}");
            }
            Err(_) => {}
        }
    }
    // The console of the registration window answers at the printed address.
    let address = stdout
        .lines()
        .find(|l| l.contains("log in as reg01"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("the registration console's address")
        .to_owned();
    let page = ureq::get(&format!("{address}console/login"))
        .call()
        .expect("the console answers")
        .body_mut()
        .read_to_string()
        .expect("page");
    assert!(page.contains("登录"), "{page}");
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = child.wait().expect("the demo ends after Ctrl-C");
    reader.join().expect("reader");
    while let Ok(line) = rx.try_recv() {
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "{stdout}\n{stderr}");
    for line in [
        "CENTRAL FAILS",
        "mode degraded, primary standby, emergency episode YJ-",
        "registered as YJ",
        "cannot be marked dispensed in the system until central has it",
        "reconciled:",
        "confirmed the invoice stock in hand",
        "expected grade",
        // What staff read comes out in Chinese (the default language): the cashier summary,
        // the range report, the status, the outage and conflict review reports.
        "收费汇总",
        "按收款方式：",
        "全院各节点的号段",
        "无缺号、无重号",
        "节点连接",
        "故障报告",
        "书面报告截止",
        "应急期间收款",
        "冲突审核报告",
        "字段冲突",
        "疑似重复患者",
        "the desk consoles (open in a browser)",
        "registration  log in as reg01",
        "admin         log in as info",
        "stopping the hospital",
        "all daemons stopped cleanly",
    ] {
        assert!(
            stdout.contains(line),
            "the demo did not say {line:?}:\n{stdout}"
        );
    }
    for file in ["conflicts.html", "conflicts.json", "episode.txt"] {
        assert!(reports.path().join(file).exists(), "{file} was not written");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("read").collect();
    assert!(left.is_empty(), "the demo left files behind: {left:?}");
}
