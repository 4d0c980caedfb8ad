//! What the digest repair reads and changes of the in-memory replica, as core's
//! `store/repair.rs` does of a store: a bucket's records with their heads, beliefs about a
//! peer forgotten, and records waiting for their dependencies settled by a digest that agrees.

use lifeline_core::automerge::ChangeHash;
use lifeline_core::store::{Scope, bucket};
use lifeline_core::{NodeName, RecordId};

use super::Inner;

impl Inner {
    /// Forgets the heads and sync states believed of a peer for some records.
    pub(in crate::replica::memory) fn forget_peer_heads(
        &mut self,
        peer: &NodeName,
        ids: &[RecordId],
    ) {
        if let Some(p) = self.peers.get_mut(peer) {
            for id in ids {
                p.heads.remove(id);
                p.sync.remove(id);
            }
        }
    }

    /// Records from `peer` waiting for their dependencies, held here, in `scope` and in one of
    /// the `agreeing` buckets: no longer waiting (see `Store::settle_waiting`).
    pub(in crate::replica::memory) fn settle_waiting(
        &mut self,
        peer: &NodeName,
        scope: Scope,
        agreeing: &[u8],
    ) -> usize {
        let whole = |id: &RecordId| {
            agreeing.contains(&bucket(*id))
                && self.docs.contains_key(id)
                && self
                    .kinds
                    .get(id)
                    .is_some_and(|kind| scope.covers(*kind, *id))
        };
        let Some(p) = self.peers.get(peer) else {
            return 0;
        };
        let settled: Vec<RecordId> = p
            .state
            .waiting
            .iter()
            .map(|(_, id)| *id)
            .filter(whole)
            .collect();
        self.update_peer(peer, |s| settled.iter().for_each(|id| s.now_whole(*id)));
        settled.len()
    }

    /// The records in a scope whose digest bucket is one of `buckets`, with their heads, in
    /// id order, at most `limit`.
    pub(in crate::replica::memory) fn bucket_heads(
        &self,
        scope: Scope,
        buckets: &[u8],
        limit: usize,
    ) -> Vec<(RecordId, Vec<ChangeHash>)> {
        self.docs
            .iter()
            .filter(|(id, _)| buckets.contains(&bucket(**id)))
            .filter(|(id, _)| {
                self.kinds
                    .get(id)
                    .is_none_or(|kind| scope.covers(*kind, **id))
            })
            .take(limit)
            .map(|(id, doc)| (*id, doc.get_heads()))
            .collect()
    }
}
