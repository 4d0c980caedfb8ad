//! What a simulated node keeps its records in, and what the simulation asks of it beyond the
//! protocol ([`Replica`]): the desks' writes, the reads the checks make, and what a crash, a
//! backup and a restore do to it. Two backings:
//! - [`MemoryReplica`] (the default): Automerge documents in memory, fast; a crash leaves
//!   what it committed (each of its methods is one atomic step), and it starts again as a
//!   store opens: a new actor and opening, the asks it kept in memory forgotten.
//! - [`Store`] (`--store`): the node's real redb store in a file of the run's own directory,
//!   with its writer thread, indexes, audit trail and quarantine. A crash closes the file and
//!   the node restarts by opening it again; a backup is the store's own online snapshot, a
//!   restore the store's own `restore_from` (or the snapshot copied over the store file by
//!   hand, the mark beside it left as it was) ([`store`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::emergency::EmergencyAct;
use lifeline_core::automerge::{Automerge, ChangeHash, ReadDoc};
use lifeline_core::health::ModeInfo;
use lifeline_core::housekeeping::Settings;
use lifeline_core::import::{HisPatient, HisRejection};
use lifeline_core::numbers::RangeReport;
use lifeline_core::record::{EpisodeNode, Header, Visit};
use lifeline_core::store::{Credentials, StoreOptions};
use lifeline_core::trust::VerifiedSignatures;
use lifeline_core::{EpisodeId, Ids, ManualClock, NodeName, NodeRole, Operator, Record, RecordId};
use lifeline_sync::replica::{MemoryBackup, MemoryError, MemoryReplica, Replica};

mod store;

/// A refusal of a peer's changes, as the checks compare them with the forgeries sent.
#[derive(Debug, Clone)]
pub(crate) struct Refused {
    pub peer: NodeName,
    pub id: RecordId,
    /// The refusal's stable code.
    pub code: String,
    pub reason: String,
}

/// An emergency episode as a node holds it, for the checks.
#[derive(Debug, Clone)]
pub(crate) struct EpisodeView {
    pub id: EpisodeId,
    pub open: bool,
    pub duration_ms: i64,
    pub grade: &'static str,
    pub merged_into: Option<EpisodeId>,
    pub nodes: BTreeMap<String, EpisodeNode>,
}

/// A number range leased, as a node holds the lease.
#[derive(Debug, Clone)]
pub(crate) struct RangeView {
    pub series: String,
    pub holder: String,
    pub first: u64,
    pub last: u64,
}

/// What a node holds of the hospital's outages: its episodes and the ranges leased.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutageView {
    pub episodes: Vec<EpisodeView>,
    pub ranges: Vec<RangeView>,
}

/// A node's recovery worklist, as a person at its admin desk reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WorklistView {
    /// Every category with its count, zero included, in the list's order.
    pub counts: Vec<(&'static str, usize)>,
    pub items: Vec<Todo>,
}

/// One item of the worklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Todo {
    pub category: &'static str,
    pub record: RecordId,
    /// The conflict to decide, if the item is one, with the records it involves (as the
    /// conflict report lists them: the one holding the conflict first).
    pub conflict: Option<(String, Vec<RecordId>)>,
    /// For a duplicate pair, the merge the review suggests first: (survivor, duplicate).
    pub suggested: Option<(RecordId, RecordId)>,
}

/// An item's action, through the node's own desk API (the review's at the admin desk).
#[derive(Debug, Clone)]
pub(crate) enum Decision {
    /// The bridge: the HIS took a later revision of `record`, its refusal cleared.
    HisTook { record: RecordId },
    /// Triage: a paused emergency registration resumed into the queue.
    Resume { visit: RecordId },
    /// A cashier: a charge paid as self-pay when the insurance link failed, re-settled by
    /// the insurance (with an invoice of its own, its shift started first if need be).
    Resettle { charge: RecordId },
    /// `lifeline merge-patients`: `duplicate` is `survivor`.
    Merge {
        survivor: RecordId,
        duplicate: RecordId,
    },
    /// `lifeline resolve <id> confirm`: what the rules kept (or the value shown) stands.
    Confirm { conflict: String },
}

/// What a page of HIS rows did: records created, records changed, rows skipped (HIS id, why).
pub(crate) type Imported = (usize, usize, Vec<(String, String)>);

/// Why a desk's write failed.
#[derive(Debug)]
pub(crate) enum WriteFailure {
    /// The record is not held here.
    NotFound,
    /// The node's rules refused it (as a desk hears a refusal).
    Refused(String),
    /// Anything else: a failure of the node, never expected.
    Failed(String),
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteFailure::NotFound => f.write_str("not held here"),
            WriteFailure::Refused(why) | WriteFailure::Failed(why) => f.write_str(why),
        }
    }
}

/// Where a node keeps its records, and everything needed to make, reopen or restore them.
#[derive(Clone)]
pub(crate) struct Home {
    pub name: NodeName,
    pub role: NodeRole,
    pub clock: ManualClock,
    pub credentials: Credentials,
    pub verified: Arc<VerifiedSignatures>,
    /// The run's directory, for a store-backed node.
    pub dir: Option<PathBuf>,
}

impl Home {
    fn store_path(&self) -> Result<PathBuf, String> {
        let dir = self
            .dir
            .as_ref()
            .ok_or("a store-backed node without a directory")?;
        Ok(dir.join(format!("{}.redb", self.name)))
    }

    fn store_options(&self, seed: u64) -> StoreOptions {
        let mut opts = StoreOptions::new(self.name.clone(), self.role);
        opts.clock = Arc::new(self.clock.clone());
        opts.credentials = Some(self.credentials.clone());
        opts.ids = Ids::seeded(seed);
        opts.desks = self.credentials.member().desks.clone();
        opts
    }
}

/// What the simulation asks of a node's records.
pub(crate) trait Backing: Replica + Clone + Sized {
    /// A copy of everything kept, as a backup holds it.
    type Backup;

    /// An empty store (a new node, or one restored from a backup older than every record).
    fn empty(home: &Home, seed: u64) -> Result<Self, String>;
    /// The node starts again after a crash: it has what it committed.
    fn restart(self, home: &Home, seed: u64) -> Result<Self, String>;
    /// Restored from a backup older than every record: empty, under a new incarnation.
    fn restored_empty(home: &Home, seed: u64) -> Result<Self, String> {
        Self::empty(home, seed)
    }
    fn backup(&self, home: &Home, number: u64) -> Result<Self::Backup, String>;
    /// Restored from `backup` as `lifeline restore` does it: a new incarnation.
    fn restored(home: &Home, backup: &Self::Backup, seed: u64) -> Result<Self, String>;
    /// `backup` copied over the store by hand: the incarnation it was backed up with (a store
    /// file's opening then finds it behind the mark beside it, and stamps it as restored; or,
    /// `whole`, the data directory copied back with the mark as it was, which nothing on disk
    /// tells: its peers rewind it, and its records come back).
    fn copied_back(
        home: &Home,
        backup: &Self::Backup,
        seed: u64,
        whole: bool,
    ) -> Result<Self, String>;
    /// Whether the records are kept with a mark beside them that tells a copy by hand of the
    /// store alone (a store file); without one, every copy by hand is a whole one.
    fn keeps_a_mark() -> bool {
        false
    }

    fn create<T: Record + Send + 'static>(
        &self,
        who: &Operator,
        record: T,
    ) -> Result<(), WriteFailure>;
    /// Registers a visit: as `create`, and one written in an episode takes the next
    /// emergency registration number from the node's ranges where the node keeps them.
    fn register(&self, who: &Operator, visit: Visit) -> Result<(), WriteFailure> {
        self.create(who, visit)
    }

    /// The cashier invoices settled `charges` under `header`, numbered from its range, where
    /// the node keeps numbers. Without a shift confirmed today, the cashier starts one first,
    /// the stock in hand `skip` numbers past the range's next.
    fn invoice(
        &self,
        _who: &Operator,
        _header: Header,
        _charges: Vec<RecordId>,
        _skip: u64,
    ) -> Result<(), WriteFailure> {
        Err(WriteFailure::Refused(
            "this node keeps no invoice numbers".into(),
        ))
    }
    /// Settles charge `id` at the desk in an episode, where the node keeps episodes: one to
    /// be paid by the insurance as self-pay (the link is down), to re-settle.
    fn settle(&self, _who: &Operator, _id: RecordId) -> Result<(), WriteFailure> {
        Err(WriteFailure::Refused("this node keeps no episodes".into()))
    }
    /// The cashier voids invoice `id`, where the node keeps numbers.
    fn void_invoice(&self, _who: &Operator, _id: RecordId) -> Result<(), WriteFailure> {
        Err(WriteFailure::Refused(
            "this node keeps no invoice numbers".into(),
        ))
    }
    fn update<T, F>(&self, who: &Operator, id: RecordId, f: F) -> Result<(), WriteFailure>
    where
        T: Record + Send + 'static,
        F: FnOnce(&mut T) + Send + 'static;
    fn put_text<T: Record>(
        &self,
        who: &Operator,
        id: RecordId,
        field: &str,
        value: &str,
    ) -> Result<(), WriteFailure>;

    fn get<T: Record>(&self, id: RecordId) -> Result<Option<T>, String>;
    /// What `f` reads of a record's document; `None` if the record is not here.
    fn with_doc<X>(&self, id: RecordId, f: impl FnOnce(&Automerge) -> X) -> Option<X>;
    /// A copy of a record's document.
    fn doc(&self, id: RecordId) -> Option<Automerge> {
        self.with_doc(id, Automerge::clone)
    }
    fn heads(&self, id: RecordId) -> Option<Vec<ChangeHash>> {
        self.with_doc(id, Automerge::get_heads)
    }
    /// Whether the record is here with every one of these changes.
    fn holds_changes(&self, id: RecordId, changes: &[ChangeHash]) -> bool {
        self.with_doc(id, |d| {
            changes.iter().all(|h| d.get_change_by_hash(h).is_some())
        })
        .unwrap_or(false)
    }
    /// How many records of the desks' kinds are here.
    fn records(&self) -> usize;
    /// The episode a record was created in: `None` if the record is not here.
    fn episode_of(&self, id: RecordId) -> Option<Option<EpisodeId>> {
        self.with_doc(id, |d| Header::of(d).ok().and_then(|h| h.episode))
    }

    /// One round of the node's housekeeping (core's, as its daemon runs it). Nothing for a
    /// backing that keeps no episodes, acknowledgements or number ranges.
    fn housekeep(
        &self,
        _settings: &Settings,
        _info: &ModeInfo,
        _now_ms: i64,
    ) -> Result<(), String> {
        Ok(())
    }
    /// The emergency episode this node is in.
    fn episode(&self) -> Option<EpisodeId> {
        None
    }
    /// What keeps this node's outage from being over (in an episode, reconciling one, records
    /// central has not acknowledged); `None` when it is over.
    fn outage_work(&self) -> Option<String> {
        None
    }
    /// The episodes and leases held; `None` for a backing that keeps none.
    fn outages(&self) -> Option<OutageView> {
        None
    }
    fn refusals(&self) -> Vec<Refused>;
    /// The information department's emergency desk at this node (a server): `Ok(None)` where
    /// the node keeps no episodes, or there was nothing to do; else what was done.
    fn emergency_desk(&self, _act: &EmergencyAct) -> Result<Option<String>, WriteFailure> {
        Ok(None)
    }

    /// The recovery worklist, where the node keeps one.
    fn worklist_view(&self) -> Option<Result<WorklistView, String>> {
        None
    }

    /// Central's bridge records what the HIS said of each record (a refusal, or none), where
    /// the node keeps the HIS's verdicts: how many records changed.
    fn his_verdicts(
        &self,
        _marks: Vec<(RecordId, Option<HisRejection>)>,
    ) -> Result<usize, WriteFailure> {
        Ok(0)
    }

    /// The HIS bridge upserts one page of the HIS patient master, where the node keeps a
    /// store, and then keeps `cursor` (the change number the page brings the pull to), as the
    /// daemon's pull does: how many rows created a record, how many changed one, and the HIS
    /// ids of those it skipped, with why.
    fn import_his_patients(
        &self,
        _rows: Vec<HisPatient>,
        _cursor: u64,
    ) -> Result<Imported, WriteFailure> {
        Err(WriteFailure::Refused(
            "this node pulls nothing from the HIS".into(),
        ))
    }

    /// The node's bridge found its store behind its own file (`his-state.json`): the node
    /// lost history (`Store::note_history_lost`).
    fn history_lost(&self) -> Result<(), String> {
        Ok(())
    }

    /// The server the node's bridge waits to catch up with before it pulls, while the node
    /// relearns the history it lost (`Store::his_pull_waits_for`).
    fn his_pull_waits_for(&self) -> Result<Option<String>, String> {
        Ok(None)
    }

    /// Where the node's pull of the HIS master stands (the change number it pulled up to),
    /// as its store keeps it: a restore brings back the backup's.
    fn his_cursor(&self) -> Result<u64, String> {
        Ok(0)
    }

    /// The patients the node holds under an HIS patient id (its search by HIS id).
    fn his_patients(&self, _his_id: &str) -> Result<Vec<RecordId>, String> {
        Ok(Vec::new())
    }

    /// A worklist item's action at this node, where the node keeps a worklist: the invoice
    /// it made, if it made one (a re-settlement's).
    fn decide(
        &self,
        _who: &Operator,
        _decision: &Decision,
    ) -> Result<Option<RecordId>, WriteFailure> {
        Err(WriteFailure::Refused("this node keeps no worklist".into()))
    }

    /// The node's report of the ranges it holds (from its ledger) and of the hospital's
    /// (from every lease and numbered record it holds), where it keeps numbers.
    fn range_reports(&self) -> Option<Result<[RangeReport; 2], String>> {
        None
    }

    /// What only a real store keeps and can check of itself: its audit chain, and its kept
    /// counts and open-item index against a scan. Each finding is one line; none when all
    /// hold; `None` for a backing that keeps none of these.
    fn self_check(&self) -> Option<Vec<String>>;
}

fn memory_failure(e: MemoryError) -> WriteFailure {
    match e {
        MemoryError::NotFound { .. } => WriteFailure::NotFound,
        other => WriteFailure::Failed(other.to_string()),
    }
}

impl Backing for MemoryReplica {
    type Backup = MemoryBackup;

    fn empty(home: &Home, seed: u64) -> Result<Self, String> {
        Ok(MemoryReplica::seeded(home.name.clone(), seed)
            .with_clock(Arc::new(home.clock.clone()))
            .with_credentials(home.credentials.clone())
            .sharing_verified(Arc::clone(&home.verified)))
    }

    fn restart(self, _home: &Home, seed: u64) -> Result<Self, String> {
        Ok(self.restarted(seed))
    }

    fn backup(&self, _home: &Home, _number: u64) -> Result<MemoryBackup, String> {
        Ok(MemoryReplica::backup(self))
    }

    fn restored(_home: &Home, backup: &MemoryBackup, seed: u64) -> Result<Self, String> {
        Ok(MemoryReplica::restored(backup, seed))
    }

    /// A replica keeps no mark: copied back alone or whole, nothing tells it.
    fn copied_back(
        _home: &Home,
        backup: &MemoryBackup,
        seed: u64,
        _whole: bool,
    ) -> Result<Self, String> {
        Ok(MemoryReplica::copied_back(backup, seed))
    }

    fn create<T: Record + Send + 'static>(
        &self,
        _who: &Operator,
        record: T,
    ) -> Result<(), WriteFailure> {
        MemoryReplica::create(self, &record).map_err(memory_failure)
    }

    fn update<T, F>(&self, _who: &Operator, id: RecordId, f: F) -> Result<(), WriteFailure>
    where
        T: Record + Send + 'static,
        F: FnOnce(&mut T) + Send + 'static,
    {
        MemoryReplica::update(self, id, f).map_err(memory_failure)
    }

    fn put_text<T: Record>(
        &self,
        _who: &Operator,
        id: RecordId,
        field: &str,
        value: &str,
    ) -> Result<(), WriteFailure> {
        MemoryReplica::put_text::<T>(self, id, field, value).map_err(memory_failure)
    }

    fn get<T: Record>(&self, id: RecordId) -> Result<Option<T>, String> {
        MemoryReplica::get(self, id).map_err(|e| e.to_string())
    }

    fn with_doc<X>(&self, id: RecordId, f: impl FnOnce(&Automerge) -> X) -> Option<X> {
        MemoryReplica::with_doc(self, id, f)
    }

    fn records(&self) -> usize {
        MemoryReplica::records(self)
    }

    fn refusals(&self) -> Vec<Refused> {
        MemoryReplica::refusals(self)
            .into_iter()
            .map(|r| Refused {
                peer: r.peer,
                id: r.id,
                code: r.reason.code().to_owned(),
                reason: r.reason.to_string(),
            })
            .collect()
    }

    fn self_check(&self) -> Option<Vec<String>> {
        None
    }
}
