//! A visit, prescription or charge both servers pulled from the HIS while they could not see
//! each other is two records of one HIS row (`import`): the pull keeps both current, but a
//! desk must see the row once, or the nurse calls the child twice, the pharmacy hands the
//! drugs out twice and the cashier takes the fee twice. Of a row's twins a desk's list shows
//! the one whose status went furthest (the first of those, in id order); when that one has
//! left a queue (dispensed at the desk, during an outage, before the HIS knows), so have the
//! others.

use std::collections::HashMap;

use super::error::ReadError;
use super::index::furthest_status;
use super::patient_index::{his_key_kind, indexed_under};
use super::{Store, tables};
use crate::id::RecordId;
use crate::record::RecordKind;
use crate::status::{ChargeStatus, PrescriptionStatus, Status, VisitStatus};

/// How far a visit's, prescription's or charge's status went (the furthest state its log
/// reached, by its place in the kind's states), comparable between records of one kind;
/// `None` for other kinds and unreadable logs.
fn progress(kind: RecordKind, doc: &impl autosurgeon::ReadDoc) -> Option<usize> {
    fn rank<S: Status>(doc: &impl autosurgeon::ReadDoc) -> Option<usize> {
        let furthest = furthest_status::<S>(doc)?;
        S::ALL.iter().position(|s| *s == furthest)
    }
    match kind {
        RecordKind::Visit => rank::<VisitStatus>(doc),
        RecordKind::Prescription => rank::<PrescriptionStatus>(doc),
        RecordKind::Charge => rank::<ChargeStatus>(doc),
        _ => None,
    }
}

impl Store {
    /// Of `items` (records of `kind`; `key` tells each one's id and, pulled from the HIS, its
    /// HIS row's id), one per HIS row (see the module's documentation). Costs an index read
    /// per HIS row, and a record read per twin.
    pub(crate) fn one_per_his_row<T>(
        &self,
        kind: RecordKind,
        items: Vec<T>,
        key: impl Fn(&T) -> (RecordId, Option<&str>),
    ) -> Result<Vec<T>, ReadError> {
        let mut shown: HashMap<String, Option<RecordId>> = HashMap::new();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let (id, his) = key(&item);
            let twin = match his {
                None => None,
                Some(his) => match shown.get(his) {
                    Some(twin) => *twin,
                    None => {
                        let twin = self.twin_shown(kind, his)?;
                        shown.insert(his.to_owned(), twin);
                        twin
                    }
                },
            };
            if twin.is_none_or(|twin| twin == id) {
                out.push(item);
            }
        }
        Ok(out)
    }
    /// Every record of `kind` pulled from the HIS under `his`, in id order: one, or more when
    /// the row was pulled by both servers at once.
    pub(crate) fn his_twins(
        &self,
        kind: RecordKind,
        his: &str,
    ) -> Result<Vec<RecordId>, ReadError> {
        let t = self.table(tables::PATIENT_KEYS)?;
        indexed_under(&t, his_key_kind(kind), his, usize::MAX)
    }

    /// The twin of the HIS row `his` a queue shows; `None` when the row has no twin (or none
    /// whose status reads), and each record shows as it is.
    fn twin_shown(&self, kind: RecordKind, his: &str) -> Result<Option<RecordId>, ReadError> {
        let twins = self.his_twins(kind, his)?;
        if twins.len() < 2 {
            return Ok(None);
        }
        let mut furthest: Option<(usize, RecordId)> = None;
        for id in twins {
            let Some(doc) = self.doc(id)? else {
                continue;
            };
            let Some(p) = progress(kind, &*doc) else {
                continue;
            };
            if furthest.is_none_or(|(at, _)| p > at) {
                furthest = Some((p, id));
            }
        }
        Ok(furthest.map(|(_, id)| id))
    }
}

#[cfg(test)]
mod tests {
    use redb::{Database, ReadableTable};

    use super::super::index::Queued;
    use crate::import::tests::{bridge, central, his_patient, his_visit};
    use crate::record::RecordKind;
    use crate::roles::NodeRole;
    use crate::status::VisitStatus;
    use crate::store::tables;
    use crate::test_support::store_at;

    /// A queue row written before rows carried the HIS id has none until its record changes:
    /// no damage to the store's checks, and the queue lists the record as before.
    #[test]
    fn a_queue_row_written_before_rows_carried_the_his_id_is_no_damage() {
        let (_d, store, clock) = central();
        store
            .import_his_patients(&bridge(), vec![his_patient("P1", "林小雨")])
            .expect("the patient");
        store
            .import_his_visits(&bridge(), vec![his_visit("R1", "P1", VisitStatus::Queued)])
            .expect("the registration");
        let id = store.his_twins(RecordKind::Visit, "R1").expect("read")[0];
        let path = store.path().to_path_buf();
        drop(store);
        {
            let db = Database::open(&path).expect("raw open");
            let w = db.begin_write().expect("write");
            {
                let mut queues = w.open_table(tables::QUEUES).expect("queues");
                let key = (RecordKind::Visit.code(), id.to_bytes());
                let mut row: Queued = {
                    let v = queues.get(key).expect("read").expect("the row");
                    serde_json::from_slice(v.value()).expect("decodes")
                };
                assert_eq!(row.his_id.as_deref(), Some("R1"));
                row.his_id = None;
                let bytes = serde_json::to_vec(&row).expect("encode");
                queues.insert(key, bytes.as_slice()).expect("write");
            }
            w.commit().expect("commit");
        }
        let store = store_at(&path, "central", NodeRole::Central, &clock);
        assert_eq!(store.check_kept().expect("check"), Vec::<String>::new());
        assert_eq!(store.triage_queue().expect("queue").len(), 1);
    }
}
