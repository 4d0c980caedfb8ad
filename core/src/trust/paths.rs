//! Which fields of a record a change touches: for each operation of the change, the
//! top-level key of the document it writes under, and the key inside that one. The
//! field-level rules ([`super::rules`]) judge changes by these, so that a node that may edit a
//! record still cannot write the part of it another node owns (central's acknowledgement,
//! a lessor's range, another node's episode entry).

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Automerge, Change, Prop, ReadDoc};

/// A field a change writes: the document's top-level key, and the key inside it when the
/// operation writes deeper (the map key, or `#` for a list element).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Field {
    pub top: String,
    pub inner: Option<String>,
}

/// A change that writes into an object the document does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("change writes into object {object}, which the record does not hold")]
pub struct UnknownObject {
    pub object: String,
}

fn prop_name(prop: &Prop) -> String {
    match prop {
        Prop::Map(k) => k.clone(),
        Prop::Seq(_) => "#".to_owned(),
    }
}

fn key_name(key: &Key) -> String {
    match key {
        Key::Map(k) => k.to_string(),
        Key::Seq(_) => "#".to_owned(),
    }
}

/// The path from the document's root to an object, as property names (at most two).
fn object_path(doc: &Automerge, id: &OpId) -> Result<Vec<String>, UnknownObject> {
    let unknown = || UnknownObject {
        object: id.to_string(),
    };
    let exid = doc.import_obj(&id.to_string()).map_err(|_| unknown())?;
    let parents = doc.parents(&exid).map_err(|_| unknown())?;
    Ok(parents
        .path()
        .iter()
        .take(2)
        .map(|(_, prop)| prop_name(prop))
        .collect())
}

/// The fields each of `changes` writes, in `doc` (which holds them all). Bounded by the
/// changes' operations; each object's path is looked up once.
pub fn touched(doc: &Automerge, change: &Change) -> Result<BTreeSet<Field>, UnknownObject> {
    let expanded = change.decode();
    let mut paths: HashMap<OpId, Vec<String>> = HashMap::new();
    let mut out = BTreeSet::new();
    for (op, counter) in expanded.operations.iter().zip(expanded.start_op.get()..) {
        let mut path = match &op.obj {
            ObjectId::Root => Vec::new(),
            ObjectId::Id(id) => match paths.get(id) {
                Some(p) => p.clone(),
                None => {
                    let p = object_path(doc, id)?;
                    paths.insert(id.clone(), p.clone());
                    p
                }
            },
        };
        if path.len() < 2 {
            path.push(key_name(&op.key));
        }
        // An object this change makes sits where the operation puts it: ops into it later in
        // the change need not look it up in the document (a record's creation makes all of
        // its objects).
        if matches!(op.action, OpType::Make(_)) {
            paths.insert(OpId(counter, expanded.actor_id.clone()), path.clone());
        }
        let mut parts = path.into_iter();
        if let Some(top) = parts.next() {
            out.insert(Field {
                top,
                inner: parts.next(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT};

    fn fields(doc: &Automerge, change: &Change) -> Vec<(String, Option<String>)> {
        touched(doc, change)
            .expect("known objects")
            .into_iter()
            .map(|f| (f.top, f.inner))
            .collect()
    }

    #[test]
    fn changes_name_the_fields_they_write() {
        let mut doc = Automerge::new();
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            let nodes = tx.put_object(ROOT, "nodes", ObjType::Map)?;
            let w01 = tx.put_object(&nodes, "W01", ObjType::Map)?;
            tx.put(&w01, "joined_ms", 1)?;
            tx.put(ROOT, "reason", "test")?;
            Ok(())
        })
        .expect("first");
        let first = doc.get_changes(&[]).into_iter().next().expect("change");
        assert_eq!(
            fields(&doc, &first),
            vec![
                ("nodes".into(), None),
                ("nodes".into(), Some("W01".into())),
                ("reason".into(), None),
            ]
        );
        let heads = doc.get_heads();
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            let (_, nodes) = tx.get(ROOT, "nodes")?.expect("nodes");
            let (_, w01) = tx.get(&nodes, "W01")?.expect("W01");
            tx.put(&w01, "left_ms", 2)?;
            let items = tx.put_object(ROOT, "items", ObjType::List)?;
            tx.insert(&items, 0, "x")?;
            Ok(())
        })
        .expect("second");
        let second = doc.get_changes(&heads).into_iter().next().expect("change");
        assert_eq!(
            fields(&doc, &second),
            vec![
                ("items".into(), None),
                ("items".into(), Some("#".into())),
                ("nodes".into(), Some("W01".into())),
            ]
        );
    }
}
