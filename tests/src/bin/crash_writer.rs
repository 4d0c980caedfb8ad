//! The child process of the crash test (`tests/tests/crash.rs`): opens the store at the given
//! path as window W01 and writes from several threads at once, so that the writes share group
//! commits, until it is killed. Some threads register patients; others settle a charge and
//! issue its invoice, taking a number from the window's leased range. After each write
//! returns saved the thread prints one line and flushes, so every line its parent reads was
//! acknowledged as durable:
//!
//! - `P <patient id>` for a patient,
//! - `I <invoice id> <invoice number>` for an invoice.
//!
//! Usage: `crash_writer <store path> <patient threads> <invoice threads> <writes per thread>`.
//! Invoice threads need a store prepared with the catalogs, a visit and an invoice range
//! leased for the cashier, whose shift was started. The process stops by itself after the given number of writes, or when its output
//! is closed.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;

use lifeline_core::desk::{NewCharge, NewChargeLine, Settlement};
use lifeline_core::record::{CatalogKind, PaymentMethod, RecordKind};
use lifeline_core::{NodeRole, RecordId, Store, WriteError};
use lifeline_tests::{
    cashier, confirm_next_stock, needs_shift, new_patient, options, registration,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|s| s.parse::<usize>().ok());
    let (Some(path), Some(patient_threads), Some(invoice_threads), Some(writes)) =
        (args.first(), number(1), number(2), number(3))
    else {
        eprintln!(
            "usage: crash_writer <store path> <patient threads> <invoice threads> <writes per thread>"
        );
        return ExitCode::FAILURE;
    };
    let store = match Store::open(path, options("W01", NodeRole::Window)) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("crash_writer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let visit = if invoice_threads > 0 {
        match store
            .ids_of_kind(RecordKind::Visit)
            .map(|v| v.first().copied())
        {
            Ok(Some(visit)) => Some(visit),
            other => {
                eprintln!("crash_writer: no visit to charge in the store: {other:?}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    // One lock around stdout so that each line is written and flushed whole.
    let out = Mutex::new(std::io::stdout());
    let failed = std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for t in 0..patient_threads {
            let (store, out) = (&store, &out);
            workers.push(scope.spawn(move || {
                repeat(out, writes, |n| {
                    let saved = store
                        .create_patient(&registration(), new_patient(&format!("crash {t}-{n}")))?;
                    Ok(format!("P {}\n", saved.value.header.id))
                })
            }));
        }
        for visit in visit
            .into_iter()
            .flat_map(|v| std::iter::repeat_n(v, invoice_threads))
        {
            let (store, out) = (&store, &out);
            workers.push(scope.spawn(move || {
                repeat(out, writes, |_| {
                    let (id, number) = invoice(store, visit)?;
                    Ok(format!("I {id} {number}\n"))
                })
            }));
        }
        workers.into_iter().any(|w| w.join().map_or(true, |ok| !ok))
    });
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `write` up to `times` times, printing the line each returns once it is saved. False
/// if a write failed.
fn repeat(
    out: &Mutex<std::io::Stdout>,
    times: usize,
    mut write: impl FnMut(usize) -> Result<String, WriteError>,
) -> bool {
    for n in 0..times {
        let line = match write(n) {
            Ok(line) => line,
            Err(e) => {
                eprintln!("crash_writer: a write failed: {e}");
                return false;
            }
        };
        let Ok(mut out) = out.lock() else {
            return false;
        };
        if out
            .write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            // The parent stopped listening: nothing more can be acknowledged.
            return true;
        }
    }
    true
}

/// A cashier's round: a charge for the visit, settled, and its invoice issued.
fn invoice(store: &Store, visit: RecordId) -> Result<(RecordId, u64), WriteError> {
    let charge = store
        .create_charge(
            &cashier(),
            NewCharge {
                visit,
                lines: vec![NewChargeLine {
                    catalog: CatalogKind::Service,
                    code: "SVC-REG".into(),
                    quantity: 1,
                }],
                payment: PaymentMethod::SelfPay,
                occurred_at: None,
            },
        )?
        .value
        .header
        .id;
    store.settle_charge(&cashier(), charge, Settlement::Paid)?;
    let invoice = match store.issue_invoice(&cashier(), vec![charge]) {
        // A new day (or the next stock): the cashier confirms the stock in hand first.
        Err(e) if needs_shift(&e) && confirm_next_stock(store) => {
            store.issue_invoice(&cashier(), vec![charge])?
        }
        other => other?,
    }
    .value;
    Ok((invoice.header.id, invoice.number))
}
