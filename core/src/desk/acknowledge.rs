//! Central's acknowledgement of emergency records: central stamps each emergency record it
//! has received ([`CENTRAL_ACK_KEY`]); the stamp replicates back, and only then may an
//! emergency prescription be dispensed in the system.
//!
//! Records a peer sends are stamped in the very commit that receives them
//! ([`Tx::acknowledge_received`], called by the apply path), so an outage's records are
//! acknowledged as fast as they arrive. [`Store::acknowledge_emergency_records`] stamps
//! whatever else central holds unacknowledged (records it made itself in an episode, or
//! received before it was central), in bounded commits until none is left.

use super::Saved;
use crate::WriteError;
use crate::id::RecordId;
use crate::record::CENTRAL_ACK_KEY;
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::store::{Store, Tx};

/// Most records central stamps in one commit of [`Store::acknowledge_emergency_records`].
pub const ACK_BATCH: usize = 4096;

/// The action recorded for an acknowledgement.
const ACK: &str = "central.ack";

impl Tx<'_> {
    /// On central: stamps those of `ids` that are emergency records without a stamp, in this
    /// batch's commit. Returns how many were stamped.
    pub(crate) fn acknowledge_received(&mut self, ids: &[RecordId]) -> Result<usize, WriteError> {
        if self.opts().role != NodeRole::Central {
            return Ok(0);
        }
        let system = Operator::system();
        let mut stamp = None;
        let mut done = 0;
        for &id in ids {
            let emergency = self.is_unreconciled(id)?;
            if !emergency {
                continue;
            }
            let stamp = stamp.get_or_insert_with(|| self.stamp(&system)).clone();
            self.edit(id, &system, ACK, |t| {
                super::set_field(t, CENTRAL_ACK_KEY, &stamp)
            })?;
            done += 1;
        }
        Ok(done)
    }
}

impl Store {
    /// On central: stamps every emergency record it holds unacknowledged, [`ACK_BATCH`] per
    /// commit. The stamps replicate to every node. Returns how many were stamped.
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
            let ids: Vec<_> = self.unreconciled()?.into_iter().take(ACK_BATCH).collect();
            if ids.is_empty() {
                return Ok(Saved::new(total));
            }
            let who = who.clone();
            let done = self.write(move |tx| {
                let stamp = tx.stamp(&who);
                let mut done = 0;
                for id in ids {
                    if tx.central_acked(id)? {
                        continue;
                    }
                    tx.edit(id, &who, ACK, |t| {
                        super::set_field(t, CENTRAL_ACK_KEY, &stamp)
                    })?;
                    done += 1;
                }
                Ok(done)
            })?;
            total += done;
            if done == 0 {
                return Ok(Saved::new(total));
            }
        }
    }
}
