//! Reference data: the drug and service catalogs with prices, versioned. Only central writes
//! them; every import that changes a catalog bumps its version, and prescriptions and charges
//! record the version they were priced from. Each drug and service is a record of its own,
//! found by code through the store's catalog index: a desk write reads the one item it
//! prices, and a hospital's 8,000 drugs and 5,000 services import in one commit.

mod csv;
mod import;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use csv::{CsvError, parse_departments, parse_drugs, parse_services};

use crate::WriteError;
use crate::money::Fen;
use crate::record::{
    CatalogKind, Department, Doctor, Drug, DrugCatalog, DrugItem, Service, ServiceCatalog,
    ServiceItem, catalog_id,
};
use crate::rules::RuleError;
use crate::store::{ReadError, Store, Tx};

/// New reference data. Absent parts are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogImport {
    pub drugs: Option<BTreeMap<String, Drug>>,
    pub services: Option<BTreeMap<String, Service>>,
    pub departments: Option<BTreeMap<String, Department>>,
    pub doctors: Option<BTreeMap<String, Doctor>>,
}

/// Changes to reference data from a source that knows what changed (the HIS bridge): items
/// to add or change and codes to withdraw, by catalog; every other item is left as it is.
/// Departments and doctors, when given, replace the service catalog's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogChanges {
    pub drugs: BTreeMap<String, Drug>,
    pub withdrawn_drugs: BTreeSet<String>,
    pub services: BTreeMap<String, Service>,
    pub withdrawn_services: BTreeSet<String>,
    pub departments: Option<BTreeMap<String, Department>>,
    pub doctors: Option<BTreeMap<String, Doctor>>,
}

/// Items an import changed, over both catalogs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ItemCounts {
    /// New codes.
    pub added: u64,
    /// Items whose entry changed (or that came back after being withdrawn).
    pub changed: u64,
    pub withdrawn: u64,
}

/// What [`Store::change_catalog`] did: the catalogs' versions (drug, service) before and
/// after, and the items it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CatalogChanged {
    /// As the change found them (in its commit): others than the caller expected mean
    /// someone else changed the catalogs in between.
    pub before: (u64, u64),
    pub versions: (u64, u64),
    pub items: ItemCounts,
}

/// The version a catalog's own record holds (0 when it has none yet).
fn catalog_version(tx: &mut Tx<'_, '_>, kind: CatalogKind) -> Result<Option<u64>, WriteError> {
    let id = catalog_id(kind);
    let Some(doc) = tx.doc(id)? else {
        return Ok(None);
    };
    Ok(Some(
        autosurgeon::hydrate_prop::<_, u64, _, _>(doc, automerge::ROOT, "version").unwrap_or(0),
    ))
}

/// The drug catalog as desks list it: its version and every drug in force, by code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrugList {
    pub version: u64,
    pub drugs: BTreeMap<String, Drug>,
}

/// The service catalog as desks list it, with the departments and the doctors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceList {
    pub version: u64,
    pub services: BTreeMap<String, Service>,
    pub departments: BTreeMap<String, Department>,
    pub doctors: BTreeMap<String, Doctor>,
}

impl Store {
    /// The catalogs' versions (drug, service), 0 for one that has not reached this node;
    /// reads only the catalogs' own records.
    pub fn catalog_versions(&self) -> Result<(u64, u64), ReadError> {
        let version = |kind| -> Result<u64, ReadError> {
            Ok(self.doc(catalog_id(kind))?.map_or(0, |doc| {
                autosurgeon::hydrate_prop::<_, u64, _, _>(&*doc, automerge::ROOT, "version")
                    .unwrap_or(0)
            }))
        };
        Ok((version(CatalogKind::Drug)?, version(CatalogKind::Service)?))
    }

    /// The drug catalog in force, or `None` before it has reached this node. Reads every item:
    /// for listing the catalog, never on a desk's write.
    pub fn drug_list(&self) -> Result<Option<DrugList>, ReadError> {
        let Some(catalog) = self.get::<DrugCatalog>(catalog_id(CatalogKind::Drug))? else {
            return Ok(None);
        };
        let mut drugs = BTreeMap::new();
        for (code, id) in self.catalog_codes(CatalogKind::Drug)? {
            if let Some(item) = self.get::<DrugItem>(id)?
                && !item.withdrawn
            {
                drugs.insert(code, item.drug);
            }
        }
        Ok(Some(DrugList {
            version: catalog.version,
            drugs,
        }))
    }

    /// The service catalog in force, or `None` before it has reached this node.
    pub fn service_list(&self) -> Result<Option<ServiceList>, ReadError> {
        let Some(catalog) = self.get::<ServiceCatalog>(catalog_id(CatalogKind::Service))? else {
            return Ok(None);
        };
        let mut services = BTreeMap::new();
        for (code, id) in self.catalog_codes(CatalogKind::Service)? {
            if let Some(item) = self.get::<ServiceItem>(id)?
                && !item.withdrawn
            {
                services.insert(code, item.service);
            }
        }
        Ok(Some(ServiceList {
            version: catalog.version,
            services,
            departments: catalog.departments,
            doctors: catalog.doctors,
        }))
    }
}

/// What a desk prices a catalog line from: the item's name and price, and the catalog version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Priced {
    pub name: String,
    pub price: Fen,
    pub catalog_version: u64,
}

impl Tx<'_, '_> {
    /// Prices one catalog line from the one item it names (never the whole catalog). Refuses
    /// a catalog that has not reached this node and a code it does not hold (or withdrew).
    pub(crate) fn priced(&mut self, kind: CatalogKind, code: &str) -> Result<Priced, WriteError> {
        let catalog_version = catalog_version(self, kind)?.ok_or(RuleError::CatalogMissing {
            catalog: kind.name(),
        })?;
        let unknown = || RuleError::UnknownCode {
            catalog: kind.name(),
            code: code.to_owned(),
        };
        let id = self.catalog_item_id(kind, code)?.ok_or_else(unknown)?;
        let (name, price, withdrawn) = match kind {
            CatalogKind::Drug => {
                let item: DrugItem = self.read(id)?;
                (item.drug.name_zh, item.drug.price, item.withdrawn)
            }
            CatalogKind::Service => {
                let item: ServiceItem = self.read(id)?;
                (item.service.name_zh, item.service.price, item.withdrawn)
            }
            // Departments have no items: the index never finds one.
            CatalogKind::Department => return Err(unknown().into()),
        };
        if withdrawn {
            return Err(unknown().into());
        }
        Ok(Priced {
            name,
            price,
            catalog_version,
        })
    }
}
