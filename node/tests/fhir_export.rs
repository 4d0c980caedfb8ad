//! The FHIR export of an emergency episode: codes of required bindings are in their value
//! sets; every resource is tagged with the episode; every reference resolves inside the
//! export; the manifest lists the files. The export is left in `target/tmp/fhir-export`,
//! where `scripts/test` then checks it against the FHIR R4 model (`tests/fhir-r4`, a crate of
//! its own: the model's crate changes how serde_json reads numbers in every binary built
//! beside it): every line parses as the R4 resource it says it is, passes the model's
//! validation, and writes back identically.

mod his_common;

use std::collections::{BTreeMap, BTreeSet};

use his_common::{bridge_operator, central_store, ranges_for_episode};
use lifeline_core::desk::{
    CatalogImport, NewCharge, NewChargeLine, NewPatient, NewPrescription, NewPrescriptionItem,
    NewVisit, Settlement, parse_departments, parse_drugs, parse_services,
};
use lifeline_core::import::HisPatient;
use lifeline_core::record::{CatalogKind, Guardian, InsuranceType, PaymentMethod, Sex};
use lifeline_core::{DeskRole, EpisodeId, Operator, OperatorName};
use lifeline_node::fhir::{self, EPISODE_SYSTEM, Manifest};
use lifeline_node::time::UtcOffset;
use serde_json::Value;

fn op(name: &str, desk: DeskRole) -> Operator {
    Operator::new(OperatorName::new(name).expect("valid"), desk)
}

/// The value sets of the required bindings the export uses (FHIR R4).
fn allowed(kind: &str, field: &str) -> Option<&'static [&'static str]> {
    Some(match (kind, field) {
        ("Patient", "gender") => &["male", "female", "other", "unknown"],
        ("Encounter", "status") => &[
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        ],
        ("MedicationRequest", "status") => &[
            "active",
            "on-hold",
            "cancelled",
            "completed",
            "entered-in-error",
            "stopped",
            "draft",
            "unknown",
        ],
        ("MedicationRequest", "intent") => &[
            "proposal",
            "plan",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        ],
        ("ChargeItem", "status") => &[
            "planned",
            "billable",
            "not-billable",
            "aborted",
            "billed",
            "entered-in-error",
            "unknown",
        ],
        ("Invoice", "status") => &[
            "draft",
            "issued",
            "balanced",
            "cancelled",
            "entered-in-error",
        ],
        _ => return None,
    })
}

/// Every `reference` inside a resource.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "reference"
                    && let Some(r) = x.as_str()
                {
                    out.push(r.to_owned());
                }
                references(x, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

#[test]
fn an_episode_exports_as_valid_fhir_r4_bulk_data() {
    let (_dir, store) = central_store();
    let admin = bridge_operator();
    store
        .import_catalog(
            &admin,
            CatalogImport {
                drugs: Some(parse_drugs(include_str!("../../data/drugs.csv")).expect("drugs")),
                services: Some(
                    parse_services(include_str!("../../data/services.csv")).expect("services"),
                ),
                departments: Some(
                    parse_departments(include_str!("../../data/departments.csv"))
                        .expect("departments"),
                ),
                doctors: None,
            },
        )
        .expect("catalogs");
    store
        .import_his_patients(
            &admin,
            vec![HisPatient {
                his_id: "P000000007".into(),
                patient_no: "800000055433".into(),
                name: "王梓萱".into(),
                sex: Sex::Male,
                birth_date: "2017-05-05".parse().expect("date"),
                phone: "13800000007".into(),
                national_id: Some("330107201705050079".into()),
                insurance: InsuranceType::Resident,
                guardian: Some(Guardian {
                    name: "王建华".into(),
                    relationship: Some("母亲".into()),
                    phone: Some("13700000007".into()),
                    national_id: None,
                }),
                created_ms: 1_420_070_400_000,
                deleted: false,
                merged_into: None,
                changed: None,
            }],
        )
        .expect("an HIS patient");
    let known = store
        .find_his(lifeline_core::RecordKind::Patient, "P000000007")
        .expect("find")
        .expect("there");
    ranges_for_episode(&store, &op("cash", DeskRole::Cashier), 10);
    let episode: EpisodeId = store
        .open_episode(
            &admin,
            "the HIS is unreachable",
            lifeline_core::desk::Opening::Automatic,
        )
        .expect("episode")
        .value;
    let reg = op("reg", DeskRole::Registration);
    let new = store
        .create_patient(
            &reg,
            NewPatient {
                patient_no: None,
                name: "林小雨".into(),
                sex: Sex::Female,
                birth_date: "2021-03-14".parse().expect("date"),
                phone: "13912345678".into(),
                national_id: None,
                insurance: InsuranceType::SelfPay,
                guardian: None,
            },
        )
        .expect("patient")
        .value
        .header
        .id;
    let mut charges = Vec::new();
    for patient in [known, new] {
        let visit = store
            .register_visit(
                &reg,
                NewVisit {
                    patient,
                    department: "PED-GEN".into(),
                    doctor: Some("D0001".into()),
                    expert: false,
                    payment: None,
                    occurred_at: None,
                },
            )
            .expect("visit")
            .value
            .header
            .id;
        let doctor = op("dr", DeskRole::Doctor);
        store
            .create_prescription(
                &doctor,
                NewPrescription {
                    visit,
                    items: vec![
                        NewPrescriptionItem {
                            drug_code: "DRG-0001".into(),
                            quantity: 2,
                            dosage: "每次5ml tid".into(),
                        },
                        NewPrescriptionItem {
                            drug_code: "DRG-0002".into(),
                            quantity: 1,
                            dosage: "每晚一次".into(),
                        },
                    ],
                    payment: None,
                    occurred_at: None,
                },
            )
            .expect("prescription");
        let charge = store
            .create_charge(
                &doctor,
                NewCharge {
                    visit,
                    lines: vec![
                        NewChargeLine {
                            catalog: CatalogKind::Service,
                            code: "SVC-CBC".into(),
                            quantity: 1,
                        },
                        NewChargeLine {
                            catalog: CatalogKind::Drug,
                            code: "DRG-0001".into(),
                            quantity: 2,
                        },
                    ],
                    payment: PaymentMethod::Insurance,
                    occurred_at: None,
                },
            )
            .expect("charge")
            .value
            .header
            .id;
        store
            .settle_charge(&op("cash", DeskRole::Cashier), charge, Settlement::Paid)
            .expect("settle");
        charges.push(charge);
    }
    let invoice = store
        .issue_invoice(&op("cash", DeskRole::Cashier), charges.clone())
        .expect("invoice")
        .value;

    let export = fhir::build(&store, &episode, UtcOffset::CHINA)
        .expect("read")
        .expect("the episode");
    // Left for the R4 model's check (see the module's comment), fresh from this run.
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fhir-export");
    if out.exists() {
        std::fs::remove_dir_all(&out).expect("the previous export removed");
    }
    std::fs::create_dir_all(&out).expect("dir");
    let manifest = fhir::write(&export, &out, UtcOffset::CHINA).expect("write");
    let text = std::fs::read_to_string(out.join("manifest.json")).expect("manifest");
    let read_back: Manifest = serde_json::from_str(&text).expect("the manifest is JSON");
    assert_eq!(read_back.output.len(), manifest.output.len());

    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut all: Vec<(String, Value)> = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for file in &manifest.output {
        let text = std::fs::read_to_string(out.join(&file.url)).expect("ndjson");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), file.count, "{}", file.url);
        for line in lines {
            let json: Value = serde_json::from_str(line).expect("one JSON resource per line");
            assert_eq!(json["resourceType"], file.kind.as_str());
            for (field, value) in json.as_object().expect("object") {
                if let (Some(codes), Some(code)) = (allowed(&file.kind, field), value.as_str()) {
                    assert!(codes.contains(&code), "{}.{field} = {code:?}", file.kind);
                }
            }
            let tag = &json["meta"]["tag"][0];
            assert_eq!(
                (tag["system"].as_str(), tag["code"].as_str()),
                (Some(EPISODE_SYSTEM), Some(episode.as_str()))
            );
            ids.insert(format!(
                "{}/{}",
                file.kind,
                json["id"].as_str().expect("id")
            ));
            *counts.entry(file.kind.clone()).or_default() += 1;
            all.push((file.kind.clone(), json));
        }
    }
    assert_eq!(
        counts["Patient"], 2,
        "the HIS patient the desk chose and the new one"
    );
    assert_eq!(counts["Encounter"], 2);
    assert_eq!(counts["MedicationRequest"], 4, "one per prescription line");
    // Per child: the registration fee (1 line), the prescription's drugs (2 lines, charged
    // when prescribed) and the doctor's charge (2 lines).
    assert_eq!(counts["ChargeItem"], 10, "one per charge line");
    assert_eq!(counts["Invoice"], 1);
    assert_eq!(counts["Provenance"], 1);
    for (kind, json) in &all {
        let mut refs = Vec::new();
        references(json, &mut refs);
        for r in refs {
            assert!(
                ids.contains(&r),
                "{kind} refers to {r}, which is not in the export"
            );
        }
    }
    let provenance = &all
        .iter()
        .find(|(k, _)| k == "Provenance")
        .expect("provenance")
        .1;
    assert_eq!(
        provenance["target"].as_array().map(Vec::len),
        Some(ids.len() - 1)
    );
    let inv = &all.iter().find(|(k, _)| k == "Invoice").expect("invoice").1;
    assert_eq!(
        inv["totalNet"]["value"],
        serde_json::json!(invoice.total.0 as f64 / 100.0)
    );
    let known_patient = all
        .iter()
        .find(|(k, j)| k == "Patient" && j["id"] == known.to_string())
        .expect("the HIS patient")
        .1
        .clone();
    assert_eq!(known_patient["contact"][0]["name"]["text"], "王建华");
    assert!(
        known_patient["identifier"]
            .to_string()
            .contains("P000000007")
    );
}
