//! `store_open`: a damaged store file, opened with the path the daemon uses (`Store::open`,
//! with its full check of every table), then read whole.
//!
//! The input is a recipe for the file, made from a small real store (`seeds/store.redb`, a
//! registration window's with patients and their audit trail) so that damage lands in real
//! pages ([`store_file`]).
//!
//! Checks ([`check`]): no panic outside the store's own containment of redb
//! (`error::contained`, which makes a redb panic at open a refusal naming the damage, issue 9).
//! Opening gives a store or an error that says something; a refused file is left byte for
//! byte as it was. An opened store reads every record its feed and kind indexes name, and its
//! audit chain, kept counts, number ranges, conflict report and tables are checked: errors are
//! fine, panics are not.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use lifeline_core::{NodeName, NodeRole, RecordKind, Store, StoreOptions};

/// The node whose store `seeds/store.redb` is.
pub const STORE_NODE: &str = "W01";

/// A small real store: a registration window's, with patients and their audit trail
/// (written by `generate_store_and_protocol_seeds` in `sync/tests/fuzz_corpus.rs`).
pub const STORE_SEED: &[u8] = include_bytes!("../seeds/store.redb");

/// The store file an input of `store_open` describes. Mode byte `0xFF`: the rest is the whole
/// file. Otherwise the seed store, cut to a 4-byte big-endian length (modulo its length plus
/// one) if the mode is odd, then patched: each patch a 4-byte big-endian offset (modulo the
/// file's length), a length byte and that many bytes (cut at the file's end).
pub fn store_file(data: &[u8]) -> Vec<u8> {
    let Some((&mode, mut rest)) = data.split_first() else {
        return STORE_SEED.to_vec();
    };
    if mode == 0xFF {
        return rest.to_vec();
    }
    let mut file = STORE_SEED.to_vec();
    if mode & 1 == 1
        && let Some((len, tail)) = rest.split_first_chunk::<4>()
    {
        file.truncate(u32::from_be_bytes(*len) as usize % (STORE_SEED.len() + 1));
        rest = tail;
    }
    while let Some((offset, tail)) = rest.split_first_chunk::<4>() {
        let Some((&n, tail)) = tail.split_first() else {
            break;
        };
        let (patch, tail) = tail.split_at(usize::from(n).min(tail.len()));
        rest = tail;
        if file.is_empty() {
            break;
        }
        let at = u32::from_be_bytes(*offset) as usize % file.len();
        let end = (at + patch.len()).min(file.len());
        file[at..end].copy_from_slice(&patch[..end - at]);
    }
    file
}

/// Writes the file `data` describes into `dir` (emptied first), opens it and reads it whole.
pub fn check(dir: &Path, data: &[u8]) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let path = dir.join("store.redb");
    let bytes = store_file(data);
    std::fs::write(&path, &bytes).expect("write the store file");
    let node = NodeName::new(STORE_NODE).expect("a valid name");
    match Store::open(&path, StoreOptions::new(node, NodeRole::Window)) {
        Ok(store) => read_whole(&store),
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an empty refusal");
            let after = std::fs::read(&path).expect("read the refused file");
            assert!(after == bytes, "a refused file changed: {e}");
        }
    }
}

fn read_whole(store: &Store) {
    let mut ids = Vec::new();
    if let Ok(feed) = store.feed_since(0, usize::MAX) {
        ids.extend(feed.into_iter().map(|(_, id)| id));
    }
    for kind in RecordKind::ALL {
        if let Ok(of_kind) = store.ids_of_kind(kind) {
            ids.extend(of_kind);
        }
    }
    for id in ids {
        let _ = store.doc(id);
        let _ = store.header(id);
    }
    let _ = store.stats();
    let _ = store.verify_audit();
    let _ = store.check_kept();
    let _ = store.range_report();
    let _ = store.conflicts();
    let _ = store.check_tables(&AtomicBool::new(false));
}
