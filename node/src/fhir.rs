//! An emergency episode as FHIR R4 resources, for `lifeline export fhir`: the episode's
//! patients (and those its visits name), registrations as Encounters, prescription lines as
//! MedicationRequests, charge lines as ChargeItems, invoices, and one Provenance for the
//! episode (when it happened, which nodes wrote it). Every resource carries the episode in
//! `meta.tag`: no standard code marks downtime data, a tag plus a Provenance is the practice.
//! The files follow the Bulk Data layout: one NDJSON file per resource type and a manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use lifeline_core::record::{
    CatalogKind, Charge, Invoice, Patient, Prescription, RecordKind, Sex, Visit,
};
use lifeline_core::status::{ChargeStatus, InvoiceStatus, PrescriptionStatus, VisitStatus};
use lifeline_core::{EpisodeId, Fen, ReadError, RecordId, Store, UnixMs};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::time::UtcOffset;

/// The code system of the episode tag.
pub const EPISODE_SYSTEM: &str = "urn:lifeline:emergency-episode";
const PATIENT_NO: &str = "urn:lifeline:patient-no";
const HIS_PATIENT: &str = "urn:lifeline:his-patient-id";
const NATIONAL_ID: &str = "urn:lifeline:national-id";
const REGISTRATION_NO: &str = "urn:lifeline:registration-no";
const INVOICE_NO: &str = "urn:lifeline:invoice-no";
const DRUG_CODE: &str = "urn:lifeline:drug-code";
const SERVICE_CODE: &str = "urn:lifeline:service-code";
const DEPARTMENT: &str = "urn:lifeline:department";
/// A department's registration fee, by department code.
const REGISTRATION_FEE: &str = "urn:lifeline:registration-fee";

/// The resource types exported, in the order of the files.
pub const TYPES: [&str; 6] = [
    "Patient",
    "Encounter",
    "MedicationRequest",
    "ChargeItem",
    "Invoice",
    "Provenance",
];

/// An episode's resources by type.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Export {
    pub episode: String,
    pub generated_ms: i64,
    pub resources: BTreeMap<String, Vec<Value>>,
}

fn money(fen: Fen) -> Value {
    // FHIR decimals are JSON numbers. The yuan text (exact, from integer fen) is read as the
    // nearest double, which JSON writes back as the same shortest digits: 11.52 stays 11.52.
    let value: f64 = fen.to_string().parse().unwrap_or(0.0);
    json!({ "value": value, "currency": "CNY" })
}

struct Builder {
    offset: UtcOffset,
    tag: Value,
}

impl Builder {
    fn time(&self, ms: UnixMs) -> String {
        self.offset.rfc3339(ms)
    }

    fn meta(&self) -> Value {
        json!({ "tag": [self.tag.clone()] })
    }

    fn patient(&self, p: &Patient) -> Value {
        let mut identifier = vec![json!({"system": PATIENT_NO, "value": p.patient_no})];
        if let Some(his) = &p.his_id {
            identifier.push(json!({"system": HIS_PATIENT, "value": his}));
        }
        if let Some(nid) = &p.national_id {
            identifier.push(json!({"system": NATIONAL_ID, "value": nid}));
        }
        let mut r = json!({
            "resourceType": "Patient",
            "id": p.header.id.to_string(),
            "meta": self.meta(),
            "identifier": identifier,
            "name": [{ "text": p.name }],
            "gender": match p.sex { Sex::Male => "male", Sex::Female => "female", Sex::Unknown => "unknown" },
            "birthDate": p.birth_date.to_string(),
        });
        if !p.phone.is_empty() {
            r["telecom"] = json!([{ "system": "phone", "value": p.phone }]);
        }
        if let Some(g) = &p.guardian {
            let mut contact = json!({ "name": { "text": g.name } });
            if let Some(rel) = &g.relationship {
                contact["relationship"] = json!([{ "text": rel }]);
            }
            if let Some(phone) = &g.phone {
                contact["telecom"] = json!([{ "system": "phone", "value": phone }]);
            }
            r["contact"] = json!([contact]);
        }
        if let Some(into) = p.merged_into {
            r["link"] = json!([{ "other": { "reference": format!("Patient/{into}") }, "type": "replaced-by" }]);
        }
        r
    }

    fn encounter(&self, v: &Visit) -> Value {
        let status = match v.status_log.current::<VisitStatus>() {
            Ok(VisitStatus::Called) => "triaged",
            Ok(VisitStatus::Seen) => "finished",
            Ok(VisitStatus::Cancelled) => "cancelled",
            Ok(_) => "arrived",
            Err(_) => "unknown",
        };
        let mut r = json!({
            "resourceType": "Encounter",
            "id": v.header.id.to_string(),
            "meta": self.meta(),
            "identifier": [{ "system": REGISTRATION_NO, "value": v.registration_no }],
            "status": status,
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory" },
            "serviceType": { "coding": [{ "system": DEPARTMENT, "code": v.department }] },
            "subject": { "reference": format!("Patient/{}", v.patient) },
            "period": { "start": self.time(v.header.created_ms) },
        });
        if let Some(doctor) = &v.doctor {
            r["participant"] = json!([{ "individual": { "display": doctor } }]);
        }
        r
    }

    fn medication_requests(&self, rx: &Prescription) -> Vec<Value> {
        let status = match rx.status_log.current::<PrescriptionStatus>() {
            Ok(PrescriptionStatus::Dispensed) => "completed",
            Ok(PrescriptionStatus::Cancelled) => "cancelled",
            Ok(_) => "active",
            Err(_) => "unknown",
        };
        rx.items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                json!({
                    "resourceType": "MedicationRequest",
                    "id": format!("{}-{}", rx.header.id, n + 1),
                    "meta": self.meta(),
                    "groupIdentifier": { "system": "urn:lifeline:prescription", "value": rx.header.id.to_string() },
                    "status": status,
                    "intent": "order",
                    "medicationCodeableConcept": {
                        "coding": [{ "system": DRUG_CODE, "code": item.drug_code, "display": item.drug_name }],
                        "text": item.drug_name,
                    },
                    "subject": { "reference": format!("Patient/{}", rx.patient) },
                    "encounter": { "reference": format!("Encounter/{}", rx.visit) },
                    "authoredOn": self.time(rx.header.created_ms),
                    "dosageInstruction": [{ "text": item.dosage }],
                    "dispenseRequest": { "quantity": { "value": item.quantity } },
                })
            })
            .collect()
    }

    fn charge_items(&self, c: &Charge) -> Vec<Value> {
        let status = match c.status_log.current::<ChargeStatus>() {
            Ok(ChargeStatus::Pending) => "billable",
            Ok(_) => "billed",
            Err(_) => "unknown",
        };
        c.lines
            .iter()
            .enumerate()
            .map(|(n, line)| {
                let system = match line.catalog {
                    CatalogKind::Drug => DRUG_CODE,
                    CatalogKind::Service => SERVICE_CODE,
                    CatalogKind::Department => REGISTRATION_FEE,
                };
                json!({
                    "resourceType": "ChargeItem",
                    "id": format!("{}-{}", c.header.id, n + 1),
                    "meta": self.meta(),
                    "status": status,
                    "code": { "coding": [{ "system": system, "code": line.code, "display": line.name }] },
                    "subject": { "reference": format!("Patient/{}", c.patient) },
                    "context": { "reference": format!("Encounter/{}", c.visit) },
                    "occurrenceDateTime": self.time(c.header.created_ms),
                    "quantity": { "value": line.quantity },
                    "priceOverride": money(line.unit_price),
                    "enteredDate": self.time(c.header.created_ms),
                })
            })
            .collect()
    }

    fn invoice(&self, inv: &Invoice, lines: &BTreeMap<RecordId, usize>) -> Value {
        let voided = inv.status_log.current::<InvoiceStatus>() == Ok(InvoiceStatus::Voided);
        let items: Vec<Value> = inv
            .charges
            .iter()
            .flat_map(|c| {
                let n = lines.get(c).copied().unwrap_or(1);
                (1..=n).map(move |i| json!({ "chargeItemReference": { "reference": format!("ChargeItem/{c}-{i}") } }))
            })
            .collect();
        let mut r = json!({
            "resourceType": "Invoice",
            "id": inv.header.id.to_string(),
            "meta": self.meta(),
            "identifier": [{ "system": INVOICE_NO, "value": format!("{}-{}", inv.series, inv.number) }],
            "status": if voided { "cancelled" } else { "issued" },
            "date": self.time(inv.header.created_ms),
            "totalNet": money(inv.total),
            "totalGross": money(inv.total),
        });
        if !items.is_empty() {
            r["lineItem"] = Value::Array(items);
        }
        if let (true, Some(reason)) = (voided, &inv.void_reason) {
            r["cancelledReason"] = json!(reason);
        }
        r
    }
}

/// The episode `id` (following merges) as FHIR resources.
pub fn build(
    store: &Store,
    id: &EpisodeId,
    offset: UtcOffset,
) -> Result<Option<Export>, ReadError> {
    let Some((summary, merged)) = store.episode_by_id(id)? else {
        return Ok(None);
    };
    let episode = summary.episode;
    let b = Builder {
        offset,
        tag: json!({ "system": EPISODE_SYSTEM, "code": episode.episode_id.to_string(), "display": format!("emergency episode {}", episode.episode_id) }),
    };
    let mut ids = BTreeSet::new();
    for e in std::iter::once(&episode.episode_id).chain(merged.iter()) {
        ids.extend(store.ids_in_episode(e)?);
    }
    let mut out: BTreeMap<String, Vec<Value>> = TYPES
        .iter()
        .map(|t| ((*t).to_owned(), Vec::new()))
        .collect();
    let mut patients = BTreeSet::new();
    let mut visits = BTreeSet::new();
    let mut charge_lines = BTreeMap::new();
    let mut invoices = Vec::new();
    let mut targets = Vec::new();
    for &rid in &ids {
        let Some(header) = store.header(rid)? else {
            continue;
        };
        match header.kind {
            RecordKind::Patient => {
                patients.insert(rid);
            }
            RecordKind::Visit => {
                if let Some(v) = store.get::<Visit>(rid)? {
                    patients.insert(v.patient);
                    visits.insert(rid);
                }
            }
            RecordKind::Prescription => {
                if let Some(rx) = store.get::<Prescription>(rid)? {
                    patients.insert(rx.patient);
                    visits.insert(rx.visit);
                    out.entry("MedicationRequest".into())
                        .or_default()
                        .extend(b.medication_requests(&rx));
                }
            }
            RecordKind::Charge => {
                if let Some(c) = store.get::<Charge>(rid)? {
                    patients.insert(c.patient);
                    visits.insert(c.visit);
                    charge_lines.insert(rid, c.lines.len());
                    out.entry("ChargeItem".into())
                        .or_default()
                        .extend(b.charge_items(&c));
                }
            }
            RecordKind::Invoice => {
                if let Some(inv) = store.get::<Invoice>(rid)? {
                    invoices.push(inv);
                }
            }
            _ => {}
        }
    }
    for inv in &invoices {
        for c in &inv.charges {
            if let (false, Some(charge)) = (charge_lines.contains_key(c), store.get::<Charge>(*c)?)
            {
                charge_lines.insert(*c, charge.lines.len());
                out.entry("ChargeItem".into())
                    .or_default()
                    .extend(b.charge_items(&charge));
            }
        }
        out.entry("Invoice".into())
            .or_default()
            .push(b.invoice(inv, &charge_lines));
    }
    for &v in &visits {
        if let Some(visit) = store.get::<Visit>(v)? {
            patients.insert(visit.patient);
            out.entry("Encounter".into())
                .or_default()
                .push(b.encounter(&visit));
        }
    }
    for &p in &patients {
        if let Some(patient) = store.get::<Patient>(p)? {
            out.entry("Patient".into())
                .or_default()
                .push(b.patient(&patient));
        }
    }
    for (kind, resources) in &out {
        for r in resources {
            if let Some(rid) = r["id"].as_str() {
                targets.push(json!({ "reference": format!("{kind}/{rid}") }));
            }
        }
    }
    let mut period = json!({ "start": b.time(episode.opened_ms) });
    if let Some(closed) = episode.closed_ms {
        period["end"] = json!(b.time(closed));
    }
    let agents: Vec<Value> = episode
        .nodes
        .keys()
        .map(|node| json!({ "who": { "display": format!("Lifeline node {node}") } }))
        .collect();
    if !targets.is_empty() {
        out.entry("Provenance".into()).or_default().push(json!({
            "resourceType": "Provenance",
            "id": format!("episode-{}", episode.episode_id),
            "meta": b.meta(),
            "target": targets,
            "occurredPeriod": period,
            "recorded": b.time(store.now_ms()),
            "reason": [{ "text": episode.reason }],
            "activity": { "text": "written during an emergency episode (downtime) and reconciled afterwards" },
            "agent": if agents.is_empty() { vec![json!({ "who": { "display": "Lifeline" } })] } else { agents },
        }));
    }
    Ok(Some(Export {
        episode: episode.episode_id.to_string(),
        generated_ms: store.now_ms(),
        resources: out,
    }))
}

/// The Bulk Data manifest of files written to `dir`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "transactionTime")]
    pub transaction_time: String,
    pub request: String,
    #[serde(rename = "requiresAccessToken")]
    pub requires_access_token: bool,
    pub output: Vec<ManifestFile>,
    pub error: Vec<ManifestFile>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestFile {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub count: usize,
}

/// Writes `export` as `<Type>.ndjson` files (one resource per line) and `manifest.json`.
pub fn write(export: &Export, dir: &Path, offset: UtcOffset) -> anyhow::Result<Manifest> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut output = Vec::new();
    for kind in TYPES {
        let resources = export.resources.get(kind).map_or(&[][..], Vec::as_slice);
        if resources.is_empty() {
            continue;
        }
        let mut text = String::new();
        for r in resources {
            text.push_str(&serde_json::to_string(r)?);
            text.push('\n');
        }
        let file = format!("{kind}.ndjson");
        std::fs::write(dir.join(&file), text)
            .with_context(|| format!("cannot write {}", dir.join(&file).display()))?;
        output.push(ManifestFile {
            kind: kind.to_owned(),
            url: file,
            count: resources.len(),
        });
    }
    let manifest = Manifest {
        transaction_time: offset.rfc3339(export.generated_ms),
        request: format!("lifeline export fhir --episode {}", export.episode),
        requires_access_token: false,
        output,
        error: Vec::new(),
    };
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )
    .with_context(|| format!("cannot write {}", dir.join("manifest.json").display()))?;
    Ok(manifest)
}
