//! Central's receipt for emergency records: one record naming many, written by central in
//! the commit that receives them. Every node learns from it that central holds those records
//! (they are reconciled; an emergency prescription among them may be dispensed in the
//! system) without central editing each record, so an outage's records cost their peers one
//! small document per received batch, not one change per record.

use autosurgeon::{Hydrate, Reconcile};
use serde::Serialize;

use super::{Header, Record, RecordKind};
use crate::id::RecordId;

/// Most records one receipt names; central writes as many receipts as a commit needs.
pub const MAX_RECEIPT_RECORDS: usize = 4096;

/// Central's statement that it holds `records`, all created in emergency episodes. Written
/// once, never changed; only central writes receipts (the rules refuse any other author).
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Receipt {
    pub header: Header,
    pub records: Vec<RecordId>,
}

impl Record for Receipt {
    const KIND: RecordKind = RecordKind::Receipt;
    fn header(&self) -> &Header {
        &self.header
    }
}
