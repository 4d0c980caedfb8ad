//! Central's acknowledgement of emergency records: central writes a [`Receipt`] naming the
//! emergency records it has received; the receipt replicates to every node, and only then
//! may an emergency prescription be dispensed in the system. One receipt names up to
//! [`MAX_RECEIPT_RECORDS`] records, so an outage's records cost each peer one small document
//! per received batch (before receipts, central stamped each record, and every peer had to be
//! sent and merge one change per record).
//!
//! Records a peer sends are acknowledged in the very commit that receives them
//! ([`Tx::acknowledge_received`], called by the apply path), so an outage's records are
//! acknowledged as fast as they arrive. [`Store::acknowledge_emergency_records`] acknowledges
//! whatever else central holds unacknowledged (records it made itself in an episode, or
//! received before it was central), in bounded commits until none is left.

use super::Saved;
use crate::WriteError;
use crate::id::RecordId;
use crate::record::{Header, MAX_RECEIPT_RECORDS, Receipt, RecordKind};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::store::{Store, Tx};

/// The action recorded for a receipt.
const ACK: &str = "central.ack";

impl Tx<'_, '_> {
    /// On central: writes receipts in this batch's commit for those of `ids` that are
    /// emergency records not acknowledged yet. Returns how many records they name.
    pub(crate) fn acknowledge_received(&mut self, ids: &[RecordId]) -> Result<usize, WriteError> {
        if self.opts().role != NodeRole::Central {
            return Ok(0);
        }
        let mut pending = Vec::new();
        for &id in ids {
            if self.is_unreconciled(id)? {
                pending.push(id);
            }
        }
        self.write_receipts(&Operator::system(), pending)
    }

    /// Writes receipts naming `records` ([`MAX_RECEIPT_RECORDS`] each). Returns how many
    /// records they name.
    fn write_receipts(
        &mut self,
        who: &Operator,
        mut records: Vec<RecordId>,
    ) -> Result<usize, WriteError> {
        records.sort_unstable();
        records.dedup();
        for chunk in records.chunks(MAX_RECEIPT_RECORDS) {
            // Not tagged with an episode central may be in: a receipt reconciles, it is never
            // itself waiting to be.
            let header = Header {
                episode: None,
                ..self.new_header(RecordKind::Receipt, who)?
            };
            let receipt = Receipt {
                header,
                records: chunk.to_vec(),
            };
            self.create(&receipt, who, ACK)?;
        }
        Ok(records.len())
    }
}

impl Store {
    /// On central: acknowledges every emergency record it holds unacknowledged, one receipt
    /// per commit. The receipts replicate to every node. Returns how many records they name.
    pub fn acknowledge_emergency_records(
        &self,
        who: &Operator,
    ) -> Result<Saved<usize>, WriteError> {
        if self.role() != NodeRole::Central {
            return Err(RuleError::CentralOnly {
                action: "acknowledge emergency records",
            }
            .into());
        }
        if who.desk != DeskRole::Admin {
            return Err(RuleError::invalid(
                "operator",
                "only the information department reconciles",
            )
            .into());
        }
        let mut total = 0;
        loop {
            let ids: Vec<_> = self
                .unreconciled()?
                .into_iter()
                .take(MAX_RECEIPT_RECORDS)
                .collect();
            if ids.is_empty() {
                return Ok(Saved::new(total));
            }
            let who = who.clone();
            let done = self.write(move |tx| {
                let mut pending = Vec::new();
                for id in ids {
                    if tx.is_unreconciled(id)? {
                        pending.push(id);
                    }
                }
                tx.write_receipts(&who, pending)
            })?;
            total += done;
            if done == 0 {
                return Ok(Saved::new(total));
            }
        }
    }
}
