//! The catalogs from the HIS into Lifeline's catalog items, costing what changed: the
//! bridge remembers what it last wrote (in memory) and hands the store only the drugs and
//! services that are new, changed or gone, so a pull after one price change reads and writes
//! one item, not thousands. After a restart, or when someone else changed the catalogs since
//! (an administrator's CSV import: the catalogs' versions are not those the bridge left),
//! the first pull names every item and the store compares each with what it holds.
//!
//! A row the HIS has but the bridge cannot read (a price of -1) leaves its item as it was:
//! a bad row is reported and skipped, never a reason to stop selling a drug. A code the HIS
//! no longer has, or marks inactive, is withdrawn.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lifeline_core::desk::CatalogChanges;
use lifeline_core::record::{Drug, Service};

use super::convert::HisCatalogs;

/// What the bridge last wrote into the catalogs: the versions they had afterwards, and each
/// code Lifeline holds in force with its entry (`None`: held, but its HIS row could not be
/// read, so its entry is whatever Lifeline had).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogSeen {
    pub versions: (u64, u64),
    pub drugs: BTreeMap<String, Option<Drug>>,
    pub services: BTreeMap<String, Option<Service>>,
}

/// The codes Lifeline holds for each catalog (withdrawn ones included), for a pull that
/// compares everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldCodes {
    pub drugs: BTreeSet<String>,
    pub services: BTreeSet<String>,
}

/// One catalog's changes: entries to add or change, codes to withdraw, and what the bridge
/// will have seen once they are written.
struct Diff<E> {
    upsert: BTreeMap<String, E>,
    withdraw: BTreeSet<String>,
    seen: BTreeMap<String, Option<E>>,
}

/// One catalog's diff: against what the bridge saw (`Ok`), or against every code Lifeline
/// holds (`Err`).
fn diff<E: Clone + PartialEq>(
    now: &BTreeMap<String, E>,
    unreadable: &BTreeSet<String>,
    before: Result<&BTreeMap<String, Option<E>>, &BTreeSet<String>>,
) -> Diff<E> {
    let upsert = now
        .iter()
        .filter(|(code, entry)| match before {
            Ok(seen) => seen.get(*code).is_none_or(|e| e.as_ref() != Some(*entry)),
            Err(_) => true,
        })
        .map(|(code, entry)| (code.clone(), entry.clone()))
        .collect();
    let held: Box<dyn Iterator<Item = &String>> = match before {
        Ok(seen) => Box::new(seen.keys()),
        Err(codes) => Box::new(codes.iter()),
    };
    let withdraw = held
        .filter(|code| !now.contains_key(*code) && !unreadable.contains(*code))
        .cloned()
        .collect();
    let mut seen: BTreeMap<String, Option<E>> = now
        .iter()
        .map(|(code, entry)| (code.clone(), Some(entry.clone())))
        .collect();
    for code in unreadable {
        let kept = match before {
            Ok(seen) => seen.get(code).cloned().flatten(),
            Err(_) => None,
        };
        seen.insert(code.clone(), kept);
    }
    Diff {
        upsert,
        withdraw,
        seen,
    }
}

/// What a pull compares the HIS's catalogs with.
#[derive(Debug, Clone, Copy)]
pub enum Before<'a> {
    /// What the bridge wrote last, still in force (the catalogs' versions are those it left).
    Seen(&'a CatalogSeen),
    /// Every code Lifeline holds: each item the HIS has is named (the store compares it with
    /// what it holds), and those it does not have are withdrawn.
    Held(&'a HeldCodes),
}

/// The changes that bring Lifeline's catalogs to the HIS's, and what the bridge will have
/// seen once they are written (its `versions` are for the caller to set to the versions
/// the store answers).
pub fn changes(his: &HisCatalogs, before: Before<'_>) -> (CatalogChanges, CatalogSeen) {
    let empty = BTreeMap::new();
    let drugs_now = his.import.drugs.as_ref().unwrap_or(&empty);
    let empty_services = BTreeMap::new();
    let services_now = his.import.services.as_ref().unwrap_or(&empty_services);
    let (drugs, services) = match before {
        Before::Seen(seen) => (
            diff(drugs_now, &his.unreadable_drugs, Ok(&seen.drugs)),
            diff(services_now, &his.unreadable_services, Ok(&seen.services)),
        ),
        Before::Held(held) => (
            diff(drugs_now, &his.unreadable_drugs, Err(&held.drugs)),
            diff(services_now, &his.unreadable_services, Err(&held.services)),
        ),
    };
    let changes = CatalogChanges {
        drugs: drugs.upsert,
        withdrawn_drugs: drugs.withdraw,
        services: services.upsert,
        withdrawn_services: services.withdraw,
        departments: his.import.departments.clone(),
        doctors: his.import.doctors.clone(),
    };
    let seen = CatalogSeen {
        versions: (0, 0),
        drugs: drugs.seen,
        services: services.seen,
    };
    (changes, seen)
}

/// What the bridge saw, shared cheaply (the state is copied after every page).
pub type SharedSeen = Option<Arc<CatalogSeen>>;

#[cfg(test)]
mod tests {
    use lifeline_core::Fen;
    use lifeline_core::desk::CatalogImport;

    use super::*;

    fn drug(price: i64) -> Drug {
        Drug {
            name_zh: "药".into(),
            name_en: "drug".into(),
            spec: String::new(),
            form: String::new(),
            unit: "box".into(),
            price: Fen(price),
            insurance_class: "A".into(),
        }
    }

    fn his(drugs: &[(&str, i64)], unreadable: &[&str]) -> HisCatalogs {
        HisCatalogs {
            import: CatalogImport {
                drugs: Some(drugs.iter().map(|(c, p)| ((*c).into(), drug(*p))).collect()),
                services: Some(BTreeMap::new()),
                departments: Some(BTreeMap::new()),
                doctors: Some(BTreeMap::new()),
            },
            unreadable_drugs: unreadable.iter().map(|c| (*c).into()).collect(),
            unreadable_services: BTreeSet::new(),
        }
    }

    fn codes(c: &BTreeSet<String>) -> Vec<&str> {
        c.iter().map(String::as_str).collect()
    }

    #[test]
    fn only_what_changed_since_the_last_pull_is_named() {
        // The first pull (nothing seen): every item, and what Lifeline holds but the HIS
        // does not is withdrawn; a bad row withdraws nothing.
        let first = his(&[("A", 100), ("B", 200)], &["C"]);
        let held = HeldCodes {
            drugs: ["A", "C", "OLD"].map(String::from).into(),
            services: BTreeSet::new(),
        };
        let (c, seen) = changes(&first, Before::Held(&held));
        assert_eq!(c.drugs.len(), 2);
        assert_eq!(codes(&c.withdrawn_drugs), ["OLD"]);
        assert_eq!(seen.drugs["C"], None);

        // The next pull names only what changed since.
        let next = his(&[("A", 100), ("B", 250), ("C", 300)], &[]);
        let (c, seen) = changes(&next, Before::Seen(&seen));
        assert_eq!(c.drugs.keys().collect::<Vec<_>>(), ["B", "C"]);
        assert!(c.withdrawn_drugs.is_empty());
        assert_eq!(seen.drugs["C"], Some(drug(300)));

        // B leaves the HIS, C's row goes bad: B is withdrawn, C is left as it was.
        let later = his(&[("A", 100)], &["C"]);
        let (c, seen) = changes(&later, Before::Seen(&seen));
        assert!(c.drugs.is_empty());
        assert_eq!(codes(&c.withdrawn_drugs), ["B"]);
        assert_eq!(seen.drugs["C"], Some(drug(300)), "the entry Lifeline holds");

        // Nothing changed: nothing is named.
        let (c, _) = changes(&later, Before::Seen(&seen));
        assert_eq!(c.drugs.len() + c.withdrawn_drugs.len(), 0);

        // Compared with every code held (someone else imported since): all named again.
        let (c, _) = changes(&later, Before::Held(&held));
        assert_eq!(c.drugs.keys().collect::<Vec<_>>(), ["A"]);
        assert_eq!(codes(&c.withdrawn_drugs), ["OLD"]);
    }
}
