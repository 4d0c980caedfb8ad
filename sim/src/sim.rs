//! The simulated hospital and its scheduler: every node's replica, every link's sessions, the
//! clocks and the event queue, in one thread. [`Sim::run`] pops events in (time, sequence)
//! order until the hospital has healed, gone quiet and had its digests compared, then checks
//! the invariants ([`crate::check`]).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::backing::{Backing, Home};
use crate::outage::{Created, Monitor};
use lifeline_core::store::Credentials;
use lifeline_core::trust::VerifiedSignatures;
use lifeline_core::{ManualClock, NodeName, NodeRole};
use lifeline_sync::frame::Frame;
use lifeline_sync::identity::{Anchor, NodeIdentity};
use lifeline_sync::proto::{Session, SessionConfig};

use crate::hostile::Forged;
use crate::identities::{self, MAX_WINDOWS, window_name};
use crate::queue::Queue;
use crate::report::{Failure, Faults, RunReport};
use crate::rng::{Rng, Stream};
use crate::trace::Trace;
use crate::work::{Kind, Ledger, Pending};

/// The wall clock at simulated time 0 (2026-12-01T00:00:00Z); each node adds its skew.
pub(crate) const EPOCH_MS: i64 = 1_796_083_200_000;

/// Most events one run may take before it counts as running away.
const MAX_EVENTS: u64 = 5_000_000;

/// A deliberate bug in the simulated node, to prove the checks catch it. Never in production
/// code: the simulation applies it around the replica and the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// The desk hears "saved" when the write reaches the node, before its commit: a crash in
    /// between loses an acknowledged write.
    AckBeforeCommit,
    /// Every node leaves records of one kind out of what it sends.
    DropKind(Kind),
    /// A node merges a family's duplicate patients by itself once it holds both records, as
    /// a machine that matched them would, instead of leaving them to a person.
    MergeDuplicates,
}

/// Where the simulated nodes keep their records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// In-memory replicas: fast, the default.
    #[default]
    Memory,
    /// Each node's real redb store, in a file of the run's own temporary directory.
    Redb,
}

/// What one run simulates.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Windows (1 to 8); `None` lets the seed choose 3 to 8.
    pub windows: Option<usize>,
    /// Desk writes over the run.
    pub writes: u32,
    /// Mean time between two desk writes, hospital-wide (faults come every 1 to 8 s, so this
    /// and `writes` set how many a run sees).
    pub write_gap_ms: u64,
    pub bug: Option<Bug>,
    pub storage: Storage,
    /// Run every node's housekeeping (episodes, acknowledgements, number ranges) as its
    /// daemon does; only a store keeps what it writes. Off, a store-backed run makes the same
    /// run as an in-memory one.
    pub housekeeping: bool,
    /// Check every store's kept figures after every event, not only at the end, and stop at
    /// the first that differs (slow: a scan of every store per event; for finding the event
    /// that made a `stores_verify` failure).
    pub check_every_event: bool,
    /// Collect the readable trace.
    pub trace: bool,
}

impl Config {
    pub fn new(seed: u64) -> Config {
        Config {
            seed,
            windows: None,
            writes: 200,
            write_gap_ms: 250,
            bug: None,
            storage: Storage::Memory,
            check_every_event: false,
            housekeeping: true,
            trace: false,
        }
    }
}

/// Whether a node is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Power {
    Up,
    Down,
}

/// One simulated node.
pub(crate) struct Node<R: Backing> {
    pub name: NodeName,
    pub identity: NodeIdentity,
    /// What the node signs with: kept to make a replacement store.
    pub credentials: Credentials,
    /// Its records: always there, but while a restart or a restore replaces them (see
    /// [`Node::replica`]).
    held: Option<R>,
    /// Where its records are kept: what a restart, a backup and a restore need.
    pub home: Home,
    /// The replica's wall clock (commit times, stamps): the simulated time plus `skew_ms`.
    pub clock: ManualClock,
    pub skew_ms: i64,
    pub power: Power,
    /// Desk writes waiting for the next group commit (lost if the node crashes first).
    pub pending: Vec<Pending>,
    /// When the next group commit is due, if one is.
    pub commit_at: Option<u64>,
    /// The links this node is an end of.
    pub links: Vec<usize>,
    /// Its latest backup, if one was taken: what a restore from an older backup brings back.
    pub backup: Option<R::Backup>,
    /// Its health monitor (`outage`).
    pub monitor: Monitor,
}

impl<R: Backing> Node<R> {
    /// The node's records.
    pub fn replica(&self) -> &R {
        self.held
            .as_ref()
            .expect("a node's records are held except inside Node::replace")
    }

    /// Replaces the node's records with what `make` makes of them (a store's file is closed
    /// before it is opened again or restored over). On failure the node holds nothing more
    /// and the failure is returned: the run fails there.
    pub fn replace(
        &mut self,
        make: impl FnOnce(R, &Home) -> Result<R, String>,
    ) -> Result<(), String> {
        let old = self
            .held
            .take()
            .ok_or("a node's records replaced while they were being replaced")?;
        self.held = Some(make(old, &self.home)?);
        Ok(())
    }
}

/// The two sessions of an open connection, one at each end, and their armed timers.
pub(crate) struct Conn<R: Backing> {
    pub sessions: [Session<R>; 2],
    pub timers: [Option<u64>; 2],
}

/// A pair of nodes that connect to each other, and their connection when it is open.
pub(crate) struct Link<R: Backing> {
    pub ends: [usize; 2],
    pub conn: Option<Conn<R>>,
    /// Counts connections: frames and timers of an older one are ignored.
    pub epoch: u64,
    /// Whether a dial is scheduled.
    pub dialing: bool,
    /// Latency added by a delay fault.
    pub extra_delay_ms: u64,
    /// Frames on their way from each end, in the order sent: one stream, so the next frame
    /// is always the one at the front.
    pub wire: [VecDeque<InFlight>; 2],
    /// Whether a delivery event is pending for each end's stream (one at a time).
    pub armed: [bool; 2],
    pub connections: u64,
}

/// What happens to a frame on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Arrives,
    /// Lost: the connection closes when it would have arrived.
    Lost,
}

/// A frame on the wire.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// When it arrives, unless a partition holds it.
    pub at_ms: u64,
    pub frame: Frame,
    pub fate: Fate,
    /// Anything but heartbeats and digests: what quiescence waits for.
    pub busy: bool,
    /// Whether a partition has held it.
    pub held: bool,
}

/// A fault's end.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Restore {
    Unblock {
        from: usize,
        to: usize,
    },
    Restart {
        node: usize,
    },
    Speed {
        link: usize,
    },
    /// The HIS answers central's bridge again.
    HisBack,
}

#[derive(Debug)]
pub(crate) enum Event {
    /// A desk writes somewhere.
    Write,
    /// A node's group commit.
    Commit {
        node: usize,
    },
    /// The frame at the front of one end's stream is due.
    Deliver {
        link: usize,
        epoch: u64,
        from: usize,
    },
    Timer {
        link: usize,
        epoch: u64,
        side: usize,
        due: u64,
    },
    Dial {
        link: usize,
    },
    Fault,
    Crash {
        node: usize,
        mid_write: bool,
    },
    Restore(Restore),
    /// A node's store is backed up.
    Backup {
        node: usize,
    },
    /// A drift of beliefs while the desks work (see `drift`).
    Drift,
    /// A node's monitor looks at its peers, then runs its housekeeping.
    Look {
        node: usize,
    },
    Heal,
    Probe,
    Finish,
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Work and faults.
    Running,
    /// Healed; waiting for quiescence since then.
    Healing {
        since_ms: u64,
    },
    /// Quiet since then; letting digest rounds run (and repair) before the checks.
    Settling {
        since_ms: u64,
    },
    Done,
}

/// The simulated hospital, its nodes' records kept in `R`.
pub(crate) struct Sim<R: Backing> {
    pub(crate) cfg: Config,
    pub(crate) now_ms: u64,
    pub(crate) base: Instant,
    pub(crate) phase: Phase,
    pub(crate) queue: Queue<Event>,
    pub(crate) nodes: Vec<Node<R>>,
    pub(crate) links: Vec<Link<R>>,
    pub(crate) anchor: Anchor,
    pub(crate) session_cfg: SessionConfig,
    pub(crate) work_rng: Rng,
    pub(crate) fault_rng: Rng,
    pub(crate) net_rng: Rng,
    pub(crate) hostile_rng: Rng,
    pub(crate) backup_rng: Rng,
    pub(crate) drift_rng: Rng,
    /// Draws the drift while the desks work, apart from the heal's.
    pub(crate) mid_drift_rng: Rng,
    /// The hostile window, in runs that have one.
    pub(crate) hostile: Option<usize>,
    /// Every forgery it sent.
    pub(crate) forged: Vec<Forged>,
    /// How many faults hold the HIS away from central's bridge (`his`).
    pub(crate) his_away: u32,
    /// What the HIS said of the emergency records central's bridge wrote back (`his`).
    pub(crate) his: crate::his::HisVerdicts,
    /// The HIS patient master and the bridges' pulls (`his_master`).
    pub(crate) his_master: crate::his_master::HisMaster,
    /// Directed pairs whose frames are cut, with how many faults cut them.
    pub(crate) blocked: BTreeMap<(usize, usize), u32>,
    /// This run's chance that a frame is lost.
    pub(crate) loss: f64,
    /// Frames in flight other than heartbeats and digests.
    pub(crate) busy_in_flight: u64,
    pub(crate) writes_left: u32,
    pub(crate) ledger: Ledger,
    /// Every record a desk created, with the episode it was tagged with (`outage`).
    pub(crate) created: Vec<Created>,
    /// Per node, the records it wrote and lost with its whole data directory copied back
    /// that another node holds: on their way back to it (`numbers`).
    pub(crate) coming_back: Vec<Vec<lifeline_core::RecordId>>,
    pub(crate) faults: Faults,
    pub(crate) failures: Vec<Failure>,
    pub(crate) checks: BTreeMap<&'static str, u64>,
    pub(crate) trace: Trace,
    events: u64,
}

impl<R: Backing> std::fmt::Debug for Sim<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.cfg.seed)
            .field("now_ms", &self.now_ms)
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl<R: Backing> Sim<R> {
    /// A hospital for `cfg`: central, standby and the windows, each with its records (in
    /// `dir` when they are kept in store files), and the links between them (every window to
    /// both servers, the servers to each other).
    pub(crate) fn new(cfg: Config, dir: Option<&Path>) -> Result<Sim<R>, String> {
        let ids = identities::identities()?;
        let mut setup = Rng::stream(cfg.seed, Stream::Setup);
        let windows = match cfg.windows {
            Some(n) => n.clamp(1, MAX_WINDOWS),
            None => setup.range(3, MAX_WINDOWS as u64) as usize,
        };
        let mut names = vec!["central".to_owned(), "standby".to_owned()];
        names.extend((0..windows).map(window_name));
        // Signatures found valid by any node of this run: each node still judges every change
        // by its own roster, but the curve arithmetic of one signature is done once.
        let verified = Arc::new(VerifiedSignatures::default());
        let mut nodes = Vec::new();
        for name in &names {
            let certified = ids
                .node(name)
                .ok_or_else(|| format!("no certificate for {name}"))?;
            let role = match name.as_str() {
                "central" => NodeRole::Central,
                "standby" => NodeRole::Standby,
                _ => NodeRole::Window,
            };
            nodes.push(node(certified, role, setup.next_u64(), &verified, dir)?);
        }
        let mut links = Vec::new();
        links.push(link([0, 1]));
        for w in 2..nodes.len() {
            links.push(link([w, 0]));
            links.push(link([w, 1]));
        }
        for (i, l) in links.iter().enumerate() {
            for end in l.ends {
                nodes[end].links.push(i);
            }
        }
        let loss = *setup.pick(&[0.0, 0.001, 0.003, 0.01]).unwrap_or(&0.0);
        // Half the runs have a hostile window: the last one.
        let mut hostile_rng = Rng::stream(cfg.seed, Stream::Hostile);
        let hostile = hostile_rng.chance(0.5).then_some(nodes.len() - 1);
        let node_count = nodes.len();
        let trace = if cfg.trace {
            Trace::collecting()
        } else {
            Trace::default()
        };
        Ok(Sim {
            work_rng: Rng::stream(cfg.seed, Stream::Work),
            his_master: crate::his_master::HisMaster::new(cfg.seed),
            fault_rng: Rng::stream(cfg.seed, Stream::Faults),
            net_rng: Rng::stream(cfg.seed, Stream::Network),
            hostile_rng,
            backup_rng: Rng::stream(cfg.seed, Stream::Backups),
            drift_rng: Rng::stream(cfg.seed, Stream::Drift),
            mid_drift_rng: Rng::stream(cfg.seed, Stream::MidDrift),
            hostile,
            forged: Vec::new(),
            writes_left: cfg.writes,
            cfg,
            now_ms: 0,
            base: Instant::now(),
            phase: Phase::Running,
            queue: Queue::default(),
            nodes,
            links,
            anchor: ids.anchor.clone(),
            session_cfg: SessionConfig::default(),
            blocked: BTreeMap::new(),
            his_away: 0,
            his: Default::default(),
            loss,
            busy_in_flight: 0,
            ledger: Ledger::default(),
            created: Vec::new(),
            coming_back: vec![Vec::new(); node_count],
            faults: Faults::default(),
            failures: Vec::new(),
            checks: BTreeMap::new(),
            trace,
            events: 0,
        })
    }

    /// Runs to the end and checks the invariants.
    pub fn run(mut self) -> RunReport {
        self.start();
        let mut drained = false;
        while let Some((at_ms, event)) = self.queue.pop() {
            self.events += 1;
            if self.events > MAX_EVENTS {
                self.fail("bounded_run", format!("more than {MAX_EVENTS} events"));
                break;
            }
            self.now_ms = at_ms;
            self.set_clocks();
            let shown = self.cfg.check_every_event.then(|| format!("{event:?}"));
            self.handle(event);
            if let Some(event) = shown
                && self.stores_differ_after(&event)
            {
                break;
            }
            if self.phase == Phase::Done && self.at_quiet(&mut drained) {
                break;
            }
        }
        if self.phase != Phase::Done && self.failures.is_empty() {
            self.fail("bounded_run", "the run stopped before it finished".into());
        }
        self.report()
    }

    fn start(&mut self) {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.to_string()).collect();
        let loss = self.loss;
        self.note(|| format!("hospital: {} (frame loss {loss})", names.join(", ")));
        if let Some(h) = self.hostile {
            let name = self.name(h).to_owned();
            self.note(|| format!("{name} is hostile: it forges changes among its own"));
        }
        for link in 0..self.links.len() {
            let at = self.net_rng.range(0, 200);
            self.links[link].dialing = true;
            self.queue.push(at, Event::Dial { link });
        }
        let first_write = self.work_rng.range(0, 500);
        self.queue.push(first_write, Event::Write);
        let first_fault = self.fault_rng.range(1000, 5000);
        self.queue.push(first_fault, Event::Fault);
        self.schedule_backups();
        self.schedule_drift();
        self.schedule_looks();
        if self.cfg.writes == 0 {
            self.queue.push(1000, Event::Heal);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Write => self.desk_write(),
            Event::Commit { node } => self.group_commit(node),
            Event::Deliver { link, epoch, from } => self.deliver(link, epoch, from),
            Event::Timer {
                link,
                epoch,
                side,
                due,
            } => self.timer(link, epoch, side, due),
            Event::Dial { link } => self.dial(link),
            Event::Fault => self.inject_fault(),
            Event::Crash { node, mid_write } => self.crash(node, mid_write),
            Event::Restore(r) => self.restore(r),
            Event::Backup { node } => self.take_backup(node),
            Event::Drift => self.drift(),
            Event::Look { node } => self.look(node),
            Event::Heal => self.heal(),
            Event::Probe => self.probe(),
            Event::Finish => self.settle(),
        }
    }

    pub(crate) fn note(&mut self, line: impl FnOnce() -> String) {
        self.trace.note(self.now_ms, line);
    }

    pub(crate) fn fail(&mut self, invariant: &'static str, detail: String) {
        let shown = detail.clone();
        self.note(|| format!("FAILURE {invariant}: {shown}"));
        self.failures.push(Failure { invariant, detail });
    }

    pub(crate) fn checked(&mut self, invariant: &'static str, times: u64) {
        *self.checks.entry(invariant).or_default() += times;
    }

    /// The seed of a node's reopening after a crash: of the run, the node and the time, so
    /// that drawing it takes nothing from the fault schedule.
    pub(crate) fn reopen_seed(&self, node: usize) -> u64 {
        let mut rng = Rng::stream(
            self.cfg.seed ^ self.now_ms.rotate_left(17) ^ node as u64,
            Stream::Setup,
        );
        rng.next_u64()
    }

    pub(crate) fn name(&self, node: usize) -> &str {
        self.nodes[node].name.as_str()
    }

    fn report(mut self) -> RunReport {
        self.count_invoices();
        RunReport {
            seed: self.cfg.seed,
            nodes: self.nodes.len(),
            writes_acked: self.ledger.acked(),
            writes_refused: self.ledger.refused,
            faults: self.faults,
            checks: self.checks,
            failures: self.failures,
            sim_ms: self.now_ms,
            events: self.events,
            trace: self.trace.into_lines(),
        }
    }
}

fn node<R: Backing>(
    certified: &identities::Certified,
    role: NodeRole,
    seed: u64,
    verified: &Arc<VerifiedSignatures>,
    dir: Option<&Path>,
) -> Result<Node<R>, String> {
    let clock = ManualClock::new(EPOCH_MS);
    let name = certified.identity.name.clone();
    let home = Home {
        name: name.clone(),
        role,
        clock: clock.clone(),
        credentials: certified.credentials.clone(),
        verified: Arc::clone(verified),
        dir: dir.map(Path::to_path_buf),
    };
    let replica = R::empty(&home, seed)?;
    Ok(Node {
        name,
        identity: certified.identity.clone(),
        credentials: certified.credentials.clone(),
        held: Some(replica),
        home,
        clock,
        skew_ms: 0,
        power: Power::Up,
        pending: Vec::new(),
        commit_at: None,
        links: Vec::new(),
        backup: None,
        monitor: Monitor::new(role, EPOCH_MS),
    })
}

fn link<R: Backing>(ends: [usize; 2]) -> Link<R> {
    Link {
        ends,
        conn: None,
        epoch: 0,
        dialing: false,
        extra_delay_ms: 0,
        wire: [VecDeque::new(), VecDeque::new()],
        armed: [false, false],
        connections: 0,
    }
}
