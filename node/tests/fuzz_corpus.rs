//! The committed corpora of the fuzz targets `config` and `api_bodies` (`fuzz/corpus/`),
//! replayed on stable Rust with the targets' own checks (`fuzz/src/node.rs`, compiled here
//! too):
//! - every `config` input as the node's config file and as a calendar file: parsed and
//!   checked, or refused with an error that says something; `Config::load` agrees; a config
//!   that passes writes back to the same config;
//! - every `api_bodies` input as a request body to one of the desk API's routes, in-process,
//!   on a window's store: answered with a success or a JSON 4xx refusal that changed nothing.

#[path = "../../fuzz/src/node.rs"]
mod fuzz_node;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("the corpus is there")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.is_file())
        .map(|p: PathBuf| {
            let name = p
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&p).expect("an input");
            (name, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "the {target} corpus is there");
    out
}

/// Runs `check` on every input of `target`, naming the input that fails.
fn replay(target: &str, mut check: impl FnMut(&[u8])) {
    for (name, data) in corpus(target) {
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        assert!(
            done.is_ok(),
            "{target} input {name} failed (see the panic above)"
        );
    }
}

#[test]
fn config_corpus_is_taken_or_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().join("node.toml");
    replay("config", |data| fuzz_node::check_config(&path, data));
}

#[test]
fn api_bodies_corpus_is_answered_with_success_or_a_refusal_that_changed_nothing() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let mut fixture = fuzz_node::Fixture::new(dir.path());
    replay("api_bodies", |data| fixture.check(data));
}
