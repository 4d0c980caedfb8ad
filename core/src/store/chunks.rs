//! A record's document as the store keeps it: a first whole save and the changes of each
//! later write as one more chunk, compacted into one whole save after
//! `StoreOptions::compact_after_chunks` of them ([`super::read::load_doc`] reads them back).
//!
//! Each chunk is stored compressed ([`pack`]): raw DEFLATE primed with a fixed dictionary of
//! typical records (`chunk_dictionary.bin`), which holds what every record's document
//! repeats (the columns' layout, field names, kinds and statuses) so that a chunk stores
//! little more than its values. A patient's save of about 600 bytes stores in about 200; a
//! chunk of a few dozen bytes compresses on its own no better than that. Chunks written
//! before the compression (they start with Automerge's magic bytes) read as they are. What
//! leaves the store is Automerge's own bytes ([`unpack`]), but for a record of one chunk sent
//! to a peer that holds none of it: that goes packed ([`sent_as_stored`]), and the peer keeps
//! it as it came ([`unpack_received`]), sparing the sender's inflating, half the bytes on the
//! wire and the receiver's saving and compressing (a new window's sync, issue 10). The
//! dictionary never changes: every chunk compressed with it needs it to be read. A
//! better one goes in beside it under a new number.

use std::cell::RefCell;

use automerge::{Automerge, ChangeHash};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use redb::ReadableTable;

use super::error::{ReadError, StorageContext};
use super::tables::{self, Id};
use super::tx_tables::TxTables;

/// Saves what a document gained since `old_heads` as one more chunk, or, once it has
/// `compact_after` chunks, compacts them all into one full save. A new record whose packed
/// chunk a peer sent and which loaded whole from it into `doc` (`sent`) is stored as it came.
pub(super) fn save_chunks(
    w: &TxTables<'_>,
    key: Id,
    doc: &Automerge,
    old_heads: &[ChangeHash],
    compact_after: u32,
    sent: Option<&[u8]>,
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
            let delta = pack(&doc.save_after(old_heads));
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
            let whole = match sent {
                Some(sent) => std::borrow::Cow::Borrowed(sent),
                None => std::borrow::Cow::Owned(save_whole(doc)),
            };
            chunks.insert((key, 0), &*whole).ctx("saving a record")?;
        }
    }
    Ok(())
}

/// A record's whole document as stored: without Automerge's DEFLATE of its columns. A
/// record's columns are small (a patient with a guardian saves to about 560 bytes, the same
/// with or without it), but each column above 256 bytes starts a fresh zlib state, whose
/// allocation and zeroing was about a sixth of the writer thread's time in a pull of the HIS
/// patient master (the chunk's own compression, [`pack`], keeps one state per thread).
/// Documents saved either way load alike.
fn save_whole(doc: &Automerge) -> Vec<u8> {
    pack(&doc.save_nocompress())
}

/// The first byte of a chunk compressed with dictionary 1. A chunk as Automerge writes it
/// starts with its magic bytes (0x85 …), never with this.
const DICTIONARY_1: u8 = 0x01;
/// The first byte of every Automerge chunk.
const AUTOMERGE_MAGIC: u8 = 0x85;
/// Dictionary 1: the documents of a few typical records (`bench/src/scale/dictionary.rs`
/// wrote it). Its SHA-256 is checked by a test: it must never change.
static DICTIONARY: &[u8] = include_bytes!("chunk_dictionary.bin");
/// The largest chunk a stored one may say it inflates to: far above any record's document,
/// far below what a damaged length could make a reader allocate.
const MAX_CHUNK: u64 = 64 << 20;

// One compressor and one decompressor per thread, reset for each chunk: a fresh one
// allocates and zeroes its tables (what Automerge's own DEFLATE costs, above). Compression
// runs on the writer thread; level 1 stores a patient about 5% longer than level 6 at half
// the time (8 µs against 18 µs on this machine).
thread_local! {
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
    static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// What is wrong with a stored chunk that does not unpack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkDamage {
    #[error("the chunk's encoding {0:#04x} is unknown")]
    UnknownEncoding(u8),
    #[error("the chunk's length is missing or too large")]
    Length,
    #[error("the chunk does not inflate: {0}")]
    Inflate(String),
    #[error("the chunk inflates to {found} bytes, not the {said} it says")]
    WrongLength { said: u64, found: u64 },
}

/// A chunk as stored: [`DICTIONARY_1`], the chunk's length (LEB128), and the chunk in raw
/// DEFLATE primed with the dictionary; or the chunk itself when that is not shorter (an
/// Automerge chunk, which [`unpack`] tells by its first byte). An empty chunk is stored
/// empty, and reads as nothing, as before the compression.
pub(super) fn pack(chunk: &[u8]) -> Vec<u8> {
    if chunk.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(chunk.len() / 2 + 16);
    out.push(DICTIONARY_1);
    leb128(chunk.len() as u64, &mut out);
    let deflated = DEFLATE.with(|d| {
        let mut d = d.borrow_mut();
        d.reset();
        d.set_dictionary(DICTIONARY).is_ok() && deflate_into(&mut d, chunk, &mut out).is_ok()
    });
    let as_it_is = chunk.first() == Some(&AUTOMERGE_MAGIC);
    if deflated && (out.len() < chunk.len() || !as_it_is) {
        out
    } else {
        chunk.to_vec()
    }
}

fn deflate_into(d: &mut Compress, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    loop {
        out.reserve(256);
        let read = d.total_in() as usize;
        match d.compress_vec(&chunk[read..], out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return Ok(()),
            Ok(Status::Ok | Status::BufError) => continue,
            Err(_) => return Err(()),
        }
    }
}

/// The largest document a peer may send packed ([`sent_as_stored`]): the length a packed
/// chunk says it inflates to, checked before anything is allocated for it. A frame carries
/// at most 16 MiB of bytes; packed, those could say many times that, so a peer's packed
/// chunk is held to what a record's document can honestly be (a patient's is about 600
/// bytes). A larger record goes unpacked, as Automerge wrote it.
pub const MAX_SENT_PACKED: u64 = 1 << 20;

/// Whether `bytes` are a chunk as [`pack`] stores it (not Automerge's own bytes).
pub fn is_packed(bytes: &[u8]) -> bool {
    bytes.first() == Some(&DICTIONARY_1)
}

/// A record's one stored chunk, to send to a peer as it is: packed, and saying no more than
/// [`MAX_SENT_PACKED`]. `None` for anything else (a chunk stored as Automerge wrote it, or a
/// larger one), which goes unpacked.
pub(super) fn sent_as_stored(stored: &[u8]) -> Option<&[u8]> {
    packed_within_limit(stored).then_some(stored)
}

/// Whether `bytes` are packed and say they inflate to no more than [`MAX_SENT_PACKED`]: what
/// a packed chunk must be to go to a peer, and to be inflated when one comes from a peer.
fn packed_within_limit(bytes: &[u8]) -> bool {
    is_packed(bytes)
        && bytes
            .get(1..)
            .and_then(read_leb128)
            .is_some_and(|(said, _)| said <= MAX_SENT_PACKED)
}

/// A record's one chunk, as Automerge wrote it, packed as a store holding it sends it to a
/// peer that holds none of it ([`sent_as_stored`]); `None` when the store would send it
/// unpacked. For replicas that keep chunks unpacked (the simulator's, in memory).
pub fn packed_to_send(chunk: &[u8]) -> Option<Vec<u8>> {
    let packed = pack(chunk);
    packed_within_limit(&packed).then_some(packed)
}

/// A peer's record changes as Automerge reads them: unpacked if they came packed (a record
/// sent as stored, [`sent_as_stored`]), else as they are. A packed chunk saying more than
/// [`MAX_SENT_PACKED`] is refused before it is inflated.
pub fn unpack_received(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, ChunkDamage> {
    if !is_packed(bytes) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    if !packed_within_limit(bytes) {
        return Err(ChunkDamage::Length);
    }
    unpack(bytes).map(std::borrow::Cow::Owned)
}

/// A stored chunk as Automerge wrote it.
pub fn unpack(stored: &[u8]) -> Result<Vec<u8>, ChunkDamage> {
    let mut out = Vec::new();
    unpack_into(stored, &mut out)?;
    Ok(out)
}

/// Appends the stored chunk, as Automerge wrote it, to `out`.
pub(super) fn unpack_into(stored: &[u8], out: &mut Vec<u8>) -> Result<(), ChunkDamage> {
    match stored.first() {
        None => Ok(()),
        Some(&AUTOMERGE_MAGIC) => {
            out.extend_from_slice(stored);
            Ok(())
        }
        Some(&DICTIONARY_1) => {
            let (said, used) = read_leb128(&stored[1..]).ok_or(ChunkDamage::Length)?;
            if said > MAX_CHUNK {
                return Err(ChunkDamage::Length);
            }
            let deflated = &stored[1 + used..];
            INFLATE.with(|i| inflate_into(&mut i.borrow_mut(), deflated, said, out))
        }
        Some(&other) => Err(ChunkDamage::UnknownEncoding(other)),
    }
}

fn inflate_into(
    i: &mut Decompress,
    deflated: &[u8],
    said: u64,
    out: &mut Vec<u8>,
) -> Result<(), ChunkDamage> {
    let damage = |e: &dyn std::fmt::Display| ChunkDamage::Inflate(e.to_string());
    i.reset(false);
    i.set_dictionary(DICTIONARY).map_err(|e| damage(&e))?;
    let start = out.len();
    // Room for what the chunk says plus one byte: a chunk that inflates longer shows it.
    out.reserve(said as usize + 1);
    loop {
        let (read, written) = (i.total_in(), out.len());
        let status = i
            .decompress_vec(&deflated[read as usize..], out, FlushDecompress::Finish)
            .map_err(|e| damage(&e))?;
        let found = (out.len() - start) as u64;
        if found > said {
            return Err(ChunkDamage::WrongLength { said, found });
        }
        match status {
            // Nothing may follow the stream: a chunk is kept and sent on as it came.
            Status::StreamEnd if i.total_in() != deflated.len() as u64 => {
                return Err(damage(&"bytes follow its end"));
            }
            Status::StreamEnd if found == said => return Ok(()),
            Status::StreamEnd => return Err(ChunkDamage::WrongLength { said, found }),
            _ if i.total_in() == read && out.len() == written => {
                return Err(damage(&"it ends early"));
            }
            _ => {}
        }
    }
}

fn leb128(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A LEB128 number and the bytes it took; `None` if it runs past the input or 64 bits.
fn read_leb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

#[cfg(test)]
#[path = "chunks_tests.rs"]
mod tests;
