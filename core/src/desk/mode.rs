//! Emergency mode on this node, and central's acknowledgement of emergency records.
//!
//! While an episode is current, every record this node creates is tagged with it ("YJ").
//! Central stamps each emergency record it has received ([`CENTRAL_ACK_KEY`]); the stamp
//! replicates back, and only then may an emergency prescription be dispensed in the system.

use serde::Serialize;

use super::Saved;
use crate::WriteError;
use crate::clock::UnixMs;
use crate::id::EpisodeId;
use crate::record::CENTRAL_ACK_KEY;
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::{RuleError, check_text};
use crate::store::audit_event;
use crate::store::tables::meta_keys;
use crate::store::{ReadError, Store};

/// The episode a node is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpisodeInfo {
    pub id: EpisodeId,
    pub reason: String,
    pub started_ms: UnixMs,
}

const REASON: &str = "episode.reason";
const STARTED: &str = "episode.started_ms";

/// Most records central acknowledges in one commit.
pub const ACK_BATCH: usize = 512;

impl Store {
    /// Puts this node in emergency mode. Starting the episode it is already in is a no-op.
    pub fn start_episode(
        &self,
        who: &Operator,
        id: EpisodeId,
        reason: &str,
    ) -> Result<Saved<EpisodeInfo>, WriteError> {
        check_text("reason", reason, true)?;
        let (who, reason) = (who.clone(), reason.to_owned());
        self.write(move |tx| {
            if let Some(current) = tx.episode()? {
                if current != id {
                    return Err(RuleError::invalid(
                        "episode",
                        format!("this node is already in episode {current}; stop it first"),
                    )
                    .into());
                }
            } else {
                let now = tx.now_ms().to_string();
                tx.set_meta(meta_keys::EPISODE, Some(id.as_str()))?;
                tx.set_meta(REASON, Some(&reason))?;
                tx.set_meta(STARTED, Some(&now))?;
                tx.audit(audit_event(
                    &who,
                    "episode.start",
                    None,
                    Some(format!("{id}: {reason}")),
                ))?;
                tracing::warn!(episode = %id, %reason, "emergency episode started");
            }
            Ok(Saved::new(EpisodeInfo {
                id,
                reason: tx.meta(REASON)?.unwrap_or_default(),
                started_ms: tx.meta(STARTED)?.and_then(|s| s.parse().ok()).unwrap_or(0),
            }))
        })
    }

    /// Leaves emergency mode. Returns the episode that ended, if there was one.
    pub fn stop_episode(&self, who: &Operator) -> Result<Saved<Option<EpisodeId>>, WriteError> {
        let who = who.clone();
        self.write(move |tx| {
            let current = tx.episode()?;
            if let Some(id) = &current {
                tx.set_meta(meta_keys::EPISODE, None)?;
                tx.set_meta(REASON, None)?;
                tx.set_meta(STARTED, None)?;
                tx.audit(audit_event(
                    &who,
                    "episode.stop",
                    None,
                    Some(id.to_string()),
                ))?;
                tracing::warn!(episode = %id, "emergency episode stopped");
            }
            Ok(Saved::new(current))
        })
    }

    pub fn episode_info(&self) -> Result<Option<EpisodeInfo>, ReadError> {
        let Some(id) = self.episode()? else {
            return Ok(None);
        };
        Ok(Some(EpisodeInfo {
            id,
            reason: self.meta_text(REASON)?.unwrap_or_default(),
            started_ms: self
                .meta_text(STARTED)?
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        }))
    }

    /// On central: stamps up to [`ACK_BATCH`] emergency records it holds as received. The
    /// stamps replicate to every node. Returns how many were stamped.
    pub fn acknowledge_emergency_records(
        &self,
        who: &Operator,
    ) -> Result<Saved<usize>, WriteError> {
        if self.role() != NodeRole::Central {
            return Err(RuleError::CentralOnly {
                action: "acknowledge emergency records",
            }
            .into());
        }
        if who.desk != DeskRole::Admin {
            return Err(RuleError::invalid(
                "operator",
                "only the information department reconciles",
            )
            .into());
        }
        let ids: Vec<_> = self.unreconciled()?.into_iter().take(ACK_BATCH).collect();
        let who = who.clone();
        self.write(move |tx| {
            let stamp = tx.stamp(&who);
            let mut done = 0;
            for id in ids {
                if tx.central_acked(id)? {
                    continue;
                }
                tx.edit(id, &who, "central.ack", |t| {
                    super::set_field(t, CENTRAL_ACK_KEY, &stamp)
                })?;
                done += 1;
            }
            Ok(Saved::new(done))
        })
    }
}
