//! The demo's desk work: the children and their families, and one child's trip through
//! registration, the doctor, the cashier and the pharmacy, through the desks' API.

use anyhow::Context;
use lifeline_core::DeskRole;
use serde_json::{Value, json};

use super::WAIT;
use super::his::{CSV_CODES, Codes, DemoHis, HIS_CODES};
use crate::client::Client;
use crate::hospital::Hospital;

pub(super) fn id_of(v: &Value) -> anyhow::Result<String> {
    v["value"]["header"]["id"]
        .as_str()
        .or_else(|| v["value"]["id"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("no record id in {v}"))
}

const FAMILY: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const GIVEN: [&str; 10] = [
    "小明", "子涵", "一诺", "浩然", "欣怡", "梓轩", "雨桐", "宇航", "诗琪", "俊杰",
];

/// The desks of the demo hospital.
pub(super) struct Desks {
    pub(super) registration: Client,
    pub(super) triage: Client,
    pub(super) cashier: Client,
    pub(super) doctor: Client,
    pub(super) pharmacy: Client,
}

impl Desks {
    pub(super) fn of(h: &Hospital) -> anyhow::Result<Desks> {
        Ok(Desks {
            registration: h.desk("W01", DeskRole::Registration)?,
            triage: h.desk("W01", DeskRole::Triage)?,
            cashier: h.desk("W02", DeskRole::Cashier)?,
            doctor: h.desk("W03", DeskRole::Doctor)?,
            pharmacy: h.desk("W03", DeskRole::Pharmacy)?,
        })
    }
}

/// What one patient's visit left behind.
pub(super) struct Trip {
    pub(super) patient: String,
    pub(super) visit: String,
    pub(super) prescription: String,
    pub(super) registration_no: String,
}

pub(super) fn patient_body(n: usize) -> Value {
    json!({
        "name": format!("{}{}", FAMILY[n % 10], GIVEN[(n / 10 + n) % 10]),
        "sex": if n.is_multiple_of(2) { "female" } else { "male" },
        "birth_date": format!("20{:02}-{:02}-{:02}", 14 + n % 10, 1 + n % 12, 1 + n % 28),
        "phone": format!("1380013{:04}", n),
        "insurance": if n.is_multiple_of(3) { "self_pay" } else { "resident" },
    })
}

/// The family at the desk: found in the HIS master by the card they carry (every other
/// child, when there is an HIS), or registered as a new patient.
pub(super) fn patient_of(d: &Desks, his: Option<&DemoHis>, n: usize) -> anyhow::Result<String> {
    if let Some(his) = his.filter(|_| n.is_multiple_of(2)) {
        let card = his.card_of(n + 1)?;
        let found: Value = d.registration.get(&format!("/patients?number={card}"))?;
        if let Some(id) = found["patients"][0]["header"]["id"].as_str() {
            return Ok(id.to_owned());
        }
    }
    id_of(
        &d.registration
            .post::<_, Value>("/patients", &patient_body(n))?,
    )
}

/// One child through registration, the doctor, the cashier and the pharmacy.
pub(super) fn visit(
    d: &Desks,
    h: &Hospital,
    his: Option<&DemoHis>,
    n: usize,
    insurance_fails: bool,
) -> anyhow::Result<Trip> {
    let codes: &Codes = if his.is_some() {
        &HIS_CODES
    } else {
        &CSV_CODES
    };
    let patient = patient_of(d, his, n)?;
    let v = d.registration.post::<_, Value>(
        "/visits",
        &json!({ "patient": patient, "department": codes.departments[n % 4], "expert": n.is_multiple_of(5) }),
    )?;
    let visit = id_of(&v)?;
    let registration_no = v["value"]["registration_no"]
        .as_str()
        .unwrap_or("?")
        .to_owned();
    // The visit reaches W03 (the doctor) through the mesh.
    let doctor = &d.doctor;
    h.wait_for("the visit at the doctor's", WAIT, |_| {
        Ok(doctor.get::<Value>(&format!("/visits/{visit}")).is_ok())
    })?;
    let rx = d.doctor.post::<_, Value>(
        "/prescriptions",
        &json!({ "visit": visit, "items": [
            { "drug_code": (codes.drug)(n), "quantity": 1 + (n % 3) as u32, "dosage": "按说明服用 as directed" }
        ]}),
    )?;
    let prescription = id_of(&rx)?;
    // Registering charged the fee and prescribing the drugs; the doctor adds a blood test.
    let fee = v["value"]["fee_charge"]
        .as_str()
        .context("the visit has no fee charge")?
        .to_owned();
    let drugs = rx["value"]["charge"]
        .as_str()
        .context("the prescription has no charge")?
        .to_owned();
    let test = id_of(&d.doctor.post::<_, Value>(
        "/charges",
        &json!({ "visit": visit, "payment": "insurance", "lines": [
            { "catalog": "service", "code": codes.service, "quantity": 1 }
        ]}),
    )?)?;
    let cashier = &d.cashier;
    for charge in [&fee, &drugs, &test] {
        h.wait_for("the charges at the cashier's", WAIT, |_| {
            Ok(cashier.get::<Value>(&format!("/charges/{charge}")).is_ok())
        })?;
    }
    // The fee and the drugs paid by WeChat or in cash (or through the insurance fund); the
    // blood test through the insurance, whose link may fail.
    let channel = if n.is_multiple_of(2) {
        "wechat"
    } else {
        "cash"
    };
    for charge in [&fee, &drugs] {
        let c: Value = d.cashier.get(&format!("/charges/{charge}"))?;
        let body = match c["requested_payment"].as_str() {
            Some("self_pay") => json!({ "outcome": "paid", "payments": [
                { "channel": channel, "amount": c["amount"] }
            ]}),
            _ => json!({ "outcome": "paid" }),
        };
        d.cashier
            .post::<_, Value>(&format!("/charges/{charge}/settle"), &body)?;
    }
    let outcome = if insurance_fails {
        "insurance_failed"
    } else {
        "paid"
    };
    d.cashier.post::<_, Value>(
        &format!("/charges/{test}/settle"),
        &json!({ "outcome": outcome }),
    )?;
    d.cashier
        .post::<_, Value>("/invoices", &json!({ "charges": [fee, drugs, test] }))?;
    d.pharmacy
        .post::<_, Value>(&format!("/prescriptions/{prescription}/print"), &json!({}))?;
    Ok(Trip {
        patient,
        visit,
        prescription,
        registration_no,
    })
}
