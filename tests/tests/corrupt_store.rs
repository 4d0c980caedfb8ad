//! Damaged store files, at the level a node sees them: a real window store with patients,
//! visits, charges and invoices, truncated at several lengths and overwritten in several
//! places, plus files that never were stores. Opening never panics; a refused file is named in
//! the error and left exactly as it was; a file that does open answers every read and write
//! with a result, never a panic, and a truncated file that opens has lost nothing.

use std::path::{Path, PathBuf};

use lifeline_core::desk::{NewCharge, NewChargeLine, Settlement};
use lifeline_core::record::{CatalogKind, PaymentMethod};
use lifeline_core::{NodeRole, OpenError, RecordId, Store};
use lifeline_tests::damage::{Outcome, Refusal, open_damaged};
use lifeline_tests::{
    cashier, confirm_next_stock, lease_for_cashier, options, record_ids, registered, temp_store,
    triage, window_with_catalogs,
};

/// A window store holding a little of everything, written and closed. Returns its bytes and
/// the records it holds.
fn good_store() -> (Vec<u8>, Vec<RecordId>) {
    let (dir, store, _) = window_with_catalogs("W01");
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    lease_for_cashier(&central, &store, 20);
    assert!(confirm_next_stock(&store), "the cashier starts the shift");
    for i in 0..25 {
        let (_patient, visit) = registered(&store, &format!("患者 {i}"));
        if i % 3 == 0 {
            store
                .call_visit(&triage(), visit.header.id)
                .expect("the visit is called");
        }
        if i % 5 == 0 {
            let charge = store
                .create_charge(
                    &cashier(),
                    NewCharge {
                        visit: visit.header.id,
                        lines: vec![NewChargeLine {
                            catalog: CatalogKind::Service,
                            code: "SVC-REG".into(),
                            quantity: 1,
                        }],
                        payment: PaymentMethod::SelfPay,
                        occurred_at: None,
                    },
                )
                .expect("the charge is created")
                .value;
            store
                .settle_charge(&cashier(), charge.header.id, Settlement::Paid)
                .expect("the charge is settled");
            store
                .issue_invoice(&cashier(), vec![charge.header.id])
                .expect("the invoice is issued");
        }
    }
    let ids = record_ids(&store);
    let path = store.path().to_path_buf();
    drop(store);
    let bytes = std::fs::read(&path).expect("the store file reads");
    drop(dir);
    (bytes, ids)
}

/// Whether every record of the original store reads back from `store`.
fn holds_everything(store: &Store, ids: &[RecordId]) -> bool {
    ids.iter()
        .all(|id| matches!(store.header(*id), Ok(Some(h)) if h.id == *id))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("the test file is written");
    path
}

#[test]
fn truncated_stores_are_refused_or_whole_and_never_panic() {
    let (good, ids) = good_store();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let len = good.len();
    let mut cuts = vec![
        4,
        8,
        64,
        512,
        4096,
        len / 4,
        len / 2,
        len * 3 / 4,
        len.saturating_sub(4096),
        len - 1,
    ];
    cuts.sort_unstable();
    cuts.dedup();
    let mut refused = 0;
    for cut in cuts.into_iter().filter(|&c| c > 0 && c < len) {
        let label = format!("cut to {cut} of {len} bytes");
        let path = write(dir.path(), &format!("cut-{cut}.redb"), &good[..cut]);
        match open_damaged(&path, &label, Refusal::LeavesFileUnchanged) {
            (Outcome::Refused, _) => refused += 1,
            (Outcome::Opened, Some(store)) => assert!(
                holds_everything(&store, &ids),
                "{label}: the store opened with records missing"
            ),
            (Outcome::Opened, None) => unreachable!("an opened store is returned"),
        }
    }
    eprintln!("{refused} truncated files refused");
}

#[test]
fn overwritten_stores_never_panic() {
    let (good, _ids) = good_store();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let len = good.len();
    let mut refused = 0;
    let mut cases = 0;
    // Bytes flipped across the whole file, a page zeroed, a page filled with 0xff.
    let step = len / 24 + 1;
    for offset in (0..len).step_by(step) {
        let mut flipped = good.clone();
        for b in flipped.iter_mut().skip(offset).take(64) {
            *b ^= 0x5a;
        }
        let mut zeroed = good.clone();
        let page = offset / 4096 * 4096;
        for b in zeroed.iter_mut().skip(page).take(4096) {
            *b = 0;
        }
        let mut filled = good.clone();
        for b in filled.iter_mut().skip(offset).take(512) {
            *b = 0xff;
        }
        for (what, bytes) in [("flip", flipped), ("zero", zeroed), ("fill", filled)] {
            let label = format!("{what} at {offset} of {len} bytes");
            let path = write(dir.path(), &format!("{what}-{offset}.redb"), &bytes);
            cases += 1;
            if open_damaged(&path, &label, Refusal::LeavesFileUnchanged).0 == Outcome::Refused {
                refused += 1;
            }
        }
    }
    eprintln!("{refused} of {cases} overwritten files refused");
}

/// A small deterministic generator, so that a failure can be replayed.
fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn files_that_are_not_stores_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut paths = Vec::new();
    for (seed, len) in [(1u64, 4096usize), (2, 100_000), (3, 3)] {
        paths.push(write(
            dir.path(),
            &format!("random-{seed}.redb"),
            &pseudo_random_bytes(seed, len),
        ));
    }
    // Random bytes behind redb's magic get past the first check.
    for (seed, len) in [(4u64, 4096usize), (5, 70_000)] {
        let mut bytes = b"redb".to_vec();
        bytes.extend(pseudo_random_bytes(seed, len));
        paths.push(write(dir.path(), &format!("magic-{seed}.redb"), &bytes));
    }
    paths.push(write(dir.path(), "empty.redb", b""));
    let directory = dir.path().join("a-directory.redb");
    std::fs::create_dir(&directory).expect("the directory is created");
    paths.push(directory);

    for path in &paths {
        let label = path.display().to_string();
        let (outcome, _) = open_damaged(path, &label, Refusal::LeavesFileUnchanged);
        assert_eq!(outcome, Outcome::Refused, "{label} opened as a store");
    }
    let empty = dir.path().join("empty.redb");
    let err = Store::open(&empty, options("W01", NodeRole::Window))
        .expect_err("an empty file is not a store");
    assert!(matches!(err, OpenError::NotAStore { .. }), "{err}");

    // A store cannot be created where its directory does not exist; the error says where.
    let nowhere = dir.path().join("no-such-directory").join("store.redb");
    let err = Store::open(&nowhere, options("W01", NodeRole::Window))
        .expect_err("no store without a directory");
    assert!(
        err.to_string().contains(&nowhere.display().to_string()),
        "{err}"
    );
    assert!(!nowhere.exists());
}
