//! Fuzz target `config`: arbitrary bytes as the node's config file and as a hospital calendar
//! file; see `lifeline_fuzz::node::check_config` for what must hold.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path =
        PATH.get_or_init(|| lifeline_fuzz::scratch_dir("lifeline-fuzz-config-").join("node.toml"));
    lifeline_fuzz::node::check_config(path, data);
});
