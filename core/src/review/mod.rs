//! Conflict detection, the review queue and the recovery worklist.
//!
//! Automatic rules settle most concurrent edits (forward-only statuses take the furthest
//! state; set-like fields union). What they cannot settle goes to a person:
//! - [`ConflictKind::FieldConflict`]: a record field that Automerge holds with several
//!   concurrent values (a phone number corrected on two windows during a partition);
//! - [`ConflictKind::DuplicatePatient`]: two patient records sharing a national id, or the
//!   same name, birth date and phone, created on different nodes;
//! - [`ConflictKind::DoubleDispense`] and [`ConflictKind::DispensedAndCancelled`]: one
//!   prescription dispensed on two nodes, or dispensed on one and cancelled on another;
//! - [`ConflictKind::DoubleSettlement`] and [`ConflictKind::DoubleInvoice`]: one charge
//!   settled, or invoiced, on two nodes (money taken or an invoice issued twice).
//!
//! A conflict's id is derived from its kind, records and field, so the same conflict has the
//! same id on every node. A review decision is itself a change: it is written into the
//! affected document's `reviews` map (conflict id → [`ReviewRecord`]), so it replicates with
//! the record, is audited like any change, and shows in the report. A decision covers the
//! evidence it saw (its `evidence` fingerprint): new competing values reopen the conflict.
//!
//! Scope, so that a report stays cheap: every patient (the patient master, whatever its age),
//! the other records created within [`REVIEW_WINDOW_DAYS`], and every emergency record central
//! has not acknowledged yet. Duplicate patients come from the patient-key index, not a scan.

mod conflict;
mod decide;
mod detect;
mod his_later;
pub(crate) mod open;
mod reviews;
mod scan;
mod target;
mod value;
mod worklist;

#[cfg(test)]
mod tests;

pub use conflict::{
    CompetingValue, Conflict, ConflictKind, ConflictStatus, DuplicateEvidence, MatchedKey,
    ReviewAction, ReviewRecord,
};
pub use decide::Resolution;
pub(crate) use detect::{DispenseFact, dispense_fact};
pub use his_later::HIS_LATER_DECISION;
pub(crate) use reviews::reviews_in;
pub use worklist::{CategoryCount, Pending, WorkCategory, WorkItem, Worklist};

use automerge::Automerge;

use crate::record::{Header, Patient};

/// The conflict on one field of a record (`header` is its header) when Automerge holds several
/// concurrent values of it that differ, as the store's open-item index lists it: the pure
/// detector behind that index, for code that holds documents without a store (the
/// simulation checks its replicas' concurrent edits with it).
pub fn field_conflict(doc: &Automerge, header: &Header, field: &str) -> Option<Conflict> {
    detect::field_conflict(doc, header, field)
}

/// The duplicate-patient conflict two live patient records make when they share a search key
/// (a national id, or the same name, birth date and phone), as the store's open-item index
/// lists it. The pure detector behind that index, for code that holds patients without a store
/// (the simulation checks its replicas' converged patients with it).
pub fn duplicate_patients(a: &Patient, b: &Patient) -> Option<Conflict> {
    detect::duplicate_conflict(a, b)
}

/// Records other than patients are reviewed when created within this many days (or when
/// they are emergency records central has not acknowledged, whatever their age).
pub const REVIEW_WINDOW_DAYS: i64 = 30;

/// Document key of the review decisions: conflict id → [`ReviewRecord`].
pub const REVIEWS_KEY: &str = "reviews";

pub(crate) const MS_PER_DAY: i64 = 86_400_000;
