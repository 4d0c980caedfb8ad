//! Merging one record's changes from a peer into the in-memory copy, under the checks the
//! store applies (lifeline-core's `store` apply path), in the same order and with the same
//! [`Refusal`]s: changes that do not decode, fall short of the sender's heads or lack
//! dependencies, a missing or foreign header, a rewritten header, and the permission check on
//! the header and the changes' authors. Pure: the caller stores what it returns.

use lifeline_core::automerge::{ActorId, Automerge, ChangeHash, ROOT, ReadDoc};
use lifeline_core::record::Header;
use lifeline_core::store::{ApplyCheck, IncomingDoc, Refusal, actor_node};

/// What merging a record's incoming changes comes to.
pub(super) enum Merge {
    /// The record changed: store this document. `complete` is false when changes it depends
    /// on are still missing (it is stored anyway and continues with the sync protocol).
    Changed { doc: Box<Automerge>, complete: bool },
    /// We already had all of it.
    Unchanged,
    /// Nothing could be applied yet: changes it depends on are missing.
    MissingDeps,
    /// Refused; nothing of the record changes.
    Refused(Refusal),
}

/// A document's record header.
pub(super) fn header(doc: &Automerge) -> Result<Header, autosurgeon::HydrateError> {
    autosurgeon::hydrate_prop(doc, ROOT, "header")
}

/// Merges `item` into `existing` (the stored document, if any); new documents get `actor`.
pub(super) fn merge(
    existing: Option<&Automerge>,
    item: &IncomingDoc,
    actor: &ActorId,
    check: &ApplyCheck,
) -> Merge {
    let mut candidate = match existing {
        Some(doc) => doc.clone(),
        None => Automerge::new().with_actor(actor.clone()),
    };
    let old_heads = candidate.get_heads();
    // As in the store: a decoder panic on a peer's bytes is a refusal, never a crash.
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        candidate.load_incremental(&item.bytes)
    }));
    match loaded {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Merge::Refused(Refusal::Undecodable {
                reason: e.to_string(),
            });
        }
        Err(_) => {
            return Merge::Refused(Refusal::Undecodable {
                reason: "the decoder failed on them".into(),
            });
        }
    }
    // Automerge skips a damaged chunk silently: the sender's heads say whether all arrived.
    let short_of_sender = item
        .sender_heads
        .iter()
        .any(|h| candidate.get_change_by_hash(h).is_none());
    let missing = short_of_sender || !candidate.get_missing_deps(&[]).is_empty();
    if candidate.get_heads() == old_heads {
        return if missing {
            Merge::MissingDeps
        } else {
            Merge::Unchanged
        };
    }
    if let Err(refusal) = admit(existing, &candidate, &old_heads, item, missing, check) {
        return refusal;
    }
    candidate.set_actor(actor.clone());
    Merge::Changed {
        doc: Box::new(candidate),
        complete: !missing,
    }
}

/// The header and permission checks on a changed candidate; `Err` is the merge's outcome.
fn admit(
    existing: Option<&Automerge>,
    candidate: &Automerge,
    old_heads: &[ChangeHash],
    item: &IncomingDoc,
    missing: bool,
    check: &ApplyCheck,
) -> Result<(), Merge> {
    let header = match header(candidate) {
        Ok(h) => h,
        Err(_) if missing => return Err(Merge::MissingDeps),
        Err(e) => {
            return Err(Merge::Refused(Refusal::NoHeader {
                reason: e.to_string(),
            }));
        }
    };
    if header.id != item.id {
        return Err(Merge::Refused(Refusal::WrongId { claimed: header.id }));
    }
    if let Some(old) = existing
        && let Ok(old_header) = self::header(old)
        && old_header != header
    {
        return Err(Merge::Refused(Refusal::HeaderRewritten));
    }
    let authors: Vec<String> = candidate
        .get_changes(old_heads)
        .iter()
        .map(|c| actor_node(c.actor_id()).unwrap_or("?").to_owned())
        .collect();
    check(&header, &authors).map_err(Merge::Refused)
}
