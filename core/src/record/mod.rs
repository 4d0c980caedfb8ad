//! The outpatient records. Each record is one small Automerge document with typed access
//! through autosurgeon; small documents keep merges, loads and sync cheap.
//!
//! Every document has the same root layout: `header` (who made it, where, when, in which
//! emergency episode), the record's own fields, and for records with a workflow a
//! `status_log` (see [`crate::status`]). A record is created by exactly one node, so each
//! document has exactly one root created once; all later edits are field-level puts.

mod autosurgeon_impls;
mod episode;
mod money;
mod receipt;
mod snapshot;

pub use episode::{CENTRAL_ACK_KEY, EPISODE_EDITS_KEY, Episode, EpisodeNode, Estimate, ReasonCode};
pub use money::{ChargeSource, PaymentChannel, PaymentPart, Refund, Resettlement};
pub use receipt::{MAX_RECEIPT_RECORDS, Receipt};
pub use snapshot::{Snapshot, hydrate, hydrate_field};

use std::collections::BTreeMap;
use std::fmt;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::clock::{Date, UnixMs};
use crate::id::{EpisodeId, NodeName, OperatorName, RecordId};
use crate::money::Fen;
use crate::status::{Stamp, StatusLog};

/// What a document holds. The discriminant is stored in redb index keys: never renumber.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Hydrate,
    Reconcile,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    #[autosurgeon(rename = "patient")]
    Patient = 1,
    #[autosurgeon(rename = "visit")]
    Visit = 2,
    #[autosurgeon(rename = "prescription")]
    Prescription = 3,
    #[autosurgeon(rename = "charge")]
    Charge = 4,
    #[autosurgeon(rename = "invoice")]
    Invoice = 5,
    #[autosurgeon(rename = "dispense")]
    Dispense = 6,
    #[autosurgeon(rename = "drug_catalog")]
    DrugCatalog = 7,
    #[autosurgeon(rename = "service_catalog")]
    ServiceCatalog = 8,
    #[autosurgeon(rename = "episode")]
    Episode = 9,
    #[autosurgeon(rename = "lease")]
    Lease = 10,
    /// One drug of the drug catalog.
    #[autosurgeon(rename = "drug_item")]
    DrugItem = 11,
    /// One service of the service catalog.
    #[autosurgeon(rename = "service_item")]
    ServiceItem = 12,
    /// Central's receipt for emergency records it holds.
    #[autosurgeon(rename = "receipt")]
    Receipt = 13,
    // Codes 14 to 20 are left to other kinds; the money kinds take 21 and up.
    #[autosurgeon(rename = "refund")]
    Refund = 21,
    #[autosurgeon(rename = "resettlement")]
    Resettlement = 22,
}

impl RecordKind {
    pub const ALL: [RecordKind; 15] = [
        RecordKind::Patient,
        RecordKind::Visit,
        RecordKind::Prescription,
        RecordKind::Charge,
        RecordKind::Invoice,
        RecordKind::Dispense,
        RecordKind::DrugCatalog,
        RecordKind::ServiceCatalog,
        RecordKind::Episode,
        RecordKind::Lease,
        RecordKind::DrugItem,
        RecordKind::ServiceItem,
        RecordKind::Receipt,
        RecordKind::Refund,
        RecordKind::Resettlement,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Patient => "patient",
            RecordKind::Visit => "visit",
            RecordKind::Prescription => "prescription",
            RecordKind::Charge => "charge",
            RecordKind::Invoice => "invoice",
            RecordKind::Dispense => "dispense",
            RecordKind::DrugCatalog => "drug_catalog",
            RecordKind::ServiceCatalog => "service_catalog",
            RecordKind::Episode => "episode",
            RecordKind::Lease => "lease",
            RecordKind::DrugItem => "drug_item",
            RecordKind::ServiceItem => "service_item",
            RecordKind::Receipt => "receipt",
            RecordKind::Refund => "refund",
            RecordKind::Resettlement => "resettlement",
        }
    }

    /// Records a node writes about itself (episodes it takes part in, ranges it asks for),
    /// whatever desks it has.
    pub fn is_node_record(self) -> bool {
        matches!(self, RecordKind::Episode | RecordKind::Lease)
    }

    /// Written only by central: the reference data and central's receipts.
    pub fn is_central_only(self) -> bool {
        self.is_catalog() || self == RecordKind::Receipt
    }

    /// Reference data: written only by central.
    pub fn is_catalog(self) -> bool {
        matches!(
            self,
            RecordKind::DrugCatalog
                | RecordKind::ServiceCatalog
                | RecordKind::DrugItem
                | RecordKind::ServiceItem
        )
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What every record carries.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Header {
    pub id: RecordId,
    pub kind: RecordKind,
    /// The node that created the record.
    pub origin: NodeName,
    pub operator: OperatorName,
    pub created_ms: UnixMs,
    /// The emergency episode the record was created in ("YJ"), if any. A record typed in
    /// later from paper carries the episode of the time written on the paper.
    pub episode: Option<EpisodeId>,
    /// Set on a record typed in after the fact from a paper form: when it happened, as
    /// written on the paper (`created_ms` is when it was typed in).
    #[autosurgeon(missing = "Default::default")]
    pub paper: Option<PaperEntry>,
}

/// A record entered from paper: the time written on the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct PaperEntry {
    pub occurred_ms: UnixMs,
}

impl Header {
    /// Written during a drill (`lifeline emergency start --drill`): not real work, kept out of
    /// real statistics and never sent to the HIS.
    pub fn is_drill(&self) -> bool {
        self.episode.as_ref().is_some_and(EpisodeId::is_drill)
    }

    /// When it happened: the time on the paper for a record entered from paper, otherwise
    /// when it was created.
    pub fn occurred_ms(&self) -> UnixMs {
        self.paper.map_or(self.created_ms, |p| p.occurred_ms)
    }

    /// The header of a record document, whatever its kind.
    pub fn of(doc: &automerge::Automerge) -> Result<Header, autosurgeon::HydrateError> {
        Header::in_view(&Snapshot::new(doc))
    }

    /// [`Header::of`] a document already read through a snapshot.
    pub fn in_view(view: &Snapshot<'_>) -> Result<Header, autosurgeon::HydrateError> {
        autosurgeon::hydrate_prop(view, automerge::ROOT, "header")
    }
}

/// Typed access to one kind of record document.
pub trait Record: Hydrate + Reconcile + Serialize + fmt::Debug + Clone {
    const KIND: RecordKind;
    fn header(&self) -> &Header;
}

macro_rules! record {
    ($ty:ident, $kind:ident) => {
        impl Record for $ty {
            const KIND: RecordKind = RecordKind::$kind;
            fn header(&self) -> &Header {
                &self.header
            }
        }
    };
}

// Declared after `record!`, which it uses.
mod catalog;
pub use catalog::{
    CatalogKind, Department, Doctor, Drug, DrugCatalog, DrugItem, Service, ServiceCatalog,
    ServiceItem, catalog_id,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    #[autosurgeon(rename = "male")]
    Male,
    #[autosurgeon(rename = "female")]
    Female,
    #[autosurgeon(rename = "unknown")]
    Unknown,
}

/// How a patient's visits are paid by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceType {
    #[autosurgeon(rename = "self_pay")]
    SelfPay,
    /// Urban employee basic medical insurance.
    #[autosurgeon(rename = "employee")]
    Employee,
    /// Urban and rural resident basic medical insurance.
    #[autosurgeon(rename = "resident")]
    Resident,
}

/// The patient master record.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Patient {
    pub header: Header,
    pub patient_no: String,
    pub name: String,
    pub sex: Sex,
    pub birth_date: Date,
    pub phone: String,
    pub national_id: Option<String>,
    pub insurance: InsuranceType,
    /// Set when a reviewer merged this record into another (the survivor).
    pub merged_into: Option<RecordId>,
    /// The patient's id in the HIS patient master: set on patients pulled from the HIS.
    /// Documents written before this field existed read as `None`.
    #[autosurgeon(missing = "Default::default")]
    pub his_id: Option<String>,
    /// The parent or guardian (a children's hospital registers the child with one).
    /// Documents written before this field existed read as `None`.
    #[autosurgeon(missing = "Default::default")]
    pub guardian: Option<Guardian>,
    /// Deleted in the HIS patient master: kept for the records that name it, no longer found
    /// by a search.
    #[autosurgeon(missing = "Default::default")]
    pub his_deleted: bool,
    /// The HIS's change mark (its `updated_at`, in microseconds, or a version number) of the
    /// row the pull last wrote this record from, in the same change as the fields it wrote:
    /// what tells which of two bridges' concurrent values is the HIS's later state
    /// (`review::his_later`). `None` on records no pull wrote, and on documents written
    /// before this field existed.
    #[autosurgeon(missing = "Default::default")]
    pub his_changed: Option<i64>,
}
record!(Patient, Patient);

/// A child's parent or guardian.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct Guardian {
    pub name: String,
    /// How the guardian is related to the child (父亲, 母亲, 祖父母, ...).
    pub relationship: Option<String>,
    pub phone: Option<String>,
    pub national_id: Option<String>,
}

/// The demographic fields of a patient that desks may edit, by their document keys.
pub const PATIENT_FIELDS: [&str; 7] = [
    "name",
    "sex",
    "birth_date",
    "phone",
    "national_id",
    "insurance",
    "guardian",
];

/// A registration and its triage state.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Visit {
    pub header: Header,
    pub patient: RecordId,
    pub department: String,
    pub doctor: Option<String>,
    pub fee: Fen,
    /// Printed on the slip; starts with "YJ" for emergency registrations.
    pub registration_no: String,
    /// The charge for the registration fee, made with the visit.
    #[autosurgeon(missing = "Default::default")]
    pub fee_charge: Option<RecordId>,
    pub status_log: StatusLog,
    /// The record's key in the HIS, for records pulled from it (read-only in Lifeline unless
    /// an emergency episode is open). Documents written before this field existed read as
    /// `None`.
    #[autosurgeon(missing = "Default::default")]
    pub his_id: Option<String>,
}
record!(Visit, Visit);

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct PrescriptionItem {
    pub drug_code: String,
    pub drug_name: String,
    pub quantity: u32,
    pub dosage: String,
    pub unit_price: Fen,
    /// The drug catalog version the price came from.
    pub catalog_version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Prescription {
    pub header: Header,
    pub visit: RecordId,
    pub patient: RecordId,
    pub items: Vec<PrescriptionItem>,
    /// The charge for its drugs, made with it at the prices it was written with.
    #[autosurgeon(missing = "Default::default")]
    pub charge: Option<RecordId>,
    pub status_log: StatusLog,
    /// The record's key in the HIS, for records pulled from it (read-only in Lifeline unless
    /// an emergency episode is open). Documents written before this field existed read as
    /// `None`.
    #[autosurgeon(missing = "Default::default")]
    pub his_id: Option<String>,
}
record!(Prescription, Prescription);

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct ChargeLine {
    pub catalog: CatalogKind,
    pub code: String,
    pub name: String,
    pub quantity: u32,
    pub unit_price: Fen,
    pub amount: Fen,
    pub catalog_version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    #[autosurgeon(rename = "insurance")]
    Insurance,
    #[autosurgeon(rename = "self_pay")]
    SelfPay,
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Charge {
    pub header: Header,
    pub visit: RecordId,
    pub patient: RecordId,
    pub lines: Vec<ChargeLine>,
    pub amount: Fen,
    /// What the patient asked to pay with.
    pub requested_payment: PaymentMethod,
    /// What was actually used; self-pay when the insurance settlement failed. Never changed
    /// after settlement.
    pub payment: Option<PaymentMethod>,
    /// How it was paid, by channel, summing to `amount`; set once at settlement.
    #[autosurgeon(missing = "Default::default")]
    pub payments: Vec<PaymentPart>,
    /// When the insurance settlement failed outside an episode: the date by which it must be
    /// re-settled (7 working days later).
    pub resettle_due: Option<Date>,
    /// When the insurance settlement failed during an episode: it must be re-settled within 7
    /// working days of the day that episode ended (the fault was cleared).
    #[autosurgeon(missing = "Default::default")]
    pub resettle_after: Option<EpisodeId>,
    /// When the failed insurance settlement was finally made (the re-settlement record names
    /// this charge).
    pub resettled: Option<Stamp>,
    /// What made the charge.
    #[autosurgeon(missing = "Default::default")]
    pub source: ChargeSource,
    /// The prescription whose drugs it charges (`source` prescription).
    #[autosurgeon(missing = "Default::default")]
    pub prescription: Option<RecordId>,
    /// The invoice that covers it now; cleared when that invoice is voided with a reason,
    /// so that the charge can go on a new invoice.
    #[autosurgeon(missing = "Default::default")]
    pub invoice: Option<RecordId>,
    /// The refund record, once the money was given back.
    #[autosurgeon(missing = "Default::default")]
    pub refund: Option<RecordId>,
    pub status_log: StatusLog,
    /// The record's key in the HIS, for records pulled from it (read-only in Lifeline unless
    /// an emergency episode is open). Documents written before this field existed read as
    /// `None`.
    #[autosurgeon(missing = "Default::default")]
    pub his_id: Option<String>,
}
record!(Charge, Charge);

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Invoice {
    pub header: Header,
    /// The printed number, from a cashier's leased range.
    pub number: u64,
    pub series: String,
    pub range_id: String,
    /// The invoice code of the paper or e-invoice stock the number belongs to, as the cashier
    /// confirmed it at the start of the shift.
    #[autosurgeon(missing = "Default::default")]
    pub code: Option<String>,
    pub charges: Vec<RecordId>,
    pub total: Fen,
    /// Set on the invoice of a re-settlement: the re-settlement it is for.
    #[autosurgeon(missing = "Default::default")]
    pub resettlement: Option<RecordId>,
    pub void_reason: Option<String>,
    pub status_log: StatusLog,
    /// The record's key in the HIS, for records pulled from it (read-only in Lifeline unless
    /// an emergency episode is open). Documents written before this field existed read as
    /// `None`.
    #[autosurgeon(missing = "Default::default")]
    pub his_id: Option<String>,
}
record!(Invoice, Invoice);

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Dispense {
    pub header: Header,
    pub prescription: RecordId,
    pub patient: RecordId,
    pub status_log: StatusLog,
}
record!(Dispense, Dispense);

/// A request for a number range by a node, filled in by a lessor (central, or the standby
/// acting as primary). Ranges travel as records so they reach the window through the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Lease {
    pub header: Header,
    pub series: String,
    pub holder: NodeName,
    pub size: u64,
    pub range: Option<LeasedRange>,
    /// The cashier the range is preset for (invoice ranges belong to a cashier).
    #[autosurgeon(missing = "Default::default")]
    pub operator: Option<OperatorName>,
    /// The invoice code of the stock the numbers are printed on.
    #[autosurgeon(missing = "Default::default")]
    pub code: Option<String>,
    /// Numbers the holder spoiled without a record (a jammed printer), by number, so that
    /// every node's range report can account for them.
    #[autosurgeon(missing = "Default::default")]
    pub spoiled: BTreeMap<String, Spoiled>,
}

/// A number spoiled without a record.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Spoiled {
    pub reason: String,
    pub operator: OperatorName,
    pub at_ms: UnixMs,
}
record!(Lease, Lease);

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct LeasedRange {
    pub start: u64,
    pub end: u64,
    pub leased_by: NodeName,
    pub leased_ms: UnixMs,
}

impl Lease {
    /// Every range granted on a lease document: the lessors (central and the standby) may
    /// each fill one request while they cannot see each other, and the merged document then
    /// keeps one grant as its `range` and the others as conflicting values. Each was a real
    /// grant its holder may have taken and numbered from, so each must be accounted for.
    pub fn grants(doc: &automerge::Automerge) -> Vec<LeasedRange> {
        use automerge::ReadDoc;
        let mut grants: Vec<LeasedRange> = doc
            .get_all(automerge::ROOT, "range")
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(value, obj)| {
                matches!(value, automerge::Value::Object(automerge::ObjType::Map))
                    .then(|| LeasedRange::hydrate_map(doc, &obj).ok())
                    .flatten()
            })
            .collect();
        grants.sort_by_key(|g| (g.start, g.end));
        grants.dedup();
        grants
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    fn patient() -> Patient {
        Patient {
            header: Header {
                id: RecordId::generate(),
                kind: RecordKind::Patient,
                origin: NodeName::new("W01").expect("name"),
                operator: OperatorName::new("reg").expect("name"),
                created_ms: 1,
                episode: None,
                paper: None,
            },
            patient_no: "W01-000001".into(),
            name: "王小明".into(),
            sex: Sex::Male,
            birth_date: Date::new(2020, 1, 2).expect("date"),
            phone: "13800138000".into(),
            national_id: None,
            insurance: InsuranceType::SelfPay,
            merged_into: None,
            his_id: Some("P000000001".into()),
            guardian: Some(Guardian {
                name: "王建华".into(),
                relationship: Some("父亲".into()),
                phone: Some("13900139000".into()),
                national_id: None,
            }),
            his_deleted: false,
            his_changed: None,
        }
    }

    #[test]
    fn documents_written_before_the_his_and_guardian_fields_read_them_as_none() {
        let mut doc = AutoCommit::new();
        let p = patient();
        autosurgeon::reconcile(&mut doc, &p).expect("reconcile");
        let back: Patient = autosurgeon::hydrate(&doc).expect("hydrate");
        assert_eq!(back, p, "the new fields round-trip");
        doc.delete(ROOT, "his_id").expect("delete");
        doc.delete(ROOT, "guardian").expect("delete");
        doc.delete(ROOT, "his_deleted").expect("delete");
        let old: Patient = autosurgeon::hydrate(&doc).expect("an old document still reads");
        assert_eq!(old.his_id, None);
        assert_eq!(old.guardian, None);
        assert!(!old.his_deleted);
        assert_eq!(old.name, p.name);
    }
}
