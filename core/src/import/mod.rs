//! Records pulled from the hospital's HIS: the patient master and today's registrations,
//! prescriptions, charges and invoices, upserted by their HIS keys. The HIS bridge
//! (`lifeline his`, in the node) reads the HIS and maps its rows; this module only knows
//! Lifeline's side: each page of rows is one durable commit (nothing half-imported is
//! visible), a row whose record is already as the HIS says writes nothing (a re-read is
//! free), and a row Lifeline cannot take (an unknown department, a patient that is not
//! here) is skipped with its key and the reason, never failing the page.
//!
//! Records from the HIS are the HIS's: desks may change them only during an emergency
//! episode ([`check_writable`]), and the next pull of a row the HIS changed again wins.
//! Rows the HIS rejected on the way back (`import_error` in its interface tables) are marked
//! on the record ([`HisRejection`]) and listed on the recovery worklist.
//!
//! Only one node should create records from the HIS at a time (central, or the standby
//! while it acts as primary): two nodes pulling the same new row (central and the standby
//! split apart, both reaching the HIS) make two records of it. Two patients of one HIS id
//! are a duplicate on the review ([`crate::review`]), and once merged the pull finds the one
//! kept; two records of another kind are not paired yet (docs/his.md).

mod billing;
mod patients;
mod rejection;
mod visits;

pub use billing::{HisCharge, HisInvoice};
pub use patients::HisPatient;
pub use rejection::{HIS_REJECTED_KEY, HisRejection};
pub use visits::{HisPrescription, HisPrescriptionItem, HisVisit};

use serde::{Deserialize, Serialize};

use crate::clock::UnixMs;
use crate::desk::catalog::Priced;
use crate::id::RecordId;
use crate::record::{Header, RecordKind};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::status::{Stamp, Status, StatusLog};
use crate::store::{ReadError, Store, Tx, put_stamp};
use crate::{WriteError, record};

/// The audit action of every change the bridge makes.
pub const PULL_ACTION: &str = "his.pull";

/// What one page of rows did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportOutcome {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Rows that were not taken, with why.
    pub skipped: Vec<SkippedRow>,
}

impl ImportOutcome {
    pub fn rows(&self) -> usize {
        self.created + self.updated + self.unchanged + self.skipped.len()
    }

    fn count(&mut self, change: Change) {
        match change {
            Change::Created => self.created += 1,
            Change::Updated => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
        }
    }

    fn skip(&mut self, his_id: &str, reason: impl Into<String>) {
        self.skipped.push(SkippedRow {
            his_id: his_id.to_owned(),
            reason: reason.into(),
        });
    }
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRow {
    /// The row's key in the HIS.
    pub his_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Created,
    Updated,
    Unchanged,
}

/// Refuses anyone but the information department's operators, on a node that may pull
/// (central, or the standby).
fn check_bridge(store: &Store, who: &Operator) -> Result<(), RuleError> {
    if store.role() == NodeRole::Window {
        return Err(RuleError::invalid(
            "node",
            "only central and the standby pull from the HIS",
        ));
    }
    if who.desk != DeskRole::Admin {
        return Err(RuleError::NotPermitted {
            desk: who.desk,
            action: "import records from the HIS",
            kind: RecordKind::Patient,
        });
    }
    Ok(())
}

/// Refuses a desk's change to a record that came from the HIS unless an emergency episode is
/// open: outside one, the HIS is where it changes.
pub(crate) fn check_writable(
    tx: &Tx<'_, '_>,
    kind: RecordKind,
    id: RecordId,
    his_id: Option<&String>,
) -> Result<(), WriteError> {
    if his_id.is_some() && tx.episode()?.is_none() {
        return Err(RuleError::HisReadOnly { kind, id }.into());
    }
    Ok(())
}

impl Tx<'_, '_> {
    /// The header of a record made from an HIS row: created when the HIS created it (so that
    /// "today's" ranges find it), here, by the bridge, in no episode (it is the HIS's record,
    /// never pushed back).
    fn his_header(&self, kind: RecordKind, created_ms: UnixMs, who: &Operator) -> Header {
        Header {
            id: self.opts().ids.record_id_at(created_ms),
            kind,
            origin: self.node().clone(),
            operator: who.name.clone(),
            created_ms,
            episode: None,
            paper: None,
        }
    }

    fn his_stamp(&self, at_ms: UnixMs, who: &Operator) -> Stamp {
        Stamp {
            at_ms,
            node: self.node().clone(),
            operator: who.name.clone(),
        }
    }
}

/// A status log holding `states`, each stamped `stamp`.
fn log_of<S: Status>(states: &[S], stamp: &Stamp) -> StatusLog {
    let mut log = StatusLog::default();
    for s in states {
        log.0.insert(s.name().to_owned(), stamp.clone());
    }
    log
}

/// Adds to a record's status log the states of `states` it lacks (statuses only move
/// forward: nothing is removed). Returns whether anything was added.
fn add_states<S: Status>(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    id: RecordId,
    log: &StatusLog,
    states: &[S],
    stamp: &Stamp,
) -> Result<bool, WriteError> {
    let missing: Vec<S> = states
        .iter()
        .copied()
        .filter(|s| log.reached(*s).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(false);
    }
    tx.edit(id, who, PULL_ACTION, |t| {
        for s in &missing {
            put_stamp(t, s.name(), stamp)?;
        }
        Ok(())
    })?;
    Ok(true)
}

/// Checks a text field of a row: required ones non-empty; none too long or with control
/// characters.
fn text_ok(field: &str, value: &str, required: bool) -> Result<(), String> {
    crate::rules::check_text(field, value, required).map_err(|e| e.to_string())
}

/// A record with a workflow, as the upsert of an HIS row sees it.
trait Workflow: record::Record {
    type State: Status;
    fn log(&self) -> &StatusLog;
}

macro_rules! workflow {
    ($ty:ty, $state:ty) => {
        impl Workflow for $ty {
            type State = $state;
            fn log(&self) -> &StatusLog {
                &self.status_log
            }
        }
    };
}
workflow!(record::Visit, crate::status::VisitStatus);
workflow!(record::Prescription, crate::status::PrescriptionStatus);
workflow!(record::Invoice, crate::status::InvoiceStatus);
workflow!(record::Charge, crate::status::ChargeStatus);

/// How an HIS row becomes a record: the record made when it is new, whether an existing
/// record's fields differ from the row, how to write the row's fields into it, and the
/// states the row has reached (stamped when the HIS last changed it).
struct Upsert<'r, T: Workflow, N, D, W> {
    his_id: &'r str,
    fresh: N,
    differs: D,
    write: W,
    states: Vec<T::State>,
    stamp: Stamp,
}

impl<T, N, D, W> Upsert<'_, T, N, D, W>
where
    T: Workflow,
    N: FnOnce(&Tx<'_, '_>, StatusLog) -> T,
    D: Fn(&T) -> bool,
    W: Fn(&mut automerge::transaction::Transaction<'_>) -> Result<(), WriteError>,
{
    /// Creates the record, or writes what differs and adds the states it lacks (statuses
    /// only move forward). A row both servers pulled while split apart is two records: the
    /// HIS's changes go to both, so that neither stays behind the HIS (a prescription the
    /// HIS dispensed still waiting at the pharmacy in its twin). Returns the first.
    fn run(self, tx: &mut Tx<'_, '_>, who: &Operator) -> Result<(RecordId, Change), WriteError> {
        let ids = tx.his_records(T::KIND, self.his_id)?;
        let Some(&first) = ids.first() else {
            let record = (self.fresh)(tx, log_of(&self.states, &self.stamp));
            tx.create(&record, who, PULL_ACTION)?;
            return Ok((record.header().id, Change::Created));
        };
        let mut change = Change::Unchanged;
        for id in ids {
            let current: T = tx.read(id)?;
            let differs = (self.differs)(&current);
            if differs {
                tx.edit(id, who, PULL_ACTION, &self.write)?;
            }
            let moved = add_states(tx, who, id, current.log(), &self.states, &self.stamp)?;
            if differs || moved {
                change = Change::Updated;
            }
        }
        Ok((first, change))
    }
}

/// Runs `rows` through `import_one` in one commit.
fn import_page<R: Send + 'static>(
    store: &Store,
    who: &Operator,
    rows: Vec<R>,
    import_one: fn(&mut Tx<'_, '_>, &Operator, &R, &mut ImportOutcome) -> Result<(), WriteError>,
) -> Result<ImportOutcome, WriteError> {
    check_bridge(store, who)?;
    let who = who.clone();
    store.write(move |tx| {
        let mut outcome = ImportOutcome::default();
        for row in &rows {
            import_one(tx, &who, row, &mut outcome)?;
        }
        Ok(outcome)
    })
}

const NOT_PULLED: &str = "the catalogs have not been pulled yet";

/// A department of the service catalog and the catalog's version, read without hydrating
/// the whole catalog (this runs for every row).
fn department(
    tx: &mut Tx<'_, '_>,
    code: &str,
) -> Result<Result<(record::Department, u64), String>, WriteError> {
    let Some(doc) = tx.doc(record::catalog_id(record::CatalogKind::Department))? else {
        return Ok(Err(NOT_PULLED.into()));
    };
    let path = [
        autosurgeon::Prop::Key("departments".into()),
        autosurgeon::Prop::Key(code.into()),
    ];
    let entry: Option<record::Department> = autosurgeon::hydrate_path(doc, &automerge::ROOT, path)
        .ok()
        .flatten();
    let version: u64 = autosurgeon::hydrate_prop(doc, automerge::ROOT, "version").unwrap_or(0);
    Ok(entry
        .map(|e| (e, version))
        .ok_or_else(|| format!("unknown department {code:?}")))
}

/// A drug's or service's name and price from its one catalog item (never the whole
/// catalog), with the catalog's version, or why not: a code the catalog does not hold or
/// withdrew is unknown.
fn catalog_item(
    tx: &mut Tx<'_, '_>,
    kind: record::CatalogKind,
    code: &str,
) -> Result<Result<Priced, String>, WriteError> {
    match tx.priced(kind, code) {
        Ok(priced) => Ok(Ok(priced)),
        Err(WriteError::Rule(RuleError::CatalogMissing { .. })) => Ok(Err(NOT_PULLED.into())),
        Err(WriteError::Rule(RuleError::UnknownCode { .. })) => {
            let what = match kind {
                record::CatalogKind::Drug => "drug",
                record::CatalogKind::Service => "service item",
                record::CatalogKind::Department => "department",
            };
            Ok(Err(format!("unknown {what} {code:?}")))
        }
        Err(e) => Err(e),
    }
}

/// Defines the public import of one kind of HIS row: a page of them in one commit.
macro_rules! import_fns {
    ($($(#[$doc:meta])* $name:ident($row:ty) => $one:path;)+) => {
        impl Store {
            $(
                $(#[$doc])*
                pub fn $name(
                    &self,
                    who: &Operator,
                    rows: Vec<$row>,
                ) -> Result<ImportOutcome, WriteError> {
                    import_page(self, who, rows, $one)
                }
            )+
        }
    };
}

import_fns! {
    /// Upserts one page of HIS registrations in one commit.
    import_his_visits(HisVisit) => visits::import_visit;
    /// Upserts one page of HIS prescriptions (with their lines) in one commit. Drug names and
    /// prices come from the drug catalog, as for a prescription written at a desk.
    import_his_prescriptions(HisPrescription) => visits::import_prescription;
    /// Upserts one page of HIS invoices in one commit.
    import_his_invoices(HisInvoice) => billing::import_invoice;
    /// Upserts one page of HIS charges in one commit; each goes on its invoice.
    import_his_charges(HisCharge) => billing::import_charge;
}

/// Reads the record of `kind` pulled under `his_id`, if there is one.
fn existing<T: record::Record>(tx: &mut Tx<'_, '_>, his_id: &str) -> Result<Option<T>, WriteError> {
    match tx.find_his(T::KIND, his_id)? {
        Some(id) => Ok(Some(tx.read(id)?)),
        None => Ok(None),
    }
}

/// The record that HIS row `row` refers to as `what` (`"registration"`, `"patient"`) by its
/// HIS key `his_id`; when Lifeline does not have it, the row is skipped saying so.
fn referred<T: record::Record>(
    tx: &mut Tx<'_, '_>,
    outcome: &mut ImportOutcome,
    row: &str,
    what: &str,
    his_id: &str,
) -> Result<Option<T>, WriteError> {
    let found = existing::<T>(tx, his_id)?;
    if found.is_none() {
        outcome.skip(row, format!("{what} {his_id} is not in Lifeline (yet)"));
    }
    Ok(found)
}

impl Store {
    /// Whether a record came from the HIS.
    pub fn his_id_of(&self, id: RecordId) -> Result<Option<String>, ReadError> {
        Ok(self.doc(id)?.and_then(|d| {
            autosurgeon::hydrate_prop::<_, Option<String>, _, _>(&*d, automerge::ROOT, "his_id")
                .ok()
                .flatten()
        }))
    }
}

#[cfg(test)]
mod his_later_tests;
#[cfg(test)]
mod pulled_twice_tests;
#[cfg(test)]
pub(crate) mod tests;
