//! The catalog files central imports: simple CSV (UTF-8, a header line, no quoted fields),
//! each line checked, errors naming the file and line.

use std::collections::BTreeMap;

use crate::money::Fen;
use crate::record::{Department, Drug, Service};

/// A CSV file that could not be read, with the line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {reason}")]
pub struct CsvError {
    pub file: &'static str,
    pub line: usize,
    pub reason: String,
}

/// Splits a simple CSV (UTF-8, a header line, no quoted fields) into rows of exactly the
/// expected columns, checking the header.
fn rows<'a>(
    file: &'static str,
    text: &'a str,
    header: &[&str],
) -> Result<Vec<(usize, Vec<&'a str>)>, CsvError> {
    let err = |line, reason: String| CsvError { file, line, reason };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let (_, first) = lines
        .next()
        .ok_or_else(|| err(1, "the file is empty".into()))?;
    let first = first.trim_start_matches('\u{feff}');
    let got: Vec<&str> = first.split(',').map(str::trim).collect();
    if got != header {
        return Err(err(
            1,
            format!("expected the header {:?}, found {got:?}", header.join(",")),
        ));
    }
    let mut out = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        if line.contains('"') {
            return Err(err(n, "quoted fields are not supported".into()));
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != header.len() {
            return Err(err(
                n,
                format!("expected {} fields, found {}", header.len(), fields.len()),
            ));
        }
        if fields[0].is_empty() {
            return Err(err(n, "the code is empty".into()));
        }
        out.push((n, fields));
    }
    Ok(out)
}

fn fen(file: &'static str, line: usize, column: &str, value: &str) -> Result<Fen, CsvError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .map(Fen)
        .ok_or_else(|| CsvError {
            file,
            line,
            reason: format!("{column} {value:?} is not a price in fen (a whole number, 0 or more)"),
        })
}

fn no_duplicates<T>(
    file: &'static str,
    rows: Vec<(usize, String, T)>,
) -> Result<BTreeMap<String, T>, CsvError> {
    let mut out = BTreeMap::new();
    for (line, code, item) in rows {
        if out.insert(code.clone(), item).is_some() {
            return Err(CsvError {
                file,
                line,
                reason: format!("code {code} appears twice"),
            });
        }
    }
    Ok(out)
}

pub fn parse_drugs(text: &str) -> Result<BTreeMap<String, Drug>, CsvError> {
    const F: &str = "drugs.csv";
    let header = [
        "code",
        "name_zh",
        "name_en",
        "spec",
        "form",
        "unit",
        "price_fen",
        "insurance_class",
    ];
    let mut parsed = Vec::new();
    for (n, f) in rows(F, text, &header)? {
        parsed.push((
            n,
            f[0].to_owned(),
            Drug {
                name_zh: f[1].to_owned(),
                name_en: f[2].to_owned(),
                spec: f[3].to_owned(),
                form: f[4].to_owned(),
                unit: f[5].to_owned(),
                price: fen(F, n, "price_fen", f[6])?,
                insurance_class: f[7].to_owned(),
            },
        ));
    }
    no_duplicates(F, parsed)
}

pub fn parse_services(text: &str) -> Result<BTreeMap<String, Service>, CsvError> {
    const F: &str = "services.csv";
    let header = [
        "code",
        "name_zh",
        "name_en",
        "unit",
        "price_fen",
        "category",
    ];
    let mut parsed = Vec::new();
    for (n, f) in rows(F, text, &header)? {
        parsed.push((
            n,
            f[0].to_owned(),
            Service {
                name_zh: f[1].to_owned(),
                name_en: f[2].to_owned(),
                unit: f[3].to_owned(),
                price: fen(F, n, "price_fen", f[4])?,
                category: f[5].to_owned(),
            },
        ));
    }
    no_duplicates(F, parsed)
}

pub fn parse_departments(text: &str) -> Result<BTreeMap<String, Department>, CsvError> {
    const F: &str = "departments.csv";
    let header = [
        "code",
        "name_zh",
        "name_en",
        "registration_fee_fen",
        "expert_fee_fen",
    ];
    let mut parsed = Vec::new();
    for (n, f) in rows(F, text, &header)? {
        parsed.push((
            n,
            f[0].to_owned(),
            Department {
                name_zh: f[1].to_owned(),
                name_en: f[2].to_owned(),
                registration_fee: fen(F, n, "registration_fee_fen", f[3])?,
                expert_fee: fen(F, n, "expert_fee_fen", f[4])?,
            },
        ));
    }
    no_duplicates(F, parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_data_parses() {
        let drugs = parse_drugs(include_str!("../../../../data/drugs.csv")).expect("drugs");
        assert_eq!(drugs.len(), 40);
        assert_eq!(drugs["DRG-0001"].price, Fen(1280));
        let services =
            parse_services(include_str!("../../../../data/services.csv")).expect("services");
        assert_eq!(services.len(), 17);
        let depts = parse_departments(include_str!("../../../../data/departments.csv"))
            .expect("departments");
        assert_eq!(depts["PED-GEN"].registration_fee, Fen(1000));
    }

    #[test]
    fn bad_csv_names_the_line() {
        let text = "code,name_zh,name_en,unit,price_fen,category\nSVC-1,a,b,c,12.5,lab\n";
        let err = parse_services(text).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("price_fen"), "{err}");
        assert!(
            parse_services("nope\n")
                .unwrap_err()
                .to_string()
                .contains("header")
        );
        let dup = "code,name_zh,name_en,unit,price_fen,category\nA,a,b,c,1,x\nA,a,b,c,1,x\n";
        assert_eq!(parse_services(dup).unwrap_err().line, 3);
        assert!(parse_services("").is_err());
    }
}
