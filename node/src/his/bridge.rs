//! The bridge as the daemon runs it (central, and the standby): a task that checks the HIS
//! answers every `health_interval`, pulls every `poll_interval` and pushes what episodes
//! wrote, retrying with backoff when the HIS is down or slow. It never stops the node and
//! never blocks a desk. What it knows is in [`HisLink`], which `status`, the failover
//! monitor and `lifeline his` read; `lifeline his pull|push|check` ask it to act now.
//!
//! The standby pulls and pushes only while it acts as primary, and only once central has been
//! unreachable for `thresholds.emergency_after` (the time after which central's absence is an
//! outage): a silence of a few heartbeats on a loaded machine is not central gone, and a
//! standby pulling beside central would make two records of each new HIS row. A pull the
//! standby started stops at the next page once central is back. So one node at a time writes
//! what comes from the HIS, unless central and the standby are split apart and both reach
//! the HIS: patients both pulled are then paired on the review by their HIS id
//! (docs/his.md).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeline_core::{DeskRole, NodeRole, Operator, OperatorName, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use super::check::{CheckReport, check};
use super::db::HisDatabase;
use super::db::postgres::{PgSettings, Postgres};
use super::mapping::Mapping;
use super::pull::{PullError, PullSummary, Puller};
use super::push::{PushError, PushSummary, Pusher};
use super::state::BridgeState;
use crate::daemon::health::ModeInfo;
use crate::error::chain;

/// The operator the bridge writes as (audited as such).
pub fn bridge_operator() -> Operator {
    Operator::new(
        OperatorName::new("his-bridge").expect("\"his-bridge\" is a valid operator name"),
        DeskRole::Admin,
    )
}

/// Longest wait between two attempts to reach an HIS that is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Whether the HIS answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// Not tried yet.
    Unknown,
    Up,
    Down,
}

/// The HIS link as `status` shows it, beside the mesh's peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkHealth {
    pub reach: Reach,
    /// Since when it is up or down.
    pub since_ms: i64,
    pub last_contact_ms: Option<i64>,
    pub rtt_ms: Option<u64>,
    pub last_error: Option<String>,
    /// A push finished without error since the HIS was last seen coming back.
    pub pushed_since_up: bool,
}

/// What is going on now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// `pull` or `push`.
    pub activity: String,
    pub table: String,
    pub rows: u64,
    pub started_ms: i64,
}

/// The last pull or push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ran {
    pub finished_ms: i64,
    pub elapsed_ms: u64,
    /// What went wrong, when it did.
    pub error: Option<String>,
}

/// What the bridge knows, shared with the API and the monitor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkState {
    pub url: String,
    pub role: NodeRole,
    /// Whether this node pulls and pushes now (central always; the standby as primary).
    pub active: bool,
    pub health: LinkHealth,
    pub progress: Option<Progress>,
    pub last_pull: Option<Ran>,
    pub last_push: Option<Ran>,
    pub state: BridgeState,
    /// Rows pushed and not yet imported by the HIS.
    pub waiting: u64,
    /// Rows whose latest revision the HIS refused.
    pub refused: u64,
    /// Records that could not be written as interface rows, with why.
    pub unwritable: Vec<(String, String)>,
}

/// What `lifeline his` can ask the bridge to do now.
#[derive(Debug)]
pub enum Request {
    Pull(oneshot::Sender<Result<PullSummary, String>>),
    Push(oneshot::Sender<Result<PushSummary, String>>),
    Check(oneshot::Sender<Result<CheckReport, String>>),
}

/// The bridge's shared state and its request queue.
#[derive(Debug)]
pub struct HisLink {
    state: Mutex<LinkState>,
    requests: mpsc::Sender<Request>,
}

impl HisLink {
    pub fn snapshot(&self) -> LinkState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Reads part of the state without copying the rest (the push ledger can be large).
    pub fn with<R>(&self, f: impl FnOnce(&LinkState) -> R) -> R {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    /// Whether the HIS answers (cheap: for the monitor's every look).
    pub fn health(&self) -> LinkHealth {
        self.state
            .lock()
            .map(|s| s.health.clone())
            .unwrap_or_else(|e| e.into_inner().health.clone())
    }

    fn update(&self, f: impl FnOnce(&mut LinkState)) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard);
    }

    /// Queues a request for the bridge task.
    pub async fn ask(&self, request: Request) -> Result<(), String> {
        self.requests
            .send(request)
            .await
            .map_err(|_| "the HIS bridge has stopped".to_owned())
    }
}

/// Everything the bridge task needs.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub settings: PgSettings,
    pub mapping: Mapping,
    pub data_dir: PathBuf,
    pub poll_interval: Duration,
    pub health_interval: Duration,
    pub overlap: Duration,
    /// How long central must have been unreachable before the standby acts as primary
    /// (`thresholds.emergency_after`).
    pub takeover_after: Duration,
}

/// Starts the bridge task. `mode` is the node's failover mode (the standby acts only as
/// primary).
pub fn start(
    store: Store,
    config: BridgeConfig,
    mode: watch::Receiver<ModeInfo>,
    stop: watch::Receiver<bool>,
) -> (Arc<HisLink>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(16);
    let now = store.now_ms();
    let link = Arc::new(HisLink {
        state: Mutex::new(LinkState {
            url: config.settings.url.clone(),
            role: store.role(),
            active: store.role() == NodeRole::Central,
            health: LinkHealth {
                reach: Reach::Unknown,
                since_ms: now,
                last_contact_ms: None,
                rtt_ms: None,
                last_error: None,
                pushed_since_up: false,
            },
            progress: None,
            last_pull: None,
            last_push: None,
            state: BridgeState::load(&config.data_dir),
            waiting: 0,
            refused: 0,
            unwritable: Vec::new(),
        }),
        requests: tx,
    });
    let task = tokio::spawn(run(link.clone(), store, config, rx, mode, stop));
    (link, task)
}

/// Whether this node pulls and pushes in `mode` at `now_ms`: central always; the standby
/// while it acts as primary and central has been away at least `takeover_after`.
pub fn acts(role: NodeRole, mode: &ModeInfo, now_ms: i64, takeover_after: Duration) -> bool {
    let after = i64::try_from(takeover_after.as_millis()).unwrap_or(i64::MAX);
    mode.runs_his_bridge(role, now_ms, after)
}

/// How long to wait after `failures` failed attempts in a row.
pub fn backoff(health_interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return health_interval;
    }
    let doubled = health_interval.saturating_mul(1 << failures.min(16).saturating_sub(1));
    doubled.clamp(health_interval, MAX_BACKOFF.max(health_interval))
}

/// A pull's or a push's error.
trait RunError: std::error::Error + 'static {
    fn his_unreachable(&self) -> bool;

    /// The standby stopped because central is back: nothing went wrong.
    fn handed_back(&self) -> bool {
        false
    }
}

impl RunError for PullError {
    fn his_unreachable(&self) -> bool {
        PullError::his_unreachable(self)
    }

    fn handed_back(&self) -> bool {
        matches!(self, PullError::HandedBack { .. })
    }
}

impl RunError for PushError {
    fn his_unreachable(&self) -> bool {
        PushError::his_unreachable(self)
    }
}

struct Bridge {
    link: Arc<HisLink>,
    store: Store,
    config: BridgeConfig,
    db: Option<Postgres>,
    failures: u32,
}

async fn run(
    link: Arc<HisLink>,
    store: Store,
    config: BridgeConfig,
    mut requests: mpsc::Receiver<Request>,
    mode: watch::Receiver<ModeInfo>,
    mut stop: watch::Receiver<bool>,
) {
    let mut b = Bridge {
        link,
        store,
        config,
        db: None,
        failures: 0,
    };
    let mut next_poll = Instant::now();
    loop {
        let wait = backoff(b.config.health_interval, b.failures);
        let request = tokio::select! {
            _ = tokio::time::sleep(wait) => None,
            r = requests.recv() => match r {
                Some(r) => Some(r),
                None => return,
            },
            _ = stop.changed() => return,
        };
        let still_acts = {
            let (store, mode, after) = (b.store.clone(), mode.clone(), b.config.takeover_after);
            move || acts(store.role(), &mode.borrow(), store.now_ms(), after)
        };
        let active = still_acts();
        b.link.update(|s| s.active = active);
        match request {
            // Asked for by the information department: done whatever the mode.
            Some(Request::Pull(reply)) => {
                let _ = reply.send(b.pull(&|| true).await);
            }
            Some(Request::Push(reply)) => {
                let _ = reply.send(b.push().await);
            }
            Some(Request::Check(reply)) => {
                let _ = reply.send(b.check().await);
            }
            None => {
                if !b.probe().await {
                    continue;
                }
                if active && Instant::now() >= next_poll {
                    next_poll = Instant::now() + b.config.poll_interval;
                    if b.pull(&still_acts).await.is_ok() {
                        let _ = b.push().await;
                    }
                }
            }
        }
    }
}

impl Bridge {
    fn save(&self) -> impl Fn(&BridgeState) + Send + Sync + use<> {
        let link = self.link.clone();
        let dir = self.config.data_dir.clone();
        move |state: &BridgeState| {
            if let Err(e) = state.save(&dir) {
                tracing::warn!(error = chain(&*e), "cannot save the HIS bridge state");
            }
            link.update(|s| s.state = state.clone());
        }
    }

    fn went_down(&mut self, error: String) {
        self.db = None;
        self.failures = self.failures.saturating_add(1);
        let now = self.store.now_ms();
        self.link.update(|s| {
            if s.health.reach != Reach::Down {
                tracing::warn!(error = %error, "the HIS is unreachable");
                s.health.since_ms = now;
                s.health.pushed_since_up = false;
            }
            s.health.reach = Reach::Down;
            s.health.last_error = Some(error);
            s.health.rtt_ms = None;
        });
    }

    fn came_up(&mut self, rtt: Duration) {
        self.failures = 0;
        let now = self.store.now_ms();
        self.link.update(|s| {
            if s.health.reach != Reach::Up {
                tracing::info!("the HIS answers");
                s.health.since_ms = now;
                s.health.pushed_since_up = false;
            }
            s.health.reach = Reach::Up;
            s.health.last_contact_ms = Some(now);
            s.health.rtt_ms = Some(u64::try_from(rtt.as_millis()).unwrap_or(u64::MAX));
        });
    }

    /// Connects if needed and checks the HIS answers. Returns whether it does.
    async fn probe(&mut self) -> bool {
        let started = Instant::now();
        if self.db.is_none() {
            match Postgres::connect(&self.config.settings).await {
                Ok(db) => self.db = Some(db),
                Err(e) => {
                    self.went_down(chain(&e));
                    return false;
                }
            }
        }
        let Some(db) = self.db.as_mut() else {
            return false;
        };
        match db.query("SELECT 1", &[]).await {
            Ok(_) => {
                self.came_up(started.elapsed());
                true
            }
            Err(e) => {
                self.went_down(chain(&e));
                false
            }
        }
    }

    fn progress(&self, activity: &'static str) -> impl Fn(&str, u64) + Send + Sync + use<> {
        let link = self.link.clone();
        let started_ms = self.store.now_ms();
        move |table: &str, rows: u64| {
            link.update(|s| {
                s.progress = Some(Progress {
                    activity: activity.to_owned(),
                    table: table.to_owned(),
                    rows,
                    started_ms,
                });
            });
        }
    }

    /// A pull's or push's result as the link reports it: an error in words, and the HIS
    /// marked down when it was unreachable.
    fn outcome<T, E: RunError>(&mut self, what: &str, result: Result<T, E>) -> Result<T, String> {
        result.map_err(|e| {
            let message = chain(&e);
            if e.handed_back() {
                tracing::info!(reason = %message, "the HIS {what} stopped");
                return message;
            }
            tracing::warn!(error = %message, "the HIS {what} stopped; it will be retried");
            if e.his_unreachable() {
                self.went_down(message.clone());
            }
            message
        })
    }

    fn finished(&self, started: Instant, error: Option<String>) -> Ran {
        Ran {
            finished_ms: self.store.now_ms(),
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            error,
        }
    }

    /// Pulls, page after page while `keep_going` says this node still acts.
    async fn pull(
        &mut self,
        keep_going: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<PullSummary, String> {
        if !self.probe().await {
            return Err(self.unreachable());
        }
        let started = Instant::now();
        let mut state = self.link.snapshot().state;
        let (save, progress) = (self.save(), self.progress("pull"));
        let who = bridge_operator();
        let result = {
            let Some(db) = self.db.as_mut() else {
                return Err(self.unreachable());
            };
            Puller {
                db,
                store: &self.store,
                mapping: &self.config.mapping,
                who: &who,
                utc_offset_min: self.config.settings.utc_offset_min,
                overlap: self.config.overlap,
                progress: &progress,
                save: &save,
                keep_going,
            }
            .run(&mut state)
            .await
        };
        save(&state);
        let outcome = self.outcome("pull", result);
        let ran = self.finished(started, outcome.as_ref().err().cloned());
        self.link.update(|s| {
            s.progress = None;
            s.last_pull = Some(ran);
        });
        outcome
    }

    async fn push(&mut self) -> Result<PushSummary, String> {
        if !self.probe().await {
            return Err(self.unreachable());
        }
        let started = Instant::now();
        let mut state = self.link.snapshot().state;
        let save = self.save();
        let who = bridge_operator();
        let result = {
            let Some(db) = self.db.as_mut() else {
                return Err(self.unreachable());
            };
            Pusher {
                db,
                store: &self.store,
                mapping: &self.config.mapping,
                who: &who,
                utc_offset_min: self.config.settings.utc_offset_min,
                save: &save,
            }
            .push_all(&mut state)
            .await
        };
        save(&state);
        let outcome = self.outcome("push", result);
        let ran = self.finished(started, outcome.as_ref().err().cloned());
        self.link.update(|s| {
            s.last_push = Some(ran);
            if let Ok(summary) = &outcome {
                s.waiting = summary.waiting;
                s.refused = summary.refused;
                s.unwritable.clone_from(&summary.unwritable);
                s.health.pushed_since_up = s.health.reach == Reach::Up;
            }
        });
        outcome
    }

    async fn check(&mut self) -> Result<CheckReport, String> {
        if !self.probe().await {
            return Err(self.unreachable());
        }
        let Some(db) = self.db.as_mut() else {
            return Err(self.unreachable());
        };
        match check(db, &self.config.mapping).await {
            Ok(report) => Ok(report),
            Err(e) => {
                let message = chain(&e);
                self.went_down(message.clone());
                Err(message)
            }
        }
    }

    fn unreachable(&self) -> String {
        let last = self.link.snapshot().health.last_error.unwrap_or_default();
        format!("the HIS is unreachable: {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::health::Mode;

    #[test]
    fn the_bridge_backs_off_when_the_his_is_down_and_acts_only_as_primary() {
        let every = Duration::from_secs(5);
        assert_eq!(backoff(every, 0), every);
        assert_eq!(backoff(every, 1), every);
        assert_eq!(backoff(every, 2), Duration::from_secs(10));
        assert_eq!(backoff(every, 3), Duration::from_secs(20));
        assert_eq!(backoff(every, 9), MAX_BACKOFF);
        assert_eq!(backoff(Duration::from_secs(60), 5), Duration::from_secs(60));
        let after = Duration::from_secs(30);
        let at = |mode: Mode, central_lost_since_ms: Option<i64>| ModeInfo {
            mode,
            central_lost_since_ms,
            ..ModeInfo::initial(NodeRole::Standby, 0)
        };
        let normal = at(Mode::Normal, None);
        assert!(acts(NodeRole::Central, &normal, 0, after));
        assert!(!acts(NodeRole::Standby, &normal, 0, after));
        // Central silent for a moment (a loaded machine): the standby leaves the HIS to it.
        let degraded = at(Mode::Degraded, Some(100_000));
        assert!(!acts(NodeRole::Standby, &degraded, 100_000, after));
        assert!(!acts(NodeRole::Standby, &degraded, 129_999, after));
        // Central away for `takeover_after`: the standby acts as primary.
        assert!(acts(NodeRole::Standby, &degraded, 130_000, after));
        assert!(!acts(
            NodeRole::Window,
            &at(Mode::Isolated, Some(0)),
            1_000_000,
            after
        ));
    }
}
