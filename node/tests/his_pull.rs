//! The pull against a real PostgreSQL with the reference HIS seeded (small: 2,000 patients,
//! 200 registrations today): catalogs with exact prices, the patient master with guardians,
//! today's work; a second pull writes nothing; a change in the HIS is picked up
//! incrementally; bad rows are skipped with their keys; the cursor survives a restart.

mod his_common;

use his_common::{Pg, bridge_operator, central_store};
use lifeline_core::desk::CatalogImport;
use lifeline_core::record::Patient;
use lifeline_core::store::PatientQuery;
use lifeline_core::{DeskRole, Fen, Operator, OperatorName, RecordKind, Store};
use lifeline_node::his::db::postgres::Postgres;
use lifeline_node::his::db::{HisDatabase, Value};
use lifeline_node::his::mapping::Mapping;
use lifeline_node::his::pull::{PullSummary, Puller};
use lifeline_node::his::state::BridgeState;

async fn pull(db: &mut Postgres, store: &Store, state: &mut BridgeState) -> PullSummary {
    pull_overlapping(db, store, state, std::time::Duration::from_secs(300)).await
}

async fn pull_overlapping(
    db: &mut Postgres,
    store: &Store,
    state: &mut BridgeState,
    overlap: std::time::Duration,
) -> PullSummary {
    let mapping = Mapping::reference();
    let who = bridge_operator();
    let mut puller = Puller {
        db,
        store,
        mapping: &mapping,
        who: &who,
        utc_offset_min: 480,
        overlap,
        progress: &|_, _| {},
        save: &|_| {},
        keep_going: &|| true,
    };
    puller.run(state).await.expect("the pull runs")
}

fn counts(summary: &PullSummary, table: &str) -> (u64, u64, u64, u64, u64) {
    let (_, t) = summary
        .tables
        .iter()
        .find(|(n, _)| n == table)
        .unwrap_or_else(|| panic!("no {table} in {summary:?}"));
    (t.rows, t.created, t.updated, t.unchanged, t.skipped)
}

#[test]
fn the_reference_his_comes_in_whole_and_a_second_pull_writes_nothing() {
    let pg = Pg::reference(2000, 200, 300);
    let (_dir, store) = central_store();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut db = pg.connect().await;
        let mut state = BridgeState::default();
        let first = pull(&mut db, &store, &mut state).await;
        assert_eq!(counts(&first, "patients"), (2000, 2000, 0, 0, 0));
        let visits = pg.count("SELECT count(*) FROM his.registration WHERE visit_date = current_date");
        assert_eq!(visits, 200);
        assert_eq!(counts(&first, "registrations").1, visits);
        let rx = pg.count("SELECT count(*) FROM his.prescription");
        assert_eq!(counts(&first, "prescriptions").1, rx);
        let invoices = pg.count("SELECT count(*) FROM his.invoice");
        assert_eq!(counts(&first, "invoices").1, invoices);
        let charges = pg.count("SELECT count(*) FROM his.charge");
        assert_eq!(counts(&first, "charges").1, charges);
        let catalogs = first.tables.iter().find(|(n, _)| n == "catalogs").expect("catalogs").1.clone();
        assert!(catalogs.rounded > 0, "4-decimal drug prices were rounded: {catalogs:?}");

        // Prices are exact: 阿莫西林颗粒 Y0000020 is 12.80 × (0.8 + 2 × 0.05) = 11.52.
        let drugs = store.drug_list().expect("read").expect("drug catalog");
        assert_eq!(drugs.drugs.len(), 300);
        let y20 = pg.query("SELECT price::text FROM his.drug WHERE drug_code = 'Y0000020'");
        assert_eq!(y20, "11.5200");
        assert_eq!(drugs.drugs["Y0000020"].price, Fen(1152));
        let services = store.service_list().expect("read").expect("service catalog");
        assert_eq!(services.departments["1001"].registration_fee, Fen(1000));
        assert_eq!(services.departments["1001"].expert_fee, Fen(3000));
        assert_eq!(services.doctors.len(), 120);
        assert_eq!(services.services["270000002"].price, Fen(80));

        // The patient master: by HIS id, card number, national id; with the guardian.
        let ids = store
            .find_patients(&PatientQuery::HisId("P000000007".into()))
            .expect("search");
        assert_eq!(ids.len(), 1);
        let p: Patient = store.get(ids[0]).expect("read").expect("there");
        let card = pg.query("SELECT card_no FROM his.patient WHERE patient_id = 'P000000007'");
        assert_eq!(p.patient_no, card);
        assert_eq!(
            store.find_patients(&PatientQuery::Number(card)).expect("search"),
            ids
        );
        let guardian_phone =
            pg.query("SELECT guardian_phone FROM his.patient WHERE patient_id = 'P000000007'");
        assert_eq!(
            p.guardian.as_ref().and_then(|g| g.phone.clone()),
            Some(guardian_phone)
        );
        let infant = store
            .find_patients(&PatientQuery::HisId("P000000010".into()))
            .expect("search");
        let infant: Patient = store.get(infant[0]).expect("read").expect("there");
        assert_eq!(infant.national_id, None, "every tenth child has no id number yet");

        // Nothing changed in the HIS: nothing is written. The morning's work was seeded in one
        // instant, so the overlap window holds all of it: read again, it is recognised as the
        // first pull read it and not compared with the store.
        let feed = store.feed_head().expect("feed");
        let second = pull(&mut db, &store, &mut state).await;
        assert_eq!(store.feed_head().expect("feed"), feed, "{second:?}");
        assert_eq!(second.tables.iter().map(|(_, t)| t.created + t.updated).sum::<u64>(), 0);
        let reread = |summary: &PullSummary, table: &str| {
            summary
                .tables
                .iter()
                .find(|(n, _)| n == table)
                .map_or(0, |(_, t)| t.reread)
        };
        assert_eq!(reread(&second, "registrations"), visits, "{second:?}");
        // After a restart (the memory of the window gone) the same rows are compared with the
        // store instead, and still nothing is written.
        let mut restarted = BridgeState {
            cursors: state.cursors.clone(),
            ..BridgeState::default()
        };
        let compared = pull(&mut db, &store, &mut restarted).await;
        assert_eq!(reread(&compared, "registrations"), 0, "{compared:?}");
        assert_eq!(counts(&compared, "registrations").3, visits);
        assert_eq!(store.feed_head().expect("feed"), feed, "{compared:?}");
        // A row of the window that changes is read as changed.
        pg.exec("UPDATE his.registration SET status = '1' WHERE reg_id = (SELECT min(reg_id) FROM his.registration WHERE status = '0')");
        let moved = pull(&mut db, &store, &mut state).await;
        assert_eq!(counts(&moved, "registrations").2, 1, "{moved:?}");
        assert_eq!(reread(&moved, "registrations"), visits - 1);

        // A change in the HIS comes in on the next pull, and only it.
        pg.exec("UPDATE his.patient SET phone = '13000000007', updated_at = localtimestamp WHERE patient_id = 'P000000007'");
        let third = pull(&mut db, &store, &mut state).await;
        assert_eq!(counts(&third, "patients").2, 1, "{third:?}");
        let p: Patient = store.get(ids[0]).expect("read").expect("there");
        assert_eq!(p.phone, "13000000007");
    });
}

#[test]
fn bad_rows_are_reported_with_their_keys_and_skipped() {
    let pg = Pg::reference(50, 20, 40);
    pg.exec(
        "UPDATE his.patient SET name = '' WHERE patient_id = 'P000000003';
         UPDATE his.patient SET birth_date = NULL WHERE patient_id = 'P000000004';
         UPDATE his.patient SET sex_code = '7' WHERE patient_id = 'P000000005';
         ALTER TABLE his.drug DROP CONSTRAINT drug_price_check;
         UPDATE his.drug SET price = -1 WHERE drug_code = 'Y0000003';
         UPDATE his.registration SET dept_code = '9003' WHERE reg_id = 2;
         UPDATE his.dept SET is_active = 'N' WHERE dept_code = '9003';",
    );
    let (_dir, store) = central_store();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut db = pg.connect().await;
        let mut state = BridgeState::default();
        let summary = pull(&mut db, &store, &mut state).await;
        let patients = &summary
            .tables
            .iter()
            .find(|(n, _)| n == "patients")
            .expect("p")
            .1;
        assert_eq!(patients.created, 47);
        let skipped: Vec<(&str, &str)> = patients
            .last_skipped
            .iter()
            .map(|s| (s.his_id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(
            skipped
                .iter()
                .any(|(k, r)| *k == "P000000003" && r.contains("name"))
        );
        assert!(
            skipped
                .iter()
                .any(|(k, r)| *k == "P000000004" && r.contains("birth_date"))
        );
        assert!(
            skipped
                .iter()
                .any(|(k, r)| *k == "P000000005" && r.contains("\"7\""))
        );
        let catalogs = &summary
            .tables
            .iter()
            .find(|(n, _)| n == "catalogs")
            .expect("c")
            .1;
        assert!(
            catalogs
                .last_skipped
                .iter()
                .any(|s| s.his_id == "Y0000003" && s.reason.contains("negative")),
            "{catalogs:?}"
        );
        let visits = &summary
            .tables
            .iter()
            .find(|(n, _)| n == "registrations")
            .expect("r")
            .1;
        assert!(
            visits
                .last_skipped
                .iter()
                .any(|s| s.his_id == "2" && s.reason.contains("9003")),
            "{visits:?}"
        );
        assert!(
            store
                .find_his(RecordKind::Visit, "2")
                .expect("find")
                .is_none()
        );
        assert!(
            store
                .find_his(RecordKind::Visit, "1")
                .expect("find")
                .is_some()
        );
    });
}

#[test]
fn a_catalog_change_writes_only_the_items_it_changed_under_a_new_version() {
    let pg = Pg::reference(50, 20, 40);
    let (_dir, store) = central_store();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut db = pg.connect().await;
        let mut state = BridgeState::default();
        pull(&mut db, &store, &mut state).await;
        let (drug_version, service_version) = store.catalog_versions().expect("versions");
        let before = store.drug_list().expect("read").expect("drugs");
        assert_eq!(before.drugs.len(), 40);

        // In the HIS: one price changed, one drug stopped, one row gone bad.
        pg.exec(
            "UPDATE his.drug SET price = 20, updated_at = localtimestamp WHERE drug_code = 'Y0000001';
             UPDATE his.drug SET is_active = 'N', updated_at = localtimestamp WHERE drug_code = 'Y0000002';
             ALTER TABLE his.drug DROP CONSTRAINT drug_price_check;
             UPDATE his.drug SET price = -1, updated_at = localtimestamp WHERE drug_code = 'Y0000005';",
        );
        let feed = store.feed_head().expect("feed");
        let second = pull(&mut db, &store, &mut state).await;
        let run = &second
            .tables
            .iter()
            .find(|(n, _)| n == "catalogs")
            .unwrap_or_else(|| panic!("the catalogs changed: {second:?} {}", pg.query("SELECT price::text || updated_at::text FROM his.drug WHERE drug_code = 'Y0000001'")))
            .1;
        assert_eq!((run.created, run.updated), (0, 2), "{run:?}");
        assert!(run.last_skipped.iter().any(|s| s.his_id == "Y0000005"), "{run:?}");
        assert_eq!(
            store.catalog_versions().expect("versions"),
            (drug_version + 1, service_version),
            "a new drug catalog version; the services did not change"
        );
        // Two items and the drug catalog's own record: nothing else is written.
        let written: Vec<_> = store
            .feed_since(feed, 100)
            .expect("feed")
            .into_iter()
            .map(|(_, id)| store.header(id).expect("read").expect("there").kind)
            .collect();
        assert_eq!(written.len(), 3, "{written:?} {second:#?}");
        let drugs = store.drug_list().expect("read").expect("drugs");
        assert_eq!(drugs.version, drug_version + 1);
        assert_eq!(drugs.drugs["Y0000001"].price, Fen(2000));
        assert!(!drugs.drugs.contains_key("Y0000002"), "withdrawn");
        assert_eq!(
            drugs.drugs["Y0000005"], before.drugs["Y0000005"],
            "a bad row leaves its item as it was"
        );

        // Someone else changed Lifeline's catalogs (an administrator's import): the next
        // pull notices the versions moved and puts the HIS's catalogs back.
        let mut import = drugs.drugs.clone();
        import.get_mut("Y0000001").expect("there").price = Fen(1);
        let admin = Operator::new(OperatorName::new("info1").expect("name"), DeskRole::Admin);
        let csv = CatalogImport {
            drugs: Some(import),
            ..CatalogImport::default()
        };
        store.import_catalog(&admin, csv).expect("import");
        let third = pull(&mut db, &store, &mut state).await;
        let run = &third
            .tables
            .iter()
            .find(|(n, _)| n == "catalogs")
            .expect("the catalogs are compared again")
            .1;
        assert_eq!((run.created, run.updated), (0, 1), "{run:?}");
        let drugs = store.drug_list().expect("read").expect("drugs");
        assert_eq!(drugs.drugs["Y0000001"].price, Fen(2000));
        assert_eq!(drugs.version, drug_version + 3);

        // Quiet again: the catalogs are not read.
        let fourth = pull(&mut db, &store, &mut state).await;
        assert!(fourth.tables.iter().all(|(n, _)| n != "catalogs"), "{fourth:?}");
    });
}

/// The HIS's day is the hospital's at any hour of the machine's: the reference HIS runs in the
/// hospital's zone (its `localtimestamp` defaults and `current_date` are local, as a real HIS's
/// are), and the bridge's session keeps the zone it is configured with whatever the server's
/// default, so that `current_date` in the mapping's SQL is the day its timestamps are read in.
#[test]
fn the_his_s_day_is_the_hospital_s_whatever_the_machine_s_zone() {
    const OFFSET_MIN: &str = "SELECT (extract(epoch FROM localtimestamp - (now() AT TIME ZONE 'UTC')) / 60)::bigint AS offset_min";
    let pg = Pg::reference(10, 1, 10);
    assert_eq!(pg.query(OFFSET_MIN), "480", "the server keeps China's time");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut settings = pg.settings();
        settings.utc_offset_min = -300;
        let mut db = Postgres::connect(&settings).await.expect("connect");
        let rows = db.query(OFFSET_MIN, &[]).await.expect("query");
        assert_eq!(
            rows[0].get("offset_min"),
            Some(&Value::Int(-300)),
            "the bridge's session is in the hospital's zone, not the server's"
        );
    });
}

/// The pull's cursors are the store's: a store restored from a backup pulls again what was
/// pulled after the backup, though the bridge's own file (`his-state.json`, here the state
/// kept across the restore) says it was pulled. Before, a restored central's pull went on
/// from the file's cursor, and a patient's change pulled after the backup that no peer held
/// was lost until the HIS changed the patient again. (No overlap window here, which would
/// read a change of the last minutes again whatever the cursor.)
#[test]
fn a_store_restored_from_a_backup_pulls_again_what_was_pulled_after_it() {
    use lifeline_core::store::{RestoreOptions, restore_from};
    let pg = Pg::reference(200, 20, 50);
    let (dir, store) = central_store();
    let no_overlap = std::time::Duration::ZERO;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut state = BridgeState::default();
    let path = store.path().to_path_buf();
    let backup = dir.path().join("backup.redb");
    let store = rt.block_on(async {
        let mut db = pg.connect().await;
        let first = pull_overlapping(&mut db, &store, &mut state, no_overlap).await;
        assert_eq!(counts(&first, "patients").1, 200);
        store.backup_to(&backup, &|_, _| {}).expect("backup");
        // Two changes: the later one is where the file's cursor ends, and a pull always reads
        // the row at its cursor again; the earlier one only a cursor from before it reads.
        pg.exec("UPDATE his.patient SET phone = '13000000007', updated_at = localtimestamp WHERE patient_id = 'P000000007'");
        pg.exec("UPDATE his.patient SET phone = '13000000008', updated_at = localtimestamp + interval '1 second' WHERE patient_id = 'P000000008'");
        let after = pull_overlapping(&mut db, &store, &mut state, no_overlap).await;
        assert_eq!(counts(&after, "patients").2, 2, "{after:?}");
        store
    });
    let phone = |store: &Store| {
        let ids = store
            .find_patients(&PatientQuery::HisId("P000000007".into()))
            .expect("search");
        assert_eq!(ids.len(), 1, "{ids:?}");
        let p: Patient = store.get(ids[0]).expect("read").expect("there");
        p.phone
    };
    assert_eq!(phone(&store), "13000000007");
    drop(store);
    restore_from(
        &backup,
        &path,
        &lifeline_core::NodeName::new("central").expect("valid"),
        RestoreOptions::default(),
        &|_, _| {},
    )
    .expect("restore");
    let store = Store::open(
        &path,
        lifeline_core::StoreOptions::new(
            lifeline_core::NodeName::new("central").expect("valid"),
            lifeline_core::NodeRole::Central,
        ),
    )
    .expect("open the restored store");
    assert_ne!(
        phone(&store),
        "13000000007",
        "the backup is from before the change"
    );
    // The daemon restarted on the restored store, with the bridge's file as it was.
    let json = serde_json::to_vec(&state).expect("encode");
    let mut state: BridgeState = serde_json::from_slice(&json).expect("decode");
    let in_store = store.bridge_cursors().expect("read");
    assert_ne!(
        Some(&state.cursors["patients"].text()),
        in_store.get("patients"),
        "the file's cursor is past the restored store's"
    );
    rt.block_on(async {
        let mut db = pg.connect().await;
        let again = pull_overlapping(&mut db, &store, &mut state, no_overlap).await;
        assert_eq!(counts(&again, "patients").2, 2, "{again:?}");
    });
    assert_eq!(
        phone(&store),
        "13000000007",
        "pulled again after the restore"
    );
}
