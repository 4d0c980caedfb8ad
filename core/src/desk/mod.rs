//! Desk operations: what registration, cashier, pharmacy, triage and doctors do, as
//! operations on a [`Store`](crate::Store). Each one checks the desk's permission, validates its input
//! against the records and the rules, and only then writes, in one durable commit. The
//! returned [`Saved`] means the commit has returned.

mod acknowledge;
mod billing;
pub(crate) mod catalog;
mod episode_end;
mod episodes;
mod escalation;
mod invoices;
mod leasing;
mod ledger;
mod membership;
mod paper;
mod patients;
mod pharmacy;
mod range_report;
mod refunds;
mod report;
mod restore_drills;
mod returning;
mod shift;
mod visits;

pub use billing::{
    MAX_LINES, NewCharge, NewChargeLine, RESETTLE_WORKING_DAYS, SettleRequest, Settlement,
    default_payment,
};
pub use catalog::{
    CatalogChanged, CatalogChanges, CatalogImport, CsvError, DrugList, ItemCounts, ServiceList,
    parse_departments, parse_drugs, parse_services,
};
pub use episode_end::LeaveScope;
pub use episodes::{EpisodeSummary, Opening, grade};
pub use escalation::{
    Escalation, MAX_ESTIMATE_HOURS, REPORT_DUE_AFTER_MS, Step, StepState, escalation,
};
pub use leasing::{LeaseLine, LeaseOrder, STANDBY_LESSOR_BASE, lessor_base};
pub use paper::{PAPER_MAX_AGE_DAYS, PaperTime};
pub use patients::{ADULT_AGE_YEARS, NewPatient, PatientEdit};
pub(crate) use pharmacy::priced_item;
pub use pharmacy::{NewPrescription, NewPrescriptionItem, PharmacyEntry};
pub use refunds::{NewRefund, Resettled};
pub use report::{CashierLine, CashierSummary, ChannelAmount, Channels, ReportMode};
pub use restore_drills::{
    DrillStatus, RESTORE_DRILL_MAX_AGE_DAYS, RESTORE_DRILLS_KEPT, RestoreDrill, drill_status,
};
pub use shift::{CashierRange, MAX_SKIP, ShiftStart};
pub use visits::{NewVisit, QueueEntry};

/// The episode this node is in (kept by the store).
pub use crate::store::EpisodeInfo;

use serde::Serialize;

use crate::numbers::{IssuedNumber, Series};
use crate::record::{Header, RecordKind};
use crate::roles::{DeskRole, Operator};
use crate::rules::RuleError;
use crate::status::Stamp;
pub(crate) use crate::store::set_field;
use crate::store::{ReadError, Tx};

/// A write that has been committed durably, with anything the desk should be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Saved<T> {
    pub value: T,
    pub warnings: Vec<Warning>,
}

impl<T> Saved<T> {
    pub(crate) fn new(value: T) -> Self {
        Saved {
            value,
            warnings: Vec::new(),
        }
    }
}

/// Something a desk should know about a write that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "warning", rename_all = "snake_case")]
pub enum Warning {
    /// Few numbers are left in a series on this node: lease another range.
    LowWater { series: Series, remaining: u64 },
    /// A child registered with neither an identity number nor a guardian: only the name
    /// would find them again. Record the guardian (name, phone).
    NoGuardian,
}

impl Warning {
    pub(crate) fn from_issued(n: &IssuedNumber) -> Option<Warning> {
        n.low_water.then_some(Warning::LowWater {
            series: n.series,
            remaining: n.remaining_in_series,
        })
    }
}

/// Refuses `who` unless its desk writes records of `kind`.
pub(crate) fn permit(
    who: &Operator,
    kind: RecordKind,
    action: &'static str,
) -> Result<(), RuleError> {
    who.desk
        .may_write(kind)
        .then_some(())
        .ok_or_else(|| not_permitted(who, kind, action))
}

/// Refuses `who` unless it works at the admin desk (the information department).
pub(crate) fn admin_only(
    who: &Operator,
    kind: RecordKind,
    action: &'static str,
) -> Result<(), RuleError> {
    (who.desk == DeskRole::Admin)
        .then_some(())
        .ok_or_else(|| not_permitted(who, kind, action))
}

/// Refuses `who` unless it works at the admin desk: `only the information department {what}`.
pub(crate) fn information_department(who: &Operator, what: &str) -> Result<(), RuleError> {
    (who.desk == DeskRole::Admin).then_some(()).ok_or_else(|| {
        RuleError::invalid(
            "operator",
            format!("only the information department {what}"),
        )
    })
}

fn not_permitted(who: &Operator, kind: RecordKind, action: &'static str) -> RuleError {
    RuleError::NotPermitted {
        desk: who.desk,
        action,
        kind,
    }
}

impl Tx<'_, '_> {
    /// The header of a record created now, here, by `who`, tagged with the current episode.
    pub(crate) fn new_header(&self, kind: RecordKind, who: &Operator) -> Result<Header, ReadError> {
        Ok(Header {
            id: self.new_record_id(),
            kind,
            origin: self.node().clone(),
            operator: who.name.clone(),
            created_ms: self.now_ms(),
            episode: self.episode()?,
            paper: None,
        })
    }

    pub(crate) fn stamp(&self, who: &Operator) -> Stamp {
        Stamp {
            at_ms: self.now_ms(),
            node: self.node().clone(),
            operator: who.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
