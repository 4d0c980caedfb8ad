//! Backup, restore and the monthly restore drill.
//!
//! - [`Store::backup_to`] ([`snapshot`]) copies ONE read transaction of the live store (a
//!   snapshot: the writer keeps committing meanwhile) table by table ([`copier`]) into a new
//!   redb file created at a temporary path beside the destination, fsyncs it and renames it
//!   into place. A checksum file `<backup>.sha256` (the `sha256sum` format) is written next to
//!   it.
//! - [`restore_from`] ([`restore`]) brings a node's store back from a snapshot while its
//!   daemon is stopped ([`lock`]): the snapshot is copied (never opened in place, so never
//!   changed) to a temporary file beside the store, which must pass redb's page checksums, a
//!   read of every table and the audit chain; it then gets a NEW incarnation ([`stamp`]), so
//!   that peers know this store lost history and resend what it lacks, and is renamed over the
//!   store in one step. The replaced file is kept as `<store>.before-restore`.
//! - [`compact_store`] ([`compact`]) rewrites a stopped store through the same copy into a
//!   file beside it, checks the copy whole against the store (same incarnation, records,
//!   audit entries and feed position) and renames it over the store: the space redb leaves in
//!   pages filled out of key order comes back, and peers see nothing change.
//! - [`verify_snapshot`] ([`verify`]) restores into a scratch directory and reads everything
//!   back: every record's header, each record's heads against the `doc_heads` table, the audit
//!   chain and the number-range report. Damage is reported as problems, never as a panic.
//!
//! [`Store::backup_to`]: super::Store::backup_to

mod compact;
mod copier;
mod files;
mod lock;
mod restore;
mod snapshot;
mod stamp;
pub(super) use stamp::stamp;
mod verify;

#[cfg(test)]
mod tests;

use redb::{ReadTransaction, ReadableTableMetadata};

pub use compact::{CompactError, CompactInfo, compact_store};
pub use files::{before_restore_path, checksum_path};
pub use restore::{RestoreError, RestoreInfo, RestoreOptions, restore_from};
pub use snapshot::{BackupError, BackupInfo};
pub use verify::{VerifyError, VerifyReport, verify_snapshot};

use super::tables::{self, meta_keys};

/// What a snapshot holds, read from its tables.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    node: String,
    incarnation: String,
    records: u64,
    audit_entries: u64,
    feed_seq: u64,
}

fn summarize(r: &ReadTransaction) -> Result<Summary, redb::Error> {
    let meta = r.open_table(tables::META)?;
    let text = |key: &str| -> Result<String, redb::Error> {
        Ok(redb::ReadableTable::get(&meta, key)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned())
            .unwrap_or_default())
    };
    Ok(Summary {
        node: text(meta_keys::NODE)?,
        incarnation: text(meta_keys::INCARNATION)?,
        feed_seq: text(meta_keys::FEED_SEQ)?.parse().unwrap_or(0),
        records: r.open_table(tables::BY_KIND)?.len()?,
        audit_entries: r.open_table(tables::AUDIT)?.len()?,
    })
}
