//! The review decisions a document carries in its `reviews` map (conflict id →
//! [`ReviewRecord`]): reading them all, and writing one.

use std::collections::BTreeMap;

use automerge::transaction::Transaction;
use automerge::{ObjType, ROOT, ReadDoc, Value};

use super::REVIEWS_KEY;
use super::conflict::ReviewRecord;
use crate::store::{WriteError, put_map};

/// Every review decision in a document. Two nodes that recorded the first review of a
/// document concurrently each created a `reviews` map; both are read.
pub(crate) fn reviews_in<D: ReadDoc + autosurgeon::ReadDoc>(
    doc: &D,
) -> BTreeMap<String, ReviewRecord> {
    let mut out: BTreeMap<String, ReviewRecord> = BTreeMap::new();
    for (value, map) in doc.get_all(ROOT, REVIEWS_KEY).unwrap_or_default() {
        if !matches!(value, Value::Object(ObjType::Map)) {
            continue;
        }
        for key in doc.keys(&map) {
            let Ok(review) =
                autosurgeon::hydrate_prop::<_, ReviewRecord, _, _>(doc, &map, key.as_str())
            else {
                continue;
            };
            keep_latest(&mut out, review);
        }
    }
    out
}

pub(super) fn keep_latest(reviews: &mut BTreeMap<String, ReviewRecord>, review: ReviewRecord) {
    match reviews.get(&review.conflict) {
        Some(old) if (old.at_ms, &old.operator) >= (review.at_ms, &review.operator) => {}
        _ => {
            reviews.insert(review.conflict.clone(), review);
        }
    }
}

/// Puts a decision into a document's `reviews` map, creating the map if needed.
pub(super) fn put_review(t: &mut Transaction<'_>, review: &ReviewRecord) -> Result<(), WriteError> {
    let map = put_map(t, REVIEWS_KEY)?;
    autosurgeon::reconcile_prop(t, map, review.conflict.as_str(), review)
        .map_err(|e| WriteError::document(REVIEWS_KEY, e))
}
