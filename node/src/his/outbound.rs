//! The records written during emergency episodes as rows of the HIS's interface tables:
//! patients, registrations (with their YJ numbers), prescriptions with their lines, and
//! charges (one row per line) with payment, invoice and re-settlement marker; and the records
//! that came from the HIS and that a desk changed during an episode (a morning prescription
//! dispensed, a morning charge settled), as rows carrying the HIS's own id. Each row is
//! keyed by Lifeline's id (`ext_id`); its values are deterministic, so the same record gives
//! the same row and a push can tell what changed. A record whose rows were built before, from
//! records that have not changed since ([`super::sources`]), is not built again.

use std::cell::RefCell;
use std::collections::BTreeMap;

use lifeline_core::automerge::ChangeHash;
use lifeline_core::record::{
    CatalogKind, Charge, Invoice, Patient, PaymentChannel, PaymentMethod, Prescription, RecordKind,
    ServiceCatalog, Visit, catalog_id,
};
use lifeline_core::status::{ChargeStatus, PrescriptionStatus, VisitStatus};
use lifeline_core::{Date, EpisodeId, ReadError, Record, RecordId, Store, UnixMs};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::db::Value;
use super::mapping::{Mapping, TablePush};
use super::money::{Decimal, fen_to_yuan};
use super::sources::{Context, ReadLog, Sources, reusable};

/// The pushed tables in the order they are written: a registration after its patient, a
/// charge after its registration.
pub const PUSH_TABLES: [&str; 4] = ["patients", "registrations", "prescriptions", "charges"];

/// Episodes opened within this many days are pushed.
pub const PUSH_LOOKBACK_DAYS: i64 = 30;

/// One interface row, without its revision and the HIS's import columns.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRow {
    /// Which pushed table (`patients`, ...).
    pub table: &'static str,
    pub ext_id: String,
    pub record: RecordId,
    /// Lifeline field → value, in the mapping's order.
    pub values: Vec<(&'static str, Value)>,
}

impl OutRow {
    /// A digest of the row's values: the same record state gives the same digest.
    pub fn fingerprint(&self) -> String {
        let text = serde_json::to_string(&self.values).unwrap_or_default();
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

/// A record that cannot be written as a row, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwritable {
    pub record: RecordId,
    pub reason: String,
}

/// The rows of the records written during the episodes of the last [`PUSH_LOOKBACK_DAYS`]
/// that had to be built again, table by table in push order, oldest record first; and what
/// the others, reused, stand for.
#[derive(Debug, Default)]
pub struct Outbound {
    pub rows: BTreeMap<&'static str, Vec<OutRow>>,
    /// Every record of the episodes that cannot be written, reused or rebuilt.
    pub unwritable: Vec<Unwritable>,
    /// Table → how many records were rebuilt and reused, and the reused records' rows.
    pub tally: BTreeMap<&'static str, Tally>,
    /// The sources of the records reused: still valid.
    pub kept: BTreeMap<RecordId, Sources>,
    /// The sources of the records rebuilt: valid once their rows are pushed.
    pub built: BTreeMap<RecordId, Sources>,
}

/// Of one table's records in a push: how many were built again, how many reused as they
/// were, and how many rows those reused hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub rebuilt: u64,
    pub reused: u64,
    pub reused_rows: u64,
}

struct Builder<'a> {
    store: &'a Store,
    mapping: &'a Mapping,
    offset_min: i32,
    /// The departments' fees, to tell an ordinary registration fee from an expert one.
    departments: BTreeMap<String, lifeline_core::record::Department>,
    /// The service catalog the departments were read from, and its heads then.
    service_catalog: (RecordId, Vec<ChangeHash>),
    /// Records from the HIS a desk changed during an episode, with that episode.
    edited: BTreeMap<RecordId, EpisodeId>,
    /// What the record being built has read so far.
    log: RefCell<ReadLog>,
}

fn local_us(ms: UnixMs, offset_min: i32) -> i64 {
    (ms + i64::from(offset_min) * 60_000) * 1000
}

/// Every record created in the episodes opened since `since_ms`, and every record from the
/// HIS a desk changed in one (with the first such episode). A drill's records are not real
/// work: they never go to the HIS.
fn episode_records(
    store: &Store,
    since_ms: UnixMs,
) -> Result<(Vec<RecordId>, BTreeMap<RecordId, EpisodeId>), ReadError> {
    let mut ids = Vec::new();
    let mut edited = BTreeMap::new();
    let mut episodes = store.episodes()?;
    episodes.sort_by_key(|e| e.episode.opened_ms);
    for e in episodes {
        let episode = &e.episode.episode_id;
        if e.episode.opened_ms >= since_ms && !episode.is_drill() {
            ids.extend(store.ids_in_episode(episode)?);
            for id in store.ids_edited_in_episode(episode)? {
                edited.entry(id).or_insert_with(|| episode.clone());
                ids.push(id);
            }
        }
    }
    ids.sort();
    ids.dedup();
    Ok((ids, edited))
}

/// The pushed table of a kind of record.
fn table_of(kind: RecordKind) -> Option<&'static str> {
    match kind {
        RecordKind::Patient => Some("patients"),
        RecordKind::Visit => Some("registrations"),
        RecordKind::Prescription => Some("prescriptions"),
        RecordKind::Charge => Some("charges"),
        _ => None,
    }
}

/// Builds the rows to push: of the records `prior` has no valid sources for. `prior`: what
/// each record's rows were last built from (see [`super::sources`]), only of records whose
/// rows the push ledger holds.
pub fn outbound(
    store: &Store,
    mapping: &Mapping,
    offset_min: i32,
    prior: BTreeMap<RecordId, Sources>,
) -> Result<Outbound, ReadError> {
    let since = store.now_ms() - PUSH_LOOKBACK_DAYS * 86_400_000;
    let (ids, edited) = episode_records(store, since)?;
    let context = Context::new(mapping, offset_min);
    let (kept, stale) = reusable(store, &ids, prior, &context, &edited)?;

    let mut out = Outbound::default();
    let mut by_kind: BTreeMap<RecordKind, Vec<RecordId>> = BTreeMap::new();
    for id in stale {
        match store.header_with_heads(id)? {
            Some((h, _)) if table_of(h.kind).is_some() => {
                by_kind.entry(h.kind).or_default().push(id)
            }
            found => {
                // Not pushed (another kind, or gone): its sources are itself.
                let heads = found.map(|(_, heads)| heads).unwrap_or_default();
                let sources = Sources::unpushed(id, &heads, &context, edited.get(&id));
                out.built.insert(id, sources);
            }
        }
    }
    let catalog = catalog_id(CatalogKind::Service);
    let (departments, catalog_heads) = match store.get_with_heads::<ServiceCatalog>(catalog)? {
        Some((c, heads)) => (c.departments, heads),
        None => (BTreeMap::new(), Vec::new()),
    };
    let b = Builder {
        store,
        mapping,
        offset_min,
        departments,
        service_catalog: (catalog, catalog_heads),
        edited,
        log: RefCell::new(ReadLog::default()),
    };
    for (table, kind) in [
        ("patients", RecordKind::Patient),
        ("registrations", RecordKind::Visit),
        ("prescriptions", RecordKind::Prescription),
        ("charges", RecordKind::Charge),
    ] {
        let mut rows = Vec::new();
        let tally = out.tally.entry(table).or_default();
        for &id in by_kind.get(&kind).into_iter().flatten() {
            b.log.replace(ReadLog::default());
            let built = match kind {
                RecordKind::Patient => b.patient(id)?,
                RecordKind::Visit => b.visit(id)?,
                RecordKind::Prescription => b.prescription(id)?,
                _ => b.charge(id)?,
            };
            let log = b.log.take();
            let mut sources = Sources {
                table: Some(table.to_owned()),
                read: log.ids(),
                digest: log.digest(&context, b.edited.get(&id)),
                rows: Vec::new(),
                unwritable: None,
            };
            match built {
                Ok(mut r) => {
                    sources.rows = r.iter().map(|r| r.ext_id.clone()).collect();
                    rows.append(&mut r);
                }
                Err(reason) => sources.unwritable = Some(reason),
            }
            tally.rebuilt += 1;
            out.built.insert(id, sources);
        }
        out.rows.insert(table, rows);
    }
    for s in kept.values() {
        if let Some(t) = s.table.as_deref().and_then(|t| out.tally.get_mut(t)) {
            t.reused += 1;
            t.reused_rows += s.rows.len() as u64;
        }
    }
    // Every record that cannot be written, table by table, oldest first.
    let mut unwritable: Vec<(Option<usize>, RecordId, String)> = out
        .built
        .iter()
        .chain(&kept)
        .filter_map(|(id, s)| {
            let table = s.table.as_deref();
            let at = PUSH_TABLES.iter().position(|t| Some(*t) == table);
            s.unwritable.clone().map(|reason| (at, *id, reason))
        })
        .collect();
    unwritable.sort();
    out.unwritable = unwritable
        .into_iter()
        .map(|(_, record, reason)| Unwritable { record, reason })
        .collect();
    out.kept = kept;
    Ok(out)
}

/// A Lifeline value in the HIS's code, when the mapping codes that field.
fn code(push: &TablePush, field: &str, value: &str) -> Result<Value, String> {
    match push.codes.get(field) {
        None => Ok(Value::text(value)),
        Some(map) => map
            .get(value)
            .map(|c| Value::text(c.clone()))
            .ok_or_else(|| format!("push.{field}: {value:?} has no HIS code in the mapping")),
    }
}

type Built = Result<Result<Vec<OutRow>, String>, ReadError>;

impl Builder<'_> {
    /// A record read for the rows being built, noted with the heads it was read at.
    fn read<T: Record>(&self, id: RecordId) -> Result<Option<T>, ReadError> {
        let found = self.store.get_with_heads::<T>(id)?;
        let mut log = self.log.borrow_mut();
        match found {
            Some((record, heads)) => {
                log.note(id, &heads);
                Ok(Some(record))
            }
            None => {
                log.note(id, &[]);
                Ok(None)
            }
        }
    }

    /// The columns every row has. A record from the HIS changed in an episode (`his_id`, its
    /// id in the HIS) carries that id in the row's `his_id` column, which the HIS's import job
    /// otherwise fills in: the row is a change to that HIS record, not a new one.
    fn common(
        &self,
        values: &mut Vec<(&'static str, Value)>,
        h: &lifeline_core::record::Header,
        his_id: Option<&String>,
    ) {
        let episode = h.episode.as_ref().or_else(|| self.edited.get(&h.id));
        values.push(("episode", Value::opt(episode.map(EpisodeId::to_string))));
        if h.episode.is_none()
            && let Some(his) = his_id
        {
            values.push(("his_id", Value::text(his.clone())));
        }
        values.push((
            "written_at",
            Value::Timestamp(local_us(h.created_ms, self.offset_min)),
        ));
        values.push((
            "written_by",
            Value::text(format!("{}@{}", h.operator, h.origin)),
        ));
    }

    fn date(&self, ms: UnixMs) -> Date {
        Date::at(ms, self.offset_min)
    }

    /// The HIS id a patient is known by in the HIS master: its own when it came from the HIS,
    /// or that of the HIS patient a reviewer merged it into.
    fn his_patient_id(&self, id: RecordId) -> Result<(Option<String>, Option<Patient>), ReadError> {
        let Some(p) = self.read::<Patient>(id)? else {
            return Ok((None, None));
        };
        if p.header.episode.is_none() {
            return Ok((p.his_id.clone(), Some(p)));
        }
        let survivor = match p.merged_into {
            Some(into) => self.read::<Patient>(into)?,
            None => None,
        };
        let his = survivor
            .filter(|s| s.header.episode.is_none())
            .and_then(|s| s.his_id);
        Ok((his, Some(p)))
    }

    fn patient(&self, id: RecordId) -> Built {
        let push = &self.mapping.push.patients;
        let Some(p) = self.read::<Patient>(id)? else {
            return Ok(Ok(Vec::new()));
        };
        let (his, _) = self.his_patient_id(id)?;
        let sex = match p.sex {
            lifeline_core::record::Sex::Male => "male",
            lifeline_core::record::Sex::Female => "female",
            lifeline_core::record::Sex::Unknown => "unknown",
        };
        let insurance = match p.insurance {
            lifeline_core::record::InsuranceType::SelfPay => "self_pay",
            lifeline_core::record::InsuranceType::Employee => "employee",
            lifeline_core::record::InsuranceType::Resident => "resident",
        };
        let row = (|| -> Result<OutRow, String> {
            let mut v = vec![
                ("his_patient_id", Value::opt(his)),
                ("name", Value::text(p.name.clone())),
                ("sex", code(push, "sex", sex)?),
                ("birth_date", Value::Date(p.birth_date)),
                (
                    "id_type",
                    match &p.national_id {
                        Some(_) => code(push, "id_type", "national_id")?,
                        None => Value::Null,
                    },
                ),
                ("national_id", Value::opt(p.national_id.clone())),
                (
                    "phone",
                    Value::opt(Some(p.phone.clone()).filter(|s| !s.is_empty())),
                ),
                (
                    "guardian_name",
                    Value::opt(p.guardian.as_ref().map(|g| g.name.clone())),
                ),
                (
                    "guardian_phone",
                    Value::opt(p.guardian.as_ref().and_then(|g| g.phone.clone())),
                ),
                ("insurance", code(push, "insurance", insurance)?),
            ];
            self.common(&mut v, &p.header, p.his_id.as_ref());
            Ok(OutRow {
                table: "patients",
                ext_id: id.to_string(),
                record: id,
                values: v,
            })
        })();
        Ok(row.map(|r| vec![r]))
    }

    /// (ext id, HIS id) of a visit: the first when it was written during an episode, the
    /// second when it came from the HIS.
    fn visit_keys(&self, visit: &Visit) -> (Value, Value) {
        let ext = if visit.header.episode.is_some() {
            Value::text(visit.header.id.to_string())
        } else {
            Value::Null
        };
        (ext, Value::opt(visit.his_id.clone()))
    }

    fn visit(&self, id: RecordId) -> Built {
        let push = &self.mapping.push.registrations;
        let Some(visit) = self.read::<Visit>(id)? else {
            return Ok(Ok(Vec::new()));
        };
        let (his, patient) = self.his_patient_id(visit.patient)?;
        let patient_ext = match &patient {
            Some(p) if p.header.episode.is_some() => Value::text(p.header.id.to_string()),
            _ => Value::Null,
        };
        let status = visit
            .status_log
            .current::<VisitStatus>()
            .map(|s| s.to_string());
        let row = (|| -> Result<OutRow, String> {
            let status = status.map_err(|e| e.to_string())?;
            let mut v = vec![
                ("patient_ext_id", patient_ext),
                ("his_patient_id", Value::opt(his)),
                (
                    "registration_no",
                    Value::text(visit.registration_no.clone()),
                ),
                ("department", Value::text(visit.department.clone())),
                ("doctor", Value::opt(visit.doctor.clone())),
                (
                    "visit_date",
                    Value::Date(self.date(visit.header.created_ms)),
                ),
                (
                    "registered_at",
                    Value::Timestamp(local_us(visit.header.created_ms, self.offset_min)),
                ),
                ("fee", Value::Decimal(fen_to_yuan(visit.fee))),
                ("status", code(push, "status", &status)?),
            ];
            self.common(&mut v, &visit.header, visit.his_id.as_ref());
            Ok(OutRow {
                table: "registrations",
                ext_id: id.to_string(),
                record: id,
                values: v,
            })
        })();
        Ok(row.map(|r| vec![r]))
    }

    fn prescription(&self, id: RecordId) -> Built {
        let push = &self.mapping.push.prescriptions;
        let Some(rx) = self.read::<Prescription>(id)? else {
            return Ok(Ok(Vec::new()));
        };
        let Some(visit) = self.read::<Visit>(rx.visit)? else {
            return Ok(Err(format!(
                "its registration {} is not on this node",
                rx.visit
            )));
        };
        let (ext, his) = self.visit_keys(&visit);
        let status = rx
            .status_log
            .current::<PrescriptionStatus>()
            .map(|s| s.to_string());
        let items: Vec<serde_json::Value> = rx
            .items
            .iter()
            .map(|i| {
                json!({
                    "drug_code": i.drug_code,
                    "quantity": i.quantity,
                    "dosage": i.dosage,
                })
            })
            .collect();
        let row = (|| -> Result<OutRow, String> {
            let status = status.map_err(|e| e.to_string())?;
            let mut v = vec![
                ("registration_ext_id", ext),
                ("his_registration_id", his),
                ("doctor", Value::opt(visit.doctor.clone())),
                ("department", Value::text(visit.department.clone())),
                (
                    "prescribed_at",
                    Value::Timestamp(local_us(rx.header.created_ms, self.offset_min)),
                ),
                ("status", code(push, "status", &status)?),
                ("items", Value::Json(serde_json::Value::Array(items))),
            ];
            self.common(&mut v, &rx.header, rx.his_id.as_ref());
            Ok(OutRow {
                table: "prescriptions",
                ext_id: id.to_string(),
                record: id,
                values: v,
            })
        })();
        Ok(row.map(|r| vec![r]))
    }

    /// A charge line's catalog and item code as the HIS knows them: a department's
    /// registration fee is the service item of that fee (ordinary or expert).
    fn item(&self, line: &lifeline_core::record::ChargeLine) -> (&'static str, String) {
        match line.catalog {
            CatalogKind::Drug => ("drug", line.code.clone()),
            CatalogKind::Service => ("service", line.code.clone()),
            CatalogKind::Department => {
                let (catalog, heads) = &self.service_catalog;
                self.log.borrow_mut().note(*catalog, heads);
                let fees = &self.mapping.pull.departments;
                let expert = self.departments.get(&line.code).is_some_and(|d| {
                    d.expert_fee == line.unit_price && d.expert_fee != d.registration_fee
                });
                let item = if expert {
                    fees.expert_fee_item.clone()
                } else {
                    fees.registration_fee_item.clone()
                };
                ("department", item.unwrap_or_else(|| line.code.clone()))
            }
        }
    }

    fn charge(&self, id: RecordId) -> Built {
        let push = &self.mapping.push.charges;
        let Some(charge) = self.read::<Charge>(id)? else {
            return Ok(Ok(Vec::new()));
        };
        let Some(visit) = self.read::<Visit>(charge.visit)? else {
            return Ok(Err(format!(
                "its registration {} is not on this node",
                charge.visit
            )));
        };
        let (ext, his) = self.visit_keys(&visit);
        let invoice = match charge.invoice {
            Some(i) => self.read::<Invoice>(i)?,
            None => None,
        };
        let status = charge.status_log.current::<ChargeStatus>();
        let settled_ms = charge
            .status_log
            .reached(ChargeStatus::Settled)
            .map_or(charge.header.created_ms, |s| s.at_ms);
        // The channel most of the money came through; before settlement, the one asked for.
        let channel = match charge.payments.iter().max_by_key(|p| p.amount) {
            Some(p) => p.channel,
            None if charge.requested_payment == PaymentMethod::Insurance => {
                PaymentChannel::InsuranceFund
            }
            None => PaymentChannel::Cash,
        };
        let resettle = charge.awaits_resettlement();
        let rows = (|| -> Result<Vec<OutRow>, String> {
            let status = match status.map_err(|e| e.to_string())? {
                ChargeStatus::Settled if invoice.is_some() => "invoiced".to_owned(),
                s => s.to_string(),
            };
            let mut rows = Vec::with_capacity(charge.lines.len());
            for (n, line) in charge.lines.iter().enumerate() {
                let (catalog, item) = self.item(line);
                let mut v = vec![
                    ("registration_ext_id", ext.clone()),
                    ("his_registration_id", his.clone()),
                    ("catalog", code(push, "catalog", catalog)?),
                    ("code", Value::text(item)),
                    (
                        "quantity",
                        Value::Decimal(Decimal::from_int(i64::from(line.quantity))),
                    ),
                    ("amount", Value::Decimal(fen_to_yuan(line.amount))),
                    ("status", code(push, "status", &status)?),
                    ("payment", code(push, "payment", channel.name())?),
                    (
                        "resettle_pending",
                        code(
                            push,
                            "resettle_pending",
                            if resettle { "true" } else { "false" },
                        )?,
                    ),
                    (
                        "invoice_no",
                        Value::opt(invoice.as_ref().map(|i| i.number.to_string())),
                    ),
                    (
                        "invoice_code",
                        Value::opt(
                            invoice
                                .as_ref()
                                .map(|i| i.code.clone().unwrap_or_else(|| i.series.clone())),
                        ),
                    ),
                    (
                        "charged_at",
                        Value::Timestamp(local_us(settled_ms, self.offset_min)),
                    ),
                ];
                self.common(&mut v, &charge.header, charge.his_id.as_ref());
                rows.push(OutRow {
                    table: "charges",
                    ext_id: format!("{id}/{}", n + 1),
                    record: id,
                    values: v,
                });
            }
            Ok(rows)
        })();
        Ok(rows)
    }
}
