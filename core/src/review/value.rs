//! Raw Automerge values for review: who wrote a value (from the change that holds it), the
//! value as JSON for the report, and the value as an owned tree to write back as one put.
//!
//! Everything here reads documents that may have come from a peer, so nothing assumes a
//! shape: unknown shapes render as JSON null and nesting is bounded.

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, AutomergeError, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde::Deserialize;

use crate::store::{DocumentError, actor_node};

/// Deepest nesting read from a value (record values nest two or three levels).
const MAX_DEPTH: usize = 16;

/// The commit message of a Lifeline change (see the store's writer): who, at which desk, did
/// what. Fields a foreign change lacks stay empty.
#[derive(Debug, Default, Deserialize)]
struct Note {
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    desk: Option<String>,
    #[serde(default)]
    action: Option<String>,
}

/// Where a value came from: the change that wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub node: Option<String>,
    pub operator: Option<String>,
    pub desk: Option<String>,
    pub action: Option<String>,
    pub at_ms: Option<i64>,
}

/// The provenance of the operation `op` (as returned next to a value by `get_all`).
pub(crate) fn written(doc: &Automerge, op: &ObjId) -> Written {
    let Some(meta) = doc
        .hash_for_opid(op)
        .and_then(|hash| doc.get_change_meta_by_hash(&hash))
    else {
        return Written::default();
    };
    let note: Note = meta
        .message
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default();
    Written {
        node: actor_node(&meta.actor).map(str::to_owned),
        operator: note.operator,
        desk: note.desk,
        action: note.action,
        at_ms: Some(meta.timestamp),
    }
}

/// A value as JSON, for the report.
pub(crate) fn json<D: ReadDoc>(doc: &D, value: &Value<'_>, id: &ObjId) -> serde_json::Value {
    json_at(doc, value, id, 0)
}

fn json_at<D: ReadDoc>(doc: &D, value: &Value<'_>, id: &ObjId, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    if depth >= MAX_DEPTH {
        return J::Null;
    }
    match value {
        Value::Scalar(s) => scalar_json(s),
        Value::Object(ObjType::Map | ObjType::Table) => {
            let mut map = serde_json::Map::new();
            for key in doc.keys(id) {
                if let Ok(Some((v, vid))) = doc.get(id, key.as_str()) {
                    let child = json_at(doc, &v, &vid, depth + 1);
                    map.insert(key, child);
                }
            }
            J::Object(map)
        }
        Value::Object(ObjType::List) => J::Array(
            (0..doc.length(id))
                .filter_map(|i| doc.get(id, i).ok().flatten())
                .map(|(v, vid)| json_at(doc, &v, &vid, depth + 1))
                .collect(),
        ),
        Value::Object(ObjType::Text) => doc.text(id).map(J::String).unwrap_or(J::Null),
    }
}

fn scalar_json(s: &ScalarValue) -> serde_json::Value {
    use serde_json::Value as J;
    match s {
        ScalarValue::Str(s) => J::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => J::from(*i),
        ScalarValue::Uint(u) => J::from(*u),
        ScalarValue::F64(f) => J::from(*f),
        ScalarValue::Counter(c) => J::from(i64::from(c)),
        ScalarValue::Boolean(b) => J::Bool(*b),
        ScalarValue::Bytes(b) => J::String(hex::encode(b)),
        ScalarValue::Null | ScalarValue::Unknown { .. } => J::Null,
    }
}

/// An owned copy of a value, to be written again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tree {
    Scalar(ScalarValue),
    Map(Vec<(String, Tree)>),
    List(Vec<Tree>),
    Text(String),
}

/// Copies a value out of a document.
pub(crate) fn tree<D: ReadDoc>(
    doc: &D,
    value: &Value<'_>,
    id: &ObjId,
) -> Result<Tree, DocumentError> {
    tree_at(doc, value, id, 0)
}

fn tree_at<D: ReadDoc>(
    doc: &D,
    value: &Value<'_>,
    id: &ObjId,
    depth: usize,
) -> Result<Tree, DocumentError> {
    if depth >= MAX_DEPTH {
        return Err(DocumentError::TooDeep { max: MAX_DEPTH });
    }
    Ok(match value {
        Value::Scalar(s) => Tree::Scalar(s.as_ref().clone()),
        Value::Object(ObjType::Map | ObjType::Table) => {
            let mut entries = Vec::new();
            for key in doc.keys(id) {
                if let Ok(Some((v, vid))) = doc.get(id, key.as_str()) {
                    let child = tree_at(doc, &v, &vid, depth + 1)?;
                    entries.push((key, child));
                }
            }
            Tree::Map(entries)
        }
        Value::Object(ObjType::List) => {
            let mut items = Vec::new();
            for i in 0..doc.length(id) {
                if let Ok(Some((v, vid))) = doc.get(id, i) {
                    items.push(tree_at(doc, &v, &vid, depth + 1)?);
                }
            }
            Tree::List(items)
        }
        Value::Object(ObjType::Text) => Tree::Text(doc.text(id)?),
    })
}

/// Where a tree is written: a map key or a list position.
enum Slot<'a> {
    Key(&'a str),
    Index(usize),
}

/// Writes `tree` at `key` of `obj` as one put, superseding every value the key held.
pub(crate) fn put_tree(
    t: &mut Transaction<'_>,
    obj: &ObjId,
    key: &str,
    tree: &Tree,
) -> Result<(), AutomergeError> {
    write(t, obj, Slot::Key(key), tree)
}

fn write(
    t: &mut Transaction<'_>,
    obj: &ObjId,
    slot: Slot<'_>,
    tree: &Tree,
) -> Result<(), AutomergeError> {
    let make = |t: &mut Transaction<'_>, ty: ObjType| match slot {
        Slot::Key(k) => t.put_object(obj, k, ty),
        Slot::Index(i) => t.insert_object(obj, i, ty),
    };
    match tree {
        Tree::Scalar(s) => match slot {
            Slot::Key(k) => t.put(obj, k, s.clone()),
            Slot::Index(i) => t.insert(obj, i, s.clone()),
        },
        Tree::Text(s) => {
            let o = make(t, ObjType::Text)?;
            t.splice_text(&o, 0, 0, s)
        }
        Tree::Map(entries) => {
            let o = make(t, ObjType::Map)?;
            for (k, v) in entries {
                write(t, &o, Slot::Key(k), v)?;
            }
            Ok(())
        }
        Tree::List(items) => {
            let o = make(t, ObjType::List)?;
            for (i, v) in items.iter().enumerate() {
                write(t, &o, Slot::Index(i), v)?;
            }
            Ok(())
        }
    }
}
