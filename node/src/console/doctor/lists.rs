//! The console's catalog lists, one per search (drugs; the service items a doctor orders),
//! kept in memory between searches.
//!
//! The store keeps each catalog item as its own record found by code (the catalog-code
//! index); it has no index by name. A list holds every item in force with its initials, built
//! from the catalog items when first searched and built again when the catalog changes (its
//! version, or the number of its items, differs from what it was built from). A search scans
//! that list, so it costs in proportion to the catalog, and a desk's write costs nothing. Items
//! of a new version may arrive after the catalog's own record: while the list holds none of the
//! catalog's version yet it is looked at again every few seconds, and in any case every
//! minute. Prices are never taken from it: the core prices a prescription or a charge from the
//! item itself.
//!
//! The service list is what a doctor orders: the registration fees (category
//! `registration`, as the shipped catalog and the HIS mapping name them) are left out, since
//! the registration desk charges them with the visit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeline_core::Store;
use lifeline_core::record::{CatalogKind, DrugItem, RecordKind, Service, ServiceItem};
use lifeline_core::store::ReadError;

use super::search::Entry;

/// How long a list that may lack some items of the catalog's version is trusted.
const INCOMPLETE_FOR: Duration = Duration::from_secs(3);
/// How long any list is trusted before it is built again.
const COMPLETE_FOR: Duration = Duration::from_secs(60);

/// The service category of registration fees, which a doctor does not order.
const REGISTRATION_CATEGORY: &str = "registration";

/// Whether a doctor orders this service (a registration fee is charged with the visit).
pub fn orderable(service: &Service) -> bool {
    service.category != REGISTRATION_CATEGORY
}

#[derive(Debug)]
struct Built {
    /// The catalog's version and the number of its items it was built from.
    key: (u64, u64),
    /// It holds an item of the catalog's version (so the import's items have arrived).
    complete: bool,
    at: Instant,
    entries: Arc<Vec<Entry>>,
}

/// One of the console's catalog lists, kept between searches (see the module docs).
#[derive(Debug)]
pub struct CatalogIndex {
    catalog: CatalogKind,
    built: Mutex<Option<Built>>,
}

impl CatalogIndex {
    /// The drugs in force.
    pub fn drugs() -> CatalogIndex {
        CatalogIndex {
            catalog: CatalogKind::Drug,
            built: Mutex::new(None),
        }
    }

    /// The service items in force that a doctor orders (no registration fees).
    pub fn services() -> CatalogIndex {
        CatalogIndex {
            catalog: CatalogKind::Service,
            built: Mutex::new(None),
        }
    }

    /// Every item of the list, built again if the catalog changed. Blocking: call it from
    /// `blocking`.
    pub fn entries(&self, store: &Store) -> Result<Arc<Vec<Entry>>, ReadError> {
        let (drugs, services) = store.catalog_versions()?;
        let (version, item_kind) = match self.catalog {
            CatalogKind::Drug => (drugs, RecordKind::DrugItem),
            // Departments are part of the service catalog's own record, never listed here.
            CatalogKind::Service | CatalogKind::Department => (services, RecordKind::ServiceItem),
        };
        let key = (version, store.count_of_kind(item_kind)?);
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = built.as_ref() {
            let trusted_for = if b.complete {
                COMPLETE_FOR
            } else {
                INCOMPLETE_FOR
            };
            if b.key == key && b.at.elapsed() < trusted_for {
                return Ok(b.entries.clone());
            }
        }
        let mut entries = Vec::new();
        let mut newest = 0;
        for (code, id) in store.catalog_codes(self.catalog)? {
            let (item_version, entry) = match self.catalog {
                CatalogKind::Drug => match store.get::<DrugItem>(id)? {
                    Some(item) => (
                        item.version,
                        (!item.withdrawn).then(|| Entry::drug(&code, &item.drug)),
                    ),
                    None => continue,
                },
                CatalogKind::Service | CatalogKind::Department => {
                    match store.get::<ServiceItem>(id)? {
                        Some(item) => (
                            item.version,
                            (!item.withdrawn && orderable(&item.service))
                                .then(|| Entry::service(&code, &item.service)),
                        ),
                        None => continue,
                    }
                }
            };
            newest = newest.max(item_version);
            entries.extend(entry);
        }
        let entries = Arc::new(entries);
        *built = Some(Built {
            key,
            complete: newest >= version,
            at: Instant::now(),
            entries: entries.clone(),
        });
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_core::money::Fen;

    fn service(name_zh: &str, name_en: &str, price: i64, category: &str) -> Service {
        Service {
            name_zh: name_zh.to_owned(),
            name_en: name_en.to_owned(),
            unit: "次".to_owned(),
            price: Fen(price),
            category: category.to_owned(),
        }
    }

    #[test]
    fn a_doctor_does_not_order_registration_fees() {
        assert!(!orderable(&service(
            "普通挂号费",
            "Registration fee (general)",
            1000,
            "registration"
        )));
        assert!(orderable(&service(
            "血常规",
            "Complete blood count",
            2000,
            "lab"
        )));
        assert!(orderable(&service("换药", "Wound dressing", 1500, "")));
    }
}
