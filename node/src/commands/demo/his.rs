//! The demo's HIS: the reference HIS in a PostgreSQL cluster of its own (when PostgreSQL is
//! installed), which central and the standby bridge to, so that a newcomer sees the whole
//! cycle: the HIS's patients and morning in Lifeline, the HIS going down, the outage's
//! records back in the HIS's interface tables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::his::cluster::{self, Cluster};
use crate::his::settings::HisSection;

/// The demo's catalogs' codes: the HIS's when there is one, the sample CSVs' otherwise.
#[derive(Debug, Clone)]
pub struct Codes {
    pub departments: [&'static str; 4],
    pub service: &'static str,
    /// A drug code by number.
    pub drug: fn(usize) -> String,
}

pub const CSV_CODES: Codes = Codes {
    departments: ["PED-GEN", "PED-RESP", "PED-GI", "PED-NEO"],
    service: "SVC-CBC",
    drug: |n| format!("DRG-{:04}", 1 + n % 40),
};

pub const HIS_CODES: Codes = Codes {
    departments: ["1001", "1002", "1003", "1004"],
    service: "250101015",
    drug: |n| format!("Y{:07}", 1 + n % 300),
};

/// Patients in the demo's HIS master.
pub const PATIENTS: u64 = 2000;

/// The reference HIS of the demo.
#[derive(Debug)]
pub struct DemoHis {
    pub cluster: Cluster,
    password_file: PathBuf,
    /// The card numbers of the master's patients, in patient id order: read while the HIS
    /// runs, as the families carry them through its outage.
    cards: Vec<String>,
}

impl DemoHis {
    /// Starts the reference HIS under `dir`; `None` (with how to get PostgreSQL) when it is
    /// not installed.
    pub fn start(dir: &Path) -> anyhow::Result<Option<DemoHis>> {
        if let Err(e) = cluster::find_bin() {
            println!("(no HIS in this demo: {e})");
            return Ok(None);
        }
        let cluster = Cluster::create(Some(dir))?;
        let password = cluster.load_reference(PATIENTS, 120, 300)?;
        let password_file = dir.join("his.password");
        std::fs::write(&password_file, format!("{password}\n"))?;
        let cards = cluster.query_one(
            "his",
            "SELECT string_agg(coalesce(card_no, ''), ',' ORDER BY patient_id) FROM his.patient",
        )?;
        Ok(Some(DemoHis {
            cluster,
            password_file,
            cards: cards.split(',').map(str::to_owned).collect(),
        }))
    }

    /// The `[his]` section of central and the standby.
    pub fn section(&self) -> HisSection {
        HisSection {
            password_file: Some(self.password_file.clone()),
            poll_interval: Duration::from_secs(5),
            health_interval: Duration::from_millis(500),
            emergency_after: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
            overlap: Duration::from_secs(5),
            ..HisSection::new(self.cluster.url("lifeline", "his"))
        }
    }

    /// The card number the family of HIS patient `n` (from 1) carries.
    pub fn card_of(&self, n: usize) -> anyhow::Result<String> {
        self.cards
            .get(n.wrapping_sub(1))
            .filter(|card| !card.is_empty())
            .cloned()
            .with_context(|| format!("the HIS master has no card for patient {n}"))
    }

    /// What the interface tables hold, in words.
    pub fn interface_rows(&self) -> anyhow::Result<String> {
        self.cluster.query_one(
            "his",
            "SELECT (SELECT count(*) FROM his.yj_patient) || ' patients, ' || \
                    (SELECT count(*) FROM his.yj_registration) || ' registrations, ' || \
                    (SELECT count(*) FROM his.yj_prescription) || ' prescriptions, ' || \
                    (SELECT count(*) FROM his.yj_charge) || ' charge lines'",
        )
    }

    /// Rows the interface tables hold in all.
    pub fn interface_total(&self) -> anyhow::Result<u64> {
        let n = self.cluster.query_one(
            "his",
            "SELECT (SELECT count(*) FROM his.yj_patient) + (SELECT count(*) FROM his.yj_registration) + \
                    (SELECT count(*) FROM his.yj_prescription) + (SELECT count(*) FROM his.yj_charge)",
        )?;
        Ok(n.parse().unwrap_or(0))
    }
}
