//! What a desk's job does to a node's replica at its group commit, refused as the store's
//! desk operations refuse it.

use lifeline_core::record::{Charge, Dispense, Patient, Prescription, Visit};
use lifeline_core::status::{
    ChargeStatus, DispenseStatus, PrescriptionStatus, Stamp, Status, StatusLog, VisitStatus,
};
use lifeline_core::{DeskRole, Operator, Record, RecordId};

use crate::backing::{Backing, WriteFailure};

use crate::work::{Job, Kind, New};

/// What a commit made of a job.
pub(crate) enum Done {
    Saved,
    /// The desk operation refused (as a real desk refuses a move from a status that moved
    /// meanwhile): nothing written, nothing acknowledged.
    Refused(String),
}

/// Does the job. A refusal by the node's rules is a refusal the desk hears; any other failure
/// is the node's (and fails the run).
pub(crate) fn perform<R: Backing>(replica: &R, job: Job, stamp: Stamp) -> Result<Done, String> {
    let who = who(&job);
    match job_done(replica, &who, job, stamp) {
        Ok(done) => Ok(done),
        Err(WriteFailure::Refused(why)) => Ok(Done::Refused(why)),
        Err(other) => Err(other.to_string()),
    }
}

/// Who does a job: a desk that may write its kind, or an admin for review decisions.
fn who(job: &Job) -> Operator {
    let (_, kind, _) = job.target();
    let desk = match job {
        Job::Merge { .. } | Job::Resolve { .. } => DeskRole::Admin,
        _ => match kind {
            Kind::Patient | Kind::Visit | Kind::Charge => DeskRole::Registration,
            Kind::Prescription => DeskRole::Doctor,
            Kind::Dispense => DeskRole::Pharmacy,
            Kind::Invoice => DeskRole::Cashier,
        },
    };
    let name = match desk {
        DeskRole::Admin => crate::work::admin_operator(),
        _ => crate::work::operator(kind),
    };
    Operator::new(name, desk)
}

fn job_done<R: Backing>(
    replica: &R,
    who: &Operator,
    job: Job,
    stamp: Stamp,
) -> Result<Done, WriteFailure> {
    match job {
        Job::Create(mut new) => {
            // Tagged with the node's episode at the commit, as a desk's header is.
            new.header_mut().episode = replica.episode();
            match new {
                New::Patient(r) => replica.create(who, *r)?,
                New::Visit(r) => replica.register(who, *r)?,
                New::Prescription(r) => replica.create(who, *r)?,
                New::Charge(r) => replica.create(who, *r)?,
                New::Dispense(r) => replica.create(who, *r)?,
            }
            Ok(Done::Saved)
        }
        Job::Invoice {
            mut header,
            charges,
            skip,
        } => {
            // Tagged with the node's episode at the commit, as a desk's header is.
            header.episode = replica.episode();
            replica.invoice(who, *header, charges, skip)?;
            Ok(Done::Saved)
        }
        Job::Void { id } => match replica.void_invoice(who, id) {
            Err(WriteFailure::NotFound) => Ok(Done::Refused("not held here".into())),
            Err(e) => Err(e),
            Ok(()) => Ok(Done::Saved),
        },
        Job::Phone { id, phone } => {
            replica.update(who, id, move |p: &mut Patient| p.phone = phone)?;
            Ok(Done::Saved)
        }
        Job::Merge {
            survivor,
            duplicate,
        } => {
            // As `Store::merge_patients` refuses: into a merged patient, or one merged already.
            let merged = |id| {
                replica
                    .get::<Patient>(id)
                    .map(|p| p.map(|p| p.merged_into))
                    .map_err(WriteFailure::Failed)
            };
            match (merged(survivor)?, merged(duplicate)?) {
                (Some(None), Some(None)) => {
                    replica.update(who, duplicate, move |p: &mut Patient| {
                        p.merged_into = Some(survivor);
                    })?;
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
            replica.put_text::<Patient>(who, id, "phone", &phone)?;
            Ok(Done::Saved)
        }
        Job::Advance { id, kind, state } => match kind {
            Kind::Visit => advance::<Visit, VisitStatus, R>(replica, who, id, state, stamp, |r| {
                &mut r.status_log
            }),
            Kind::Prescription => advance::<Prescription, PrescriptionStatus, R>(
                replica,
                who,
                id,
                state,
                stamp,
                |r| &mut r.status_log,
            ),
            // In an episode the insurance link is down with the HIS: a charge is settled at
            // the desk (where the node keeps episodes), one to be paid by the insurance as
            // self-pay, to re-settle.
            Kind::Charge
                if state == ChargeStatus::Settled.name() && replica.episode().is_some() =>
            {
                match replica.settle(who, id) {
                    Err(WriteFailure::NotFound) => Ok(Done::Refused("not held here".into())),
                    Err(e) => Err(e),
                    Ok(()) => Ok(Done::Saved),
                }
            }
            Kind::Charge => {
                advance::<Charge, ChargeStatus, R>(replica, who, id, state, stamp, |r| {
                    &mut r.status_log
                })
            }
            Kind::Dispense => {
                advance::<Dispense, DispenseStatus, R>(replica, who, id, state, stamp, |r| {
                    &mut r.status_log
                })
            }
            Kind::Patient => Ok(Done::Refused("a patient has no status".into())),
            Kind::Invoice => Ok(Done::Refused("an invoice moves by voiding only".into())),
        },
    }
}

/// A desk's status move: refused if the status moved meanwhile so that this move no longer
/// follows it, as the desk operations refuse it.
fn advance<T: Record + Send + 'static, S: Status, R: Backing>(
    replica: &R,
    who: &Operator,
    id: RecordId,
    state: &'static str,
    stamp: Stamp,
    log: fn(&mut T) -> &mut StatusLog,
) -> Result<Done, WriteFailure> {
    let Some(to) = S::parse(state) else {
        return Ok(Done::Refused(format!("no state {state}")));
    };
    // The check, then the move: one thread drives every node, so nothing comes in between.
    let Some(mut record) = replica.get::<T>(id).map_err(WriteFailure::Failed)? else {
        return Ok(Done::Refused("not held here".into()));
    };
    if let Err(e) = log(&mut record).check_move(to) {
        return Ok(Done::Refused(e.to_string()));
    }
    match replica.update(who, id, move |r: &mut T| {
        log(r).0.insert(state.to_owned(), stamp);
    }) {
        Err(WriteFailure::NotFound) => Ok(Done::Refused("not held here".into())),
        Err(e) => Err(e),
        Ok(()) => Ok(Done::Saved),
    }
}
