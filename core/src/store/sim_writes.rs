//! Writes as the simulator's desks make them (feature `sim`, never enabled by the node): a
//! whole record created as given, a record changed by a function, a text field put. Each is
//! one commit through the store's own path (the node's desks, its own-write rules, episode
//! marks, the open-item index, the audit trail); only the desk operations' checks of what a
//! person typed are skipped, the simulator's records being well formed.

use automerge::ROOT;
use automerge::transaction::Transactable;

use super::Store;
use super::error::WriteError;
use crate::id::RecordId;
use crate::numbers::{Series, emergency_registration_no};
use crate::record::{Header, Record, Visit};
use crate::roles::Operator;

impl Store {
    /// Creates `record` as it is, authored by `who`.
    pub fn sim_create<T: Record + Send + 'static>(
        &self,
        who: &Operator,
        record: T,
    ) -> Result<(), WriteError> {
        let who = who.clone();
        self.write(move |tx| tx.create(&record, &who, "sim.create"))
    }

    /// Registers `visit` as the registration desk does: a visit written in an emergency
    /// episode takes the next emergency registration number from the node's ranges (refused,
    /// with nothing written, when they are used up), any other keeps the number it was given.
    pub fn sim_register(&self, who: &Operator, mut visit: Visit) -> Result<(), WriteError> {
        let who = who.clone();
        self.write(move |tx| {
            if visit.header.episode.is_some() {
                let issued =
                    tx.issue_number(Series::EmergencyRegistration, visit.header.id, &who)?;
                visit.registration_no = emergency_registration_no(issued.number);
            }
            tx.create(&visit, &who, "sim.register")
        })
    }

    /// Invoices settled `charges` as the cashier's desk does ([`Store::issue_invoice`]), under
    /// `header` (the simulator chooses its records' ids): numbered from the cashier's
    /// confirmed range, refused with nothing written when a charge cannot be invoiced or the
    /// cashier has no range or no shift confirmed today.
    pub fn sim_invoice(
        &self,
        who: &Operator,
        header: Header,
        charges: Vec<RecordId>,
    ) -> Result<(), WriteError> {
        let who = who.clone();
        self.write(move |tx| tx.invoice_charges(&who, header, charges).map(drop))
    }

    /// Changes the record `id` with `f`, authored by `who`: the record is read, changed and
    /// reconciled into its document, so only the fields `f` changed become changes. Nothing
    /// is stored when `f` changes nothing.
    pub fn sim_update<T, F>(&self, who: &Operator, id: RecordId, f: F) -> Result<(), WriteError>
    where
        T: Record + Send + 'static,
        F: FnOnce(&mut T) + Send + 'static,
    {
        let who = who.clone();
        self.write(move |tx| {
            let mut record: T = tx.read(id)?;
            f(&mut record);
            tx.edit(id, &who, "sim.update", |t| {
                autosurgeon::reconcile(t, &record).map_err(|e| WriteError::document("record", e))
            })
        })
    }

    /// Puts `value` at the top-level field `field` of the record `id` (of kind `T`), as a
    /// person settling a conflict does: one value that supersedes every value held there.
    pub fn sim_put_text<T: Record>(
        &self,
        who: &Operator,
        id: RecordId,
        field: &str,
        value: &str,
    ) -> Result<(), WriteError> {
        let (who, field, value) = (who.clone(), field.to_owned(), value.to_owned());
        self.write(move |tx| {
            tx.read::<T>(id)?;
            tx.edit(id, &who, "sim.put_text", |t| {
                t.put(ROOT, field.as_str(), value.as_str())
                    .map_err(|e| WriteError::document(&field, e))
            })
        })
    }
}
