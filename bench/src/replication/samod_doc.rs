//! A registration as samod's document: one Automerge document made in one change, as an
//! application would write it, holding the registration as a map (`{"patient": {...},
//! "visit": {...}}`) with the fields and values of the Lifeline records (ids, header, names,
//! dates, department).

use anyhow::{anyhow, bail};
use lifeline_core::automerge::transaction::Transactable;
use lifeline_core::automerge::{self, Automerge, AutomergeError, ObjId, ObjType, ScalarValue};
use serde_json::Value;

/// A registration (`{"patient": {...}, "visit": {...}}`) as an Automerge document made in
/// one change, as an application would write it.
pub fn registration_doc(registration: &Value) -> anyhow::Result<Automerge> {
    let Value::Object(fields) = registration else {
        bail!("a registration is a JSON object, not {registration}");
    };
    let mut doc = Automerge::new();
    doc.transact::<_, _, AutomergeError>(|tx| {
        for (key, value) in fields {
            put(tx, &automerge::ROOT, Slot::Key(key), value)?;
        }
        Ok(())
    })
    .map_err(|failure| anyhow!("cannot build the document: {}", failure.error))?;
    Ok(doc)
}

fn scalar(value: &Value) -> ScalarValue {
    match value {
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => ScalarValue::Int(i),
            (None, Some(u)) => ScalarValue::Uint(u),
            _ => ScalarValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        Value::Null | Value::Array(_) | Value::Object(_) => ScalarValue::Null,
    }
}

/// Where a value goes: under a key of a map, or at an index of a list.
#[derive(Debug, Clone, Copy)]
enum Slot<'a> {
    Key(&'a str),
    Index(usize),
}

/// Puts `value` at `slot` of `obj`: objects and arrays as nested maps and lists.
fn put(
    tx: &mut impl Transactable,
    obj: &ObjId,
    slot: Slot<'_>,
    value: &Value,
) -> Result<(), AutomergeError> {
    let kind = match value {
        Value::Object(_) => ObjType::Map,
        Value::Array(_) => ObjType::List,
        _ => {
            return match slot {
                Slot::Key(key) => tx.put(obj, key, scalar(value)),
                Slot::Index(index) => tx.insert(obj, index, scalar(value)),
            };
        }
    };
    let child = match slot {
        Slot::Key(key) => tx.put_object(obj, key, kind)?,
        Slot::Index(index) => tx.insert_object(obj, index, kind)?,
    };
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                put(tx, &child, Slot::Key(k), v)?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                put(tx, &child, Slot::Index(i), v)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_core::automerge::ReadDoc;

    #[test]
    fn a_registration_becomes_a_map_of_its_fields() {
        let reg = serde_json::json!({
            "patient": {"name": "王小明", "age": 7, "tags": ["a", {"b": true}], "no": null},
            "visit": {"department": "PED-GEN", "fee": 12.5},
        });
        let doc = registration_doc(&reg).expect("a document");
        let (_, patient) = doc
            .get(automerge::ROOT, "patient")
            .expect("read")
            .expect("a patient map");
        let (name, _) = doc.get(&patient, "name").expect("read").expect("a name");
        assert_eq!(name.as_str(), Some("王小明"));
        let (_, tags) = doc.get(&patient, "tags").expect("read").expect("tags");
        assert_eq!(doc.length(&tags), 2);
        assert_eq!(doc.get_changes(&[]).len(), 1, "one change");
        assert!(registration_doc(&serde_json::json!([1])).is_err());
    }
}
