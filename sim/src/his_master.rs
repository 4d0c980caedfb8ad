//! The HIS patient master and the bridges that pull it (store-backed runs with housekeeping).
//! The HIS's database and the bridge's SQL are not simulated (the scenario tests run them
//! against a real PostgreSQL); the rows the bridge maps from it are, and what the nodes do
//! with them.
//!
//! While the desks work and the HIS answers, each second the HIS registers a patient now and
//! then and changes a patient's phone; each change takes the HIS's next change number (its
//! `updated_at`). The node that runs the HIS bridge at that moment
//! ([`ModeInfo::runs_his_bridge`](lifeline_core::health::ModeInfo::runs_his_bridge): central,
//! or the standby once it has acted as primary for [`EMERGENCY_AFTER`]) pulls a page of the
//! rows changed since its cursor on each look, through `Store::import_his_patients` as the
//! daemon's bridge does, and its peers get the records by replication. A bridge's cursor is
//! its `his-state.json`, beside the store: it survives a crash, and a restore of the store
//! (`lifeline restore` leaves the file alone).
//!
//! Checked after the worklist is drained (`his_master`): every node holds each patient of the
//! HIS master as exactly one live patient record, with the HIS's latest name and phone.

use std::collections::BTreeSet;

use lifeline_core::import::HisPatient;
use lifeline_core::record::{InsuranceType, Patient, Sex};
use lifeline_core::{Date, NodeRole, RecordId};

use crate::backing::{Backing, WriteFailure};
use crate::outage::EMERGENCY_AFTER;
use crate::rng::{Rng, Stream};
use crate::sim::{EPOCH_MS, Phase, Power, Sim, Storage};

/// Rows one pull takes (the bridge's page).
const PAGE: usize = 20;
/// The chance, each second, that the HIS registers a patient, and that it changes one's phone.
const NEW_PATIENT: f64 = 0.4;
const NEW_PHONE: f64 = 0.3;

/// The HIS master as the simulation keeps it, and where each bridge's pull stands.
#[derive(Debug)]
pub(crate) struct HisMaster {
    rng: Rng,
    rows: Vec<Row>,
    /// The HIS's last change number.
    changes: u64,
    /// The last change central's and the standby's bridge pulled.
    cursors: [u64; 2],
    /// The records the bridges made (one per patient, two of one pulled by both), less those
    /// lost with a restore that no node held.
    made: BTreeSet<RecordId>,
}

#[derive(Debug)]
struct Row {
    patient: HisPatient,
    /// The change number of the row's last change.
    changed: u64,
}

impl HisMaster {
    pub(crate) fn new(seed: u64) -> HisMaster {
        HisMaster {
            rng: Rng::stream(seed, Stream::HisMaster),
            rows: Vec::new(),
            changes: 0,
            cursors: [0; 2],
            made: BTreeSet::new(),
        }
    }

    /// How many records the bridges made, that some node holds.
    pub(crate) fn records(&self) -> usize {
        self.made.len()
    }

    pub(crate) fn made_ids(&self) -> impl Iterator<Item = RecordId> + '_ {
        self.made.iter().copied()
    }

    /// Forgets the records the bridges made that `held` says no node holds (after a restore).
    pub(crate) fn forget_unless(&mut self, held: impl Fn(RecordId) -> bool) {
        self.made.retain(|&id| held(id));
    }

    /// One second of the HIS's own work at simulated time `now_ms`.
    fn work(&mut self, now_ms: u64) -> Vec<String> {
        let mut notes = Vec::new();
        if self.rng.chance(NEW_PATIENT) {
            let n = self.rows.len() as u64 + 1;
            self.changes += 1;
            let phone = format!("139{:08}", self.rng.range(0, 100_000_000));
            self.rows.push(Row {
                patient: HisPatient {
                    his_id: format!("H{n:06}"),
                    patient_no: format!("HIS-{n}"),
                    name: format!("HIS patient {n}"),
                    sex: if n.is_multiple_of(2) {
                        Sex::Female
                    } else {
                        Sex::Male
                    },
                    birth_date: Date::new(2010 + (n % 15) as i32, 1 + (n % 12) as u8, 1)
                        .expect("the first of a month is a date"),
                    phone,
                    national_id: None,
                    insurance: InsuranceType::SelfPay,
                    guardian: None,
                    created_ms: EPOCH_MS + i64::try_from(now_ms).unwrap_or(i64::MAX),
                    deleted: false,
                    merged_into: None,
                },
                changed: self.changes,
            });
            notes.push(format!("the HIS registers patient H{n:06}"));
        }
        if !self.rows.is_empty() && self.rng.chance(NEW_PHONE) {
            let i = self.rng.index(self.rows.len());
            self.changes += 1;
            let row = &mut self.rows[i];
            row.patient.phone = format!("138{:08}", self.rng.range(0, 100_000_000));
            row.changed = self.changes;
            notes.push(format!("the HIS changes {}'s phone", row.patient.his_id));
        }
        notes
    }

    /// The next page for the bridge whose cursor is `cursors[bridge]`, with the change number
    /// its last row brings the cursor to.
    fn page(&self, bridge: usize) -> (Vec<HisPatient>, u64) {
        let mut due: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.changed > self.cursors[bridge])
            .collect();
        due.sort_by_key(|r| r.changed);
        due.truncate(PAGE);
        let to = due.last().map_or(self.cursors[bridge], |r| r.changed);
        (due.into_iter().map(|r| r.patient.clone()).collect(), to)
    }
}

impl<R: Backing> Sim<R> {
    fn his_master_runs(&self) -> bool {
        self.cfg.storage == Storage::Redb && self.cfg.housekeeping
    }

    /// The HIS's second of work, while the desks work and it answers.
    pub(crate) fn his_works(&mut self) {
        if !self.his_master_runs() || self.phase != Phase::Running || self.his_away > 0 {
            return;
        }
        for line in self.his_master.work(self.now_ms) {
            self.note(|| line);
        }
    }

    /// `node`'s bridge pulls a page, if the node runs the bridge now and the HIS answers.
    pub(crate) fn bridge_pulls(&mut self, node: usize) {
        if !self.his_master_runs()
            || node > 1
            || self.his_away > 0
            || self.nodes[node].power != Power::Up
        {
            return;
        }
        let role = if node == 0 {
            NodeRole::Central
        } else {
            NodeRole::Standby
        };
        let after = i64::try_from(EMERGENCY_AFTER.as_millis()).unwrap_or(i64::MAX);
        let now_ms = self.wall_ms(node);
        if !self.nodes[node]
            .monitor
            .mode
            .runs_his_bridge(role, now_ms, after)
        {
            return;
        }
        let (rows, to) = self.his_master.page(node);
        if rows.is_empty() {
            return;
        }
        let n = rows.len();
        let keys: Vec<String> = rows.iter().map(|r| r.his_id.clone()).collect();
        match self.nodes[node].replica().import_his_patients(rows) {
            Ok((created, updated)) => {
                self.his_master.cursors[node] = to;
                if created > 0 {
                    for key in &keys {
                        match self.nodes[node].replica().his_patients(key) {
                            Ok(ids) => self.his_master.made.extend(ids),
                            Err(e) => self.fail("his_master", format!("searching {key}: {e}")),
                        }
                    }
                }
                let changed = created + updated;
                self.faults.his_rows_pulled += n as u64;
                let name = self.name(node).to_owned();
                self.note(|| format!("{name}'s bridge pulls {n} HIS rows ({changed} changed)"));
                if changed > 0 {
                    self.wake(node, None);
                }
            }
            Err(WriteFailure::Refused(why)) => {
                let name = self.name(node).to_owned();
                self.fail("his_master", format!("{name}'s bridge refused: {why}"));
            }
            Err(e) => {
                let name = self.name(node).to_owned();
                self.fail("his_master", format!("{name}'s bridge: {e}"));
            }
        }
    }

    /// What central's bridge has still to pull, once the HIS answers.
    pub(crate) fn his_noise(&self) -> Option<String> {
        if !self.his_master_runs() || self.his_away > 0 {
            return None;
        }
        let (rows, _) = self.his_master.page(0);
        (!rows.is_empty()).then(|| format!("central's bridge has {} HIS rows to pull", rows.len()))
    }

    /// Every node holds each patient of the HIS master as one live record with the HIS's
    /// name and phone.
    pub(crate) fn check_his_master(&mut self) {
        if !self.his_master_runs() {
            return;
        }
        self.faults.his_patients_pulled_twice =
            self.his_master
                .made
                .len()
                .saturating_sub(self.his_master.rows.len()) as u64;
        let mut wrong = Vec::new();
        let mut checked = 0;
        for n in &self.nodes {
            for row in &self.his_master.rows {
                let his = &row.patient;
                checked += 1;
                let ids = match n.replica().his_patients(&his.his_id) {
                    Ok(ids) => ids,
                    Err(e) => {
                        wrong.push(format!("{}: cannot search {}: {e}", n.name, his.his_id));
                        continue;
                    }
                };
                let mut live = Vec::new();
                for id in ids {
                    match n.replica().get::<Patient>(id) {
                        Ok(Some(p)) if p.merged_into.is_none() => live.push(p),
                        Ok(_) => {}
                        Err(e) => wrong.push(format!("{}: cannot read {id}: {e}", n.name)),
                    }
                }
                match live.as_slice() {
                    [p] if p.name == his.name && p.phone == his.phone => {}
                    [p] => wrong.push(format!(
                        "{}: HIS patient {} reads ({:?}, {:?}), the HIS holds ({:?}, {:?})",
                        n.name, his.his_id, p.name, p.phone, his.name, his.phone
                    )),
                    others => wrong.push(format!(
                        "{}: HIS patient {} is {} live records: {:?}",
                        n.name,
                        his.his_id,
                        others.len(),
                        others.iter().map(|p| p.header.id).collect::<Vec<_>>()
                    )),
                }
            }
        }
        self.checked("his_master", checked);
        self.fail_some("his_master", wrong);
    }
}
