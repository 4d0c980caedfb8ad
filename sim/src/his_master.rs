//! The HIS patient master and the bridges that pull it (store-backed runs with housekeeping).
//! The HIS's database and the bridge's SQL are not simulated (the scenario tests run them
//! against a real PostgreSQL); the rows the bridge maps from it are, and what the nodes do
//! with them.
//!
//! While the desks work and the HIS answers, each second the HIS registers a patient now and
//! then, changes a patient's phone, and more rarely merges one patient into another or
//! deletes one; each change takes the HIS's next change number (its `updated_at`). The node that runs the HIS bridge at that moment
//! ([`ModeInfo::runs_his_bridge`](lifeline_core::health::ModeInfo::runs_his_bridge): central,
//! or the standby once it has acted as primary for [`EMERGENCY_AFTER`]) pulls a page of the
//! rows changed since its cursor on each look, through `Store::import_his_patients` as the
//! daemon's bridge does, and its peers get the records by replication. A row the import skips
//! (a merge into a patient the node does not hold yet) is read again by that bridge's next
//! pulls until taken, as the daemon's overlap re-reads it. A bridge's cursor is kept in its
//! store after each page's commit, as the daemon's pull keeps it (`Store::set_bridge_cursors`):
//! it survives a crash, and a restore brings back the backup's, so the restored node pulls
//! again what it had pulled since.
//!
//! Checked after the worklist is drained (`his_master`): every node holds each patient of the
//! HIS master as the HIS says it is: one live patient record with the HIS's latest name and
//! phone; a deleted one only in records marked deleted; a merged one only in records merged
//! into the record of the patient its merges end in.

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
/// The chance, each second, that the HIS registers a patient, changes one's phone, merges
/// one into another, and deletes one.
const NEW_PATIENT: f64 = 0.4;
const NEW_PHONE: f64 = 0.3;
const MERGE: f64 = 0.05;
const DELETE: f64 = 0.03;
/// Longest chain of merges followed from a record.
const MAX_CHAIN: usize = 16;

/// The HIS master as the simulation keeps it, and where each bridge's pull stands.
#[derive(Debug)]
pub(crate) struct HisMaster {
    rng: Rng,
    rows: Vec<Row>,
    /// The HIS's last change number.
    changes: u64,
    /// Each bridge's `his-state.json` copy of its cursor, beside the store: a restore or a
    /// backup copied over the store leaves it, so a store behind it lost history.
    file_cursors: [Option<u64>; 2],
    /// The rows each bridge's import skipped (a merge into a patient not held yet), which its
    /// overlap reads again on every pull (`forget_skipped` in the node's pull) until taken.
    retry: [BTreeSet<usize>; 2],
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
            file_cursors: [None; 2],
            retry: [BTreeSet::new(), BTreeSet::new()],
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
                    changed: None,
                },
                changed: self.changes,
            });
            notes.push(format!("the HIS registers patient H{n:06}"));
        }
        if self.rng.chance(NEW_PHONE)
            && let Some(i) = self.pick_live()
        {
            let phone = format!("138{:08}", self.rng.range(0, 100_000_000));
            let row = self.change(i);
            row.patient.phone = phone;
            notes.push(format!("the HIS changes {}'s phone", row.patient.his_id));
        }
        if self.rng.chance(MERGE)
            && let (Some(from), Some(into)) = (self.pick_live(), self.pick_live())
            && from != into
            && !self.is_target(from)
        {
            let survivor = self.rows[into].patient.his_id.clone();
            let row = self.change(from);
            row.patient.merged_into = Some(survivor.clone());
            notes.push(format!(
                "the HIS merges {} into {survivor}",
                row.patient.his_id
            ));
        }
        if self.rng.chance(DELETE)
            && let Some(i) = self.pick_live()
            && !self.is_target(i)
        {
            let row = self.change(i);
            row.patient.deleted = true;
            notes.push(format!("the HIS deletes {}", row.patient.his_id));
        }
        notes
    }

    /// A patient neither merged nor deleted, if there is one.
    fn pick_live(&mut self) -> Option<usize> {
        let live: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let p = &self.rows[i].patient;
                p.merged_into.is_none() && !p.deleted
            })
            .collect();
        self.rng.pick(&live).copied()
    }

    /// Whether another patient is merged into row `i`.
    fn is_target(&self, i: usize) -> bool {
        let his_id = &self.rows[i].patient.his_id;
        self.rows
            .iter()
            .any(|r| r.patient.merged_into.as_ref() == Some(his_id))
    }

    /// Row `i`, its change numbered the HIS's next.
    fn change(&mut self, i: usize) -> &mut Row {
        self.changes += 1;
        let row = &mut self.rows[i];
        row.changed = self.changes;
        row
    }

    /// The HIS patient a row ends in, following the HIS's merges.
    fn survivor(&self, his_id: &str) -> Option<&HisPatient> {
        let mut at = self.rows.iter().find(|r| r.patient.his_id == his_id)?;
        for _ in 0..MAX_CHAIN {
            let Some(into) = &at.patient.merged_into else {
                return Some(&at.patient);
            };
            at = self.rows.iter().find(|r| &r.patient.his_id == into)?;
        }
        None
    }

    /// The next page for the bridge whose pull stands at `cursor` (the rows it skipped
    /// before, read again, then those changed since the cursor), with the change number its
    /// last row brings the cursor to.
    fn page(&self, bridge: usize, cursor: u64) -> (Vec<HisPatient>, u64) {
        let mut due: Vec<&Row> = self.rows.iter().filter(|r| r.changed > cursor).collect();
        due.sort_by_key(|r| r.changed);
        due.truncate(PAGE);
        let to = due.last().map_or(cursor, |r| r.changed);
        let again = self.retry[bridge]
            .iter()
            .map(|&i| &self.rows[i])
            .filter(|r| r.changed <= cursor);
        let rows = again
            .chain(due)
            .map(|r| HisPatient {
                changed: i64::try_from(r.changed).ok(),
                ..r.patient.clone()
            })
            .collect();
        (rows, to)
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
        let replica = self.nodes[node].replica();
        // A store behind the bridge's file lost history (a backup copied over it by hand
        // keeps its identity: seed 10114), as the daemon's pull finds it.
        let went_back = match replica.his_cursor() {
            Ok(cursor) => self.his_master.file_cursors[node].is_some_and(|file| file > cursor),
            Err(_) => false,
        };
        if went_back && let Err(e) = replica.history_lost() {
            let name = self.name(node).to_owned();
            self.fail("his_master", format!("{name}'s bridge: {e}"));
            return;
        }
        let cursor = match (replica.his_pull_waits_for(), replica.his_cursor()) {
            // Relearning what it lost: it pulls once it holds what the other server does.
            (Ok(Some(_)), _) => return,
            (Ok(None), Ok(cursor)) => cursor,
            (Err(e), _) | (_, Err(e)) => {
                let name = self.name(node).to_owned();
                self.fail("his_master", format!("{name}'s bridge: {e}"));
                return;
            }
        };
        // The pull takes the store's cursor, and its file follows (`cursors_from_store`).
        self.his_master.file_cursors[node] = Some(cursor);
        let (rows, to) = self.his_master.page(node, cursor);
        if rows.is_empty() {
            return;
        }
        let n = rows.len();
        let keys: Vec<String> = rows.iter().map(|r| r.his_id.clone()).collect();
        match self.nodes[node].replica().import_his_patients(rows, to) {
            Ok((created, updated, skipped)) => {
                self.his_master.file_cursors[node] = Some(to);
                let master = &mut self.his_master;
                master.retry[node] = skipped
                    .iter()
                    .filter_map(|(his_id, _)| {
                        master.rows.iter().position(|r| &r.patient.his_id == his_id)
                    })
                    .collect();
                if let Some((his_id, why)) = skipped.first() {
                    let (name, k) = (self.name(node).to_owned(), skipped.len());
                    self.note(|| {
                        format!("{name}'s bridge skipped {k} rows, to read again: {his_id}: {why}")
                    });
                }
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
        let cursor = match self.nodes[0].replica().his_cursor() {
            Ok(cursor) => cursor,
            Err(e) => return Some(format!("central's bridge cursor does not read: {e}")),
        };
        let (rows, _) = self.his_master.page(0, cursor);
        (!rows.is_empty()).then(|| {
            format!(
                "central's bridge has {} HIS rows to pull or read again",
                rows.len()
            )
        })
    }

    /// Every node holds each patient of the HIS master as the HIS says it is: one live record
    /// with the HIS's name and phone; a patient the HIS deleted, live records marked deleted
    /// (no one's duplicate, and found by no search: twins may stay); a patient the HIS merged,
    /// only records merged into the record of the patient its merges end in.
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
                checked += 1;
                if let Err(e) = self.his_patient_held(n.replica(), &row.patient) {
                    wrong.push(format!(
                        "{}: HIS patient {} {e}",
                        n.name, row.patient.his_id
                    ));
                }
            }
        }
        self.checked("his_master", checked);
        self.fail_some("his_master", wrong);
    }

    fn his_patient_held(&self, replica: &R, his: &HisPatient) -> Result<(), String> {
        let mut records = Vec::new();
        for id in replica.his_patients(&his.his_id)? {
            match replica.get::<Patient>(id)? {
                Some(p) => records.push(p),
                None => return Err(format!("indexed as {id}, which is not held")),
            }
        }
        let ids = |ps: &[&Patient]| ps.iter().map(|p| p.header.id).collect::<Vec<_>>();
        let live: Vec<&Patient> = records.iter().filter(|p| p.merged_into.is_none()).collect();
        if his.merged_into.is_some() {
            let end = self
                .his_master
                .survivor(&his.his_id)
                .ok_or("ends in no patient of the HIS")?;
            if !live.is_empty() {
                return Err(format!("is merged in the HIS, yet live: {:?}", ids(&live)));
            }
            for p in &records {
                let kept = follow(replica, p)?;
                if kept.his_id.as_deref() != Some(end.his_id.as_str()) {
                    return Err(format!(
                        "record {} leads to {} ({:?}), the HIS's merges to {}",
                        p.header.id, kept.header.id, kept.his_id, end.his_id
                    ));
                }
            }
            return if records.is_empty() {
                Err("is not held".into())
            } else {
                Ok(())
            };
        }
        match live.as_slice() {
            [] => Err("is not held".into()),
            many if his.deleted => match many.iter().find(|p| !p.his_deleted) {
                Some(p) => Err(format!("is deleted in the HIS, not in {}", p.header.id)),
                None => Ok(()),
            },
            [p] if p.name == his.name && p.phone == his.phone && !p.his_deleted => Ok(()),
            [p] => Err(format!(
                "reads ({:?}, {:?}, deleted {}), the HIS holds ({:?}, {:?})",
                p.name, p.phone, p.his_deleted, his.name, his.phone
            )),
            many => Err(format!("is {} live records: {:?}", many.len(), ids(many))),
        }
    }
}

/// The live patient a record's merges lead to.
fn follow<R: Backing>(replica: &R, p: &Patient) -> Result<Patient, String> {
    let mut at = p.clone();
    for _ in 0..MAX_CHAIN {
        let Some(into) = at.merged_into else {
            return Ok(at);
        };
        at = replica
            .get::<Patient>(into)?
            .ok_or_else(|| format!("{} is merged into {into}, which is not held", at.header.id))?;
    }
    Err(format!("{}'s merges go on past {MAX_CHAIN}", p.header.id))
}
