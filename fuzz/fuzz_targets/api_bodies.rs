//! Fuzz target `api_bodies`: arbitrary request bodies for the desks' HTTP API, through the real
//! axum router in-process, on a copy of a window's store; see `lifeline_fuzz::node` for the
//! input's layout and what must hold.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use lifeline_fuzz::node::Fixture;

fuzz_target!(|data: &[u8]| {
    static FIXTURE: OnceLock<Mutex<Fixture>> = OnceLock::new();
    let fx = FIXTURE.get_or_init(|| {
        Mutex::new(Fixture::new(&lifeline_fuzz::scratch_dir(
            "lifeline-fuzz-api-",
        )))
    });
    fx.lock().unwrap_or_else(|e| e.into_inner()).check(data);
});
