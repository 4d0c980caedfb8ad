//! What repairing a digest that stays different reads and forgets: the records of some digest
//! buckets with their heads (offered to the peer, which asks for those it lacks), and what we
//! believed the peer held of the records it asks for (the belief was wrong: the record goes
//! whole). And what a digest that agrees settles: records a peer sent that waited for their
//! dependencies, completed since another way.

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
            tx.forget_peer_heads(&peer, &ids)?;
            let mut syncs = tx
                .w()
                .open_table(tables::PEER_SYNC)
                .ctx("forgetting sync states")?;
            for id in &ids {
                syncs
                    .remove((peer.as_str(), id.to_bytes()))
                    .ctx("forgetting sync states")?;
            }
            Ok(())
        })
    }

    /// Records from `peer` that wait for their dependencies and that a digest comparison
    /// just showed whole here: the peer's digest of `scope` agrees with ours in their buckets
    /// (`agreeing`), and the peer computed it after sending them (its frames keep their
    /// order), so we hold them at the peer's heads. They wait no more: `applied_from_peer`
    /// moves past them (whichever peer's records completed them, a repair's among them).
    /// A read when none is settled; one durable commit otherwise. Returns how many were.
    /// A peer that fakes agreement (echoing our digest) only settles records it sent itself:
    /// those it could as well never have sent; their authors' own feeds still bring them.
    pub fn settle_waiting(
        &self,
        peer: &NodeName,
        scope: Scope,
        agreeing: &[u8],
    ) -> Result<usize, WriteError> {
        let waiting = self.peer_state(peer)?.waiting;
        if waiting.is_empty() {
            return Ok(0);
        }
        let whole: Vec<RecordId> = {
            let txn = self.read_txn()?;
            let pos = txn.open_table(tables::FEED_POS).ctx("reading the feed")?;
            let feed = txn.open_table(tables::FEED).ctx("reading the feed")?;
            let mut whole = Vec::new();
            for (_, id) in waiting {
                if !agreeing.contains(&bucket(id)) {
                    continue;
                }
                let Some(seq) = pos.get(id.to_bytes()).ctx("reading the feed")? else {
                    continue;
                };
                let Some(row) = feed.get(seq.value()).ctx("reading the feed")? else {
                    continue;
                };
                let (_, kind) = row.value();
                if RecordKind::from_code(kind).is_some_and(|kind| scope.covers(kind, id)) {
                    whole.push(id);
                }
            }
            whole
        };
        if whole.is_empty() {
            return Ok(0);
        }
        let peer = peer.clone();
        let count = whole.len();
        self.write(move |tx| {
            tx.update_peer_state(&peer, |s| {
                for id in &whole {
                    s.now_whole(*id);
                }
            })?;
            Ok(())
        })?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::PatientEdit;
    use crate::roles::NodeRole;
    use crate::store::{DIGEST_BUCKETS, IncomingDoc};
    use crate::test_support::{new_patient, registrar, temp_store};

    /// A record from W01 that waits for a change it depends on, completed by the standby:
    /// settled by a comparison whose buckets include its own, not by one that leaves it out.
    #[test]
    fn a_waiting_record_is_settled_when_its_bucket_agrees() {
        let (_d, a, _) = temp_store("W01", NodeRole::Window);
        let (_d2, b, _) = temp_store("central", NodeRole::Central);
        b.admit_member(a.member().expect("signing")).expect("admit");
        let w01 = a.node().clone();
        let standby = NodeName::new("standby").expect("valid");
        let id = a
            .create_patient(&registrar(), new_patient("x"))
            .expect("create")
            .value
            .header
            .id;
        let first = a.export(&[id]).expect("export");
        b.apply_remote(&w01, first.changes, first.signatures)
            .expect("apply");
        let before = a.doc(id).expect("doc").expect("present").get_heads();
        for phone in ["13711110001", "13711110002"] {
            let edit = PatientEdit {
                phone: Some(phone.into()),
                ..Default::default()
            };
            a.update_patient(&registrar(), id, edit).expect("edit");
        }
        let doc = a.doc(id).expect("doc").expect("present");
        // Only the last edit, from W01: it waits for the first.
        let last = doc
            .get_changes(&before)
            .last()
            .map(|c| c.raw_bytes().to_vec());
        let short = IncomingDoc {
            id,
            bytes: last.expect("an edit"),
            sender_heads: doc.get_heads(),
            seq: 2,
        };
        let signatures = a.export(&[id]).expect("export").signatures;
        let out = b
            .apply_batch(&w01, vec![short], signatures.clone(), Some(2))
            .expect("apply");
        assert_eq!(out.missing_deps, vec![id], "{out:?}");
        // The standby sends both edits: whole here, and still waiting from W01.
        let whole = IncomingDoc {
            id,
            bytes: doc.save_after(&before),
            sender_heads: doc.get_heads(),
            seq: 9,
        };
        b.apply_batch(&standby, vec![whole], signatures, Some(9))
            .expect("apply");
        assert_eq!(b.heads_of(&[id]).expect("heads"), vec![doc.get_heads()]);
        assert_eq!(b.peer_state(&w01).expect("state").waiting, vec![(2, id)]);

        let others: Vec<u8> = (0..DIGEST_BUCKETS)
            .filter_map(|b| u8::try_from(b).ok())
            .filter(|b| *b != bucket(id))
            .collect();
        assert_eq!(
            b.settle_waiting(&w01, Scope::All, &others).expect("settle"),
            0
        );
        assert_eq!(b.peer_state(&w01).expect("state").waiting.len(), 1);
        let settled = b
            .settle_waiting(&w01, Scope::All, &[bucket(id)])
            .expect("settle");
        assert_eq!(settled, 1);
        let state = b.peer_state(&w01).expect("state");
        assert_eq!((state.waiting.len(), state.applied_from_peer), (0, 2));
    }
}
