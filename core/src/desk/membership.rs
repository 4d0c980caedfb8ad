//! This node's membership in an emergency episode, set by hand: joining one by its id and
//! leaving it. While the node is in an episode, every record it creates is tagged with it
//! ("YJ"). The replicated episode records and automatic joining are in `episodes`.

use super::Saved;
use crate::WriteError;
use crate::id::EpisodeId;
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::store::{EpisodeInfo, Store, audit_event};

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
            let info = match tx.episode_info()? {
                Some(current) if current.id != id => {
                    return Err(RuleError::invalid(
                        "episode",
                        format!("this node is already in episode {}; stop it first", current.id),
                    )
                    .into());
                }
                Some(current) => current,
                None => {
                    let info = EpisodeInfo {
                        id,
                        reason,
                        started_ms: tx.now_ms(),
                    };
                    tx.set_episode(Some(&info))?;
                    tx.audit(audit_event(
                        &who,
                        "episode.start",
                        None,
                        Some(format!("{}: {}", info.id, info.reason)),
                    ))?;
                    tracing::warn!(episode = %info.id, reason = %info.reason, "emergency episode started");
                    info
                }
            };
            Ok(Saved::new(info))
        })
    }

    /// Leaves emergency mode. Returns the episode that ended, if there was one.
    pub fn stop_episode(&self, who: &Operator) -> Result<Saved<Option<EpisodeId>>, WriteError> {
        let who = who.clone();
        self.write(move |tx| {
            let current = tx.episode()?;
            if let Some(id) = &current {
                tx.set_episode(None)?;
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
}
