//! What a run reports (faults injected, invariants checked, failures) and the table a sweep
//! of many seeds prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Which invariant: one of those [`crate::check`] lists, `no_panic`, `setup` or
    /// `bounded_run`.
    pub invariant: &'static str,
    pub detail: String,
}

/// Faults injected into one run, by type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Frames lost on the wire (each closed its connection).
    pub frames_lost: u64,
    /// Frames held by a partition (retransmitted until it lifts or the connection times out).
    pub frames_held: u64,
    /// Links slowed for a while.
    pub delays: u64,
    /// One node cut off from every peer.
    pub isolations: u64,
    /// The hospital split into two sides.
    pub splits: u64,
    /// One direction between two nodes cut.
    pub one_way_cuts: u64,
    /// Nodes crashed at a random time.
    pub crashes: u64,
    /// Nodes crashed just after a desk's write reached them, before its commit.
    pub crashes_mid_write: u64,
    /// A node's store replaced by an empty one (a restore from a backup older than every
    /// record): it gets everything back from its peers under a new incarnation.
    pub restores: u64,
    /// Backups taken of a node's store.
    pub backups: u64,
    /// A node's store restored from its latest backup: what it held then, under a new
    /// incarnation and actor; its peers send it the rest.
    pub restores_from_backups: u64,
    /// Of those, backups copied over the store by hand. In memory, the same incarnation (the
    /// whole data directory copied back), so its peers learn of the lost history only from its
    /// shorter feed; with stores, the store file alone, which the mark beside it tells at its
    /// opening (then stamped as restored).
    pub backups_copied_back: u64,
    /// Of those, the whole data directory (the store and the mark beside it as they were;
    /// in memory, every copy): nothing on disk tells; its peers rewind it and send its
    /// records back, and the numbers they carry are never handed out again.
    pub data_dirs_copied_back: u64,
    /// Numbers a node whose data directory was copied back whole handed out again before
    /// the records carrying them came back to it: on two records (expected; see `numbers`).
    pub numbers_reissued_blind: u64,
    /// Acknowledged writes lost with a replaced store because no other node had them yet:
    /// expected, and left out of the checks.
    pub writes_lost_to_restores: u64,
    /// A node's wall clock set off by up to five minutes either way.
    pub clock_skews: u64,
    /// Pairs of nodes editing the same record at the same time.
    pub concurrent_edits: u64,
    /// Families registered at two windows at once (see `family`).
    pub families_registered_twice: u64,
    /// Duplicate pairs an admin at a server merged (see `admin`).
    pub admin_merges: u64,
    /// Phone conflicts an admin at a server settled (see `admin`).
    pub admin_resolutions: u64,
    /// Forged changes a hostile window sent (see `hostile`).
    pub forgeries: u64,
    /// Of those, the ones that reached a node's session (and had to be refused there).
    pub forgeries_judged: u64,
    /// Sessions that gave up on a silent peer.
    pub timeouts: u64,
    /// Connections opened after the first ones.
    pub reconnects: u64,
    /// A node made to believe a peer holds records it lacks, at the heal (see `drift`).
    pub drifts: u64,
    /// Digest repairs between honest nodes, and on the hostile window's links.
    pub repairs: u64,
    pub hostile_repairs: u64,
    /// Emergency episodes a node entered by itself (central away too long; `outage`), and
    /// the records desks wrote in them.
    pub episodes_entered: u64,
    pub emergency_records: u64,
    /// The information department's emergency desk (see `emergency`): emergencies and
    /// drills declared, episodes stopped, ranges leased by hand.
    pub emergencies_declared: u64,
    pub emergencies_stopped: u64,
    pub ranges_leased_by_hand: u64,
    /// Times the HIS stopped answering central's bridge (see `faults`).
    pub his_outages: u64,
    /// The recovery worklist's items whose action people took at central after the run
    /// (see `worklist`).
    pub worklist_actions: u64,
    /// Emergency records the HIS refused, as central's bridge recorded (see `his`).
    pub his_refusals: u64,
    /// HIS patient rows the bridges pulled (see `his_master`), and the patients both
    /// bridges made a record of.
    pub his_rows_pulled: u64,
    pub his_patients_pulled_twice: u64,
    /// Invoices the windows' cashiers issued, and those they voided (see `cashier`).
    pub invoices_issued: u64,
    pub invoices_voided: u64,
}

impl Faults {
    pub fn rows(&self) -> [(&'static str, u64); 39] {
        [
            ("frames lost (connection closed)", self.frames_lost),
            ("frames held by a partition", self.frames_held),
            ("link delays", self.delays),
            ("node isolations", self.isolations),
            ("two-sided splits", self.splits),
            ("one-way cuts", self.one_way_cuts),
            ("crashes", self.crashes),
            ("crashes mid-write", self.crashes_mid_write),
            ("backups taken", self.backups),
            ("stores restored empty", self.restores),
            (
                "stores restored from an older backup",
                self.restores_from_backups,
            ),
            ("  copied back by hand", self.backups_copied_back),
            ("    the whole data directory", self.data_dirs_copied_back),
            (
                "    numbers handed out again before their records came back (expected)",
                self.numbers_reissued_blind,
            ),
            (
                "  writes lost with them (expected)",
                self.writes_lost_to_restores,
            ),
            ("clock skews", self.clock_skews),
            ("HIS away from central's bridge", self.his_outages),
            ("emergency records the HIS refused", self.his_refusals),
            ("HIS patient rows pulled", self.his_rows_pulled),
            (
                "  made a record of by both bridges",
                self.his_patients_pulled_twice,
            ),
            ("concurrent edits", self.concurrent_edits),
            (
                "families registered at two windows",
                self.families_registered_twice,
            ),
            ("  duplicates an admin merged", self.admin_merges),
            ("phone conflicts an admin settled", self.admin_resolutions),
            ("forged changes sent (hostile window)", self.forgeries),
            ("  reaching a node, to refuse", self.forgeries_judged),
            ("session timeouts", self.timeouts),
            ("reconnects", self.reconnects),
            ("beliefs of a peer drifted", self.drifts),
            ("  digest repairs between honest nodes", self.repairs),
            (
                "digest repairs with the hostile window",
                self.hostile_repairs,
            ),
            (
                "emergency episodes entered (housekeeping)",
                self.episodes_entered,
            ),
            ("  records written in them", self.emergency_records),
            ("emergencies declared (admin)", self.emergencies_declared),
            ("  episodes stopped (admin)", self.emergencies_stopped),
            ("ranges leased by hand (admin)", self.ranges_leased_by_hand),
            ("invoices issued (cashiers)", self.invoices_issued),
            ("  voided", self.invoices_voided),
            ("worklist items acted on (central)", self.worklist_actions),
        ]
    }

    fn add(&mut self, other: &Faults) {
        self.frames_lost += other.frames_lost;
        self.episodes_entered += other.episodes_entered;
        self.emergency_records += other.emergency_records;
        self.emergencies_declared += other.emergencies_declared;
        self.emergencies_stopped += other.emergencies_stopped;
        self.ranges_leased_by_hand += other.ranges_leased_by_hand;
        self.his_outages += other.his_outages;
        self.worklist_actions += other.worklist_actions;
        self.invoices_issued += other.invoices_issued;
        self.his_refusals += other.his_refusals;
        self.his_rows_pulled += other.his_rows_pulled;
        self.his_patients_pulled_twice += other.his_patients_pulled_twice;
        self.invoices_voided += other.invoices_voided;
        self.frames_held += other.frames_held;
        self.delays += other.delays;
        self.isolations += other.isolations;
        self.splits += other.splits;
        self.one_way_cuts += other.one_way_cuts;
        self.crashes += other.crashes;
        self.crashes_mid_write += other.crashes_mid_write;
        self.restores += other.restores;
        self.backups += other.backups;
        self.restores_from_backups += other.restores_from_backups;
        self.backups_copied_back += other.backups_copied_back;
        self.data_dirs_copied_back += other.data_dirs_copied_back;
        self.numbers_reissued_blind += other.numbers_reissued_blind;
        self.writes_lost_to_restores += other.writes_lost_to_restores;
        self.clock_skews += other.clock_skews;
        self.concurrent_edits += other.concurrent_edits;
        self.families_registered_twice += other.families_registered_twice;
        self.admin_merges += other.admin_merges;
        self.admin_resolutions += other.admin_resolutions;
        self.forgeries += other.forgeries;
        self.forgeries_judged += other.forgeries_judged;
        self.timeouts += other.timeouts;
        self.reconnects += other.reconnects;
        self.drifts += other.drifts;
        self.repairs += other.repairs;
        self.hostile_repairs += other.hostile_repairs;
    }
}

/// One run's outcome.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub seed: u64,
    pub nodes: usize,
    /// Desk writes acknowledged ("saved").
    pub writes_acked: u64,
    /// Desk writes a node refused (it was down, or the status had moved meanwhile).
    pub writes_refused: u64,
    pub faults: Faults,
    /// How many times each invariant was checked.
    pub checks: BTreeMap<&'static str, u64>,
    pub failures: Vec<Failure>,
    /// Simulated time the run took, heal and quiescence included.
    pub sim_ms: u64,
    pub events: u64,
    pub trace: Vec<String>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Totals over many runs.
#[derive(Debug, Default)]
pub struct Summary {
    pub runs: u64,
    pub nodes: u64,
    pub writes_acked: u64,
    pub writes_refused: u64,
    pub faults: Faults,
    pub checks: BTreeMap<&'static str, u64>,
    pub failures_by_invariant: BTreeMap<&'static str, u64>,
    /// Seeds that failed, with the invariants each broke.
    pub failed: Vec<(u64, Vec<Failure>)>,
    pub sim_ms: u64,
}

impl Summary {
    pub fn add(&mut self, run: &RunReport) {
        self.runs += 1;
        self.nodes += run.nodes as u64;
        self.writes_acked += run.writes_acked;
        self.writes_refused += run.writes_refused;
        self.faults.add(&run.faults);
        for (name, n) in &run.checks {
            *self.checks.entry(name).or_default() += n;
        }
        for f in &run.failures {
            *self.failures_by_invariant.entry(f.invariant).or_default() += 1;
        }
        if !run.passed() {
            self.failed.push((run.seed, run.failures.clone()));
        }
        self.sim_ms += run.sim_ms;
    }

    /// The table a sweep prints.
    pub fn table(&self, elapsed: Duration) -> String {
        let mut out = String::new();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let _ = writeln!(out, "{:<40} {:>12}", "runs", self.runs);
        let _ = writeln!(
            out,
            "{:<40} {:>12.1}",
            "runs per second",
            self.runs as f64 / secs
        );
        let _ = writeln!(out, "{:<40} {:>12.1}", "wall seconds", secs);
        let _ = writeln!(
            out,
            "{:<40} {:>12}",
            "simulated seconds",
            self.sim_ms / 1000
        );
        let _ = writeln!(out, "{:<40} {:>12}", "nodes simulated", self.nodes);
        let _ = writeln!(
            out,
            "{:<40} {:>12}",
            "desk writes acknowledged", self.writes_acked
        );
        let _ = writeln!(
            out,
            "{:<40} {:>12}",
            "desk writes refused", self.writes_refused
        );
        let _ = writeln!(out, "\nfaults injected");
        for (name, n) in self.faults.rows() {
            let _ = writeln!(out, "  {name:<38} {n:>12}");
        }
        let _ = writeln!(
            out,
            "\n{:<40} {:>12} {:>12}",
            "invariants checked", "checks", "failures"
        );
        for (name, n) in &self.checks {
            let failed = self.failures_by_invariant.get(name).copied().unwrap_or(0);
            let _ = writeln!(out, "  {name:<38} {n:>12} {failed:>12}");
        }
        for (name, failed) in &self.failures_by_invariant {
            if !self.checks.contains_key(name) {
                let _ = writeln!(out, "  {name:<38} {:>12} {failed:>12}", "-");
            }
        }
        let _ = writeln!(out, "\n{:<40} {:>12}", "failed runs", self.failed.len());
        out
    }
}
