//! The doctor's catalog searches, one way for drugs and service items (examinations, lab
//! tests, treatments): by code, by name (Chinese or English), or by the pinyin initials of the
//! Chinese name (阿莫西林颗粒 → `amxlkl`, 血常规 → `xcg`), every reading of a character with
//! several counted (行 → x or h). A search scans a list of [`Entry`]s, which
//! [`super::lists`] keeps per catalog.

use lifeline_core::money::Fen;
use lifeline_core::record::{Drug, Service};
use pinyin::ToPinyinMulti;
use serde::Serialize;

use crate::i18n::money;

/// How many items a search answers at most.
pub const SEARCH_LIMIT: usize = 20;

/// One catalog item as the search sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// What tells items of one name apart: a drug's specification; empty for a service.
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

impl Entry {
    fn new(code: &str, name_zh: &str, name_en: &str, spec: &str, unit: &str, price: Fen) -> Entry {
        Entry {
            code: code.to_owned(),
            name_zh: name_zh.to_owned(),
            name_en: name_en.to_owned(),
            spec: spec.to_owned(),
            unit: unit.to_owned(),
            price,
            initials: initials_of(name_zh),
            lower_code: code.to_lowercase(),
            lower_en: name_en.to_lowercase(),
        }
    }

    pub fn drug(code: &str, drug: &Drug) -> Entry {
        Entry::new(
            code,
            &drug.name_zh,
            &drug.name_en,
            &drug.spec,
            &drug.unit,
            drug.price,
        )
    }

    pub fn service(code: &str, service: &Service) -> Entry {
        Entry::new(
            code,
            &service.name_zh,
            &service.name_en,
            "",
            &service.unit,
            service.price,
        )
    }

    /// The item as a search list offers it: its name, its specification if it has one, and
    /// its price per unit (`阿莫西林颗粒 0.125g*12袋 ¥12.80/盒`).
    pub fn label(&self) -> String {
        let mut out = self.name_zh.clone();
        if !self.spec.is_empty() {
            out.push(' ');
            out.push_str(&self.spec);
        }
        out.push(' ');
        out.push_str(&money(self.price));
        if !self.unit.is_empty() {
            out.push('/');
            out.push_str(&self.unit);
        }
        out
    }

    /// How well this item answers `q` (smaller is better), or `None` if it does not: its
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

/// The worst rank that names one item exactly (its code, its name, or all its initials).
const EXACT: u8 = 2;

/// The items answering `query`, best first (then by code), at most `limit`.
pub fn search<'a>(entries: &'a [Entry], query: &str, limit: usize) -> Vec<&'a Entry> {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    let letters: Option<Vec<u64>> = q.chars().map(bit).collect();
    let mut found: Vec<(u8, &Entry)> = entries
        .iter()
        .filter_map(|e| e.rank(&q, letters.as_deref()).map(|r| (r, e)))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.code.cmp(&b.1.code)));
    found.into_iter().take(limit).map(|(_, e)| e).collect()
}

/// What a typed line names: a code, an exact name, or the one item a search finds. `Err`
/// with the candidates when several items answer it; `Ok(None)` when none does.
pub fn resolve(entries: &[Entry], typed: &str) -> Result<Option<String>, Vec<String>> {
    let found = search(entries, typed, SEARCH_LIMIT);
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.code.clone())),
        [best, second, ..] => {
            let q = typed.trim().to_lowercase();
            let letters: Option<Vec<u64>> = q.chars().map(bit).collect();
            let exact = |e: &Entry| e.rank(&q, letters.as_deref()).is_some_and(|r| r <= EXACT);
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

#[cfg(test)]
mod tests {
    use super::*;

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

    fn catalog() -> Vec<Entry> {
        vec![
            Entry::drug("DRG-0001", &drug("阿莫西林颗粒", "Amoxicillin granules")),
            Entry::drug(
                "DRG-0002",
                &drug(
                    "阿莫西林克拉维酸钾干混悬剂",
                    "Amoxicillin-clavulanate suspension",
                ),
            ),
            Entry::drug("DRG-0010", &drug("布洛芬混悬液", "Ibuprofen suspension")),
            Entry::drug("DRG-0020", &drug("维生素D滴剂", "Vitamin D drops")),
            Entry::drug("DRG-0030", &drug("银黄颗粒", "Yinhuang granules")),
        ]
    }

    fn codes(found: &[&Entry]) -> Vec<String> {
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

    fn service(name_zh: &str, name_en: &str, price: i64, category: &str) -> Service {
        Service {
            name_zh: name_zh.to_owned(),
            name_en: name_en.to_owned(),
            unit: "次".to_owned(),
            price: Fen(price),
            category: category.to_owned(),
        }
    }

    fn services() -> Vec<Entry> {
        [
            ("SVC-CBC", "血常规", "Complete blood count", 2000, "lab"),
            ("SVC-UA", "尿常规", "Urinalysis", 1200, "lab"),
            ("SVC-STOOL", "大便常规", "Stool routine", 1000, "lab"),
            ("SVC-CXR", "胸部正位片", "Chest X-ray (AP)", 6000, "imaging"),
            ("SVC-NEB", "雾化吸入", "Nebulization", 1500, "treatment"),
        ]
        .into_iter()
        .map(|(code, zh, en, price, category)| {
            Entry::service(code, &service(zh, en, price, category))
        })
        .collect()
    }

    #[test]
    fn services_are_searched_the_way_drugs_are() {
        let c = services();
        assert_eq!(codes(&search(&c, "xcg", 20)), ["SVC-CBC"]);
        assert_eq!(codes(&search(&c, "XCG", 20)), ["SVC-CBC"]);
        // 常规 inside three names: by code after those whose initials start with it.
        assert_eq!(
            codes(&search(&c, "cg", 20)),
            ["SVC-CBC", "SVC-STOOL", "SVC-UA"]
        );
        assert_eq!(codes(&search(&c, "svc-c", 20)), ["SVC-CBC", "SVC-CXR"]);
        assert_eq!(codes(&search(&c, "x-ray", 20)), ["SVC-CXR"]);
        assert_eq!(codes(&search(&c, "雾化", 20)), ["SVC-NEB"]);
        assert_eq!(resolve(&c, "xcg"), Ok(Some("SVC-CBC".to_owned())));
        assert_eq!(resolve(&c, "svc-ua"), Ok(Some("SVC-UA".to_owned())));
        assert_eq!(resolve(&c, "尿常规"), Ok(Some("SVC-UA".to_owned())));
        assert!(resolve(&c, "cg").is_err(), "three services answer cg");
        assert_eq!(resolve(&c, "ct"), Ok(None));
    }

    #[test]
    fn labels_say_name_spec_and_price_per_unit() {
        assert_eq!(
            Entry::drug("DRG-0001", &drug("阿莫西林颗粒", "Amoxicillin granules")).label(),
            "阿莫西林颗粒 0.125g*12袋 ¥12.80/盒"
        );
        assert_eq!(services()[0].label(), "血常规 ¥20.00/次");
    }
}
