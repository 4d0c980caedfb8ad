//! Loading records in bulk (feature `bulk`): a benchmark builds a hospital's worth of data in
//! minutes instead of going through the desks. Each record is written as given, by the same
//! path as any created record (its document, the feed, the indexes, the kept counts and
//! figures, an audit entry), so the store it leaves is one the node runs on; only the desks'
//! rules and numbering are skipped. Never enabled by the node.

use super::Store;
use super::error::WriteError;
use crate::record::Record;
use crate::roles::Operator;

impl Store {
    /// Writes `records` as given, in one commit.
    pub fn load_records<T: Record + Send + 'static>(
        &self,
        who: &Operator,
        records: Vec<T>,
    ) -> Result<(), WriteError> {
        let who = who.clone();
        self.write(move |tx| {
            for record in &records {
                tx.create(record, &who, "bulk.load")?;
            }
            Ok(())
        })
    }
}
