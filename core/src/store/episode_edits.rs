//! Records from the HIS changed by a desk during an emergency episode.
//!
//! Such a record was created by the bridge, in no episode; what a desk does to it in the
//! outage (a morning prescription dispensed, a morning charge settled) must still go back to
//! the HIS with the episode's own records. The first desk edit in an episode notes the episode
//! in the record itself ([`EPISODE_EDITS_KEY`]: episode id → when), in the same change, so
//! that every node that holds the record indexes it the same way, beside the records created
//! in the episode ([`Store::ids_edited_in_episode`]).
//!
//! [`Store::ids_edited_in_episode`]: super::Store::ids_edited_in_episode

use automerge::ROOT;
use automerge::transaction::{Transactable, Transaction};

use super::Tx;
use super::error::WriteError;
use super::fields::put_map;
use crate::id::{EpisodeId, RecordId};
use crate::record::EPISODE_EDITS_KEY;
use crate::roles::Operator;

impl Tx<'_, '_> {
    /// The episode a desk's edit of a record from the HIS is made in, if it is the first in
    /// that episode ([`crate::record::EPISODE_EDITS_KEY`]). The bridge and the information
    /// department's own changes are not marked: they are not work done in the outage.
    pub(super) fn episode_edit_mark(
        &mut self,
        id: RecordId,
        who: &Operator,
    ) -> Result<Option<(EpisodeId, i64)>, WriteError> {
        if who.desk == crate::DeskRole::Admin {
            return Ok(None);
        }
        let Some(episode) = self.episode()? else {
            return Ok(None);
        };
        let Some(doc) = self.doc(id)? else {
            return Ok(None);
        };
        let his_id: Option<String> = autosurgeon::hydrate_prop(doc, ROOT, "his_id")
            .ok()
            .flatten();
        if his_id.is_none() || edited_in(doc).contains(&episode.to_string()) {
            return Ok(None);
        }
        Ok(Some((episode, self.now_ms())))
    }
}

/// The episodes a desk changed this record from the HIS in
/// ([`crate::record::EPISODE_EDITS_KEY`]).
pub(super) fn edited_in(doc: &impl autosurgeon::ReadDoc) -> Vec<String> {
    match doc.get(&ROOT, EPISODE_EDITS_KEY) {
        Ok(Some((automerge::Value::Object(automerge::ObjType::Map), map))) => doc
            .map_range(&map, ..)
            .map(|item| item.key.into_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// The key under which the records changed (not created) in an episode are indexed, beside
/// those created in it: no episode id has a space.
pub(super) fn edited_key(episode: &str) -> String {
    format!("edited {episode}")
}

/// Notes in a record from the HIS that a desk changed it in `episode` (at `at`).
pub(super) fn mark(
    t: &mut Transaction<'_>,
    episode: &EpisodeId,
    at: i64,
) -> Result<(), WriteError> {
    let map = put_map(t, EPISODE_EDITS_KEY)?;
    t.put(&map, episode.as_str(), at)
        .map_err(|e| WriteError::document(EPISODE_EDITS_KEY, e))
}
