//! The desk console end to end: real daemons on loopback, Debian's headless Chromium driven
//! over CDP (`headless_chrome`), every desk's flow worked with the keyboard the way staff
//! would. Screenshots of each page and PDFs of each printout are written under
//! `target/tmp/console/` for a person to look at; the PDFs are checked for their paper size
//! and text with poppler's `pdfinfo`/`pdftotext`.
//!
//! - `registration_triage_doctor_pharmacy_through_an_outage`: central goes in the middle of
//!   a registration; the page keeps working, the banner turns to the episode without a
//!   reload, the slip carries the YJ number; triage holds and restores it; the doctor page
//!   says history is not available, and the doctor prescribes and orders a blood count by
//!   pinyin initials; the pharmacy prints the emergency prescription (name in red, 应急) and
//!   its dispense is refused with the reason; the cashier sees the doctor's order and settles
//!   it in the episode.
//! - `cashier_and_information_department`: a shift's next invoice number shown before use,
//!   the doctor's order of a service item settled after an insurance failure as self-pay,
//!   the re-settlement date on the receipt and the re-settlement notice printed on its own,
//!   the invoice printed, voided with a reason; the information department's page and its
//!   conflict review report in Chinese.
//! - `log_in_lock_out_csrf_and_audit` (HTTP only): cookie flags, wrong passwords lock the
//!   name, a form without the session's CSRF token is refused, another desk's page and
//!   forms are refused, every attempt is audited, English on request.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::types::PrintToPdfOptions;
use headless_chrome::{Browser, LaunchOptions, Tab};
use lifeline_core::OperatorName;
use lifeline_core::{DeskRole, NodeRole};
use lifeline_node::api::admin::{AddedOperator, NewOperator};
use lifeline_node::api::status::StatusReport;
use lifeline_node::config::Thresholds;
use lifeline_node::hospital::{Hospital, NodeSpec};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);

/// One hospital at a time: two at once on a 2-core machine make failovers spurious.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
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

const ALL_DESKS: [DeskRole; 5] = [
    DeskRole::Registration,
    DeskRole::Triage,
    DeskRole::Doctor,
    DeskRole::Cashier,
    DeskRole::Pharmacy,
];

/// Where a person finds the screenshots and PDFs.
fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).expect("target/tmp/console");
    dir
}

fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "headless Chromium is required on CI (Debian package `chromium`)"
        );
        eprintln!("NOTICE: /usr/bin/chromium not found: the console's browser tests did not run");
    }
    found
}

/// A hospital whose `window` serves every desk, catalogs imported, ranges leased.
fn hospital(dir: &Path, with_window: bool) -> anyhow::Result<Hospital> {
    let mut specs = vec![NodeSpec::new("central", NodeRole::Central, &[], &[])];
    if with_window {
        specs.push(NodeSpec::new(
            "standby",
            NodeRole::Standby,
            &[],
            &["central"],
        ));
        specs.push(NodeSpec::new(
            "W01",
            NodeRole::Window,
            &ALL_DESKS,
            &["central", "standby"],
        ));
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_lifeline"));
    let mut h = Hospital::create(&bin, dir, &specs, thresholds())?;
    h.start_all()?;
    let root = env!("CARGO_MANIFEST_DIR");
    let data = |f: &str| std::fs::read_to_string(format!("{root}/../data/{f}"));
    let body = json!({
        "drugs_csv": data("drugs.csv")?,
        "services_csv": data("services.csv")?,
        "departments_csv": data("departments.csv")?,
    });
    h.wait_for("central's API", PATIENCE, |h| {
        Ok(h.status("central").is_ok())
    })?;
    h.admin("central")?
        .post::<_, Value>("/admin/catalog/import", &body)?;
    let node = if with_window { "W01" } else { "central" };
    h.wait_for("catalogs and ranges", PATIENCE, |h| {
        let s: StatusReport = h.status(node)?;
        let catalogs = s
            .store
            .records_by_kind
            .iter()
            .any(|(k, n)| k == "service_catalog" && *n > 0);
        let series: Vec<&str> = s.ranges.iter().map(|r| r.series.name()).collect();
        Ok(catalogs
            && (!with_window
                || (series.contains(&"emergency_registration") && series.contains(&"invoice"))))
    })?;
    Ok(h)
}

/// Adds a console operator with a password on `node`.
fn operator(h: &Hospital, node: &str, name: &str, desk: DeskRole) -> anyhow::Result<String> {
    let password = format!("pw-{name}-2026");
    let body = NewOperator {
        name: OperatorName::new(name)?,
        desk,
        valid_for_s: None,
        password: Some(password.clone()),
    };
    let added: AddedOperator = h.admin(node)?.post("/admin/operators", &body)?;
    ensure!(added.setup_code.is_none(), "a password was given");
    Ok(password)
}

fn api_base(h: &Hospital, node: &str) -> anyhow::Result<String> {
    Ok(format!("http://{}", h.config(node)?.api.listen))
}

struct Console {
    browser: Browser,
    _profile: tempfile::TempDir,
}

impl Console {
    fn launch(chromium: &Path) -> anyhow::Result<Console> {
        let profile = tempfile::tempdir()?;
        let args: Vec<&OsStr> = [
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--lang=zh-CN",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        let options = LaunchOptions {
            headless: true,
            sandbox: false,
            path: Some(chromium.to_path_buf()),
            user_data_dir: Some(profile.path().to_path_buf()),
            window_size: Some((1280, 900)),
            idle_browser_timeout: Duration::from_secs(180),
            args,
            ..LaunchOptions::default()
        };
        let browser = Browser::new(options).context("cannot start headless Chromium")?;
        Ok(Console {
            browser,
            _profile: profile,
        })
    }

    /// A fresh tab (its own cookies come from the browser profile: one profile per desk).
    fn tab(&self) -> anyhow::Result<std::sync::Arc<Tab>> {
        let tab = self.browser.new_tab()?;
        tab.set_default_timeout(Duration::from_secs(30));
        Ok(tab)
    }
}

fn eval(tab: &Tab, js: &str) -> anyhow::Result<Value> {
    Ok(tab.evaluate(js, false)?.value.unwrap_or(Value::Null))
}

fn eval_str(tab: &Tab, js: &str) -> anyhow::Result<String> {
    Ok(eval(tab, js)?.as_str().unwrap_or_default().to_owned())
}

fn wait_until(tab: &Tab, what: &str, js: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if eval(tab, js)? == Value::Bool(true) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{what} did not happen within {PATIENCE:?} (page {})",
        tab.get_url()
    )
}

/// Waits for a page at a path starting with `path` to have loaded.
fn wait_page(tab: &Tab, path: &str) -> anyhow::Result<()> {
    wait_until(
        tab,
        &format!("the page {path}"),
        &format!("location.pathname.startsWith({path:?}) && document.readyState === 'complete'"),
    )
}

/// Logs in with the keyboard only: the name field has the focus; Tab; the password; Enter.
fn log_in(
    tab: &Tab,
    base: &str,
    name: &str,
    password: &str,
    desk_path: &str,
) -> anyhow::Result<()> {
    tab.navigate_to(&format!("{base}/console/login"))?
        .wait_until_navigated()?;
    ensure!(
        eval_str(tab, "document.activeElement.id")? == "name",
        "the name field has the focus on the log-in page"
    );
    tab.type_str(name)?.press_key("Tab")?;
    tab.type_str(password)?.press_key("Enter")?;
    wait_page(tab, desk_path)
}

/// What every page promises: a label for every field, a visible focus, the banner.
fn check_page(tab: &Tab) -> anyhow::Result<()> {
    let unlabeled = eval_str(
        tab,
        "Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))\
         .filter(e => !(e.id && document.querySelector('label[for=\"' + e.id + '\"]')))\
         .map(e => e.name || '?').join(',')",
    )?;
    ensure!(
        unlabeled.is_empty(),
        "fields without a label on {}: {unlabeled}",
        tab.get_url()
    );
    let focus = eval_str(
        tab,
        "document.activeElement && document.activeElement !== document.body ? \
         getComputedStyle(document.activeElement).outlineStyle : 'no-focus'",
    )?;
    ensure!(
        focus != "none",
        "the focused element shows no outline on {}",
        tab.get_url()
    );
    ensure!(
        eval(tab, "!!document.getElementById('banner')")? == Value::Bool(true),
        "no banner on {}",
        tab.get_url()
    );
    Ok(())
}

/// Moves the focus to `selector` once the page has settled (autofocus runs on load), as a
/// person tabbing to it would.
fn focus(tab: &Tab, selector: &str) -> anyhow::Result<()> {
    wait_until(
        tab,
        &format!("the focus on {selector}"),
        &format!(
            "document.readyState === 'complete' && !!document.querySelector({selector:?}) && \
             (document.querySelector({selector:?}).focus(), document.activeElement === document.querySelector({selector:?}))"
        ),
    )
}

fn screenshot(tab: &Tab, name: &str) -> anyhow::Result<()> {
    let png = tab.capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)?;
    std::fs::write(out_dir().join(format!("{name}.png")), png)?;
    Ok(())
}

/// Prints the page to PDF with its own page size; checks the paper and the text.
fn print_pdf(tab: &Tab, name: &str, width_mm: f64, texts: &[&str]) -> anyhow::Result<()> {
    let pdf = tab.print_to_pdf(Some(PrintToPdfOptions {
        prefer_css_page_size: Some(true),
        print_background: Some(true),
        ..PrintToPdfOptions::default()
    }))?;
    let path = out_dir().join(format!("{name}.pdf"));
    std::fs::write(&path, pdf)?;
    let Ok(info) = Command::new("pdfinfo").arg(&path).output() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "pdfinfo (Debian package poppler-utils) is required on CI"
        );
        eprintln!("NOTICE: pdfinfo not found: {name}.pdf was not checked");
        return Ok(());
    };
    let info = String::from_utf8_lossy(&info.stdout);
    let size = info
        .lines()
        .find_map(|l| l.strip_prefix("Page size:"))
        .context("pdfinfo printed no page size")?;
    let width_pt: f64 = size
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .context("page width")?;
    let width = width_pt / 72.0 * 25.4;
    ensure!(
        (width - width_mm).abs() < 2.0,
        "{name}.pdf is {width:.1} mm wide, not {width_mm} mm ({size})"
    );
    let text = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .context("pdftotext")?;
    let text = String::from_utf8_lossy(&text.stdout);
    for t in texts {
        ensure!(text.contains(t), "{name}.pdf lacks {t:?}:\n{text}");
    }
    ensure!(
        !text.contains("退出登录") && !text.contains("主节点"),
        "{name}.pdf printed the page's header or banner:\n{text}"
    );
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|p| p.trim().parse::<u32>().ok())
        .unwrap_or(0);
    ensure!(pages == 1, "{name}.pdf has {pages} pages, not 1");
    Ok(())
}

fn banner_state(tab: &Tab) -> anyhow::Result<String> {
    eval_str(tab, "document.getElementById('banner').dataset.state")
}

#[test]
fn registration_triage_doctor_pharmacy_through_an_outage() -> anyhow::Result<()> {
    let Some(chromium) = chromium() else {
        return Ok(());
    };
    let _serial = serial();
    let dir = tempfile::tempdir()?;
    let mut h = hospital(dir.path(), true)?;
    let base = api_base(&h, "W01")?;
    // A known patient, registered before the outage through the desks' API.
    let reg_api = h.desk("W01", DeskRole::Registration)?;
    let patient: Value = reg_api.post(
        "/patients",
        &json!({ "name": "王小明", "sex": "male", "birth_date": "2023-05-20",
                 "phone": "13800138000", "insurance": "resident",
                 "guardian": { "name": "王大明", "relationship": "父亲", "phone": "13900139000" } }),
    )?;
    let card = patient["value"]["patient_no"]
        .as_str()
        .context("patient_no")?
        .to_owned();
    let passwords: Vec<(DeskRole, String)> = [
        (DeskRole::Registration, "reg1"),
        (DeskRole::Triage, "nurse1"),
        (DeskRole::Doctor, "doc1"),
        (DeskRole::Pharmacy, "pharm1"),
        (DeskRole::Cashier, "cash1"),
    ]
    .into_iter()
    .map(|(d, n)| operator(&h, "W01", n, d).map(|p| (d, p)))
    .collect::<anyhow::Result<_>>()?;
    let console = Console::launch(&chromium)?;

    // Registration, by keyboard only.
    let tab = console.tab()?;
    log_in(
        &tab,
        &base,
        "reg1",
        &passwords[0].1,
        "/console/registration",
    )?;
    ensure!(banner_state(&tab)? == "normal", "the banner starts normal");
    ensure!(eval_str(&tab, "document.activeElement.id")? == "number");
    check_page(&tab)?;
    screenshot(&tab, "01-registration-search")?;
    tab.type_str(&card)?.press_key("Enter")?;
    wait_until(
        &tab,
        "the patient found",
        "document.activeElement.id === 'department'",
    )?;
    check_page(&tab)?;
    screenshot(&tab, "02-registration-patient")?;
    // Central goes in the middle of the registration: the page stays, the banner changes.
    eval(&tab, "window.__still_here = true")?;
    h.kill("central")?;
    wait_until(
        &tab,
        "the banner shows the episode",
        "document.getElementById('banner').dataset.state === 'emergency'",
    )?;
    ensure!(
        eval(&tab, "window.__still_here === true")? == Value::Bool(true),
        "the banner changed without a reload"
    );
    let banner_text = eval_str(&tab, "document.getElementById('banner').textContent")?;
    ensure!(
        banner_text.contains("应急") && banner_text.contains("预计等级"),
        "{banner_text}"
    );
    screenshot(&tab, "03-registration-banner-emergency")?;
    tab.type_str("PED-GEN")?.press_key("Enter")?;
    wait_page(&tab, "/console/print/slip/")?;
    let regno = eval_str(&tab, "document.getElementById('regno').textContent")?;
    ensure!(
        regno.starts_with("YJ"),
        "the slip's number {regno} is an emergency one"
    );
    ensure!(
        eval_str(&tab, "document.activeElement.id")? == "print",
        "Enter prints"
    );
    check_page(&tab)?;
    screenshot(&tab, "04-registration-slip")?;
    print_pdf(&tab, "slip-80mm", 80.0, &[&regno, "王小明", "应急"])?;

    // Triage: the YJ visit is held and marked; restore it, then call it.
    let nurse = console.tab()?;
    log_in(&nurse, &base, "nurse1", &passwords[1].1, "/console/triage")?;
    check_page(&nurse)?;
    ensure!(
        eval(&nurse, "document.querySelectorAll('tr.held').length")? == json!(1),
        "the emergency visit is held"
    );
    screenshot(&nurse, "05-triage-held")?;
    // The focused button is the held visit's restore: Enter.
    nurse.press_key("Enter")?;
    wait_until(
        &nurse,
        "the visit restored",
        "document.querySelectorAll('tr.held').length === 0 && document.readyState === 'complete'",
    )?;
    nurse.press_key("Enter")?;
    wait_until(
        &nurse,
        "the visit called",
        "document.body.textContent.includes('已叫号') && document.readyState === 'complete'",
    )?;
    screenshot(&nurse, "06-triage-called")?;

    // Doctor: history not available in the episode; prescribe by drug code.
    let doctor = console.tab()?;
    log_in(&doctor, &base, "doc1", &passwords[2].1, "/console/doctor")?;
    ensure!(
        eval_str(
            &doctor,
            "document.querySelector('.notice') ? document.querySelector('.notice').textContent : ''"
        )?
        .contains("无法查看既往病历"),
        "the doctor is told history is not available"
    );
    check_page(&doctor)?;
    doctor.press_key("Enter")?;
    wait_until(
        &doctor,
        "the visit opened",
        "document.activeElement.id === 'drug0'",
    )?;
    check_page(&doctor)?;
    screenshot(&doctor, "07-doctor-visit")?;
    // The catalog's first drug by the pinyin initials of its name: the drug search offers it
    // first, and the line names it alone.
    let first = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/drugs.csv"))?
        .lines()
        .nth(1)
        .context("a drug")?
        .to_owned();
    let fields: Vec<&str> = first.split(',').collect();
    let (code, name) = (fields[0], fields[1]);
    ensure!(
        name == "阿莫西林颗粒",
        "data/drugs.csv's first drug is {name}"
    );
    doctor.type_str("amxlkl")?;
    wait_until(
        &doctor,
        "the drug search's list",
        &format!(
            "!!document.querySelector('#drugs0 option') && \
             document.querySelector('#drugs0 option').value === {code:?}"
        ),
    )?;
    let offered = eval_str(&doctor, "document.querySelector('#drugs0 option').label")?;
    ensure!(offered.contains(name), "the list offers {offered}");
    screenshot(&doctor, "07b-doctor-drug-search")?;
    doctor.press_key("Tab")?.type_str("2")?.press_key("Tab")?;
    doctor.type_str("一日三次")?.press_key("Enter")?;
    wait_page(&doctor, "/console/print/prescription/")?;
    ensure!(
        eval_str(&doctor, "document.body.textContent")?.contains(name),
        "the prescription names {name}"
    );
    screenshot(&doctor, "08-doctor-prescription")?;
    // The doctor orders a blood count for the same visit, in the episode as prescribing was,
    // by the pinyin initials of 血常规: the service search offers it, the order is a charge.
    doctor
        .navigate_to(&format!("{base}/console/doctor"))?
        .wait_until_navigated()?;
    focus(&doctor, "a[href^='/console/doctor/visits/']")?;
    doctor.press_key("Enter")?;
    wait_until(
        &doctor,
        "the visit opened again",
        "document.activeElement.id === 'drug0'",
    )?;
    focus(&doctor, "#svc0")?;
    doctor.type_str("xcg")?;
    wait_until(
        &doctor,
        "the service search's list",
        "!!document.querySelector('#services0 option') && \
         document.querySelector('#services0 option').value === 'SVC-CBC'",
    )?;
    let offered = eval_str(&doctor, "document.querySelector('#services0 option').label")?;
    ensure!(
        offered.contains("血常规") && offered.contains("¥20.00"),
        "the list offers {offered}"
    );
    doctor.press_key("Tab")?.type_str("2")?.press_key("Enter")?;
    wait_until(
        &doctor,
        "the order confirmed",
        "!!document.getElementById('ordered') && document.readyState === 'complete'",
    )?;
    let ordered = eval_str(&doctor, "document.getElementById('ordered').textContent")?;
    ensure!(
        ordered.contains("血常规 ×2") && ordered.contains("¥40.00"),
        "the order is confirmed: {ordered}"
    );
    ensure!(
        eval_str(&doctor, "document.getElementById('orders').textContent")?.contains("待收费"),
        "the visit's orders list it, to be paid"
    );
    check_page(&doctor)?;
    screenshot(&doctor, "08b-doctor-order")?;

    // Pharmacy: the emergency prescription in red; printing allowed; dispensing refused.
    let pharmacy = console.tab()?;
    log_in(
        &pharmacy,
        &base,
        "pharm1",
        &passwords[3].1,
        "/console/pharmacy",
    )?;
    check_page(&pharmacy)?;
    let red = eval_str(
        &pharmacy,
        "getComputedStyle(document.querySelector('tr.emergency .patient-name')).color",
    )?;
    ensure!(
        red == "rgb(192, 0, 0)",
        "the emergency patient's name is red, not {red}"
    );
    screenshot(&pharmacy, "09-pharmacy-queue")?;
    pharmacy.press_key("Enter")?;
    wait_page(&pharmacy, "/console/print/prescription/")?;
    ensure!(
        eval_str(
            &pharmacy,
            "getComputedStyle(document.getElementById('rx-patient')).color"
        )? == "rgb(192, 0, 0)"
    );
    screenshot(&pharmacy, "10-pharmacy-prescription")?;
    print_pdf(
        &pharmacy,
        "prescription-a5",
        148.0,
        &["应急", "王小明", "处方笺"],
    )?;
    pharmacy
        .navigate_to(&format!("{base}/console/pharmacy"))?
        .wait_until_navigated()?;
    focus(&pharmacy, "form[action$='/dispense'] button")?;
    pharmacy.press_key("Enter")?;
    wait_until(
        &pharmacy,
        "the refusal",
        "!!document.querySelector('.problem') && document.readyState === 'complete'",
    )?;
    let refusal = eval_str(&pharmacy, "document.querySelector('.problem').textContent")?;
    ensure!(
        refusal.contains("按规则不能"),
        "dispense refused with the reason: {refusal}"
    );
    screenshot(&pharmacy, "11-pharmacy-dispense-refused")?;

    // Cashier: the doctor's order is among the patient's charges, and is settled in the
    // episode; its receipt is an emergency one.
    let cashier = console.tab()?;
    log_in(
        &cashier,
        &base,
        "cash1",
        &passwords[4].1,
        "/console/cashier",
    )?;
    focus(&cashier, "#number")?;
    cashier.type_str(&card)?.press_key("Enter")?;
    wait_until(
        &cashier,
        "the charges",
        "!!document.getElementById('charges') && document.readyState === 'complete'",
    )?;
    let row = "Array.from(document.querySelectorAll('#charges tbody tr'))\
               .find(r => r.textContent.includes('血常规'))";
    let listed = eval_str(&cashier, &format!("({row} || {{}}).textContent || ''"))?;
    ensure!(
        listed.contains("血常规 ×2") && listed.contains("¥40.00") && listed.contains("待收费"),
        "the cashier sees the order, to be paid: {listed}"
    );
    screenshot(&cashier, "11a-cashier-doctor-order")?;
    eval(
        &cashier,
        &format!(
            "(() => {{ const r = {row}; r.querySelector('select').value = 'cash'; \
             r.querySelector('form').requestSubmit(); }})()"
        ),
    )?;
    wait_page(&cashier, "/console/print/receipt/")?;
    let receipt = eval_str(
        &cashier,
        "document.querySelector('article.receipt').textContent",
    )?;
    ensure!(
        receipt.contains("血常规") && receipt.contains("¥40.00") && receipt.contains("应急"),
        "the receipt of the order, in the episode: {receipt}"
    );
    cashier
        .navigate_to(&format!("{base}/console/cashier?number={card}"))?
        .wait_until_navigated()?;
    let listed = eval_str(&cashier, &format!("({row} || {{}}).textContent || ''"))?;
    ensure!(listed.contains("已收费"), "the order is settled: {listed}");

    // The standby goes too: this window is on its own, and its banner says so; registering
    // still works. The tabs share one browser, so one cookie: the registrar logs in again
    // (the pharmacist's session would be refused the registration page), in the tab brought
    // to the front (a tab behind others gets no focus).
    h.kill("standby")?;
    tab.activate()?;
    log_in(
        &tab,
        &base,
        "reg1",
        &passwords[0].1,
        "/console/registration",
    )?;
    wait_until(
        &tab,
        "the banner shows the window isolated",
        "document.getElementById('banner').dataset.state === 'isolated'",
    )
    .with_context(|| {
        format!(
            "banner: {:?}; W01: {:?}",
            eval_str(&tab, "document.getElementById('banner').textContent"),
            h.status("W01")
                .map(|s| (s.mode.mode, s.mode.primary, s.peers))
        )
    })?;
    let banner_text = eval_str(&tab, "document.getElementById('banner').textContent")?;
    ensure!(banner_text.contains("隔离"), "{banner_text}");
    tab.type_str(&card)?.press_key("Enter")?;
    wait_until(
        &tab,
        "the patient found",
        "document.activeElement.id === 'department'",
    )?;
    tab.type_str("PED-RESP")?.press_key("Enter")?;
    wait_page(&tab, "/console/print/slip/")?;
    ensure!(eval_str(&tab, "document.getElementById('regno').textContent")?.starts_with("YJ"));
    screenshot(&tab, "11b-registration-isolated")?;
    Ok(())
}

#[test]
fn cashier_and_information_department() -> anyhow::Result<()> {
    let Some(chromium) = chromium() else {
        return Ok(());
    };
    let _serial = serial();
    let dir = tempfile::tempdir()?;
    let h = hospital(dir.path(), true)?;
    let base = api_base(&h, "W01")?;
    let reg = h.desk("W01", DeskRole::Registration)?;
    let patient: Value = reg.post(
        "/patients",
        &json!({ "name": "李子涵", "sex": "female", "birth_date": "2020-02-02",
                 "phone": "13700137000", "insurance": "employee" }),
    )?;
    let pid = patient["value"]["header"]["id"]
        .as_str()
        .context("id")?
        .to_owned();
    let card = patient["value"]["patient_no"]
        .as_str()
        .context("no")?
        .to_owned();
    let _visit: Value = reg.post(
        "/visits",
        &json!({ "patient": pid, "department": "PED-GEN" }),
    )?;
    let doctor_pw = operator(&h, "W01", "doc2", DeskRole::Doctor)?;
    let cashier_pw = operator(&h, "W01", "cash1", DeskRole::Cashier)?;
    let info_pw = operator(&h, "central", "info1", DeskRole::Admin)?;
    let console = Console::launch(&chromium)?;
    let tab = console.tab()?;
    // The doctor orders a urinalysis by its name; the cashier settles it below.
    log_in(&tab, &base, "doc2", &doctor_pw, "/console/doctor")?;
    tab.press_key("Enter")?;
    wait_until(
        &tab,
        "the visit opened",
        "document.activeElement.id === 'drug0'",
    )?;
    focus(&tab, "#svc0")?;
    tab.type_str("尿常规")?
        .press_key("Tab")?
        .press_key("Enter")?;
    wait_until(
        &tab,
        "the order confirmed",
        "!!document.getElementById('ordered') && document.readyState === 'complete'",
    )?;
    let ordered = eval_str(&tab, "document.getElementById('ordered').textContent")?;
    ensure!(
        ordered.contains("尿常规 ×1") && ordered.contains("¥12.00"),
        "{ordered}"
    );
    // The cashier, on this browser's one cookie from now on.
    log_in(&tab, &base, "cash1", &cashier_pw, "/console/cashier")?;
    // The shift: the stock in hand confirmed before the first invoice.
    ensure!(
        eval(&tab, "!!document.getElementById('code')")? == Value::Bool(true),
        "the shift form: {}",
        eval_str(&tab, "document.body.innerText")?
    );
    eval(
        &tab,
        "document.getElementById('code').value = '144031900111'; document.getElementById('code').form.requestSubmit()",
    )?;
    wait_until(
        &tab,
        "the shift started",
        "!!document.getElementById('next-invoice') && document.readyState === 'complete'",
    )?;
    let next = eval_str(&tab, "document.getElementById('next-invoice').textContent")?;
    check_page(&tab)?;
    tab.type_str(&card)?.press_key("Enter")?;
    wait_until(
        &tab,
        "the charges",
        "!!document.getElementById('charges') && document.readyState === 'complete'",
    )?;
    check_page(&tab)?;
    screenshot(&tab, "12-cashier-charges")?;
    // The doctor's order, beside the registration fee.
    let row = "Array.from(document.querySelectorAll('#charges tbody tr'))\
               .find(r => r.textContent.includes('尿常规'))";
    let listed = eval_str(&tab, &format!("({row} || {{}}).textContent || ''"))?;
    ensure!(
        listed.contains("¥12.00") && listed.contains("待收费"),
        "the cashier sees the doctor's order: {listed}"
    );
    let fee_charge = eval_str(
        &tab,
        "Array.from(document.querySelectorAll('#charges tbody tr'))\
         .find(r => !r.textContent.includes('尿常规')).dataset.charge",
    )?;
    // Insurance failed: paid in cash as self-pay; the receipt says when to re-settle.
    eval(
        &tab,
        &format!(
            "(() => {{ const r = {row}; r.querySelector('select').value = 'cash'; \
             r.querySelector('input[name=insurance_failed]').checked = true; \
             r.querySelector('form').requestSubmit(); }})()"
        ),
    )?;
    wait_page(&tab, "/console/print/receipt/")?;
    ensure!(eval(&tab, "!!document.getElementById('resettle-notice')")? == Value::Bool(true));
    ensure!(
        eval(&tab, "!!document.getElementById('resettle-link')")? == Value::Bool(true),
        "the receipt's page links the re-settlement notice"
    );
    screenshot(&tab, "13-cashier-receipt")?;
    print_pdf(
        &tab,
        "receipt-80mm",
        80.0,
        &["李子涵", "医保重新结算通知", "尿常规", "¥12.00"],
    )?;
    // The re-settlement notice, a printout of its own, linked from the cashier's page.
    tab.navigate_to(&format!("{base}/console/cashier?number={card}"))?
        .wait_until_navigated()?;
    focus(&tab, "#charges a.resettle")?;
    let charge = eval_str(
        &tab,
        "document.querySelector('#charges a.resettle').closest('tr').dataset.charge",
    )?;
    tab.press_key("Enter")?;
    wait_page(&tab, "/console/print/resettle/")?;
    check_page(&tab)?;
    let settled: Value = h
        .desk("W01", DeskRole::Cashier)?
        .get(&format!("/charges/{charge}"))?;
    let due = settled["resettle_due"]
        .as_str()
        .context("a due date outside an episode")?
        .to_owned();
    ensure!(
        eval_str(&tab, "document.getElementById('notice-due').textContent")?.trim() == due,
        "the notice's due date is the charge's, {due}"
    );
    screenshot(&tab, "13b-cashier-resettle-notice")?;
    print_pdf(
        &tab,
        "resettle-notice-80mm",
        80.0,
        &[
            "医保重新结算通知单",
            "李子涵",
            &card,
            "职工医保",
            "尿常规",
            "¥12.00",
            &due,
            "门诊收费窗口",
        ],
    )?;
    // A charge that owes no re-settlement has no notice.
    tab.navigate_to(&format!("{base}/console/print/resettle/{fee_charge}"))?
        .wait_until_navigated()?;
    ensure!(
        eval(
            &tab,
            "!!document.querySelector('.problem') && !document.querySelector('article.resettle')"
        )? == Value::Bool(true),
        "no notice for the registration fee"
    );
    tab.navigate_to(&format!("{base}/console/cashier?number={card}"))?
        .wait_until_navigated()?;
    focus(&tab, "form[action*='/invoice'] button")?;
    tab.press_key("Enter")?;
    wait_page(&tab, "/console/print/invoice/")?;
    let number = eval_str(
        &tab,
        "document.getElementById('invoice-number').textContent",
    )?;
    ensure!(
        next.contains(number.trim()),
        "the invoice {number} is the one shown before: {next}"
    );
    screenshot(&tab, "14-cashier-invoice")?;
    print_pdf(&tab, "invoice-a5", 210.0, &[number.trim(), "李子涵"])?;
    tab.navigate_to(&format!("{base}/console/cashier?number={card}"))?
        .wait_until_navigated()?;
    focus(&tab, "input[name=reason]")?;
    tab.type_str("打印错误")?.press_key("Enter")?;
    wait_until(
        &tab,
        "the invoice voided",
        "!!document.getElementById('voided') && document.readyState === 'complete'",
    )?;
    screenshot(&tab, "15-cashier-voided")?;

    let info = console.tab()?;
    // The information department works at central (cookies are per host, not port: this
    // log-in replaces the cashier's session in this browser).
    log_in(
        &info,
        &api_base(&h, "central")?,
        "info1",
        &info_pw,
        "/console/info",
    )?;
    check_page(&info)?;
    screenshot(&info, "16-information-department")?;
    // The worklist's items in the page's language, from core's codes, not its English.
    let page = eval_str(&info, "document.body.innerText")?;
    ensure!(
        page.contains("医保待重新结算：李子涵 · 医保结算失败，已按自费收取 ¥12.00；须于")
            && !page.contains("self-pay"),
        "the worklist is not in Chinese:\n{page}"
    );
    focus(&info, "#conflicts-link")?;
    info.press_key("Enter")?;
    wait_page(&info, "/console/info/conflicts")?;
    ensure!(eval(&info, "!!document.getElementById('conflicts')")? == Value::Bool(true));
    check_page(&info)?;
    screenshot(&info, "17-information-department-conflicts")?;
    // The conflict review report, as `lifeline conflicts --format html` writes it, in the
    // operator's language: Chinese.
    info.navigate_to(&format!(
        "{}/console/info/reports/conflicts",
        api_base(&h, "central")?
    ))?
    .wait_until_navigated()?;
    wait_page(&info, "/console/info/reports/conflicts")?;
    ensure!(eval_str(&info, "document.documentElement.lang")? == "zh-CN");
    let heading = eval_str(&info, "document.querySelector('h1').textContent")?;
    ensure!(heading == "冲突审核报告", "the report's heading: {heading}");
    screenshot(&info, "18-information-department-conflict-report")?;
    Ok(())
}

/// A plain HTTP client that keeps no cookies and follows no redirects.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into()
}

fn set_cookies(resp: &ureq::http::Response<ureq::Body>) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|c| {
        c.split(';')
            .next()?
            .strip_prefix(&format!("{name}="))
            .map(str::to_owned)
    })
}

#[test]
fn log_in_lock_out_csrf_and_audit() -> anyhow::Result<()> {
    let _serial = serial();
    let dir = tempfile::tempdir()?;
    let h = hospital(dir.path(), false)?;
    let base = api_base(&h, "central")?;
    let password = operator(&h, "central", "reg9", DeskRole::Registration)?;
    let a = agent();
    let page = a.get(&format!("{base}/console/login")).call()?;
    let cookies = set_cookies(&page);
    let login_token = cookie_value(&cookies, "ll_login").context("log-in cookie")?;
    let login = |name: &str, pw: &str, token: &str| {
        a.post(&format!("{base}/console/login"))
            .header("cookie", &format!("ll_login={login_token}"))
            .send_form([("name", name), ("password", pw), ("csrf", token)])
    };
    // The log-in form's own token must match its cookie.
    ensure!(login("reg9", &password, "forged")?.status() == 403);
    let ok = login("reg9", &password, &login_token)?;
    ensure!(
        ok.status() == 303,
        "a right password logs in: {}",
        ok.status()
    );
    let cookies = set_cookies(&ok);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("ll_session="))
        .context("session cookie")?;
    ensure!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let sid = cookie_value(&cookies, "ll_session").context("sid")?;
    // A form without the session's CSRF token is refused, and nothing is written.
    let forged = a
        .post(&format!("{base}/console/registration/patients"))
        .header("cookie", &format!("ll_session={sid}"))
        .send_form([
            ("csrf", "not-the-token"),
            ("name", "张三"),
            ("sex", "male"),
            ("birth_date", "2020-01-01"),
            ("phone", "13800000000"),
            ("insurance", "self_pay"),
        ])?;
    ensure!(forged.status() == 403, "CSRF refused: {}", forged.status());
    let found: Value = h
        .desk("central", DeskRole::Registration)?
        .get("/patients?name=%E5%BC%A0%E4%B8%89")?;
    ensure!(
        found["patients"].as_array().is_some_and(Vec::is_empty),
        "nothing written: {found}"
    );
    // Another desk's page is refused.
    let other = a
        .get(&format!("{base}/console/cashier"))
        .header("cookie", &format!("ll_session={sid}"))
        .call()?;
    ensure!(other.status() == 403, "{}", other.status());
    // Nor may it order a doctor's service items, even with its own session's form token.
    let mut own = a
        .get(&format!("{base}/console/registration"))
        .header("cookie", &format!("ll_session={sid}"))
        .call()?;
    let own = own.body_mut().read_to_string()?;
    let token = own
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the page's CSRF field")?;
    let mut order = a
        .post(&format!("{base}/console/doctor/visits/any/order"))
        .header("cookie", &format!("ll_session={sid}"))
        .send_form([("csrf", token), ("svc0", "SVC-CBC"), ("svcqty0", "1")])?;
    let status = order.status();
    let said = order.body_mut().read_to_string()?;
    ensure!(
        status == 403 && said.contains("本岗位无权"),
        "a registrar may not order service items (refused for the desk, not the token): \
         {status} {said}"
    );
    // English on request.
    let mut en = a
        .get(&format!("{base}/console/registration"))
        .header("cookie", &format!("ll_session={sid}; ll_lang=en"))
        .call()?;
    ensure!(en.body_mut().read_to_string()?.contains("Card number"));
    // An operator removed is logged out of the console at once, like their token.
    let _: Value = h.admin("central")?.delete("/admin/operators/reg9")?;
    let gone = a
        .get(&format!("{base}/console/registration"))
        .header("cookie", &format!("ll_session={sid}"))
        .call()?;
    ensure!(
        gone.status() == 303
            && gone
                .headers()
                .get("location")
                .is_some_and(|l| l == "/console/login"),
        "a removed operator's session ends: {}",
        gone.status()
    );
    operator(&h, "central", "reg9", DeskRole::Registration)?;
    // Five wrong passwords lock the name, even for the right one.
    for _ in 0..5 {
        ensure!(login("reg9", "wrong-password", &login_token)?.status() == 401);
    }
    let locked = login("reg9", &password, &login_token)?;
    ensure!(locked.status() == 429, "locked: {}", locked.status());
    // Every attempt is in the audit chain.
    let entries: Value = h
        .admin("central")?
        .get("/admin/audit?action=console.&limit=100")?;
    let actions: Vec<&str> = entries
        .as_array()
        .or_else(|| entries["entries"].as_array())
        .context("audit entries")?
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "console.login",
        "console.login_failed",
        "console.locked",
        "console.login_refused",
    ] {
        ensure!(actions.contains(&action), "{action} audited: {actions:?}");
    }
    ensure!(
        actions
            .iter()
            .filter(|a| **a == "console.login_failed")
            .count()
            == 5
    );
    Ok(())
}
