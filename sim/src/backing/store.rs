//! A node keeping its records in its real redb [`Store`], as the daemon does: the desks'
//! writes through the store's own commit path (core's `sim` feature), a crash as the file
//! closed and opened again, a backup and a restore as `lifeline backup` and `lifeline restore`
//! make them, and the outage work (housekeeping, the emergency desk, ranges, worklist) read
//! and done through the store's own API.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lifeline_core::automerge::Automerge;
use lifeline_core::desk::{LeaseOrder, LeaveScope, Opening, Settlement, ShiftStart};
use lifeline_core::health::ModeInfo;
use lifeline_core::housekeeping::Settings;
use lifeline_core::import::{HisPatient, HisRejection};
use lifeline_core::numbers::{NumberError, RangeReport, Series};
use lifeline_core::record::{Charge, Header, PaymentMethod, Visit};
use lifeline_core::review::{Resolution, ReviewAction};
use lifeline_core::store::{PatientQuery, RestoreOptions};
use lifeline_core::{
    DeskRole, EpisodeId, Operator, ReadError, Record, RecordId, RuleError, Store, WriteError,
};

use super::{
    Backing, Decision, EpisodeView, Home, Imported, OutageView, RangeView, Refused, Todo,
    WorklistView, WriteFailure,
};
use crate::emergency::EmergencyAct;

/// The simulated HIS patient master's cursor, among the store's bridge cursors.
const HIS_CURSOR: &str = "patients";

fn store_failure(e: WriteError) -> WriteFailure {
    match e {
        WriteError::Rule(lifeline_core::RuleError::NotFound { .. }) => WriteFailure::NotFound,
        WriteError::Rule(rule) => WriteFailure::Refused(rule.to_string()),
        other => WriteFailure::Failed(lifeline_core::error::Chain(&other).to_string()),
    }
}

fn read_failure(e: ReadError) -> WriteFailure {
    WriteFailure::Failed(lifeline_core::error::Chain(&e).to_string())
}

fn open_store(home: &Home, seed: u64) -> Result<Store, String> {
    let path = home.store_path()?;
    Store::open(&path, home.store_options(seed)).map_err(|e| {
        format!(
            "cannot open {}: {}",
            path.display(),
            lifeline_core::error::Chain(&e)
        )
    })
}

/// A store file under `dir` for the `number`th backup of `name`.
fn backup_path(home: &Home, number: u64) -> Result<PathBuf, String> {
    Ok(home
        .store_path()?
        .with_extension(format!("backup-{number}.redb")))
}

/// A backup of a store: the snapshot file, and the mark beside the store when it was taken
/// (what a copy of the whole data directory holds).
pub(crate) struct StoreBackup {
    file: PathBuf,
    mark: Option<Vec<u8>>,
}

/// A cashier's write that numbers an invoice: if the cashier has no range or no shift
/// confirmed today, the shift is started (see [`start_shift`]) and the write tried again.
fn in_shift(
    store: &Store,
    who: &Operator,
    skip: u64,
    mut write: impl FnMut() -> Result<(), WriteError>,
) -> Result<(), WriteFailure> {
    match write() {
        Err(WriteError::Rule(RuleError::Number(
            NumberError::ShiftNotConfirmed { .. } | NumberError::NoCashierRange { .. },
        ))) => {
            start_shift(store, who, skip)?;
            write()
        }
        done => done,
    }
    .map_err(store_failure)
}

/// The cashier starts a shift: the stock in hand carries the code of the cashier's range (or
/// a code of the simulation's for a range not yet used) and starts `skip` numbers past its
/// next one; without a range of its own, the node's first free range.
fn start_shift(store: &Store, who: &Operator, skip: u64) -> Result<(), WriteFailure> {
    let in_hand = match store.cashier_range(who).map_err(read_failure)? {
        Some(mine) => Some((mine.code, mine.next)),
        None => store
            .ranges()
            .map_err(read_failure)?
            .into_iter()
            .filter(|r| {
                r.range.series == Series::Invoice
                    && r.range.holder == *store.node()
                    && r.range.operator.is_none()
                    && r.next == r.range.start
            })
            .min_by_key(|r| r.range.start)
            .map(|r| (r.range.code, r.next)),
    };
    let Some((code, next)) = in_hand else {
        return Err(WriteFailure::Refused(
            "no invoice range leased to this window yet".into(),
        ));
    };
    let start = ShiftStart {
        code: code.unwrap_or_else(|| "SIM0001".into()),
        first_number: next + skip,
    };
    store
        .start_shift(who, start)
        .map(drop)
        .map_err(store_failure)
}

impl Backing for Store {
    type Backup = StoreBackup;

    fn empty(home: &Home, seed: u64) -> Result<Self, String> {
        let path = home.store_path()?;
        if path.exists() {
            std::fs::remove_file(&path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
        open_store(home, seed)
    }

    fn restart(self, home: &Home, seed: u64) -> Result<Self, String> {
        drop(self);
        open_store(home, seed)
    }

    /// An empty store's snapshot, restored as `lifeline restore` does (a lessor's cursors move
    /// on, as they must for a lessor restored from before its grants).
    fn restored_empty(home: &Home, seed: u64) -> Result<Self, String> {
        let empty = Self::empty(home, seed)?;
        let snapshot = empty.backup(home, u64::MAX)?;
        drop(empty);
        let restored = Self::restored(home, &snapshot, seed);
        std::fs::remove_file(&snapshot.file)
            .map_err(|e| format!("cannot remove {}: {e}", snapshot.file.display()))?;
        restored
    }

    fn backup(&self, home: &Home, number: u64) -> Result<StoreBackup, String> {
        let path = backup_path(home, number)?;
        self.backup_to(&path, &|_, _| {}).map_err(|e| {
            format!(
                "cannot back up to {}: {}",
                path.display(),
                lifeline_core::error::Chain(&e)
            )
        })?;
        // The mark as it stands after the last commit, which the snapshot holds.
        let mark = std::fs::read(lifeline_core::store::mark_file(self.path())).ok();
        Ok(StoreBackup { file: path, mark })
    }

    fn restored(home: &Home, backup: &StoreBackup, seed: u64) -> Result<Self, String> {
        let path = home.store_path()?;
        let options = RestoreOptions {
            incarnation_seed: Some(seed ^ 0x5EED),
            at_ms: Some(lifeline_core::Clock::now_ms(&home.clock)),
            ..RestoreOptions::default()
        };
        lifeline_core::store::restore_from(&backup.file, &path, &home.name, options, &|_, _| {})
            .map_err(|e| {
                format!(
                    "cannot restore {}: {}",
                    path.display(),
                    lifeline_core::error::Chain(&e)
                )
            })?;
        open_store(home, seed)
    }

    fn keeps_a_mark() -> bool {
        true
    }

    fn copied_back(
        home: &Home,
        backup: &StoreBackup,
        seed: u64,
        whole: bool,
    ) -> Result<Self, String> {
        let path = home.store_path()?;
        std::fs::copy(&backup.file, &path).map_err(|e| {
            format!(
                "cannot copy {} over {}: {e}",
                backup.file.display(),
                path.display()
            )
        })?;
        let mark = lifeline_core::store::mark_file(&path);
        let copied = match (&backup.mark, whole) {
            (_, false) => Ok(()),
            (Some(bytes), true) => std::fs::write(&mark, bytes),
            (None, true) => std::fs::remove_file(&mark).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            }),
        };
        copied.map_err(|e| format!("cannot copy the mark over {}: {e}", mark.display()))?;
        open_store(home, seed)
    }

    fn create<T: Record + Send + 'static>(
        &self,
        who: &Operator,
        record: T,
    ) -> Result<(), WriteFailure> {
        self.sim_create(who, record).map_err(store_failure)
    }

    fn register(&self, who: &Operator, visit: Visit) -> Result<(), WriteFailure> {
        self.sim_register(who, visit).map_err(store_failure)
    }

    fn update<T, F>(&self, who: &Operator, id: RecordId, f: F) -> Result<(), WriteFailure>
    where
        T: Record + Send + 'static,
        F: FnOnce(&mut T) + Send + 'static,
    {
        self.sim_update(who, id, f).map_err(store_failure)
    }

    fn put_text<T: Record>(
        &self,
        who: &Operator,
        id: RecordId,
        field: &str,
        value: &str,
    ) -> Result<(), WriteFailure> {
        self.sim_put_text::<T>(who, id, field, value)
            .map_err(store_failure)
    }

    fn get<T: Record>(&self, id: RecordId) -> Result<Option<T>, String> {
        Store::get(self, id).map_err(|e| lifeline_core::error::Chain(&e).to_string())
    }

    fn with_doc<X>(&self, id: RecordId, f: impl FnOnce(&Automerge) -> X) -> Option<X> {
        Store::doc(self, id).ok().flatten().map(|d| f(&d))
    }

    fn records(&self) -> usize {
        let kinds = crate::work::Kind::ALL.map(crate::work::Kind::core);
        self.stats()
            .map(|s| {
                s.records_by_kind
                    .iter()
                    .filter(|(k, _)| kinds.contains(k))
                    .map(|(_, n)| *n as usize)
                    .sum()
            })
            .unwrap_or(0)
    }

    fn refusals(&self) -> Vec<Refused> {
        self.quarantined(0, usize::MAX)
            .unwrap_or_default()
            .into_iter()
            .map(|q| Refused {
                peer: q.peer,
                id: q.record,
                code: q.code,
                reason: q.reason,
            })
            .collect()
    }

    fn housekeep(&self, settings: &Settings, info: &ModeInfo, now_ms: i64) -> Result<(), String> {
        lifeline_core::housekeeping::run(self, settings, info, now_ms)
            .map_err(|e| lifeline_core::error::Chain(&e).to_string())
    }

    fn episode(&self) -> Option<EpisodeId> {
        Store::episode(self).ok().flatten()
    }

    fn outage_work(&self) -> Option<String> {
        let chain = |e: ReadError| format!("cannot read: {}", lifeline_core::error::Chain(&e));
        match Store::episode(self) {
            Ok(Some(e)) => return Some(format!("in episode {e}")),
            Err(e) => return Some(chain(e)),
            Ok(None) => {}
        }
        match self.reconciling_episode() {
            Ok(Some(e)) => return Some(format!("reconciling episode {e}")),
            Err(e) => return Some(chain(e)),
            Ok(None) => {}
        }
        match self.unreconciled() {
            Ok(ids) if ids.is_empty() => None,
            Ok(ids) => Some(format!(
                "{} records central has not acknowledged",
                ids.len()
            )),
            Err(e) => Some(chain(e)),
        }
    }

    fn outages(&self) -> Option<OutageView> {
        let episodes = self
            .episodes()
            .unwrap_or_default()
            .into_iter()
            .map(|e| EpisodeView {
                id: e.episode.episode_id,
                open: e.open,
                duration_ms: e.duration_ms,
                grade: e.grade,
                merged_into: e.episode.merged_into,
                nodes: e.episode.nodes,
            })
            .collect();
        let ranges = self
            .leases()
            .unwrap_or_default()
            .into_iter()
            .flat_map(|l| {
                l.grants.into_iter().map(move |(first, last)| RangeView {
                    series: l.series.name().to_owned(),
                    holder: l.holder.to_string(),
                    first,
                    last,
                })
            })
            .collect();
        Some(OutageView { episodes, ranges })
    }

    fn emergency_desk(&self, act: &EmergencyAct) -> Result<Option<String>, WriteFailure> {
        let admin = Operator::new(crate::work::admin_operator(), DeskRole::Admin);
        match act {
            EmergencyAct::Declare { drill } => {
                let how = if *drill {
                    Opening::Drill
                } else {
                    Opening::Declared
                };
                let saved = self
                    .open_episode(&admin, "计划维护", how)
                    .map_err(store_failure)?;
                Ok(Some(format!("declared {}", saved.value)))
            }
            EmergencyAct::Stop { declared_only } => {
                // At the heal: only while an emergency declared by hand (or a drill) is open,
                // which nothing but a person ends.
                let declared_open = || -> Result<bool, WriteFailure> {
                    Ok(self.episodes().map_err(read_failure)?.iter().any(|e| {
                        let e = &e.episode;
                        e.closed_ms.is_none() && e.merged_into.is_none() && !e.automatic
                    }))
                };
                if *declared_only && !declared_open()? {
                    return Ok(None);
                }
                let stopped = self
                    .leave_episode(&admin, LeaveScope::HospitalWide)
                    .map_err(store_failure)?;
                Ok(stopped.value.map(|e| format!("stopped {e}")))
            }
            EmergencyAct::Lease { holder, size } => {
                // A lessor relearning the history it lost leases nothing from its cursor: the
                // department reads so in `lifeline status`, and waits.
                if !self.leasing_held_for().map_err(read_failure)?.is_empty() {
                    return Ok(None);
                }
                let order = LeaseOrder {
                    series: Series::EmergencyRegistration,
                    holder: holder.clone(),
                    size: *size,
                    operator: None,
                    code: None,
                    start: None,
                };
                let range = self.lease_range_for(&admin, order).map_err(store_failure)?;
                Ok(Some(format!(
                    "leased {} to {holder} by hand",
                    range.value.id
                )))
            }
        }
    }

    fn invoice(
        &self,
        who: &Operator,
        header: Header,
        charges: Vec<RecordId>,
        skip: u64,
    ) -> Result<(), WriteFailure> {
        in_shift(self, who, skip, || {
            self.sim_invoice(who, header.clone(), charges.clone())
        })
    }

    fn settle(&self, who: &Operator, id: RecordId) -> Result<(), WriteFailure> {
        let charge: Charge = self
            .get(id)
            .map_err(read_failure)?
            .ok_or(WriteFailure::NotFound)?;
        let outcome = match charge.requested_payment {
            PaymentMethod::Insurance => Settlement::InsuranceFailed,
            PaymentMethod::SelfPay => Settlement::Paid,
        };
        self.settle_charge(who, id, outcome)
            .map(drop)
            .map_err(store_failure)
    }

    fn void_invoice(&self, who: &Operator, id: RecordId) -> Result<(), WriteFailure> {
        self.void_invoice(who, id, "打印错误")
            .map(drop)
            .map_err(store_failure)
    }

    fn worklist_view(&self) -> Option<Result<WorklistView, String>> {
        let read = || -> Result<WorklistView, ReadError> {
            let list = self.worklist()?;
            type Involved = (Vec<RecordId>, Option<(RecordId, RecordId)>);
            let mut involved: BTreeMap<String, Involved> = self
                .conflicts()?
                .into_iter()
                .map(|c| {
                    let merge = c.actions.iter().find_map(|a| match a {
                        ReviewAction::MergePatients {
                            survivor,
                            duplicate,
                        } => Some((*survivor, *duplicate)),
                        _ => None,
                    });
                    (c.id, (c.records, merge))
                })
                .collect();
            let items = list
                .items
                .into_iter()
                .map(|item| {
                    let (conflict, suggested) = match item.conflict {
                        Some(id) => {
                            let (records, merge) = involved.remove(&id).unwrap_or_default();
                            (Some((id, records)), merge)
                        }
                        None => (None, None),
                    };
                    Todo {
                        category: item.category.name(),
                        record: item.record,
                        conflict,
                        suggested,
                    }
                })
                .collect();
            let counts = list
                .counts
                .iter()
                .map(|c| (c.category.name(), c.count))
                .collect();
            Ok(WorklistView { counts, items })
        };
        Some(read().map_err(|e| lifeline_core::error::Chain(&e).to_string()))
    }

    fn his_verdicts(
        &self,
        marks: Vec<(RecordId, Option<HisRejection>)>,
    ) -> Result<usize, WriteFailure> {
        let bridge = Operator::new(crate::work::admin_operator(), DeskRole::Admin);
        self.set_his_rejections(&bridge, marks)
            .map_err(store_failure)
    }

    fn import_his_patients(
        &self,
        rows: Vec<HisPatient>,
        cursor: u64,
    ) -> Result<Imported, WriteFailure> {
        let bridge = Operator::new(crate::work::admin_operator(), DeskRole::Admin);
        let done = Store::import_his_patients(self, &bridge, rows).map_err(store_failure)?;
        // After the rows' commit, as the daemon's pull keeps its cursor.
        let cursors =
            std::collections::BTreeMap::from([(HIS_CURSOR.to_owned(), cursor.to_string())]);
        self.set_bridge_cursors(cursors).map_err(store_failure)?;
        let skipped = done
            .skipped
            .into_iter()
            .map(|s| (s.his_id, s.reason))
            .collect();
        Ok((done.created, done.updated, skipped))
    }

    fn history_lost(&self) -> Result<(), String> {
        self.note_history_lost()
            .map_err(|e| lifeline_core::error::Chain(&e).to_string())
    }

    fn his_pull_waits_for(&self) -> Result<Option<String>, String> {
        Store::his_pull_waits_for(self)
            .map(|server| server.map(|s| s.to_string()))
            .map_err(|e| lifeline_core::error::Chain(&e).to_string())
    }

    fn his_cursor(&self) -> Result<u64, String> {
        let held = self
            .bridge_cursors()
            .map_err(|e| lifeline_core::error::Chain(&e).to_string())?;
        match held.get(HIS_CURSOR) {
            None => Ok(0),
            Some(text) => text
                .parse()
                .map_err(|e| format!("the store's HIS cursor {text:?}: {e}")),
        }
    }

    fn his_patients(&self, his_id: &str) -> Result<Vec<RecordId>, String> {
        self.find_patients(&PatientQuery::HisId(his_id.to_owned()))
            .map_err(|e| lifeline_core::error::Chain(&e).to_string())
    }

    fn decide(
        &self,
        who: &Operator,
        decision: &Decision,
    ) -> Result<Option<RecordId>, WriteFailure> {
        let done = match decision {
            Decision::Resettle { charge } => {
                let mut invoice = None;
                in_shift(self, who, 0, || {
                    let done = self.resettle_charge(who, *charge)?;
                    invoice = Some(done.value.invoice.header.id);
                    Ok(())
                })?;
                return Ok(invoice);
            }
            Decision::HisTook { record } => self
                .set_his_rejections(who, vec![(*record, None)])
                .map(drop),
            Decision::Resume { visit } => self.resume_visit(who, *visit).map(drop),
            Decision::Merge {
                survivor,
                duplicate,
            } => self.merge_patients(who, *survivor, *duplicate).map(drop),
            Decision::Confirm { conflict } => self
                .resolve_conflict(who, conflict, Resolution::Confirm)
                .map(drop),
        };
        done.map(|()| None).map_err(store_failure)
    }

    fn range_reports(&self) -> Option<Result<[RangeReport; 2], String>> {
        let reports = self
            .range_report()
            .and_then(|own| Ok([own, self.hospital_range_report()?]));
        Some(reports.map_err(|e| lifeline_core::error::Chain(&e).to_string()))
    }

    fn self_check(&self) -> Option<Vec<String>> {
        let mut found = Vec::new();
        match self.verify_audit() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => found.push(format!("its audit chain does not verify: {e}")),
            Err(e) => found.push(format!("its audit chain cannot be read: {e}")),
        }
        match self.check_kept() {
            Ok(wrong) => found.extend(wrong),
            Err(e) => found.push(format!("its kept counts cannot be read: {e}")),
        }
        Some(found)
    }
}
