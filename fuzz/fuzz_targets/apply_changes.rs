//! Fuzz target `apply_changes`: arbitrary bytes from a peer as one record's Automerge changes,
//! through `Store::apply_remote`, the merge entry point replication uses.
//!
//! Every input meets the same records: a copy of a template store, made once per process, that
//! holds the base patient `seeds/base_patient.automerge` (so that inputs may be deltas of a
//! known record as well as whole documents). A copy serves inputs until one changes a record
//! (or for 256 inputs), then the next input gets a fresh copy. The changes are applied to the record whose id
//! the input's own header names when the bytes alone make a document, otherwise to the base
//! patient. Checks: no panic (in the caller or the store's writer thread); `apply_remote`
//! returns an outcome (an error would mean the writer dropped the batch); the one record is
//! counted exactly once; a refused or "unchanged" record is left as it was; an applied one
//! has a readable header naming it; the audit chain still verifies. The store takes authors
//! from the actor ids (`AuthorCheck::UncheckedActorIds`, the sender a known registration
//! window) so that inputs reach the rules behind the signature check; `verify_signatures`
//! fuzzes the signatures.
#![no_main]

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use lifeline_core::automerge::{Automerge, ChangeHash, ROOT, ReadDoc, ScalarValue, Value};
use lifeline_core::store::{AuthorCheck, Credentials, RemoteChanges};
use lifeline_core::{DeskRole, NodeName, NodeRole, RecordId, Store, StoreOptions};

const BASE: &[u8] = include_bytes!("../seeds/base_patient.automerge");
const RECEIVER: &str = "W02";
const SENDER: &str = "W01";

struct Fixture {
    dir: PathBuf,
    template: PathBuf,
    base: RecordId,
    next: u64,
    /// The store in use and its file; replaced by a fresh copy of the template as soon as an
    /// input changed a record, so every input meets the same records.
    current: Option<(Store, PathBuf)>,
    /// Inputs run on `current` (refusals grow its audit chain, which is verified each time).
    uses: u32,
}

/// Inputs on one store copy before a fresh one, when none changed a record.
const MAX_USES: u32 = 256;

static FIXTURE: OnceLock<Mutex<Fixture>> = OnceLock::new();

fn node(name: &str) -> NodeName {
    NodeName::new(name).expect("valid node name")
}

fn opts() -> StoreOptions {
    let mut opts = StoreOptions::new(node(RECEIVER), NodeRole::Window);
    opts.author_check = AuthorCheck::UncheckedActorIds;
    opts
}

fn fixture() -> &'static Mutex<Fixture> {
    FIXTURE.get_or_init(|| {
        let dir = lifeline_fuzz::scratch_dir("lifeline-fuzz-apply-");
        let template = dir.join("template.redb");
        let base = header_id(&load(BASE)).expect("the base patient has a header");
        let store = Store::open(&template, opts()).expect("open the template store");
        let sender =
            Credentials::uncertified(node(SENDER), NodeRole::Window, DeskRole::ALL).expect("a key");
        store
            .admit_member(sender.member().clone())
            .expect("the sender is known");
        let out = store
            .apply_remote(
                &node(SENDER),
                vec![RemoteChanges {
                    id: base,
                    bytes: BASE.to_vec(),
                }],
                Vec::new(),
            )
            .expect("apply the base patient");
        assert_eq!(out.applied, vec![base], "the base patient applies");
        drop(store);
        Mutex::new(Fixture {
            dir,
            template,
            base,
            next: 0,
            current: None,
            uses: 0,
        })
    })
}

impl Fixture {
    /// The store for the next input: the current copy, or a fresh copy of the template.
    fn store(&mut self) -> &Store {
        if self.current.is_none() {
            let path = self.dir.join(format!("s{}.redb", self.next));
            self.next += 1;
            std::fs::copy(&self.template, &path).expect("copy the template store");
            let store = Store::open(&path, opts()).expect("open a copy of the template");
            self.current = Some((store, path));
            self.uses = 0;
        }
        self.uses += 1;
        let (store, _) = self.current.as_ref().expect("just opened");
        store
    }

    fn discard(&mut self) {
        if let Some((store, path)) = self.current.take() {
            drop(store);
            let _ = std::fs::remove_file(path);
        }
    }
}

fn load(bytes: &[u8]) -> Automerge {
    // The harness only peeks at the bytes to pick a record; Automerge's decoder can panic on
    // some inputs (see corpus/apply_changes/crash-*), which the store guards against and the
    // harness must not trip over either.
    std::panic::catch_unwind(|| {
        let mut doc = Automerge::new();
        let _ = doc.load_incremental(bytes);
        doc
    })
    .unwrap_or_default()
}

fn header_id(doc: &Automerge) -> Option<RecordId> {
    let (_, header) = doc.get(ROOT, "header").ok()??;
    match doc.get(&header, "id").ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(id) => id.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

fn heads(store: &Store, id: RecordId) -> Option<Vec<ChangeHash>> {
    store
        .doc(id)
        .expect("a record reads")
        .map(|d| d.get_heads())
}

fuzz_target!(|data: &[u8]| {
    let mut fx = fixture().lock().unwrap_or_else(|e| e.into_inner());
    let base = fx.base;
    let store = fx.store();
    let feed_before = store.feed_head().expect("the feed reads");
    let id = header_id(&load(data)).unwrap_or(base);
    let before = heads(store, id);
    let out = store
        .apply_remote(
            &node(SENDER),
            vec![RemoteChanges {
                id,
                bytes: data.to_vec(),
            }],
            Vec::new(),
        )
        .expect("apply_remote returns an outcome");
    let counted = out.applied.len() + out.unchanged + out.missing_deps.len() + out.rejected.len();
    assert_eq!(counted, 1, "one record, one outcome: {out:?}");
    let after = heads(store, id);
    if !out.rejected.is_empty() || out.unchanged == 1 {
        assert_eq!(before, after, "refused or unchanged, yet changed: {out:?}");
    }
    if !out.applied.is_empty() {
        let header = store
            .header(id)
            .expect("an applied record's header reads")
            .expect("an applied record is there");
        assert_eq!(header.id, id, "applied under another id");
    }
    store
        .verify_audit()
        .expect("the audit chain reads")
        .expect("the audit chain verifies");
    store
        .header(base)
        .expect("the base patient reads")
        .expect("the base patient is still there");
    let changed = store.feed_head().expect("the feed reads") != feed_before;
    if changed || fx.uses >= MAX_USES {
        fx.discard();
    }
});
