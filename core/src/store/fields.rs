//! Writing a record's fields inside an Automerge transaction: the helpers every desk
//! operation's edit uses.

use automerge::transaction::{Transactable, Transaction};
use automerge::{ObjId, ROOT, ReadDoc};

use super::error::WriteError;

/// Puts a status log key's stamp, creating the log if the document has none yet.
pub(crate) fn put_stamp(
    tx: &mut Transaction<'_>,
    state: &str,
    stamp: &crate::status::Stamp,
) -> Result<(), WriteError> {
    let log = put_map(tx, "status_log")?;
    autosurgeon::reconcile_prop(tx, log, state, stamp)
        .map_err(|e| WriteError::document("status_log", e))
}

/// A top-level map of a document, created if the document has none yet.
pub(crate) fn put_map(tx: &mut Transaction<'_>, key: &str) -> Result<ObjId, WriteError> {
    match tx.get(ROOT, key) {
        Ok(Some((automerge::Value::Object(automerge::ObjType::Map), obj))) => Ok(obj),
        _ => tx
            .put_object(ROOT, key, automerge::ObjType::Map)
            .map_err(|e| WriteError::document(key, e)),
    }
}

/// Puts the entry `entry` of the top-level map `map` (created if the document has none yet),
/// and nothing else of the map: a node writing its own entry of a map that every node writes
/// into (an episode's `nodes`) must leave the others' entries as they are, even where its
/// copy of them differs from the document's (a conflict between two lives of one node).
pub(crate) fn put_entry(
    t: &mut Transaction<'_>,
    map: &str,
    entry: &str,
    value: impl autosurgeon::Reconcile,
) -> Result<(), WriteError> {
    let obj = put_map(t, map)?;
    autosurgeon::reconcile_prop(t, obj, entry, value).map_err(|e| WriteError::document(map, e))
}

/// Puts one top-level field of a record document.
pub(crate) fn set_field(
    t: &mut Transaction<'_>,
    key: &str,
    value: impl autosurgeon::Reconcile,
) -> Result<(), WriteError> {
    autosurgeon::reconcile_prop(t, ROOT, key, value).map_err(|e| WriteError::document(key, e))
}
