//! Fuzz target `store_open`: a damaged store file, opened with the path the daemon uses and
//! read whole; see `lifeline_fuzz::store` for the input's recipe and what must hold.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    lifeline_fuzz::tolerate_contained_dependency_panics();
    let dir = DIR.get_or_init(|| lifeline_fuzz::scratch_dir("lifeline-fuzz-store-"));
    lifeline_fuzz::store::check(dir, data);
});
