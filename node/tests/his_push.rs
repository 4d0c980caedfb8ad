//! The push against a real PostgreSQL with the reference HIS: an episode's records reach the
//! interface tables once, with the HIS's codes and exact money; a second push (even with the
//! ledger lost) writes nothing; the HIS's verdicts come back (a refusal on the worklist, an
//! emergency patient linked to the HIS id it was given); a correction after the HIS imported a
//! row is a new revision and the imported row is left as it was.

mod his_common;

use his_common::{Pg, bridge_operator, central_store, ranges_for_episode};
use lifeline_core::desk::{
    NewCharge, NewChargeLine, NewPatient, NewPrescription, NewPrescriptionItem, NewVisit,
    Settlement,
};
use lifeline_core::record::{CatalogKind, InsuranceType, Patient, PaymentMethod, Sex};
use lifeline_core::review::WorkCategory;
use lifeline_core::store::PatientQuery;
use lifeline_core::{DeskRole, Operator, OperatorName, RecordId, Store};
use lifeline_node::his::db::postgres::Postgres;
use lifeline_node::his::mapping::Mapping;
use lifeline_node::his::pull::Puller;
use lifeline_node::his::push::{PushSummary, Pusher};
use lifeline_node::his::state::BridgeState;

fn op(name: &str, desk: DeskRole) -> Operator {
    Operator::new(OperatorName::new(name).expect("valid"), desk)
}

async fn pull(db: &mut Postgres, store: &Store, state: &mut BridgeState) {
    let mapping = Mapping::reference();
    let who = bridge_operator();
    Puller {
        db,
        store,
        mapping: &mapping,
        who: &who,
        utc_offset_min: 480,
        overlap: std::time::Duration::from_secs(300),
        progress: &|_, _| {},
        save: &|_| {},
        keep_going: &|| true,
    }
    .run(state)
    .await
    .expect("the pull runs");
}

async fn push(db: &mut Postgres, store: &Store, state: &mut BridgeState) -> PushSummary {
    let mapping = Mapping::reference();
    let who = bridge_operator();
    Pusher {
        db,
        store,
        mapping: &mapping,
        who: &who,
        utc_offset_min: 480,
        save: &|_| {},
    }
    .push_all(state)
    .await
    .expect("the push runs")
}

/// The HIS is unreachable: the cashier holds a range of invoice numbers and an automatic
/// episode is open.
fn his_outage(store: &Store) -> lifeline_core::EpisodeId {
    ranges_for_episode(store, &op("cash1", DeskRole::Cashier), 100);
    store
        .open_episode(
            &bridge_operator(),
            "the HIS is unreachable",
            lifeline_core::desk::Opening::Automatic,
        )
        .expect("episode")
        .value
}

fn written(summary: &PushSummary) -> u64 {
    summary
        .tables
        .iter()
        .map(|(_, t)| t.created + t.updated)
        .sum()
}

/// One child through registration, the doctor and the cashier during the episode.
fn visit(store: &Store, patient: RecordId, insurance_fails: bool) -> (RecordId, RecordId) {
    let reg = op("reg1", DeskRole::Registration);
    let doctor = op("dr1", DeskRole::Doctor);
    let cashier = op("cash1", DeskRole::Cashier);
    let v = store
        .register_visit(
            &reg,
            NewVisit {
                patient,
                department: "1001".into(),
                doctor: Some("D0001".into()),
                expert: false,
                payment: None,
                occurred_at: None,
            },
        )
        .expect("visit")
        .value;
    store
        .create_prescription(
            &doctor,
            NewPrescription {
                visit: v.header.id,
                items: vec![NewPrescriptionItem {
                    drug_code: "Y0000020".into(),
                    quantity: 2,
                    dosage: "每次5ml tid 3天".into(),
                }],
                payment: None,
                occurred_at: None,
            },
        )
        .expect("prescription");
    let charge = store
        .create_charge(
            &doctor,
            NewCharge {
                visit: v.header.id,
                lines: vec![
                    NewChargeLine {
                        catalog: CatalogKind::Service,
                        code: "250101015".into(),
                        quantity: 1,
                    },
                    NewChargeLine {
                        catalog: CatalogKind::Drug,
                        code: "Y0000020".into(),
                        quantity: 2,
                    },
                ],
                payment: PaymentMethod::Insurance,
                occurred_at: None,
            },
        )
        .expect("charge")
        .value;
    let outcome = if insurance_fails {
        Settlement::InsuranceFailed
    } else {
        Settlement::Paid
    };
    store
        .settle_charge(&cashier, charge.header.id, outcome)
        .expect("settle");
    if !insurance_fails {
        store
            .issue_invoice(&cashier, vec![charge.header.id])
            .expect("invoice");
    }
    (v.header.id, charge.header.id)
}

#[test]
fn an_episode_reaches_the_interface_tables_once_and_the_his_verdicts_come_back() {
    let pg = Pg::reference(200, 30, 100);
    let (_dir, store) = central_store();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut db = pg.connect().await;
        let mut state = BridgeState::default();
        pull(&mut db, &store, &mut state).await;

        let episode = his_outage(&store);
        let known = store
            .find_patients(&PatientQuery::HisId("P000000007".into()))
            .expect("search")[0];
        let new = store
            .create_patient(
                &op("reg1", DeskRole::Registration),
                NewPatient {
                    patient_no: None,
                    name: "林小雨".into(),
                    sex: Sex::Female,
                    birth_date: "2021-03-14".parse().expect("date"),
                    phone: "13912345678".into(),
                    national_id: None,
                    insurance: InsuranceType::Resident,
                    guardian: None,
                },
            )
            .expect("patient")
            .value
            .header
            .id;
        let (_known_visit, _) = visit(&store, known, false);
        let (new_visit, failed_charge) = visit(&store, new, true);

        let first = push(&mut db, &store, &mut state).await;
        assert_eq!(pg.count("SELECT count(*) FROM his.yj_patient"), 1, "{first:?}");
        assert_eq!(pg.count("SELECT count(*) FROM his.yj_registration"), 2);
        assert_eq!(pg.count("SELECT count(*) FROM his.yj_prescription"), 2);
        // One row per line: per visit, the registration fee, the prescription's drug and the
        // doctor's charge of two lines.
        assert_eq!(pg.count("SELECT count(*) FROM his.yj_charge"), 8, "one row per line");
        assert_eq!(written(&first), 13);
        assert_eq!(first.waiting, 13);
        // The registration fee as the HIS charges it: its service item, at the fee.
        assert_eq!(
            pg.query("SELECT string_agg(item_kind || ':' || amount::text, ',') FROM his.yj_charge WHERE item_code = '110100001'"),
            "S:10.00,S:10.00"
        );
        let ep = episode.to_string();
        assert_eq!(
            pg.query(&format!(
                "SELECT count(*) FROM his.yj_registration WHERE episode = '{ep}' AND reg_no LIKE 'YJ%' AND dept_code = '1001' AND fee = 10.00"
            )),
            "2"
        );
        assert_eq!(
            pg.query("SELECT his_patient_id FROM his.yj_registration WHERE patient_ext_id IS NULL"),
            "P000000007",
            "the desk chose the HIS's patient"
        );
        assert_eq!(
            pg.query(&format!("SELECT name || '|' || sex_code || '|' || insurance_type FROM his.yj_patient WHERE ext_id = '{new}'")),
            "林小雨|2|02"
        );
        // Money exact, in yuan: 血常规 20.00 and 2 × 11.52 of Y0000020.
        assert_eq!(
            pg.query(&format!(
                "SELECT string_agg(item_kind || ':' || amount::text || ':' || self_pay_pending_resettle || ':' || coalesce(invoice_no, '-'), ',' ORDER BY ext_id) FROM his.yj_charge WHERE ext_id LIKE '{failed_charge}/%'"
            )),
            "S:20.00:Y:-,D:23.04:Y:-"
        );
        assert_eq!(
            pg.count("SELECT count(*) FROM his.yj_charge WHERE invoice_no IS NOT NULL AND pay_mode = '05'"),
            2
        );
        assert_eq!(
            pg.query(&format!("SELECT items->0->>'drug_code' FROM his.yj_prescription WHERE registration_ext_id = '{new_visit}'")),
            "Y0000020"
        );

        // Idempotent: again, and again with the ledger lost.
        let second = push(&mut db, &store, &mut state).await;
        assert_eq!(written(&second), 0, "{second:?}");
        let mut forgotten = BridgeState::default();
        let third = push(&mut db, &store, &mut forgotten).await;
        assert_eq!(written(&third), 0, "{third:?}");
        assert_eq!(pg.count("SELECT count(*) FROM his.yj_charge WHERE revision > 1"), 0);

        // The HIS's import job takes the patient and refuses a registration.
        pg.exec(&format!(
            "UPDATE his.yj_patient SET imported_at = localtimestamp, his_id = 'P900000001' WHERE ext_id = '{new}';
             UPDATE his.yj_registration SET import_error = '科室停诊' WHERE ext_id = '{new_visit}';
             UPDATE his.yj_charge SET imported_at = localtimestamp WHERE ext_id = '{failed_charge}/1';"
        ));
        let verdicts = push(&mut db, &store, &mut state).await;
        assert_eq!(verdicts.refused, 1, "{verdicts:?}");
        let list = store.worklist().expect("worklist");
        let refused: Vec<_> = list.of(WorkCategory::FixHisRejection).collect();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].record, new_visit);
        assert!(refused[0].what.contains("科室停诊"), "{}", refused[0].what);
        let linked: Patient = store.get(new).expect("read").expect("there");
        assert_eq!(linked.his_id.as_deref(), Some("P900000001"));

        // The insurance is re-settled: the imported line gets a new revision, the other line
        // (not imported yet) is corrected in place.
        store
            .resettle_charge(&op("cash1", DeskRole::Cashier), failed_charge)
            .expect("resettle");
        push(&mut db, &store, &mut state).await;
        assert_eq!(
            pg.query(&format!(
                "SELECT string_agg(ext_id || '#' || revision || ':' || self_pay_pending_resettle || ':' || (imported_at IS NOT NULL), ',' ORDER BY ext_id, revision) FROM his.yj_charge WHERE ext_id LIKE '{failed_charge}/%'"
            )),
            format!(
                "{failed_charge}/1#1:Y:true,{failed_charge}/1#2:N:false,{failed_charge}/2#1:N:false"
            )
        );
    });
}

/// Issue 13: "Drills ... run the whole procedure with records marked as a drill, ... excluded
/// from real statistics and from the HIS push."
/// The morning's work goes on in the outage: a charge the HIS created is settled and a
/// registration it took is called at triage. Both changes reach the interface tables as rows
/// carrying the HIS's own ids (a change to its record, not a new one) and the episode; what
/// nobody touched is not pushed.
#[test]
fn changes_in_an_episode_to_the_his_s_own_records_go_back_to_it() {
    let pg = Pg::reference(100, 30, 50);
    let (_dir, store) = central_store();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut db = pg.connect().await;
        let mut state = BridgeState::default();
        pull(&mut db, &store, &mut state).await;
        let his_charge = pg.query("SELECT min(charge_id)::text FROM his.charge WHERE status = '0'");
        let his_reg = pg.query("SELECT min(reg_id)::text FROM his.registration WHERE status = '0'");
        let find = |kind, his: &str| {
            store
                .find_his(kind, his)
                .expect("find")
                .unwrap_or_else(|| panic!("the HIS's {kind:?} {his} was pulled"))
        };
        let charge = find(lifeline_core::record::RecordKind::Charge, &his_charge);
        let visit = find(lifeline_core::record::RecordKind::Visit, &his_reg);

        let episode = his_outage(&store);
        store
            .settle_charge(&op("cash1", DeskRole::Cashier), charge, Settlement::Paid)
            .expect("the morning's charge is settled in the outage");
        store
            .call_visit(&op("nurse1", DeskRole::Triage), visit)
            .expect("the morning's patient is called in the outage");

        let summary = push(&mut db, &store, &mut state).await;
        let ep = episode.to_string();
        assert_eq!(
            pg.query(
                "SELECT string_agg(DISTINCT his_id || ':' || status || ':' || episode, ',') FROM his.yj_charge WHERE his_id IS NOT NULL",
            ),
            format!("{his_charge}:1:{ep}"),
            "the settled HIS charge, as a change to it: {summary:?}"
        );
        assert_eq!(
            pg.query(
                "SELECT string_agg(his_id || ':' || status || ':' || episode, ',') FROM his.yj_registration WHERE his_id IS NOT NULL",
            ),
            format!("{his_reg}:1:{ep}")
        );
        assert_eq!(
            pg.count("SELECT count(*) FROM his.yj_prescription"),
            0,
            "nothing else of the HIS's was touched"
        );
        assert_eq!(
            pg.count("SELECT count(*) FROM his.yj_patient"),
            0,
            "nor its patients"
        );
    });
}

#[test]
fn a_drill_s_records_never_reach_the_interface_tables() {
    let pg = Pg::reference(50, 10, 20);
    let (_dir, store) = central_store();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let admin = bridge_operator();
    rt.block_on(async {
        let mut db = pg.connect().await;
        let mut state = BridgeState::default();
        pull(&mut db, &store, &mut state).await;
        ranges_for_episode(&store, &op("cash1", DeskRole::Cashier), 100);
        let drill = store
            .open_episode(&admin, "monthly drill", lifeline_core::desk::Opening::Drill)
            .expect("drill")
            .value;
        assert!(drill.is_drill(), "{drill}");
        let patient = store
            .find_patients(&PatientQuery::HisId("P000000007".into()))
            .expect("search")[0];
        let (visit_id, _) = visit(&store, patient, false);
        let written_in_drill: lifeline_core::record::Visit =
            store.get(visit_id).expect("read").expect("the visit");
        assert!(written_in_drill.header.is_drill());
        let summary = push(&mut db, &store, &mut state).await;
        assert_eq!(written(&summary), 0, "{summary:?}");
        for table in [
            "yj_patient",
            "yj_registration",
            "yj_prescription",
            "yj_charge",
        ] {
            assert_eq!(
                pg.count(&format!("SELECT count(*) FROM his.{table}")),
                0,
                "{table} holds a drill's rows"
            );
        }
    });
}

/// Per table: (records rebuilt, records reused).
fn tally(summary: &PushSummary) -> Vec<(String, u64, u64)> {
    summary
        .tables
        .iter()
        .map(|(n, t)| (n.clone(), t.rebuilt, t.reused))
        .collect()
}

fn rebuilt(summary: &PushSummary) -> u64 {
    summary.tables.iter().map(|(_, t)| t.rebuilt).sum()
}

fn rebuilt_in(summary: &PushSummary, table: &str) -> u64 {
    summary
        .tables
        .iter()
        .find(|(n, _)| n == table)
        .map_or(0, |(_, t)| t.rebuilt)
}

fn new_patient(store: &Store, name: &str) -> RecordId {
    store
        .create_patient(
            &op("reg1", DeskRole::Registration),
            NewPatient {
                patient_no: None,
                name: name.into(),
                sex: Sex::Male,
                birth_date: "2019-06-01".parse().expect("date"),
                phone: "13800001111".into(),
                national_id: None,
                insurance: InsuranceType::SelfPay,
                guardian: None,
            },
        )
        .expect("patient")
        .value
        .header
        .id
}

/// A push after a push that wrote everything builds no row again, even after a restart (the
/// state as saved, read back); a record that changed is the only one built again.
#[test]
fn a_push_with_nothing_new_builds_nothing_again_even_after_a_restart() {
    let pg = Pg::reference(100, 20, 50);
    let (dir, store) = central_store();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut db = pg.connect().await;
        let mut state = BridgeState::default();
        pull(&mut db, &store, &mut state).await;
        his_outage(&store);
        let patient = new_patient(&store, "周小舟");
        visit(&store, patient, false);
        let (_, failed_charge) = visit(&store, patient, true);

        let first = push(&mut db, &store, &mut state).await;
        let records = rebuilt(&first);
        // 1 patient, 2 registrations, 2 prescriptions, 2 × 3 charges.
        assert_eq!(records, 11, "{:?}", tally(&first));
        assert!(first.tables.iter().all(|(_, t)| t.reused == 0));

        let second = push(&mut db, &store, &mut state).await;
        assert_eq!(rebuilt(&second), 0, "{:?}", tally(&second));
        assert_eq!(
            second.tables.iter().map(|(_, t)| t.reused).sum::<u64>(),
            records
        );
        assert_eq!(written(&second), 0);
        for ((_, a), (_, b)) in first.tables.iter().zip(&second.tables) {
            assert_eq!((b.rows, b.unchanged), (a.rows, a.rows), "{second:?}");
        }

        state.save(dir.path()).expect("the state is saved");
        let mut restarted = BridgeState::load(dir.path());
        let third = push(&mut db, &store, &mut restarted).await;
        assert_eq!(rebuilt(&third), 0, "{:?}", tally(&third));

        // The failed insurance is re-settled: that charge alone is built again and written.
        store
            .resettle_charge(&op("cash1", DeskRole::Cashier), failed_charge)
            .expect("resettle");
        let fourth = push(&mut db, &store, &mut restarted).await;
        assert_eq!(rebuilt(&fourth), 1, "{:?}", tally(&fourth));
        assert_eq!(rebuilt_in(&fourth, "charges"), 1);
        assert_eq!(written(&fourth), 2, "its two lines: {fourth:?}");
        assert_eq!(
            pg.count(&format!(
                "SELECT count(*) FROM his.yj_charge WHERE ext_id LIKE '{failed_charge}/%' AND self_pay_pending_resettle = 'N'"
            )),
            2
        );
    });
}

/// A row is built again whenever a record it was built from changed, not only its own: the
/// registration of an emergency patient merged into the HIS's record of them carries that
/// patient's HIS id, and a registration fee's charge line becomes the expert fee's item when
/// the HIS's fees make that fee the expert one.
#[test]
fn a_row_is_pushed_again_when_a_record_it_was_built_from_changes() {
    let pg = Pg::reference(100, 20, 50);
    let (_dir, store) = central_store();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let admin = bridge_operator();
    rt.block_on(async {
        let mut db = pg.connect().await;
        let mut state = BridgeState::default();
        pull(&mut db, &store, &mut state).await;
        his_outage(&store);
        let patient = new_patient(&store, "吴晓东");
        let (visit_id, _) = visit(&store, patient, false);
        push(&mut db, &store, &mut state).await;
        let his_patient_of_visit = format!(
            "SELECT coalesce(his_patient_id, '-') FROM his.yj_registration WHERE ext_id = '{visit_id}' ORDER BY revision DESC LIMIT 1"
        );
        assert_eq!(pg.query(&his_patient_of_visit), "-");

        // A reviewer finds the child in the HIS's master: the visit itself is untouched.
        let known = store
            .find_patients(&PatientQuery::HisId("P000000007".into()))
            .expect("search")[0];
        store
            .merge_patients(&admin, known, patient)
            .expect("the emergency patient is merged into the HIS's");
        let merged = push(&mut db, &store, &mut state).await;
        assert_eq!(pg.query(&his_patient_of_visit), "P000000007", "{merged:?}");
        assert_eq!(rebuilt_in(&merged, "registrations"), 1, "{:?}", tally(&merged));
        assert_eq!(rebuilt_in(&merged, "prescriptions"), 0, "{:?}", tally(&merged));

        // The HIS's fees change: 10.00, the fee the visit paid, is now the expert fee.
        let fee_rows = |item: &str| {
            pg.count(&format!(
                "SELECT count(*) FROM his.yj_charge WHERE item_code = '{item}' AND episode IS NOT NULL"
            ))
        };
        assert_eq!((fee_rows("110100001"), fee_rows("110100002")), (1, 0));
        pg.exec(
            "UPDATE his.service_item SET price = 12.00, updated_at = localtimestamp WHERE item_code = '110100001';
             UPDATE his.service_item SET price = 10.00, updated_at = localtimestamp WHERE item_code = '110100002';",
        );
        pull(&mut db, &store, &mut state).await;
        let fees = push(&mut db, &store, &mut state).await;
        assert_eq!(
            (fee_rows("110100001"), fee_rows("110100002")),
            (0, 1),
            "{fees:?}"
        );
        assert_eq!(rebuilt_in(&fees, "charges"), 1, "{:?}", tally(&fees));
        assert_eq!(rebuilt_in(&fees, "registrations"), 0, "{:?}", tally(&fees));
        assert_eq!(written(&fees), 1);
    });
}
