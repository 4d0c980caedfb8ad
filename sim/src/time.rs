//! Simulated time: each node's wall clock (the simulated time off by its skew) and the
//! monotonic instants its sessions are given.

use std::time::{Duration, Instant};

use crate::backing::Backing;
use crate::sim::{EPOCH_MS, Sim};

impl<R: Backing> Sim<R> {
    /// Each node's wall clock follows the simulated time, off by its skew.
    pub(crate) fn set_clocks(&mut self) {
        let now = i64::try_from(self.now_ms).unwrap_or(i64::MAX);
        for n in &self.nodes {
            n.clock.set(EPOCH_MS + now + n.skew_ms);
        }
    }

    /// The `now` sessions are given. Monotonic, so the same on every node: skew is a wall
    /// clock's, and sessions read no wall clock.
    pub(crate) fn instant(&self) -> Instant {
        self.base + Duration::from_millis(self.now_ms)
    }

    /// A session's deadline as simulated milliseconds, rounded up.
    pub(crate) fn ms_of(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.base);
        let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    /// A node's wall clock now.
    pub(crate) fn wall_ms(&self, node: usize) -> i64 {
        let now = i64::try_from(self.now_ms).unwrap_or(i64::MAX);
        EPOCH_MS + now + self.nodes[node].skew_ms
    }
}
