//! Another hospital's HIS (tests/his/hospital_b.sql): other table and column names, other
//! codes, money in yuan with four decimals, text dates, integer keys; read and written by
//! configuration only (tests/his/hospital_b.toml). And `check` against it: the mapping fits,
//! and a wrong one is told what is wrong.

mod his_common;

use std::time::Duration;

use his_common::{bridge_operator, central_store};
use lifeline_core::desk::{NewCharge, NewChargeLine, NewPatient, NewVisit, Settlement};
use lifeline_core::numbers::Series;
use lifeline_core::record::{CatalogKind, Charge, InsuranceType, PaymentMethod, Prescription, Sex};
use lifeline_core::status::ChargeStatus;
use lifeline_core::store::PatientQuery;
use lifeline_core::{DeskRole, Fen, Operator, OperatorName, RecordKind};
use lifeline_node::his::check::check;
use lifeline_node::his::cluster::Cluster;
use lifeline_node::his::db::postgres::{PgSettings, Postgres};
use lifeline_node::his::mapping::Mapping;
use lifeline_node::his::pull::Puller;
use lifeline_node::his::push::Pusher;
use lifeline_node::his::state::BridgeState;

const SCHEMA: &str = include_str!("his/hospital_b.sql");

fn mapping() -> Mapping {
    Mapping::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/his/hospital_b.toml"),
    )
    .expect("hospital B's mapping is valid")
}

fn op(name: &str, desk: DeskRole) -> Operator {
    Operator::new(OperatorName::new(name).expect("valid"), desk)
}

#[test]
fn another_his_is_read_and_written_by_configuration_only() {
    let cluster = Cluster::create(None).expect("a PostgreSQL cluster");
    cluster.create_db("hospb").expect("db");
    cluster.run_sql("hospb", SCHEMA, &[]).expect("hospital B");
    let settings = PgSettings {
        url: cluster.url("postgres", "hospb"),
        password: Some(cluster.superuser_password().to_owned()),
        tls_ca: None,
        connect_timeout: Duration::from_secs(5),
        query_timeout: Duration::from_secs(30),
        utc_offset_min: 480,
    };
    let mapping = mapping();
    let (_dir, store) = central_store();
    let who = bridge_operator();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut db = Postgres::connect(&settings).await.expect("connect");
        let report = check(&mut db, &mapping).await.expect("check");
        assert!(report.ok(), "{:#?}", report.problems);

        let mut state = BridgeState::default();
        let summary = Puller {
            db: &mut db,
            store: &store,
            mapping: &mapping,
            who: &who,
            utc_offset_min: 480,
            overlap: Duration::from_secs(60),
            progress: &|_, _| {},
            save: &|_| {},
            keep_going: &|| true,
        }
        .run(&mut state)
        .await
        .expect("the pull runs");
        let table = |name: &str| summary.tables.iter().find(|(n, _)| n == name).expect(name).1.clone();

        // Four-decimal prices, to the fen by the mapping's rule; an inactive department left out.
        let services = store.service_list().expect("read").expect("there");
        assert_eq!(services.services["JY01"].price, Fen(2000), "19.9950 rounds half up");
        assert_eq!(services.departments["11"].registration_fee, Fen(850));
        assert_eq!(services.departments["12"].expert_fee, Fen(2500));
        assert!(!services.departments.contains_key("19"), "an inactive department");
        assert_eq!(services.doctors["501"].department, "11");
        let drugs = store.drug_list().expect("read").expect("there");
        assert_eq!(drugs.drugs["A01"].price, Fen(1833));
        assert_eq!(table("catalogs").rounded, 2);
        assert_eq!(table("catalogs").ignored, 1);

        // Patients: codes mapped, a date of 0000-00-00 refused with its key (pages of 2 rows).
        let patients = table("patients");
        assert_eq!((patients.created, patients.skipped), (2, 1), "{patients:?}");
        assert!(patients.last_skipped[0].his_id == "1003" && patients.last_skipped[0].reason.contains("0000-00-00"));
        let chen = store.find_patients(&PatientQuery::Number("K1001".into())).expect("search")[0];
        let p: lifeline_core::record::Patient = store.get(chen).expect("read").expect("there");
        assert_eq!((p.sex, p.insurance, p.his_id.as_deref()), (Sex::Male, InsuranceType::Resident, Some("1001")));
        assert_eq!(p.guardian.expect("guardian").phone.as_deref(), Some("13600000001"));

        // Today's work: an unknown department refused; statuses and money mapped.
        let visits = table("registrations");
        assert_eq!((visits.created, visits.skipped), (2, 1));
        assert!(visits.last_skipped[0].reason.contains("\"19\""), "{visits:?}");
        let rx: Prescription = store
            .get(store.find_his(RecordKind::Prescription, "9001").expect("find").expect("there"))
            .expect("read")
            .expect("there");
        assert_eq!(rx.items.len(), 2);
        assert_eq!(rx.items[1].quantity, 2);
        let paid: Charge = store
            .get(store.find_his(RecordKind::Charge, "6001").expect("find").expect("there"))
            .expect("read")
            .expect("there");
        // Paid and on an HIS invoice: settled, and covered by the invoice.
        assert_eq!(paid.status_log.current::<ChargeStatus>(), Ok(ChargeStatus::Settled));
        assert!(paid.invoice.is_some(), "{paid:?}");
        assert_eq!((paid.amount, paid.payment), (Fen(2500), Some(PaymentMethod::Insurance)));
        let open: Charge = store
            .get(store.find_his(RecordKind::Charge, "6002").expect("find").expect("there"))
            .expect("read")
            .expect("there");
        assert_eq!((open.amount, open.payment), (Fen(1833), None));

        // An episode, written back in hospital B's own codes.
        let admin = bridge_operator();
        for series in [Series::EmergencyRegistration, Series::Invoice] {
            let range = store.lease_range(&admin, series, store.node().clone(), 10).expect("lease").value;
            store.accept_lease(&admin, range).expect("accept");
        }
        store.open_episode(&admin, "the HIS is unreachable", lifeline_core::desk::Opening::Automatic).expect("episode");
        let reg = op("reg", DeskRole::Registration);
        let new = store
            .create_patient(
                &reg,
                NewPatient {
                    patient_no: None,
                    name: "新病人".into(),
                    sex: Sex::Female,
                    birth_date: "2022-02-02".parse().expect("date"),
                    phone: "13700000000".into(),
                    national_id: None,
                    insurance: InsuranceType::SelfPay,
                    guardian: None,
                },
            )
            .expect("patient")
            .value
            .header
            .id;
        let visit = store
            .register_visit(&reg, NewVisit { patient: chen, department: "11".into(), doctor: Some("501".into()), expert: false, payment: None, occurred_at: None })
            .expect("visit")
            .value
            .header
            .id;
        store
            .register_visit(&reg, NewVisit { patient: new, department: "12".into(), doctor: None, expert: true, payment: None, occurred_at: None })
            .expect("visit");
        let charge = store
            .create_charge(
                &op("dr", DeskRole::Doctor),
                NewCharge {
                    visit,
                    lines: vec![NewChargeLine { catalog: CatalogKind::Service, code: "JY01".into(), quantity: 1 }],
                    payment: PaymentMethod::Insurance, occurred_at: None },
            )
            .expect("charge")
            .value
            .header
            .id;
        store
            .settle_charge(&op("cash", DeskRole::Cashier), charge, Settlement::InsuranceFailed)
            .expect("settle");
        let pushed = Pusher { db: &mut db, store: &store, mapping: &mapping, who: &who, utc_offset_min: 480, save: &|_| {} }
            .push_all(&mut state)
            .await
            .expect("the push runs");
        assert_eq!(pushed.unwritable, Vec::<(String, String)>::new());
        let q = |sql: &str| cluster.query_one("hospb", sql).expect("query");
        assert_eq!(q(&format!("SELECT xm || '|' || xb FROM yy.jk_br WHERE wbid = '{new}'")), "新病人|F");
        assert_eq!(
            q("SELECT string_agg(coalesce(yybrid::text, '-') || ':' || ksdm || ':' || ghf::text || ':' || zt, ',' ORDER BY ksdm) FROM yy.jk_gh"),
            "1001:11:8.5000:WAIT,-:12:25.0000:WAIT"
        );
        assert_eq!(
            q(&format!("SELECT lx || ':' || je::text || ':' || zt || ':' || bcjs || ':' || ghwbid || ':' || coalesce(yyghid::text, '-') FROM yy.jk_sf WHERE wbid = '{charge}/1'")),
            format!("XM:20.0000:PAID:Y:{visit}:-")
        );

        // A mapping that names a column the HIS does not have is told so.
        let mut wrong = mapping.clone();
        wrong.pull.patients.columns.insert("name".into(), "xingming".into());
        wrong.push.charges.columns.insert("amount".into(), "jine".into());
        wrong.push.patients.columns.insert("name".into(), "csrq".into());
        let report = check(&mut db, &wrong).await.expect("check");
        let problems = report.problems.join("\n");
        assert!(problems.contains("pull.patients.sql: name is mapped to column xingming"), "{problems}");
        assert!(problems.contains("push.charges (yy.jk_sf): amount is mapped to column jine"), "{problems}");
        assert!(problems.contains("name (column csrq) is of type date"), "{problems}");
    });
}
