//! The mapping between an HIS and Lifeline: the SQL each pull runs, which column of its
//! result holds each Lifeline field, the HIS's codes for Lifeline's values, and the
//! interface tables a push writes. The reference schema's mapping is built in
//! (`reference.toml`, documented in docs/his.md); a hospital with other names and codes gives
//! its own file in `[his] mapping`. Everything is checked when the file is read: an unknown
//! field, a missing required one, or a code mapped to a value Lifeline does not have is an
//! error naming it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::db::Expected;
use super::money::SubFen;

/// The built-in mapping of the reference HIS schema.
pub const REFERENCE: &str = include_str!("reference.toml");

/// Lifeline field → column of the query's result (pulls) or of the table (pushes).
pub type Columns = BTreeMap<String, String>;
/// Field → (code → value): the HIS's codes and Lifeline's values.
pub type Codes = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub money: MoneyRules,
    pub pull: Pulls,
    pub push: Pushes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyRules {
    pub sub_fen: SubFen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pulls {
    /// Rows read per query (and imported per commit).
    pub page_rows: u32,
    pub departments: CatalogPull,
    pub doctors: CatalogPull,
    pub services: CatalogPull,
    pub drugs: CatalogPull,
    pub patients: TablePull,
    pub registrations: TablePull,
    pub prescriptions: TablePull,
    pub invoices: TablePull,
    pub charges: TablePull,
}

/// A catalog, read whole whenever `changed_sql` answers differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogPull {
    pub changed_sql: String,
    pub sql: String,
    /// Departments: the service item priced as the ordinary registration fee.
    #[serde(default)]
    pub registration_fee_item: Option<String>,
    /// Departments: the service item priced as the expert registration fee.
    #[serde(default)]
    pub expert_fee_item: Option<String>,
    pub columns: Columns,
    #[serde(default)]
    pub codes: Codes,
}

/// A table read incrementally: `sql` gets ($1 last updated_at, $2 last key, $3 page size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablePull {
    pub sql: String,
    pub columns: Columns,
    #[serde(default)]
    pub codes: Codes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pushes {
    /// Records written per transaction of the HIS.
    pub batch_rows: u32,
    pub patients: TablePush,
    pub registrations: TablePush,
    pub prescriptions: TablePush,
    pub charges: TablePush,
}

/// An interface table and its columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablePush {
    /// `schema.table`.
    pub table: String,
    pub columns: Columns,
    #[serde(default)]
    pub codes: Codes,
}

/// Whether a field must be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

use Expected as E;
use Need::{Optional as O, Required as R};

/// What a section's fields are: name, need, what the column holds.
pub type Fields = &'static [(&'static str, Need, Expected)];
/// Which fields are coded, and the values Lifeline has for them.
pub type Coded = &'static [(&'static str, &'static [&'static str])];

const ACTIVE: &[&str] = &["true", "false"];

pub const DEPARTMENT_FIELDS: Fields = &[
    ("code", R, E::Key),
    ("name", R, E::Text),
    ("name_en", O, E::Text),
    ("active", O, E::Text),
];
pub const DOCTOR_FIELDS: Fields = &[
    ("code", R, E::Key),
    ("name", R, E::Text),
    ("department", R, E::Key),
    ("title", O, E::Text),
    ("active", O, E::Text),
];
pub const SERVICE_FIELDS: Fields = &[
    ("code", R, E::Key),
    ("name", R, E::Text),
    ("name_en", O, E::Text),
    ("unit", O, E::Text),
    ("price", R, E::Decimal),
    ("category", O, E::Text),
    ("active", O, E::Text),
];
pub const DRUG_FIELDS: Fields = &[
    ("code", R, E::Key),
    ("name", R, E::Text),
    ("name_en", O, E::Text),
    ("spec", O, E::Text),
    ("form", O, E::Text),
    ("unit", O, E::Text),
    ("price", R, E::Decimal),
    ("insurance_class", O, E::Text),
    ("active", O, E::Text),
];
pub const PATIENT_FIELDS: Fields = &[
    ("key", R, E::Key),
    ("updated_at", R, E::Timestamp),
    ("his_id", R, E::Key),
    ("patient_no", O, E::Key),
    ("name", R, E::Text),
    ("sex", R, E::Text),
    ("birth_date", R, E::Date),
    ("id_type", O, E::Text),
    ("id_no", O, E::Text),
    ("phone", O, E::Text),
    ("guardian_name", O, E::Text),
    ("guardian_relationship", O, E::Text),
    ("guardian_phone", O, E::Text),
    ("guardian_national_id", O, E::Text),
    ("insurance", O, E::Text),
    ("deleted", O, E::Text),
    ("merged_into", O, E::Key),
    ("created_at", O, E::Timestamp),
];
pub const REGISTRATION_FIELDS: Fields = &[
    ("key", R, E::Key),
    ("updated_at", R, E::Timestamp),
    ("his_id", R, E::Key),
    ("registration_no", R, E::Key),
    ("patient", R, E::Key),
    ("department", R, E::Key),
    ("doctor", O, E::Key),
    ("registered_at", R, E::Timestamp),
    ("fee", O, E::Decimal),
    ("status", R, E::Text),
];
pub const PRESCRIPTION_FIELDS: Fields = &[
    ("key", R, E::Key),
    ("updated_at", R, E::Timestamp),
    ("his_id", R, E::Key),
    ("registration", R, E::Key),
    ("written_at", R, E::Timestamp),
    ("status", R, E::Text),
    ("items", R, E::Json),
];
pub const INVOICE_FIELDS: Fields = &[
    ("key", R, E::Key),
    ("updated_at", R, E::Timestamp),
    ("his_id", R, E::Key),
    ("number", R, E::Key),
    ("code", R, E::Text),
    ("total", R, E::Decimal),
    ("issued_at", R, E::Timestamp),
    ("status", O, E::Text),
];
pub const CHARGE_FIELDS: Fields = &[
    ("key", R, E::Key),
    ("updated_at", R, E::Timestamp),
    ("his_id", R, E::Key),
    ("registration", R, E::Key),
    ("catalog", R, E::Text),
    ("code", R, E::Key),
    ("quantity", R, E::Decimal),
    ("amount", R, E::Decimal),
    ("status", R, E::Text),
    ("payment", O, E::Text),
    ("invoice", O, E::Key),
    ("charged_at", R, E::Timestamp),
];

pub const CATALOG_CODED: Coded = &[("active", ACTIVE)];
pub const SERVICE_CODED: Coded = &[
    ("active", ACTIVE),
    ("category", &[]), // free: any value is kept as the category's name
];
pub const PATIENT_CODED: Coded = &[
    ("sex", &["male", "female", "unknown"]),
    ("insurance", &["self_pay", "employee", "resident"]),
    ("deleted", ACTIVE),
    ("id_type", &["national_id", "other"]),
];
pub const REGISTRATION_CODED: Coded = &[(
    "status",
    &[
        "registered",
        "queued",
        "called",
        "seen",
        "cancelled",
        "skip",
    ],
)];
pub const PRESCRIPTION_CODED: Coded = &[(
    "status",
    &["issued", "printed", "dispensed", "cancelled", "skip"],
)];
pub const INVOICE_CODED: Coded = &[("status", &["issued", "voided", "skip"])];
pub const CHARGE_CODED: Coded = &[
    ("catalog", &["service", "drug"]),
    ("status", &["pending", "settled", "refunded", "skip"]),
    ("payment", PAYMENT_CHANNELS),
];

/// Lifeline's payment channels, as the mapping names them.
const PAYMENT_CHANNELS: &[&str] = &[
    "cash",
    "bank_card",
    "wechat",
    "alipay",
    "insurance_fund",
    "personal_account",
];

/// The interface columns every pushed table needs, besides its own.
const PUSH_COMMON: [(&str, Need, Expected); 8] = [
    ("ext_id", R, E::Text),
    ("revision", R, E::Integer),
    // Set by the HIS's import job: the id it gave the row. Written only on a row that is a
    // change to a record that came from the HIS: its id there.
    ("his_id", O, E::Key),
    ("episode", O, E::Text),
    ("written_at", O, E::Timestamp),
    ("written_by", O, E::Text),
    ("imported_at", R, E::Timestamp),
    ("import_error", R, E::Text),
];
pub const PUSH_PATIENT_FIELDS: Fields = &[
    ("his_patient_id", O, E::Key),
    ("name", R, E::Text),
    ("sex", R, E::Text),
    ("birth_date", O, E::Date),
    ("id_type", O, E::Text),
    ("national_id", O, E::Text),
    ("phone", O, E::Text),
    ("guardian_name", O, E::Text),
    ("guardian_phone", O, E::Text),
    ("insurance", O, E::Text),
];
pub const PUSH_REGISTRATION_FIELDS: Fields = &[
    ("patient_ext_id", O, E::Text),
    ("his_patient_id", O, E::Key),
    ("registration_no", R, E::Text),
    ("department", R, E::Text),
    ("doctor", O, E::Text),
    ("visit_date", O, E::Date),
    ("registered_at", O, E::Timestamp),
    ("fee", O, E::Decimal),
    ("status", R, E::Text),
];
pub const PUSH_PRESCRIPTION_FIELDS: Fields = &[
    ("registration_ext_id", O, E::Text),
    ("his_registration_id", O, E::Key),
    ("doctor", O, E::Text),
    ("department", O, E::Text),
    ("prescribed_at", O, E::Timestamp),
    ("status", R, E::Text),
    ("items", R, E::Json),
];
pub const PUSH_CHARGE_FIELDS: Fields = &[
    ("registration_ext_id", O, E::Text),
    ("his_registration_id", O, E::Key),
    ("catalog", R, E::Text),
    ("code", R, E::Text),
    ("quantity", R, E::Decimal),
    ("amount", R, E::Decimal),
    ("status", R, E::Text),
    ("payment", O, E::Text),
    ("resettle_pending", O, E::Text),
    ("invoice_no", O, E::Text),
    ("invoice_code", O, E::Text),
    ("charged_at", O, E::Timestamp),
];
pub const PUSH_PATIENT_CODED: Coded = &[
    ("sex", &["male", "female", "unknown"]),
    ("insurance", &["self_pay", "employee", "resident"]),
    ("id_type", &["national_id"]),
];
pub const PUSH_REGISTRATION_CODED: Coded = &[(
    "status",
    &[
        "registered",
        "paused",
        "queued",
        "called",
        "seen",
        "cancelled",
    ],
)];
pub const PUSH_PRESCRIPTION_CODED: Coded =
    &[("status", &["issued", "printed", "dispensed", "cancelled"])];
pub const PUSH_CHARGE_CODED: Coded = &[
    ("catalog", &["service", "drug", "department"]),
    ("status", &["pending", "settled", "invoiced", "refunded"]),
    ("payment", PAYMENT_CHANNELS),
    ("resettle_pending", ACTIVE),
];

/// The fields of a push section: its own and the common interface columns.
pub fn push_fields(own: Fields) -> Vec<(&'static str, Need, Expected)> {
    own.iter().copied().chain(PUSH_COMMON).collect()
}

impl Mapping {
    /// The reference schema's mapping.
    pub fn reference() -> Mapping {
        Mapping::parse(REFERENCE, "the built-in reference mapping")
            .expect("the built-in reference mapping is valid (a unit test reads it)")
    }

    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> anyhow::Result<Mapping> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the HIS mapping {}", path.display()))?;
        Mapping::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, name: &str) -> anyhow::Result<Mapping> {
        let mapping: Mapping = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{name}: {}", e.to_string().trim_end()))?;
        mapping
            .check()
            .with_context(|| format!("{name} is not a usable HIS mapping"))?;
        Ok(mapping)
    }

    /// The checks serde cannot make.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.pull.page_rows == 0 || self.pull.page_rows > 100_000 {
            bail!("pull.page_rows must be between 1 and 100000");
        }
        if self.push.batch_rows == 0 || self.push.batch_rows > 10_000 {
            bail!("push.batch_rows must be between 1 and 10000");
        }
        let p = &self.pull;
        for (name, section, fields, coded) in [
            (
                "departments",
                &p.departments,
                DEPARTMENT_FIELDS,
                CATALOG_CODED,
            ),
            ("doctors", &p.doctors, DOCTOR_FIELDS, CATALOG_CODED),
            ("services", &p.services, SERVICE_FIELDS, SERVICE_CODED),
            ("drugs", &p.drugs, DRUG_FIELDS, CATALOG_CODED),
        ] {
            let at = format!("pull.{name}");
            check_sql(&at, "sql", &section.sql)?;
            check_sql(&at, "changed_sql", &section.changed_sql)?;
            check_columns(&at, &section.columns, fields)?;
            check_codes(&at, &section.codes, coded, Direction::Pull)?;
            if name != "departments"
                && (section.registration_fee_item.is_some() || section.expert_fee_item.is_some())
            {
                bail!("{at}: registration_fee_item and expert_fee_item belong to pull.departments");
            }
        }
        for (name, section, fields, coded) in [
            ("patients", &p.patients, PATIENT_FIELDS, PATIENT_CODED),
            (
                "registrations",
                &p.registrations,
                REGISTRATION_FIELDS,
                REGISTRATION_CODED,
            ),
            (
                "prescriptions",
                &p.prescriptions,
                PRESCRIPTION_FIELDS,
                PRESCRIPTION_CODED,
            ),
            ("invoices", &p.invoices, INVOICE_FIELDS, INVOICE_CODED),
            ("charges", &p.charges, CHARGE_FIELDS, CHARGE_CODED),
        ] {
            let at = format!("pull.{name}");
            check_sql(&at, "sql", &section.sql)?;
            for n in 1..=3 {
                if !section.sql.contains(&format!("${n}")) {
                    bail!(
                        "{at}.sql does not use ${n}: an incremental pull takes $1 (the last updated_at), $2 (the last key) and $3 (the page size)"
                    );
                }
            }
            check_columns(&at, &section.columns, fields)?;
            check_codes(&at, &section.codes, coded, Direction::Pull)?;
        }
        let q = &self.push;
        for (name, section, fields, coded) in [
            (
                "patients",
                &q.patients,
                PUSH_PATIENT_FIELDS,
                PUSH_PATIENT_CODED,
            ),
            (
                "registrations",
                &q.registrations,
                PUSH_REGISTRATION_FIELDS,
                PUSH_REGISTRATION_CODED,
            ),
            (
                "prescriptions",
                &q.prescriptions,
                PUSH_PRESCRIPTION_FIELDS,
                PUSH_PRESCRIPTION_CODED,
            ),
            ("charges", &q.charges, PUSH_CHARGE_FIELDS, PUSH_CHARGE_CODED),
        ] {
            let at = format!("push.{name}");
            if !is_identifier_path(&section.table) {
                bail!(
                    "{at}.table {:?} is not a table name (letters, digits and _, optionally schema.table)",
                    section.table
                );
            }
            check_columns(&at, &section.columns, &push_fields(fields))?;
            for column in section.columns.values() {
                if !is_identifier_path(column) || column.contains('.') {
                    bail!("{at}.columns: {column:?} is not a column name");
                }
            }
            check_codes(&at, &section.codes, coded, Direction::Push)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// HIS code → Lifeline value.
    Pull,
    /// Lifeline value → HIS code.
    Push,
}

fn check_sql(at: &str, key: &str, sql: &str) -> anyhow::Result<()> {
    if sql.trim().is_empty() {
        bail!("{at}.{key} is empty");
    }
    Ok(())
}

fn is_identifier_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').count() <= 2
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !part.starts_with(|c: char| c.is_ascii_digit())
        })
}

fn check_columns(
    at: &str,
    columns: &Columns,
    fields: &[(&'static str, Need, Expected)],
) -> anyhow::Result<()> {
    for (field, column) in columns {
        if !fields.iter().any(|(f, _, _)| f == field) {
            let known: Vec<&str> = fields.iter().map(|(f, _, _)| *f).collect();
            bail!(
                "{at}.columns has an unknown field {field:?} (known: {})",
                known.join(", ")
            );
        }
        if column.trim().is_empty() {
            bail!("{at}.columns.{field} is empty");
        }
    }
    for (field, need, _) in fields {
        if *need == Need::Required && !columns.contains_key(*field) {
            bail!("{at}.columns lacks {field}, which is required");
        }
    }
    Ok(())
}

fn check_codes(at: &str, codes: &Codes, coded: Coded, dir: Direction) -> anyhow::Result<()> {
    for (field, map) in codes {
        let Some((_, allowed)) = coded.iter().find(|(f, _)| f == field) else {
            bail!("{at}.codes.{field}: {field} is not a coded field here");
        };
        if allowed.is_empty() {
            continue;
        }
        for (code, value) in map {
            let lifeline = match dir {
                Direction::Pull => value,
                Direction::Push => code,
            };
            if !allowed.contains(&lifeline.as_str()) {
                bail!(
                    "{at}.codes.{field}: {lifeline:?} is not one of Lifeline's values ({})",
                    allowed.join(", ")
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_mapping_is_valid() {
        let m = Mapping::reference();
        assert_eq!(m.money.sub_fen, SubFen::RoundHalfUp);
        assert_eq!(m.pull.patients.columns["his_id"], "patient_id");
        assert_eq!(m.push.charges.table, "his.yj_charge");
    }

    #[test]
    fn mistakes_in_a_mapping_are_named() {
        let err = |from: &str, to: &str| {
            let text = REFERENCE.replacen(from, to, 1);
            assert_ne!(text, REFERENCE, "{from} is in the reference");
            format!(
                "{:#}",
                Mapping::parse(&text, "m.toml").expect_err("refused")
            )
        };
        let e = err("his_id = \"patient_id\"", "hisid = \"patient_id\"");
        assert!(e.contains("hisid") && e.contains("m.toml"), "{e}");
        let e = err("\"1\" = \"male\"", "\"1\" = \"boy\"");
        assert!(e.contains("boy") && e.contains("sex"), "{e}");
        let e = err("WHERE (updated_at, patient_id) > ($1, $2)", "WHERE true");
        assert!(e.contains("$1"), "{e}");
        let e = err(
            "table = \"his.yj_patient\"",
            "table = \"his.yj_patient; DROP\"",
        );
        assert!(e.contains("not a table name"), "{e}");
        let e = err("sub_fen = \"round_half_up\"", "sub_fen = \"round\"");
        assert!(e.contains("sub_fen"), "{e}");
        let e = err("name = \"name\"\nsex", "sex");
        assert!(e.contains("lacks name"), "{e}");
    }
}
