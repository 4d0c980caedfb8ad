//! Crash consistency: a window's writer process is killed with SIGKILL in the middle of a
//! stream of writes, several times over the same file. Every patient and every invoice the
//! process acknowledged before it died is in the store when it is reopened, no invoice number
//! is handed out twice across the crashes, the audit chain and the range report are intact,
//! and the store goes on working after each recovery. A crashed file that another node's
//! daemon tries to open is refused and left exactly as it was; a crashed file that is also
//! damaged is refused by name or answers, never panics.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lifeline_core::record::{Invoice, Patient};
use lifeline_core::{NodeRole, OpenError, RecordId, RecordKind, Store};
use lifeline_tests::damage::{Refusal, open_damaged};
use lifeline_tests::{confirm_next_stock, lease_for_cashier, options, registered, temp_store};

/// Kills, each followed by a recovery, on the same file.
const ROUNDS: usize = 3;
/// Threads in the child registering patients, and issuing invoices, so that the kill lands
/// among group commits of both.
const PATIENT_THREADS: &str = "3";
const INVOICE_THREADS: &str = "2";
/// A bound on the child's work should it never be killed.
const WRITES_PER_THREAD: &str = "50000";
/// Invoice numbers leased to the window before the first round: more than it can use.
const LEASE: u64 = 100_000;
/// Round n kills the child once it has acknowledged `KILL_AFTER[n]` writes, so that the kills
/// land at different file sizes...
const KILL_AFTER: [usize; ROUNDS] = [150, 300, 600];
/// ...or this long after its first acknowledgement, whichever comes first...
const KILL_AFTER_TIME: Duration = Duration::from_millis(1500);
/// ...but never before this many, so that the kill lands mid-stream.
const MIN_ACKS: usize = 20;
/// How long a child may take to acknowledge anything before the test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A write the child acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    Patient(RecordId),
    Invoice(RecordId, u64),
}

fn parse_ack(line: &str) -> Ack {
    let words: Vec<&str> = line.split_whitespace().collect();
    let parsed = match words.as_slice() {
        ["P", id] => id.parse().ok().map(Ack::Patient),
        ["I", id, number] => id
            .parse()
            .ok()
            .zip(number.parse().ok())
            .map(|(id, number)| Ack::Invoice(id, number)),
        _ => None,
    };
    parsed.unwrap_or_else(|| panic!("the crash writer printed {line:?}"))
}

/// A window store with the catalogs, a registered visit to charge and a leased invoice range,
/// as a window is before its day starts.
fn prepare(path: &Path) {
    let store = Store::open(path, options("W01", NodeRole::Window)).expect("a new store opens");
    let out = lifeline_tests::receive_catalogs(&store);
    assert!(out.rejected.is_empty(), "{out:?}");
    registered(&store, "王小明");
    let (_dir, central, _) = temp_store("central", NodeRole::Central);
    lease_for_cashier(&central, &store, LEASE);
    assert!(confirm_next_stock(&store), "the cashier starts the shift");
}

/// The writer process, killed when dropped so that a failing test leaves nothing running.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One round: starts the writer on `path`, kills it mid-stream and returns every write it
/// acknowledged, including those still in the pipe when it died.
fn write_until_killed(path: &Path, kill_after: usize, check_lock: bool) -> Vec<Ack> {
    let mut writer = Writer(
        Command::new(env!("CARGO_BIN_EXE_crash_writer"))
            .arg(path)
            .arg(PATIENT_THREADS)
            .arg(INVOICE_THREADS)
            .arg(WRITES_PER_THREAD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the crash writer starts"),
    );
    let child = &mut writer.0;
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                // A line cut short by the kill was never acknowledged.
                Ok(_) if !line.ends_with('\n') => return,
                Ok(_) => {
                    if lines_tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });

    let started = Instant::now();
    let mut first_ack: Option<Instant> = None;
    let mut lines = Vec::new();
    loop {
        let enough = lines.len() >= MIN_ACKS
            && (lines.len() >= kill_after
                || first_ack.is_some_and(|t| t.elapsed() >= KILL_AFTER_TIME));
        if enough {
            break;
        }
        assert!(
            started.elapsed() < START_TIMEOUT,
            "the crash writer acknowledged only {} writes in {START_TIMEOUT:?}",
            lines.len()
        );
        match lines_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                first_ack.get_or_insert_with(Instant::now);
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().expect("the child is reaped");
                panic!(
                    "the crash writer stopped by itself ({status}) after {} writes",
                    lines.len()
                );
            }
        }
    }

    if check_lock {
        // While the writer runs, a second process is told the store is in use, by name.
        let err = Store::open(path, options("W01", NodeRole::Window))
            .expect_err("a store open in another process is refused");
        assert!(matches!(err, OpenError::AlreadyOpen { .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    child.kill().expect("SIGKILL is delivered");
    let status = child.wait().expect("the child is reaped");
    assert_eq!(
        status.signal(),
        Some(9),
        "the crash writer was not killed mid-stream: {status}"
    );
    reader.join().expect("the reader thread ends at EOF");
    lines.extend(lines_rx.try_iter());
    lines.iter().map(|line| parse_ack(line)).collect()
}

#[test]
fn every_acknowledged_write_survives_sigkill_and_recovery() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("window.redb");
    prepare(&path);
    let mut patients: Vec<RecordId> = Vec::new();
    let mut invoices: BTreeMap<u64, RecordId> = BTreeMap::new();
    for (round, kill_after) in (1..).zip(KILL_AFTER) {
        let acks = write_until_killed(&path, kill_after, round == 1);
        assert!(acks.len() >= MIN_ACKS, "round {round}: {} acks", acks.len());
        let issued = acks
            .iter()
            .filter(|a| matches!(a, Ack::Invoice(..)))
            .count();
        eprintln!(
            "round {round}: {} writes acknowledged before SIGKILL ({issued} invoices)",
            acks.len()
        );
        for ack in acks {
            match ack {
                Ack::Patient(id) => patients.push(id),
                Ack::Invoice(id, number) => {
                    if let Some(earlier) = invoices.insert(number, id) {
                        panic!(
                            "round {round}: invoice number {number} printed on {earlier} and {id}"
                        );
                    }
                }
            }
        }

        let store = Store::open(&path, options("W01", NodeRole::Window))
            .unwrap_or_else(|e| panic!("round {round}: the store does not reopen: {e}"));
        let missing: Vec<&RecordId> = patients
            .iter()
            .filter(|id| {
                store
                    .get::<Patient>(**id)
                    .unwrap_or_else(|e| panic!("round {round}: patient {id} unreadable: {e}"))
                    .is_none_or(|p| p.header.id != **id)
            })
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acknowledged patients are missing after the kill: {missing:?}",
            missing.len(),
            patients.len()
        );
        for (number, id) in &invoices {
            let invoice: Invoice = store
                .get(*id)
                .unwrap_or_else(|e| panic!("round {round}: invoice {id} unreadable: {e}"))
                .unwrap_or_else(|| {
                    panic!("round {round}: acknowledged invoice {number} ({id}) is missing")
                });
            assert_eq!(invoice.number, *number, "round {round}: invoice {id}");
        }

        // The store as the information department checks it after a crash.
        let audited = store
            .verify_audit()
            .expect("the audit trail reads")
            .unwrap_or_else(|e| panic!("round {round}: the audit chain is broken: {e}"));
        assert!(audited > 0);
        let report = store.range_report().expect("the range report reads");
        assert!(
            report.is_clean(),
            "round {round}: the range report is not clean: {report:?}"
        );
        let stored_invoices = store
            .count_of_kind(RecordKind::Invoice)
            .expect("the invoices count");
        let ledger_issued: u64 = report.ranges.iter().map(|r| r.issued).sum();
        assert_eq!(
            ledger_issued, stored_invoices,
            "round {round}: the ledger and the stored invoices disagree"
        );
        assert!(stored_invoices >= invoices.len() as u64);

        // Patient numbers come from a counter in the same commits: none is handed out twice,
        // even when the process died between commits.
        let stored = store
            .ids_of_kind(RecordKind::Patient)
            .expect("the index reads");
        let mut numbers: Vec<String> = stored
            .iter()
            .map(|id| {
                store
                    .get::<Patient>(*id)
                    .expect("the patient reads")
                    .expect("the indexed patient is stored")
                    .patient_no
            })
            .collect();
        numbers.sort();
        let before = numbers.len();
        numbers.dedup();
        assert_eq!(
            numbers.len(),
            before,
            "round {round}: a patient number repeats"
        );
    }
}

#[test]
fn a_crashed_store_opened_as_another_node_is_refused_unchanged() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("window.redb");
    prepare(&path);
    let acks = write_until_killed(&path, MIN_ACKS, false);
    assert!(acks.len() >= MIN_ACKS);
    // The file was left by a killed process: it needs recovery before a writer may use it.
    // W02's daemon pointed at W01's file by mistake must refuse it and leave it as it was,
    // so that W01 still recovers everything from it.
    let before = std::fs::read(&path).expect("the store file reads");
    let err = Store::open(&path, options("W02", NodeRole::Window))
        .expect_err("another node's store is refused");
    assert!(matches!(err, OpenError::WrongNode { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    let after = std::fs::read(&path).expect("the store file reads");
    let changed: Vec<usize> = (0..before.len().max(after.len()))
        .filter(|&i| before.get(i) != after.get(i))
        .collect();
    assert!(
        changed.is_empty(),
        "the refusing open changed the file: {} bytes differ, first at {:?}, last at {:?} \
         (length {} -> {})",
        changed.len(),
        changed.first(),
        changed.last(),
        before.len(),
        after.len()
    );
    let store = Store::open(&path, options("W01", NodeRole::Window)).expect("W01 reopens it");
    for ack in acks {
        let id = match ack {
            Ack::Patient(id) | Ack::Invoice(id, _) => id,
        };
        assert!(store.header(id).expect("the record reads").is_some());
    }
}

#[test]
fn a_crashed_store_that_is_also_damaged_never_panics() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("window.redb");
    prepare(&path);
    write_until_killed(&path, 100, false);
    let crashed = std::fs::read(&path).expect("the store file reads");
    // Recovery after the crash walks the damaged file: bytes flipped across it must be
    // refused by name or leave a store that answers, never a panic. (Whether a refused
    // crashed file is left unchanged is checked above.)
    let len = crashed.len();
    for offset in (0..len).step_by(len / 16 + 1) {
        let mut bytes = crashed.clone();
        for b in bytes.iter_mut().skip(offset).take(64) {
            *b ^= 0x5a;
        }
        let damaged = dir.path().join(format!("crashed-flip-{offset}.redb"));
        std::fs::write(&damaged, &bytes).expect("the damaged copy is written");
        let label = format!("crashed store, flip at {offset} of {len} bytes");
        open_damaged(&damaged, &label, Refusal::MayChangeFile);
    }
}
