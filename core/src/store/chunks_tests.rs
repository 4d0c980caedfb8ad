//! The compression of stored chunks: what it saves, that a chunk always reads back as
//! Automerge wrote it, that chunks stored before it still read, and that a damaged one is a
//! damaged record, never a panic.

use automerge::Automerge;
use proptest::prelude::*;
use redb::ReadableDatabase;
use sha2::{Digest, Sha256};

use super::*;
use crate::desk::PatientEdit;
use crate::id::RecordId;
use crate::record::Patient;
use crate::roles::NodeRole;
use crate::store::error::ReadError;
use crate::store::{IncomingDoc, Store, tables};
use crate::test_support::{copy_all, new_patient, registrar, store_at, temp_store};

/// Every chunk compressed with dictionary 1 needs these very bytes to be read: a changed
/// file would make every store written since unreadable.
#[test]
fn dictionary_1_never_changes() {
    assert_eq!(
        hex::encode(Sha256::digest(DICTIONARY)),
        "fdb5317a8984482c74600af10a65ac1302d04f86417483212f3f19c453707f47"
    );
}

fn stored(store: &Store, id: RecordId) -> Vec<Vec<u8>> {
    let r = store.shared.db.begin_read().expect("read");
    let chunks = r.open_table(tables::DOC_CHUNKS).expect("chunks");
    let key = id.to_bytes();
    chunks
        .range((key, 0)..=(key, u32::MAX))
        .expect("range")
        .map(|e| e.expect("row").1.value().to_vec())
        .collect()
}

fn put(store: &Store, id: RecordId, n: u32, bytes: &[u8]) {
    let w = store.shared.db.begin_write().expect("write");
    w.open_table(tables::DOC_CHUNKS)
        .expect("chunks")
        .insert((id.to_bytes(), n), bytes)
        .expect("insert");
    w.commit().expect("commit");
}

#[test]
fn a_patient_stores_in_under_half_its_document_and_leaves_as_automerge_wrote_it() {
    let (_dir, store, _clock) = temp_store("W01", NodeRole::Window);
    let p = store
        .create_patient(&registrar(), new_patient("张小明"))
        .expect("saved")
        .value;
    let id = p.header.id;
    let chunks = stored(&store, id);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0][0], DICTIONARY_1);
    let doc = unpack(&chunks[0]).expect("unpacks");
    assert!(
        chunks[0].len() * 2 < doc.len(),
        "{} bytes stored for a document of {}",
        chunks[0].len(),
        doc.len()
    );
    // What a peer or a fetch gets is Automerge's own save, which loads as the record.
    let whole = store.whole(&[id]).expect("read");
    assert_eq!(whole[0].bytes, doc);
    let loaded = Automerge::load(&whole[0].bytes).expect("Automerge loads it");
    assert_eq!(loaded.get_heads(), whole[0].heads);
    assert_eq!(
        crate::record::hydrate::<Patient>(&loaded).expect("a patient"),
        p
    );
}

#[test]
fn chunks_stored_before_the_compression_still_read_and_take_later_writes() {
    let (dir, store, clock) = temp_store("W01", NodeRole::Window);
    let path = dir.path().join("store.redb");
    let p = store
        .create_patient(&registrar(), new_patient("李小红"))
        .expect("saved")
        .value;
    let id = p.header.id;
    // As a store written by the release before holds it: Automerge's bytes as they are.
    let raw = unpack(&stored(&store, id)[0]).expect("unpacks");
    assert_eq!(raw[0], AUTOMERGE_MAGIC);
    put(&store, id, 0, &raw);
    drop(store);
    let store = store_at(&path, "W01", NodeRole::Window, &clock);
    assert_eq!(store.get::<Patient>(id).expect("reads"), Some(p.clone()));
    let edit = PatientEdit {
        phone: Some("13900001111".into()),
        ..PatientEdit::default()
    };
    let edited = store
        .update_patient(&registrar(), id, edit)
        .expect("saved")
        .value;
    let chunks = stored(&store, id);
    assert_eq!(chunks.len(), 2, "the old chunk and the edit's");
    assert_eq!(chunks[0], raw);
    drop(store);
    let store = store_at(&path, "W01", NodeRole::Window, &clock);
    assert_eq!(store.get::<Patient>(id).expect("reads"), Some(edited));
}

#[test]
fn a_damaged_chunk_is_a_damaged_record_and_the_others_still_read() {
    let (dir, store, clock) = temp_store("W01", NodeRole::Window);
    let path = dir.path().join("store.redb");
    let who = registrar();
    let damaged = store
        .create_patient(&who, new_patient("王小刚"))
        .expect("saved")
        .value;
    let other = store
        .create_patient(&who, new_patient("赵小丽"))
        .expect("saved")
        .value;
    let good = stored(&store, damaged.header.id).remove(0);
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 8);
    let mut longer_said = good.clone();
    longer_said[1] = longer_said[1].wrapping_add(1);
    let mut shorter_said = good.clone();
    shorter_said[1] = shorter_said[1].wrapping_sub(1);
    let mut huge = vec![DICTIONARY_1];
    leb128(u64::MAX, &mut huge);
    huge.extend_from_slice(&good[3..]);
    let cases: [(&str, Vec<u8>); 5] = [
        ("unknown encoding", vec![0x02, 1, 2, 3]),
        ("truncated", truncated),
        ("says it is longer", longer_said),
        ("says it is shorter", shorter_said),
        ("says it is huge", huge),
    ];
    drop(store);
    for (what, bytes) in cases {
        let store = store_at(&path, "W01", NodeRole::Window, &clock);
        put(&store, damaged.header.id, 0, &bytes);
        match store.get::<Patient>(damaged.header.id) {
            Err(ReadError::Corrupt { id, .. }) => assert_eq!(id, damaged.header.id, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(store.whole(&[damaged.header.id]).is_err(), "{what}");
        assert_eq!(
            store.get::<Patient>(other.header.id).expect("reads"),
            Some(other.clone()),
            "{what}"
        );
        put(&store, damaged.header.id, 0, &good);
        assert_eq!(
            store.get::<Patient>(damaged.header.id).expect("reads"),
            Some(damaged.clone()),
            "{what}"
        );
    }
}

/// A patient's document as Automerge saves it, packed: what the damage below lands in.
fn packed_patient() -> Vec<u8> {
    let (_dir, store, _clock) = temp_store("W01", NodeRole::Window);
    let p = store
        .create_patient(&registrar(), new_patient("钱小川"))
        .expect("saved")
        .value;
    stored(&store, p.header.id).remove(0)
}

/// An empty chunk, which no write leaves (one that changes nothing stores nothing) but a
/// file may hold, reads as nothing beside the record's other chunks, as it did before the
/// compression; and packing nothing stores nothing.
#[test]
fn an_empty_chunk_stays_empty_and_reads_as_nothing() {
    assert!(pack(&[]).is_empty());
    assert_eq!(unpack(&[]).expect("unpacks"), Vec::<u8>::new());
    let (_dir, store, _clock) = temp_store("W01", NodeRole::Window);
    let p = store
        .create_patient(&registrar(), new_patient("孙小梅"))
        .expect("saved")
        .value;
    put(&store, p.header.id, 1, &[]);
    let whole = store.whole(&[p.header.id]).expect("reads");
    assert_eq!(
        whole[0].bytes,
        unpack(&stored(&store, p.header.id)[0]).expect("unpacks")
    );
}

/// A record's changes as `out` sends them, and their signatures.
fn sent(out: &crate::store::OutgoingDoc) -> (IncomingDoc, Vec<Vec<u8>>) {
    let item = IncomingDoc {
        id: out.id,
        bytes: out.bytes.clone(),
        sender_heads: out.heads.clone(),
        seq: 0,
    };
    (
        item,
        out.signatures.iter().map(|c| c.bytes.to_vec()).collect(),
    )
}

/// A record a peer holds none of goes to it as stored, one packed chunk, which the peer keeps
/// as it came and reads after a restart; a record of several chunks goes as Automerge wrote
/// it, and the peer stores it packed itself.
#[test]
fn a_new_record_goes_to_a_peer_as_stored_and_is_kept_as_it_came() {
    let (_w, w01, _) = temp_store("W01", NodeRole::Window);
    let (central_dir, central, clock) = temp_store("central", NodeRole::Central);
    let (_w2, w02, _) = temp_store("W02", NodeRole::Window);
    // The peers learn W01's key from its node record.
    copy_all(&w01, &central);
    copy_all(&w01, &w02);
    let p = w01
        .create_patient(&registrar(), new_patient("周小宁"))
        .expect("saved")
        .value;
    let id = p.header.id;
    let out = w01.outgoing(central.node(), &[id]).expect("outgoing");
    assert_eq!(out[0].bytes, stored(&w01, id)[0], "sent as stored");
    let (item, signatures) = sent(&out[0]);
    let applied = (central.apply_batch(w01.node(), vec![item], signatures, None)).expect("apply");
    assert_eq!(applied.applied, vec![id], "{applied:?}");
    assert_eq!(stored(&central, id), vec![out[0].bytes.clone()]);
    drop(central);
    let central = store_at(
        &central_dir.path().join("store.redb"),
        "central",
        NodeRole::Central,
        &clock,
    );
    assert_eq!(central.get::<Patient>(id).expect("reads"), Some(p));

    let edit = PatientEdit {
        phone: Some("13900000003".into()),
        ..Default::default()
    };
    w01.update_patient(&registrar(), id, edit).expect("edit");
    assert_eq!(stored(&w01, id).len(), 2);
    let out = w01.outgoing(w02.node(), &[id]).expect("outgoing");
    assert_eq!(out[0].bytes[0], AUTOMERGE_MAGIC, "two chunks go unpacked");
    let (item, signatures) = sent(&out[0]);
    let applied = (w02.apply_batch(w01.node(), vec![item], signatures, None)).expect("apply");
    assert_eq!(applied.applied, vec![id], "{applied:?}");
    let kept = stored(&w02, id);
    assert_eq!((kept.len(), kept[0][0]), (1, DICTIONARY_1));
    let patient: Patient = w02.get(id).expect("reads").expect("held");
    assert_eq!(patient.phone, "13900000003");
}

/// A peer's packed record that says it inflates past [`MAX_SENT_PACKED`], or carries bytes
/// after its end, is refused before anything of it is kept; one whose Automerge chunks load
/// only in part (a damaged change after the document) is kept as it loads, never as it came.
#[test]
fn a_packed_record_that_says_too_much_or_carries_more_is_refused_and_a_part_is_not_kept_as_sent() {
    let (_w, w01, _) = temp_store("W01", NodeRole::Window);
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    copy_all(&w01, &central);
    let p = w01
        .create_patient(&registrar(), new_patient("吴小溪"))
        .expect("saved")
        .value;
    let id = p.header.id;
    let out = w01.outgoing(central.node(), &[id]).expect("outgoing");
    let (item, signatures) = sent(&out[0]);
    let packed = item.bytes.clone();
    let mut too_much = vec![DICTIONARY_1];
    leb128(MAX_SENT_PACKED + 1, &mut too_much);
    too_much.extend_from_slice(&packed[1 + read_leb128(&packed[1..]).expect("length").1..]);
    let mut more = packed.clone();
    more.extend_from_slice(&[0, 1, 2]);
    for bytes in [too_much, more] {
        let item = IncomingDoc {
            bytes,
            ..item.clone()
        };
        let applied =
            (central.apply_batch(w01.node(), vec![item], signatures.clone(), None)).expect("apply");
        assert_eq!(applied.rejected.len(), 1, "{applied:?}");
        assert_eq!(applied.rejected[0].reason.code(), "undecodable");
        assert!(central.doc(id).expect("reads").is_none());
    }

    let mut doc = Automerge::load(&unpack(&packed).expect("unpacks")).expect("loads");
    let heads = doc.get_heads();
    let mut whole = doc.save_nocompress();
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        automerge::transaction::Transactable::put(tx, automerge::ROOT, "phone", "1")
    })
    .expect("change");
    let mut damaged = doc.save_after(&heads);
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    whole.extend_from_slice(&damaged);
    let item = IncomingDoc {
        bytes: pack(&whole),
        ..item
    };
    let applied =
        (central.apply_batch(w01.node(), vec![item.clone()], signatures, None)).expect("apply");
    assert_eq!(applied.applied, vec![id], "{applied:?}");
    let kept = stored(&central, id);
    assert_ne!(kept, vec![item.bytes], "kept as it loaded, not as it came");
    assert_eq!(central.get::<Patient>(id).expect("reads"), Some(p));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// A real packed chunk with bytes changed and cut short: it unpacks to exactly the length
    /// it says, or says why it cannot, and never panics.
    #[test]
    fn a_damaged_real_chunk_unpacks_to_its_length_or_says_why(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
    ) {
        thread_local! {
            static GOOD: Vec<u8> = packed_patient();
        }
        let mut bytes = GOOD.with(Clone::clone);
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        bytes.truncate(1 + cut.index(bytes.len()));
        if let Ok(out) = unpack(&bytes)
            && bytes[0] == DICTIONARY_1
        {
            let (said, _) = read_leb128(&bytes[1..]).expect("a length");
            prop_assert_eq!(out.len() as u64, said);
        }
    }
}

proptest! {
    #[test]
    fn anything_stored_unpacks_or_says_why_and_every_chunk_packs_back(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let _ = unpack(&bytes);
        let mut chunk = vec![AUTOMERGE_MAGIC];
        chunk.extend_from_slice(&bytes);
        prop_assert_eq!(unpack(&pack(&chunk)).expect("unpacks"), chunk);
        prop_assert_eq!(unpack(&pack(&bytes)).expect("unpacks"), bytes);
    }
}
