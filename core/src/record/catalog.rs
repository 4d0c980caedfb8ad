//! Reference data as records: the drug and service catalogs' own records (version,
//! departments) and one record per drug and per service, found by code through the store's
//! catalog index, so that a desk write reads only the item it prices.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use super::{Header, Record, RecordKind};
use crate::id::RecordId;
use crate::money::Fen;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogKind {
    #[autosurgeon(rename = "drug")]
    Drug,
    #[autosurgeon(rename = "service")]
    Service,
    /// A department's registration fee (the departments are in the service catalog).
    #[autosurgeon(rename = "department")]
    Department,
}

impl CatalogKind {
    /// The record kind of one item of this catalog; `None` for departments, which are part
    /// of the service catalog's own record.
    pub fn item_kind(self) -> Option<RecordKind> {
        match self {
            CatalogKind::Drug => Some(RecordKind::DrugItem),
            CatalogKind::Service => Some(RecordKind::ServiceItem),
            CatalogKind::Department => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CatalogKind::Drug => "drug",
            CatalogKind::Service => "service",
            CatalogKind::Department => "department",
        }
    }
}

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

/// The drug catalog's own record: its version. Each drug is a record of its own
/// ([`DrugItem`]), so a prescription or charge reads only the drug it needs.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct DrugCatalog {
    pub header: Header,
    /// Bumped by every import that changes the catalog; prescriptions and charges record the
    /// version they priced from.
    pub version: u64,
}
record!(DrugCatalog, DrugCatalog);

/// One drug of the catalog, found by its code (the catalog-code index).
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct DrugItem {
    pub header: Header,
    pub code: String,
    pub drug: Drug,
    /// The catalog version that last changed this drug.
    pub version: u64,
    /// Left out of the latest import: no longer prescribed or charged.
    pub withdrawn: bool,
}
record!(DrugItem, DrugItem);

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

/// The service catalog's own record: its version, the departments (a few dozen, read by
/// every registration) and the doctors (a few hundred, from the HIS). Each service is a
/// record of its own ([`ServiceItem`]).
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct ServiceCatalog {
    pub header: Header,
    pub version: u64,
    pub departments: BTreeMap<String, Department>,
    /// Documents written before doctors were kept read as none.
    #[autosurgeon(missing = "Default::default")]
    pub doctors: BTreeMap<String, Doctor>,
}
record!(ServiceCatalog, ServiceCatalog);

/// One service of the catalog, found by its code.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct ServiceItem {
    pub header: Header,
    pub code: String,
    pub service: Service,
    /// The catalog version that last changed this service.
    pub version: u64,
    /// Left out of the latest import: no longer charged.
    pub withdrawn: bool,
}
record!(ServiceItem, ServiceItem);

/// The catalogs have well-known ids, the same on every node, so that a window finds them
/// without a lookup and central re-importing never creates a second catalog.
pub fn catalog_id(kind: CatalogKind) -> RecordId {
    let mut bytes = [0u8; 16];
    bytes[15] = match kind {
        CatalogKind::Drug => 1,
        CatalogKind::Service | CatalogKind::Department => 2,
    };
    RecordId::from_bytes(bytes)
}
