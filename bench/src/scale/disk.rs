//! Where a store's disk goes: the file's length, the bytes the file system holds for it (redb
//! grows the file ahead of its pages, and a region not written yet holds no blocks), and each
//! table's pages, rows and stored bytes, read with redb's own table statistics from the file
//! of a stopped daemon.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTableMetadata, TableHandle};
use serde::Serialize;

/// One table's share of a store.
#[derive(Debug, Clone, Serialize)]
pub struct TableSize {
    pub name: String,
    pub rows: u64,
    /// Its leaf and branch pages.
    pub page_bytes: u64,
    /// The keys and values its leaves hold.
    pub stored_bytes: u64,
}

/// A store's disk, and its tables largest first.
#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    pub file_bytes: u64,
    /// What the file system allocated (`st_blocks`), what the disk really gives the store.
    pub allocated_bytes: u64,
    pub tables: Vec<TableSize>,
}

/// Measures the store at `path` (no daemon may have it open).
pub fn measure(path: &Path) -> anyhow::Result<Disk> {
    let meta = std::fs::metadata(path)?;
    let allocated_bytes = std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
    let db = redb::Database::open(path)?;
    let page = db.begin_write()?.stats()?.page_size() as u64;
    let r = db.begin_read()?;
    let mut tables = Vec::new();
    for handle in r.list_tables()? {
        let name = handle.name().to_owned();
        let table = r.open_untyped_table(handle)?;
        let stats = table.stats()?;
        tables.push(TableSize {
            name,
            rows: table.len()?,
            page_bytes: (stats.leaf_pages() + stats.branch_pages()) * page,
            stored_bytes: stats.stored_bytes(),
        });
    }
    tables.sort_by_key(|t| std::cmp::Reverse(t.page_bytes));
    Ok(Disk {
        file_bytes: meta.len(),
        allocated_bytes,
        tables,
    })
}

impl Disk {
    /// The largest tables, each as bytes of pages per record held.
    pub fn largest(&self, records: u64, n: usize) -> String {
        let per = |b: u64| b as f64 / records.max(1) as f64;
        self.tables
            .iter()
            .take(n)
            .map(|t| format!("{} {:.0}", t.name, per(t.page_bytes)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
