//! A hospital's worth of records, made quickly and deterministically: the patient master
//! (created over past years), one outpatient day (visits, charges, invoices, prescriptions),
//! the open items the reports must find whatever the history (duplicate patients, emergency
//! prescriptions), an outage's emergency registrations, and realistic catalogs. Written with
//! the store's bulk loader, not the desks.

use std::collections::BTreeMap;

use lifeline_core::desk::CatalogImport;
use lifeline_core::record::{
    CatalogKind, Charge, ChargeLine, ChargeSource, Department, Dispense, Drug, Guardian, Header,
    InsuranceType, Invoice, Patient, PaymentChannel, PaymentMethod, PaymentPart, Prescription,
    PrescriptionItem, Service, Sex, Visit,
};
use lifeline_core::status::{
    ChargeStatus, DispenseStatus, InvoiceStatus, PrescriptionStatus, Stamp, Status, StatusLog,
    VisitStatus,
};
use lifeline_core::{Date, EpisodeId, Fen, NodeName, OperatorName, RecordId, RecordKind};

const DAY_MS: i64 = 86_400_000;

/// A small deterministic generator (xorshift), so runs are alike.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const SURNAMES: [&str; 16] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
];
const GIVEN: [&str; 16] = [
    "子涵", "欣怡", "梓萱", "浩宇", "宇轩", "一诺", "子墨", "雨桐", "俊熙", "思远", "佳怡", "明轩",
    "可馨", "若曦", "天佑", "诗涵",
];

/// Who wrote the records: a node and an operator.
#[derive(Debug, Clone)]
pub struct Origin {
    pub node: NodeName,
    pub operator: OperatorName,
    pub episode: Option<EpisodeId>,
}

impl Origin {
    fn header(&self, kind: RecordKind, at_ms: i64) -> Header {
        Header {
            id: RecordId::generate_at(at_ms),
            kind,
            origin: self.node.clone(),
            operator: self.operator.clone(),
            created_ms: at_ms,
            episode: self.episode.clone(),
            paper: None,
        }
    }

    fn stamp(&self, at_ms: i64) -> Stamp {
        Stamp {
            at_ms,
            node: self.node.clone(),
            operator: self.operator.clone(),
        }
    }
}

/// Patient `n` of the master, created `age_days` ago.
pub fn patient(o: &Origin, rng: &mut Rng, n: u64, at_ms: i64) -> Patient {
    let surname = SURNAMES[rng.below(16) as usize];
    let name = format!("{surname}{}{}", GIVEN[rng.below(16) as usize], n % 1000);
    let phone = format!("13{:09}", n % 1_000_000_000);
    Patient {
        header: o.header(RecordKind::Patient, at_ms),
        patient_no: format!("P{n:09}"),
        name,
        sex: if n.is_multiple_of(2) {
            Sex::Female
        } else {
            Sex::Male
        },
        birth_date: Date::new(
            2008 + (n % 17) as i32,
            1 + (n % 12) as u8,
            1 + (n % 28) as u8,
        )
        .unwrap_or(Date::new(2015, 1, 1).expect("a valid date")),
        guardian: Some(Guardian {
            name: format!("{surname}{}", GIVEN[rng.below(16) as usize]),
            relationship: Some(["父亲", "母亲"][(n % 2) as usize].into()),
            phone: Some(phone.clone()),
            national_id: None,
        }),
        phone,
        national_id: None,
        insurance: InsuranceType::Resident,
        merged_into: None,
        his_id: None,
        his_deleted: false,
        his_changed: None,
    }
}

/// Two records of one person (same name, birth date and phone), written apart: an open
/// duplicate-patient item.
pub fn duplicate_pair(o: &Origin, n: u64, at_ms: i64) -> [Patient; 2] {
    let mut rng = Rng::new(n);
    let a = patient(o, &mut rng, 9_000_000_000 + n, at_ms);
    let mut b = a.clone();
    b.header.id = RecordId::generate_at(at_ms + 1);
    b.patient_no = format!("{}-dup", a.patient_no);
    [a, b]
}

fn log<S: Status>(states: &[S], stamp: &Stamp) -> StatusLog {
    let mut log = StatusLog::default();
    for s in states {
        log.0.insert(s.name().to_owned(), stamp.clone());
    }
    log
}

/// One outpatient visit's records at `at_ms`: the visit, its charge, its invoice and, for
/// every other visit, a prescription.
pub fn visit_records(
    o: &Origin,
    patient: RecordId,
    n: u64,
    at_ms: i64,
) -> (Visit, Charge, Invoice, Option<Prescription>) {
    let stamp = o.stamp(at_ms);
    let visit = Visit {
        header: o.header(RecordKind::Visit, at_ms),
        patient,
        department: "PED-GEN".into(),
        doctor: None,
        fee: Fen(1000),
        registration_no: format!("{}-R{n:07}", o.node),
        fee_charge: None,
        status_log: log(&[VisitStatus::Registered, VisitStatus::Queued], &stamp),
        his_id: None,
    };
    let line = ChargeLine {
        catalog: CatalogKind::Service,
        code: "S00001".into(),
        name: "挂号费".into(),
        quantity: 1,
        unit_price: Fen(1000),
        amount: Fen(1000),
        catalog_version: 1,
    };
    let charge_header = o.header(RecordKind::Charge, at_ms + 1);
    let invoice_header = o.header(RecordKind::Invoice, at_ms + 2);
    let visit = Visit {
        fee_charge: Some(charge_header.id),
        ..visit
    };
    let charge = Charge {
        header: charge_header,
        visit: visit.header.id,
        patient,
        lines: vec![line],
        amount: Fen(1000),
        requested_payment: PaymentMethod::SelfPay,
        payment: Some(PaymentMethod::SelfPay),
        payments: vec![PaymentPart {
            channel: PaymentChannel::Wechat,
            amount: Fen(1000),
        }],
        resettle_due: None,
        resettle_after: None,
        resettled: None,
        source: ChargeSource::Registration,
        prescription: None,
        invoice: Some(invoice_header.id),
        refund: None,
        his_id: None,
        status_log: log(
            &[
                ChargeStatus::Pending,
                ChargeStatus::Settled,
                ChargeStatus::Invoiced,
            ],
            &stamp,
        ),
    };
    let invoice = Invoice {
        header: invoice_header,
        number: n,
        series: "invoice".into(),
        range_id: "bulk".into(),
        code: Some("144031900110".into()),
        charges: vec![charge.header.id],
        total: Fen(1000),
        resettlement: None,
        void_reason: None,
        status_log: log(&[InvoiceStatus::Issued], &stamp),
        his_id: None,
    };
    let prescription = n
        .is_multiple_of(2)
        .then(|| prescription(o, visit.header.id, patient, at_ms + 3));
    (visit, charge, invoice, prescription)
}

/// A prescription, issued (in `o`'s episode, if any: then it is after-work to dispense).
pub fn prescription(o: &Origin, visit: RecordId, patient: RecordId, at_ms: i64) -> Prescription {
    Prescription {
        header: o.header(RecordKind::Prescription, at_ms),
        visit,
        patient,
        items: vec![PrescriptionItem {
            drug_code: "D00001".into(),
            drug_name: "阿莫西林颗粒".into(),
            quantity: 2,
            dosage: "0.125g tid".into(),
            unit_price: Fen(1280),
            catalog_version: 1,
        }],
        charge: None,
        status_log: log(&[PrescriptionStatus::Issued], &o.stamp(at_ms)),
        his_id: None,
    }
}

/// A visit moved on to `states` (called, seen) at `at_ms`, as triage and the doctor move it.
pub fn move_visit(o: &Origin, visit: &mut Visit, states: &[VisitStatus], at_ms: i64) {
    let stamp = o.stamp(at_ms);
    for s in states {
        visit
            .status_log
            .0
            .insert(s.name().to_owned(), stamp.clone());
    }
}

/// A prescription dispensed at `at_ms`, and the dispense record the pharmacy writes.
pub fn dispense(o: &Origin, rx: &mut Prescription, at_ms: i64) -> Dispense {
    let stamp = o.stamp(at_ms);
    rx.status_log.0.insert(
        PrescriptionStatus::Dispensed.name().to_owned(),
        stamp.clone(),
    );
    Dispense {
        header: o.header(RecordKind::Dispense, at_ms),
        prescription: rx.header.id,
        patient: rx.patient,
        status_log: log(&[DispenseStatus::OnHold, DispenseStatus::Dispensed], &stamp),
    }
}

/// A registration as a window writes it in an outage: a new patient and a paused visit.
pub fn emergency_registration(o: &Origin, n: u64, at_ms: i64) -> (Patient, Visit) {
    let mut rng = Rng::new(n ^ 0x5eed);
    let p = patient(o, &mut rng, 5_000_000_000 + n, at_ms);
    let stamp = o.stamp(at_ms);
    let v = Visit {
        header: o.header(RecordKind::Visit, at_ms + 1),
        patient: p.header.id,
        department: "PED-GEN".into(),
        doctor: None,
        fee: Fen(1000),
        registration_no: format!("YJ{n:07}"),
        fee_charge: None,
        status_log: log(&[VisitStatus::Registered, VisitStatus::Paused], &stamp),
        his_id: None,
    };
    (p, v)
}

/// A catalog of `drugs` drugs and `services` services (codes `D00001`…, `S00001`…) and a few
/// departments, with names, forms and prices of realistic length.
pub fn catalogs(drugs: usize, services: usize) -> CatalogImport {
    const FORMS: [&str; 6] = ["片剂", "胶囊", "颗粒", "口服液", "注射液", "软膏"];
    let mut rng = Rng::new(42);
    let drugs: BTreeMap<String, Drug> = (1..=drugs)
        .map(|i| {
            let form = FORMS[rng.below(6) as usize];
            (
                format!("D{i:05}"),
                Drug {
                    name_zh: format!("药品{i}{form}"),
                    name_en: format!("Drug {i} {form}"),
                    spec: format!("{}mg*{}", 5 * (1 + rng.below(100)), 6 + rng.below(30)),
                    form: form.into(),
                    unit: "盒".into(),
                    price: Fen(100 + rng.below(50_000) as i64),
                    insurance_class: ["甲", "乙", "丙"][rng.below(3) as usize].into(),
                },
            )
        })
        .collect();
    let services: BTreeMap<String, Service> = (1..=services)
        .map(|i| {
            (
                format!("S{i:05}"),
                Service {
                    name_zh: format!("诊疗项目{i}"),
                    name_en: format!("Service {i}"),
                    unit: "次".into(),
                    price: Fen(500 + rng.below(100_000) as i64),
                    category: ["检查", "检验", "治疗", "挂号"][rng.below(4) as usize].into(),
                },
            )
        })
        .collect();
    let departments: BTreeMap<String, Department> = ["PED-GEN", "PED-RES", "PED-DIG", "PED-ENT"]
        .iter()
        .map(|code| {
            (
                (*code).to_owned(),
                Department {
                    name_zh: format!("儿科{code}"),
                    name_en: (*code).to_owned(),
                    registration_fee: Fen(1000),
                    expert_fee: Fen(3000),
                },
            )
        })
        .collect();
    CatalogImport {
        drugs: Some(drugs),
        services: Some(services),
        departments: Some(departments),
        doctors: None,
    }
}

/// The catalogs as the CSV files `lifeline catalog import` reads.
pub fn catalog_csv(import: &CatalogImport) -> (String, String, String) {
    let mut drugs = String::from("code,name_zh,name_en,spec,form,unit,price_fen,insurance_class\n");
    for (code, d) in import.drugs.iter().flatten() {
        drugs.push_str(&format!(
            "{code},{},{},{},{},{},{},{}\n",
            d.name_zh, d.name_en, d.spec, d.form, d.unit, d.price.0, d.insurance_class
        ));
    }
    let mut services = String::from("code,name_zh,name_en,unit,price_fen,category\n");
    for (code, s) in import.services.iter().flatten() {
        services.push_str(&format!(
            "{code},{},{},{},{},{}\n",
            s.name_zh, s.name_en, s.unit, s.price.0, s.category
        ));
    }
    let mut departments =
        String::from("code,name_zh,name_en,registration_fee_fen,expert_fee_fen\n");
    for (code, d) in import.departments.iter().flatten() {
        departments.push_str(&format!(
            "{code},{},{},{},{}\n",
            d.name_zh, d.name_en, d.registration_fee.0, d.expert_fee.0
        ));
    }
    (drugs, services, departments)
}

/// Ms since the epoch of `days` days before `now_ms`.
pub fn days_ago(now_ms: i64, days: i64) -> i64 {
    now_ms - days * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_catalogs_parse_back_from_their_csv() {
        let import = catalogs(30, 20);
        let (d, s, dep) = catalog_csv(&import);
        assert_eq!(
            lifeline_core::desk::parse_drugs(&d).expect("drugs").len(),
            30
        );
        assert_eq!(
            lifeline_core::desk::parse_services(&s)
                .expect("services")
                .len(),
            20
        );
        assert_eq!(
            lifeline_core::desk::parse_departments(&dep)
                .expect("depts")
                .len(),
            4
        );
    }
}

#[cfg(test)]
mod open_item_tests {
    use super::*;
    use lifeline_core::{DeskRole, NodeRole, Operator, Store, StoreOptions};

    #[test]
    fn generated_patients_are_not_look_alikes() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(
            dir.path().join("s.redb"),
            StoreOptions::new(NodeName::new("central").expect("valid"), NodeRole::Central),
        )
        .expect("open");
        let who = Operator::new(OperatorName::new("bulk").expect("valid"), DeskRole::Admin);
        let o = Origin {
            node: NodeName::new("central").expect("valid"),
            operator: who.name.clone(),
            episode: None,
        };
        let mut rng = Rng::new(7);
        let patients: Vec<Patient> = (0..300)
            .map(|n| patient(&o, &mut rng, n, 1_700_000_000_000 + n as i64))
            .collect();
        store.load_records(&who, patients).expect("load");
        let stats = store.stats().expect("stats");
        let conflicts = store.conflicts().expect("report");
        assert_eq!(stats.open_conflicts, 0, "{:#?}", conflicts.first());
    }
}
