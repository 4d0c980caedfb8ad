//! Importing reference data on central: each drug and service a record of its own, written
//! only when it changed; codes left out of an import are withdrawn, never deleted.

use std::collections::{BTreeMap, BTreeSet};

use super::{CatalogChanged, CatalogChanges, CatalogImport, ItemCounts, catalog_version};
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
fn catalog_header(tx: &Tx<'_, '_>, kind: RecordKind, who: &Operator) -> Result<Header, WriteError> {
    let mut header = tx.new_header(kind, who)?;
    header.episode = None;
    Ok(header)
}

/// Adds or changes one item: a new code becomes an item, a changed (or withdrawn) one is
/// edited, carrying `version`. Counts what it did in `counts`.
fn upsert_item<E: Entry>(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    held: Option<RecordId>,
    (code, entry): (&str, &E),
    version: u64,
    counts: &mut ItemCounts,
) -> Result<(), WriteError> {
    match held {
        Some(id) => {
            let item: E::Item = tx.read(id)?;
            let (now, withdrawn) = E::of(&item);
            if now == entry && !withdrawn {
                return Ok(());
            }
            tx.edit(id, who, IMPORT, |t| {
                set_field(t, E::FIELD, entry)?;
                set_field(t, "withdrawn", false)?;
                set_field(t, "version", version)
            })?;
            counts.changed += 1;
        }
        None => {
            let header = catalog_header(tx, <E::Item as Record>::KIND, who)?;
            let item = E::item(header, code.to_owned(), entry.clone(), version);
            tx.create(&item, who, IMPORT)?;
            counts.added += 1;
        }
    }
    Ok(())
}

/// Withdraws one item, carrying `version`, unless it already is.
fn withdraw_item<E: Entry>(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    id: RecordId,
    version: u64,
    counts: &mut ItemCounts,
) -> Result<(), WriteError> {
    let item: E::Item = tx.read(id)?;
    if E::of(&item).1 {
        return Ok(());
    }
    tx.edit(id, who, IMPORT, |t| {
        set_field(t, "withdrawn", true)?;
        set_field(t, "version", version)
    })?;
    counts.withdrawn += 1;
    Ok(())
}

/// What an import does to a catalog's items.
enum Items<'a, E> {
    /// The whole catalog: codes left out are withdrawn. Reads every item held.
    Whole(&'a BTreeMap<String, E>),
    /// Only what changed: entries to add or change and codes to withdraw; every other item is
    /// left as it is and not read.
    Changes {
        upsert: &'a BTreeMap<String, E>,
        withdraw: &'a BTreeSet<String>,
    },
}

/// Brings a catalog's items in line with an import; each change carries `version`. Counts
/// what it did in `counts`.
fn import_items<E: Entry>(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    items: Items<'_, E>,
    version: u64,
    counts: &mut ItemCounts,
) -> Result<(), WriteError> {
    match items {
        Items::Whole(entries) => {
            let held: BTreeMap<String, RecordId> =
                tx.catalog_codes(E::CATALOG)?.into_iter().collect();
            for (code, entry) in entries {
                let id = held.get(code).copied();
                upsert_item(tx, who, id, (code, entry), version, counts)?;
            }
            for (code, &id) in &held {
                if !entries.contains_key(code) {
                    withdraw_item::<E>(tx, who, id, version, counts)?;
                }
            }
        }
        Items::Changes { upsert, withdraw } => {
            for (code, entry) in upsert {
                let id = tx.catalog_item_id(E::CATALOG, code)?;
                upsert_item(tx, who, id, (code, entry), version, counts)?;
            }
            for code in withdraw {
                if upsert.contains_key(code) {
                    continue;
                }
                if let Some(id) = tx.catalog_item_id(E::CATALOG, code)? {
                    withdraw_item::<E>(tx, who, id, version, counts)?;
                }
            }
        }
    }
    Ok(())
}

/// What the service catalog's own record holds beside its version.
#[derive(Clone, Copy, Default)]
struct ServiceParts<'a> {
    departments: Option<&'a BTreeMap<String, Department>>,
    doctors: Option<&'a BTreeMap<String, Doctor>>,
}

/// Imports one catalog: its items, then its own record with the new version if anything
/// changed. Returns the catalog's version; counts the items it changed in `counts`.
fn import_catalog_of<E: Entry>(
    tx: &mut Tx<'_, '_>,
    who: &Operator,
    entries: Option<Items<'_, E>>,
    parts: ServiceParts<'_>,
    counts: &mut ItemCounts,
) -> Result<u64, WriteError> {
    let ServiceParts {
        departments,
        doctors,
    } = parts;
    let kind = E::CATALOG;
    let held = catalog_version(tx, kind)?;
    let current = held.unwrap_or(0);
    let next = current + 1;
    let has_entries = entries.is_some();
    let before = *counts;
    if let Some(entries) = entries {
        import_items(tx, who, entries, next, counts)?;
    }
    let mut changed = *counts != before;
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
    if held.is_none() && !changed && !has_entries && departments.is_none() && doctors.is_none() {
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

/// Refuses anyone but an administrator on central: only central writes the catalogs.
fn check_importer(store: &Store, who: &Operator) -> Result<(), RuleError> {
    if store.role() != NodeRole::Central {
        return Err(RuleError::CentralOnly {
            action: "change the catalogs",
        });
    }
    if who.desk != DeskRole::Admin {
        return Err(RuleError::NotPermitted {
            desk: who.desk,
            action: "import catalogs",
            kind: RecordKind::DrugCatalog,
        });
    }
    Ok(())
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
        check_importer(self, who)?;
        let who = who.clone();
        self.write(move |tx| {
            let counts = &mut ItemCounts::default();
            let drug = import_catalog_of(
                tx,
                &who,
                import.drugs.as_ref().map(Items::Whole),
                ServiceParts::default(),
                counts,
            )?;
            let service = import_catalog_of(
                tx,
                &who,
                import.services.as_ref().map(Items::Whole),
                ServiceParts {
                    departments: import.departments.as_ref(),
                    doctors: import.doctors.as_ref(),
                },
                counts,
            )?;
            Ok(Saved::new((drug, service)))
        })
    }

    /// Changes reference data on central, in one commit, from a source that knows what
    /// changed (the HIS bridge): reads and writes only the items named, so its cost is that
    /// of the changes, not of the catalogs. A catalog with any change gets a new version.
    pub fn change_catalog(
        &self,
        who: &Operator,
        changes: CatalogChanges,
    ) -> Result<Saved<CatalogChanged>, WriteError> {
        check_importer(self, who)?;
        let who = who.clone();
        self.write(move |tx| {
            let before = (
                catalog_version(tx, CatalogKind::Drug)?.unwrap_or(0),
                catalog_version(tx, CatalogKind::Service)?.unwrap_or(0),
            );
            let mut items = ItemCounts::default();
            let drug = import_catalog_of(
                tx,
                &who,
                Some(Items::Changes {
                    upsert: &changes.drugs,
                    withdraw: &changes.withdrawn_drugs,
                }),
                ServiceParts::default(),
                &mut items,
            )?;
            let service = import_catalog_of(
                tx,
                &who,
                Some(Items::Changes {
                    upsert: &changes.services,
                    withdraw: &changes.withdrawn_services,
                }),
                ServiceParts {
                    departments: changes.departments.as_ref(),
                    doctors: changes.doctors.as_ref(),
                },
                &mut items,
            )?;
            Ok(Saved::new(CatalogChanged {
                before,
                versions: (drug, service),
                items,
            }))
        })
    }
}
