//! What only a store-backed run (`--store`) can check: each node's own figures. After the
//! run, every node's store verifies its audit chain, and recomputes everything it keeps
//! (counts by kind, the open-item index and its counts, the unreconciled and queue indexes,
//! each peer's backlog, the digest, the index of signed commits) from the records themselves
//! and finds no difference (`Store::check_kept`, the full scan the property tests run).
//! The in-memory replica keeps none of these, and is not checked here.
//!
//! - `stores_verify`: no node's audit chain is broken, and no kept figure differs from its
//!   scan.

use crate::backing::Backing;
use crate::sim::Sim;

impl<R: Backing> Sim<R> {
    pub(crate) fn check_stores(&mut self) {
        let mut wrong = Vec::new();
        let mut checked = 0;
        for n in &self.nodes {
            let Some(found) = n.replica().self_check() else {
                continue;
            };
            checked += 1;
            wrong.extend(found.into_iter().map(|f| format!("{}: {f}", n.name)));
        }
        if checked > 0 {
            self.checked("stores_verify", checked);
            self.fail_some("stores_verify", wrong);
        }
    }

    /// With `check_every_event`: whether a store's figures differ after `event` (then the run
    /// fails there and stops).
    pub(crate) fn stores_differ_after(&mut self, event: &str) -> bool {
        let mut wrong = Vec::new();
        for n in &self.nodes {
            if let Some(found) = n.replica().self_check() {
                wrong.extend(found.into_iter().map(|f| format!("{}: {f}", n.name)));
            }
        }
        if wrong.is_empty() {
            return false;
        }
        let at = self.now_ms;
        self.fail(
            "stores_verify",
            format!("after {event} at {at} ms: {}", wrong.join("; ")),
        );
        true
    }
}
