//! Fuzz target `sync_message`: arbitrary bytes from a peer as the protocol's messages, through
//! a real `Session` over a `MemoryReplica`, decoded all the way down; see
//! `lifeline_fuzz::protocol` for what must hold.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lifeline_fuzz::protocol::{Fixture, check};

fuzz_target!(|data: &[u8]| {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    lifeline_fuzz::tolerate_contained_dependency_panics();
    let fx =
        FIXTURE.get_or_init(|| Fixture::new(&lifeline_fuzz::scratch_dir("lifeline-fuzz-sync-")));
    check(fx, data);
});
