//! The metrics the daemon keeps for its whole life: two histograms (desk write latency,
//! measured around the desks' write requests; writes per commit, told by the store's writer).
//! Everything else `/metrics` shows is read at scrape time (see `api::metrics`).

use lifeline_core::Store;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// The histograms the daemon keeps from start.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Seconds from a desk's write request arriving to its answer (after the commit).
    pub desk_write_seconds: Histogram,
    /// Writes folded into each commit by the store's writer (group commit).
    pub commit_batch_size: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            // 0.5 ms to ~16 s.
            desk_write_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            // 1 to 512 writes.
            commit_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        }
    }
}

impl Metrics {
    /// Has the store tell the commit histogram the size of every commit.
    pub fn watch(&self, store: &Store) {
        let h = self.commit_batch_size.clone();
        store.observe_commits(Box::new(move |writes| h.observe(writes as f64)));
    }
}
