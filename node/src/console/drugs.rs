//! The doctor's drug search: by code, by name (Chinese or English), or by the pinyin initials
//! of the Chinese name (阿莫西林颗粒 → `amxlkl`), every reading of a character with several
//! counted (行 → x or h).
//!
//! The store keeps each drug as its own record found by code (the catalog-code index); it has
//! no index by name. The console keeps one in memory: every drug in force with its initials,
//! built from the catalog items when first searched and built again when the catalog changes
//! (its version, or the number of drug items, differs from what it was built from). A search
//! scans that list, so it costs in proportion to the catalog, and a desk's write costs nothing.
//! Items of a new version may arrive after the catalog's own record: while the list holds none
//! of the catalog's version yet it is looked at again every few seconds, and in any case every
//! minute. Prices are never taken from it: the core prices a prescription from the item itself.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeline_core::Store;
use lifeline_core::money::Fen;
use lifeline_core::record::{CatalogKind, DrugCatalog, DrugItem, RecordKind, catalog_id};
use lifeline_core::store::ReadError;
use pinyin::ToPinyinMulti;
use serde::Serialize;

/// How many drugs a search answers at most.
pub const SEARCH_LIMIT: usize = 20;

/// How long a list that may lack some items of the catalog's version is trusted.
const INCOMPLETE_FOR: Duration = Duration::from_secs(3);
/// How long any list is trusted before it is built again.
const COMPLETE_FOR: Duration = Duration::from_secs(60);

/// One drug as the search sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrugEntry {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub spec: String,
    pub unit: String,
    pub price: Fen,
    /// For each letter or digit of the Chinese name, the initials it may be typed as (a bit
    /// per `a`–`z`, then `0`–`9`).
    #[serde(skip)]
    initials: Vec<u64>,
    #[serde(skip)]
    lower_code: String,
    #[serde(skip)]
    lower_en: String,
}

/// The bit of an ASCII letter or digit, lower-cased; `None` for anything else.
fn bit(c: char) -> Option<u64> {
    let c = c.to_ascii_lowercase();
    match c {
        'a'..='z' => Some(1 << (c as u32 - 'a' as u32)),
        '0'..='9' => Some(1 << (26 + c as u32 - '0' as u32)),
        _ => None,
    }
}

/// What each character of `name` may be typed as: a Chinese character's initial in each of
/// its readings, a letter or digit as itself; other characters (punctuation, spaces) are
/// skipped, as a person typing initials skips them.
pub fn initials_of(name: &str) -> Vec<u64> {
    name.chars()
        .filter_map(|c| match c.to_pinyin_multi() {
            Some(readings) => {
                let mask = readings
                    .into_iter()
                    .filter_map(|p| p.first_letter().chars().next().and_then(bit))
                    .fold(0, |m, b| m | b);
                (mask != 0).then_some(mask)
            }
            None => bit(c),
        })
        .collect()
}

/// How a run of initials matches a typed query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// The whole name.
    Whole,
    /// The start of the name.
    Start,
    /// Somewhere further in.
    Inside,
}

/// Where `query` (the bits of lower-case letters and digits) matches a run of `initials`.
fn initials_match(initials: &[u64], query: &[u64]) -> Option<Run> {
    if query.is_empty() || query.len() > initials.len() {
        return None;
    }
    let at = |p: usize| query.iter().zip(&initials[p..]).all(|(q, i)| q & i != 0);
    if at(0) {
        return Some(if query.len() == initials.len() {
            Run::Whole
        } else {
            Run::Start
        });
    }
    (1..=initials.len() - query.len())
        .any(at)
        .then_some(Run::Inside)
}

impl DrugEntry {
    pub fn new(code: &str, drug: &lifeline_core::record::Drug) -> DrugEntry {
        DrugEntry {
            code: code.to_owned(),
            name_zh: drug.name_zh.clone(),
            name_en: drug.name_en.clone(),
            spec: drug.spec.clone(),
            unit: drug.unit.clone(),
            price: drug.price,
            initials: initials_of(&drug.name_zh),
            lower_code: code.to_lowercase(),
            lower_en: drug.name_en.to_lowercase(),
        }
    }

    /// How well this drug answers `q` (smaller is better), or `None` if it does not: its
    /// code, its name, all its initials ([`EXACT`] or better), then the start of its code,
    /// initials or name, then anywhere in them. `q` is trimmed and lower-cased; `letters` is
    /// its initials' bits when it is only letters and digits.
    fn rank(&self, q: &str, letters: Option<&[u64]>) -> Option<u8> {
        let name_zh = self.name_zh.to_lowercase();
        let initials = letters.and_then(|l| initials_match(&self.initials, l));
        let rank = if self.lower_code == q {
            0
        } else if name_zh == q || self.lower_en == q {
            1
        } else if initials == Some(Run::Whole) {
            EXACT
        } else if self.lower_code.starts_with(q) {
            3
        } else if initials == Some(Run::Start) {
            4
        } else if name_zh.starts_with(q) || self.lower_en.starts_with(q) {
            5
        } else if initials == Some(Run::Inside) {
            6
        } else if name_zh.contains(q) || self.lower_en.contains(q) || self.lower_code.contains(q) {
            7
        } else {
            return None;
        };
        Some(rank)
    }
}

/// The worst rank that names one drug exactly (its code, its name, or all its initials).
const EXACT: u8 = 2;

/// The drugs answering `query`, best first (then by code), at most `limit`.
pub fn search<'a>(entries: &'a [DrugEntry], query: &str, limit: usize) -> Vec<&'a DrugEntry> {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    let letters: Option<Vec<u64>> = q.chars().map(bit).collect();
    let mut found: Vec<(u8, &DrugEntry)> = entries
        .iter()
        .filter_map(|e| e.rank(&q, letters.as_deref()).map(|r| (r, e)))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.code.cmp(&b.1.code)));
    found.into_iter().take(limit).map(|(_, e)| e).collect()
}

/// What a prescription line's typed drug names: a code, an exact name, or the one drug a
/// search finds. `Err` with the candidates when several drugs answer it; `Ok(None)` when none
/// does (the core then refuses the code as unknown, with its own message).
pub fn resolve(entries: &[DrugEntry], typed: &str) -> Result<Option<String>, Vec<String>> {
    let found = search(entries, typed, SEARCH_LIMIT);
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.code.clone())),
        [best, second, ..] => {
            let q = typed.trim().to_lowercase();
            let letters: Option<Vec<u64>> = q.chars().map(bit).collect();
            let exact = |e: &DrugEntry| e.rank(&q, letters.as_deref()).is_some_and(|r| r <= EXACT);
            if exact(best) && !exact(second) {
                Ok(Some(best.code.clone()))
            } else {
                Err(found
                    .iter()
                    .map(|e| format!("{} {}", e.code, e.name_zh))
                    .collect())
            }
        }
    }
}

#[derive(Debug)]
struct Built {
    /// The catalog's version and the number of drug items it was built from.
    key: (u64, u64),
    /// It holds an item of the catalog's version (so the import's items have arrived).
    complete: bool,
    at: Instant,
    entries: Arc<Vec<DrugEntry>>,
}

/// The console's drug list, kept between searches (see the module docs).
#[derive(Debug, Default)]
pub struct DrugIndex {
    built: Mutex<Option<Built>>,
}

impl DrugIndex {
    /// Every drug in force, built again if the catalog changed. Blocking: call it from
    /// `blocking`.
    pub fn entries(&self, store: &Store) -> Result<Arc<Vec<DrugEntry>>, ReadError> {
        let version = store
            .get::<DrugCatalog>(catalog_id(CatalogKind::Drug))?
            .map_or(0, |c| c.version);
        let key = (version, store.count_of_kind(RecordKind::DrugItem)?);
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
        for (code, id) in store.catalog_codes(CatalogKind::Drug)? {
            if let Some(item) = store.get::<DrugItem>(id)? {
                newest = newest.max(item.version);
                if !item.withdrawn {
                    entries.push(DrugEntry::new(&code, &item.drug));
                }
            }
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
    use lifeline_core::record::Drug;

    fn drug(name_zh: &str, name_en: &str) -> Drug {
        Drug {
            name_zh: name_zh.to_owned(),
            name_en: name_en.to_owned(),
            spec: "0.125g*12袋".to_owned(),
            form: "granules".to_owned(),
            unit: "盒".to_owned(),
            price: Fen(1280),
            insurance_class: "A".to_owned(),
        }
    }

    fn catalog() -> Vec<DrugEntry> {
        vec![
            DrugEntry::new("DRG-0001", &drug("阿莫西林颗粒", "Amoxicillin granules")),
            DrugEntry::new(
                "DRG-0002",
                &drug(
                    "阿莫西林克拉维酸钾干混悬剂",
                    "Amoxicillin-clavulanate suspension",
                ),
            ),
            DrugEntry::new("DRG-0010", &drug("布洛芬混悬液", "Ibuprofen suspension")),
            DrugEntry::new("DRG-0020", &drug("维生素D滴剂", "Vitamin D drops")),
            DrugEntry::new("DRG-0030", &drug("银黄颗粒", "Yinhuang granules")),
        ]
    }

    fn codes(found: &[&DrugEntry]) -> Vec<String> {
        found.iter().map(|e| e.code.clone()).collect()
    }

    #[test]
    fn initials_of_a_name_count_every_reading() {
        let a = initials_of("阿莫西林");
        assert_eq!(a.len(), 4);
        for (mask, letter) in a.iter().zip(['a', 'm', 'x', 'l']) {
            assert_ne!(mask & bit(letter).expect("a letter"), 0, "{letter}");
        }
        // 行 reads xíng or háng: either initial finds it.
        let h = initials_of("行");
        assert_ne!(h[0] & bit('x').expect("x"), 0);
        assert_ne!(h[0] & bit('h').expect("h"), 0);
        // Letters and digits stand for themselves, punctuation is skipped.
        assert_eq!(initials_of("维生素D(3)").len(), 5);
    }

    #[test]
    fn search_by_initials_name_english_and_code() {
        let c = catalog();
        assert_eq!(codes(&search(&c, "amxl", 20)), ["DRG-0001", "DRG-0002"]);
        // All of a name's initials come before the start of a longer name's.
        assert_eq!(codes(&search(&c, "AMXLKL", 20)), ["DRG-0001", "DRG-0002"]);
        assert_eq!(codes(&search(&c, "amxlklw", 20)), ["DRG-0002"]);
        assert_eq!(codes(&search(&c, "blf", 20)), ["DRG-0010"]);
        assert_eq!(codes(&search(&c, "yhkl", 20)), ["DRG-0030"]);
        // Initials inside a name, then anywhere in the English name, by code.
        assert_eq!(
            codes(&search(&c, "kl", 20)),
            ["DRG-0001", "DRG-0002", "DRG-0030"]
        );
        assert_eq!(
            codes(&search(&c, "a", 20)),
            ["DRG-0001", "DRG-0002", "DRG-0020", "DRG-0030"]
        );
        assert_eq!(codes(&search(&c, "wssd", 20)), ["DRG-0020"]);
        assert_eq!(codes(&search(&c, "布洛芬", 20)), ["DRG-0010"]);
        assert_eq!(codes(&search(&c, "混悬", 20)), ["DRG-0002", "DRG-0010"]);
        assert_eq!(codes(&search(&c, "ibuprofen", 20)), ["DRG-0010"]);
        assert_eq!(codes(&search(&c, "drg-001", 20)), ["DRG-0010"]);
        assert_eq!(codes(&search(&c, "DRG-0001", 20))[0], "DRG-0001");
        assert!(search(&c, "zzz", 20).is_empty());
        assert!(search(&c, "  ", 20).is_empty());
        assert_eq!(search(&c, "drg", 2).len(), 2);
    }

    #[test]
    fn a_typed_drug_resolves_to_one_code_or_names_the_candidates() {
        let c = catalog();
        assert_eq!(resolve(&c, "drg-0010"), Ok(Some("DRG-0010".to_owned())));
        assert_eq!(resolve(&c, "阿莫西林颗粒"), Ok(Some("DRG-0001".to_owned())));
        assert_eq!(resolve(&c, "amxlkl"), Ok(Some("DRG-0001".to_owned())));
        assert_eq!(resolve(&c, "nothing-like-it"), Ok(None));
        let several = resolve(&c, "amxl").expect_err("two drugs");
        assert_eq!(
            several,
            [
                "DRG-0001 阿莫西林颗粒",
                "DRG-0002 阿莫西林克拉维酸钾干混悬剂"
            ]
        );
    }
}
