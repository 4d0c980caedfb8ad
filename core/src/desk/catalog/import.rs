//! Importing reference data on central: each drug and service a record of its own, written
//! only when it changed; codes left out of an import are withdrawn, never deleted.

use std::collections::BTreeMap;

use super::{CatalogImport, catalog_version};
use crate::WriteError;
use crate::desk::{Saved, set_field};
use crate::id::RecordId;
use crate::record::{
    CatalogKind, Department, Doctor, Drug, DrugCatalog, DrugItem, Header, Record, RecordKind,
    Service, ServiceCatalog, ServiceItem, catalog_id,
};
use crate::roles::{DeskRole, NodeRole, Operator};
use crate::rules::RuleError;
use crate::store::{Store, Tx};

/// One entry of a catalog import, and the record it is kept as.
trait Entry: Clone + PartialEq + autosurgeon::Reconcile + Send + 'static {
    type Item: Record;
    const CATALOG: CatalogKind;
    /// The item's document key holding the entry.
    const FIELD: &'static str;
    fn item(header: Header, code: String, entry: Self, version: u64) -> Self::Item;
    fn of(item: &Self::Item) -> (&Self, bool);
}

impl Entry for Drug {
    type Item = DrugItem;
    const CATALOG: CatalogKind = CatalogKind::Drug;
    const FIELD: &'static str = "drug";
    fn item(header: Header, code: String, drug: Drug, version: u64) -> DrugItem {
        DrugItem {
            header,
            code,
            drug,
            version,
            withdrawn: false,
        }
    }
    fn of(item: &DrugItem) -> (&Drug, bool) {
        (&item.drug, item.withdrawn)
    }
}

impl Entry for Service {
    type Item = ServiceItem;
    const CATALOG: CatalogKind = CatalogKind::Service;
    const FIELD: &'static str = "service";
    fn item(header: Header, code: String, service: Service, version: u64) -> ServiceItem {
        ServiceItem {
            header,
            code,
            service,
            version,
            withdrawn: false,
        }
    }
    fn of(item: &ServiceItem) -> (&Service, bool) {
        (&item.service, item.withdrawn)
    }
}

const IMPORT: &str = "catalog.import";

/// A header for reference data: made here, by `who`, in no episode.
fn catalog_header(tx: &Tx<'_>, kind: RecordKind, who: &Operator) -> Result<Header, WriteError> {
    let mut header = tx.new_header(kind, who)?;
    header.episode = None;
    Ok(header)
}

/// Brings a catalog's items in line with an import: new codes become items, changed ones
/// are edited, codes left out are withdrawn; each change carries `version`. Returns whether
/// anything changed.
fn import_items<E: Entry>(
    tx: &mut Tx<'_>,
    who: &Operator,
    entries: &BTreeMap<String, E>,
    version: u64,
) -> Result<bool, WriteError> {
    let held: BTreeMap<String, RecordId> = tx.catalog_codes(E::CATALOG)?.into_iter().collect();
    let mut changed = false;
    for (code, entry) in entries {
        match held.get(code) {
            Some(&id) => {
                let item: E::Item = tx.read(id)?;
                let (now, withdrawn) = E::of(&item);
                if now != entry || withdrawn {
                    tx.edit(id, who, IMPORT, |t| {
                        set_field(t, E::FIELD, entry)?;
                        set_field(t, "withdrawn", false)?;
                        set_field(t, "version", version)
                    })?;
                    changed = true;
                }
            }
            None => {
                let header = catalog_header(tx, <E::Item as Record>::KIND, who)?;
                let item = E::item(header, code.clone(), entry.clone(), version);
                tx.create(&item, who, IMPORT)?;
                changed = true;
            }
        }
    }
    for (code, &id) in &held {
        if entries.contains_key(code) {
            continue;
        }
        let item: E::Item = tx.read(id)?;
        if !E::of(&item).1 {
            tx.edit(id, who, IMPORT, |t| {
                set_field(t, "withdrawn", true)?;
                set_field(t, "version", version)
            })?;
            changed = true;
        }
    }
    Ok(changed)
}

/// What the service catalog's own record holds beside its version.
#[derive(Clone, Copy, Default)]
struct ServiceParts<'a> {
    departments: Option<&'a BTreeMap<String, Department>>,
    doctors: Option<&'a BTreeMap<String, Doctor>>,
}

/// Imports one catalog: its items, then its own record with the new version if anything
/// changed. Returns the catalog's version.
fn import_catalog_of<E: Entry>(
    tx: &mut Tx<'_>,
    who: &Operator,
    entries: Option<&BTreeMap<String, E>>,
    parts: ServiceParts<'_>,
) -> Result<u64, WriteError> {
    let ServiceParts {
        departments,
        doctors,
    } = parts;
    let kind = E::CATALOG;
    let held = catalog_version(tx, kind)?;
    let current = held.unwrap_or(0);
    let next = current + 1;
    let mut changed = match entries {
        Some(entries) => import_items(tx, who, entries, next)?,
        None => false,
    };
    let id = catalog_id(kind);
    if departments.is_some() || doctors.is_some() {
        let now = match held {
            Some(_) => Some(tx.read::<ServiceCatalog>(id)?),
            None => None,
        };
        if let Some(departments) = departments {
            changed |= now.as_ref().map(|c| &c.departments) != Some(departments);
        }
        if let Some(doctors) = doctors {
            changed |= now.as_ref().map(|c| &c.doctors) != Some(doctors);
        }
    }
    if !changed && held.is_some() {
        return Ok(current);
    }
    if held.is_none() && !changed && entries.is_none() && departments.is_none() && doctors.is_none()
    {
        return Ok(0);
    }
    match (held, kind) {
        (Some(_), _) => tx.edit(id, who, IMPORT, |t| {
            if let Some(departments) = departments {
                set_field(t, "departments", departments)?;
            }
            if let Some(doctors) = doctors {
                set_field(t, "doctors", doctors)?;
            }
            set_field(t, "version", next)
        })?,
        (None, CatalogKind::Drug) => {
            let mut header = catalog_header(tx, RecordKind::DrugCatalog, who)?;
            header.id = id;
            tx.create(
                &DrugCatalog {
                    header,
                    version: next,
                },
                who,
                IMPORT,
            )?;
        }
        (None, CatalogKind::Service | CatalogKind::Department) => {
            let mut header = catalog_header(tx, RecordKind::ServiceCatalog, who)?;
            header.id = id;
            tx.create(
                &ServiceCatalog {
                    header,
                    version: next,
                    departments: departments.cloned().unwrap_or_default(),
                    doctors: doctors.cloned().unwrap_or_default(),
                },
                who,
                IMPORT,
            )?;
        }
    }
    Ok(next)
}

impl Store {
    /// Imports reference data on central, in one commit. Returns the new versions (drug,
    /// service). Each drug and service is a record of its own, so an import of thousands
    /// writes only what changed, and desks read only the items they use.
    pub fn import_catalog(
        &self,
        who: &Operator,
        import: CatalogImport,
    ) -> Result<Saved<(u64, u64)>, WriteError> {
        if self.role() != NodeRole::Central {
            return Err(RuleError::CentralOnly {
                action: "change the catalogs",
            }
            .into());
        }
        if who.desk != DeskRole::Admin {
            return Err(RuleError::NotPermitted {
                desk: who.desk,
                action: "import catalogs",
                kind: RecordKind::DrugCatalog,
            }
            .into());
        }
        let who = who.clone();
        self.write(move |tx| {
            let drug = import_catalog_of(tx, &who, import.drugs.as_ref(), ServiceParts::default())?;
            let service = import_catalog_of(
                tx,
                &who,
                import.services.as_ref(),
                ServiceParts {
                    departments: import.departments.as_ref(),
                    doctors: import.doctors.as_ref(),
                },
            )?;
            Ok(Saved::new((drug, service)))
        })
    }
}
