//! Emergency episodes as replicated records: one per outage, hospital-wide.
//!
//! A node that enters emergency mode joins the open episode it knows of, or opens one. Two
//! nodes cut off from each other may each open one; when their records meet, every node
//! merges them into the earliest (by opening time, then id) and reports under it. An episode
//! closes when every node that took part has left it (central back and reconciled), or when
//! an administrator stops it for the whole hospital. Its grade follows its duration.

use std::collections::BTreeMap;

use automerge::ROOT;
use serde::Serialize;

use super::{Saved, set_field};
use crate::WriteError;
use crate::clock::{Date, UnixMs};
use crate::id::{EpisodeId, RecordId};
use crate::record::{CatalogKind, Episode, EpisodeNode, RecordKind, catalog_id};
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::store::{EpisodeInfo, ReadError, Store, Tx, audit_event};

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

impl Tx<'_> {
    fn episodes(&mut self) -> Result<Vec<(RecordId, Episode)>, WriteError> {
        let ids = self.ids_of_kind(RecordKind::Episode)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push((id, self.read::<Episode>(id)?));
        }
        Ok(out)
    }

    /// The open, unmerged episode every node should be in: the earliest.
    fn survivor(&mut self) -> Result<Option<(RecordId, Episode)>, WriteError> {
        Ok(self
            .episodes()?
            .into_iter()
            .filter(|(_, e)| e.closed_ms.is_none() && e.merged_into.is_none())
            .min_by(|(_, a), (_, b)| {
                (a.opened_ms, &a.episode_id).cmp(&(b.opened_ms, &b.episode_id))
            }))
    }

    fn node_entry(&mut self) -> Result<EpisodeNode, WriteError> {
        let mut entry = EpisodeNode {
            joined_ms: self.now_ms(),
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
                CatalogKind::Service => entry.service_catalog_version = version,
            }
            entry.catalog_changed_ms = entry.catalog_changed_ms.max(changed);
        }
        Ok(entry)
    }

    fn join(
        &mut self,
        who: &Operator,
        record: RecordId,
        episode: &Episode,
    ) -> Result<(), WriteError> {
        let me = self.node().to_string();
        if !episode.nodes.contains_key(&me)
            || episode.nodes.get(&me).is_some_and(|n| n.left_ms.is_some())
        {
            let entry = self.node_entry()?;
            let mut nodes = episode.nodes.clone();
            nodes.insert(me, entry);
            self.edit(record, who, "episode.join", |t| {
                set_field(t, "nodes", &nodes)
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

    fn leave(
        &mut self,
        who: &Operator,
        record: Option<(RecordId, Episode)>,
    ) -> Result<(), WriteError> {
        let me = self.node().to_string();
        if let Some((id, episode)) = record
            && let Some(entry) = episode.nodes.get(&me).filter(|n| n.left_ms.is_none())
        {
            let mut nodes = episode.nodes.clone();
            nodes.insert(
                me.clone(),
                EpisodeNode {
                    left_ms: Some(self.now_ms()),
                    ..entry.clone()
                },
            );
            let all_left = nodes.values().all(|n| n.left_ms.is_some());
            let now = self.now_ms();
            self.edit(id, who, "episode.leave", |t| {
                set_field(t, "nodes", &nodes)?;
                if all_left && episode.closed_ms.is_none() {
                    set_field(t, "closed_ms", Some(now))?;
                    set_field(t, "closed_by", Some(&who.name))?;
                }
                Ok(())
            })?;
        }
        if let Some(current) = self.episode()? {
            self.set_episode(None)?;
            self.audit(audit_event(
                who,
                "episode.leave",
                None,
                Some(current.to_string()),
            ))?;
            tracing::warn!(episode = %current, "this node left emergency mode");
        }
        Ok(())
    }

    fn find_episode(&mut self, id: &EpisodeId) -> Result<Option<(RecordId, Episode)>, WriteError> {
        Ok(self
            .episodes()?
            .into_iter()
            .find(|(_, e)| &e.episode_id == id))
    }
}

impl Store {
    /// Enters emergency mode: joins the open episode this node knows of, or opens a new one.
    /// A no-op if this node is already in an episode.
    pub fn open_episode(
        &self,
        who: &Operator,
        reason: &str,
        automatic: bool,
    ) -> Result<Saved<EpisodeId>, WriteError> {
        check_text("reason", reason, true)?;
        let (who, reason) = (who.clone(), reason.to_owned());
        self.write(move |tx| {
            if let Some(current) = tx.episode()? {
                return Ok(Saved::new(current));
            }
            if let Some((record, episode)) = tx.survivor()? {
                tx.join(&who, record, &episode)?;
                return Ok(Saved::new(episode.episode_id));
            }
            let now = tx.now_ms();
            let date = Date::at(now, tx.opts().utc_offset_min);
            let minute = (now + i64::from(tx.opts().utc_offset_min) * 60_000)
                .rem_euclid(86_400_000)
                / 60_000;
            let id = EpisodeId::new(format!(
                "YJ-{}{:02}{:02}-{:02}{:02}-{}",
                date.year,
                date.month,
                date.day,
                minute / 60,
                minute % 60,
                tx.node()
            ))
            .map_err(RuleError::from)?;
            let mut header = tx.new_header(RecordKind::Episode, &who)?;
            header.episode = Some(id.clone());
            let mut nodes = BTreeMap::new();
            nodes.insert(tx.node().to_string(), tx.node_entry()?);
            let episode = Episode {
                header,
                episode_id: id.clone(),
                reason: reason.clone(),
                automatic,
                opened_ms: now,
                closed_ms: None,
                closed_by: None,
                nodes,
                merged_into: None,
            };
            tx.create(&episode, &who, "episode.open")?;
            tx.join(&who, episode.header.id, &episode)?;
            Ok(Saved::new(id))
        })
    }

    /// Leaves emergency mode on this node. With `HospitalWide`, an administrator also closes
    /// the episode for every node.
    pub fn leave_episode(
        &self,
        who: &Operator,
        scope: LeaveScope,
    ) -> Result<Saved<Option<EpisodeId>>, WriteError> {
        let who = who.clone();
        self.write(move |tx| {
            let Some(current) = tx.episode()? else {
                return Ok(Saved::new(None));
            };
            let record = tx.find_episode(&current)?;
            if scope == LeaveScope::HospitalWide {
                if who.desk != crate::roles::DeskRole::Admin {
                    return Err(RuleError::invalid(
                        "operator",
                        "only the information department stops an episode",
                    )
                    .into());
                }
                if let Some((id, e)) = &record
                    && e.closed_ms.is_none()
                {
                    let now = tx.now_ms();
                    tx.edit(*id, &who, "episode.close", |t| {
                        set_field(t, "closed_ms", Some(now))?;
                        set_field(t, "closed_by", Some(&who.name))
                    })?;
                }
            }
            let record = tx.find_episode(&current)?;
            tx.leave(&who, record)?;
            Ok(Saved::new(Some(current)))
        })
    }

    /// Brings this node in line with the replicated episodes: merges independently opened
    /// ones into the earliest, follows a merge, leaves an episode an administrator closed.
    /// Returns the episode this node is now in.
    pub fn reconcile_episodes(
        &self,
        who: &Operator,
    ) -> Result<Saved<Option<EpisodeId>>, WriteError> {
        let who = who.clone();
        self.write(move |tx| {
            let open: Vec<(RecordId, Episode)> = tx
                .episodes()?
                .into_iter()
                .filter(|(_, e)| e.closed_ms.is_none() && e.merged_into.is_none())
                .collect();
            // Nodes that left at about the same time each saw the others still in: the
            // episode closes once every node has left, at the last leave, the same value on
            // every node.
            for (id, e) in &open {
                let last_left = e
                    .nodes
                    .values()
                    .map(|n| n.left_ms)
                    .collect::<Option<Vec<_>>>();
                if let Some(Some(closed)) = last_left.map(|v| v.into_iter().max()) {
                    tx.edit(*id, &who, "episode.close", |t| {
                        set_field(t, "closed_ms", Some(closed))
                    })?;
                }
            }
            let open: Vec<(RecordId, Episode)> = tx
                .episodes()?
                .into_iter()
                .filter(|(_, e)| e.closed_ms.is_none() && e.merged_into.is_none())
                .collect();
            if let Some((_, survivor)) = tx.survivor()? {
                for (id, e) in &open {
                    if e.episode_id != survivor.episode_id {
                        let into = survivor.episode_id.clone();
                        tx.edit(*id, &who, "episode.merge", |t| {
                            set_field(t, "merged_into", Some(&into))
                        })?;
                    }
                }
            }
            let Some(current) = tx.episode()? else {
                return Ok(Saved::new(None));
            };
            let Some((record, episode)) = tx.find_episode(&current)? else {
                return Ok(Saved::new(Some(current)));
            };
            if let Some(into) = episode.merged_into.clone() {
                tx.leave(&who, Some((record, episode)))?;
                if let Some((sid, survivor)) = tx.find_episode(&into)?
                    && survivor.closed_ms.is_none()
                {
                    tx.join(&who, sid, &survivor)?;
                    return Ok(Saved::new(Some(into)));
                }
                return Ok(Saved::new(None));
            }
            if episode.closed_ms.is_some() {
                tx.leave(&who, Some((record, episode)))?;
                return Ok(Saved::new(None));
            }
            Ok(Saved::new(Some(current)))
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
        for _ in 0..8 {
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

/// Whether leaving an episode ends it for this node only or for the hospital.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveScope {
    ThisNode,
    HospitalWide,
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
