//! Upgrading, at open and in place, a store written by the schema before this one, so that a
//! hospital installing a new version keeps every node's store. Any older schema is refused
//! (see `docs/design.md`). The upgrade is one write transaction: a crash in it leaves the
//! file as it was, and the next open upgrades again.
//!
//! Schema 7 → 8: what peers hold moves from a row per (peer, record), `peer_heads`, to a row
//! per record, `peer_holds`, each peer taking a slot (`peer_slots`) in the order it is met.

use std::collections::HashMap;

use redb::{Database, ReadableTable, TableDefinition};

use super::holders::{Holders, Slot};
use super::tables::{self, Id, meta_keys};

/// The one older schema this version upgrades.
pub(super) const UPGRADABLE: u64 = 7;

/// The tables schema 8 added: not in a schema 7 file, so the check at open, which reads the
/// file before it is upgraded, passes over them.
pub(super) const ADDED: [&str; 2] = ["peer_holds", "peer_slots"];

/// Schema 7's row per (peer, record): the heads the peer was known to have.
const PEER_HEADS: TableDefinition<(&str, Id), &[u8]> = TableDefinition::new("peer_heads");

/// Upgrades a schema 7 store to this schema; the number of (peer, record) rows moved.
pub(super) fn from_7(db: &Database) -> Result<u64, redb::Error> {
    let w = db.begin_write()?;
    let mut moved = 0u64;
    {
        let old = w.open_table(PEER_HEADS)?;
        let mut holds = w.open_table(tables::PEER_HOLDS)?;
        let mut slots = w.open_table(tables::PEER_SLOTS)?;
        let mut by_peer: HashMap<String, Slot> = HashMap::new();
        for entry in old.iter()? {
            let (k, v) = entry?;
            let (peer, id) = k.value();
            let next = Slot::try_from(by_peer.len()).unwrap_or(Slot::MAX);
            let slot = *by_peer.entry(peer.to_owned()).or_insert(next);
            let mut row = holds
                .get(id)?
                .map(|r| Holders::decode(r.value()))
                .unwrap_or_default();
            row.put(slot, &tables::decode_heads(v.value()));
            holds.insert(id, row.encode().as_slice())?;
            moved += 1;
        }
        for (peer, slot) in &by_peer {
            slots.insert(peer.as_str(), *slot)?;
        }
        let mut meta = w.open_table(tables::META)?;
        meta.insert(
            meta_keys::PEER_SLOT_NEXT,
            by_peer.len().to_string().as_bytes(),
        )?;
        meta.insert(
            meta_keys::SCHEMA,
            tables::SCHEMA_VERSION.to_string().as_bytes(),
        )?;
    }
    w.delete_table(PEER_HEADS)?;
    w.commit()?;
    Ok(moved)
}

/// Writes a schema 7 store's peers' holdings back as schema 7 kept them, for the upgrade's
/// tests: the file's `peer_holds` rows become `peer_heads` rows and the schema says 7.
#[cfg(test)]
pub(super) fn downgrade_to_7(db: &Database) -> Result<(), redb::Error> {
    let w = db.begin_write()?;
    {
        let slots = w.open_table(tables::PEER_SLOTS)?;
        let holds = w.open_table(tables::PEER_HOLDS)?;
        let mut old = w.open_table(PEER_HEADS)?;
        for entry in slots.iter()? {
            let (peer, slot) = entry?;
            for row in holds.iter()? {
                let (id, bytes) = row?;
                if let Some(heads) = Holders::decode(bytes.value()).of(slot.value()) {
                    let bytes = tables::encode_heads(heads);
                    old.insert((peer.value(), id.value()), bytes.as_slice())?;
                }
            }
        }
        let mut meta = w.open_table(tables::META)?;
        meta.insert(meta_keys::SCHEMA, UPGRADABLE.to_string().as_bytes())?;
        meta.remove(meta_keys::PEER_SLOT_NEXT)?;
    }
    w.delete_table(tables::PEER_HOLDS)?;
    w.delete_table(tables::PEER_SLOTS)?;
    w.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    use crate::id::{NodeName, RecordId};
    use crate::roles::NodeRole;
    use crate::store::{OpenError, Store};
    use crate::test_support::{central_with_patients, temp_store};

    fn name(n: &str) -> NodeName {
        NodeName::new(n).expect("a node name")
    }

    /// A schema 7 store opens upgraded, with every check at open: what each peer was known to
    /// hold is kept, and a peer met after the upgrade takes a slot of its own.
    #[test]
    fn a_schema_7_store_opens_upgraded_with_what_peers_hold() {
        let (dir, store, acked) = central_with_patients(4);
        let (ids, heads): (Vec<RecordId>, Vec<_>) = acked.iter().cloned().unzip();
        store
            .record_ack(&name("W01"), 4, acked.clone())
            .expect("ack");
        store
            .record_ack(&name("W02"), 2, acked[..2].to_vec())
            .expect("ack");
        let opts = store.options().clone();
        drop(store);
        let path = dir.path().join("store.redb");
        {
            let db = Database::open(&path).expect("the file");
            downgrade_to_7(&db).expect("written as schema 7");
        }
        drop(Store::open(&path, opts.clone()).expect("a schema 7 store opens, upgraded"));
        let store = Store::open(&path, opts.clone()).expect("and opens again");
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(store.peer_heads(&name("W01"), *id).expect("read"), heads[i]);
            let w02 = store.peer_heads(&name("W02"), *id).expect("read");
            assert_eq!(w02, if i < 2 { heads[i].clone() } else { Vec::new() });
        }
        store
            .record_ack(&name("W09"), 1, vec![acked[3].clone()])
            .expect("ack");
        assert!(
            store
                .peer_heads(&name("W09"), ids[0])
                .expect("read")
                .is_empty()
        );
        assert_eq!(
            store.peer_heads(&name("W01"), ids[3]).expect("read"),
            heads[3]
        );
        drop(store);
        let db = Database::open(&path).expect("the file");
        let r = db.begin_read().expect("read");
        let meta = r.open_table(tables::META).expect("meta");
        let schema = meta
            .get(meta_keys::SCHEMA)
            .expect("read")
            .expect("a schema");
        assert_eq!(
            schema.value(),
            tables::SCHEMA_VERSION.to_string().as_bytes()
        );
        assert!(r.open_table(PEER_HEADS).is_err(), "the old table is gone");
    }

    /// A backup taken before the upgrade is restored after it, and opens upgraded.
    #[test]
    fn a_schema_7_snapshot_is_restored_and_opens_upgraded() {
        let (dir, store, mut acked) = central_with_patients(1);
        let (id, heads) = acked.remove(0);
        store
            .record_ack(&name("W01"), 1, vec![(id, heads.clone())])
            .expect("ack");
        let snapshot = dir.path().join("snapshot.redb");
        store.backup_to(&snapshot, &|_, _| {}).expect("backup");
        let opts = store.options().clone();
        drop(store);
        {
            let db = Database::open(&snapshot).expect("the snapshot");
            downgrade_to_7(&db).expect("written as schema 7");
        }
        // The downgrade changed the file: its checksum no longer holds.
        std::fs::remove_file(crate::store::checksum_path(&snapshot)).expect("checksum file");
        let target = dir.path().join("store.redb");
        crate::store::restore_from(
            &snapshot,
            &target,
            &name("central"),
            crate::store::RestoreOptions::default(),
            &|_, _| {},
        )
        .expect("a schema 7 snapshot is restored");
        let store = Store::open(&target, opts).expect("the restored store opens, upgraded");
        assert!(
            store.header(id).expect("read").is_some(),
            "the record is back"
        );
        assert_eq!(store.peer_heads(&name("W01"), id).expect("read"), heads);
    }

    #[test]
    fn a_store_older_than_schema_7_is_refused_untouched() {
        let (dir, store, _) = temp_store("central", NodeRole::Central);
        let opts = store.options().clone();
        drop(store);
        let path = dir.path().join("store.redb");
        {
            let db = Database::open(&path).expect("the file");
            let w = db.begin_write().expect("write");
            w.open_table(tables::META)
                .expect("meta")
                .insert(meta_keys::SCHEMA, b"6".as_slice())
                .expect("insert");
            w.commit().expect("commit");
        }
        let before = std::fs::read(&path).expect("read");
        match Store::open(&path, opts) {
            Err(OpenError::SchemaVersion {
                found, expected, ..
            }) => {
                assert_eq!((found.as_str(), expected), ("6", tables::SCHEMA_VERSION));
            }
            other => panic!("expected a schema refusal, got {:?}", other.map(|_| ())),
        }
        assert_eq!(std::fs::read(&path).expect("read"), before, "untouched");
    }
}
