//! The numbered lines of the doctor's forms (a prescription's drugs, an order's service
//! items): each line is what was typed for the item (a code, a name, or pinyin initials naming
//! one item of the list) and a quantity. Blank lines are skipped; a line naming several items
//! is refused with the candidates, so the doctor chooses one.

use std::collections::BTreeMap;

use super::search::{Entry, resolve};
use crate::api::ApiError;

/// What a line whose item names nothing in the list becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Taken as a code as typed: the core refuses an unknown code with its own message.
    AsCode,
    /// Refused here: the list is all this form may order.
    Refused,
}

/// The names of one form's fields: `{item}{i}` and `{quantity}{i}` for the `i`-th line, and
/// how an error names the line (`{field}[{i}].{code}`, as the JSON API's body names it).
#[derive(Debug, Clone, Copy)]
pub struct Lines {
    pub item: &'static str,
    pub quantity: &'static str,
    pub field: &'static str,
    pub code: &'static str,
    pub unknown: Unknown,
}

/// One filled line of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its number on the form, from 0 (for the line's other fields).
    pub index: usize,
    pub code: String,
    pub quantity: u32,
}

impl Lines {
    /// The filled lines among the first `count` of form `f`, items resolved in `catalog`.
    /// Quantities are checked to be whole numbers here; their range is the core's rule.
    pub fn read(
        &self,
        f: &BTreeMap<String, String>,
        catalog: &[Entry],
        count: usize,
    ) -> Result<Vec<Line>, ApiError> {
        let mut out = Vec::new();
        for index in 0..count {
            let typed = f
                .get(&format!("{}{index}", self.item))
                .map(|d| d.trim())
                .unwrap_or_default();
            if typed.is_empty() {
                continue;
            }
            let code_field = format!("{}[{index}].{}", self.field, self.code);
            let code = match resolve(catalog, typed) {
                Ok(Some(code)) => code,
                Ok(None) => match self.unknown {
                    Unknown::AsCode => typed.to_owned(),
                    Unknown::Refused => {
                        return Err(ApiError::bad_request(
                            &code_field,
                            format!("{typed:?} names no item of the list; choose one from it"),
                        ));
                    }
                },
                Err(several) => {
                    return Err(ApiError::bad_request(
                        &code_field,
                        format!(
                            "{typed:?} names several items ({}); choose one from the list",
                            several.join(", ")
                        ),
                    ));
                }
            };
            let quantity = match f
                .get(&format!("{}{index}", self.quantity))
                .map(|q| q.trim().parse::<u32>())
            {
                Some(Ok(q)) => q,
                _ => {
                    return Err(ApiError::bad_request(
                        &format!("{}[{index}].quantity", self.field),
                        "a whole number",
                    ));
                }
            };
            out.push(Line {
                index,
                code,
                quantity,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_core::money::Fen;
    use lifeline_core::record::Service;

    fn catalog() -> Vec<Entry> {
        [
            ("SVC-CBC", "血常规"),
            ("SVC-UA", "尿常规"),
            ("SVC-STOOL", "大便常规"),
        ]
        .into_iter()
        .map(|(code, name)| {
            Entry::service(
                code,
                &Service {
                    name_zh: name.to_owned(),
                    name_en: String::new(),
                    unit: "次".to_owned(),
                    price: Fen(1000),
                    category: "lab".to_owned(),
                },
            )
        })
        .collect()
    }

    const ORDER: Lines = Lines {
        item: "svc",
        quantity: "svcqty",
        field: "lines",
        code: "code",
        unknown: Unknown::Refused,
    };

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn filled_lines_resolve_and_blank_ones_are_skipped() {
        let f = form(&[
            ("svc0", " xcg "),
            ("svcqty0", "2"),
            ("svc1", ""),
            ("svcqty1", "1"),
            ("svc2", "SVC-UA"),
            ("svcqty2", " 1 "),
        ]);
        let lines = ORDER.read(&f, &catalog(), 3).expect("two lines");
        assert_eq!(
            lines,
            [
                Line {
                    index: 0,
                    code: "SVC-CBC".to_owned(),
                    quantity: 2
                },
                Line {
                    index: 2,
                    code: "SVC-UA".to_owned(),
                    quantity: 1
                },
            ]
        );
        // Lines past `count` are not read.
        assert_eq!(ORDER.read(&f, &catalog(), 1).expect("one").len(), 1);
        assert!(
            ORDER
                .read(&form(&[]), &catalog(), 3)
                .expect("none")
                .is_empty()
        );
    }

    #[test]
    fn bad_lines_are_refused_with_the_field() {
        let several = ORDER
            .read(&form(&[("svc0", "cg"), ("svcqty0", "1")]), &catalog(), 3)
            .expect_err("three answer cg");
        assert_eq!(several.field.as_deref(), Some("lines[0].code"));
        assert!(
            several.message.contains("SVC-CBC 血常规"),
            "{}",
            several.message
        );
        let unknown = ORDER
            .read(
                &form(&[("svc1", "SVC-REG"), ("svcqty1", "1")]),
                &catalog(),
                3,
            )
            .expect_err("not in the list");
        assert_eq!(unknown.field.as_deref(), Some("lines[1].code"));
        let as_code = Lines {
            unknown: Unknown::AsCode,
            ..ORDER
        };
        let kept = as_code
            .read(
                &form(&[("svc0", "DRG-9999"), ("svcqty0", "1")]),
                &catalog(),
                3,
            )
            .expect("taken as a code");
        assert_eq!(kept[0].code, "DRG-9999");
        for bad in ["", "two", "-1", "1.5", "99999999999"] {
            let e = ORDER
                .read(&form(&[("svc0", "xcg"), ("svcqty0", bad)]), &catalog(), 3)
                .expect_err(bad);
            assert_eq!(e.field.as_deref(), Some("lines[0].quantity"), "{bad}");
        }
        let missing = ORDER
            .read(&form(&[("svc0", "xcg")]), &catalog(), 3)
            .expect_err("no quantity");
        assert_eq!(missing.field.as_deref(), Some("lines[0].quantity"));
    }
}
