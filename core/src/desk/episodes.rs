//! Emergency episodes as replicated records: one per outage, hospital-wide.
//!
//! A node that enters emergency mode joins the open episode it knows of, or opens one. Two
//! nodes cut off from each other may each open one; when their records meet, every node
//! merges them into the earliest (by opening time, then id) and reports under it. How an
//! episode ends is in [`super::episode_end`]: it closes when the outage ends, and each node
//! leaves once what it wrote has reached central. Its grade follows its duration.
//!
//! A drill (`lifeline emergency start --drill`) is an episode of its own kind: its id starts
//! with [`crate::id::DRILL_PREFIX`], so every record written in it says it is a drill; a real
//! outage never joins a drill, nor a drill a real outage.

use std::collections::BTreeMap;

use automerge::ROOT;
use serde::Serialize;

use super::{Saved, information_department};
use crate::WriteError;
use crate::clock::{Date, UnixMs};
use crate::id::{DRILL_PREFIX, EpisodeId, RecordId};
use crate::record::{CatalogKind, Episode, EpisodeNode, ReasonCode, RecordKind, catalog_id};
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::store::{EpisodeInfo, ReadError, Store, Tx, audit_event, put_entry};

/// The outage grades of the emergency plans, by duration.
pub fn grade(duration_ms: i64) -> &'static str {
    const HOUR: i64 = 3_600_000;
    match duration_ms {
        d if d < 2 * HOUR => "IV",
        d if d < 12 * HOUR => "III",
        d if d < 24 * HOUR => "II",
        _ => "I",
    }
}

/// How an episode is being opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// By the node itself: central has been unreachable too long.
    Automatic,
    /// By the information department (planned maintenance, a fault seen first by people).
    Declared,
    /// A drill of the whole procedure, by the information department.
    Drill,
}

/// An episode as reported: the record plus what follows from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpisodeSummary {
    pub record: RecordId,
    pub episode: Episode,
    pub open: bool,
    pub duration_ms: i64,
    pub grade: &'static str,
}

fn summary(record: RecordId, episode: Episode, now_ms: UnixMs) -> EpisodeSummary {
    let end = episode.closed_ms.unwrap_or(now_ms);
    let duration_ms = (end - episode.opened_ms).max(0);
    EpisodeSummary {
        record,
        open: episode.closed_ms.is_none() && episode.merged_into.is_none(),
        grade: grade(duration_ms),
        duration_ms,
        episode,
    }
}

impl Tx<'_, '_> {
    pub(super) fn episodes(&mut self) -> Result<Vec<(RecordId, Episode)>, WriteError> {
        let ids = self.ids_of_kind(RecordKind::Episode)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push((id, self.read::<Episode>(id)?));
        }
        Ok(out)
    }

    /// The open, unmerged episode of the kind (drill or not) every node should be in: the
    /// earliest.
    fn survivor(&mut self, drill: bool) -> Result<Option<(RecordId, Episode)>, WriteError> {
        Ok(self
            .episodes()?
            .into_iter()
            .filter(|(_, e)| e.closed_ms.is_none() && e.merged_into.is_none() && e.drill == drill)
            .min_by(|(_, a), (_, b)| {
                (a.opened_ms, &a.episode_id).cmp(&(b.opened_ms, &b.episode_id))
            }))
    }

    fn node_entry(&mut self) -> Result<EpisodeNode, WriteError> {
        let mut entry = EpisodeNode {
            joined_ms: self.now_ms(),
            recovered_ms: None,
            left_ms: None,
            drug_catalog_version: 0,
            service_catalog_version: 0,
            catalog_changed_ms: None,
        };
        for kind in [CatalogKind::Drug, CatalogKind::Service] {
            let id = catalog_id(kind);
            let Some(doc) = self.doc(id)? else { continue };
            let version =
                autosurgeon::hydrate_prop::<_, u64, _, _>(doc, ROOT, "version").unwrap_or(0);
            let changed = doc
                .get_heads()
                .iter()
                .filter_map(|h| doc.get_change_meta_by_hash(h).map(|m| m.timestamp))
                .max();
            match kind {
                CatalogKind::Drug => entry.drug_catalog_version = version,
                _ => entry.service_catalog_version = version,
            }
            entry.catalog_changed_ms = entry.catalog_changed_ms.max(changed);
        }
        Ok(entry)
    }

    /// Puts this node in `episode` (tagging what it writes from now on). A node that had
    /// seen the system of record back, or left, is in again: the outage came back.
    pub(super) fn join(
        &mut self,
        who: &Operator,
        record: RecordId,
        episode: &Episode,
    ) -> Result<(), WriteError> {
        let me = self.node().to_string();
        let entry = match episode.nodes.get(&me) {
            Some(n) if n.recovered_ms.is_none() && n.left_ms.is_none() => None,
            Some(n) => Some(EpisodeNode {
                recovered_ms: None,
                left_ms: None,
                ..n.clone()
            }),
            None => Some(self.node_entry()?),
        };
        if let Some(entry) = entry {
            self.edit(record, who, "episode.join", |t| {
                put_entry(t, "nodes", &me, &entry)
            })?;
        }
        self.set_episode(Some(&EpisodeInfo {
            id: episode.episode_id.clone(),
            reason: episode.reason.clone(),
            started_ms: self.now_ms(),
        }))?;
        self.audit(audit_event(
            who,
            "episode.enter",
            Some(record),
            Some(episode.episode_id.to_string()),
        ))?;
        tracing::warn!(episode = %episode.episode_id, "this node is now in emergency mode");
        Ok(())
    }

    pub(super) fn find_episode(
        &mut self,
        id: &EpisodeId,
    ) -> Result<Option<(RecordId, Episode)>, WriteError> {
        Ok(self
            .episodes()?
            .into_iter()
            .find(|(_, e)| &e.episode_id == id))
    }
}

impl Store {
    /// Enters emergency mode: joins the open episode of the kind this node knows of, or opens
    /// a new one. A no-op if this node is already in an episode of that kind. A drill is
    /// refused while a real outage is under way; a real outage ends a drill on this node
    /// first (the caller leaves it: see `housekeeping`).
    pub fn open_episode(
        &self,
        who: &Operator,
        reason: &str,
        how: Opening,
    ) -> Result<Saved<EpisodeId>, WriteError> {
        self.open_episode_because(who, reason, None, how)
    }

    /// [`Store::open_episode`], with the reason also as a code the node says in a reader's
    /// language (an automatic opening's). The code is written only into a new episode: one
    /// this node joins keeps its own.
    pub fn open_episode_because(
        &self,
        who: &Operator,
        reason: &str,
        code: Option<ReasonCode>,
        how: Opening,
    ) -> Result<Saved<EpisodeId>, WriteError> {
        check_text("reason", reason, true)?;
        if let Some(c) = &code {
            check_text("reason code", &c.code, true)?;
        }
        if how != Opening::Automatic {
            information_department(who, "declares an episode or a drill")?;
        }
        let (who, reason) = (who.clone(), reason.to_owned());
        let drill = how == Opening::Drill;
        // An episode this node opened before its store was restored is lost with the
        // restore, but its id lives on at its peers: every episode a restored store opens
        // takes a mark of its incarnation, or it could reuse a lost one's id. Not only in the
        // restore's minute: the lost episode's minute was read off the clock of the earlier
        // life, and a clock set back before the restore (or corrected after it) puts a later
        // opening in that minute again (`lifeline-sim --store`, seed 3234).
        let restored = match self.restored_ms()? {
            Some(_) => Some(self.incarnation()?),
            None => None,
        };
        self.write(move |tx| {
            if let Some(current) = tx.episode()? {
                if current.is_drill() == drill {
                    return Ok(Saved::new(current));
                }
                return Err(RuleError::invalid(
                    "episode",
                    if drill {
                        format!("a real outage is under way (episode {current}): no drill now")
                    } else {
                        format!("this node is in drill {current}: stop it first")
                    },
                )
                .into());
            }
            if let Some((record, episode)) = tx.survivor(drill)? {
                tx.join(&who, record, &episode)?;
                return Ok(Saved::new(episode.episode_id));
            }
            let now = tx.now_ms();
            let offset = tx.opts().utc_offset_min;
            let date = Date::at(now, offset);
            let minute = (now + i64::from(offset) * 60_000).rem_euclid(86_400_000) / 60_000;
            let prefix = if drill { DRILL_PREFIX } else { "YJ-" };
            let base = format!(
                "{prefix}{}{:02}{:02}-{:02}{:02}-{}",
                date.year,
                date.month,
                date.day,
                minute / 60,
                minute % 60,
                tx.node()
            );
            let base = match &restored {
                Some(incarnation) => {
                    let tail = incarnation.len().saturating_sub(4);
                    format!("{base}-R{}", incarnation.get(tail..).unwrap_or_default())
                }
                None => base,
            };
            // A second outage opened here in the same minute (central lost again seconds
            // after it came back) gets an id of its own: with the first's, the node found the
            // first, closed, episode by it and left the new one at once, every round.
            let taken: Vec<EpisodeId> = tx
                .episodes()?
                .into_iter()
                .map(|(_, e)| e.episode_id)
                .collect();
            let mut id = EpisodeId::new(base.clone()).map_err(RuleError::from)?;
            for n in 2.. {
                if !taken.contains(&id) {
                    break;
                }
                id = EpisodeId::new(format!("{base}-{n}")).map_err(RuleError::from)?;
            }
            let mut header = tx.new_header(RecordKind::Episode, &who)?;
            header.episode = Some(id.clone());
            let mut nodes = BTreeMap::new();
            nodes.insert(tx.node().to_string(), tx.node_entry()?);
            let episode = Episode {
                header,
                episode_id: id.clone(),
                reason: reason.clone(),
                automatic: how == Opening::Automatic,
                opened_ms: now,
                closed_ms: None,
                closed_by: None,
                nodes,
                merged_into: None,
                drill,
                estimates: BTreeMap::new(),
                cause: None,
                reason_code: code,
            };
            tx.create(&episode, &who, "episode.open")?;
            tx.join(&who, episode.header.id, &episode)?;
            Ok(Saved::new(id))
        })
    }

    /// Every episode this node knows, newest first.
    pub fn episodes(&self) -> Result<Vec<EpisodeSummary>, ReadError> {
        let now = self.now_ms();
        let mut out = Vec::new();
        for id in self.ids_of_kind(RecordKind::Episode)? {
            if let Some(e) = self.get::<Episode>(id)? {
                out.push(summary(id, e, now));
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.episode.opened_ms));
        Ok(out)
    }

    /// One episode by id, following merges to the survivor; with the ids merged into it.
    pub fn episode_by_id(
        &self,
        id: &EpisodeId,
    ) -> Result<Option<(EpisodeSummary, Vec<EpisodeId>)>, ReadError> {
        let all = self.episodes()?;
        let mut target = id.clone();
        for _ in 0..all.len() {
            match all
                .iter()
                .find(|e| e.episode.episode_id == target)
                .and_then(|e| e.episode.merged_into.clone())
            {
                Some(next) => target = next,
                None => break,
            }
        }
        let Some(found) = all.iter().find(|e| e.episode.episode_id == target).cloned() else {
            return Ok(None);
        };
        let merged = all
            .iter()
            .filter(|e| e.episode.merged_into.as_ref() == Some(&target))
            .map(|e| e.episode.episode_id.clone())
            .collect();
        Ok(Some((found, merged)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_the_plans() {
        const H: i64 = 3_600_000;
        assert_eq!(grade(H), "IV");
        assert_eq!(grade(2 * H), "III");
        assert_eq!(grade(13 * H), "II");
        assert_eq!(grade(25 * H), "I");
    }
}
