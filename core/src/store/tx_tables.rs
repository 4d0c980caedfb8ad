//! A batch's tables, each opened once per write transaction and kept open until the batch
//! finishes.
//!
//! Opening a redb table looks its name up in the database's table of tables, reads its stored
//! definition and checks its key and value types (building their type names); closing it
//! writes its root back. A peer's record touches some twenty tables, so a batch of 256 records
//! opened and closed about 5,000 tables: a fifth of the writer's time in the replication
//! benchmark. [`TxTables`] opens each table on first use and hands out the open table to
//! every later user of the batch, with the same call as redb's
//! (`open_table(tables::FEED)`), so code written against a `WriteTransaction` reads the same.
//!
//! A table is lent to one user at a time, as redb lends it: asking for a table still held
//! higher up the stack is an error ([`TableError::TableAlreadyOpen`]), never a panic. Every
//! table of [`super::tables::for_each`] has its slot here (a table missing from this list does
//! not compile where it is opened in a batch), and the tables are dropped with the
//! `TxTables`, before the transaction commits (the borrow checker sees to that: `commit`
//! takes the transaction by value).

use std::cell::{RefCell, RefMut};
use std::panic::Location;

use redb::{Key, Table, TableDefinition, TableError, TableHandle, Value, WriteTransaction};

use super::tables::{self, Hash, Id};

/// Where an open table of key `K` and value `V` is kept, by the table's name.
pub(crate) trait Slot<'t, K: Key + 'static, V: Value + 'static> {
    fn slot(&self, name: &str) -> Option<&RefCell<Option<Table<'t, K, V>>>>;
}

/// Declares [`TxTables`] with one slot per table, grouped by key and value type (one
/// [`Slot`] implementation per group).
macro_rules! tx_tables {
    ($( <$k:ty, $v:ty> { $($field:ident: $def:ident),+ $(,)? } )+) => {
        /// The tables of one write transaction, each opened on first use (see the module's
        /// documentation).
        pub(crate) struct TxTables<'t> {
            w: &'t WriteTransaction,
            $($( $field: RefCell<Option<Table<'t, $k, $v>>>, )+)+
        }

        impl<'t> TxTables<'t> {
            pub(crate) fn new(w: &'t WriteTransaction) -> Self {
                TxTables { w, $($( $field: RefCell::new(None), )+)+ }
            }

            /// The names of the tables with a slot.
            #[cfg(test)]
            fn names() -> Vec<&'static str> {
                vec![$($( tables::$def.name(), )+)+]
            }
        }

        $(
            impl<'t> Slot<'t, $k, $v> for TxTables<'t> {
                fn slot(&self, name: &str) -> Option<&RefCell<Option<Table<'t, $k, $v>>>> {
                    $( if name == tables::$def.name() { return Some(&self.$field); } )+
                    None
                }
            }
        )+
    };
}

tx_tables! {
    <&'static str, &'static [u8]> { meta: META, ranges: RANGES, peer_state: PEER_STATE }
    <(Id, u32), &'static [u8]> { doc_chunks: DOC_CHUNKS }
    <Id, &'static [u8]> {
        doc_heads: DOC_HEADS, patient_keys_of: PATIENT_KEYS_OF, peer_holds: PEER_HOLDS
    }
    <u64, (Id, u8)> { feed: FEED }
    <Id, u64> { feed_pos: FEED_POS }
    <(u8, Id), ()> { by_kind: BY_KIND }
    <(Id, Id), ()> { by_patient: BY_PATIENT, by_prescription: BY_PRESCRIPTION }
    <(&'static str, Id), ()> { by_episode: BY_EPISODE }
    <Id, ()> { unreconciled: UNRECONCILED, acked: ACKED, resettle_pending: RESETTLE_PENDING }
    <(u8, &'static str), Id> { catalog_codes: CATALOG_CODES }
    <(u8, Id), &'static [u8]> { queues: QUEUES }
    <(&'static str, &'static str, Id), ()> { patient_keys: PATIENT_KEYS }
    <&'static str, u64> { counts: COUNTS }
    <(u8, &'static str), &'static [u8]> { open_items: OPEN_ITEMS }
    <(Id, u8, &'static str), ()> { items_of: ITEMS_OF }
    <(i64, &'static str), &'static [u8]> { decisions: DECISIONS }
    <(u32, u8), &'static [u8]> { digest: DIGEST }
    <u64, &'static [u8]> { audit: AUDIT, quarantine: QUARANTINE }
    <(u8, u64), &'static [u8]> { numbers: NUMBERS }
    <u8, u64> { lessor: LESSOR }
    <&'static str, u32> { peer_slots: PEER_SLOTS }
    <(&'static str, Id), &'static [u8]> { peer_sync: PEER_SYNC }
    <Hash, &'static [u8]> { signed: SIGNED, roster: ROSTER, revoked: REVOKED }
    <Hash, Hash> { change_signed: CHANGE_SIGNED }
    <(Id, Hash), ()> { record_signed: RECORD_SIGNED }
    <Hash, Id> { unsigned: UNSIGNED }
    <Hash, u64> { quarantine_keys: QUARANTINE_KEYS }
    <(u8, u64), (u64, Id)> { granted: GRANTED }
}

impl<'t> TxTables<'t> {
    /// The table `definition`, opened on its first use in the transaction; lent until the
    /// returned guard is dropped.
    #[track_caller]
    pub(crate) fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        definition: TableDefinition<'static, K, V>,
    ) -> Result<RefMut<'_, Table<'t, K, V>>, TableError>
    where
        Self: Slot<'t, K, V>,
    {
        let name = definition.name();
        let Some(slot) = self.slot(name) else {
            return Err(TableError::TableDoesNotExist(name.to_owned()));
        };
        let Ok(mut open) = slot.try_borrow_mut() else {
            return Err(TableError::TableAlreadyOpen(
                name.to_owned(),
                Location::caller(),
            ));
        };
        if open.is_none() {
            *open = Some(self.w.open_table(definition)?);
        }
        RefMut::filter_map(open, Option::as_mut)
            .map_err(|_| TableError::TableDoesNotExist(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use redb::{ReadableDatabase, ReadableTableMetadata};

    use super::*;

    fn database() -> (tempfile::TempDir, redb::Database) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = redb::Database::create(dir.path().join("t.redb")).expect("create");
        (dir, db)
    }

    /// Every table of the store has its slot, and only those.
    #[test]
    fn every_table_of_the_store_has_a_slot() {
        let mut slots = TxTables::names();
        slots.sort_unstable();
        let mut store = tables::names();
        store.sort_unstable();
        assert_eq!(slots, store);
    }

    /// A table opened once serves every later user of the transaction, with what earlier
    /// users wrote; the writes commit with the transaction.
    #[test]
    fn a_table_is_opened_once_and_its_writes_commit() {
        let (_dir, db) = database();
        let w = db.begin_write().expect("begin");
        {
            let t = TxTables::new(&w);
            t.open_table(tables::AUDIT)
                .expect("open")
                .insert(1, b"one".as_slice())
                .expect("insert");
            let audit = t.open_table(tables::AUDIT).expect("open again");
            assert_eq!(audit.len().expect("len"), 1);
        }
        w.commit().expect("commit");
        let r = db.begin_read().expect("read");
        let audit = r.open_table(tables::AUDIT).expect("open");
        assert_eq!(
            audit.get(1).expect("get").map(|v| v.value().to_vec()),
            Some(b"one".to_vec())
        );
    }

    /// A table still lent is refused to a second user with redb's own error, not a panic.
    #[test]
    fn a_table_lent_twice_is_an_error() {
        let (_dir, db) = database();
        let w = db.begin_write().expect("begin");
        let t = TxTables::new(&w);
        let held = t.open_table(tables::FEED).expect("open");
        assert!(matches!(
            t.open_table(tables::FEED),
            Err(TableError::TableAlreadyOpen(name, _)) if name == "feed"
        ));
        // Another table of the same key and value types is its own slot.
        drop(held);
        let _heads = t.open_table(tables::DOC_HEADS).expect("heads");
        let _holds = t
            .open_table(tables::PEER_HOLDS)
            .expect("holds of the same types");
    }
}
