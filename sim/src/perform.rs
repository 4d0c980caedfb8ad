//! What a desk's job does to a node's replica at its group commit, refused as the store's
//! desk operations refuse it.

use lifeline_core::record::{Charge, Dispense, Patient, Prescription, Visit};
use lifeline_core::status::{
    ChargeStatus, DispenseStatus, PrescriptionStatus, Stamp, Status, StatusLog, VisitStatus,
};
use lifeline_core::{Record, RecordId};
use lifeline_sync::replica::{MemoryError, MemoryReplica};

use crate::work::{Job, Kind, New};

/// What a commit made of a job.
pub(crate) enum Done {
    Saved,
    /// The desk operation refused (as a real desk refuses a move from a status that moved
    /// meanwhile): nothing written, nothing acknowledged.
    Refused(String),
}

pub(crate) fn perform(
    replica: &MemoryReplica,
    job: Job,
    stamp: Stamp,
) -> Result<Done, MemoryError> {
    match job {
        Job::Create(new) => {
            match new {
                New::Patient(r) => replica.create(&*r)?,
                New::Visit(r) => replica.create(&*r)?,
                New::Prescription(r) => replica.create(&*r)?,
                New::Charge(r) => replica.create(&*r)?,
                New::Dispense(r) => replica.create(&*r)?,
            }
            Ok(Done::Saved)
        }
        Job::Phone { id, phone } => {
            replica.update::<Patient>(id, |p| p.phone = phone)?;
            Ok(Done::Saved)
        }
        Job::Merge {
            survivor,
            duplicate,
        } => {
            // As `Store::merge_patients` refuses: into a merged patient, or one merged already.
            let merged = |id| replica.get::<Patient>(id).map(|p| p.map(|p| p.merged_into));
            match (merged(survivor)?, merged(duplicate)?) {
                (Some(None), Some(None)) => {
                    replica.update::<Patient>(duplicate, |p| p.merged_into = Some(survivor))?;
                    Ok(Done::Saved)
                }
                (None, _) | (_, None) => Ok(Done::Refused("a patient not held here".into())),
                _ => Ok(Done::Refused("a patient already merged".into())),
            }
        }
        Job::Resolve { id, phone, .. } => {
            // As `Store::resolve_conflict` refuses a conflict that is not open here.
            if !crate::admin::phone_in_conflict(replica, id) {
                return Ok(Done::Refused("no conflict open on the phone".into()));
            }
            replica.put_text::<Patient>(id, "phone", &phone)?;
            Ok(Done::Saved)
        }
        Job::Advance { id, kind, state } => match kind {
            Kind::Visit => {
                advance::<Visit, VisitStatus>(replica, id, state, stamp, |r| &mut r.status_log)
            }
            Kind::Prescription => {
                advance::<Prescription, PrescriptionStatus>(replica, id, state, stamp, |r| {
                    &mut r.status_log
                })
            }
            Kind::Charge => {
                advance::<Charge, ChargeStatus>(replica, id, state, stamp, |r| &mut r.status_log)
            }
            Kind::Dispense => advance::<Dispense, DispenseStatus>(replica, id, state, stamp, |r| {
                &mut r.status_log
            }),
            Kind::Patient => Ok(Done::Refused("a patient has no status".into())),
        },
    }
}

/// A desk's status move: refused if the status moved meanwhile so that this move no longer
/// follows it, as the desk operations refuse it.
fn advance<T: Record, S: Status>(
    replica: &MemoryReplica,
    id: RecordId,
    state: &'static str,
    stamp: Stamp,
    log: fn(&mut T) -> &mut StatusLog,
) -> Result<Done, MemoryError> {
    let Some(to) = S::parse(state) else {
        return Ok(Done::Refused(format!("no state {state}")));
    };
    // The check and the move in one read of the record: a refused move changes nothing, and
    // the replica stores nothing for an update that changes nothing.
    let mut refused = None;
    let updated = replica.update::<T>(id, |r| match log(r).check_move(to) {
        Ok(_) => {
            log(r).0.insert(state.to_owned(), stamp);
        }
        Err(e) => refused = Some(e.to_string()),
    });
    match (updated, refused) {
        (Err(MemoryError::NotFound { .. }), _) => Ok(Done::Refused("not held here".into())),
        (Err(e), _) => Err(e),
        (Ok(()), Some(why)) => Ok(Done::Refused(why)),
        (Ok(()), None) => Ok(Done::Saved),
    }
}
