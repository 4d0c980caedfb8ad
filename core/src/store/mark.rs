//! A backup copied over a store by hand (not restored with `lifeline restore`) keeps the
//! backup's incarnation and cursors, so nothing in the store tells that it went back: a window
//! would hand out again the numbers it handed out since the backup, a lessor grant again the
//! ranges it granted (simulator seed 14103 `--store`), and its peers would learn of the loss
//! only when they next connect. So every store counts its commits (`meta_keys::COMMITS`) and
//! keeps a mark in a file beside it ([`mark_file`]): how many commits it made in each of its
//! lives (incarnations), moved on after each commit, before the commit's callers hear their
//! answer (written in place, a fixed size with a checksum: two small writes, no new file and
//! no fsync per commit). A store opened with fewer commits than its own life's mark was copied back (a
//! number handed out writes no feed row when it spoils a form, so the feed would not tell),
//! and the opening does what
//! a restore does ([`super::backup`]'s stamp, in place): a new incarnation, the numbers it may
//! have handed out since retired, its lessor cursors moved on, relearning before it leases,
//! and an entry in the audit chain.
//!
//! The file is evidence only of a store that went back: one that is missing, does not read
//! (logged; a write torn by a power cut fails its checksum) or is behind the store (a crash
//! between the commit and the mark) says nothing and is written again. A whole data
//! directory copied back (the file with it) is not told this way; its peers still rewind it
//! when they connect (`store::relearn`), and the numbers on its records that come back are
//! never handed out again (`desk::returning`).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use redb::ReadableDatabase;
use sha2::{Digest, Sha256};

use super::Shared;
use super::backup::stamp;
use super::tables::{self, meta_keys};

/// The lives a mark remembers, the latest last: a backup of an earlier life copied back is
/// told as long as its life is among them.
const LIVES_KEPT: usize = 16;

/// What the log says when an opening finds its store copied back (`lifeline-bench chaos`
/// looks for it: a daemon killed and started again must never be taken for one).
pub const COPIED_BACK_LOG: &str = "the store made fewer commits than the mark beside it says: a backup was copied over it; it is treated as restored";

/// The first line of a mark file.
const HEADER: &str = "lifeline-mark 1";

/// A mark file's size: its text, then blank lines. Written in place whole, so a shorter text
/// leaves nothing of a longer one behind it.
const FILE_BYTES: usize = 2048;

/// The last line of a mark's text: `check <SHA-256 of the lines before it, hex>`.
const CHECK: &str = "check ";

/// The file beside a store that marks how far it got: `<store>.mark`, a header line, one line
/// per life, `<incarnation> <commits>`, the latest last, and a checksum line.
pub fn mark_file(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".mark");
    PathBuf::from(name)
}

/// How many commits a store made in each of its lives, as its mark file says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    lives: Vec<(String, u64)>,
}

impl Mark {
    /// The mark in `path`; an empty one when there is none or it does not read (logged).
    fn read(path: &Path) -> Mark {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Mark::default(),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read the store's mark file; it is written again");
                return Mark::default();
            }
        };
        Mark::parse(&text).unwrap_or_else(|| {
            tracing::warn!(file = %path.display(), "the store's mark file does not read; it is written again");
            Mark::default()
        })
    }

    fn parse(text: &str) -> Option<Mark> {
        let (body, rest) = text.split_once(&format!("\n{CHECK}"))?;
        let body = format!("{body}\n");
        let (check, padding) = rest.split_once('\n').unwrap_or((rest, ""));
        if check != checksum(&body) || !padding.trim().is_empty() {
            return None;
        }
        let mut lines = body.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let mut lives = Vec::new();
        for line in lines {
            let (incarnation, commits) = line.split_once(' ')?;
            if incarnation.is_empty() || incarnation.contains(char::is_whitespace) {
                return None;
            }
            lives.push((incarnation.to_owned(), commits.parse().ok()?));
        }
        Some(Mark { lives })
    }

    /// The file's bytes: the text, its checksum, and blank lines to the file's size.
    fn bytes(&self) -> Vec<u8> {
        let mut body = format!("{HEADER}\n");
        for (incarnation, commits) in &self.lives {
            body.push_str(&format!("{incarnation} {commits}\n"));
        }
        let check = checksum(&body);
        let mut out = format!("{body}{CHECK}{check}\n").into_bytes();
        out.resize(out.len().max(FILE_BYTES), b'\n');
        out
    }

    /// How many commits the life `incarnation` made.
    fn reached(&self, incarnation: &str) -> Option<u64> {
        self.lives
            .iter()
            .find(|(i, _)| i == incarnation)
            .map(|(_, commits)| *commits)
    }

    /// The life `incarnation` made `commits`; `false` if the mark knew as much already.
    fn note(&mut self, incarnation: &str, commits: u64) -> bool {
        match self.lives.last_mut() {
            Some((i, at)) if i == incarnation => {
                if *at >= commits {
                    return false;
                }
                *at = commits;
            }
            _ => {
                self.lives.retain(|(i, _)| i != incarnation);
                self.lives.push((incarnation.to_owned(), commits));
                let over = self.lives.len().saturating_sub(LIVES_KEPT);
                self.lives.drain(..over);
            }
        }
        true
    }
}

fn checksum(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// The mark as last written, and its file, kept open to be written in place.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    mark: Mark,
    file: Option<File>,
    /// The last write failed (said once, not at every commit).
    failing: bool,
}

impl Kept {
    /// Writes the mark over the file's start. A file that cannot be written is logged (once
    /// until a write succeeds again), and opened again at the next commit: the commit stands,
    /// only the check after a copy by hand is lost.
    fn write(&mut self, path: &Path) {
        let bytes = self.mark.bytes();
        let file = match self.file.take() {
            Some(file) => Ok(file),
            None => File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path),
        };
        let written = file.and_then(|mut file| {
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&bytes)?;
            Ok(file)
        });
        match written {
            Ok(file) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!(file = %path.display(), "the store's mark file is written again");
                }
                self.file = Some(file);
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(file = %path.display(), error = %e, "cannot write the store's mark file: a backup copied over the store by hand will not be told by it");
                }
            }
        }
    }
}

/// The store's incarnation and how many commits it made in it, as its file holds them.
fn store_life(shared: &Shared) -> Result<(String, u64), redb::Error> {
    let r = shared.db.begin_read()?;
    let meta = r.open_table(tables::META)?;
    let text = |key: &str| -> Result<String, redb::Error> {
        Ok(meta
            .get(key)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned())
            .unwrap_or_default())
    };
    let commits = text(meta_keys::COMMITS)?.parse().unwrap_or(0);
    Ok((text(meta_keys::INCARNATION)?, commits))
}

/// At an opening, before anything writes: a store with fewer commits than its own life's mark
/// was copied back, and is stamped as a restore stamps it. Then the mark follows the store.
pub(super) fn check_at_open(shared: &Shared) -> Result<Kept, redb::Error> {
    let path = mark_file(&shared.path);
    let mut mark = Mark::read(&path);
    let (mut incarnation, commits) = store_life(shared)?;
    if let Some(reached) = mark
        .reached(&incarnation)
        .filter(|&reached| reached > commits)
    {
        let now = shared.opts.clock.now_ms();
        let new = shared.opts.ids.record_id_at(now).to_string();
        tracing::warn!(
            store = %shared.path.display(),
            %incarnation,
            commits,
            mark = reached,
            new_incarnation = %new,
            "{COPIED_BACK_LOG}"
        );
        let w = shared.db.begin_write()?;
        let cause = format!(
            "copied back by hand: {commits} commits in its life, {reached} in the mark beside it"
        );
        stamp(
            &w,
            &shared.opts.node,
            &new,
            "store.copied-back",
            &cause,
            now,
        )?;
        w.commit()?;
        incarnation = new;
    }
    mark.note(&incarnation, commits);
    let mut kept = Kept {
        mark,
        file: None,
        failing: false,
    };
    kept.write(&path);
    Ok(kept)
}

impl Shared {
    /// After the store's commit number `commit`: the mark follows.
    pub(crate) fn keep_mark(&self, commit: u64) {
        let Ok(mut kept) = self.mark.lock() else {
            return;
        };
        let Some((incarnation, _)) = kept.mark.lives.last().cloned() else {
            return;
        };
        if kept.mark.note(&incarnation, commit) {
            kept.write(&mark_file(&self.path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_as_written_and_keeps_the_latest_lives() {
        let mut mark = Mark::default();
        for life in 0..20u64 {
            assert!(mark.note(&format!("I{life}"), life * 10));
            assert!(mark.note(&format!("I{life}"), life * 10 + 5));
            assert!(!mark.note(&format!("I{life}"), life * 10 + 1));
        }
        assert_eq!(mark.lives.len(), LIVES_KEPT);
        assert_eq!(mark.reached("I19"), Some(195));
        assert_eq!(mark.reached("I3"), None, "forgotten");
        let bytes = mark.bytes();
        assert_eq!(bytes.len(), FILE_BYTES);
        let text = String::from_utf8(bytes).expect("text");
        assert_eq!(Mark::parse(&text), Some(mark));
    }

    /// A mark that cannot be written (here a directory stands where the file goes) costs only
    /// the check after a copy by hand: the store opens, and its writes are saved.
    #[test]
    fn a_mark_that_cannot_be_written_stops_no_write() {
        use crate::roles::NodeRole;
        use crate::test_support::{new_patient, registrar, store_at, temp_store};
        let (_dir, store, clock) = temp_store("W01", NodeRole::Window);
        let path = store.path().to_path_buf();
        drop(store);
        let mark = mark_file(&path);
        std::fs::remove_file(&mark).expect("the mark");
        std::fs::create_dir(&mark).expect("a directory in its place");
        let store = store_at(&path, "W01", NodeRole::Window, &clock);
        let saved = store
            .create_patient(&registrar(), new_patient("林小雨"))
            .expect("saved")
            .value;
        drop(store);
        let store = store_at(&path, "W01", NodeRole::Window, &clock);
        assert!(
            store
                .get::<crate::record::Patient>(saved.header.id)
                .expect("read")
                .is_some()
        );
    }

    #[test]
    fn a_mark_that_does_not_read_is_none() {
        let checked = |body: &str| format!("{body}{CHECK}{}\n", checksum(body));
        for body in [
            "",
            "lifeline-mark 2\nA 1\n",
            "lifeline-mark 1\nA\n",
            "lifeline-mark 1\nA -1\n",
            "lifeline-mark 1\nA 1 2\n",
            "lifeline-mark 1\n 1\n",
            "lifeline-mark 1\nA 99999999999999999999999\n",
        ] {
            assert_eq!(Mark::parse(&checked(body)), None, "{body:?}");
        }
        let good = checked("lifeline-mark 1\nA 12\n");
        assert!(Mark::parse(&good).is_some());
        // Torn by a power cut: a count written, its checksum not; or garbage after it.
        let torn = good.replace("A 12", "A 92");
        assert_eq!(Mark::parse(&torn), None);
        assert_eq!(Mark::parse(&format!("{good}A 99\n")), None);
        assert_eq!(Mark::parse("lifeline-mark 1\nA 12\n"), None, "no checksum");
    }
}
