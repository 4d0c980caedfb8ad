//! Copies the tables of one read transaction into a new database, in bounded write
//! transactions, reporting rows copied: the heart of a backup.

use redb::{
    Database, Durability, Key, ReadTransaction, ReadableTableMetadata, TableDefinition,
    TableHandle, Value,
};

use crate::store::tables::{self, TableVisitor};

/// Rows copied per write transaction of a backup, at most.
const CHUNK_ROWS: u64 = 4096;
/// Bytes copied per write transaction of a backup, at most (roughly).
const CHUNK_BYTES: usize = 16 << 20;

/// A redb failure while copying, on the side it happened.
pub(super) enum CopyError {
    Source(redb::Error),
    Destination(redb::Error),
}

pub(super) fn src<E: Into<redb::Error>>(e: E) -> CopyError {
    CopyError::Source(e.into())
}

pub(super) fn dst<E: Into<redb::Error>>(e: E) -> CopyError {
    CopyError::Destination(e.into())
}

/// Copies the tables of one read transaction into a new database.
pub(super) struct Copier<'a> {
    pub(super) from: &'a ReadTransaction,
    pub(super) to: &'a Database,
    pub(super) done: u64,
    pub(super) total: u64,
    pub(super) progress: &'a dyn Fn(u64, u64),
}

impl Copier<'_> {
    fn table<K: Key + 'static, V: Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
        durability: Durability,
    ) -> Result<(), CopyError> {
        let from = self.from.open_table(def).map_err(src)?;
        let mut rows = redb::ReadableTable::iter(&from).map_err(src)?;
        loop {
            let mut w = self.to.begin_write().map_err(dst)?;
            w.set_durability(durability).map_err(dst)?;
            let (mut n, mut bytes, mut end) = (0u64, 0usize, false);
            {
                let mut to = w.open_table(def).map_err(dst)?;
                while n < CHUNK_ROWS && bytes < CHUNK_BYTES {
                    let Some(row) = rows.next() else {
                        end = true;
                        break;
                    };
                    let (k, v) = row.map_err(src)?;
                    let (k, v) = (k.value(), v.value());
                    bytes += K::as_bytes(&k).as_ref().len() + V::as_bytes(&v).as_ref().len();
                    to.insert(k, v).map_err(dst)?;
                    n += 1;
                }
            }
            w.commit().map_err(dst)?;
            self.done += n;
            (self.progress)(self.done, self.total);
            if end {
                return Ok(());
            }
        }
    }

    /// Every table; the metadata last and durably, so that a file cut short has no metadata
    /// and is refused as a store.
    pub(super) fn all(&mut self) -> Result<(), CopyError> {
        tables::for_each(self)?;
        self.table(tables::META, Durability::Immediate)
    }
}

impl TableVisitor for Copier<'_> {
    type Error = CopyError;
    fn visit<K: Key + 'static, V: Value + 'static>(
        &mut self,
        table: TableDefinition<'static, K, V>,
    ) -> Result<(), CopyError> {
        if table.name() == tables::META.name() {
            return Ok(());
        }
        self.table(table, Durability::None)
    }
}

/// Rows in every table of a read transaction.
pub(super) fn table_rows(r: &ReadTransaction) -> Result<u64, redb::Error> {
    struct Rows<'a>(&'a ReadTransaction, u64);
    impl TableVisitor for Rows<'_> {
        type Error = redb::Error;
        fn visit<K: Key + 'static, V: Value + 'static>(
            &mut self,
            table: TableDefinition<'static, K, V>,
        ) -> Result<(), redb::Error> {
            self.1 += self.0.open_table(table)?.len()?;
            Ok(())
        }
    }
    let mut rows = Rows(r, 0);
    tables::for_each(&mut rows)?;
    Ok(rows.1)
}
