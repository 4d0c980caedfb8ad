//! Central's acknowledgement of emergency records: central stamps each emergency record it
//! has received ([`CENTRAL_ACK_KEY`]); the stamp replicates back, and only then may an
//! emergency prescription be dispensed in the system.

use super::Saved;
use crate::WriteError;
use crate::record::CENTRAL_ACK_KEY;
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::store::Store;

/// Most records central acknowledges in one commit.
pub const ACK_BATCH: usize = 512;

impl Store {
    /// On central: stamps up to `ACK_BATCH` (512) emergency records it holds as received. The
    /// stamps replicate to every node. Returns how many were stamped.
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
        let ids: Vec<_> = self.unreconciled()?.into_iter().take(ACK_BATCH).collect();
        let who = who.clone();
        self.write(move |tx| {
            let stamp = tx.stamp(&who);
            let mut done = 0;
            for id in ids {
                if tx.central_acked(id)? {
                    continue;
                }
                tx.edit(id, &who, "central.ack", |t| {
                    super::set_field(t, CENTRAL_ACK_KEY, &stamp)
                })?;
                done += 1;
            }
            Ok(Saved::new(done))
        })
    }
}
