//! The recovery worklist after the run (`worklist_drains`), on every node that keeps one (a
//! store-backed node): what people still have to do once the outage is over.
//! - Its counts by category are the same on every node (the replicas are equal, and each
//!   node's list comes from its own open-item index, kept in its commits).
//! - Its emergency prescriptions to dispense are exactly the prescriptions desks wrote in an
//!   episode that are neither dispensed nor cancelled, as the records themselves say.
//! - It drains when its actions are taken: at central, the pharmacy dispenses every one of
//!   them; central's list then has none left, and its kept figures still equal their scan.

use lifeline_core::RecordId;
use lifeline_core::record::Prescription;
use lifeline_core::status::{PrescriptionStatus, Status};

use crate::backing::Backing;
use crate::perform::{Done, perform};
use crate::sim::{Power, Sim};
use crate::work::{Job, Kind};

/// The worklist category of emergency prescriptions to dispense.
const DISPENSE: &str = "dispense_emergency_prescription";

impl<R: Backing> Sim<R> {
    pub(crate) fn check_worklist(&mut self) {
        let mut wrong = Vec::new();
        let mut checked = 0;
        let mut first: Option<(String, Vec<(&'static str, usize)>)> = None;
        for n in &self.nodes {
            let counts = match n.replica().worklist_counts() {
                None => continue,
                Some(Ok(counts)) => counts,
                Some(Err(e)) => {
                    wrong.push(format!("{}: no worklist: {e}", n.name));
                    continue;
                }
            };
            checked += 1;
            let expected = self.emergency_prescriptions_open(n.replica()).len();
            let listed = count(&counts, DISPENSE);
            if listed != expected {
                wrong.push(format!(
                    "{}: {listed} emergency prescriptions to dispense listed, {expected} open",
                    n.name
                ));
            }
            match &first {
                None => first = Some((n.name.to_string(), counts)),
                Some((at, theirs)) if *theirs != counts => wrong.push(format!(
                    "{}'s worklist {counts:?} differs from {at}'s {theirs:?}",
                    n.name
                )),
                Some(_) => {}
            }
        }
        if checked > 0 {
            wrong.extend(self.drain_at_central());
        }
        self.checked("worklist_drains", checked);
        self.fail_some("worklist_drains", wrong);
    }

    /// The prescriptions desks wrote in an episode that `replica` holds neither dispensed
    /// nor cancelled.
    fn emergency_prescriptions_open(&self, replica: &R) -> Vec<RecordId> {
        self.created
            .iter()
            .filter(|c| c.kind == Kind::Prescription && c.episode.is_some())
            .filter(|c| {
                let held = replica.get::<Prescription>(c.id).ok().flatten();
                held.and_then(|rx| rx.status_log.current::<PrescriptionStatus>().ok())
                    .is_some_and(|s| {
                        !matches!(
                            s,
                            PrescriptionStatus::Dispensed | PrescriptionStatus::Cancelled
                        )
                    })
            })
            .map(|c| c.id)
            .collect()
    }

    /// The pharmacy at central dispenses every emergency prescription left: what is wrong
    /// after, if anything.
    fn drain_at_central(&mut self) -> Vec<String> {
        if self.nodes[0].power != Power::Up {
            return Vec::new();
        }
        let replica = self.nodes[0].replica().clone();
        let mut wrong = Vec::new();
        let open = self.emergency_prescriptions_open(&replica);
        let n = open.len();
        if n > 0 {
            self.note(|| {
                format!(
                    "central: the pharmacy dispenses the worklist's {n} emergency prescriptions"
                )
            });
        }
        for id in open {
            let job = Job::Advance {
                id,
                kind: Kind::Prescription,
                state: PrescriptionStatus::Dispensed.name(),
            };
            match perform(&replica, job, self.stamp(0, Kind::Prescription)) {
                Ok(Done::Saved) => {}
                Ok(Done::Refused(why)) | Err(why) => {
                    wrong.push(format!("central: cannot dispense {id}: {why}"));
                }
            }
        }
        match replica.worklist_counts() {
            Some(Ok(counts)) if count(&counts, DISPENSE) > 0 => wrong.push(format!(
                "central: {} emergency prescriptions still listed once all were dispensed",
                count(&counts, DISPENSE)
            )),
            Some(Err(e)) => wrong.push(format!("central: no worklist: {e}")),
            _ => {}
        }
        for problem in replica.self_check().unwrap_or_default() {
            wrong.push(format!("central, once drained: {problem}"));
        }
        wrong
    }
}

fn count(counts: &[(&'static str, usize)], category: &str) -> usize {
    counts
        .iter()
        .find(|(name, _)| *name == category)
        .map_or(0, |(_, n)| *n)
}
