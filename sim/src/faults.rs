//! Faults on a seeded schedule while the desks work: slow links, a node cut off, the
//! hospital split in two, one direction between two nodes cut, crashes and restarts, a store
//! replaced by an empty one or restored from an older backup, clock skew, the HIS away from
//! central's bridge. Frame loss is drawn
//! per frame on the wire (`network`). At the end everything heals.
//!
//! A crash loses the node's sessions, every frame in flight to or from it and the desk
//! writes waiting for its next group commit. Its `MemoryReplica` survives whole: each of the
//! replica's methods is one atomic step, as each of the store's is one durable redb commit,
//! so what a method returned from is what the store's file would hold after a restart.

use std::collections::BTreeSet;

use lifeline_core::RecordId;

use crate::backing::Backing;
use crate::drift::DRIFT_CHANCE;
use crate::hostile::Judged;
use crate::sim::{Event, Phase, Power, Restore, Sim};

/// Time between two faults.
const FAULT_GAP_MS: (u64, u64) = (1000, 8000);
/// How long a partition or a delay lasts (some outlast the sessions' 5 s peer timeout).
const FAULT_SPAN_MS: (u64, u64) = (500, 15_000);
/// How long a crashed node stays down.
const DOWN_MS: (u64, u64) = (200, 10_000);
/// How long a restore takes, on the restored node's clock.
const RESTORE_MS: i64 = 60_000;
/// Latency a delay fault adds (past the sessions' 5 s peer timeout, at most).
const EXTRA_DELAY_MS: (u64, u64) = (50, 8000);
/// Most a node's wall clock is off.
const MAX_SKEW_MS: i64 = 300_000;
/// When a node's first backup is taken, and the time from one to the next. A backup copies
/// the whole replica, so a run takes few.
const FIRST_BACKUP_MS: (u64, u64) = (300, 4000);
const BACKUP_GAP_MS: (u64, u64) = (15_000, 45_000);

impl<R: Backing> Sim<R> {
    /// One fault of a random type, and the next one scheduled.
    pub(crate) fn inject_fault(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        let gap = self.fault_rng.range(FAULT_GAP_MS.0, FAULT_GAP_MS.1);
        self.queue.push(self.now_ms + gap, Event::Fault);
        match self.fault_rng.range(0, 13) {
            0 | 1 => self.isolate(),
            2 | 3 => self.split(),
            4 | 5 => self.cut_one_way(),
            6 | 7 => self.crash_random(),
            8 | 9 => self.slow_link(),
            10 | 11 => self.skew_clock(),
            12 => self.restore_store(),
            _ => self.his_goes_away(),
        }
    }

    fn span(&mut self) -> u64 {
        self.fault_rng.range(FAULT_SPAN_MS.0, FAULT_SPAN_MS.1)
    }

    fn block_for(&mut self, from: usize, to: usize, span_ms: u64) {
        *self.blocked.entry((from, to)).or_default() += 1;
        self.queue.push(
            self.now_ms + span_ms,
            Event::Restore(Restore::Unblock { from, to }),
        );
    }

    fn isolate(&mut self) {
        let node = self.fault_rng.index(self.nodes.len());
        let span = self.span();
        for other in 0..self.nodes.len() {
            if other != node {
                self.block_for(node, other, span);
                self.block_for(other, node, span);
            }
        }
        self.faults.isolations += 1;
        let name = self.name(node).to_owned();
        self.note(|| format!("fault: {name} cut off for {span} ms"));
    }

    fn split(&mut self) {
        let n = self.nodes.len();
        let side: Vec<bool> = (0..n).map(|_| self.fault_rng.chance(0.5)).collect();
        if side.iter().all(|s| *s) || side.iter().all(|s| !*s) {
            return self.isolate();
        }
        let span = self.span();
        for a in 0..n {
            for b in 0..n {
                if side[a] != side[b] {
                    self.block_for(a, b, span);
                }
            }
        }
        self.faults.splits += 1;
        let names: Vec<String> = (0..n)
            .filter(|&i| side[i])
            .map(|i| self.name(i).to_owned())
            .collect();
        self.note(|| {
            format!(
                "fault: [{}] split from the rest for {span} ms",
                names.join(", ")
            )
        });
    }

    fn cut_one_way(&mut self) {
        let link = self.fault_rng.index(self.links.len());
        let [a, b] = self.links[link].ends;
        let (from, to) = if self.fault_rng.chance(0.5) {
            (a, b)
        } else {
            (b, a)
        };
        let span = self.span();
        self.block_for(from, to, span);
        self.faults.one_way_cuts += 1;
        let (x, y) = (self.name(from).to_owned(), self.name(to).to_owned());
        self.note(|| format!("fault: {x} -> {y} cut (one way) for {span} ms"));
    }

    fn crash_random(&mut self) {
        let node = self.fault_rng.index(self.nodes.len());
        self.crash(node, false);
    }

    /// The node stops: sessions, frames in flight and uncommitted desk writes are lost.
    pub(crate) fn crash(&mut self, node: usize, mid_write: bool) {
        if self.phase != Phase::Running || self.nodes[node].power == Power::Down {
            return;
        }
        if mid_write {
            self.faults.crashes_mid_write += 1;
        } else {
            self.faults.crashes += 1;
        }
        let lost = self.nodes[node].pending.len();
        let name = self.name(node).to_owned();
        self.note(|| format!("fault: {name} crashed ({lost} uncommitted desk writes lost)"));
        self.stop(node);
        // What it committed is what it has when it starts again: a store's file is closed and
        // opened again (its next open is a new opening, with a new actor).
        let seed = self.reopen_seed(node);
        if let Err(e) = self.nodes[node].replace(|old, home| old.restart(home, seed)) {
            self.fail("store_files", e);
        }
    }

    /// Powers a node down until a restart a while later.
    fn stop(&mut self, node: usize) {
        let down = self.fault_rng.range(DOWN_MS.0, DOWN_MS.1);
        let n = &mut self.nodes[node];
        n.power = Power::Down;
        n.commit_at = None;
        n.pending.clear();
        for link in n.links.clone() {
            self.disconnect(link, "node down");
        }
        self.queue.push(
            self.now_ms + down,
            Event::Restore(Restore::Restart { node }),
        );
        let name = self.name(node).to_owned();
        self.note(|| format!("{name} down for {down} ms"));
    }

    /// Every node's first backup at a random time; each then has one every so often
    /// ([`Sim::take_backup`]).
    pub(crate) fn schedule_backups(&mut self) {
        for node in 0..self.nodes.len() {
            let at = self.backup_rng.range(FIRST_BACKUP_MS.0, FIRST_BACKUP_MS.1);
            self.queue.push(at, Event::Backup { node });
        }
    }

    /// A backup of the node's store, as it is committed now (desk writes waiting for their
    /// group commit are not in it), and the next one scheduled.
    pub(crate) fn take_backup(&mut self, node: usize) {
        if self.phase != Phase::Running {
            return;
        }
        let gap = self.backup_rng.range(BACKUP_GAP_MS.0, BACKUP_GAP_MS.1);
        self.queue.push(self.now_ms + gap, Event::Backup { node });
        let n = &mut self.nodes[node];
        if n.power == Power::Down {
            return;
        }
        match n.replica().backup(&n.home, self.faults.backups) {
            Ok(backup) => n.backup = Some(backup),
            Err(e) => {
                self.fail("store_files", e);
                return;
            }
        }
        self.faults.backups += 1;
        let (name, records) = (n.name.to_string(), n.replica().records());
        self.note(|| format!("{name} backed up ({records} records)"));
    }

    /// The node's store is restored: from its latest backup (two times in three, when it
    /// has one; of those, one in three is the file copied back by hand, under the same
    /// incarnation, which a store's mark tells at its opening), or else from a backup older
    /// than every record (an empty store's,
    /// restored). Its peers must fill it again, and what no other node
    /// held and the backup did not is lost; that is what a restore loses, so those writes
    /// leave the checks (and are counted).
    fn restore_store(&mut self) {
        let node = self.fault_rng.index(self.nodes.len());
        if self.nodes[node].power == Power::Down {
            return;
        }
        let from_backup = self.nodes[node].backup.is_some() && self.fault_rng.chance(2.0 / 3.0);
        let by_hand = from_backup && self.fault_rng.chance(1.0 / 3.0);
        let name = self.name(node).to_owned();
        self.stop(node);
        let seed = self.fault_rng.next_u64();
        // Of the copies by hand of a store, half copy the whole data directory back (taken
        // from the seed already drawn, so that the runs of every other seed stay as they
        // were); a replica in memory keeps no mark, so every copy of it is whole.
        let whole = by_hand && (!R::keeps_a_mark() || seed % 2 == 1);
        let n = &mut self.nodes[node];
        // A restore takes a person minutes: the node's clock is a minute on when it starts
        // again, whatever the simulated downtime. (Before episodes opened in a restore's minute
        // took a mark of the new incarnation, a node restored in the minute it had opened an
        // episode, lost with the restore, opened another under the same id: seed 106.)
        n.skew_ms += RESTORE_MS;
        let kept = n.backup.take();
        let replaced = match kept.as_ref().filter(|_| from_backup) {
            Some(backup) if by_hand => n.replace(|old, home| {
                drop(old);
                R::copied_back(home, backup, seed, whole)
            }),
            Some(backup) => n.replace(|old, home| {
                drop(old);
                R::restored(home, backup, seed)
            }),
            None => n.replace(|old, home| {
                drop(old);
                R::restored_empty(home, seed)
            }),
        };
        n.backup = kept;
        if let Err(e) = replaced {
            self.fail("store_files", e);
            return;
        }
        let records = self.nodes[node].replica().records();
        match (from_backup, by_hand) {
            (true, true) => {
                self.faults.restores_from_backups += 1;
                self.faults.backups_copied_back += 1;
                self.faults.data_dirs_copied_back += u64::from(whole);
                let what = if whole {
                    "whole data directory"
                } else {
                    "backup"
                };
                self.note(|| {
                    format!("fault: {name}'s {what} copied back by hand ({records} records)")
                });
            }
            (true, false) => {
                self.faults.restores_from_backups += 1;
                self.note(|| {
                    format!("fault: {name}'s store restored from its backup ({records} records)")
                });
            }
            (false, _) => {
                self.faults.restores += 1;
                self.note(|| format!("fault: {name}'s store replaced by an empty one (restored)"));
            }
        }
        self.refusals_lost_with_store(node);
        if whole {
            self.note_coming_back(node);
        }
        let lost = self.lost_with_store(node);
        self.faults.writes_lost_to_restores += lost;
        self.note(|| format!("{name}: {lost} acknowledged writes are on no node now"));
    }

    /// The forgeries `node` refused whose refusal its restored store no longer holds (it
    /// judged them after the backup): no longer expected among its refusals. And those whose
    /// refusal an earlier restore lost, held again by a backup taken after it (a store
    /// replaced by an empty one, then restored from the backup before that): expected again.
    fn refusals_lost_with_store(&mut self, node: usize) {
        let hostile = self.hostile.map(|h| self.nodes[h].name.clone());
        let mut kept: Vec<_> = self.nodes[node]
            .replica()
            .refusals()
            .into_iter()
            .filter(|r| hostile.as_ref() == Some(&r.peer))
            .collect();
        for f in self.forged.iter_mut() {
            if f.to != node || f.state == Judged::NotYet {
                continue;
            }
            let held = kept
                .iter()
                .position(|r| r.id == f.id && r.code == f.kind.code());
            match held {
                Some(i) => {
                    kept.swap_remove(i);
                    f.state = Judged::Yes;
                }
                None => f.state = Judged::ByALostStore,
            }
        }
    }

    /// Marks the acknowledged writes whose changes no node holds now, of `node` (its restored
    /// store included) or of a node whose store an earlier restore replaced (the write then
    /// lived only on the nodes it had reached, and this restore may have been the last of
    /// them: seed 7800000, a window's edit held only by the standby when the window's store
    /// was replaced, then the standby restored from a backup older than the edit); forgets
    /// the records no node holds (and recalls those forgotten before that its restored
    /// backup holds again); returns how many writes.
    /// The records `node` wrote that its data directory copied back whole lost, and another
    /// node holds: they come back to it.
    fn note_coming_back(&mut self, node: usize) {
        let replica = self.nodes[node].replica();
        let elsewhere = |id| {
            (self.nodes.iter().enumerate())
                .any(|(i, n)| i != node && n.replica().holds_changes(id, &[]))
        };
        let lost: Vec<RecordId> = (self.created.iter())
            .filter(|c| c.node == node && !replica.holds_changes(c.id, &[]) && elsewhere(c.id))
            .map(|c| c.id)
            .collect();
        self.coming_back[node].extend(lost);
    }

    /// Whether records `node` lost with its data directory copied back whole are still on
    /// their way back to it.
    pub(crate) fn still_coming_back(&mut self, node: usize) -> bool {
        let replica = self.nodes[node].replica();
        self.coming_back[node].retain(|&id| !replica.holds_changes(id, &[]));
        !self.coming_back[node].is_empty()
    }

    fn lost_with_store(&mut self, node: usize) -> u64 {
        let anywhere = |sim: &Sim<R>, id, heads: &[lifeline_core::automerge::ChangeHash]| {
            sim.nodes
                .iter()
                .any(|n| n.replica().holds_changes(id, heads))
        };
        let replica = self.nodes[node].replica();
        self.ledger.recall(|id| replica.holds_changes(id, &[]));
        for ack in self.ledger.acks.iter_mut().filter(|a| a.node == node) {
            ack.store_replaced = true;
        }
        let mut lost = Vec::new();
        for (i, ack) in self.ledger.acks.iter().enumerate() {
            let Some(heads) = &ack.heads else { continue };
            if ack.store_replaced && !ack.lost_to_restore && !anywhere(self, ack.id, heads) {
                lost.push(i);
            }
        }
        for &i in &lost {
            self.ledger.acks[i].lost_to_restore = true;
        }
        let gone: Vec<_> = self
            .ledger
            .records()
            .keys()
            .copied()
            .filter(|&id| !anywhere(self, id, &[]))
            .collect();
        for id in gone {
            self.ledger.forget(id);
        }
        let held: BTreeSet<RecordId> = self
            .his_master
            .made_ids()
            .filter(|&id| anywhere(self, id, &[]))
            .collect();
        self.his_master.forget_unless(|id| held.contains(&id));
        lost.len() as u64
    }

    fn slow_link(&mut self) {
        let link = self.fault_rng.index(self.links.len());
        let extra = self.fault_rng.range(EXTRA_DELAY_MS.0, EXTRA_DELAY_MS.1);
        let span = self.span();
        self.links[link].extra_delay_ms = extra;
        self.queue
            .push(self.now_ms + span, Event::Restore(Restore::Speed { link }));
        self.faults.delays += 1;
        let name = self.link_name(link);
        self.note(|| format!("fault: link {name} {extra} ms slower for {span} ms"));
    }

    fn skew_clock(&mut self) {
        let node = self.fault_rng.index(self.nodes.len());
        let skew = self.fault_rng.range_i64(-MAX_SKEW_MS, MAX_SKEW_MS);
        self.nodes[node].skew_ms = skew;
        self.faults.clock_skews += 1;
        let name = self.name(node).to_owned();
        self.note(|| format!("fault: {name}'s wall clock off by {skew} ms"));
    }

    pub(crate) fn restore(&mut self, r: Restore) {
        match r {
            Restore::Unblock { from, to } => {
                if let Some(count) = self.blocked.get_mut(&(from, to)) {
                    *count -= 1;
                    if *count == 0 {
                        self.blocked.remove(&(from, to));
                    }
                }
            }
            Restore::Restart { node } => self.restart(node),
            Restore::Speed { link } => self.links[link].extra_delay_ms = 0,
            Restore::HisBack => {
                self.his_away = self.his_away.saturating_sub(1);
                if self.his_away == 0 {
                    self.note(|| "the HIS answers central's bridge again".to_owned());
                }
            }
        }
    }

    fn restart(&mut self, node: usize) {
        if self.nodes[node].power == Power::Up {
            return;
        }
        self.nodes[node].power = Power::Up;
        self.monitor_restarted(node);
        let name = self.name(node).to_owned();
        self.note(|| format!("{name} restarted"));
        for link in self.nodes[node].links.clone() {
            self.schedule_dial(link);
        }
    }

    /// The HIS stops answering central's bridge for a while: central's monitor sees its
    /// system of record away, and after [`crate::outage::HIS_EMERGENCY_AFTER`] central opens
    /// an episode, which the windows then follow (`outage`). The bridge's own data path needs
    /// PostgreSQL and is not simulated: the HIS is what central's monitor sees of it.
    fn his_goes_away(&mut self) {
        let span = self.span();
        self.his_away += 1;
        self.queue
            .push(self.now_ms + span, Event::Restore(Restore::HisBack));
        self.faults.his_outages += 1;
        self.note(|| format!("fault: the HIS stops answering central's bridge for {span} ms"));
    }

    /// The end of the work: every partition and delay lifted, every node up again.
    pub(crate) fn heal(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        self.blocked.clear();
        self.his_away = 0;
        for link in &mut self.links {
            link.extra_delay_ms = 0;
        }
        for node in 0..self.nodes.len() {
            self.restart(node);
        }
        self.stop_declared();
        self.phase = Phase::Healing {
            since_ms: self.now_ms,
        };
        self.note(|| "heal: every partition lifted, every node up".to_owned());
        if self.drift_rng.chance(DRIFT_CHANCE) {
            self.drift();
        }
        self.queue.push(self.now_ms + 1000, Event::Probe);
    }
}
