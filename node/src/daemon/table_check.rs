//! The store's table check, run beside the work once the daemon serves.
//!
//! The daemon opens its store with [`OpenCheck::Deferred`]: only the file's identity and
//! schema are read before it serves, so a node of any size is up within a second. Reading
//! every table end to end, which finds damage anywhere in the file, then runs here on a
//! blocking thread in one read transaction (desk writes go on beside it), and its outcome is
//! in `lifeline status`. Damage found is an error in the log and in the status: the
//! information department restores the node from a backup (`lifeline restore`).
//!
//! [`OpenCheck::Deferred`]: lifeline_core::store::OpenCheck::Deferred

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lifeline_core::Store;
use serde::{Deserialize, Serialize};

use super::runtime::Runtime;
use crate::error::chain;

/// Where the table check of this run of the daemon is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TableCheck {
    /// Not started (a runtime outside the daemon).
    #[default]
    NotRun,
    Running {
        since_ms: i64,
    },
    Passed {
        finished_ms: i64,
        took_ms: u64,
    },
    Damaged {
        finished_ms: i64,
        /// What the storage engine said, for the engineer.
        error: String,
    },
}

/// The running check: set `stop` and await `task` before the store closes (the check holds
/// a handle to it).
#[derive(Debug)]
pub struct Checking {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Checking {
    /// Stops the check where it is and waits for its thread to let go of the store.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
    }
}

/// Starts the check; its outcome lands in the runtime.
pub fn spawn(on: &tokio::runtime::Handle, store: Store, runtime: Arc<Runtime>) -> Checking {
    runtime.set_table_check(TableCheck::Running {
        since_ms: store.now_ms(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let asked = stop.clone();
    let task = on.spawn_blocking(move || {
        let began = Instant::now();
        let outcome = match store.check_tables(&asked) {
            Ok(false) => {
                tracing::info!("store check stopped with the daemon");
                return;
            }
            Ok(true) => TableCheck::Passed {
                finished_ms: store.now_ms(),
                took_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
            Err(damage) => TableCheck::Damaged {
                finished_ms: store.now_ms(),
                error: chain(&damage),
            },
        };
        // The status says it before the log does, so whoever reads the log finds it there.
        runtime.set_table_check(outcome.clone());
        match outcome {
            TableCheck::Passed { took_ms, .. } => {
                tracing::info!(took_ms, "store check passed: every table read end to end");
            }
            TableCheck::Damaged { error, .. } => tracing::error!(
                path = %store.path().display(),
                %error,
                "the store is damaged: it saves nothing more; restore this node from a backup (lifeline restore)"
            ),
            TableCheck::NotRun | TableCheck::Running { .. } => {}
        }
    });
    Checking { stop, task }
}
