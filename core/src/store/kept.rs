//! Counts kept in the commit that changes them, so that `status` reads them in O(1) instead
//! of scanning: records per kind, open items per work category, and each peer's backlog (the
//! records in our feed after the cursor the peer acknowledged).
//!
//! A batch gathers its changes as deltas ([`Kept`]) and writes them when it finishes, in the
//! same commit as the changes themselves, so a count can never disagree with what it counts.
//! The backlog follows three events: a record moving to the head of the feed (counted again
//! for every peer that had acknowledged its old place), a record leaving the feed (pruned),
//! and a peer's cursor moving (the feed rows it passes over).

use std::collections::BTreeMap;

use redb::{ReadableTable, ReadableTableMetadata};

use super::Store;
use super::digest::DigestDelta;
use super::error::{ReadError, StorageContext};
use super::tables;
use super::tx_tables::TxTables;
use super::{PeerState, Tx};
use crate::id::NodeName;
use crate::record::RecordKind;

use super::tables::count_keys::{backlog as backlog_key, records as records_key};

/// One batch's changes to the kept counts and the digest.
#[derive(Debug, Default)]
pub(super) struct Kept {
    counts: BTreeMap<String, i64>,
    pub(super) digest: DigestDelta,
    /// Each known peer's acknowledged cursor into our feed, loaded on first use.
    peers: Option<BTreeMap<String, u64>>,
}

impl Kept {
    pub(super) fn add(&mut self, key: String, delta: i64) {
        *self.counts.entry(key).or_insert(0) += delta;
    }

    /// Writes the batch's deltas.
    pub(super) fn write(self, w: &TxTables<'_>) -> Result<(), ReadError> {
        self.digest.write(w)?;
        let mut t = w.open_table(tables::COUNTS).ctx("keeping counts")?;
        for (key, delta) in self.counts {
            let now = t
                .get(key.as_str())
                .ctx("keeping counts")?
                .map(|v| v.value());
            // A count never kept is written even when its delta is nothing: a peer's backlog
            // not kept reads as the whole feed (a peer never seen), so a first ack that
            // covers the whole feed must leave a kept 0.
            if delta == 0 && now.is_some() {
                continue;
            }
            let now = now.unwrap_or(0);
            let next = u64::try_from(i64::try_from(now).unwrap_or(i64::MAX).saturating_add(delta))
                .unwrap_or(0);
            t.insert(key.as_str(), next).ctx("keeping counts")?;
        }
        Ok(())
    }
}

impl Tx<'_, '_> {
    /// Changes a kept count by `delta` in this batch's commit.
    pub(crate) fn count(&mut self, key: String, delta: i64) {
        self.kept.add(key, delta);
    }

    fn peer_cursors(&mut self) -> Result<&mut BTreeMap<String, u64>, ReadError> {
        if self.kept.peers.is_none() {
            let t = self
                .r()
                .open_table(tables::PEER_STATE)
                .ctx("reading peer state")?;
            let mut peers = BTreeMap::new();
            for entry in t.iter().ctx("reading peer state")? {
                let (k, v) = entry.ctx("reading peer state")?;
                let state: PeerState = serde_json::from_slice(v.value()).unwrap_or_default();
                peers.insert(k.value().to_owned(), state.acked_by_peer);
            }
            self.kept.peers = Some(peers);
        }
        Ok(self.kept.peers.get_or_insert_with(BTreeMap::new))
    }

    /// A record moved to the head of the feed from `old` (none: it is new here): every peer
    /// that had acknowledged its old place has it to receive again.
    pub(super) fn backlog_record_moved(&mut self, old: Option<u64>) -> Result<(), ReadError> {
        let mut grew = Vec::new();
        for (peer, acked) in self.peer_cursors()?.iter() {
            if old.is_none_or(|o| o <= *acked) {
                grew.push(backlog_key(peer));
            }
        }
        for key in grew {
            self.kept.add(key, 1);
        }
        Ok(())
    }

    /// A record at feed sequence `seq` left the feed.
    pub(super) fn backlog_record_removed(&mut self, seq: u64) -> Result<(), ReadError> {
        let mut shrank = Vec::new();
        for (peer, acked) in self.peer_cursors()?.iter() {
            if seq > *acked {
                shrank.push(backlog_key(peer));
            }
        }
        for key in shrank {
            self.kept.add(key, -1);
        }
        Ok(())
    }

    /// A peer's acknowledged cursor moved from `from` to `to` (`None`: a peer seen for the
    /// first time, whose backlog is the whole feed after `to`).
    pub(super) fn backlog_cursor_moved(
        &mut self,
        peer: &NodeName,
        from: Option<u64>,
        to: u64,
    ) -> Result<(), ReadError> {
        let feed = self.r().open_table(tables::FEED).ctx("reading the feed")?;
        let rows = |lo: u64, hi: u64| -> Result<i64, ReadError> {
            if hi <= lo {
                return Ok(0);
            }
            let n = feed
                .range(lo.saturating_add(1)..=hi)
                .ctx("reading the feed")?
                .count();
            Ok(i64::try_from(n).unwrap_or(i64::MAX))
        };
        let delta = match from {
            None => {
                let all = i64::try_from(feed.len().ctx("reading the feed")?).unwrap_or(i64::MAX);
                all - rows(0, to)?
            }
            Some(from) if to >= from => -rows(from, to)?,
            Some(from) => rows(to, from)?,
        };
        drop(feed);
        self.peer_cursors()?.insert(peer.to_string(), to);
        self.kept.add(backlog_key(peer.as_str()), delta);
        Ok(())
    }
}

/// The counts `status` shows, as kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeptCounts {
    pub records_by_kind: Vec<(RecordKind, u64)>,
    /// Open items per work category name, every category included.
    pub open_by_category: Vec<(String, u64)>,
}

impl Store {
    /// One kept count (0 if never kept).
    pub(crate) fn kept_count(&self, key: &str) -> Result<u64, ReadError> {
        let t = self.table(tables::COUNTS)?;
        Ok(t.get(key).ctx("reading counts")?.map_or(0, |v| v.value()))
    }

    /// The records in our feed that `peer` has not acknowledged: what it has to receive.
    pub fn peer_backlog(&self, peer: &NodeName) -> Result<u64, ReadError> {
        let t = self.table(tables::COUNTS)?;
        let kept = t
            .get(backlog_key(peer.as_str()).as_str())
            .ctx("reading counts")?
            .map(|v| v.value());
        match kept {
            Some(n) => Ok(n),
            // A peer never seen has everything to receive.
            None => {
                let feed = self.table(tables::FEED)?;
                feed.len().ctx("reading the feed")
            }
        }
    }

    /// Records of a kind, as kept.
    pub fn count_of_kind(&self, kind: RecordKind) -> Result<u64, ReadError> {
        self.kept_count(&records_key(kind))
    }
}

#[cfg(test)]
mod tests {
    use crate::id::NodeName;
    use crate::test_support::{central_with_patients, new_patient, registrar};

    /// A peer that applied more of an older feed of ours (we were restored from a backup;
    /// found by `lifeline-sim --seed 9 --store`) acknowledges past our feed's head: the ack
    /// counts up to the head, so the records we write next are in its backlog, as a scan of
    /// the feed finds them. And a peer whose first ack covers the whole feed has a backlog of
    /// nothing, not of the whole feed (a count never kept, written when its delta is 0).
    #[test]
    fn an_ack_past_the_feed_head_counts_to_the_head() {
        let (_dir, store, acked) = central_with_patients(3);
        let peer = NodeName::new("W01").expect("name");
        store.record_ack(&peer, 1_000, acked).expect("ack");
        let head = store.feed_head().expect("head");
        assert_eq!(store.peer_state(&peer).expect("state").acked_by_peer, head);
        assert_eq!(store.peer_backlog(&peer).expect("backlog"), 0);
        store
            .create_patient(&registrar(), new_patient("after"))
            .expect("create");
        assert_eq!(store.peer_backlog(&peer).expect("backlog"), 1);
        assert_eq!(store.check_kept().expect("scan"), Vec::<String>::new());
    }
}
