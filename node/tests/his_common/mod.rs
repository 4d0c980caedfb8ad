//! What the HIS tests share: a PostgreSQL cluster of their own with the reference HIS seeded
//! (small), a connection as the bridge's role, and a central store on a temporary directory.

#![allow(dead_code, reason = "shared by test files that each use part of it")]

use std::path::PathBuf;
use std::time::Duration;

use lifeline_core::{DeskRole, NodeName, NodeRole, Operator, OperatorName, Store, StoreOptions};
use lifeline_node::his::cluster::Cluster;
use lifeline_node::his::db::postgres::{PgSettings, Postgres};

/// A running reference HIS: the cluster, the bridge role's password and where it is written.
pub struct Pg {
    pub cluster: Cluster,
    pub password: String,
    pub dir: tempfile::TempDir,
}

impl Pg {
    /// A cluster with the reference schema and `patients`, `visits` (today) and `drugs`.
    pub fn reference(patients: u64, visits: u64, drugs: u64) -> Pg {
        let cluster =
            Cluster::create(None).expect("a PostgreSQL cluster starts (is PostgreSQL installed?)");
        let password = cluster
            .load_reference(patients, visits, drugs)
            .expect("the reference HIS loads");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("his.password"), format!("{password}\n")).expect("write");
        Pg {
            cluster,
            password,
            dir,
        }
    }

    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("his.password")
    }

    pub fn url(&self) -> String {
        self.cluster.url("lifeline", "his")
    }

    pub fn settings(&self) -> PgSettings {
        PgSettings {
            url: self.url(),
            password: Some(self.password.clone()),
            tls_ca: None,
            connect_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(60),
            utc_offset_min: 480,
        }
    }

    pub async fn connect(&self) -> Postgres {
        Postgres::connect(&self.settings())
            .await
            .expect("the bridge's role connects")
    }

    /// Runs SQL in the HIS as its owner.
    pub fn exec(&self, sql: &str) {
        self.cluster.run_sql("his", sql, &[]).expect("the SQL runs");
    }

    pub fn query(&self, sql: &str) -> String {
        self.cluster.query_one("his", sql).expect("the query runs")
    }

    pub fn count(&self, sql: &str) -> u64 {
        self.query(sql).parse().expect("a count")
    }
}

/// The operator the bridge writes as.
pub fn bridge_operator() -> Operator {
    Operator::new(
        OperatorName::new("his-bridge").expect("valid"),
        DeskRole::Admin,
    )
}

/// A central node's store in a temporary directory (UTC+8).
pub fn central_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("dir");
    let opts = StoreOptions::new(NodeName::new("central").expect("valid"), NodeRole::Central);
    let store = Store::open(dir.path().join("store.redb"), opts).expect("open");
    (dir, store)
}

/// Number ranges of `size` on `store` for an episode's desks (emergency registration numbers
/// and invoices), and `cashier`'s shift started on the invoice range, as a cashier confirms
/// the stock in hand before the first invoice.
pub fn ranges_for_episode(store: &Store, cashier: &Operator, size: u64) {
    use lifeline_core::desk::ShiftStart;
    use lifeline_core::numbers::Series;
    let admin = bridge_operator();
    for series in [Series::EmergencyRegistration, Series::Invoice] {
        let range = store
            .lease_range(&admin, series, store.node().clone(), size)
            .expect("lease")
            .value;
        store.accept_lease(&admin, range.clone()).expect("accept");
        if series == Series::Invoice {
            let shift = ShiftStart {
                code: "144031900111".into(),
                first_number: range.start,
            };
            store.start_shift(cashier, shift).expect("the shift starts");
        }
    }
}
