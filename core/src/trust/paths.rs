//! Which fields of a record a change touches: for each operation of the change, the
//! top-level key of the document it writes under, and the key inside that one. The
//! field-level rules ([`super::rules`]) judge changes by these, so that a node that may edit a
//! record still cannot write the part of it another node owns (central's acknowledgement,
//! a lessor's range, another node's episode entry).

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjId, Prop, ReadDoc};

use crate::record::Snapshot;

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

/// The one change of a new record, read from the document without rebuilding the change:
/// Automerge keeps a loaded document's operations, not its changes, and rebuilding them
/// (`get_changes`) and decoding their operations (`touched`) took a seventh of all CPU in the
/// replication benchmark, where nearly every record arrives new, made by one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoleChange {
    pub hash: ChangeHash,
    pub actor: ActorId,
    /// What [`touched`] would say of the change.
    pub fields: BTreeSet<Field>,
}

impl SoleChange {
    /// The change that made `view`'s document, if it holds one change and nothing else and
    /// every operation of that change still shows in it (none overwritten or deleted by a
    /// later one of the same change, no counter incremented, no text): then every operation
    /// is one visible entry, the entries' places are the fields the operations write, and
    /// [`touched`] would find the same. `None` otherwise: judge the change itself.
    pub fn of(view: &Snapshot<'_>) -> Option<SoleChange> {
        let doc = view.doc();
        let mut changes = doc.get_changes_meta(&[]);
        if changes.len() != 1 {
            return None;
        }
        let change = changes.pop()?;
        if !change.deps.is_empty() {
            return None;
        }
        // A change's operations take the counters start_op..=max_op, one each (a peer's
        // document says what they are: no arithmetic on them may overflow).
        let ops = change.max_op.checked_add(1)?.checked_sub(change.start_op)?;
        let fields = visible_fields(view, ops)?;
        Some(SoleChange {
            hash: change.hash,
            actor: change.actor.into_owned(),
            fields,
        })
    }
}

/// The fields of every entry the document shows, as [`touched`] names the field an operation
/// writes (an entry of an object two levels down or deeper is in the field of its ancestor
/// two levels down); `None` if the entries are not exactly `ops` (one of the operations does
/// not show) or the document holds an object the snapshot does not read (text, a table).
fn visible_fields(view: &Snapshot<'_>, ops: u64) -> Option<BTreeSet<Field>> {
    let mut fields = BTreeSet::new();
    let mut entries = 0u64;
    let mut objects: Vec<(ObjId, Vec<String>)> = vec![(automerge::ROOT, Vec::new())];
    while let Some((obj, path)) = objects.pop() {
        let inside = view.entries_of(&obj)?;
        entries += inside.len() as u64;
        if entries > ops {
            return None;
        }
        if let [top, inner] = path.as_slice() {
            // Two levels down: every entry is in the same field, and so is every object under.
            if !inside.is_empty() {
                fields.insert(Field {
                    top: top.clone(),
                    inner: Some(inner.clone()),
                });
            }
            objects.extend(
                inside
                    .into_iter()
                    .filter_map(|(_, child)| child)
                    .map(|child| (child, path.clone())),
            );
            continue;
        }
        for (prop, child) in inside {
            let mut at = path.clone();
            at.push(prop);
            let mut parts = at.iter().cloned();
            if let Some(top) = parts.next() {
                fields.insert(Field {
                    top,
                    inner: parts.next(),
                });
            }
            if let Some(child) = child {
                objects.push((child, at));
            }
        }
    }
    (entries == ops).then_some(fields)
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

    /// One operation of a record's creating change, into an object the change made (by
    /// index, the root first): the documents of one change the property below tries.
    #[derive(Debug, Clone)]
    enum Op {
        Put(usize, usize, i64),
        Make(usize, usize, bool),
        Delete(usize, usize),
        Counter(usize, usize),
        Increment(usize, usize),
        Text(usize, usize),
    }

    const KEYS: [&str; 4] = ["header", "lines", "nodes", "status"];

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let at = || (0..6usize, 0..4usize);
        prop_oneof![
            4 => (at(), any::<i64>()).prop_map(|((o, k), v)| Op::Put(o, k, v)),
            3 => (at(), any::<bool>()).prop_map(|((o, k), list)| Op::Make(o, k, list)),
            1 => at().prop_map(|(o, k)| Op::Delete(o, k)),
            1 => at().prop_map(|(o, k)| Op::Counter(o, k)),
            1 => at().prop_map(|(o, k)| Op::Increment(o, k)),
            1 => at().prop_map(|(o, k)| Op::Text(o, k)),
        ]
    }

    /// A document of one change made of `ops` (an operation that does not apply is left out).
    fn one_change(ops: &[Op]) -> Automerge {
        use automerge::ScalarValue;
        use automerge::transaction::Transaction;
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let mut objects = vec![(automerge::ROOT, ObjType::Map)];
        // The key of an operation into a map; the end of a list for an insertion.
        fn place(tx: &Transaction<'_>, obj: &(ObjId, ObjType), key: usize) -> Prop {
            match obj.1 {
                ObjType::Map => Prop::Map(KEYS[key].to_owned()),
                _ => Prop::Seq(tx.length(&obj.0)),
            }
        }
        for op in ops {
            let (o, k) = match op {
                Op::Put(o, k, _)
                | Op::Make(o, k, _)
                | Op::Delete(o, k)
                | Op::Counter(o, k)
                | Op::Increment(o, k)
                | Op::Text(o, k) => (*o % objects.len(), *k),
            };
            let obj = objects[o].clone();
            let prop = place(&tx, &obj, k);
            let list = obj.1 == ObjType::List;
            let _ = match (op, prop) {
                (Op::Put(_, _, v), Prop::Map(key)) => tx.put(&obj.0, key, *v),
                (Op::Put(_, _, v), Prop::Seq(i)) => tx.insert(&obj.0, i, *v),
                (Op::Make(_, _, l), prop) => {
                    let ty = if *l { ObjType::List } else { ObjType::Map };
                    let made = match prop {
                        Prop::Map(key) => tx.put_object(&obj.0, key, ty),
                        Prop::Seq(i) => tx.insert_object(&obj.0, i, ty),
                    };
                    made.map(|id| objects.push((id, ty)))
                }
                (Op::Delete(..), Prop::Map(key)) => tx.delete(&obj.0, key),
                (Op::Delete(..), Prop::Seq(len)) if list && len > 0 => tx.delete(&obj.0, 0),
                (Op::Counter(..), Prop::Map(key)) => tx.put(&obj.0, key, ScalarValue::counter(1)),
                (Op::Increment(..), Prop::Map(key)) => tx.increment(&obj.0, key, 2),
                (Op::Text(..), Prop::Map(key)) => tx
                    .put_object(&obj.0, key, ObjType::Text)
                    .and_then(|text| tx.splice_text(&text, 0, 0, "ab")),
                _ => Ok(()),
            };
        }
        tx.commit();
        doc
    }

    proptest::proptest! {
        /// Read off the document, a new record's only change writes exactly the fields its
        /// decoded operations write, or it is not read so (and is judged decoded).
        #[test]
        fn a_sole_change_read_off_its_document_writes_what_it_decodes_to(
            ops in proptest::collection::vec(op(), 1..24)
        ) {
            let doc = one_change(&ops);
            let changes = doc.get_changes(&[]);
            let view = Snapshot::new(&doc);
            let sole = SoleChange::of(&view);
            match (changes.as_slice(), sole) {
                ([change], Some(sole)) => {
                    proptest::prop_assert_eq!(&sole.fields, &touched(&doc, change).expect("known"));
                    proptest::prop_assert_eq!(sole.hash, change.hash());
                    proptest::prop_assert_eq!(&sole.actor, change.actor_id());
                }
                (_, Some(_)) => proptest::prop_assert!(false, "read off a document of {} changes", changes.len()),
                (_, None) => {}
            }
        }
    }

    #[test]
    fn only_a_document_of_one_change_that_shows_all_of_it_is_read_off_the_document() {
        let made = one_change(&[Op::Make(0, 1, true), Op::Put(1, 0, 7), Op::Put(0, 0, 1)]);
        let sole = SoleChange::of(&Snapshot::new(&made)).expect("every operation shows");
        let fields: Vec<_> = sole
            .fields
            .iter()
            .map(|f| (f.top.as_str(), f.inner.as_deref()))
            .collect();
        assert_eq!(
            fields,
            [("header", None), ("lines", None), ("lines", Some("#"))]
        );
        // A key written twice in the change: the first write does not show.
        let twice = one_change(&[Op::Put(0, 0, 1), Op::Put(0, 0, 2)]);
        assert_eq!(SoleChange::of(&Snapshot::new(&twice)), None);
        // A second change.
        let mut two = made.clone();
        two.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "status", 1))
            .expect("second");
        assert_eq!(SoleChange::of(&Snapshot::new(&two)), None);
    }
}
