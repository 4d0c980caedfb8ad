//! A record's document as the store keeps it: a first whole save and the changes of each
//! later write as one more chunk, compacted into one whole save after
//! `StoreOptions::compact_after_chunks` of them ([`super::read::load_doc`] reads them back).

use automerge::{Automerge, ChangeHash};
use redb::ReadableTable;

use super::error::{ReadError, StorageContext};
use super::tables::{self, Id};
use super::tx_tables::TxTables;

/// Saves what a document gained since `old_heads` as one more chunk, or, once it has
/// `compact_after` chunks, compacts them all into one full save.
pub(super) fn save_chunks(
    w: &TxTables<'_>,
    key: Id,
    doc: &Automerge,
    old_heads: &[ChangeHash],
    compact_after: u32,
) -> Result<(), ReadError> {
    let mut chunks = w.open_table(tables::DOC_CHUNKS).ctx("saving a record")?;
    let last = chunks
        .range((key, 0)..=(key, u32::MAX))
        .ctx("saving a record")?
        .next_back()
        .transpose()
        .ctx("saving a record")?
        .map(|(k, _)| k.value().1);
    match last {
        Some(last) if last + 1 < compact_after => {
            let delta = doc.save_after(old_heads);
            chunks
                .insert((key, last + 1), delta.as_slice())
                .ctx("saving a record")?;
        }
        Some(last) => {
            for n in 0..=last {
                chunks.remove((key, n)).ctx("compacting a record")?;
            }
            chunks
                .insert((key, 0), save_whole(doc).as_slice())
                .ctx("compacting a record")?;
        }
        None => {
            chunks
                .insert((key, 0), save_whole(doc).as_slice())
                .ctx("saving a record")?;
        }
    }
    Ok(())
}

/// A record's whole document as stored: without Automerge's DEFLATE of its columns. A
/// record's columns are small (a patient with a guardian saves to about 560 bytes, the same
/// with or without it), but each column above 256 bytes starts a fresh zlib state, whose
/// allocation and zeroing was about a sixth of the writer thread's time in a pull of the HIS
/// patient master. Documents saved either way load alike.
fn save_whole(doc: &Automerge) -> Vec<u8> {
    doc.save_nocompress()
}
