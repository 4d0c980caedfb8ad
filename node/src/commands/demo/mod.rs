//! `lifeline demo`: a whole local hospital on loopback, with an outage.
//!
//! With PostgreSQL installed, the hospital has its HIS too (the reference HIS, see
//! `his.rs`): central pulls the HIS's catalogs, patient master and morning; the desks find
//! the families there; the HIS database goes down first (the plan's trigger), and when it
//! returns the outage's records are pushed into its interface tables.
//!
//! Central, a standby and three windows (registration, cashier, pharmacy) run as real
//! daemons with certificates from a CA made for the occasion, in a temporary directory that
//! is removed at the end. A morning of desk traffic goes through the desks' API; central is
//! killed mid-morning (SIGKILL) and the windows keep working on the standby; the standby
//! reboots too for a moment, long enough for two desks to register the same child and correct
//! the same phone number without seeing each other; then the standby and central come back and
//! everything reconciles by itself. The status, the cashier's day by payment channel, the
//! range report of every node, the outage report and the conflict review report are printed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lifeline_core::{DeskRole, NodeRole};
use serde_json::{Value, json};

use crate::client::Client;
use crate::config::Thresholds;
use crate::error::chain;
use crate::hospital::{Hospital, NodeSpec};
use crate::report::RenderOptions;

mod desks;
mod his;

use desks::{Desks, id_of, visit};
use his::DemoHis;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the hospital's directory (certificates, configs, stores, logs) here instead of
    /// a temporary one that is removed at the end.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Also write the reports (text, JSON, HTML) into this directory.
    #[arg(long)]
    pub reports: Option<PathBuf>,
    /// Patients registered in each phase, at least 2 (default 12).
    #[arg(long, default_value_t = 12)]
    pub patients: usize,
    /// After the morning, keep the hospital running until Ctrl-C, so its desk consoles can be
    /// used in a browser; pressing Enter takes central down or brings it back.
    #[arg(long)]
    pub stay: bool,
    /// Run without the HIS even when PostgreSQL is installed.
    #[arg(long)]
    pub without_his: bool,
}

const WAIT: Duration = Duration::from_secs(60);

struct Clock {
    started: Instant,
}

impl Clock {
    fn say(&self, hospital_time: &str, what: &str) {
        println!(
            "[{hospital_time} +{:>5.1}s] {what}",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Runs the demo. Its story is told in English (for whoever evaluates Lifeline); the status,
/// reports and summaries it prints at the end are what staff read, in `lang`.
pub fn run(args: &DemoArgs, lang: crate::i18n::Lang) -> anyhow::Result<()> {
    // The outage's story needs two children in each phase (one is registered twice later).
    anyhow::ensure!(
        args.patients >= 2,
        "--patients must be at least 2 (the demo registers one child twice and edits another), not {}",
        args.patients
    );
    let temp;
    let dir = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("lifeline-demo-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let bin = std::env::current_exe().context("cannot find the lifeline binary")?;
    let clock = Clock {
        started: Instant::now(),
    };
    let servers = ["central", "standby"];
    let specs = vec![
        NodeSpec::new("central", NodeRole::Central, &[], &[]),
        NodeSpec::new("standby", NodeRole::Standby, &[], &["central"]),
        NodeSpec::new(
            "W01",
            NodeRole::Window,
            &[DeskRole::Registration, DeskRole::Triage],
            &servers,
        ),
        NodeSpec::new(
            "W02",
            NodeRole::Window,
            &[DeskRole::Cashier, DeskRole::Registration],
            &servers,
        ),
        NodeSpec::new(
            "W03",
            NodeRole::Window,
            &[DeskRole::Pharmacy, DeskRole::Doctor],
            &servers,
        ),
    ];
    let thresholds = Thresholds {
        heartbeat: Duration::from_millis(250),
        peer_timeout: Duration::from_millis(1500),
        emergency_after: Duration::from_secs(3),
        low_water: 50,
        lease_size: 1000,
    };
    let mut h = Hospital::create(&bin, &dir, &specs, thresholds)?;
    let mut his = if args.without_his {
        None
    } else {
        DemoHis::start(&dir)?
    };
    if let Some(his) = &his {
        h.set_his("central", his.section())?;
        h.set_his("standby", his.section())?;
        clock.say("07:00", &format!("the hospital's HIS (PostgreSQL on 127.0.0.1:{}): {} children in its patient master, this morning's first registrations, its interface tables (yj_*)", his.cluster.port(), his::PATIENTS));
    }
    clock.say("07:30", &format!("a local hospital in {}: central, standby, W01 (registration, triage), W02 (cashier), W03 (pharmacy, doctor)", dir.display()));
    h.start_all()?;
    clock.say(
        "07:31",
        "all five daemons are up (mutual TLS with the hospital CA, QUIC on loopback)",
    );

    if his.is_none() {
        let data = |f: &str| std::fs::read_to_string(f);
        let root = env!("CARGO_MANIFEST_DIR");
        let body = json!({
            "drugs_csv": data(&format!("{root}/../data/drugs.csv")).unwrap_or_else(|_| include_str!("../../../../data/drugs.csv").to_owned()),
            "services_csv": include_str!("../../../../data/services.csv"),
            "departments_csv": include_str!("../../../../data/departments.csv"),
        });
        h.admin("central")?
            .post::<_, Value>("/admin/catalog/import", &body)?;
    } else {
        h.wait_for(
            "the HIS's patient master on every window",
            Duration::from_secs(300),
            |h| {
                for w in ["W01", "W02", "W03"] {
                    let s = h.status(w)?;
                    let patients = s
                        .store
                        .records_by_kind
                        .iter()
                        .find(|(k, _)| k == "patient")
                        .map_or(0, |(_, n)| *n);
                    if patients < his::PATIENTS {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )?;
        let s = h.status("W01")?;
        clock.say("07:40", &format!("central pulled the HIS (catalogs with prices in fen exactly, {} patients with their guardians, the morning's registrations); every window has them: {} records on W01", his::PATIENTS, s.store.records));
    }
    h.wait_for("catalogs and number ranges at every window", WAIT, |h| {
        for w in ["W01", "W02", "W03"] {
            let s = h.status(w)?;
            let has_catalogs = s
                .store
                .records_by_kind
                .iter()
                .any(|(k, n)| k == "drug_catalog" && *n > 0);
            let needs_ranges = w != "W03";
            if !has_catalogs || (needs_ranges && s.ranges.is_empty()) {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    clock.say("07:45", "central imported the drug and service catalogs; every window has them, and its number ranges leased in advance");

    let desks = Desks::of(&h)?;
    let logins = console_logins(&h)?;
    print_logins(&h, &logins)?;
    // The cashier checks the invoice stock in hand against the range before the first
    // invoice: the window's first free range, code and first number confirmed.
    let first = h
        .status("W02")?
        .ranges
        .iter()
        .filter(|r| r.series.name() == "invoice")
        .map(|r| r.start)
        .min()
        .context("W02 holds no invoice range")?;
    desks.cashier.post::<_, Value>(
        "/cashier/shift",
        &json!({ "code": "144031900111", "first_number": first }),
    )?;
    clock.say(
        "07:50",
        &format!("the cashier at W02 confirmed the invoice stock in hand: code 144031900111 from number {first}"),
    );
    let mut morning = Vec::new();
    for n in 0..args.patients {
        morning.push(visit(&desks, &h, his.as_ref(), n, false)?);
    }
    desks
        .triage
        .post::<_, Value>(&format!("/visits/{}/call", morning[0].visit), &json!({}))?;
    for trip in morning.iter().take(args.patients / 2) {
        desks.pharmacy.post::<_, Value>(
            &format!("/prescriptions/{}/dispense", trip.prescription),
            &json!({}),
        )?;
    }
    clock.say("08:00-10:30", &format!("morning clinic: {} children registered, seen, charged, invoiced and dispensed (e.g. registration {})", morning.len(), morning[0].registration_no));

    if let Some(his) = his.as_mut() {
        his.cluster.stop()?;
        clock.say("10:30", "THE HIS DATABASE GOES DOWN");
        h.wait_for(
            "central to open an emergency episode and the windows to join it",
            WAIT,
            |h| Ok(h.status("W01")?.episode.is_some() && h.status("central")?.episode.is_some()),
        )?;
        clock.say("10:30", "central saw the HIS unreachable and opened an emergency episode; every window joined it (central itself is still up)");
    }
    h.kill("central")?;
    clock.say("10:31", "CENTRAL FAILS (SIGKILL): the HIS server is gone");
    h.wait_for(
        "the windows to notice and open an emergency episode",
        WAIT,
        |h| {
            // Every window, not only W01: a prescription written at W03 before it joined the
            // episode would be an ordinary one, and dispensed.
            for w in ["W01", "W02", "W03"] {
                let s = h.status(w)?;
                if s.mode.mode != "degraded" || s.episode.is_none() {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )?;
    let s = h.status("W01")?;
    clock.say(
        "10:31",
        &format!(
            "windows switched by themselves: mode {}, primary {}, emergency episode {}",
            s.mode.mode,
            s.mode.primary.as_deref().unwrap_or("none"),
            s.episode.as_ref().map(|e| e.id.as_str()).unwrap_or("?")
        ),
    );

    let mut outage = Vec::new();
    for n in args.patients..args.patients * 2 {
        outage.push(visit(&desks, &h, his.as_ref(), n, n % 4 == 0)?);
    }
    clock.say("10:35-11:40", &format!(
        "the windows kept working on the standby: {} more children, registered as {}… (paused at triage), invoices from the leased ranges, some insurance settlements failed and were taken as self-pay",
        outage.len(),
        outage[0].registration_no
    ));
    h.admin("W01")?.post::<_, Value>(
        "/admin/emergency/estimate",
        &json!({ "hours": 2, "cause": "HIS database server power supply failed" }),
    )?;
    let s = h.status("W01")?;
    clock.say(
        "11:00",
        &format!(
            "the information department estimated 2 h to recovery (cause: power supply): expected grade {}",
            s.episode.as_ref().map_or("?", |e| e.expected_grade.as_str())
        ),
    );
    match desks.pharmacy.post::<_, Value>(&format!("/prescriptions/{}/dispense", outage[0].prescription), &json!({})) {
        Ok(_) => bail!("an emergency prescription was dispensed in the system before central had it"),
        Err(e) => clock.say("11:00", &format!("pharmacy: drugs handed out on the printed slip; the system refuses to mark it dispensed yet: {}", short(&e.to_string()))),
    }

    // The standby reboots: W01 and W02 work alone for a moment.
    h.kill("standby")?;
    h.wait_for("the windows to be isolated", WAIT, |h| {
        Ok(h.status("W01")?.mode.mode == "isolated")
    })?;
    clock.say(
        "11:45",
        "the standby reboots too: windows are isolated and keep writing locally",
    );
    let twin = json!({
        "name": "林小雨", "sex": "female", "birth_date": "2021-03-14", "phone": "13912345678",
        "national_id": "11010520210314003X", "insurance": "resident",
    });
    let a = id_of(&desks.registration.post::<_, Value>("/patients", &twin)?)?;
    let w02_registration = h.desk("W02", DeskRole::Registration)?;
    let b = id_of(&w02_registration.post::<_, Value>("/patients", &twin)?)?;
    let shared = &morning[1].patient;
    patch(
        &desks.registration,
        shared,
        json!({ "phone": "13811112222" }),
    )?;
    patch(&w02_registration, shared, json!({ "phone": "13933334444" }))?;
    clock.say("11:46", &format!("meanwhile the same child was registered at W01 and at W02 ({a} / {b}), and both desks corrected another patient's phone number differently"));

    if let Some(his) = his.as_mut() {
        his.cluster.start()?;
        clock.say("12:00", "the HIS database is back");
    }
    h.start("standby")?;
    h.start("central")?;
    clock.say(
        "12:00",
        "the standby and central are back: replication resumes, emergency records first",
    );
    h.wait_for(
        "reconciliation (every emergency record acknowledged by central, episodes left)",
        Duration::from_secs(120),
        |h| {
            // The standby too: the episode closes (and its report is final) once every node
            // that joined it has left.
            for w in ["W01", "W02", "W03", "standby"] {
                let s = h.status(w)?;
                if s.episode.is_some()
                    || s.reconciling.is_some()
                    || s.unreconciled > 0
                    || s.mode.mode != "normal"
                {
                    return Ok(false);
                }
            }
            // And central's copy of the episode is closed, so that the report read from it
            // below is the final one: the node whose leaving closes the episode may be
            // another, and the closing reaches central by replication (the demo once read
            // an episode still "under way" there).
            let episodes: Vec<crate::report::outage::EpisodeLine> =
                h.admin("central")?.get("/admin/episodes")?;
            Ok(episodes.iter().all(|e| !e.open))
        },
    )?;
    clock.say("12:01", "reconciled: central holds every record written during the outage, and the windows left the episode by themselves");
    if let Some(his) = &his {
        h.wait_for(
            "the outage's records in the HIS's interface tables",
            Duration::from_secs(120),
            |h| {
                let pushed = h
                    .status("central")?
                    .his
                    .is_some_and(|his| his.health.pushed_since_up);
                Ok(pushed && his.interface_total()? > 0)
            },
        )?;
        clock.say(
            "12:02",
            &format!(
                "back to the HIS: central pushed the outage's records into its interface tables ({}), each keyed by Lifeline's id and a revision, for the HIS's import job",
                his.interface_rows()?
            ),
        );
    }

    for trip in &outage {
        desks.pharmacy.post::<_, Value>(
            &format!("/prescriptions/{}/dispense", trip.prescription),
            &json!({}),
        )?;
    }
    for trip in outage.iter().take(outage.len() / 2) {
        desks
            .triage
            .post::<_, Value>(&format!("/visits/{}/resume", trip.visit), &json!({}))?;
    }
    clock.say("12:10", "recovery: the pharmacy dispensed the emergency prescriptions in the system; triage restored half of the paused registrations");

    // Let the digests be compared (every 10 s once caught up), so the status can state
    // convergence as a fact rather than a guess.
    let proven = h.wait_for(
        "every peer of central to prove it holds the same records",
        Duration::from_secs(40),
        |h| {
            let s = h.status("central")?;
            Ok(s.peers
                .iter()
                .all(|p| p.connected && p.in_sync == Some(true) && p.to_send == 0))
        },
    );
    match proven {
        Ok(()) => clock.say(
            "12:11",
            "every node proved by digest that it holds exactly what central holds",
        ),
        Err(e) => clock.say(
            "12:11",
            &format!("convergence not proven yet: {}", chain(&*e)),
        ),
    }

    let offset = h.config("central")?.hospital.utc_offset;
    let today = offset.date(h.status("W02")?.generated_ms);
    let summary: lifeline_core::desk::CashierSummary = desks
        .cashier
        .get(&format!("/reports/cashier?date={today}"))?;
    println!("\n==================== lifeline report cashier (W02) ====================");
    print!("{}", crate::commands::report::render(&summary, lang));
    println!("\n==================== lifeline ranges report (central) ====================");
    print!(
        "{}",
        crate::commands::ranges::render(&h.admin("central")?.get("/admin/ranges/report")?, lang)
    );
    println!("\n==================== lifeline status (W01) ====================");
    print!(
        "{}",
        crate::commands::status::render(&h.status("W01")?, offset, lang)
    );
    println!("\n==================== lifeline status (central) ====================");
    print!(
        "{}",
        crate::commands::status::render(&h.status("central")?, offset, lang)
    );
    if his.is_some() {
        println!("\n==================== lifeline his status (central) ====================");
        let status: crate::api::his::HisStatus = h.admin("central")?.get("/admin/his/status")?;
        print!("{}", crate::commands::his::render(&status, offset, lang));
    }
    let opts = RenderOptions {
        utc_offset: offset,
        lang,
        ..RenderOptions::default()
    };
    let reports = crate::report::fetch_all(&h.admin("central")?, &opts)?;
    println!("\n==================== lifeline episode report ====================");
    print!("{}", reports.episode_text);
    println!("\n==================== lifeline conflicts ====================");
    print!("{}", reports.conflicts_text);
    if let Some(out) = &args.reports {
        reports.write_to(out)?;
        println!("\nreports written to {}", out.display());
    }
    if args.stay {
        stay(&mut h, &logins)?;
    }
    for name in h.names() {
        h.stop(&name)?;
    }
    clock.say(
        "12:15",
        "all daemons stopped cleanly (SIGTERM); the demo's directory is removed",
    );
    drop(h);
    Ok(())
}

/// A console log-in of the demo: the node, the operator, the password.
struct Login {
    node: &'static str,
    desk: DeskRole,
    name: &'static str,
    password: String,
}

/// One console operator per desk, on the window that serves it (the information department
/// at central), each with a fresh password.
fn console_logins(h: &Hospital) -> anyhow::Result<Vec<Login>> {
    let wanted = [
        ("W01", DeskRole::Registration, "reg01"),
        ("W01", DeskRole::Triage, "nurse01"),
        ("W02", DeskRole::Cashier, "cash02"),
        ("W03", DeskRole::Doctor, "doc03"),
        ("W03", DeskRole::Pharmacy, "pharm03"),
        ("central", DeskRole::Admin, "info"),
    ];
    let mut out = Vec::new();
    for (node, desk, name) in wanted {
        let password = crate::operators::new_token()?[..12].to_owned();
        let body = crate::api::admin::NewOperator {
            name: lifeline_core::OperatorName::new(name)?,
            desk,
            valid_for_s: None,
            password: Some(password.clone()),
        };
        let _: crate::api::admin::AddedOperator = h.admin(node)?.post("/admin/operators", &body)?;
        out.push(Login {
            node,
            desk,
            name,
            password,
        });
    }
    Ok(out)
}

fn print_logins(h: &Hospital, logins: &[Login]) -> anyhow::Result<()> {
    println!("\n==================== the desk consoles (open in a browser) ====================");
    for l in logins {
        println!(
            "{:<8} http://{}/  {:<13} log in as {:<8} password {}",
            l.node,
            h.config(l.node)?.api.listen,
            l.desk.name(),
            l.name,
            l.password
        );
    }
    println!();
    Ok(())
}

/// Keeps the hospital running until Ctrl-C (or the end of standard input); each Enter takes
/// central down, or brings it back, so a newcomer can work through an outage in a browser.
fn stay(h: &mut Hospital, logins: &[Login]) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Ctrl-C reaches the daemons too (the same process group); they stop cleanly on SIGINT.
    // The handler is in place before the stay is announced.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut interrupt = runtime.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    })?;
    let watcher = std::thread::spawn(move || {
        runtime.block_on(interrupt.recv());
        flag.store(true, Ordering::SeqCst);
    });
    let (lines, enter) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
            if lines.send(()).is_err() {
                return;
            }
        }
    });
    print_logins(h, logins)?;
    println!(
        "the hospital keeps running: press Enter to take central down (and again to bring it back); Ctrl-C stops everything"
    );
    let mut central_up = true;
    while !stop.load(Ordering::SeqCst) && !watcher.is_finished() {
        match enter.recv_timeout(Duration::from_millis(200)) {
            Ok(()) if central_up => {
                h.kill("central")?;
                central_up = false;
                println!(
                    "central is DOWN (SIGKILL): watch the banners turn to the emergency episode; Enter brings it back"
                );
            }
            Ok(()) => {
                h.start("central")?;
                central_up = true;
                println!(
                    "central is back: the windows reconcile by themselves; Enter takes it down again"
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // No more input (not a terminal): only Ctrl-C ends the stay.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    println!("stopping the hospital");
    Ok(())
}

fn patch(client: &Client, id: &str, body: Value) -> anyhow::Result<Value> {
    client.patch(&format!("/patients/{id}"), &body)
}

fn short(s: &str) -> &str {
    s.split(": ").last().unwrap_or(s)
}
