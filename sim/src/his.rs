//! What the HIS says of the emergency records central's bridge writes back, as far as the
//! hospital's records see it (store-backed runs with housekeeping). The bridge's data path
//! itself (PostgreSQL, the interface tables) is not simulated; its verdicts are: each second
//! while the HIS answers, central's bridge reads what the HIS did with the emergency records
//! central holds and has not heard of yet, and records each refusal on its record
//! (`Store::set_his_rejections`, as the bridge does), an edit by central of records the
//! windows wrote, replicated and judged by the windows' rules like any other. The HIS refuses
//! one record in eight (chosen by the record's id, no draw of its own), "证件号码校验失败".
//!
//! Every node's recovery worklist then lists each refusal it holds (`worklist`, whose counts
//! must agree on every node); draining it, the information department corrects the record and
//! the HIS takes the new revision, which the bridge records (the refusal cleared), and every
//! node's list must empty.

use std::collections::BTreeSet;

use lifeline_core::RecordId;
use lifeline_core::import::HisRejection;

use crate::backing::{Backing, WriteFailure};
use crate::sim::{Power, Sim, Storage};
use crate::work::Kind;

/// What the HIS says when it refuses a record.
const REASON: &str = "证件号码校验失败";

/// The records the HIS has judged, and those it refused.
#[derive(Debug, Default)]
pub(crate) struct HisVerdicts {
    judged: BTreeSet<RecordId>,
    pub refused: BTreeSet<RecordId>,
}

/// The interface table the bridge writes a record of `kind` into.
fn table(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Patient => Some("yj_patient"),
        Kind::Visit => Some("yj_registration"),
        Kind::Prescription => Some("yj_prescription"),
        Kind::Charge => Some("yj_charge"),
        Kind::Dispense | Kind::Invoice => None,
    }
}

/// Whether the HIS refuses the record `id`.
fn refuses(id: RecordId) -> bool {
    id.to_bytes()[13].is_multiple_of(8)
}

impl<R: Backing> Sim<R> {
    /// Central's bridge reads the HIS's verdicts on the emergency records it has not heard of
    /// yet (the HIS answering, central up, in a store-backed run with housekeeping).
    pub(crate) fn bridge_reads_his(&mut self) {
        if self.cfg.storage != Storage::Redb
            || !self.cfg.housekeeping
            || self.his_away > 0
            || self.nodes[0].power != Power::Up
        {
            return;
        }
        let replica = self.nodes[0].replica().clone();
        let now_ms = self.wall_ms(0);
        let mut marks = Vec::new();
        for c in &self.created {
            let Some(table) = table(c.kind) else { continue };
            if c.episode.is_none()
                || self.his.judged.contains(&c.id)
                || replica.heads(c.id).is_none()
            {
                continue;
            }
            self.his.judged.insert(c.id);
            if refuses(c.id) {
                self.his.refused.insert(c.id);
                marks.push((
                    c.id,
                    Some(HisRejection {
                        table: table.to_owned(),
                        revision: 1,
                        reason: REASON.to_owned(),
                        seen_ms: now_ms,
                    }),
                ));
            }
        }
        if marks.is_empty() {
            return;
        }
        let n = marks.len();
        match replica.his_verdicts(marks) {
            Ok(changed) => {
                self.faults.his_refusals += n as u64;
                self.note(|| format!("central's bridge: the HIS refused {n} records"));
                if changed > 0 {
                    self.wake(0, None);
                }
            }
            Err(WriteFailure::Refused(why)) => {
                self.fail("desk_writes", format!("central's bridge refused: {why}"));
            }
            Err(e) => self.fail("desk_writes", format!("central's bridge: {e}")),
        }
    }
}
