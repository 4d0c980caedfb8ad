//! The outpatient records. Each record is one small Automerge document with typed access
//! through autosurgeon; small documents keep merges, loads and sync cheap.
//!
//! Every document has the same root layout: `header` (who made it, where, when, in which
//! emergency episode), the record's own fields, and for records with a workflow a
//! `status_log` (see [`crate::status`]). A record is created by exactly one node, so each
//! document has exactly one root created once; all later edits are field-level puts.

mod autosurgeon_impls;

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
}

impl RecordKind {
    pub const ALL: [RecordKind; 10] = [
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
        }
    }

    /// Records a node writes about itself (episodes it takes part in, ranges it asks for),
    /// whatever desks it has.
    pub fn is_node_record(self) -> bool {
        matches!(self, RecordKind::Episode | RecordKind::Lease)
    }

    /// Reference data: written only by central.
    pub fn is_catalog(self) -> bool {
        matches!(self, RecordKind::DrugCatalog | RecordKind::ServiceCatalog)
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
    /// The emergency episode the record was created in ("YJ"), if any.
    pub episode: Option<EpisodeId>,
}

impl Header {
    /// The header of a record document, whatever its kind.
    pub fn of<D: autosurgeon::ReadDoc>(doc: &D) -> Result<Header, autosurgeon::HydrateError> {
        autosurgeon::hydrate_prop(doc, automerge::ROOT, "header")
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
pub const PATIENT_FIELDS: [&str; 6] = [
    "name",
    "sex",
    "birth_date",
    "phone",
    "national_id",
    "insurance",
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
    pub status_log: StatusLog,
    /// The record's key in the HIS, for records pulled from it (read-only in Lifeline unless
    /// an emergency episode is open). Documents written before this field existed read as
    /// `None`.
    #[autosurgeon(missing = "Default::default")]
    pub his_id: Option<String>,
}
record!(Prescription, Prescription);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogKind {
    #[autosurgeon(rename = "drug")]
    Drug,
    #[autosurgeon(rename = "service")]
    Service,
}

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
    /// What was actually used; self-pay when the insurance settlement failed.
    pub payment: Option<PaymentMethod>,
    /// When the insurance settlement failed: the date by which it must be re-settled
    /// (7 working days later).
    pub resettle_due: Option<Date>,
    /// When the failed insurance settlement was finally made.
    pub resettled: Option<Stamp>,
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
    /// The printed number, from a leased range.
    pub number: u64,
    pub series: String,
    pub range_id: String,
    pub charges: Vec<RecordId>,
    pub total: Fen,
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

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct Drug {
    pub name_zh: String,
    pub name_en: String,
    pub spec: String,
    pub form: String,
    pub unit: String,
    pub price: Fen,
    pub insurance_class: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct DrugCatalog {
    pub header: Header,
    /// Bumped by every import; prescriptions and charges record the version they priced from.
    pub version: u64,
    pub drugs: BTreeMap<String, Drug>,
}
record!(DrugCatalog, DrugCatalog);

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct Service {
    pub name_zh: String,
    pub name_en: String,
    pub unit: String,
    pub price: Fen,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct Department {
    pub name_zh: String,
    pub name_en: String,
    pub registration_fee: Fen,
    pub expert_fee: Fen,
}

/// A doctor who sees outpatients, by the HIS's doctor code.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct Doctor {
    pub name: String,
    /// The department code the doctor works in.
    pub department: String,
    /// 主任医师, 副主任医师, 主治医师, 住院医师.
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct ServiceCatalog {
    pub header: Header,
    pub version: u64,
    pub services: BTreeMap<String, Service>,
    pub departments: BTreeMap<String, Department>,
    /// Documents written before doctors were kept read as none.
    #[autosurgeon(missing = "Default::default")]
    pub doctors: BTreeMap<String, Doctor>,
}
record!(ServiceCatalog, ServiceCatalog);

/// The catalogs have well-known ids, the same on every node, so that a window finds them
/// without a lookup and central re-importing never creates a second catalog.
pub fn catalog_id(kind: CatalogKind) -> RecordId {
    let mut bytes = [0u8; 16];
    bytes[15] = match kind {
        CatalogKind::Drug => 1,
        CatalogKind::Service => 2,
    };
    RecordId::from_bytes(bytes)
}

/// Document key of the stamp central writes when it has received an emergency record.
pub const CENTRAL_ACK_KEY: &str = "central_ack";

/// Central's receipt of a record created during an episode.
pub type CentralAck = Stamp;

/// One node's part in an emergency episode.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct EpisodeNode {
    pub joined_ms: UnixMs,
    /// When this node left emergency mode (back to normal and reconciled, or stopped).
    pub left_ms: Option<UnixMs>,
    /// The reference data this node worked from: catalog versions and when they last
    /// changed, so the report can say how old the prices were.
    pub drug_catalog_version: u64,
    pub service_catalog_version: u64,
    pub catalog_changed_ms: Option<UnixMs>,
}

/// An emergency episode ("YJ"), replicated so that every node agrees on one per outage.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Episode {
    pub header: Header,
    pub episode_id: EpisodeId,
    pub reason: String,
    /// Opened automatically (central unreachable) or by an administrator.
    pub automatic: bool,
    pub opened_ms: UnixMs,
    pub closed_ms: Option<UnixMs>,
    pub closed_by: Option<OperatorName>,
    pub nodes: BTreeMap<String, EpisodeNode>,
    /// Set when this episode was opened independently during the same outage as another:
    /// the survivor that every node now reports under.
    pub merged_into: Option<EpisodeId>,
}
record!(Episode, Episode);

/// A request for a number range by a node, filled in by a lessor (central, or the standby
/// acting as primary). Ranges travel as records so they reach the window through the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Lease {
    pub header: Header,
    pub series: String,
    pub holder: NodeName,
    pub size: u64,
    pub range: Option<LeasedRange>,
}
record!(Lease, Lease);

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct LeasedRange {
    pub start: u64,
    pub end: u64,
    pub leased_by: NodeName,
    pub leased_ms: UnixMs,
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
