//! (a) of a run: central is killed while every window's desk writes; until every window is
//! degraded with the standby as primary, has had a write accepted after that (readable on
//! the standby), and is in an emergency episode. Desk writers, status pollers and followers
//! run on their own threads so that none of them waits for another.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use lifeline_node::api::status::StatusReport;
use lifeline_node::client::Client;
use lifeline_node::error::chain;
use lifeline_node::hospital::Hospital;
use serde_json::Value;

use super::desk::Desk;
use super::report::{DeskWrites, FailoverRun, WindowFailover};
use super::{CENTRAL, PACE, PATIENCE, STANDBY, STANDBY_POLL, STATUS_POLL, ms_since};
use crate::measure::percentile;

/// A desk write during (a).
#[derive(Debug, Clone)]
struct Write {
    window: usize,
    start: Instant,
    end: Instant,
    id: Option<String>,
    error: Option<String>,
}

/// When each window was first seen degraded (standby primary) and in an episode.
#[derive(Debug, Default)]
struct Seen {
    degraded: OnceLock<Instant>,
    episode: OnceLock<Instant>,
    /// When the window's first write after `degraded` was readable on the standby.
    on_standby: OnceLock<Instant>,
    first_write: OnceLock<(Instant, String)>,
    /// The last status read that failed, to say why a window was never seen failing over.
    last_error: Mutex<Option<String>>,
}

/// (a): kills central while the desks write; returns the figures and the patients written.
pub(super) fn fail_over(
    hospital: &mut Hospital,
    desks: &[Desk],
    standby: &Client,
    windows: &[String],
    run: usize,
) -> anyhow::Result<(FailoverRun, usize)> {
    let seen: Vec<Seen> = windows.iter().map(|_| Seen::default()).collect();
    let stop = AtomicBool::new(false);
    let writes = Mutex::new(Vec::<Write>::new());
    let admins = windows
        .iter()
        .map(|w| hospital.admin(w))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let t_kill = OnceLock::new();
    let outcome = std::thread::scope(|s| -> anyhow::Result<()> {
        let t_kill = &t_kill;
        let mut threads = Vec::new();
        for (i, desk) in desks.iter().enumerate() {
            let (seen, stop, writes) = (&seen[i], &stop, &writes);
            threads.push(s.spawn(move || {
                desk_writer(i, desk, seen, stop, writes, standby, run);
                Ok(())
            }));
        }
        for (i, admin) in admins.iter().enumerate() {
            let (seen, stop) = (&seen[i], &stop);
            threads.push(s.spawn(move || status_poller(admin, seen, stop, t_kill)));
        }
        std::thread::sleep(Duration::from_millis(500));
        let _ = t_kill.set(Instant::now());
        let killed = hospital.kill(CENTRAL).context("cannot kill central");
        // Wait for every window to be in the episode and for every first write to be on
        // the standby, then stop the desks.
        let deadline = Instant::now() + PATIENCE;
        let mut result = killed;
        while result.is_ok() {
            let done = seen
                .iter()
                .all(|s| s.episode.get().is_some() && s.on_standby.get().is_some());
            if done {
                break;
            }
            if Instant::now() > deadline {
                let (ok, failed, last) = writes
                    .lock()
                    .map(|w| {
                        let since: Vec<&Write> = w
                            .iter()
                            .filter(|w| t_kill.get() <= Some(&w.start))
                            .collect();
                        let failed: Vec<&&Write> =
                            since.iter().filter(|w| w.id.is_none()).collect();
                        let last = failed.last().and_then(|w| w.error.clone());
                        (since.len() - failed.len(), failed.len(), last)
                    })
                    .unwrap_or_default();
                result = Err(anyhow!(
                    "not every window failed over within {PATIENCE:?}: {}; desk writes since \
                     the kill: {ok} answered, {failed} failed (last: {})",
                    describe(&seen, windows),
                    last.as_deref().unwrap_or("none")
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join()
                .map_err(|_| anyhow!("a desk or status thread panicked"))??;
        }
        result
    });
    outcome?;
    let t0 = *t_kill.get().context("central was never killed")?;
    let writes = writes
        .into_inner()
        .map_err(|_| anyhow!("a desk thread panicked holding the write log"))?;
    let mut per_window = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let s = &seen[i];
        let get = |t: Option<&Instant>, what: &str| {
            t.copied()
                .map(|t| ms_since(t0, t))
                .with_context(|| format!("{w}: no {what}"))
        };
        per_window.push(WindowFailover {
            window: w.clone(),
            degraded_ms: get(s.degraded.get(), "degraded status")?,
            first_write_ms: get(s.first_write.get().map(|(t, _)| t), "first write")?,
            first_write_on_standby_ms: get(s.on_standby.get(), "write on the standby")?,
            episode_ms: get(s.episode.get(), "episode")?,
        });
    }
    let all_in_episode = seen
        .iter()
        .filter_map(|s| s.episode.get().copied())
        .max()
        .unwrap_or(t0);
    let during: Vec<&Write> = writes
        .iter()
        .filter(|w| w.start >= t0 && w.start <= all_in_episode)
        .collect();
    let mut latencies: Vec<Duration> = during.iter().map(|w| w.end - w.start).collect();
    latencies.sort_unstable();
    let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let desk_writes = DeskWrites {
        count: during.len(),
        failed: during.iter().filter(|w| w.id.is_none()).count(),
        latency_ms_p50: ms(percentile(&latencies, 50.0)),
        latency_ms_p99: ms(percentile(&latencies, 99.0)),
        latency_ms_max: ms(latencies.last().copied()),
    };
    let failed = writes.iter().filter(|w| w.id.is_none()).count();
    ensure!(
        failed == 0,
        "{failed} desk write(s) failed during the failover; the first on {}",
        writes
            .iter()
            .find(|w| w.id.is_none())
            .and_then(|w| windows.get(w.window))
            .map_or("?", String::as_str)
    );
    let slowest = |f: fn(&WindowFailover) -> f64| per_window.iter().map(f).fold(0.0, f64::max);
    let run = FailoverRun {
        degraded_ms: slowest(|w| w.degraded_ms),
        first_write_ms: slowest(|w| w.first_write_ms),
        first_write_on_standby_ms: slowest(|w| w.first_write_on_standby_ms),
        episode_ms: slowest(|w| w.episode_ms),
        desk_writes,
        windows: per_window,
    };
    Ok((run, writes.iter().filter(|w| w.id.is_some()).count()))
}

fn describe(seen: &[Seen], windows: &[String]) -> String {
    windows
        .iter()
        .zip(seen)
        .map(|(w, s)| {
            format!(
                "{w}: degraded {}, episode {}, first write on the standby {}, last status \
                 error {}",
                s.degraded.get().is_some(),
                s.episode.get().is_some(),
                s.on_standby.get().is_some(),
                s.last_error
                    .lock()
                    .ok()
                    .and_then(|e| e.clone())
                    .unwrap_or_else(|| "none".into())
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes a patient every [`PACE`] until `stop`; the first write started after the window
/// was seen degraded is followed to the standby (from another thread, so the desk goes on).
fn desk_writer(
    window: usize,
    desk: &Desk,
    seen: &Seen,
    stop: &AtomicBool,
    writes: &Mutex<Vec<Write>>,
    standby: &Client,
    run: usize,
) {
    let mut n = (run as u64 + 1) * 10_000_000 + window as u64 * 1_000_000;
    std::thread::scope(|s| {
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let start = Instant::now();
            let result = desk.write_patient(n);
            let error = result.as_ref().err().map(|e| chain(&**e));
            let id = result.ok();
            let end = Instant::now();
            if let (Some(id), Some(degraded)) = (&id, seen.degraded.get())
                && start >= *degraded
                && seen.first_write.set((end, id.clone())).is_ok()
            {
                let id = id.clone();
                s.spawn(move || follow_to_standby(standby, &id, seen, stop));
            }
            if let Ok(mut w) = writes.lock() {
                w.push(Write {
                    window,
                    start,
                    end,
                    id,
                    error,
                });
            }
            std::thread::sleep(PACE);
        }
    });
}

fn follow_to_standby(standby: &Client, id: &str, seen: &Seen, stop: &AtomicBool) {
    let path = format!("/patients/{id}");
    while !stop.load(Ordering::Relaxed) {
        if standby.get::<Value>(&path).is_ok() {
            let _ = seen.on_standby.set(Instant::now());
            return;
        }
        std::thread::sleep(STANDBY_POLL);
    }
}

/// Reads a window's status every [`STATUS_POLL`] until it has been seen degraded and in an
/// episode after the kill, or `stop`.
fn status_poller(
    admin: &Client,
    seen: &Seen,
    stop: &AtomicBool,
    t_kill: &OnceLock<Instant>,
) -> anyhow::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let status = match t_kill.get() {
            Some(_) => admin.get::<StatusReport>("/admin/status"),
            None => {
                std::thread::sleep(STATUS_POLL);
                continue;
            }
        };
        match status {
            Err(e) => {
                if let Ok(mut last) = seen.last_error.lock() {
                    *last = Some(chain(&*e));
                }
            }
            Ok(s) => {
                let now = Instant::now();
                if s.mode.mode == "degraded" && s.mode.primary.as_deref() == Some(STANDBY) {
                    let _ = seen.degraded.set(now);
                }
                if s.episode.is_some() {
                    let _ = seen.episode.set(now);
                }
                if seen.degraded.get().is_some() && seen.episode.get().is_some() {
                    return Ok(());
                }
            }
        }
        std::thread::sleep(STATUS_POLL);
    }
    Ok(())
}
