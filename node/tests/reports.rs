//! The review and outage reports, end to end, with the real `lifeline` binary against real
//! daemons on loopback.
//!
//! Central and two registration windows (each dialling only central, so that without it they
//! cannot see each other). Central is killed (SIGKILL): both windows open an emergency
//! episode on their own, each corrects the same patient's phone number differently and each
//! registers the same child (one national id). Central comes back and both windows reach it.
//! Then, through the CLI: `lifeline conflicts` in JSON, text and HTML (the HTML opened in
//! headless Chromium when installed), `lifeline resolve` and `lifeline merge-patients` (the
//! conflicts close on central, then on both windows by replication; the audit trail has the
//! decisions), and `lifeline episode list|report` (grade IV, both windows, records per kind,
//! worklist progress).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use lifeline_core::{DeskRole, NodeRole};
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::{Hospital, NodeSpec};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_lifeline");
const WAIT: Duration = Duration::from_secs(60);
const NATIONAL_ID: &str = "11010520210314003X";
const PHONE_W01: &str = "13811112222";
const PHONE_W02: &str = "13933334444";

/// Runs the CLI; the output whatever the exit status.
/// Runs the CLI as staff would: in its default language (Chinese), whatever the environment
/// running the tests says.
fn cli(args: &[&str]) -> anyhow::Result<Output> {
    Command::new(BIN)
        .args(args)
        .env_remove("LIFELINE_LANG")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run lifeline {args:?}"))
}

/// Runs the CLI and requires success; its standard output.
fn cli_ok(args: &[&str]) -> anyhow::Result<String> {
    let out = cli(args)?;
    ensure!(
        out.status.success(),
        "lifeline {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn id_of(v: &Value) -> anyhow::Result<String> {
    v["value"]["header"]["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no record id in {v}"))
}

fn twin() -> Value {
    json!({
        "name": "林小雨", "sex": "female", "birth_date": "2021-03-14", "phone": "13912345678",
        "national_id": NATIONAL_ID, "insurance": "resident",
    })
}

/// The conflicts a node reports (through its API, as the CLI reads them).
fn conflicts_of(h: &Hospital, node: &str) -> anyhow::Result<Value> {
    h.admin(node)?.get("/admin/conflicts")
}

fn find<'a>(report: &'a Value, id: &str) -> Option<&'a Value> {
    report["conflicts"]
        .as_array()?
        .iter()
        .find(|c| c["id"].as_str() == Some(id))
}

fn status_of<'a>(report: &'a Value, id: &str) -> &'a str {
    find(report, id)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("absent")
}

#[test]
fn conflict_and_outage_reports_through_the_cli() {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("lifeline-reports-")
        .tempdir()
        .expect("temp dir");
    let specs = vec![
        NodeSpec::new("central", NodeRole::Central, &[], &[]),
        NodeSpec::new(
            "W01",
            NodeRole::Window,
            &[DeskRole::Registration],
            &["central"],
        ),
        NodeSpec::new(
            "W02",
            NodeRole::Window,
            &[DeskRole::Registration],
            &["central"],
        ),
    ];
    let thresholds = Thresholds {
        heartbeat: Duration::from_millis(200),
        peer_timeout: Duration::from_secs(1),
        emergency_after: Duration::from_secs(2),
        low_water: 50,
        lease_size: 1000,
    };
    let mut h = Hospital::create(Path::new(BIN), dir.path(), &specs, thresholds).expect("hospital");
    let result = scenario(&mut h, dir.path());
    if let Err(e) = &result {
        for name in h.names() {
            let log =
                std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("----- {name}.log (last lines) -----");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        panic!("{e:#}");
    }
    for name in h.names() {
        h.stop(&name).expect("clean stop");
    }
    eprintln!(
        "reports scenario took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

fn scenario(h: &mut Hospital, dir: &Path) -> anyhow::Result<()> {
    h.start_all()?;
    h.admin("central")?.post::<_, Value>(
        "/admin/catalog/import",
        &json!({
            "drugs_csv": include_str!("../../data/drugs.csv"),
            "services_csv": include_str!("../../data/services.csv"),
            "departments_csv": include_str!("../../data/departments.csv"),
        }),
    )?;
    h.wait_for("catalogs and number ranges at both windows", WAIT, |h| {
        for w in ["W01", "W02"] {
            let s = h.status(w)?;
            let catalogs = s
                .store
                .records_by_kind
                .iter()
                .any(|(k, n)| k == "service_catalog" && *n > 0);
            if !catalogs || s.ranges.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    let reg1 = h.desk("W01", DeskRole::Registration)?;
    let reg2 = h.desk("W02", DeskRole::Registration)?;

    // A patient registered before the outage, known to both windows.
    let shared = id_of(&reg1.post::<_, Value>(
        "/patients",
        &json!({
            "name": "王小明", "sex": "male", "birth_date": "2019-06-01",
            "phone": "13800138000", "insurance": "self_pay",
        }),
    )?)?;
    h.wait_for("the patient at W02", WAIT, |_| {
        Ok(reg2.get::<Value>(&format!("/patients/{shared}")).is_ok())
    })?;

    // Central fails: the windows are cut off from it and from each other.
    h.kill("central")?;
    h.wait_for(
        "both windows isolated, in an emergency episode",
        WAIT,
        |h| {
            for w in ["W01", "W02"] {
                let s = h.status(w)?;
                if s.mode.mode != "isolated" || s.episode.is_none() {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )?;
    let a = id_of(&reg1.post::<_, Value>("/patients", &twin())?)?;
    let b = id_of(&reg2.post::<_, Value>("/patients", &twin())?)?;
    for (desk, patient) in [(&reg1, &a), (&reg2, &b)] {
        desk.post::<_, Value>(
            "/visits",
            &json!({ "patient": patient, "department": "PED-GEN" }),
        )?;
    }
    reg1.patch::<_, Value>(
        &format!("/patients/{shared}"),
        &json!({ "phone": PHONE_W01 }),
    )?;
    reg2.patch::<_, Value>(
        &format!("/patients/{shared}"),
        &json!({ "phone": PHONE_W02 }),
    )?;

    // Central is back: both windows upload to it.
    h.start("central")?;
    let field_id = format!("field:{shared}:phone");
    let duplicate_id = if a < b {
        format!("duplicate:{a}:{b}")
    } else {
        format!("duplicate:{b}:{a}")
    };
    h.wait_for("both conflicts on central", WAIT, |h| {
        let r = conflicts_of(h, "central")?;
        Ok(status_of(&r, &field_id) == "open" && status_of(&r, &duplicate_id) == "open")
    })?;
    h.wait_for("the windows reconciled and out of the episode", WAIT, |h| {
        for w in ["W01", "W02"] {
            let s = h.status(w)?;
            if s.episode.is_some() || s.unreconciled > 0 || s.mode.mode != "normal" {
                return Ok(false);
            }
        }
        Ok(true)
    })?;

    let central_toml = h.config_path("central")?;
    let cfg = central_toml.to_str().context("config path")?;

    // --- lifeline conflicts --format json
    let report: Value =
        serde_json::from_str(&cli_ok(&["conflicts", "-c", cfg, "--format", "json"])?)?;
    ensure!(
        report["node"] == "central",
        "report node: {}",
        report["node"]
    );
    ensure!(
        report["open"].as_u64() >= Some(2),
        "open: {}",
        report["open"]
    );
    let field = find(&report, &field_id).context("the field conflict")?;
    ensure!(field["kind"] == "field_conflict" && field["field"] == "phone");
    let values = field["values"].as_array().context("values")?;
    ensure!(values.len() == 2, "two competing values: {values:?}");
    let mut seen: Vec<(String, String, String)> = values
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap_or("").to_owned(),
                v["node"].as_str().unwrap_or("").to_owned(),
                v["operator"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    seen.sort();
    ensure!(
        seen == vec![
            (
                format!("\"{PHONE_W01}\""),
                "W01".to_owned(),
                "registration-w01".to_owned()
            ),
            (
                format!("\"{PHONE_W02}\""),
                "W02".to_owned(),
                "registration-w02".to_owned()
            ),
        ],
        "competing values: {seen:?}"
    );
    ensure!(values.iter().all(|v| v["at_ms"].as_i64().is_some()));
    ensure!(
        field["subject"]
            .as_str()
            .is_some_and(|s| s.contains("王小明")),
        "subject: {}",
        field["subject"]
    );
    ensure!(field["automatic_decision"].is_string());
    ensure!(field["actions"].as_array().map(Vec::len) == Some(2));
    let w02_index = values
        .iter()
        .find(|v| v["node"] == "W02")
        .and_then(|v| v["index"].as_u64())
        .context("W02's value index")?;

    let dup = find(&report, &duplicate_id).context("the duplicate")?;
    ensure!(dup["kind"] == "duplicate_patient");
    let evidence = &dup["duplicate"];
    ensure!(
        evidence["matched"].as_array().is_some_and(|m| m
            .iter()
            .any(|k| k["key"] == "national_id" && k["value"] == NATIONAL_ID)),
        "matched keys: {}",
        evidence["matched"]
    );
    let patients = evidence["patients"].as_array().context("patients")?;
    ensure!(patients.len() == 2);
    let origins: Vec<&str> = patients
        .iter()
        .filter_map(|p| p["header"]["origin"].as_str())
        .collect();
    ensure!(
        origins.contains(&"W01") && origins.contains(&"W02"),
        "{origins:?}"
    );
    ensure!(patients.iter().all(|p| {
        p["name"] == "林小雨"
            && p["header"]["episode"]
                .as_str()
                .is_some_and(|e| e.starts_with("YJ-"))
    }));
    let merge = dup["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["action"] == "merge_patients"))
        .context("a merge action")?;
    let survivor = merge["survivor"].as_str().context("survivor")?.to_owned();
    let duplicate = merge["duplicate"].as_str().context("duplicate")?.to_owned();

    // --- text: Chinese by default, English with --lang en (or LIFELINE_LANG=en)
    let text = cli_ok(&["conflicts", "-c", cfg])?;
    for part in [
        field_id.as_str(),
        duplicate_id.as_str(),
        PHONE_W01,
        PHONE_W02,
        "registration-w01",
        "registration-w02",
        "冲突审核报告",
        "字段冲突",
        "疑似重复患者",
        "身份证号相同",
        "审核人可执行的操作",
        "林小雨",
        "lifeline resolve -c",
        "lifeline merge-patients -c",
    ] {
        ensure!(
            text.contains(part),
            "{part} missing from the text report:\n{text}"
        );
    }
    ensure!(
        !text.contains("same national id") && !text.contains("Field conflict"),
        "English in the Chinese report:\n{text}"
    );
    let english = cli_ok(&["conflicts", "-c", cfg, "--lang", "en"])?;
    let by_env = Command::new(BIN)
        .args(["conflicts", "-c", cfg])
        .env("LIFELINE_LANG", "en")
        .output()?;
    // The two reports are read moments apart: all but the time they were generated must match.
    let undated = |report: &str| -> String {
        report
            .lines()
            .filter(|l| !l.contains("generated"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    ensure!(
        by_env.status.success()
            && undated(&String::from_utf8_lossy(&by_env.stdout)) == undated(&english),
        "LIFELINE_LANG=en and --lang en differ:\n{}\n---\n{english}",
        String::from_utf8_lossy(&by_env.stdout)
    );
    for part in [
        "CONFLICT REVIEW REPORT",
        "Field conflict",
        "Duplicate patient",
        "same national id",
        "what a reviewer can do",
        "lifeline resolve -c",
    ] {
        ensure!(
            english.contains(part),
            "{part} missing from the English report:\n{english}"
        );
    }
    let json_in = |lang: &str| -> anyhow::Result<Value> {
        let mut v: Value = serde_json::from_str(&cli_ok(&[
            "conflicts",
            "-c",
            cfg,
            "--format",
            "json",
            "--lang",
            lang,
        ])?)?;
        v["generated_ms"] = Value::Null;
        Ok(v)
    };
    ensure!(
        json_in("zh")? == json_in("en")?,
        "the JSON report is the same in every language"
    );
    let bad = cli(&["conflicts", "-c", cfg, "--lang", "fr"])?;
    ensure!(
        !bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("fr"),
        "an unknown language is refused, naming it"
    );

    // --- html
    let html_path = dir.join("conflicts.html");
    let html_str = html_path.to_str().context("html path")?;
    cli_ok(&[
        "conflicts",
        "-c",
        cfg,
        "--format",
        "html",
        "--out",
        html_str,
    ])?;
    let html = std::fs::read_to_string(&html_path)?;
    let lower = html.to_lowercase();
    ensure!(lower.starts_with("<!doctype html>"));
    for banned in [
        "<script", "<link", "<img", "src=", "url(", "http://", "https://",
    ] {
        ensure!(!lower.contains(banned), "{banned} in the HTML report");
    }
    ensure!(lower.contains("@media print"));
    ensure!(html.contains(PHONE_W01) && html.contains(PHONE_W02) && html.contains("林小雨"));
    ensure!(
        html.contains("<html lang=\"zh-CN\">") && html.contains("<h1>冲突审核报告</h1>"),
        "the HTML report in Chinese"
    );
    chromium_renders(&html_path, dir, &[&field_id, &duplicate_id])?;
    // The node serves the same page to a browser: in the language asked for, else the
    // console's language cookie, else Chinese.
    let admin = h.admin("central")?;
    let page = |query: &str, cookie: Option<&str>| -> anyhow::Result<String> {
        let token = std::fs::read_to_string(h.config("central")?.admin_token_path())?;
        let url = format!(
            "http://{}/admin/conflicts{query}",
            h.config("central")?.api.listen
        );
        let mut request =
            ureq::get(&url).header("Authorization", format!("Bearer {}", token.trim()));
        if let Some(c) = cookie {
            request = request.header("Cookie", c);
        }
        Ok(request.call()?.into_body().read_to_string()?)
    };
    ensure!(page("?format=html", None)?.contains("<html lang=\"zh-CN\">"));
    ensure!(page("?format=html&lang=en", None)?.contains("<h1>Conflict review report</h1>"));
    ensure!(page("?format=html", Some("ll_lang=en"))?.contains("<html lang=\"en\">"));
    ensure!(page("?format=text&lang=zh", None)?.starts_with("冲突审核报告"));
    let _: Value = admin.get("/admin/conflicts?lang=en")?;
    ensure!(
        admin
            .get::<Value>("/admin/conflicts?format=pdf")
            .is_err_and(|e| e.to_string().contains("422")),
        "an unknown format is refused"
    );

    // --- decisions, by a reviewer under her own name (hole 10: they were the built-in
    // `admin`'s, and the audit could not say who decided)
    let token = cli_ok(&[
        "operator",
        "add",
        "-c",
        cfg,
        "--name",
        "wang.fang",
        "--desk",
        "admin",
        "--token-only",
    ])?;
    let token_path = dir.join("wang.fang.token");
    std::fs::write(&token_path, token.trim())?;
    let token_file = token_path.to_str().context("token path")?;
    let as_reviewer = ["--operator", "wang.fang", "--token-file", token_file];
    let unnamed = cli(&["resolve", "-c", cfg, &field_id, "--confirm"])?;
    ensure!(
        !unnamed.status.success(),
        "a decision without the reviewer's name is refused"
    );
    let built_in = dir.join("admin.token");
    std::fs::copy(h.config("central")?.admin_token_path(), &built_in)?;
    let as_admin = cli(&[
        "resolve",
        "-c",
        cfg,
        &field_id,
        "--confirm",
        "--operator",
        "admin",
        "--token-file",
        built_in.to_str().context("token path")?,
    ])?;
    ensure!(
        !as_admin.status.success()
            && String::from_utf8_lossy(&as_admin.stderr).contains("own name"),
        "the built-in administrator decides nothing: {}",
        String::from_utf8_lossy(&as_admin.stderr)
    );
    let impostor = cli(&[
        "resolve",
        "-c",
        cfg,
        &field_id,
        "--confirm",
        "--operator",
        "li.lei",
        "--token-file",
        token_file,
    ])?;
    ensure!(
        !impostor.status.success()
            && String::from_utf8_lossy(&impostor.stderr).contains("wang.fang's"),
        "a token is its owner's only: {}",
        String::from_utf8_lossy(&impostor.stderr)
    );
    let bad = cli(&[
        &["resolve", "-c", cfg, "field:nonsense", "--confirm"][..],
        &as_reviewer,
    ]
    .concat())?;
    ensure!(!bad.status.success(), "a bad conflict id is refused");
    ensure!(
        String::from_utf8_lossy(&bad.stderr).contains("conflict"),
        "the refusal names the conflict: {}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let wrong = cli(&[
        &["resolve", "-c", cfg, &duplicate_id, "--choose", "0"][..],
        &as_reviewer,
    ]
    .concat())?;
    ensure!(
        !wrong.status.success(),
        "choosing a value of a duplicate is refused"
    );
    let choice = w02_index.to_string();
    let out = cli_ok(
        &[
            &["resolve", "-c", cfg, &field_id, "--choose", &choice][..],
            &as_reviewer,
        ]
        .concat(),
    )?;
    ensure!(
        out.contains(&field_id) && out.contains(PHONE_W02),
        "resolve said: {out}"
    );
    let out = cli_ok(
        &[
            &[
                "merge-patients",
                "-c",
                cfg,
                "--survivor",
                &survivor,
                "--duplicate",
                &duplicate,
            ][..],
            &as_reviewer,
        ]
        .concat(),
    )?;
    ensure!(
        out.contains(&survivor) && out.contains("合并"),
        "merge-patients said: {out}"
    );

    let after: Value =
        serde_json::from_str(&cli_ok(&["conflicts", "-c", cfg, "--format", "json"])?)?;
    ensure!(after["open"] == 0, "open after review: {}", after["open"]);
    for id in [&field_id, &duplicate_id] {
        let c = find(&after, id).context("the decided conflict")?;
        ensure!(c["status"] == "resolved", "{id}: {}", c["status"]);
        ensure!(
            c["decision"]["operator"] == "wang.fang" && c["decision"]["node"] == "central",
            "{id} decided by {}",
            c["decision"]["operator"]
        );
    }
    for w in ["W01", "W02"] {
        h.wait_for(&format!("the decisions at {w}"), WAIT, |h| {
            let r = conflicts_of(h, w)?;
            Ok(r["open"] == 0
                && status_of(&r, &field_id) == "resolved"
                && status_of(&r, &duplicate_id) == "resolved")
        })?;
    }
    let p: Value = reg1.get(&format!("/patients/{shared}"))?;
    ensure!(
        p["phone"] == PHONE_W02,
        "the chosen phone at W01: {}",
        p["phone"]
    );
    let d: Value = reg2.get(&format!("/patients/{duplicate}"))?;
    ensure!(d["merged_into"] == survivor.as_str(), "merged at W02: {d}");

    let audit: Vec<Value> = h.admin("central")?.get("/admin/audit?action=review.")?;
    let actions: Vec<&str> = audit.iter().filter_map(|e| e["action"].as_str()).collect();
    ensure!(
        actions.contains(&"review.resolve") && actions.contains(&"review.merge"),
        "audited review actions: {actions:?}"
    );
    ensure!(
        audit.iter().all(|e| e["actor"] == "wang.fang"),
        "the audit says who decided: {audit:?}"
    );

    // A desk that is not the information department may not review.
    match reg1.get::<Value>("/admin/conflicts") {
        Ok(_) => bail!("a registration desk read the conflict report"),
        Err(e) => ensure!(e.to_string().contains("403"), "{e}"),
    }

    // --- the outage report
    let list = cli_ok(&["episode", "list", "-c", cfg])?;
    ensure!(list.contains("YJ-"), "episode list: {list}");
    let ep: Value = serde_json::from_str(&cli_ok(&[
        "episode", "report", "-c", cfg, "--format", "json",
    ])?)?;
    ensure!(ep["grade"] == "IV", "grade: {}", ep["grade"]);
    ensure!(ep["automatic"] == true && ep["opened_local"].is_string());
    let nodes: Vec<&str> = ep["nodes"]
        .as_array()
        .context("nodes")?
        .iter()
        .filter_map(|n| n["node"].as_str())
        .collect();
    ensure!(nodes == ["W01", "W02"], "nodes: {nodes:?}");
    ensure!(ep["nodes"].as_array().is_some_and(|n| {
        n.iter()
            .all(|n| n["service_catalog_version"].as_u64() >= Some(1))
    }));
    let count = |kind: &str| {
        ep["records"]["by_kind"]
            .as_array()
            .and_then(|k| k.iter().find(|k| k["kind"] == kind))
            .and_then(|k| k["count"].as_u64())
            .unwrap_or(0)
    };
    ensure!(
        count("patient") == 2 && count("visit") == 2,
        "records: {}",
        ep["records"]
    );
    let work = |category: &str| {
        ep["worklist"]
            .as_array()
            .and_then(|w| w.iter().find(|w| w["category"] == category))
            .map(|w| (w["open"].as_u64(), w["done"].as_u64()))
    };
    ensure!(
        work("restore_paused_visit") == Some((Some(2), Some(0))),
        "worklist: {}",
        ep["worklist"]
    );
    ensure!(work("merge_duplicate_patient") == Some((Some(0), Some(1))));
    ensure!(work("review_conflict") == Some((Some(0), Some(1))));
    ensure!(ep["conflicts"]["touching"] == 2 && ep["conflicts"]["open_in_hospital"] == 0);

    let ep_text = cli_ok(&["episode", "report", "-c", cfg])?;
    for part in [
        "故障报告",
        "IV",
        "W01",
        "W02",
        "恢复工作清单",
        "时间线",
        "应急期间收款",
    ] {
        ensure!(ep_text.contains(part), "{part} missing:\n{ep_text}");
    }
    let ep_english = cli_ok(&["episode", "report", "-c", cfg, "--lang", "en"])?;
    for part in [
        "OUTAGE REPORT",
        "IV",
        "W01",
        "W02",
        "Recovery worklist",
        "Timeline",
    ] {
        ensure!(ep_english.contains(part), "{part} missing:\n{ep_english}");
    }
    let list_english = cli_ok(&["episode", "list", "-c", cfg, "--lang", "en"])?;
    ensure!(
        list_english.contains("grade") && list.contains("等级"),
        "episode list: {list}\n{list_english}"
    );
    let ep_html_path = dir.join("episode.html");
    cli_ok(&[
        "episode",
        "report",
        "-c",
        cfg,
        "--id",
        ep["episode"].as_str().context("episode id")?,
        "--format",
        "html",
        "--out",
        ep_html_path.to_str().context("path")?,
    ])?;
    let ep_html = std::fs::read_to_string(&ep_html_path)?;
    ensure!(
        ep_html.contains("<html lang=\"zh-CN\">")
            && ep_html.contains("恢复工作清单")
            && !ep_html.contains("<script")
    );
    let none = cli(&["episode", "report", "-c", cfg, "--id", "YJ-nothing"])?;
    ensure!(!none.status.success(), "an unknown episode is an error");

    // Every format at once, as the demo writes them.
    let opts = lifeline_node::report::RenderOptions::default();
    let all = lifeline_node::report::fetch_all(&h.admin("central")?, &opts)?;
    all.write_to(&dir.join("all"))?;
    for f in [
        "conflicts.txt",
        "conflicts.json",
        "conflicts.html",
        "episode.txt",
        "episode.json",
        "episode.html",
    ] {
        ensure!(dir.join("all").join(f).exists(), "{f} written");
    }
    // To look at the reports this scenario produced: LIFELINE_KEEP_REPORTS=/some/dir.
    if let Some(keep) = std::env::var_os("LIFELINE_KEEP_REPORTS") {
        all.write_to(Path::new(&keep))?;
        std::fs::copy(&html_path, Path::new(&keep).join("conflicts-open.html"))?;
        std::fs::write(Path::new(&keep).join("conflicts-open.txt"), &text)?;
    }
    Ok(())
}

/// Opens the HTML report in headless Chromium and checks the rendered DOM. Without Chromium:
/// a failure on CI (which installs it), a notice on a developer's machine.
fn chromium_renders(html: &Path, dir: &Path, ids: &[&str]) -> anyhow::Result<()> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
    let Some(chromium) = chromium else {
        if std::env::var_os("CI").is_some() {
            bail!(
                "headless Chromium is required on CI (Debian package `chromium`) but /usr/bin/chromium is missing"
            );
        }
        eprintln!(
            "NOTICE: /usr/bin/chromium not found: the HTML report was not opened in a browser \
             (apt-get install chromium to run that part)"
        );
        return Ok(());
    };
    let profile = dir.join("chromium-profile");
    std::fs::create_dir_all(&profile)?;
    let url = format!("file://{}", html.canonicalize()?.display());
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start chromium")?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            bail!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output()?;
    let dom = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && dom.contains("</html>"),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        dom.matches("<section class=\"conflict open\"").count() >= 2,
        "conflict sections missing from the rendered DOM"
    );
    for id in ids {
        ensure!(
            dom.contains(&format!("data-conflict=\"{id}\"")),
            "{id} not rendered"
        );
    }
    for value in [
        PHONE_W01,
        PHONE_W02,
        "林小雨",
        "王小明",
        "registration-w01",
        "registration-w02",
        NATIONAL_ID,
    ] {
        ensure!(dom.contains(value), "{value} not rendered by chromium");
    }
    ensure!(
        dom.contains("<table class=\"evidence\">"),
        "duplicate evidence not rendered"
    );
    Ok(())
}
