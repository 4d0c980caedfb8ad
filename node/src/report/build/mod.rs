//! The reports as the daemon builds them from its store (blocking: they read the store).

pub mod conflicts;
pub mod outage;
mod scan;
