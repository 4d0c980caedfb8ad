//! Writes a dictionary of the kind the store compresses record chunks with (see
//! `core/src/store/chunks.rs`): the stored documents of a few typical records, made by the
//! same generators as the scale benchmark's hospital, from a node and an operator no
//! hospital has. This wrote dictionary 1 (`core/src/store/chunk_dictionary.bin`). Each run
//! writes a different file (record ids are random), to
//! `core/src/store/chunk_dictionary.new.bin`, never over dictionary 1, which every chunk
//! compressed with it needs: a new dictionary goes in beside it under a new format byte.
//! `cargo test -p lifeline-bench --release -- --ignored write_the_chunk_dictionary`.

use lifeline_core::record::Record;
use lifeline_core::{
    DeskRole, NodeName, NodeRole, Operator, OperatorName, RecordId, Store, StoreOptions,
};
use redb::{ReadableDatabase, TableDefinition};

use super::data::{self, Origin, Rng};

const DOC_CHUNKS: TableDefinition<([u8; 16], u32), &[u8]> = TableDefinition::new("doc_chunks");

#[test]
#[ignore = "writes core/src/store/chunk_dictionary.new.bin; run by hand"]
fn write_the_chunk_dictionary() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("dictionary.redb");
    let node = NodeName::new("dictionary").expect("valid");
    let store =
        Store::open(&path, StoreOptions::new(node.clone(), NodeRole::Window)).expect("open");
    let who = Operator::new(
        OperatorName::new("dictionary").expect("valid"),
        DeskRole::Admin,
    );
    let o = Origin {
        node,
        operator: who.name.clone(),
        episode: None,
    };
    let at = 1_700_000_000_000;
    let mut rng = Rng::new(0xd1c7);
    // Least frequent first: DEFLATE reaches back into the dictionary at a cost that grows
    // with the distance, so the patient, most of what a store holds, goes last.
    let (mut yj_patient, yj_visit) = data::emergency_registration(&o, 1, at);
    let mut patient = data::patient(&o, &mut rng, 424_242, at);
    // Names and phones from outside the generator's pools: the dictionary must not favour
    // the benchmark's own patients over a hospital's.
    for (p, name, guardian, phone) in [
        (&mut yj_patient, "欧阳思琪", "欧阳建国", "18612345678"),
        (&mut patient, "司马嘉懿", "司马文博", "15987654321"),
    ] {
        p.name = name.into();
        p.phone = phone.into();
        if let Some(g) = p.guardian.as_mut() {
            g.name = guardian.into();
            g.phone = Some(phone.into());
        }
    }
    let (visit, charge, invoice, rx) = data::visit_records(&o, patient.header.id, 4242, at + 10);
    let mut rx = rx.expect("every 4242nd visit has a prescription");
    let dispense = data::dispense(&o, &mut rx, at + 20);
    let mut order = Vec::new();
    load(&store, &who, &mut order, dispense);
    load(&store, &who, &mut order, rx);
    load(&store, &who, &mut order, yj_visit);
    load(&store, &who, &mut order, invoice);
    load(&store, &who, &mut order, charge);
    load(&store, &who, &mut order, visit);
    load(&store, &who, &mut order, yj_patient);
    load(&store, &who, &mut order, patient);
    drop(store);

    let db = redb::Database::open(&path).expect("reopen");
    let read = db.begin_read().expect("read");
    let chunks = read.open_table(DOC_CHUNKS).expect("chunks");
    let mut dictionary = Vec::new();
    for id in order {
        let chunk = chunks
            .get((id.to_bytes(), 0))
            .expect("read")
            .expect("stored");
        // Stored chunks are themselves compressed once a dictionary exists: the dictionary
        // holds the documents as Automerge saves them.
        dictionary.extend_from_slice(
            &lifeline_core::store::unpack_chunk(chunk.value()).expect("a stored chunk"),
        );
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/src/store/chunk_dictionary.new.bin");
    std::fs::write(&out, &dictionary).expect("write the dictionary");
    println!("{} bytes to {}", dictionary.len(), out.display());
}

fn load<T: Record + Send + 'static>(
    store: &Store,
    who: &Operator,
    order: &mut Vec<RecordId>,
    record: T,
) {
    order.push(record.header().id);
    store.load_records(who, vec![record]).expect("load");
}
