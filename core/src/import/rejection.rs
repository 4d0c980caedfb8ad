//! What the HIS said when it refused an emergency record the bridge wrote into its interface
//! tables: kept on the record (replicated, audited) so that the recovery worklist lists it
//! with the HIS's reason until a later revision is taken.

use automerge::{ROOT, ReadDoc};
use autosurgeon::{Hydrate, Reconcile};
use serde::Serialize;

use super::{PULL_ACTION, check_bridge};
use crate::WriteError;
use crate::clock::UnixMs;
use crate::desk::set_field;
use crate::id::RecordId;
use crate::roles::Operator;
use crate::store::{ReadError, Store};

/// Document key of a record's [`HisRejection`] (absent or null: none).
pub const HIS_REJECTED_KEY: &str = "his_rejected";

/// The HIS's refusal of one revision of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct HisRejection {
    /// The interface table (`yj_patient`, ...).
    pub table: String,
    pub revision: i64,
    /// The HIS's words (`import_error`).
    pub reason: String,
    /// When the bridge read it.
    pub seen_ms: UnixMs,
}

impl Store {
    /// The HIS's current refusal of a record, if any.
    pub fn his_rejection(&self, id: RecordId) -> Result<Option<HisRejection>, ReadError> {
        let Some(doc) = self.doc(id)? else {
            return Ok(None);
        };
        if doc.get(ROOT, HIS_REJECTED_KEY).ok().flatten().is_none() {
            return Ok(None);
        }
        Ok(autosurgeon::hydrate_prop(&*doc, ROOT, HIS_REJECTED_KEY)
            .ok()
            .flatten())
    }

    /// Records what the HIS says of each record's latest revision: a refusal, or none (taken,
    /// or not read yet). Writes only what changed; returns how many records it changed.
    pub fn set_his_rejections(
        &self,
        who: &Operator,
        marks: Vec<(RecordId, Option<HisRejection>)>,
    ) -> Result<usize, WriteError> {
        check_bridge(self, who)?;
        let who = who.clone();
        self.write(move |tx| {
            let mut changed = 0;
            for (id, mark) in &marks {
                let Some(doc) = tx.doc(*id)? else { continue };
                let current: Option<HisRejection> =
                    autosurgeon::hydrate_prop(doc, ROOT, HIS_REJECTED_KEY)
                        .ok()
                        .flatten();
                let same = match (&current, mark) {
                    (Some(a), Some(b)) => {
                        a.table == b.table && a.revision == b.revision && a.reason == b.reason
                    }
                    (None, None) => true,
                    _ => false,
                };
                if same {
                    continue;
                }
                tx.edit(*id, &who, PULL_ACTION, |t| {
                    set_field(t, HIS_REJECTED_KEY, mark)
                })?;
                changed += 1;
            }
            Ok(changed)
        })
    }
}
