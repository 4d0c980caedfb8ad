//! The node's own state kept in the metadata table: its incarnation, its counters, and the
//! emergency episode it is in (set when it joins one, cleared when it leaves).

use serde::Serialize;

use super::error::ReadError;
use super::tables::{self, meta_keys};
use super::{Store, Tx};
use crate::clock::UnixMs;
use crate::id::{EpisodeId, RecordId};

/// The episode a node is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpisodeInfo {
    pub id: EpisodeId,
    pub reason: String,
    pub started_ms: UnixMs,
}

/// A node-local sequence that numbers records made here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Patient numbers (`<node>-000001`).
    Patient,
    /// Registration numbers.
    Registration,
}

impl Counter {
    fn key(self) -> &'static str {
        match self {
            Counter::Patient => meta_keys::PATIENT_COUNTER,
            Counter::Registration => meta_keys::REGISTRATION_COUNTER,
        }
    }
}

/// Where the episode's reason and start are kept, beside [`meta_keys::EPISODE`].
const EPISODE_REASON: &str = "episode.reason";
const EPISODE_STARTED: &str = "episode.started_ms";
/// The episode whose outage is over for this node but whose records have not all reached
/// central yet: the node leaves it once they have.
const EPISODE_RECONCILING: &str = "episode.reconciling";

impl Tx<'_, '_> {
    /// Increments and returns a node-local counter.
    pub(crate) fn next_counter(&mut self, counter: Counter) -> Result<u64, ReadError> {
        let next = self.meta_u64(counter.key())? + 1;
        self.set_meta(counter.key(), Some(&next.to_string()))?;
        Ok(next)
    }

    /// The emergency episode this node is in, if any.
    pub(crate) fn episode(&self) -> Result<Option<EpisodeId>, ReadError> {
        episode_in(&|key| self.meta(key))
    }

    /// The episode this node is in, with its reason and start, as of this batch.
    pub(crate) fn episode_info(&self) -> Result<Option<EpisodeInfo>, ReadError> {
        episode_info_in(&|key| self.meta(key))
    }

    /// The episode this node saw the end of and still reconciles, as of this batch.
    pub(crate) fn reconciling(&self) -> Result<Option<EpisodeId>, ReadError> {
        Ok(self
            .meta(EPISODE_RECONCILING)?
            .and_then(|s| EpisodeId::new(s).ok()))
    }

    pub(crate) fn set_reconciling(&mut self, id: Option<&EpisodeId>) -> Result<(), ReadError> {
        self.set_meta(EPISODE_RECONCILING, id.map(EpisodeId::as_str))
    }

    /// A metadata value, as text (for the desk modules' own small state).
    pub(crate) fn meta_value(&self, key: &str) -> Result<Option<String>, ReadError> {
        self.meta(key)
    }

    pub(crate) fn set_meta_value(&mut self, key: &str, value: &str) -> Result<(), ReadError> {
        self.set_meta(key, Some(value))
    }

    /// Adds a lease request this store made to its list (`meta_keys::LEASE_REQUESTS`).
    pub(crate) fn note_lease_request(&mut self, id: RecordId) -> Result<(), ReadError> {
        let mut mine = self.meta(meta_keys::LEASE_REQUESTS)?.unwrap_or_default();
        if !mine.is_empty() {
            mine.push(',');
        }
        mine.push_str(&id.to_string());
        self.set_meta(meta_keys::LEASE_REQUESTS, Some(&mine))
    }

    /// Records that this node is now in an episode, or (with `None`) in none.
    pub(crate) fn set_episode(&mut self, info: Option<&EpisodeInfo>) -> Result<(), ReadError> {
        let started = info.map(|i| i.started_ms.to_string());
        self.set_meta(meta_keys::EPISODE, info.map(|i| i.id.as_str()))?;
        self.set_meta(EPISODE_REASON, info.map(|i| i.reason.as_str()))?;
        self.set_meta(EPISODE_STARTED, started.as_deref())
    }
}

impl Store {
    /// A metadata value as text.
    pub(super) fn meta_text(&self, key: &str) -> Result<Option<String>, ReadError> {
        use super::StorageContext;
        let t = self.table(tables::META)?;
        let v = redb::ReadableTable::get(&t, key).ctx("reading metadata")?;
        Ok(v.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    /// This store's incarnation: random, made when the store is created or restored, so that
    /// peers that see it change know the store lost or regained history.
    pub fn incarnation(&self) -> Result<String, ReadError> {
        Ok(self.meta_text(meta_keys::INCARNATION)?.unwrap_or_default())
    }

    /// When this store's incarnation began, on its clock: when it was restored, or else
    /// created. A range leased to this node before then belongs to an earlier life of the
    /// node, which may have handed out any of its numbers.
    pub fn incarnation_ms(&self) -> Result<UnixMs, ReadError> {
        let created = self.meta_text(meta_keys::CREATED_MS)?;
        Ok(self
            .restored_ms()?
            .or(created.and_then(|v| v.parse().ok()))
            .unwrap_or(0))
    }

    /// Whether this store made the lease request `id` since its incarnation began.
    pub(crate) fn lease_requested_here(&self, id: RecordId) -> Result<bool, ReadError> {
        let mine = self
            .meta_text(meta_keys::LEASE_REQUESTS)?
            .unwrap_or_default();
        let id = id.to_string();
        Ok(mine.split(',').any(|r| r == id))
    }

    /// When this store was last restored (`lifeline restore`), on its clock; `None` for a
    /// store never restored.
    pub fn restored_ms(&self) -> Result<Option<UnixMs>, ReadError> {
        Ok(self
            .meta_text(meta_keys::INCARNATION_MS)?
            .and_then(|v| v.parse().ok()))
    }

    /// This opening of the store: an id new at every open (its Automerge actor's) and the
    /// feed's head when it opened. A file copied back from an older backup by hand keeps its
    /// incarnation; a peer that applied more of this node's feed than the feed held when this
    /// opening began knows that the node lost history, even once it has written past that
    /// point again.
    pub fn opening(&self) -> (String, u64) {
        (
            self.shared.actor.to_hex_string(),
            self.shared.opened_feed_head.get().copied().unwrap_or(0),
        )
    }

    /// The emergency episode this node is in, if any.
    pub fn episode(&self) -> Result<Option<EpisodeId>, ReadError> {
        episode_in(&|key| self.meta_text(key))
    }

    /// The episode this node is in, with its reason and start.
    pub fn episode_info(&self) -> Result<Option<EpisodeInfo>, ReadError> {
        episode_info_in(&|key| self.meta_text(key))
    }

    /// The episode whose outage is over for this node and whose records it is still
    /// reconciling with central.
    pub fn reconciling_episode(&self) -> Result<Option<EpisodeId>, ReadError> {
        Ok(self
            .meta_text(EPISODE_RECONCILING)?
            .and_then(|s| EpisodeId::new(s).ok()))
    }

    /// A metadata value, as text (for the desk modules' own small state).
    pub(crate) fn meta_value(&self, key: &str) -> Result<Option<String>, ReadError> {
        self.meta_text(key)
    }
}

type MetaReader<'a> = dyn Fn(&str) -> Result<Option<String>, ReadError> + 'a;

fn episode_in(meta: &MetaReader<'_>) -> Result<Option<EpisodeId>, ReadError> {
    Ok(meta(meta_keys::EPISODE)?.and_then(|s| EpisodeId::new(s).ok()))
}

fn episode_info_in(meta: &MetaReader<'_>) -> Result<Option<EpisodeInfo>, ReadError> {
    let Some(id) = episode_in(meta)? else {
        return Ok(None);
    };
    Ok(Some(EpisodeInfo {
        id,
        reason: meta(EPISODE_REASON)?.unwrap_or_default(),
        started_ms: meta(EPISODE_STARTED)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    }))
}

/// Where the metadata keeps the cursors of a bridge to an outside system, by name.
const BRIDGE_CURSOR: &str = "bridge_cursor.";

impl Store {
    /// Where a bridge's pulls from an outside system stand (the HIS's tables, by name), as
    /// [`Store::set_bridge_cursors`] left them.
    pub fn bridge_cursors(&self) -> Result<std::collections::BTreeMap<String, String>, ReadError> {
        use super::StorageContext;
        let t = self.table(tables::META)?;
        let mut out = std::collections::BTreeMap::new();
        for entry in redb::ReadableTable::range(&t, BRIDGE_CURSOR..).ctx("reading metadata")? {
            let (k, v) = entry.ctx("reading metadata")?;
            let Some(name) = k.value().strip_prefix(BRIDGE_CURSOR) else {
                break;
            };
            out.insert(
                name.to_owned(),
                String::from_utf8_lossy(v.value()).into_owned(),
            );
        }
        Ok(out)
    }

    /// Keeps where a bridge's pulls stand, in one commit. A bridge writes a table's cursor
    /// after the commit of the rows it read up to it, so the store never holds a cursor ahead
    /// of its rows, and carries it back from a backup with the rows it had then: restored,
    /// the bridge pulls again what it had pulled since.
    pub fn set_bridge_cursors(
        &self,
        cursors: std::collections::BTreeMap<String, String>,
    ) -> Result<(), super::WriteError> {
        self.write(move |tx| {
            for (name, cursor) in &cursors {
                tx.set_meta(&format!("{BRIDGE_CURSOR}{name}"), Some(cursor))?;
            }
            Ok(())
        })
    }
}
