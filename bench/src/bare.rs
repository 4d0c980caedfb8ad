//! The baseline: a bare redb database making one durable commit per write of as many bytes as
//! one registration commits, with no Automerge, no indexes, no audit chain and no writer
//! thread. The store's figures divided by these are its overhead.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use redb::{Database, Durability, TableDefinition};

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("bare");

/// A redb database and the payload each commit inserts.
pub struct Bare {
    db: Database,
    payload: Vec<u8>,
    next_key: AtomicU64,
}

impl std::fmt::Debug for Bare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bare")
            .field("payload_bytes", &self.payload.len())
            .field("next_key", &self.next_key)
            .finish_non_exhaustive()
    }
}

impl Bare {
    /// Creates the database at `path`; every commit will insert `payload_bytes` bytes.
    pub fn create(path: &Path, payload_bytes: usize) -> anyhow::Result<Bare> {
        let db =
            Database::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        // Not all one byte, in case a layer below is clever with runs.
        let payload = (0..payload_bytes)
            .map(|i| u8::try_from(i % 251).unwrap_or(0))
            .collect();
        Ok(Bare {
            db,
            payload,
            next_key: AtomicU64::new(0),
        })
    }

    /// One durable commit inserting the payload under a new key. Concurrent callers are
    /// serialized by redb: `begin_write` waits for the open write transaction.
    pub fn commit_one(&self) -> anyhow::Result<()> {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let mut w = self.db.begin_write()?;
        w.set_durability(Durability::Immediate)?;
        w.open_table(TABLE)?.insert(key, self.payload.as_slice())?;
        w.commit()?;
        Ok(())
    }
}
