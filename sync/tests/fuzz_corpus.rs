//! The committed fuzz corpus (`fuzz/corpus/`), replayed on stable Rust so that CI checks what
//! the fuzz targets check, without cargo-fuzz:
//! - every `frame_decode` input goes through [`Frame::split`] and [`Frame::decode_body`]:
//!   errors are fine, panics are not, and a frame that decodes re-encodes to itself;
//! - every `apply_changes` input goes to [`Store::apply_remote`] as one record's changes, on a
//!   fresh store that already holds the base patient (`fuzz/seeds/base_patient.automerge`):
//!   no panic, no error from the writer, the record is applied or refused whole, and the
//!   store still verifies, before and after reopening it. The store takes authors from the
//!   actor ids (`AuthorCheck::UncheckedActorIds`), so the inputs reach the rules behind the
//!   signature check; signatures have a corpus of their own;
//! - every `verify_signatures` input goes through the signed-commit decoder and a batch's
//!   signature check against a roster: errors are fine, panics are not, and only a commit
//!   signed by a member's key makes that member a change's author;
//! - every `store_open` input, a recipe for a damaged copy of `fuzz/seeds/store.redb`, is
//!   written as a store file and opened as the daemon opens it: a store (then read whole:
//!   every record, the audit chain, the kept counts, the tables) or a refusal that leaves the
//!   file as it was; no panic but redb's, contained by the store (`fuzz/src/store.rs`);
//! - every `sync_message` input is a stream of frames handed, after the peer's hello, to a
//!   real `Session` over a `MemoryReplica`: each taken or refused, every answer encodes, and
//!   Automerge sync messages round-trip (`fuzz/src/protocol.rs`);
//! - every input of `fuzz/crashes/apply_changes/` (known, not fixed yet) still fails only as
//!   it is known to, and leaves the store usable.
//!
//! `generate_seed_corpus` (ignored; run it by name) rewrites the `seed-*` files and the base
//! patient from real stores: see `fuzz/README.md`.
#![allow(clippy::unwrap_used)]

#[path = "../../fuzz/src/protocol.rs"]
mod fuzz_protocol;
/// What the fuzz targets `store_open` and `sync_message` check for one input: the fuzz
/// project's own files, compiled here too, so that the replay checks exactly that.
#[path = "../../fuzz/src/store.rs"]
mod fuzz_store;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use lifeline_core::automerge::sync::{self, SyncDoc};
use lifeline_core::automerge::transaction::Transactable;
use lifeline_core::automerge::{ActorId, Automerge, ChangeHash, ROOT, ReadDoc, ScalarValue, Value};
use lifeline_core::desk::{NewPatient, PatientEdit};
use lifeline_core::record::Header;
use lifeline_core::record::{InsuranceType, Sex};
use lifeline_core::store::{
    ApplyOutcome, AuthorCheck, Credentials, IncomingDoc, Merge, RemoteChanges, Scope, merge,
};
use lifeline_core::trust::{
    Answer, Authorship, CommitId, Grant, Judge, Knowledge, Member, Roster, Signatures,
    SignedCommit, SigningKey, actor_node, generate_pkcs8,
};
use lifeline_core::{
    DeskRole, EpisodeId, NodeName, NodeRole, Operator, OperatorName, RecordId, Store, StoreOptions,
    UnixMs, WriteError,
};
use lifeline_sync::frame::{Ack, Batch, Frame, Hello, MAX_FRAME_BYTES, WireDigest, WireDoc};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn corpus(target: &str) -> PathBuf {
    fuzz_dir().join("corpus").join(target)
}

fn base_path() -> PathBuf {
    fuzz_dir().join("seeds/base_patient.automerge")
}

/// Every file of a corpus directory, sorted by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    files_in(&corpus(target))
}

fn files_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

// ----- frame_decode -----

/// What the `frame_decode` fuzz target checks for one input: read as a stream of frames,
/// then as a bare frame body.
fn check_frame_input(data: &[u8]) {
    let mut at = 0;
    loop {
        let rest = &data[at..];
        match Frame::split(rest) {
            Ok(Some((frame, used))) => {
                assert!(
                    used >= 4 && used <= rest.len(),
                    "used {used} of {}",
                    rest.len()
                );
                round_trip(&frame);
                at += used;
            }
            Ok(None) => {
                // Waiting for more bytes is only right for a short buffer.
                if let Some(prefix) = rest.get(..4) {
                    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
                    assert!(rest.len() < 4 + len as usize, "whole frame reported short");
                }
                break;
            }
            Err(_) => break,
        }
    }
    if let Ok(frame) = Frame::decode_body(data) {
        round_trip(&frame);
    }
}

fn round_trip(frame: &Frame) {
    let _ = frame.kind();
    let bytes = frame.encode().unwrap();
    let (again, used) = Frame::split(&bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(&again, frame);
}

#[test]
fn frame_corpus_never_panics() {
    let inputs = inputs("frame_decode");
    assert!(inputs.len() >= 20, "the frame corpus is missing");
    let mut decoded = 0;
    for (name, data) in &inputs {
        let result = std::panic::catch_unwind(|| check_frame_input(data));
        assert!(result.is_ok(), "frame_decode/{name} panicked");
        if matches!(Frame::split(data), Ok(Some(_))) {
            decoded += 1;
        }
    }
    // The seeds hold at least one real frame of every variant.
    assert!(decoded >= 10, "only {decoded} inputs decode");
}

// ----- apply_changes -----

const RECEIVER: &str = "W02";
const SENDER: &str = "W01";

fn node(name: &str) -> NodeName {
    NodeName::new(name).unwrap()
}

/// The record the input's changes are for: the id in the document's header if the bytes alone
/// make one (a whole document, maybe another record), otherwise the base patient (a delta).
fn target_id(data: &[u8], base: RecordId) -> RecordId {
    // Automerge's decoder can panic on some inputs (see the crash-* inputs): the harness
    // must not, so such bytes simply target the base record.
    let loaded = std::panic::catch_unwind(|| {
        let mut doc = Automerge::new();
        doc.load_incremental(data).ok().map(|_| header_id(&doc))
    });
    loaded.ok().flatten().flatten().unwrap_or(base)
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

/// A fresh receiving store at `path` that takes authors from the actor ids, knowing the
/// sender (a registration window), so that peer bytes reach every rule.
fn receiver(path: &Path) -> Store {
    let mut opts = StoreOptions::new(node(RECEIVER), NodeRole::Window);
    opts.author_check = AuthorCheck::UncheckedActorIds;
    let store = Store::open(path, opts).unwrap();
    let sender = Credentials::uncertified(node(SENDER), NodeRole::Window, DeskRole::ALL).unwrap();
    store.admit_member(sender.member().clone()).unwrap();
    store
}

/// One record's changes from the sender, without signatures.
fn apply(store: &Store, id: RecordId, bytes: &[u8]) -> Result<ApplyOutcome, WriteError> {
    store.apply_remote(
        &node(SENDER),
        vec![RemoteChanges {
            id,
            bytes: bytes.to_vec(),
        }],
        Vec::new(),
    )
}

fn heads(store: &Store, id: RecordId) -> Option<Vec<ChangeHash>> {
    store.doc(id).unwrap().map(|d| d.get_heads())
}

/// What the `apply_changes` fuzz target checks for one input, on a store holding the base.
fn check_apply_input(store: &Store, base: RecordId, data: &[u8]) -> Result<(), String> {
    let id = target_id(data, base);
    let before = heads(store, id);
    let audit_before = store.verify_audit().unwrap().map_err(|e| e.to_string())?;
    let out = apply(store, id, data).map_err(|e| format!("apply_remote failed: {e}"))?;
    let counted = out.applied.len() + out.unchanged + out.missing_deps.len() + out.rejected.len();
    if counted != 1 {
        return Err(format!("one record, {counted} outcomes: {out:?}"));
    }
    let after = heads(store, id);
    if !out.rejected.is_empty() && after != before {
        return Err(format!("refused ({:?}) but changed", out.rejected));
    }
    if out.unchanged == 1 && after != before {
        return Err("unchanged but changed".into());
    }
    if !out.applied.is_empty() {
        let header = store
            .header(id)
            .map_err(|e| format!("applied but unreadable: {e}"))?
            .ok_or("applied but absent")?;
        if header.id != id {
            return Err(format!("applied under {id} a record saying {}", header.id));
        }
    }
    let audit_after = store
        .verify_audit()
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("audit chain broken: {e}"))?;
    if audit_after < audit_before {
        return Err("the audit chain shrank".into());
    }
    Ok(())
}

#[test]
fn apply_corpus_never_panics_nor_corrupts() {
    let base_bytes = fs::read(base_path()).unwrap();
    let base = target_id(&base_bytes, RecordId::generate());
    assert_eq!(
        heads_of(&base_bytes).len(),
        1,
        "the base patient is missing"
    );
    let inputs = inputs("apply_changes");
    assert!(inputs.len() >= 10, "the apply corpus is missing");
    let mut applied = 0;
    for (name, data) in &inputs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = receiver(&path);
        let seeded = apply(&store, base, &base_bytes).unwrap();
        assert_eq!(seeded.applied, vec![base]);
        let before = store.feed_head().unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_apply_input(&store, base, data)
        }));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("apply_changes/{name}: {why}"),
            Err(_) => panic!("apply_changes/{name} panicked"),
        }
        if store.feed_head().unwrap() > before {
            applied += 1;
        }
        drop(store);
        let store = Store::open(&path, StoreOptions::new(node(RECEIVER), NodeRole::Window))
            .unwrap_or_else(|e| panic!("apply_changes/{name}: the store does not reopen: {e}"));
        store
            .verify_audit()
            .unwrap()
            .unwrap_or_else(|e| panic!("apply_changes/{name}: audit broken after reopen: {e}"));
        store.header(base).unwrap().unwrap();
    }
    // The seeds hold real changes that apply (a delta of the base, another patient).
    assert!(applied >= 2, "only {applied} inputs applied");
}

/// Inputs that once panicked inside Automerge's decoder (automerge 0.12.0 through hexane
/// 1.0.0-alpha.5 unwraps a LEB128 error while parsing a malformed chunk); the fuzzer found
/// them, and they live in the corpus as `crash-*`. The store now refuses them like any
/// undecodable change: refused, audited, nothing else in the commit dropped.
#[test]
fn inputs_that_once_panicked_the_decoder_are_refused() {
    let base_bytes = fs::read(base_path()).unwrap();
    let base = target_id(&base_bytes, RecordId::generate());
    let crashes: Vec<_> = files_in(&fuzz_dir().join("corpus/apply_changes"))
        .into_iter()
        .filter(|(name, _)| name.starts_with("crash-"))
        .collect();
    assert!(
        !crashes.is_empty(),
        "the crash inputs are missing from the corpus"
    );
    for (name, data) in crashes {
        let dir = tempfile::tempdir().unwrap();
        let store = receiver(&dir.path().join("store.redb"));
        assert_eq!(
            apply(&store, base, &base_bytes).unwrap().applied,
            vec![base]
        );
        // The changes for the record we have, and for one we do not.
        for id in [base, RecordId::generate()] {
            let out = apply(&store, id, &data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out.rejected.len(), 1, "{name}: {out:?}");
        }
        store
            .verify_audit()
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}: audit broken: {e}"));
        store.header(base).unwrap().unwrap();
    }
}

fn heads_of(bytes: &[u8]) -> Vec<ChangeHash> {
    let mut doc = Automerge::new();
    doc.load_incremental(bytes).unwrap();
    doc.get_heads()
}

// ----- verify_signatures -----

fn signer_path(node: &str) -> PathBuf {
    fuzz_dir().join(format!("seeds/signer-{node}.pkcs8"))
}

/// The `verify_signatures` target's roster: W01 (a registration window) and central, with
/// the seed keys.
fn seed_roster() -> Roster {
    let mut roster = Roster::new();
    for (node, role, desks) in [
        ("W01", NodeRole::Window, &[DeskRole::Registration][..]),
        ("central", NodeRole::Central, &[][..]),
    ] {
        let key = SigningKey::from_pkcs8(self::node(node), &fs::read(signer_path(node)).unwrap())
            .unwrap();
        roster.admit(Member {
            name: key.author().clone(),
            role,
            desks: desks.to_vec(),
            key: key.public_key().clone(),
            credential: Vec::new(),
        });
    }
    roster
}

/// The input's parts as the target reads them: commits, changes, hashes.
fn verify_parts(data: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>, Vec<ChangeHash>) {
    let mut rest = data;
    let mut take = |n: usize| -> Vec<u8> {
        let n = n.min(rest.len());
        let (head, tail) = rest.split_at(n);
        rest = tail;
        head.to_vec()
    };
    let count = take(1).first().copied().unwrap_or(0).min(16);
    let length = |take: &mut dyn FnMut(usize) -> Vec<u8>| {
        let len = take(2);
        if len.len() == 2 {
            usize::from(u16::from_be_bytes([len[0], len[1]]))
        } else {
            0
        }
    };
    let mut commits = Vec::new();
    for _ in 0..count {
        let len = length(&mut take);
        commits.push(take(len));
    }
    let len = length(&mut take);
    let changes = take(len);
    let hashes = take(usize::MAX)
        .chunks_exact(32)
        .map(|c| ChangeHash(c.try_into().unwrap()))
        .collect();
    (commits, changes, hashes)
}

/// An input of the target: commits, changes, hashes.
fn verify_input(commits: &[Vec<u8>], changes: &[u8], hashes: &[ChangeHash]) -> Vec<u8> {
    let mut out = vec![u8::try_from(commits.len()).unwrap()];
    for c in commits {
        out.extend_from_slice(&u16::try_from(c.len()).unwrap().to_be_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&u16::try_from(changes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(changes);
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
    out
}

fn vouched(commits: &[Vec<u8>], roster: &Roster, hash: &ChangeHash, author: &str) -> bool {
    commits.iter().any(|bytes| {
        SignedCommit::decode(bytes).is_ok_and(|c| {
            c.author.as_str() == author && c.hashes.contains(hash) && c.verify(roster).is_ok()
        })
    })
}

struct NoOtherRecords;

impl Knowledge for NoOtherRecords {
    fn overlapping_range(&self, _: Grant, _: RecordId) -> Answer<RecordId> {
        Ok(None)
    }

    fn episode_opened_ms(&self, _: &EpisodeId) -> Answer<UnixMs> {
        Ok(None)
    }
}

/// What the `verify_signatures` target checks for one input; whether the record merged.
fn check_verify_input(roster: &Roster, base: &Automerge, data: &[u8]) -> bool {
    let base_id = Header::of(base).unwrap().id;
    let (commits, changes, hashes) = verify_parts(data);
    for bytes in &commits {
        if let Ok(c) = SignedCommit::decode(bytes) {
            assert_eq!(&c.encode(), bytes, "a decoded commit encodes back");
            let _ = c.verify(roster);
        }
    }
    let never_held = |_: &CommitId| false;
    let (mut signatures, _) = Signatures::decode(&commits);
    for hash in &hashes {
        if let Ok(signer) = signatures.signer(hash, roster, &never_held) {
            assert!(vouched(&commits, roster, hash, signer.author.as_str()));
        }
    }
    let (mut signatures, _) = Signatures::decode(&commits);
    let mut judge = Judge {
        roster,
        authorship: Authorship::Signed {
            signatures: &mut signatures,
            held: &never_held,
        },
        knowledge: &NoOtherRecords,
    };
    let item = IncomingDoc {
        id: base_id,
        bytes: changes,
        sender_heads: Vec::new(),
        seq: 0,
    };
    let actor = ActorId::from(b"W02\0receiver".to_vec());
    match merge(Some(base), &item, &actor, &mut judge) {
        Merge::Changed { doc, .. } => {
            for change in doc.get_changes(&base.get_heads()) {
                let author = actor_node(change.actor_id()).unwrap_or("?");
                assert!(vouched(&commits, roster, &change.hash(), author));
            }
            true
        }
        _ => false,
    }
}

#[test]
fn verify_corpus_never_panics_and_attributes_only_what_is_signed() {
    let roster = seed_roster();
    let base = Automerge::load(&fs::read(base_path()).unwrap()).unwrap();
    let inputs = inputs("verify_signatures");
    assert!(inputs.len() >= 10, "the verify corpus is missing");
    let mut merged = 0;
    for (name, data) in &inputs {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_verify_input(&roster, &base, data)
        }));
        match result {
            Ok(true) => merged += 1,
            Ok(false) => {}
            Err(_) => panic!("verify_signatures/{name} panicked or broke a check"),
        }
    }
    // The seeds hold a delta signed by its author, which merges.
    assert!(
        merged >= 1,
        "no input merged: the seeds lost their valid signature"
    );
}

// ----- store_open and sync_message -----

/// A scratch directory in memory when the machine has one (a store fsyncs).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// Runs `check` on every input of `target`, naming the input that fails.
fn replay(target: &str, mut check: impl FnMut(&[u8])) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "the {target} corpus is there");
    for (name, data) in inputs {
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        assert!(
            done.is_ok(),
            "{target} input {name} failed (see the panic above)"
        );
    }
}

#[test]
fn store_open_corpus_opens_or_refuses_and_reads_whole() {
    let dir = scratch();
    replay("store_open", |data| fuzz_store::check(dir.path(), data));
}

#[test]
fn sync_message_corpus_is_taken_or_refused_and_answered_in_frames() {
    let dir = scratch();
    let fixture = fuzz_protocol::Fixture::new(dir.path());
    replay("sync_message", |data| fuzz_protocol::check(&fixture, data));
}

// ----- the seed generator -----

fn registrar() -> Operator {
    Operator::new(OperatorName::new("reg1").unwrap(), DeskRole::Registration)
}

fn new_patient(name: &str) -> NewPatient {
    NewPatient {
        patient_no: None,
        name: name.into(),
        sex: Sex::Female,
        birth_date: "2019-05-04".parse().unwrap(),
        phone: "13800138000".into(),
        national_id: None,
        insurance: InsuranceType::Resident,
        guardian: None,
    }
}

/// Writes `name` into a corpus, keeping the other files there.
fn write_seed(target: &str, name: &str, bytes: &[u8], written: &mut BTreeSet<String>) {
    let name = format!("seed-{name}");
    assert!(written.insert(format!("{target}/{name}")), "{name} twice");
    fs::write(corpus(target).join(name), bytes).unwrap();
}

/// Copies of `bytes` cut at `cuts` and with one bit flipped at each of `flips`, named after
/// `name`.
fn damaged(name: &str, bytes: &[u8], cuts: &[usize], flips: &[usize]) -> Vec<(String, Vec<u8>)> {
    let len = bytes.len();
    let mut out = Vec::new();
    let cuts: BTreeSet<usize> = cuts.iter().copied().filter(|&c| c > 0 && c < len).collect();
    for cut in cuts {
        out.push((format!("{name}.cut{cut}"), bytes[..cut].to_vec()));
    }
    let flips: BTreeSet<usize> = flips.iter().copied().filter(|&a| a < len).collect();
    for (i, at) in flips.into_iter().enumerate() {
        let mut b = bytes.to_vec();
        b[at] ^= 1 << (i % 8);
        out.push((format!("{name}.flip{at}"), b));
    }
    out
}

/// A frame whose length prefix announces exactly a shortened body (so it reaches the decoder).
fn short_body(frame: &[u8], body_len: usize) -> Vec<u8> {
    let body = &frame[4..4 + body_len];
    let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Rewrites the seed corpora from real stores. Run it by name:
/// `cargo test -p lifeline-sync --test fuzz_corpus -- --ignored generate_seed_corpus`.
#[test]
#[ignore = "rewrites fuzz/corpus/*/seed-* and fuzz/seeds/"]
fn generate_seed_corpus() {
    let mut written = BTreeSet::new();
    for target in ["frame_decode", "apply_changes", "verify_signatures"] {
        fs::create_dir_all(corpus(target)).unwrap();
        for entry in fs::read_dir(corpus(target)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("seed-") {
                fs::remove_file(path).unwrap();
            }
        }
    }
    fs::create_dir_all(base_path().parent().unwrap()).unwrap();

    // A sender with two patients: the base (created, then edited) and another.
    let dir = tempfile::tempdir().unwrap();
    // The signers' keys, kept so that seeds can carry real signatures.
    for who in [SENDER, "central"] {
        fs::write(signer_path(who), generate_pkcs8().unwrap()).unwrap();
    }
    let roster = seed_roster();
    let key_of = |who: &str| {
        SigningKey::from_pkcs8(node(who), &fs::read(signer_path(who)).unwrap()).unwrap()
    };
    let w01_key = key_of(SENDER);
    let central_key = key_of("central");
    let member = roster
        .members()
        .find(|m| m.name.as_str() == SENDER)
        .unwrap()
        .clone();
    let mut opts = StoreOptions::new(node(SENDER), NodeRole::Window);
    opts.credentials = Some(Credentials::new(w01_key.clone(), member).unwrap());
    let sender = Store::open(dir.path().join("sender.redb"), opts).unwrap();
    let base = sender
        .create_patient(&registrar(), new_patient("Wang Fang"))
        .unwrap()
        .value
        .header
        .id;
    let v1 = (*sender.doc(base).unwrap().unwrap()).clone();
    let v1_heads = v1.get_heads();
    sender
        .update_patient(
            &registrar(),
            base,
            PatientEdit {
                name: Some("Wang Fang Li".into()),
                phone: Some("13900139000".into()),
                ..PatientEdit::default()
            },
        )
        .unwrap();
    let v2 = (*sender.doc(base).unwrap().unwrap()).clone();
    let other = sender
        .create_patient(&registrar(), new_patient("Li Lei"))
        .unwrap()
        .value
        .header
        .id;
    let other_doc = (*sender.doc(other).unwrap().unwrap()).clone();

    let base_bytes = v1.save();
    fs::write(base_path(), &base_bytes).unwrap();

    // ----- apply_changes: Automerge change bytes as a peer sends them -----
    let delta = v2.save_after(&v1_heads);
    let mut apply: Vec<(String, Vec<u8>)> = vec![
        ("base-save".into(), base_bytes.clone()),
        ("base-nocompress".into(), v1.save_nocompress()),
        ("v2-save".into(), v2.save()),
        ("v2-delta".into(), delta.clone()),
        ("v2-all-changes-after-empty".into(), v2.save_after(&[])),
        ("other-patient".into(), other_doc.save()),
        (
            "base-then-delta".into(),
            [base_bytes.clone(), delta.clone()].concat(),
        ),
        ("empty".into(), Vec::new()),
        ("garbage".into(), b"garbage".to_vec()),
        ("magic-only".into(), vec![0x85, 0x6f, 0x4a, 0x83]),
        (
            "magic-then-zeros".into(),
            [&[0x85, 0x6f, 0x4a, 0x83][..], &[0; 40]].concat(),
        ),
    ];
    for (i, change) in v2.get_changes(&[]).into_iter().enumerate() {
        apply.push((format!("change{i}-raw"), change.raw_bytes().to_vec()));
        let mut change = change;
        apply.push((format!("change{i}-compressed"), change.bytes().into_owned()));
    }
    // A peer rewriting the header, claiming another id, or sending a header of the wrong shape.
    let forged = |edit: &dyn Fn(&mut Automerge)| {
        let mut doc = v1.fork();
        doc.set_actor(ActorId::from(b"W09\0forger".to_vec()));
        edit(&mut doc);
        doc.save_after(&v1_heads)
    };
    let header = |doc: &Automerge| doc.get(ROOT, "header").unwrap().unwrap().1;
    apply.push((
        "forged-origin".into(),
        forged(&|doc| {
            let h = header(doc);
            let mut tx = doc.transaction();
            tx.put(&h, "origin", "C01").unwrap();
            tx.commit();
        }),
    ));
    apply.push((
        "forged-id".into(),
        forged(&|doc| {
            let h = header(doc);
            let mut tx = doc.transaction();
            tx.put(&h, "id", other.to_string()).unwrap();
            tx.commit();
        }),
    ));
    apply.push((
        "forged-header-type".into(),
        forged(&|doc| {
            let mut tx = doc.transaction();
            tx.put(ROOT, "header", 42_i64).unwrap();
            tx.commit();
        }),
    ));
    apply.push((
        "concurrent-name".into(),
        forged(&|doc| {
            let mut tx = doc.transaction();
            tx.put(ROOT, "name", "Somebody Else").unwrap();
            tx.commit();
        }),
    ));
    // A document without a header at all.
    let mut headless = Automerge::new();
    headless.set_actor(ActorId::from(b"W01\0headless".to_vec()));
    {
        let mut tx = headless.transaction();
        tx.put(ROOT, "name", "nobody").unwrap();
        tx.commit();
    }
    apply.push(("headless".into(), headless.save()));
    for (name, bytes) in [("base-save", &base_bytes), ("v2-delta", &delta)] {
        let len = bytes.len();
        let cuts = [1, 4, 5, len / 2, len - 1];
        apply.extend(damaged(
            name,
            bytes,
            &cuts,
            &[4, 5, len / 3, len / 2, len - 1],
        ));
    }
    for (name, bytes) in &apply {
        write_seed("apply_changes", name, bytes, &mut written);
    }

    // ----- verify_signatures: signed commits and the changes they sign -----
    let delta_hashes: Vec<ChangeHash> =
        v2.get_changes(&v1_heads).iter().map(|c| c.hash()).collect();
    let sign = |key: &SigningKey, hashes: &[ChangeHash]| {
        SignedCommit::sign(key, hashes.to_vec()).unwrap().encode()
    };
    let good = sign(&w01_key, &delta_hashes);
    let mut claimed = SignedCommit::decode(&good).unwrap();
    claimed.key = central_key.id();
    let claimed = {
        // W01's name, central's key: the key is not W01's.
        let mut c = claimed;
        c.signature = SignedCommit::sign(&central_key, c.hashes.clone())
            .unwrap()
            .signature;
        c.encode()
    };
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let stranger = SigningKey::from_pkcs8(node(SENDER), &generate_pkcs8().unwrap()).unwrap();
    let (forged, forged_hashes) = {
        let mut doc = v1.fork();
        doc.set_actor(ActorId::from(b"central\0forged00".to_vec()));
        let mut tx = doc.transaction();
        tx.put(ROOT, "phone", "13000000000").unwrap();
        tx.commit();
        (
            doc.save_after(&v1_heads),
            doc.get_changes(&v1_heads)
                .iter()
                .map(|c| c.hash())
                .collect::<Vec<_>>(),
        )
    };
    let verify: Vec<(String, Vec<u8>)> = vec![
        (
            "signed-delta".into(),
            verify_input(std::slice::from_ref(&good), &delta, &delta_hashes),
        ),
        (
            "unsigned-delta".into(),
            verify_input(&[], &delta, &delta_hashes),
        ),
        (
            "signed-by-central".into(),
            verify_input(&[sign(&central_key, &delta_hashes)], &delta, &delta_hashes),
        ),
        (
            "named-w01-key-central".into(),
            verify_input(&[claimed], &delta, &delta_hashes),
        ),
        (
            "flipped-signature".into(),
            verify_input(&[flipped], &delta, &delta_hashes),
        ),
        (
            "unknown-key".into(),
            verify_input(&[sign(&stranger, &delta_hashes)], &delta, &delta_hashes),
        ),
        (
            "empty-commit".into(),
            verify_input(&[sign(&w01_key, &[])], &delta, &[]),
        ),
        (
            "two-commits".into(),
            verify_input(
                &[sign(&central_key, &delta_hashes), good.clone()],
                &delta,
                &delta_hashes,
            ),
        ),
        (
            "central-actor-by-central".into(),
            verify_input(
                &[sign(&central_key, &forged_hashes)],
                &forged,
                &forged_hashes,
            ),
        ),
        (
            "central-actor-by-w01".into(),
            verify_input(&[sign(&w01_key, &forged_hashes)], &forged, &forged_hashes),
        ),
        ("empty".into(), Vec::new()),
        ("garbage".into(), b"garbage".to_vec()),
    ];
    let mut verify_all = verify.clone();
    for (name, bytes) in &verify[..2] {
        let len = bytes.len();
        verify_all.extend(damaged(
            name,
            bytes,
            &[1, 3, len / 2, len - 1],
            &[3, 10, len / 2, len - 1],
        ));
    }
    for (name, bytes) in &verify_all {
        write_seed("verify_signatures", name, bytes, &mut written);
    }

    // ----- frame_decode: one real frame of every variant, then damaged copies -----
    let wire_heads = |doc: &Automerge| doc.get_heads().iter().map(|h| h.0).collect::<Vec<_>>();
    let digest = sender.digest().unwrap();
    let sync_out = sender
        .sync_generate(base, &mut sync::State::new())
        .unwrap()
        .unwrap();
    let signatures: Vec<Vec<u8>> = sender.export(&[base, other]).unwrap().signatures;
    let mut reply_state = sync::State::new();
    let reply = Automerge::new()
        .generate_sync_message(&mut reply_state)
        .map(sync::Message::encode)
        .unwrap();
    let frames: Vec<(&str, Frame)> = vec![
        (
            "hello",
            Frame::Hello(Hello {
                protocol: lifeline_sync::frame::PROTOCOL_VERSION,
                node: SENDER.into(),
                incarnation: sender.incarnation().unwrap(),
                feed_head: sender.feed_head().unwrap(),
                opening: sender.opening().0,
                opened_feed_head: sender.opening().1,
                applied_from_you: 3,
                keeps_since_ms: None,
                offering: false,
            }),
        ),
        (
            "hello-window",
            Frame::Hello(Hello {
                protocol: lifeline_sync::frame::PROTOCOL_VERSION,
                node: SENDER.into(),
                incarnation: sender.incarnation().unwrap(),
                feed_head: sender.feed_head().unwrap(),
                opening: sender.opening().0,
                opened_feed_head: sender.opening().1,
                applied_from_you: 0,
                keeps_since_ms: Some(1_795_568_400_000),
                offering: false,
            }),
        ),
        (
            "batch",
            Frame::Batch(Batch {
                batch: 7,
                upto: Some(sender.feed_head().unwrap()),
                docs: vec![
                    WireDoc {
                        id: base.to_bytes(),
                        seq: 2,
                        heads: wire_heads(&v2),
                        bytes: delta.clone(),
                    },
                    WireDoc {
                        id: other.to_bytes(),
                        seq: 3,
                        heads: wire_heads(&other_doc),
                        bytes: other_doc.save(),
                    },
                ],
                signatures: signatures.clone(),
            }),
        ),
        (
            "batch-emergency-empty",
            Frame::Batch(Batch {
                batch: 1,
                upto: None,
                docs: Vec::new(),
                signatures: Vec::new(),
            }),
        ),
        (
            "ack",
            Frame::Ack(Ack {
                batch: 7,
                applied_upto: Some(3),
                missing: vec![base.to_bytes()],
                rejected: vec![(other.to_bytes(), "not allowed".into())],
            }),
        ),
        (
            "ack-empty",
            Frame::Ack(Ack {
                batch: u64::MAX,
                applied_upto: None,
                missing: Vec::new(),
                rejected: Vec::new(),
            }),
        ),
        (
            "rewind",
            Frame::Rewind {
                applied_from_you: 12,
            },
        ),
        (
            "sync",
            Frame::Sync {
                id: base.to_bytes(),
                message: sync_out.message,
                signatures: sync_out
                    .signatures
                    .iter()
                    .map(|c| c.bytes.to_vec())
                    .collect(),
            },
        ),
        (
            "sync-first",
            Frame::Sync {
                id: other.to_bytes(),
                message: reply,
                signatures: Vec::new(),
            },
        ),
        ("digest-request", Frame::DigestRequest { scope: Scope::All }),
        (
            "digest-request-window",
            Frame::DigestRequest {
                scope: Scope::Since { day: 20_782 },
            },
        ),
        (
            "digest",
            Frame::Digest(WireDigest {
                scope: Scope::All,
                records: digest.records,
                buckets: digest.buckets,
            }),
        ),
        (
            "fetch",
            Frame::Fetch {
                request: 3,
                ids: vec![base.to_bytes(), other.to_bytes()],
            },
        ),
        (
            "fetched",
            Frame::Fetched {
                request: 3,
                docs: vec![WireDoc {
                    id: other.to_bytes(),
                    seq: 0,
                    heads: wire_heads(&other_doc),
                    bytes: other_doc.save(),
                }],
                missing: vec![base.to_bytes()],
            },
        ),
        (
            "ping",
            Frame::Ping {
                nonce: 0x0123_4567_89ab_cdef,
            },
        ),
        ("pong", Frame::Pong { nonce: u64::MAX }),
        (
            "goodbye",
            Frame::Goodbye {
                reason: "shutting down: 停机".into(),
            },
        ),
        (
            "roster",
            Frame::Roster {
                members: vec![b"a certificate, DER".to_vec()],
                revocations: vec![b"{\"name\":\"W07\"}".to_vec()],
            },
        ),
        (
            "offer",
            Frame::Offer {
                offer: 1,
                docs: vec![
                    (base.to_bytes(), wire_heads(&v2)),
                    (other.to_bytes(), wire_heads(&other_doc)),
                ],
                last: true,
            },
        ),
        (
            "want",
            Frame::Want {
                offer: 1,
                ids: vec![other.to_bytes()],
                later: Vec::new(),
            },
        ),
    ];
    let mut frame_inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut encoded = Vec::new();
    for (name, frame) in &frames {
        let bytes = frame.encode().unwrap();
        frame_inputs.push(((*name).into(), bytes.clone()));
        frame_inputs.push((format!("{name}.body"), bytes[4..].to_vec()));
        if bytes.len() > 5 {
            frame_inputs.push((format!("{name}.short"), short_body(&bytes, bytes.len() - 5)));
        }
        let len = bytes.len();
        frame_inputs.extend(damaged(name, &bytes, &[len / 2], &[4, len / 2, len - 1]));
        encoded.push(bytes);
    }
    let mut trailing = encoded[0].clone();
    let len = u32::try_from(trailing.len() - 4 + 1).unwrap();
    trailing[..4].copy_from_slice(&len.to_be_bytes());
    trailing.push(0);
    frame_inputs.push(("hello.trailing-byte".into(), trailing));
    frame_inputs.push((
        "two-frames".into(),
        [encoded[9].clone(), encoded[10].clone()].concat(),
    ));
    frame_inputs.push(("all-frames".into(), encoded.concat()));
    frame_inputs.push(("empty".into(), Vec::new()));
    frame_inputs.push(("prefix-zero".into(), vec![0, 0, 0, 0]));
    frame_inputs.push(("prefix-max".into(), vec![0xff; 4]));
    let max = u32::try_from(MAX_FRAME_BYTES).unwrap();
    frame_inputs.push(("prefix-limit".into(), max.to_be_bytes().to_vec()));
    frame_inputs.push(("prefix-over-limit".into(), (max + 1).to_be_bytes().to_vec()));
    frame_inputs.push(("garbage".into(), [&[0, 0, 0, 5][..], &[0xff; 5]].concat()));
    // A batch claiming 2^32 documents, and a goodbye whose reason is not UTF-8.
    frame_inputs.push((
        "batch-huge-count".into(),
        [&[0, 0, 0, 8, 1, 7, 0][..], &[0xff, 0xff, 0xff, 0xff, 0x0f]].concat(),
    ));
    frame_inputs.push((
        "goodbye-bad-utf8".into(),
        vec![0, 0, 0, 4, 9, 2, 0xc3, 0x28],
    ));
    for (name, bytes) in &frame_inputs {
        write_seed("frame_decode", name, bytes, &mut written);
    }
    println!("wrote {} seed files", written.len());
}

/// Rewrites the seeds of `store_open` and `sync_message`: the small store
/// `fuzz/seeds/store.redb` and its damaged copies, the CA `fuzz/seeds/ca.pem`, and protocol
/// streams (the whole frames of `frame_decode`'s seeds, roster frames with a certificate and
/// a revocation of that CA). Run it by name:
/// `cargo test -p lifeline-sync --test fuzz_corpus -- --ignored generate_store_and_protocol_seeds`.
#[test]
#[ignore = "rewrites fuzz/seeds/{store.redb,ca.pem} and fuzz/corpus/{store_open,sync_message}/seed-*"]
fn generate_store_and_protocol_seeds() {
    let mut written = BTreeSet::new();
    for target in ["store_open", "sync_message"] {
        fs::create_dir_all(corpus(target)).unwrap();
        for (name, _) in inputs(target) {
            if name.starts_with("seed-") {
                fs::remove_file(corpus(target).join(name)).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();

    // ----- store_open: a registration window's store, whole, cut and patched -----
    let name = node(fuzz_store::STORE_NODE);
    let mut opts = StoreOptions::new(name.clone(), NodeRole::Window);
    opts.credentials =
        Some(Credentials::uncertified(name, NodeRole::Window, &[DeskRole::Registration]).unwrap());
    let path = dir.path().join("store.redb");
    let store = Store::open(&path, opts).unwrap();
    let mut ids = Vec::new();
    for who in ["Wang Fang", "Li Lei", "Zhang Wei"] {
        let saved = store
            .create_patient(&registrar(), new_patient(who))
            .unwrap();
        ids.push(saved.value.header.id);
    }
    let edit = PatientEdit {
        phone: Some("13900139000".into()),
        ..PatientEdit::default()
    };
    store.update_patient(&registrar(), ids[0], edit).unwrap();
    drop(store);
    let file = fs::read(&path).unwrap();
    fs::write(fuzz_dir().join("seeds/store.redb"), &file).unwrap();
    let len = u32::try_from(file.len()).unwrap();
    let mut store_inputs: Vec<(String, Vec<u8>)> = vec![
        ("whole".into(), vec![0]),
        ("raw-empty".into(), vec![0xFF]),
        (
            "raw-magic".into(),
            [&[0xFF][..], b"redb", &[0; 60]].concat(),
        ),
        ("raw-head".into(), [&[0xFF][..], &file[..512]].concat()),
    ];
    for cut in [0, 4, 64, 512, 4096, len / 2, len - 1] {
        store_inputs.push((
            format!("cut{cut}"),
            [&[1][..], &cut.to_be_bytes()[..]].concat(),
        ));
    }
    // Damage where the file holds something: bytes flipped at 48 of its non-zero bytes, spread
    // over the file, and lengths made huge at 8 of them.
    let used: Vec<u32> = (0..len).filter(|&i| file[i as usize] != 0).collect();
    for (k, at) in used.iter().step_by((used.len() / 48).max(1)).enumerate() {
        let byte = file[*at as usize];
        let patch = if k % 6 == 0 {
            [&at.to_be_bytes()[..], &[4, 0xFF, 0xFF, 0xFF, 0xFF]].concat()
        } else {
            [&at.to_be_bytes()[..], &[1, !byte]].concat()
        };
        store_inputs.push((format!("patch{at}"), [&[0][..], &patch[..]].concat()));
    }
    for (name, bytes) in &store_inputs {
        write_seed("store_open", name, bytes, &mut written);
    }

    // ----- sync_message: the protocol's frames as a stream after the peer's hello -----
    for (name, bytes) in inputs("frame_decode") {
        let whole = name.starts_with("seed-")
            && !name.contains('.')
            && Frame::split(&bytes).is_ok_and(|f| f.is_some());
        if whole {
            write_seed("sync_message", &name["seed-".len()..], &bytes, &mut written);
        }
    }
    let ca_dir = dir.path().join("ca");
    let ca = lifeline_sync::identity::init_ca(&ca_dir).unwrap();
    fs::copy(&ca.cert, fuzz_dir().join("seeds/ca.pem")).unwrap();
    let w03 = lifeline_sync::identity::NodeIdentity::new(
        node("W03"),
        NodeRole::Window,
        vec![DeskRole::Registration],
    );
    let files = lifeline_sync::identity::issue(&ca_dir, &w03, 3650).unwrap();
    let loaded = lifeline_sync::identity::load(&files.tls_files()).unwrap();
    let certificate = loaded.credentials().unwrap().member().credential.clone();
    let revoked =
        lifeline_sync::identity::revoke(&ca_dir, &node("W03"), "stolen", 1_795_568_400_000)
            .unwrap();
    let roster = |members: Vec<Vec<u8>>, revocations: Vec<Vec<u8>>| {
        Frame::Roster {
            members,
            revocations,
        }
        .encode()
        .unwrap()
    };
    let proof = revoked.revocation.proof.clone();
    let protocol = [
        (
            "roster-member",
            roster(vec![certificate.clone()], Vec::new()),
        ),
        ("roster-revocation", roster(Vec::new(), vec![proof.clone()])),
        (
            "roster-member-revoked",
            roster(vec![certificate.clone()], vec![proof]),
        ),
        (
            "roster-member-twice",
            [
                roster(vec![certificate.clone()], Vec::new()),
                roster(vec![certificate], Vec::new()),
            ]
            .concat(),
        ),
    ];
    for (name, bytes) in &protocol {
        write_seed("sync_message", name, bytes, &mut written);
    }
    println!("wrote {} seed files", written.len());
}
