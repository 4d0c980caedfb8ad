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

/// Puts one top-level field of a record document.
pub(crate) fn set_field(
    t: &mut Transaction<'_>,
    key: &str,
    value: impl autosurgeon::Reconcile,
) -> Result<(), WriteError> {
    autosurgeon::reconcile_prop(t, ROOT, key, value).map_err(|e| WriteError::document(key, e))
}
