//! HIS rows into what Lifeline imports: the catalogs, patients, registrations,
//! prescriptions, invoices and charges. A row that cannot be read is reported with its key
//! and skipped; the others go on.

use std::collections::{BTreeMap, BTreeSet};

use lifeline_core::Fen;
use lifeline_core::desk::CatalogImport;
use lifeline_core::import::{
    HisCharge, HisInvoice, HisPatient, HisPrescription, HisPrescriptionItem, HisVisit, SkippedRow,
};
use lifeline_core::record::{
    CatalogKind, Department, Doctor, Drug, Guardian, InsuranceType, PaymentChannel, Service, Sex,
};
use lifeline_core::status::{ChargeStatus, InvoiceStatus, PrescriptionStatus, Status, VisitStatus};

use super::db::{Row, Value};
use super::mapping::{CatalogPull, Mapping, TablePull};
use super::rows::{FieldError, Fields};

/// Rows turned into records of one kind, and those that were not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted<T> {
    pub items: Vec<T>,
    pub skipped: Vec<SkippedRow>,
    /// Rows the mapping says to leave out (`skip` codes): not errors.
    pub ignored: usize,
    /// Amounts with a fraction of a fen that were rounded.
    pub rounded: usize,
}

impl<T> Default for Converted<T> {
    fn default() -> Self {
        Converted {
            items: Vec::new(),
            skipped: Vec::new(),
            ignored: 0,
            rounded: 0,
        }
    }
}

/// A row's outcome: a record, a row to leave out, or why not.
enum Read<T> {
    Item(T),
    Ignore,
}

/// The row's HIS key, for reports, as well as it can be read.
fn key_of(f: &Fields<'_>) -> String {
    f.text("his_id")
        .ok()
        .flatten()
        .or_else(|| f.text("code").ok().flatten())
        .or_else(|| f.row.values.first().and_then(Value::as_text))
        .unwrap_or_else(|| "?".into())
}

fn convert<T>(
    rows: &[Row],
    pull: &TablePull,
    offset: i32,
    read: impl Fn(&Fields<'_>, &mut usize) -> Result<Read<T>, FieldError>,
) -> Converted<T> {
    let mut out = Converted::default();
    for row in rows {
        let f = Fields {
            row,
            columns: &pull.columns,
            codes: &pull.codes,
            utc_offset_min: offset,
        };
        match read(&f, &mut out.rounded) {
            Ok(Read::Item(item)) => out.items.push(item),
            Ok(Read::Ignore) => out.ignored += 1,
            Err(reason) => out.skipped.push(SkippedRow {
                his_id: key_of(&f),
                reason,
            }),
        }
    }
    out
}

fn status<S: Status>(f: &Fields<'_>, field: &str) -> Result<Option<S>, FieldError> {
    let code = f.required_code(field)?;
    if code == "skip" {
        return Ok(None);
    }
    S::parse(&code)
        .map(Some)
        .ok_or_else(|| format!("{field}: {code:?} is not a Lifeline status"))
}

pub fn patients(rows: &[Row], m: &Mapping, offset: i32) -> Converted<HisPatient> {
    convert(rows, &m.pull.patients, offset, |f, _| {
        let his_id = f.required_text("his_id")?;
        let sex = match f.required_code("sex")?.as_str() {
            "male" => Sex::Male,
            "female" => Sex::Female,
            _ => Sex::Unknown,
        };
        let insurance = match f.code("insurance")? {
            Some(Ok(v)) if v == "employee" => InsuranceType::Employee,
            Some(Ok(v)) if v == "resident" => InsuranceType::Resident,
            // Unknown and absent insurance codes bill as self-pay: never less than owed.
            _ => InsuranceType::SelfPay,
        };
        let is_national_id = matches!(f.code("id_type")?, Some(Ok(v)) if v == "national_id");
        let national_id = if is_national_id || !f.columns.contains_key("id_type") {
            f.text("id_no")?
        } else {
            None
        };
        let guardian = match f.text("guardian_name")? {
            None => None,
            Some(name) => Some(Guardian {
                name,
                relationship: f.text("guardian_relationship")?,
                phone: f.text("guardian_phone")?,
                national_id: f.text("guardian_national_id")?,
            }),
        };
        let birth_date = f
            .date("birth_date")?
            .ok_or_else(|| "birth_date is empty".to_owned())?;
        Ok(Read::Item(HisPatient {
            patient_no: f.text("patient_no")?.unwrap_or_else(|| his_id.clone()),
            name: f.required_text("name")?,
            sex,
            birth_date,
            phone: f.text("phone")?.unwrap_or_default(),
            national_id,
            insurance,
            guardian,
            created_ms: f.time_ms("created_at")?.unwrap_or(0),
            deleted: f.flag("deleted", false)?,
            merged_into: f.text("merged_into")?,
            changed: f.change_mark("updated_at")?,
            his_id,
        }))
    })
}

pub fn visits(rows: &[Row], m: &Mapping, offset: i32) -> Converted<HisVisit> {
    let rule = m.money.sub_fen;
    convert(rows, &m.pull.registrations, offset, |f, rounded| {
        let Some(status) = status::<VisitStatus>(f, "status")? else {
            return Ok(Read::Ignore);
        };
        let registered_ms = f.required_time_ms("registered_at")?;
        Ok(Read::Item(HisVisit {
            his_id: f.required_text("his_id")?,
            patient_his_id: f.required_text("patient")?,
            department: f.required_text("department")?,
            doctor: f.text("doctor")?,
            fee: f.money("fee", rule, rounded)?.unwrap_or(Fen::ZERO),
            registration_no: f.required_text("registration_no")?,
            status,
            registered_ms,
            updated_ms: f.time_ms("updated_at")?.unwrap_or(registered_ms),
        }))
    })
}

/// The lines of a prescription: a JSON array of {"drug_code", "quantity", "dosage"}.
fn items(f: &Fields<'_>) -> Result<Vec<HisPrescriptionItem>, FieldError> {
    let Some(Value::Json(serde_json::Value::Array(lines))) = f.value("items")? else {
        return Err("items: not a JSON array of lines".into());
    };
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let text = |key: &str| -> Option<String> {
            match line.get(key)? {
                serde_json::Value::String(s) => Some(s.trim().to_owned()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let drug_code = text("drug_code")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("items[{i}].drug_code is missing"))?;
        let quantity = text("quantity")
            .and_then(|q| q.parse::<super::money::Decimal>().ok())
            .and_then(|q| q.whole())
            .and_then(|q| u32::try_from(q).ok())
            .filter(|q| (1..=100_000).contains(q))
            .ok_or_else(|| {
                format!("items[{i}].quantity is not a whole quantity from 1 to 100000")
            })?;
        out.push(HisPrescriptionItem {
            drug_code,
            quantity,
            dosage: text("dosage").unwrap_or_default(),
        });
    }
    Ok(out)
}

pub fn prescriptions(rows: &[Row], m: &Mapping, offset: i32) -> Converted<HisPrescription> {
    convert(rows, &m.pull.prescriptions, offset, |f, _| {
        let Some(status) = status::<PrescriptionStatus>(f, "status")? else {
            return Ok(Read::Ignore);
        };
        let written_ms = f.required_time_ms("written_at")?;
        Ok(Read::Item(HisPrescription {
            his_id: f.required_text("his_id")?,
            visit_his_id: f.required_text("registration")?,
            items: items(f)?,
            status,
            written_ms,
            updated_ms: f.time_ms("updated_at")?.unwrap_or(written_ms),
        }))
    })
}

pub fn invoices(rows: &[Row], m: &Mapping, offset: i32) -> Converted<HisInvoice> {
    let rule = m.money.sub_fen;
    convert(rows, &m.pull.invoices, offset, |f, rounded| {
        let voided = match f.code("status")? {
            None => false,
            Some(Ok(v)) if v == "skip" => return Ok(Read::Ignore),
            Some(Ok(v)) => InvoiceStatus::parse(&v) == Some(InvoiceStatus::Voided),
            Some(Err(raw)) => {
                return Err(format!("status: the code {raw:?} is not in the mapping"));
            }
        };
        let number_text = f.required_text("number")?;
        let number = number_text
            .parse::<u64>()
            .map_err(|_| format!("number: {number_text:?} is not a number"))?;
        let issued_ms = f.required_time_ms("issued_at")?;
        Ok(Read::Item(HisInvoice {
            his_id: f.required_text("his_id")?,
            number,
            code: f.required_text("code")?,
            total: f
                .money("total", rule, rounded)?
                .ok_or_else(|| "total is empty".to_owned())?,
            voided,
            issued_ms,
            updated_ms: f.time_ms("updated_at")?.unwrap_or(issued_ms),
        }))
    })
}

pub fn charges(rows: &[Row], m: &Mapping, offset: i32) -> Converted<HisCharge> {
    let rule = m.money.sub_fen;
    convert(rows, &m.pull.charges, offset, |f, rounded| {
        let status = match f.required_code("status")?.as_str() {
            "skip" => return Ok(Read::Ignore),
            "pending" => ChargeStatus::Pending,
            "refunded" => ChargeStatus::Refunded,
            _ => ChargeStatus::Settled,
        };
        let invoice = f.text("invoice")?;
        let catalog = match f.required_code("catalog")?.as_str() {
            "drug" => CatalogKind::Drug,
            _ => CatalogKind::Service,
        };
        let channel = match f.code("payment")? {
            Some(Ok(v)) => PaymentChannel::ALL.into_iter().find(|c| c.name() == v),
            _ => None,
        };
        let charged_ms = f.required_time_ms("charged_at")?;
        Ok(Read::Item(HisCharge {
            his_id: f.required_text("his_id")?,
            visit_his_id: f.required_text("registration")?,
            catalog,
            code: f.required_text("code")?,
            quantity: f.quantity("quantity")?,
            amount: f
                .money("amount", rule, rounded)?
                .ok_or_else(|| "amount is empty".to_owned())?,
            status,
            channel,
            invoice_his_id: invoice,
            charged_ms,
            updated_ms: f.time_ms("updated_at")?.unwrap_or(charged_ms),
        }))
    })
}

/// The four catalogs as read whole from the HIS.
#[derive(Debug, Clone, Default)]
pub struct CatalogRows {
    pub departments: Vec<Row>,
    pub doctors: Vec<Row>,
    pub services: Vec<Row>,
    pub drugs: Vec<Row>,
}

fn fields<'a>(row: &'a Row, pull: &'a CatalogPull) -> Fields<'a> {
    Fields {
        row,
        columns: &pull.columns,
        codes: &pull.codes,
        utc_offset_min: 0,
    }
}

/// The active rows of a catalog with their codes; inactive ones are counted as ignored,
/// unreadable ones as skipped.
fn active<'a, T>(
    rows: &'a [Row],
    pull: &'a CatalogPull,
    out: &mut Converted<T>,
) -> Vec<(String, &'a Row)> {
    let mut taken = Vec::new();
    for row in rows {
        let f = fields(row, pull);
        let code = f
            .flag("active", true)
            .and_then(|active| active.then(|| f.required_text("code")).transpose());
        match code {
            Ok(Some(code)) => taken.push((code, row)),
            Ok(None) => out.ignored += 1,
            Err(reason) => out.skipped.push(SkippedRow {
                his_id: key_of(&f),
                reason,
            }),
        }
    }
    taken
}

/// The catalogs as the HIS has them now: every active row that could be read, and the codes
/// of the active drugs and services that could not (skipped, with why): Lifeline leaves
/// those items as they were rather than withdraw them over a bad row. A code the HIS no
/// longer has, or marks inactive, is withdrawn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HisCatalogs {
    pub import: CatalogImport,
    pub unreadable_drugs: BTreeSet<String>,
    pub unreadable_services: BTreeSet<String>,
}

/// Catalog rows into the catalogs as the HIS has them, with the rows left out and why.
pub fn catalogs(rows: &CatalogRows, m: &Mapping) -> Converted<HisCatalogs> {
    let rule = m.money.sub_fen;
    let mut out = Converted::default();
    let p = &m.pull;
    let mut services = BTreeMap::new();
    let mut unreadable_services = BTreeSet::new();
    for (code, row) in active(&rows.services, &p.services, &mut out) {
        let f = fields(row, &p.services);
        let service = (|| -> Result<Service, FieldError> {
            Ok(Service {
                name_zh: f.required_text("name")?,
                name_en: f.text("name_en")?.unwrap_or_default(),
                unit: f.text("unit")?.unwrap_or_default(),
                price: f
                    .money("price", rule, &mut out.rounded)?
                    .ok_or_else(|| "price is empty".to_owned())?,
                category: match f.code("category")? {
                    Some(Ok(v) | Err(v)) => v,
                    None => String::new(),
                },
            })
        })();
        match service {
            Ok(s) => {
                services.insert(code, s);
            }
            Err(reason) => {
                unreadable_services.insert(code.clone());
                out.skipped.push(SkippedRow {
                    his_id: code,
                    reason,
                });
            }
        }
    }
    let fee = |item: &Option<String>| {
        item.as_ref()
            .and_then(|code| services.get(code))
            .map_or(Fen::ZERO, |s| s.price)
    };
    let registration_fee = fee(&p.departments.registration_fee_item);
    let expert_fee = fee(&p.departments.expert_fee_item);
    let mut departments = BTreeMap::new();
    for (code, row) in active(&rows.departments, &p.departments, &mut out) {
        let f = fields(row, &p.departments);
        match f.required_text("name") {
            Ok(name) => {
                departments.insert(
                    code,
                    Department {
                        name_zh: name,
                        name_en: f.text("name_en").ok().flatten().unwrap_or_default(),
                        registration_fee,
                        expert_fee,
                    },
                );
            }
            Err(reason) => out.skipped.push(SkippedRow {
                his_id: code,
                reason,
            }),
        }
    }
    let mut doctors = BTreeMap::new();
    for (code, row) in active(&rows.doctors, &p.doctors, &mut out) {
        let f = fields(row, &p.doctors);
        let doctor = (|| -> Result<Doctor, FieldError> {
            let department = f.required_text("department")?;
            if !departments.contains_key(&department) {
                return Err(format!("department: unknown department {department:?}"));
            }
            Ok(Doctor {
                name: f.required_text("name")?,
                department,
                title: f.text("title")?.unwrap_or_default(),
            })
        })();
        match doctor {
            Ok(d) => {
                doctors.insert(code, d);
            }
            Err(reason) => out.skipped.push(SkippedRow {
                his_id: code,
                reason,
            }),
        }
    }
    let mut drugs = BTreeMap::new();
    let mut unreadable_drugs = BTreeSet::new();
    for (code, row) in active(&rows.drugs, &p.drugs, &mut out) {
        let f = fields(row, &p.drugs);
        let drug = (|| -> Result<Drug, FieldError> {
            Ok(Drug {
                name_zh: f.required_text("name")?,
                name_en: f.text("name_en")?.unwrap_or_default(),
                spec: f.text("spec")?.unwrap_or_default(),
                form: f.text("form")?.unwrap_or_default(),
                unit: f.text("unit")?.unwrap_or_default(),
                price: f
                    .money("price", rule, &mut out.rounded)?
                    .ok_or_else(|| "price is empty".to_owned())?,
                insurance_class: f.text("insurance_class")?.unwrap_or_default(),
            })
        })();
        match drug {
            Ok(d) => {
                drugs.insert(code, d);
            }
            Err(reason) => {
                unreadable_drugs.insert(code.clone());
                out.skipped.push(SkippedRow {
                    his_id: code,
                    reason,
                });
            }
        }
    }
    out.items.push(HisCatalogs {
        import: CatalogImport {
            drugs: Some(drugs),
            services: Some(services),
            departments: Some(departments),
            doctors: Some(doctors),
        },
        unreadable_drugs,
        unreadable_services,
    });
    out
}
