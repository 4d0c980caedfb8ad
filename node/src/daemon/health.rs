//! Peer health into a mode: the pure function is core's ([`lifeline_core::health`]), shared
//! with the simulator; the daemon's monitor feeds it what it observes.

pub use lifeline_core::health::{Mode, ModeInfo, Observation, decide};
