//! What the fuzz targets share: a scratch directory per process, a panic hook that lets the
//! project's own containment (`lifeline_core::error::contained`) catch a dependency's panic on
//! damaged input, as it does in a node, while every other panic still aborts; and, for the
//! newer targets, what each checks for one input (`store`, `protocol`, `node`), so that the
//! stable replay tests (`sync/tests/fuzz_corpus.rs`, `node/tests/fuzz_corpus.rs`) include the
//! same files (`#[path]`) and check exactly what the targets check.

pub mod node;
pub mod protocol;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Once;

/// This process's scratch directory `<prefix><pid>`, in memory when the machine has one (the
/// store fsyncs every commit). libFuzzer ends the process without dropping statics, so
/// directories with the same prefix left by processes that are gone are removed here.
pub fn scratch_dir(prefix: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    if Path::new("/proc/self").exists()
        && let Ok(entries) = std::fs::read_dir(&root)
    {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(prefix)
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = root.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// Installs (once) a panic hook over libFuzzer's, which aborts on every panic: a panic raised
/// in a dependency's code (a path under `.cargo/`: redb, Automerge and their decoders) while
/// the project contains it (`lifeline_core::error::panic_is_contained`) unwinds to the
/// containment, which turns it into the error a node gives (a damaged file, an undecodable
/// message). A panic in the project's own code, contained or not, still aborts: the writer
/// thread contains every panic so as not to die, but it drops the whole group commit.
pub fn tolerate_contained_dependency_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_dependency = info
                .location()
                .is_some_and(|l| l.file().contains("/.cargo/"));
            if in_dependency && lifeline_core::error::panic_is_contained() {
                return;
            }
            abort(info);
        }));
    });
}
