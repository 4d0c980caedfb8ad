//! What repairing a digest that stays different reads and forgets: the records of some digest
//! buckets with their heads (offered to the peer, which asks for those it lacks), and what we
//! believed the peer held of the records it asks for (the belief was wrong: the record goes
//! whole).

use automerge::ChangeHash;
use redb::ReadableTable;

use super::Store;
use super::digest::{Scope, bucket};
use super::error::{ReadError, StorageContext, WriteError};
use super::tables::{self, decode_heads};
use crate::id::{NodeName, RecordId};
use crate::record::RecordKind;

impl Store {
    /// The records in `scope` whose digest bucket is one of `buckets`, with their heads, at
    /// most `limit` of them. Reads the kind index end to end (a repair is rare: a digest that
    /// stayed different) and the heads of the records found.
    pub fn bucket_heads(
        &self,
        scope: Scope,
        buckets: &[u8],
        limit: usize,
    ) -> Result<Vec<(RecordId, Vec<ChangeHash>)>, ReadError> {
        let txn = self.read_txn()?;
        let by_kind = txn.open_table(tables::BY_KIND).ctx("reading an index")?;
        let heads_t = txn.open_table(tables::DOC_HEADS).ctx("reading heads")?;
        let mut out = Vec::new();
        for entry in by_kind.iter().ctx("reading an index")? {
            if out.len() >= limit {
                break;
            }
            let (k, _) = entry.ctx("reading an index")?;
            let (kind, id) = k.value();
            let id = RecordId::from_bytes(id);
            if !buckets.contains(&bucket(id)) {
                continue;
            }
            if !RecordKind::from_code(kind).is_none_or(|kind| scope.covers(kind, id)) {
                continue;
            }
            if let Some(heads) = heads_t.get(id.to_bytes()).ctx("reading heads")? {
                out.push((id, decode_heads(heads.value())));
            }
        }
        Ok(out)
    }

    /// Forgets what we believed `peer` held of these records (and the sync exchanges kept
    /// with it about them): the next time they go to it, they go whole. One durable commit.
    pub fn forget_peer_heads(&self, peer: &NodeName, ids: &[RecordId]) -> Result<(), WriteError> {
        let peer = peer.clone();
        let ids = ids.to_vec();
        self.write(move |tx| {
            let w = tx.w();
            let mut heads = w
                .open_table(tables::PEER_HEADS)
                .ctx("forgetting peer heads")?;
            let mut syncs = w
                .open_table(tables::PEER_SYNC)
                .ctx("forgetting sync states")?;
            for id in &ids {
                heads
                    .remove((peer.as_str(), id.to_bytes()))
                    .ctx("forgetting peer heads")?;
                syncs
                    .remove((peer.as_str(), id.to_bytes()))
                    .ctx("forgetting sync states")?;
            }
            Ok(())
        })
    }
}
