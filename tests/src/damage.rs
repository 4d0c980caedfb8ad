//! Opening damaged store files and using whatever opens, for the corruption and crash
//! tests: a damaged file must be refused by name or answer every read with a result, never a
//! panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use lifeline_core::desk::ReportMode;
use lifeline_core::record::{Charge, Invoice, Patient, RecordKind, Visit};
use lifeline_core::store::PatientQuery;
use lifeline_core::{Date, NodeRole, Store};

use crate::{new_patient, options, registration};

/// What opening a file did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Refused,
    Opened,
}

/// What a refusal is checked for, besides naming the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The refused file must be byte for byte as it was.
    LeavesFileUnchanged,
    /// The file may have been changed (checked elsewhere).
    MayChangeFile,
}

/// Opens `path` as W01 and checks the promises: no panic; a refusal names the path (and, as
/// asked, leaves the file unchanged); an open store answers every read and a write with a
/// result. Returns the open store, if it opened, for further checks.
pub fn open_damaged(path: &Path, label: &str, refusal: Refusal) -> (Outcome, Option<Store>) {
    let before = std::fs::read(path).ok();
    let opened = catch_unwind(AssertUnwindSafe(|| {
        Store::open(path, options("W01", NodeRole::Window))
    }));
    let opened = opened.unwrap_or_else(|_| panic!("{label}: opening panicked"));
    match opened {
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains(&path.display().to_string()),
                "{label}: the error does not name the file: {message}"
            );
            if refusal == Refusal::LeavesFileUnchanged {
                assert!(
                    std::fs::read(path).ok() == before,
                    "{label}: the refused file was changed ({message})"
                );
            }
            (Outcome::Refused, None)
        }
        Ok(store) => {
            let answered = catch_unwind(AssertUnwindSafe(|| read_everything(&store)));
            assert!(answered.is_ok(), "{label}: a read or write panicked");
            (Outcome::Opened, Some(store))
        }
    }
}

/// Every read a desk or the status command makes, and one write. Results are ignored: only
/// a panic is a failure here.
pub fn read_everything(store: &Store) {
    for kind in RecordKind::ALL {
        let Ok(ids) = store.ids_of_kind(kind) else {
            continue;
        };
        for id in ids {
            let _ = store.header(id);
            match kind {
                RecordKind::Patient => drop(store.get::<Patient>(id)),
                RecordKind::Visit => drop(store.get::<Visit>(id)),
                RecordKind::Charge => drop(store.get::<Charge>(id)),
                RecordKind::Invoice => drop(store.get::<Invoice>(id)),
                _ => drop(store.doc(id)),
            }
            let _ = store.ids_for_patient(id);
        }
    }
    if let Ok(feed) = store.feed_since(0, usize::MAX) {
        for (_, id) in feed {
            let _ = store.doc(id);
        }
    }
    let _ = store.feed_head();
    let _ = store.audit_entries(0, usize::MAX);
    let _ = store.verify_audit();
    let _ = store.stats();
    let _ = store.find_patients(&PatientQuery::Name("患者".into()));
    let _ = store.find_patients(&PatientQuery::Number("W01-000001".into()));
    let _ = store.patients_sharing("person");
    let _ = store.unreconciled();
    let _ = store.episode();
    let _ = store.triage_queue();
    let _ = store.pharmacy_queue();
    let _ = store.ranges();
    let _ = store.range_report();
    let today = Date::new(2026, 11, 25).expect("a valid date");
    let _ = store.cashier_summary(today, ReportMode::AllowIncomplete);
    let _ = store.create_patient(&registration(), new_patient("after the damage"));
}
