//! What each peer is known to hold of each record, one row per record whatever the number of
//! peers: the row lists the distinct heads peers hold, each with the set of peers holding it
//! (a bitmap of their slots). Peers usually hold a record at the same heads, so a central
//! with 60 windows keeps one group of 60 bits per record, where a row per (peer, record)
//! kept 60 rows (about 7 KB per record at 115 bytes of pages each).
//!
//! A peer's slot is its bit, assigned the first time we note something it holds
//! (`peer_slots`). Forgetting everything a peer holds ([`Tx::retire_slot`], when it comes
//! back with a restored or new store) gives it a new slot the next time: the old slot's bits
//! are left in the rows, never read again, and dropped from a row whenever the row is
//! written. Slots are never reused, so a new peer cannot inherit another's knowledge.

use automerge::ChangeHash;
use redb::ReadableTable;

use super::error::{ReadError, StorageContext};
use super::tables::{self, meta_keys};
use super::{Tx, replication::same_heads};
use crate::id::{NodeName, RecordId};

/// A peer's bit in the rows of [`tables::PEER_HOLDS`].
pub(super) type Slot = u32;

/// Slots ever given (a new peer, or one that came back with less, takes the next): a
/// bitmap's length is a u16 of bytes.
const MOST_SLOTS: Slot = u16::MAX as Slot * 8;

/// A bitmap is stored with at least this many bytes (64 slots), so that a row keeps its size
/// as peers are added: a value that grows splits its full leaf in two, and rows rewritten in
/// order then leave every leaf half full (twice the pages: measured with `lifeline-bench
/// peers`, 118 bytes of pages per record from the 9th peer on against 59 for one).
const BITMAP_BYTES: u16 = 8;

/// One record's row: the heads peers hold, each with the slots of the peers holding it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Holders {
    groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    heads: Vec<ChangeHash>,
    /// Bit `s % 8` of byte `s / 8` is set for the peer of slot `s`; no trailing zero byte.
    slots: Vec<u8>,
}

fn has(bits: &[u8], slot: Slot) -> bool {
    let (byte, bit) = ((slot / 8) as usize, slot % 8);
    bits.get(byte).is_some_and(|b| b & (1 << bit) != 0)
}

fn set(bits: &mut Vec<u8>, slot: Slot) {
    let (byte, bit) = ((slot / 8) as usize, slot % 8);
    if bits.len() <= byte {
        bits.resize(byte + 1, 0);
    }
    bits[byte] |= 1 << bit;
}

fn trim(bits: &mut Vec<u8>) {
    while bits.last() == Some(&0) {
        bits.pop();
    }
}

/// The groups of a stored row (see [`Holders::decode`]), as (heads, bitmap) bytes, without
/// allocating; a damaged row ends where it stops being whole.
struct RawGroups<'a>(&'a [u8]);

impl<'a> Iterator for RawGroups<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        fn take<'b>(bytes: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
            let (head, rest) = bytes.split_at_checked(n)?;
            *bytes = rest;
            Some(head)
        }
        fn length(bytes: &mut &[u8]) -> Option<usize> {
            take(bytes, 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
        }
        let whole = (|| {
            let n = length(&mut self.0)?;
            let heads = take(&mut self.0, n * 32)?;
            let m = length(&mut self.0)?;
            Some((heads, take(&mut self.0, m)?))
        })();
        if whole.is_none() {
            self.0 = &[];
        }
        whole
    }
}

impl Holders {
    /// A row as stored: for each group, the number of heads (u16, little-endian), the heads,
    /// the bitmap's length (u16) and the bitmap. A damaged row reads as far as it is whole.
    pub(super) fn decode(bytes: &[u8]) -> Holders {
        let groups = RawGroups(bytes)
            .filter_map(|(heads, slots)| {
                let mut slots = slots.to_vec();
                trim(&mut slots);
                (!slots.is_empty()).then(|| Group {
                    heads: tables::decode_heads(heads),
                    slots,
                })
            })
            .collect();
        Holders { groups }
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for g in &self.groups {
            let heads = u16::try_from(g.heads.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&heads.to_le_bytes());
            for h in g.heads.iter().take(usize::from(heads)) {
                out.extend_from_slice(&h.0);
            }
            let slots = u16::try_from(g.slots.len()).unwrap_or(u16::MAX);
            let stored = slots.max(BITMAP_BYTES);
            out.extend_from_slice(&stored.to_le_bytes());
            out.extend_from_slice(&g.slots[..usize::from(slots)]);
            out.resize(out.len() + usize::from(stored - slots), 0);
        }
        out
    }

    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The heads the peer of `slot` holds.
    #[cfg(test)]
    pub(super) fn of(&self, slot: Slot) -> Option<&[ChangeHash]> {
        self.groups
            .iter()
            .find(|g| has(&g.slots, slot))
            .map(|g| g.heads.as_slice())
    }

    /// The peer of `slot` holds the record at `heads` (and no longer at what it held before).
    pub(super) fn put(&mut self, slot: Slot, heads: &[ChangeHash]) {
        self.remove(slot);
        match self.groups.iter_mut().find(|g| same_heads(&g.heads, heads)) {
            Some(g) => set(&mut g.slots, slot),
            None => {
                let mut slots = Vec::new();
                set(&mut slots, slot);
                self.groups.push(Group {
                    heads: heads.to_vec(),
                    slots,
                });
            }
        }
    }

    /// Forgets what the peer of `slot` holds; whether it held anything.
    pub(super) fn remove(&mut self, slot: Slot) -> bool {
        let mut removed = false;
        for g in &mut self.groups {
            if has(&g.slots, slot) {
                g.slots[(slot / 8) as usize] &= !(1 << (slot % 8));
                trim(&mut g.slots);
                removed = true;
            }
        }
        self.groups.retain(|g| !g.slots.is_empty());
        removed
    }

    /// Drops the bits of slots no peer has any more (`live`, a bitmap of those it has).
    pub(super) fn keep_live(&mut self, live: &[u8]) {
        for g in &mut self.groups {
            for (i, b) in g.slots.iter_mut().enumerate() {
                *b &= live.get(i).copied().unwrap_or(0);
            }
            trim(&mut g.slots);
        }
        self.groups.retain(|g| !g.slots.is_empty());
    }
}

/// The slots in use, read once per batch that writes a row.
#[derive(Debug, Clone, Default)]
pub(super) struct Slots {
    by_peer: std::collections::HashMap<String, Slot>,
    live: Vec<u8>,
}

/// The slot of `peer`, if it has one.
pub(super) fn slot_of(
    slots: &impl ReadableTable<&'static str, Slot>,
    peer: &str,
) -> Result<Option<Slot>, ReadError> {
    Ok(slots
        .get(peer)
        .ctx("reading peer slots")?
        .map(|v| v.value()))
}

/// [`tables::PEER_HOLDS`] in a read transaction.
pub(super) type HoldsTable = redb::ReadOnlyTable<tables::Id, &'static [u8]>;

/// The rows of what peers hold, and the slot of `peer` among them, in a read transaction.
pub(super) fn of_peer(
    txn: &redb::ReadTransaction,
    peer: &NodeName,
) -> Result<(HoldsTable, Option<Slot>), ReadError> {
    let slots = txn
        .open_table(tables::PEER_SLOTS)
        .ctx("reading peer slots")?;
    let holds = txn
        .open_table(tables::PEER_HOLDS)
        .ctx("reading peer heads")?;
    Ok((holds, slot_of(&slots, peer.as_str())?))
}

/// The heads the peer of `slot` is known to hold of a record (`None`: nothing known).
pub(super) fn known(
    holds: &impl ReadableTable<tables::Id, &'static [u8]>,
    slot: Option<Slot>,
    id: RecordId,
) -> Result<Option<Vec<ChangeHash>>, ReadError> {
    let Some(slot) = slot else { return Ok(None) };
    Ok(holds
        .get(id.to_bytes())
        .ctx("reading peer heads")?
        .and_then(|v| heads_in(v.value(), slot)))
}

/// The heads the peer of `slot` holds, read from a stored row without decoding it: a feed
/// page asks this of every record it passes over.
fn heads_in(row: &[u8], slot: Slot) -> Option<Vec<ChangeHash>> {
    RawGroups(row)
        .find(|(_, slots)| has(slots, slot))
        .map(|(heads, _)| tables::decode_heads(heads))
}

impl Tx<'_, '_> {
    fn slots(&mut self) -> Result<&mut Slots, ReadError> {
        if self.slots.is_none() {
            let t = self
                .r()
                .open_table(tables::PEER_SLOTS)
                .ctx("reading peer slots")?;
            let mut slots = Slots::default();
            for entry in t.iter().ctx("reading peer slots")? {
                let (k, v) = entry.ctx("reading peer slots")?;
                set(&mut slots.live, v.value());
                slots.by_peer.insert(k.value().to_owned(), v.value());
            }
            self.slots = Some(slots);
        }
        Ok(self.slots.get_or_insert_default())
    }

    /// The peer's slot, assigned now if it has none; `None` once [`MOST_SLOTS`] were given
    /// (what the peer holds is then not recorded: it is sent more than it needs, never less).
    fn slot(&mut self, peer: &NodeName) -> Result<Option<Slot>, ReadError> {
        if let Some(&slot) = self.slots()?.by_peer.get(peer.as_str()) {
            return Ok(Some(slot));
        }
        let next = self.meta_u64(meta_keys::PEER_SLOT_NEXT)?;
        let Some(slot) = Slot::try_from(next).ok().filter(|s| *s < MOST_SLOTS) else {
            tracing::warn!(%peer, "every peer slot is taken: what the peer holds is not recorded");
            return Ok(None);
        };
        self.set_meta(meta_keys::PEER_SLOT_NEXT, Some(&(slot + 1).to_string()))?;
        self.w()
            .open_table(tables::PEER_SLOTS)
            .ctx("writing peer slots")?
            .insert(peer.as_str(), slot)
            .ctx("writing peer slots")?;
        let slots = self.slots()?;
        set(&mut slots.live, slot);
        slots.by_peer.insert(peer.as_str().to_owned(), slot);
        Ok(Some(slot))
    }

    /// The heads `peer` is known to hold of a record, as this batch has it (its slot from
    /// the batch's slots, read once).
    pub(super) fn known_heads(
        &mut self,
        peer: &str,
        id: RecordId,
    ) -> Result<Option<Vec<ChangeHash>>, ReadError> {
        let slot = self.slots()?.by_peer.get(peer).copied();
        let holds = self
            .r()
            .open_table(tables::PEER_HOLDS)
            .ctx("reading peer heads")?;
        known(&*holds, slot, id)
    }

    /// Forgets everything the peer is known to hold: its next note gives it a new slot.
    pub(super) fn retire_slot(&mut self, peer: &NodeName) -> Result<(), ReadError> {
        let slots = self.slots()?;
        let Some(slot) = slots.by_peer.remove(peer.as_str()) else {
            return Ok(());
        };
        if let Some(b) = slots.live.get_mut((slot / 8) as usize) {
            *b &= !(1 << (slot % 8));
        }
        self.w()
            .open_table(tables::PEER_SLOTS)
            .ctx("writing peer slots")?
            .remove(peer.as_str())
            .ctx("writing peer slots")?;
        Ok(())
    }

    /// Records that `peer` holds the record at `heads` (all held here).
    pub(super) fn write_peer_heads(
        &mut self,
        peer: &NodeName,
        id: RecordId,
        heads: &[ChangeHash],
    ) -> Result<(), ReadError> {
        self.write_peer_heads_all(peer, [(id, heads.to_vec())])
    }

    /// Records that `peer` holds each record at its heads (all held here).
    pub(super) fn write_peer_heads_all(
        &mut self,
        peer: &NodeName,
        held: impl IntoIterator<Item = (RecordId, Vec<ChangeHash>)>,
    ) -> Result<(), ReadError> {
        let Some(slot) = self.slot(peer)? else {
            return Ok(());
        };
        self.change_holders(held.into_iter().map(|(id, heads)| {
            (id, move |h: &mut Holders| {
                h.put(slot, &heads);
                true
            })
        }))
    }

    /// Forgets what `peer` is known to hold of these records.
    pub(super) fn forget_peer_heads(
        &mut self,
        peer: &NodeName,
        ids: &[RecordId],
    ) -> Result<(), ReadError> {
        let Some(&slot) = self.slots()?.by_peer.get(peer.as_str()) else {
            return Ok(());
        };
        self.change_holders(
            ids.iter()
                .map(|&id| (id, move |h: &mut Holders| h.remove(slot))),
        )
    }

    /// Forgets what every peer holds of a record (it is pruned here).
    pub(super) fn forget_holders(&mut self, id: RecordId) -> Result<(), ReadError> {
        self.w()
            .open_table(tables::PEER_HOLDS)
            .ctx("pruning")?
            .remove(id.to_bytes())
            .ctx("pruning")?;
        Ok(())
    }

    /// Rewrites each record's row through its `change` (which says whether it changed
    /// anything), dropping retired slots' bits; the table is opened once.
    fn change_holders<F: FnOnce(&mut Holders) -> bool>(
        &mut self,
        changes: impl IntoIterator<Item = (RecordId, F)>,
    ) -> Result<(), ReadError> {
        let live = std::mem::take(&mut self.slots()?.live);
        let result = (|| {
            let mut t = self
                .w()
                .open_table(tables::PEER_HOLDS)
                .ctx("recording peer heads")?;
            for (id, change) in changes {
                let key = id.to_bytes();
                let mut holders = t
                    .get(key)
                    .ctx("recording peer heads")?
                    .map(|v| Holders::decode(v.value()))
                    .unwrap_or_default();
                if !change(&mut holders) {
                    continue;
                }
                holders.keep_live(&live);
                if holders.is_empty() {
                    t.remove(key).ctx("recording peer heads")?;
                } else {
                    t.insert(key, holders.encode().as_slice())
                        .ctx("recording peer heads")?;
                }
            }
            Ok(())
        })();
        self.slots()?.live = live;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn h(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    #[test]
    fn peers_at_the_same_heads_share_one_group() {
        let mut row = Holders::default();
        for slot in 0..60 {
            row.put(slot, &[h(1)]);
        }
        assert_eq!(row.groups.len(), 1);
        assert_eq!(row.encode().len(), 2 + 32 + 2 + 8);
        let mut one = Holders::default();
        one.put(0, &[h(1)]);
        assert_eq!(
            one.encode().len(),
            row.encode().len(),
            "a row keeps its size"
        );
        assert_eq!(Holders::decode(&one.encode()), one);
        row.put(7, &[h(2), h(3)]);
        assert_eq!(row.of(7), Some(&[h(2), h(3)][..]));
        assert_eq!(row.of(8), Some(&[h(1)][..]));
        assert_eq!(row.of(60), None);
        assert_eq!(Holders::decode(&row.encode()), row);
    }

    #[test]
    fn forgetting_the_last_peer_of_a_group_drops_it() {
        let mut row = Holders::default();
        row.put(3, &[h(1)]);
        row.put(900, &[h(2)]);
        assert!(row.remove(3));
        assert!(!row.remove(3));
        assert_eq!(row.groups.len(), 1);
        assert_eq!(row.of(900), Some(&[h(2)][..]));
        let mut live = Vec::new();
        set(&mut live, 4);
        row.keep_live(&live);
        assert!(row.is_empty());
    }

    /// What many peers acknowledge at the same heads takes one row per record, and a peer
    /// forgotten (its store came back with less) never reads another's knowledge.
    #[test]
    fn a_store_keeps_one_row_per_record_whatever_the_peers() {
        use crate::test_support::central_with_patients;
        use redb::ReadableTableMetadata;

        let (dir, store, acked) = central_with_patients(5);
        let (ids, heads): (Vec<RecordId>, Vec<Vec<ChangeHash>>) = acked.iter().cloned().unzip();
        let peers: Vec<NodeName> = (1..=20)
            .map(|n| NodeName::new(format!("W{n:02}")).expect("name"))
            .collect();
        for peer in &peers {
            store.record_ack(peer, 5, acked.clone()).expect("ack");
        }
        let rows = || {
            let txn = store.read_txn().expect("read");
            let t = txn.open_table(tables::PEER_HOLDS).expect("table");
            t.len().expect("len")
        };
        assert_eq!(rows(), 5);
        for peer in &peers {
            assert_eq!(store.peer_heads(peer, ids[0]).expect("read"), heads[0]);
        }
        // W03 came back with an empty store: it holds nothing, and a peer noted after it
        // (a new slot) inherits nothing either.
        store.reset_peer(&peers[2], 0).expect("reset");
        assert!(
            store
                .peer_heads(&peers[2], ids[0])
                .expect("read")
                .is_empty()
        );
        let new = NodeName::new("W99").expect("name");
        store
            .record_ack(&new, 1, vec![(ids[1], heads[1].clone())])
            .expect("ack");
        assert!(store.peer_heads(&new, ids[0]).expect("read").is_empty());
        assert_eq!(store.peer_heads(&new, ids[1]).expect("read"), heads[1]);
        assert!(
            store
                .peer_heads(&peers[2], ids[1])
                .expect("read")
                .is_empty()
        );
        // Forgetting one peer's knowledge of a record leaves the others'.
        store
            .forget_peer_heads(&peers[0], &[ids[4]])
            .expect("forget");
        assert!(
            store
                .peer_heads(&peers[0], ids[4])
                .expect("read")
                .is_empty()
        );
        assert_eq!(store.peer_heads(&peers[1], ids[4]).expect("read"), heads[4]);
        // All of it is durable.
        let path = dir.path().join("store.redb");
        let opts = store.options().clone();
        drop(store);
        let store = Store::open(&path, opts).expect("reopen");
        assert_eq!(store.peer_heads(&peers[1], ids[0]).expect("read"), heads[0]);
        assert!(
            store
                .peer_heads(&peers[2], ids[0])
                .expect("read")
                .is_empty()
        );
        assert!(
            store
                .peer_heads(&peers[0], ids[4])
                .expect("read")
                .is_empty()
        );
        assert_eq!(store.peer_heads(&new, ids[1]).expect("read"), heads[1]);
    }

    #[test]
    fn a_damaged_row_reads_as_far_as_it_is_whole() {
        let mut row = Holders::default();
        row.put(1, &[h(1)]);
        row.put(2, &[h(2)]);
        let bytes = row.encode();
        let cut = Holders::decode(&bytes[..bytes.len() - 1]);
        assert_eq!(cut.of(1), Some(&[h(1)][..]));
        assert_eq!(cut.of(2), None);
        // The reading without decoding answers alike, whole or cut.
        for slot in 0..4 {
            for row in [&bytes[..], &bytes[..bytes.len() - 1], &bytes[..5]] {
                let decoded = Holders::decode(row).of(slot).map(<[_]>::to_vec);
                assert_eq!(
                    heads_in(row, slot),
                    decoded,
                    "slot {slot}, {} bytes",
                    row.len()
                );
            }
        }
        assert!(Holders::decode(&[0xff; 7]).is_empty());
    }
}
