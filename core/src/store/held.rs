//! What a node offers a peer before sending its records (its emergency records after an
//! outage, by id and heads), how it answers a peer's offer, and whether it holds a record
//! with given changes, read from the indexes without loading the document. The protocol's
//! side is lifeline-sync's `proto/send.rs` and `proto/receive.rs`.

use automerge::ChangeHash;
use redb::ReadableTable;

use super::error::{ReadError, StorageContext, WriteError};
use super::replication::same_heads;
use super::tables::{self, decode_heads};
use super::{Ask, Store, Tx};
use crate::id::{NodeName, RecordId};

/// Whether a record is held with given changes, from the indexes alone, without loading its
/// document: a change is held when it is one of the record's stored heads, or is kept beside
/// the record (its signed commit linked to the record, or an unsigned change of this node's
/// to it). The second matters at central, which stamps each emergency record it receives as
/// acknowledged: its heads then move past the heads every other node offers or sends.
struct HeldChanges<'a, H, C, R, U> {
    heads: &'a H,
    change_signed: &'a C,
    record_signed: &'a R,
    unsigned: &'a U,
}

impl<H, C, R, U> HeldChanges<'_, H, C, R, U>
where
    H: ReadableTable<tables::Id, &'static [u8]>,
    C: ReadableTable<tables::Hash, tables::Hash>,
    R: ReadableTable<(tables::Id, tables::Hash), ()>,
    U: ReadableTable<tables::Hash, tables::Id>,
{
    fn holds(&self, id: RecordId, changes: &[ChangeHash]) -> Result<bool, ReadError> {
        if changes.is_empty() {
            return Ok(false);
        }
        let key = id.to_bytes();
        let Some(stored) = self.heads.get(key).ctx("reading heads")? else {
            return Ok(false);
        };
        let ours = decode_heads(stored.value());
        for h in changes {
            if ours.contains(h) {
                continue;
            }
            let signed = match self.change_signed.get(h.0).ctx("reading heads")? {
                Some(commit) => self
                    .record_signed
                    .get((key, commit.value()))
                    .ctx("reading heads")?
                    .is_some(),
                None => false,
            };
            if signed {
                continue;
            }
            let unsigned = self.unsigned.get(h.0).ctx("reading heads")?;
            if unsigned.is_none_or(|r| r.value() != key) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Tx<'_, '_> {
    /// Whether this node holds the record with every one of `heads` (see [`HeldChanges`]):
    /// the usual case when several peers relay the same record. The sender's changes are all
    /// ancestors of its heads, so a sender whose heads we hold brings nothing new.
    pub(super) fn holds_heads(
        &self,
        id: RecordId,
        heads: &[ChangeHash],
    ) -> Result<bool, ReadError> {
        let w = self.r();
        let heads_t = w.open_table(tables::DOC_HEADS).ctx("reading heads")?;
        let change_signed = w.open_table(tables::CHANGE_SIGNED).ctx("reading heads")?;
        let record_signed = w.open_table(tables::RECORD_SIGNED).ctx("reading heads")?;
        let unsigned = w.open_table(tables::UNSIGNED).ctx("reading heads")?;
        HeldChanges {
            heads: &*heads_t,
            change_signed: &*change_signed,
            record_signed: &*record_signed,
            unsigned: &*unsigned,
        }
        .holds(id, heads)
    }
}

impl Store {
    /// Our heads of each record, to offer `peer` before sending the record's changes:
    /// records not held here, and those the peer is known to hold at our very heads, are
    /// left out. Reads the heads index only.
    pub fn offer(
        &self,
        peer: &NodeName,
        ids: &[RecordId],
    ) -> Result<Vec<(RecordId, Vec<ChangeHash>)>, ReadError> {
        let txn = self.read_txn()?;
        let heads_t = txn.open_table(tables::DOC_HEADS).ctx("reading heads")?;
        let (known_t, slot) = super::holders::of_peer(&txn, peer)?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some((heads, known)) = heads_and_known(&heads_t, &known_t, slot, id)? else {
                continue;
            };
            if known.is_some_and(|k| same_heads(&k, &heads)) {
                continue;
            }
            out.push((id, heads));
        }
        Ok(out)
    }

    /// For each record, whether this node wrote its latest changes (every one of its heads
    /// is an unsigned change of ours, or signed by this node): read from the indexes, each
    /// signed commit decoded once. A node offers its own emergency records first.
    pub fn written_here(&self, ids: &[RecordId]) -> Result<Vec<bool>, ReadError> {
        let txn = self.read_txn()?;
        let heads_t = txn.open_table(tables::DOC_HEADS).ctx("reading heads")?;
        let change_signed = txn
            .open_table(tables::CHANGE_SIGNED)
            .ctx("reading signatures")?;
        let signed = txn.open_table(tables::SIGNED).ctx("reading signatures")?;
        let unsigned = txn.open_table(tables::UNSIGNED).ctx("reading signatures")?;
        let mut ours_by_commit: std::collections::HashMap<tables::Hash, bool> =
            std::collections::HashMap::new();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let heads = heads_t
                .get(id.to_bytes())
                .ctx("reading heads")?
                .map(|v| decode_heads(v.value()))
                .unwrap_or_default();
            let mut ours = !heads.is_empty();
            for h in &heads {
                if unsigned.get(h.0).ctx("reading signatures")?.is_some() {
                    continue;
                }
                let Some(commit) = change_signed.get(h.0).ctx("reading signatures")? else {
                    ours = false;
                    break;
                };
                let commit = commit.value();
                let by_us = match ours_by_commit.get(&commit) {
                    Some(by_us) => *by_us,
                    None => {
                        let by_us = signed
                            .get(commit)
                            .ctx("reading signatures")?
                            .and_then(|bytes| {
                                crate::trust::SignedCommit::decode(bytes.value()).ok()
                            })
                            .is_some_and(|c| c.author == *self.node());
                        ours_by_commit.insert(commit, by_us);
                        by_us
                    }
                };
                if !by_us {
                    ours = false;
                    break;
                }
            }
            out.push(ours);
        }
        Ok(out)
    }

    /// For each record and heads, whether the record is held with every one of the heads
    /// (see [`HeldChanges`]), in one read transaction.
    pub(super) fn holding<'h>(
        &self,
        items: impl IntoIterator<Item = (RecordId, &'h [ChangeHash])>,
    ) -> Result<Vec<bool>, ReadError> {
        let txn = self.read_txn()?;
        let heads_t = txn.open_table(tables::DOC_HEADS).ctx("reading heads")?;
        let change_signed = txn.open_table(tables::CHANGE_SIGNED).ctx("reading heads")?;
        let record_signed = txn.open_table(tables::RECORD_SIGNED).ctx("reading heads")?;
        let unsigned = txn.open_table(tables::UNSIGNED).ctx("reading heads")?;
        let index = HeldChanges {
            heads: &heads_t,
            change_signed: &change_signed,
            record_signed: &record_signed,
            unsigned: &unsigned,
        };
        items
            .into_iter()
            .map(|(id, heads)| index.holds(id, heads))
            .collect()
    }

    /// A peer offers records at these heads: each held here with every offered head is
    /// recorded as held by the peer there (one commit, only when there is one), and the
    /// others are returned, to be asked for now or later ([`Asks`]). Read from the indexes,
    /// without loading a document (see [`HeldChanges`]).
    pub fn peer_offers(
        &self,
        peer: &NodeName,
        offered: Vec<(RecordId, Vec<ChangeHash>)>,
    ) -> Result<Vec<(RecordId, Ask)>, WriteError> {
        let holding = self.holding(offered.iter().map(|(id, h)| (*id, h.as_slice())))?;
        let (held, lacking): (Vec<_>, Vec<_>) = offered
            .into_iter()
            .zip(holding)
            .partition(|(_, holds)| *holds);
        let held: Vec<(RecordId, Vec<ChangeHash>)> = held.into_iter().map(|(o, _)| o).collect();
        let lacking = {
            let mut asks = self.shared.asks.lock().unwrap_or_else(|e| e.into_inner());
            for (id, _) in &held {
                asks.held(*id);
            }
            lacking
                .into_iter()
                .map(|((id, _), _)| (id, asks.lacking(peer, id)))
                .collect()
        };
        if !held.is_empty() {
            let peer = peer.clone();
            self.write(move |tx| {
                tx.write_peer_heads_all(&peer, held)?;
                Ok(())
            })?;
        }
        Ok(lacking)
    }
}

/// A record's heads here, and the heads a peer is known to have of it (if any).
type HeadsAndKnown = (Vec<ChangeHash>, Option<Vec<ChangeHash>>);

/// A record's heads here and the heads the peer of `slot` is known to have of it; `None` for
/// a record not held.
pub(super) fn heads_and_known(
    heads_t: &impl ReadableTable<tables::Id, &'static [u8]>,
    known_t: &impl ReadableTable<tables::Id, &'static [u8]>,
    slot: Option<super::holders::Slot>,
    id: RecordId,
) -> Result<Option<HeadsAndKnown>, ReadError> {
    let Some(heads) = heads_t.get(id.to_bytes()).ctx("reading heads")? else {
        return Ok(None);
    };
    let known = super::holders::known(known_t, slot, id)?;
    Ok(Some((decode_heads(heads.value()), known)))
}
