//! How an episode ends: when the outage ends, not when the desks stop writing.
//!
//! The plan: "业务库(HISSERVER)恢复运行后 … 即可停止应急库,以上传门诊应急数据" (once the
//! system of record runs again, emergency mode stops and the emergency data is uploaded).
//! For one node that is two steps:
//!
//! 1. **Recovered**: the node sees the system of record back (central reachable, and whatever
//!    else the node watches: [`Store::recover_from_episode`] is called on that observation,
//!    whatever produced it). From then on what it writes are normal records: no "YJ" tag, no
//!    paused triage, no emergency numbers. It keeps the episode as the one it *reconciles*.
//! 2. **Left**: once central has acknowledged every record of the episode this node holds,
//!    it leaves the episode ([`Store::leave_reconciled_episode`]).
//!
//! The episode *closes* when every node in it has recovered, at the last recovery (the same
//! time on every node, whatever order the nodes learn of each other), or when the
//! information department stops it for the hospital. Its duration, and so its grade, is the
//! outage's: from opening to closing.

use super::{Saved, information_department, set_field};
use crate::WriteError;
use crate::id::{EpisodeId, RecordId};
use crate::record::{Episode, EpisodeNode};
use crate::roles::Operator;
use crate::store::{Store, Tx, audit_event, put_entry};

/// Whether leaving an episode ends it for this node only or for the hospital.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveScope {
    ThisNode,
    HospitalWide,
}

/// When an episode whose nodes have all recovered closes: at the last recovery. `None` while
/// a node is still in the outage.
fn all_recovered_at(episode: &Episode) -> Option<i64> {
    episode
        .nodes
        .values()
        .map(|n| n.recovered_ms.or(n.left_ms))
        .collect::<Option<Vec<_>>>()
        .and_then(|times| times.into_iter().max())
}

impl Tx<'_, '_> {
    /// Merges closed episodes that overlapped in time into the earliest of them: windows cut
    /// off from central and from each other each open an episode, and one that saw the outage
    /// end (and closed its own) before it heard of the other's cannot merge them while both
    /// are open. Their intervals show they were one outage; the survivor's end becomes the
    /// last of theirs when every node in it is out of the outage (the replica rules let any
    /// node close such an episode). This node's own episode is left alone until it has left
    /// it: a merge makes a node leave the episode it merged.
    fn merge_closed_overlaps(
        &mut self,
        who: &Operator,
        current: Option<&EpisodeId>,
    ) -> Result<(), WriteError> {
        for drill in [false, true] {
            let mut closed: Vec<(RecordId, Episode, i64)> = self
                .episodes()?
                .into_iter()
                .filter(|(_, e)| e.merged_into.is_none() && e.drill == drill)
                .filter_map(|(id, e)| e.closed_ms.map(|end| (id, e, end)))
                .collect();
            closed.sort_by(|(_, a, _), (_, b, _)| {
                (a.opened_ms, &a.episode_id).cmp(&(b.opened_ms, &b.episode_id))
            });
            let mut survivor: Option<(RecordId, Episode, i64)> = None;
            for (id, episode, end) in closed {
                let joins = survivor.as_ref().is_some_and(|(_, s, until)| {
                    episode.opened_ms <= *until && s.episode_id != episode.episode_id
                });
                if !joins || current == Some(&episode.episode_id) {
                    self.extend_close(who, survivor.take())?;
                    survivor = Some((id, episode, end));
                    continue;
                }
                let Some((_, s, until)) = survivor.as_mut() else {
                    continue;
                };
                let into = s.episode_id.clone();
                self.edit(id, who, "episode.merge", |t| {
                    set_field(t, "merged_into", Some(&into))
                })?;
                *until = (*until).max(end);
            }
            self.extend_close(who, survivor)?;
        }
        Ok(())
    }

    /// Moves a survivor's close to the last close of the episodes merged into it.
    fn extend_close(
        &mut self,
        who: &Operator,
        survivor: Option<(RecordId, Episode, i64)>,
    ) -> Result<(), WriteError> {
        let Some((id, episode, until)) = survivor else {
            return Ok(());
        };
        if episode.closed_ms < Some(until) && all_recovered_at(&episode).is_some() {
            self.edit(id, who, "episode.close", |t| {
                set_field(t, "closed_ms", Some(until))
            })?;
        }
        Ok(())
    }

    /// Marks this node's outage over in `record`: it stops tagging, and reconciles the
    /// episode until it leaves. Closes the episode if every node has now recovered.
    fn recover(&mut self, who: &Operator, id: &EpisodeId) -> Result<(), WriteError> {
        let me = self.node().to_string();
        let now = self.now_ms();
        if let Some((record, episode)) = self.find_episode(id)?
            && let Some(entry) = episode.nodes.get(&me).filter(|n| n.recovered_ms.is_none())
        {
            let recovered = EpisodeNode {
                recovered_ms: Some(now),
                ..entry.clone()
            };
            let mut updated = episode.clone();
            updated.nodes.insert(me.clone(), recovered.clone());
            let close = all_recovered_at(&updated).filter(|_| episode.closed_ms.is_none());
            self.edit(record, who, "episode.recover", |t| {
                put_entry(t, "nodes", &me, &recovered)?;
                if let Some(at) = close {
                    set_field(t, "closed_ms", Some(at))?;
                }
                Ok(())
            })?;
        }
        if self.episode()?.as_ref() == Some(id) {
            self.set_episode(None)?;
        }
        // An earlier episode still being reconciled is left with this one: the records of
        // both reach central together (what is unreconciled is counted for all episodes).
        if let Some(earlier) = self.reconciling()?.filter(|e| e != id) {
            self.leave(who, &earlier)?;
        }
        self.set_reconciling(Some(id))?;
        self.audit(audit_event(
            who,
            "episode.recover",
            None,
            Some(id.to_string()),
        ))?;
        tracing::warn!(episode = %id, "the outage is over for this node: writing normal records again");
        Ok(())
    }

    /// Ends this node's part in the episodes that name it not yet left while it is in no
    /// episode and reconciles none: its store was restored (or replaced) from before it
    /// joined or left, so it writes normal records, and without this an open episode waited
    /// for its recovery for ever, and a closed or merged one for its leaving (`lifeline-sim
    /// --store`, seeds 16, 14, 86 and 127). It recovers now (if it had not), reconciles it,
    /// and leaves once what it holds is reconciled (a merged episode at once).
    fn end_parts_lost_with_a_restore(&mut self, who: &Operator) -> Result<(), WriteError> {
        if self.episode()?.is_some() || self.reconciling()?.is_some() {
            return Ok(());
        }
        let me = self.node().to_string();
        let lost: Vec<(EpisodeId, bool)> = self
            .episodes()?
            .into_iter()
            .filter(|(_, e)| e.nodes.get(&me).is_some_and(|n| n.left_ms.is_none()))
            .map(|(_, e)| (e.episode_id, e.merged_into.is_some()))
            .collect();
        for (id, merged) in lost {
            tracing::warn!(episode = %id, "this node's part in the episode was lost with a restore: ending it");
            self.recover(who, &id)?;
            // A merged episode is left at once, as a node in it leaves it when it follows
            // the merge: its records are reconciled under the survivor.
            if merged {
                self.leave(who, &id)?;
            }
        }
        Ok(())
    }

    /// Marks this node out of the episode: nothing of it is left to reconcile here.
    fn leave(&mut self, who: &Operator, id: &EpisodeId) -> Result<(), WriteError> {
        let me = self.node().to_string();
        let now = self.now_ms();
        if let Some((record, episode)) = self.find_episode(id)?
            && let Some(entry) = episode.nodes.get(&me).filter(|n| n.left_ms.is_none())
        {
            let left = EpisodeNode {
                recovered_ms: entry.recovered_ms.or(Some(now)),
                left_ms: Some(now),
                ..entry.clone()
            };
            self.edit(record, who, "episode.leave", |t| {
                put_entry(t, "nodes", &me, &left)
            })?;
        }
        if self.reconciling()?.as_ref() == Some(id) {
            self.set_reconciling(None)?;
        }
        self.audit(audit_event(
            who,
            "episode.leave",
            None,
            Some(id.to_string()),
        ))?;
        tracing::warn!(episode = %id, "this node left the episode: central has everything it wrote");
        Ok(())
    }

    fn close(
        &mut self,
        who: &Operator,
        record: RecordId,
        episode: &Episode,
    ) -> Result<(), WriteError> {
        if episode.closed_ms.is_some() {
            return Ok(());
        }
        let now = self.now_ms();
        let closed = self.edit(record, who, "episode.close", |t| {
            set_field(t, "closed_ms", Some(now))?;
            set_field(t, "closed_by", Some(&who.name))
        });
        match closed {
            // A window may not close an episode other nodes are still in (every replica
            // refuses it): a server closes it, or any node once every node has left. The
            // window's own part ended above; the record is as it was.
            Err(WriteError::Rule(crate::rules::RuleError::BreaksReplicaRule(breach))) => {
                tracing::info!(breach = %breach, "the episode stays open for a server to close");
                Ok(())
            }
            other => other,
        }
    }
}

impl Store {
    /// The system of record is back for this node: it ends its part of the outage (the
    /// episode it tags records with), writes normal records from now on, and reconciles the
    /// episode until it leaves. Returns the episode, if the node was in one.
    pub fn recover_from_episode(
        &self,
        who: &Operator,
    ) -> Result<Saved<Option<EpisodeId>>, WriteError> {
        let who = who.clone();
        self.write(move |tx| {
            let Some(current) = tx.episode()? else {
                return Ok(Saved::new(None));
            };
            tx.recover(&who, &current)?;
            Ok(Saved::new(Some(current)))
        })
    }

    /// Leaves the episode this node reconciles, if central has acknowledged every record
    /// created in an episode that this node holds. Returns it if the node left.
    pub fn leave_reconciled_episode(
        &self,
        who: &Operator,
    ) -> Result<Saved<Option<EpisodeId>>, WriteError> {
        if !self.unreconciled()?.is_empty() {
            return Ok(Saved::new(None));
        }
        let who = who.clone();
        self.write(move |tx| {
            let Some(id) = tx.reconciling()? else {
                return Ok(Saved::new(None));
            };
            tx.leave(&who, &id)?;
            Ok(Saved::new(Some(id)))
        })
    }

    /// Takes this node out of its episode by hand. With `ThisNode`, the node recovers and
    /// leaves at once. With `HospitalWide` (the information department only), the episode
    /// closes for every node; this node recovers, and leaves once reconciled. A node in no
    /// episode stops every open one it holds hospital-wide: a declared emergency ends only by
    /// hand, and the server it was declared at may have left it (its store restored), while
    /// the windows stay in it until it closes.
    pub fn leave_episode(
        &self,
        who: &Operator,
        scope: LeaveScope,
    ) -> Result<Saved<Option<EpisodeId>>, WriteError> {
        if scope == LeaveScope::HospitalWide {
            information_department(who, "stops an episode")?;
        }
        let reconciled = self.unreconciled()?.is_empty();
        let who = who.clone();
        self.write(move |tx| {
            let Some(current) = tx.episode()?.or(tx.reconciling()?) else {
                if scope == LeaveScope::ThisNode {
                    return Ok(Saved::new(None));
                }
                let mut stopped = None;
                for (record, e) in tx.episodes()? {
                    if e.closed_ms.is_none() && e.merged_into.is_none() {
                        tx.close(&who, record, &e)?;
                        stopped.get_or_insert(e.episode_id);
                    }
                }
                return Ok(Saved::new(stopped));
            };
            if scope == LeaveScope::HospitalWide
                && let Some((record, e)) = tx.find_episode(&current)?
            {
                tx.close(&who, record, &e)?;
            }
            if tx.episode()?.as_ref() == Some(&current) {
                tx.recover(&who, &current)?;
            }
            if scope == LeaveScope::ThisNode || reconciled {
                tx.leave(&who, &current)?;
            }
            Ok(Saved::new(Some(current)))
        })
    }

    /// Brings this node in line with the replicated episodes: closes an episode every node
    /// of which has recovered (at the last recovery), merges independently opened ones into
    /// the earliest, follows a merge, and ends its part in an episode that was closed (by an
    /// administrator, or because everyone else saw the outage end). Returns the episode this
    /// node is now in.
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
            // Nodes that recovered at about the same time each saw the others still in: the
            // episode closes once every node has recovered, at the last recovery, the same
            // value on every node.
            for (id, e) in &open {
                if let Some(closed) = all_recovered_at(e) {
                    tx.edit(*id, &who, "episode.close", |t| {
                        set_field(t, "closed_ms", Some(closed))
                    })?;
                }
            }
            for drill in [false, true] {
                let open: Vec<(RecordId, Episode)> = tx
                    .episodes()?
                    .into_iter()
                    .filter(|(_, e)| {
                        e.closed_ms.is_none() && e.merged_into.is_none() && e.drill == drill
                    })
                    .collect();
                let Some(survivor) = open
                    .iter()
                    .min_by(|(_, a), (_, b)| {
                        (a.opened_ms, &a.episode_id).cmp(&(b.opened_ms, &b.episode_id))
                    })
                    .map(|(_, e)| e.episode_id.clone())
                else {
                    continue;
                };
                for (id, e) in &open {
                    if e.episode_id != survivor {
                        tx.edit(*id, &who, "episode.merge", |t| {
                            set_field(t, "merged_into", Some(&survivor))
                        })?;
                    }
                }
            }
            tx.end_parts_lost_with_a_restore(&who)?;
            let current = tx.episode()?;
            tx.merge_closed_overlaps(&who, current.as_ref())?;
            let Some(current) = current else {
                return Ok(Saved::new(None));
            };
            let Some((_, episode)) = tx.find_episode(&current)? else {
                return Ok(Saved::new(Some(current)));
            };
            if let Some(into) = episode.merged_into.clone() {
                tx.recover(&who, &current)?;
                tx.leave(&who, &current)?;
                if let Some((sid, survivor)) = tx.find_episode(&into)?
                    && survivor.closed_ms.is_none()
                {
                    tx.join(&who, sid, &survivor)?;
                    return Ok(Saved::new(Some(into)));
                }
                return Ok(Saved::new(None));
            }
            if episode.closed_ms.is_some() {
                tx.recover(&who, &current)?;
                return Ok(Saved::new(None));
            }
            Ok(Saved::new(Some(current)))
        })
    }
}
