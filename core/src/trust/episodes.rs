//! The parts of the replica rules about emergency episodes that judge a change by what its
//! author could know: nodes cut off from each other open, close and merge episodes from what
//! each has heard, and an honest change must not become a forgery because the receiver heard
//! more, or less, meanwhile (each case found by `lifeline-sim --store`).

use automerge::{Automerge, ChangeHash};

use crate::id::EpisodeId;
use crate::record::Episode;

/// Whether the outage is over for every node in an episode (each recovered or left): then any
/// node may close it.
pub(super) fn all_over(after: &Automerge) -> bool {
    crate::record::hydrate::<Episode>(after).is_ok_and(|e| {
        !e.nodes.is_empty()
            && e.nodes
                .values()
                .all(|n| n.recovered_ms.is_some() || n.left_ms.is_some())
    })
}

/// Whether the outage was over for every node in the episode as the change's author saw it
/// (the document at the change itself): a node that joins again concurrently, unheard of by
/// the author, does not make an honest close a forgery.
pub(super) fn all_over_as_written(after: &Automerge, change: &ChangeHash) -> bool {
    after.fork_at(&[*change]).is_ok_and(|doc| all_over(&doc))
}

/// Whether an episode this node does not hold yet, `into`, opened no later than `merged` by
/// the minutes their ids name, both real or both drills: a merge names the earliest episode
/// its author holds, which may reach this node after the merge does.
pub(super) fn named_no_later(into: &EpisodeId, merged: &EpisodeId) -> bool {
    into.is_drill() == merged.is_drill()
        && matches!(
            (into.opened_minute(), merged.opened_minute()),
            (Some(a), Some(b)) if a <= b
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> EpisodeId {
        EpisodeId::new(s).expect("valid")
    }

    #[test]
    fn a_survivor_not_held_is_judged_by_the_minute_its_id_names() {
        let merged = id("YJ-20261201-0815-W02");
        assert!(named_no_later(&id("YJ-20261201-0800-W01"), &merged));
        assert!(named_no_later(&id("YJ-20261201-0815-W03-2"), &merged));
        assert!(named_no_later(&id("YJ-20261130-2359-standby"), &merged));
        assert!(!named_no_later(&id("YJ-20261201-0816-W01"), &merged));
        assert!(!named_no_later(&id("YJ-DRILL-20261201-0800-W01"), &merged));
        assert!(!named_no_later(&id("YJ-2026120-0800-W01"), &merged));
        assert!(!named_no_later(&id("YJ-BY-HAND"), &merged));
        assert!(named_no_later(
            &id("YJ-DRILL-20261201-0800-W01"),
            &id("YJ-DRILL-20261201-0900-W02")
        ));
    }
}
