//! The metrics the daemon keeps for its whole life: three histograms (desk write latency,
//! measured around the desks' write requests; writes per commit and each commit's duration,
//! told by the store's writer).
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
    /// Seconds each durable commit took to write its pages and fsync them.
    pub commit_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            // 0.5 ms to ~16 s.
            desk_write_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            // 1 to 512 writes.
            commit_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            // 0.1 ms to ~3 s: a healthy disk's fsync is well under a millisecond.
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        }
    }
}

impl Metrics {
    /// Has the store tell the commit histograms the size and duration of every commit.
    pub fn watch(&self, store: &Store) {
        let (size, seconds) = (self.commit_batch_size.clone(), self.commit_seconds.clone());
        store.observe_commits(Box::new(move |commit| {
            size.observe(commit.writes as f64);
            seconds.observe(commit.duration.as_secs_f64());
        }));
    }
}
