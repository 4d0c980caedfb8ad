//! `lifeline his check`: the mapping against the live HIS. Every pull's SQL is prepared (not
//! run) and each mapped column must be in its result with a type that holds what Lifeline
//! reads there; every interface table must exist with each mapped column of a fitting type.
//! What is wrong is listed, each line naming the section, the field and the column.

use serde::{Deserialize, Serialize};

use super::db::{ColumnInfo, DbError, Expected, HisDatabase};
use super::mapping::{self, Columns, Fields, Mapping};

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Everything checked, one line each.
    pub checked: Vec<String>,
    /// What is wrong, one line each; empty: the mapping fits the HIS.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn compare<D: HisDatabase>(
    db: &D,
    report: &mut CheckReport,
    at: &str,
    columns: &Columns,
    fields: &[(&'static str, mapping::Need, Expected)],
    found: &[ColumnInfo],
) {
    for (field, column) in columns {
        let Some((_, _, expected)) = fields.iter().find(|(f, _, _)| f == field) else {
            continue;
        };
        match found.iter().find(|c| &c.name == column) {
            None => report.problems.push(format!(
                "{at}: {field} is mapped to column {column}, which is not there"
            )),
            Some(c) if !db.type_fits(&c.type_name, *expected) => report.problems.push(format!(
                "{at}: {field} (column {column}) is of type {}, but Lifeline reads {} there",
                c.type_name,
                expected.name()
            )),
            Some(_) => {}
        }
    }
}

/// Checks every section of `mapping` against the HIS behind `db`. Fails only when the HIS
/// cannot be reached; a statement the HIS refuses is a problem in the report.
pub async fn check<D: HisDatabase>(db: &mut D, mapping: &Mapping) -> Result<CheckReport, DbError> {
    let mut report = CheckReport::default();
    let p = &mapping.pull;
    let catalogs: [(&str, &mapping::CatalogPull, Fields); 4] = [
        ("departments", &p.departments, mapping::DEPARTMENT_FIELDS),
        ("doctors", &p.doctors, mapping::DOCTOR_FIELDS),
        ("services", &p.services, mapping::SERVICE_FIELDS),
        ("drugs", &p.drugs, mapping::DRUG_FIELDS),
    ];
    let mut pulls: Vec<(String, String, &Columns, Fields)> = Vec::new();
    for (name, s, fields) in catalogs {
        pulls.push((
            format!("pull.{name}.changed_sql"),
            s.changed_sql.clone(),
            &s.columns,
            &[],
        ));
        pulls.push((
            format!("pull.{name}.sql"),
            s.sql.clone(),
            &s.columns,
            fields,
        ));
    }
    for (name, s, fields) in [
        ("patients", &p.patients, mapping::PATIENT_FIELDS),
        (
            "registrations",
            &p.registrations,
            mapping::REGISTRATION_FIELDS,
        ),
        (
            "prescriptions",
            &p.prescriptions,
            mapping::PRESCRIPTION_FIELDS,
        ),
        ("invoices", &p.invoices, mapping::INVOICE_FIELDS),
        ("charges", &p.charges, mapping::CHARGE_FIELDS),
    ] {
        pulls.push((
            format!("pull.{name}.sql"),
            s.sql.clone(),
            &s.columns,
            fields,
        ));
    }
    for (at, sql, columns, fields) in pulls {
        match db.describe(&sql).await {
            Ok(found) => {
                report
                    .checked
                    .push(format!("{at}: {} columns", found.len()));
                compare(db, &mut report, &at, columns, fields, &found);
            }
            Err(e) if e.is_unreachable() => return Err(e),
            Err(e) => report.problems.push(format!(
                "{at}: the HIS refuses it: {}",
                crate::error::chain(&e)
            )),
        }
    }
    let q = &mapping.push;
    for (name, s, fields) in [
        ("patients", &q.patients, mapping::PUSH_PATIENT_FIELDS),
        (
            "registrations",
            &q.registrations,
            mapping::PUSH_REGISTRATION_FIELDS,
        ),
        (
            "prescriptions",
            &q.prescriptions,
            mapping::PUSH_PRESCRIPTION_FIELDS,
        ),
        ("charges", &q.charges, mapping::PUSH_CHARGE_FIELDS),
    ] {
        let at = format!("push.{name} ({})", s.table);
        let found = db.columns(&s.table).await?;
        if found.is_empty() {
            report.problems.push(format!(
                "{at}: no such table (or the bridge's role may not see it)"
            ));
            continue;
        }
        report
            .checked
            .push(format!("{at}: {} columns", found.len()));
        compare(
            db,
            &mut report,
            &at,
            &s.columns,
            &mapping::push_fields(fields),
            &found,
        );
        for c in &found {
            let mapped = s.columns.values().any(|m| m == &c.name);
            if !c.nullable && !mapped && c.name != "revision" {
                report.checked.push(format!(
                    "{at}: column {} is NOT NULL and not mapped (it needs a default in the HIS)",
                    c.name
                ));
            }
        }
    }
    Ok(report)
}
