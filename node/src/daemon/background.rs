//! Replication's own runtime, below the desks.
//!
//! A window PC has two cores, and the desks and replication share them. When a new window
//! syncs from this node, or windows reconcile an outage into it or through it, the mesh's
//! work (reading the feed, merging and judging batches, QUIC) is CPU-bound and would take
//! the cores a desk's request needs. The mesh therefore runs on a runtime of its own whose
//! threads (workers and blocking pool alike) run at a lower scheduling priority (`[network]
//! replication_nice`, added to the daemon's nice value; 10 by default). The kernel then
//! gives the desks' threads (the HTTP runtime, the store's writer) the cores first, and
//! replication everything they leave; nothing is starved, as a nice value only weighs the
//! share. (Measured at central while a new window synced from it: the desk's p50 from 4.0 to
//! 3.2 ms; most of what remains there was the new window itself on the same machine, see
//! bench/README.md.)
//!
//! The store's writer thread stays at the daemon's priority: it commits peers' batches and
//! desk writes in one queue, so a desk's write never waits on a thread the kernel holds back.
//! On Linux the nice value belongs to the thread (`man 2 setpriority`, BUGS), so lowering the
//! runtime's threads leaves the others alone; elsewhere the runtime runs at the daemon's
//! priority.

use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

/// The mesh's runtime. [`Background::stop`] ends it; dropping it does too, without waiting.
#[derive(Debug)]
pub struct Background {
    handle: Handle,
    runtime: Option<Runtime>,
}

impl Background {
    /// Starts the runtime; its threads run `nice` steps below the thread that starts it (at
    /// most at 19, the lowest). `0` runs them beside the desks.
    pub fn start(nice: u8) -> std::io::Result<Background> {
        let base = priority::current();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("lifeline-mesh")
            .on_thread_start(move || priority::lower(base, nice))
            .build()?;
        Ok(Background {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Ends the runtime: its tasks are dropped where they wait, and its blocking threads
    /// (a peer's batch in its commit) are waited for up to `wait`, so that the store closes
    /// after them. Blocks: call it from a blocking thread, not from an async task. Stop the
    /// mesh first.
    pub fn stop(mut self, wait: Duration) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(wait);
        }
    }
}

/// Dropped without [`Background::stop`] (the daemon's start failing half-way, from an async
/// task): ends the runtime without waiting for its blocking threads.
impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(target_os = "linux")]
mod priority {
    use rustix::process::{getpriority_process, setpriority_process};

    /// The calling thread's nice value (0 when it cannot be read).
    pub fn current() -> i32 {
        getpriority_process(None).unwrap_or(0)
    }

    /// Sets the calling thread `by` steps below `base`. `who = 0` is the calling thread on
    /// Linux, and lowering one's own priority needs no privilege; a failure is logged and the
    /// thread runs at `base`.
    pub fn lower(base: i32, by: u8) {
        if by == 0 {
            return;
        }
        let target = (base + i32::from(by)).min(19);
        if let Err(e) = setpriority_process(None, target) {
            tracing::warn!(error = %e, nice = target, "replication runs at the desks' priority: the thread's nice value could not be set");
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod priority {
    pub fn current() -> i32 {
        0
    }

    pub fn lower(_base: i32, _by: u8) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of a worker thread and of a blocking thread of `background`.
    fn nice_of_threads(background: &Background) -> (i32, i32) {
        background.handle().block_on(async {
            let worker = tokio::spawn(async { priority::current() }).await.unwrap();
            let blocking = tokio::task::spawn_blocking(priority::current)
                .await
                .unwrap();
            (worker, blocking)
        })
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_runtime_s_threads_run_below_the_caller_and_the_caller_is_left_alone() {
        let caller = priority::current();
        let background = Background::start(7).unwrap();
        let lowered = (caller + 7).min(19);
        assert_eq!(nice_of_threads(&background), (lowered, lowered));
        assert_eq!(priority::current(), caller);
        background.stop(Duration::from_secs(1));
    }

    #[test]
    fn nice_zero_runs_beside_the_caller() {
        let caller = priority::current();
        let background = Background::start(0).unwrap();
        assert_eq!(nice_of_threads(&background), (caller, caller));
        background.stop(Duration::from_secs(1));
    }
}
