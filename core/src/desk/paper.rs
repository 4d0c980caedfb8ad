//! Paper back-entry: records typed in after the fact from the paper forms of a manual
//! fallback. Such a record carries the time written on the paper beside the time it was
//! entered ([`crate::record::PaperEntry`]), and belongs to the episode of the time on the
//! paper, not to whatever the node is in while it is typed in.
//!
//! The plan: "对在故障期间采用手工受理的事项,应及时在系统中补充完善" (what was handled by hand
//! during the fault is entered into the system promptly afterwards), "一旦系统恢复,当日应立即
//! 完成对重要数据的录入,第二天完成全部数据补录" (important data the same day, all of it by the
//! next day).

use crate::WriteError;
use crate::clock::{LocalTime, UnixMs};
use crate::id::EpisodeId;
use crate::record::{Episode, Header, PaperEntry, RecordKind};
use crate::roles::Operator;
use crate::rules::RuleError;
use crate::store::Tx;

/// The time written on a paper form, in the hospital's time (`YYYY-MM-DD HH:MM`).
pub type PaperTime = LocalTime;

/// How far back a paper form may be dated: the plan has everything entered by the day after
/// the fault; a month leaves room for a long outage and a slow catch-up.
pub const PAPER_MAX_AGE_DAYS: i64 = 31;

const MS_PER_DAY: i64 = 86_400_000;

impl Tx<'_, '_> {
    /// The header of a record created now by `who`: tagged with the node's current episode,
    /// or, for a record entered from paper, marked so and tagged with the episode of the time
    /// on the paper.
    pub(crate) fn header_for(
        &mut self,
        kind: RecordKind,
        who: &Operator,
        paper: Option<PaperTime>,
    ) -> Result<Header, WriteError> {
        let mut header = self.new_header(kind, who)?;
        if let Some(time) = paper {
            let now = self.now_ms();
            let occurred_ms = time.to_ms(self.opts().utc_offset_min);
            if occurred_ms > now {
                return Err(RuleError::invalid(
                    "occurred_at",
                    "the time on the paper is in the future",
                )
                .into());
            }
            if now - occurred_ms > PAPER_MAX_AGE_DAYS * MS_PER_DAY {
                return Err(RuleError::invalid(
                    "occurred_at",
                    format!("paper forms older than {PAPER_MAX_AGE_DAYS} days are not entered"),
                )
                .into());
            }
            header.paper = Some(PaperEntry { occurred_ms });
            header.episode = self.episode_at(occurred_ms)?;
        }
        Ok(header)
    }

    /// The episode under way at `at_ms` (following merges to the survivor): a real outage
    /// before a drill, the earliest opened first.
    pub(crate) fn episode_at(&mut self, at_ms: UnixMs) -> Result<Option<EpisodeId>, WriteError> {
        let mut all: Vec<Episode> = Vec::new();
        for id in self.ids_of_kind(RecordKind::Episode)? {
            all.push(self.read::<Episode>(id)?);
        }
        let covering = all
            .iter()
            .filter(|e| e.opened_ms <= at_ms && e.closed_ms.is_none_or(|c| at_ms < c))
            .min_by_key(|e| (e.drill, e.opened_ms, e.episode_id.clone()));
        let Some(found) = covering else {
            return Ok(None);
        };
        let mut id = found.episode_id.clone();
        // Follow merges (bounded: a merge chain is at most as long as the episode list).
        for _ in 0..all.len() {
            match all
                .iter()
                .find(|e| e.episode_id == id)
                .and_then(|e| e.merged_into.clone())
            {
                Some(next) => id = next,
                None => break,
            }
        }
        Ok(Some(id))
    }
}
