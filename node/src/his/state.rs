//! What the bridge remembers between runs, in `his-state.json` in the node's data directory:
//! the pull cursors (so a restart goes on where it was, less the overlap window), what the
//! last pull and push of each table did, and the push ledger (each interface row written,
//! its revision and whether the HIS has taken it, and what each pushed record's rows were
//! built from). Written atomically (a temporary file,
//! fsync, rename). Losing it costs a re-read, never a wrong row: pulls are idempotent upserts
//! and a push compares with what the interface tables hold.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lifeline_core::RecordId;
use lifeline_core::import::SkippedRow;
use serde::{Deserialize, Serialize};

use super::catalogs::SharedSeen;
use super::db::Value;
use super::sources::Sources;

/// The file's name in the data directory.
pub const FILE: &str = "his-state.json";

/// Skipped rows kept per table for `his status`.
pub const KEEP_SKIPPED: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BridgeState {
    /// Table → where its incremental pull stands: a copy of the store's
    /// ([`BridgeState::cursors_from_store`]), which a pull takes at its start.
    #[serde(default)]
    pub cursors: BTreeMap<String, Cursor>,
    /// The store keeps the cursors (false in a file of a version that kept them here only).
    #[serde(default)]
    pub cursors_in_store: bool,
    /// The catalogs' `changed_sql` answers at the last catalog pull.
    #[serde(default)]
    pub catalog_probe: Option<String>,
    /// The catalogs' versions (drug, service) after the bridge's last catalog pull: other
    /// versions mean someone else changed them, and the next pull compares everything.
    #[serde(default)]
    pub catalog_versions: Option<(u64, u64)>,
    /// What the bridge last wrote into the catalogs, item by item; in memory only (a
    /// hospital's thousands of items), so a restart's first catalog pull compares them all.
    #[serde(skip)]
    pub catalog_seen: SharedSeen,
    /// Table → the rows of its overlap window as last read (key → when the HIS last changed
    /// it, and a digest of the row); in memory only. A pull reads the overlap window again
    /// and leaves alone the rows that did not change since, instead of comparing each with
    /// the store; a restart's first pull compares them all.
    #[serde(skip)]
    pub overlap_seen: BTreeMap<String, BTreeMap<String, (i64, u64)>>,
    /// Table (or `catalogs`) → its last pull.
    #[serde(default)]
    pub pulls: BTreeMap<String, TableRun>,
    /// Interface table → its last push.
    #[serde(default)]
    pub pushes: BTreeMap<String, TableRun>,
    /// Interface row (`ext_id`) → what was written.
    #[serde(default)]
    pub ledger: BTreeMap<String, Pushed>,
    /// Record → what its rows in the ledger were built from, so that a push builds again only
    /// the records that changed, or whose sources did.
    #[serde(default)]
    pub sources: BTreeMap<RecordId, Sources>,
}

/// The last row an incremental pull took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub updated_at: Value,
    pub key: Value,
}

impl Cursor {
    /// The cursor as the store keeps it.
    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Cursor {
    /// Whether this cursor is past `other` in the HIS's order of changes, where the two are
    /// comparable (timestamps, integer versions); the key decides between equal marks.
    fn past(&self, other: &Cursor) -> bool {
        let mark = |c: &Cursor| match c.updated_at {
            Value::Timestamp(v) | Value::Int(v) => Some(v),
            _ => None,
        };
        match (mark(self), mark(other)) {
            (Some(a), Some(b)) if a != b => a > b,
            (Some(_), Some(_)) => match (&self.key, &other.key) {
                (Value::Text(a), Value::Text(b)) => a > b,
                (Value::Int(a), Value::Int(b)) => a > b,
                _ => false,
            },
            _ => false,
        }
    }
}

impl BridgeState {
    /// Whether the store went back behind this file: a table's cursor here is past the
    /// store's (`held`), which the pull writes first, after each page's commit. A store
    /// restored, or a backup copied over it by hand (which keeps its identity: its peers
    /// tell it only once one connects), holds fewer rows than the pull took: it lost history.
    pub fn store_went_back(&self, held: &BTreeMap<String, String>) -> bool {
        self.cursors_in_store
            && self.cursors.iter().any(|(table, mine)| {
                match held
                    .get(table)
                    .map(|text| serde_json::from_str::<Cursor>(text))
                {
                    None => true,
                    Some(Ok(theirs)) => mine.past(&theirs),
                    Some(Err(_)) => false,
                }
            })
    }

    /// Takes the store's cursors (`Store::bridge_cursors`) as the pull's. The store keeps each
    /// after the commit of the rows read up to it, and carries it back from a backup with the
    /// rows it had then: a restored store's pull reads again what was pulled after the
    /// backup, where this file's cursors would go on past rows the store no longer holds.
    /// A file of a version that kept the cursors here only, beside a store holding none,
    /// gives its cursors to the store: returned, to be written.
    pub fn cursors_from_store(
        &mut self,
        held: BTreeMap<String, String>,
    ) -> Option<BTreeMap<String, String>> {
        if held.is_empty() && !self.cursors_in_store {
            self.cursors_in_store = true;
            let older: BTreeMap<String, String> = self
                .cursors
                .iter()
                .map(|(table, c)| (table.clone(), c.text()))
                .collect();
            return (!older.is_empty()).then_some(older);
        }
        self.cursors_in_store = true;
        self.cursors = held
            .into_iter()
            .filter_map(|(table, text)| match serde_json::from_str(&text) {
                Ok(cursor) => Some((table, cursor)),
                Err(e) => {
                    tracing::warn!(%table, error = %e, "the store's cursor of an HIS table does not read: the table is pulled from its start");
                    None
                }
            })
            .collect();
        None
    }
}

/// What one pull or push of a table did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRun {
    pub finished_ms: i64,
    pub elapsed_ms: u64,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Of the unchanged, rows of the overlap window read again exactly as the last pull read
    /// them, so not compared with the store.
    #[serde(default)]
    pub reread: u64,
    /// Of a push: the records whose rows were built again, and those reused as they were
    /// (nothing they were built from changed since; their rows count as unchanged).
    #[serde(default)]
    pub rebuilt: u64,
    #[serde(default)]
    pub reused: u64,
    /// Left out on purpose (inactive catalog rows, `skip` codes).
    pub ignored: u64,
    pub skipped: u64,
    /// Amounts with a fraction of a fen rounded.
    pub rounded: u64,
    /// The newest `updated_at` read, as the HIS wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The last rows skipped, with their keys and why.
    #[serde(default)]
    pub last_skipped: Vec<SkippedRow>,
    /// Anything else worth saying (the catalogs' versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl TableRun {
    /// Adds another page's counts.
    pub fn add(&mut self, other: &TableRun) {
        self.rows += other.rows;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.reread += other.reread;
        self.rebuilt += other.rebuilt;
        self.reused += other.reused;
        self.ignored += other.ignored;
        self.skipped += other.skipped;
        self.rounded += other.rounded;
        self.last_skipped.extend(other.last_skipped.iter().cloned());
        let extra = self.last_skipped.len().saturating_sub(KEEP_SKIPPED);
        self.last_skipped.drain(..extra);
        if other.cursor.is_some() {
            self.cursor.clone_from(&other.cursor);
        }
    }
}

/// One interface row as the bridge last wrote or read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    pub table: String,
    /// The Lifeline record it is (part of).
    pub record: String,
    pub revision: i64,
    /// What was written (a digest of the row's values).
    pub fingerprint: String,
    /// The HIS's import: taken, refused (its reason), or not yet.
    pub outcome: ImportState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ImportState {
    Waiting,
    Imported { his_id: Option<String> },
    Refused { reason: String },
}

impl BridgeState {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE)
    }

    /// Reads the state; a missing file is a fresh start, and so is an unreadable one (with a
    /// warning): everything it held can be read again.
    pub fn load(data_dir: &Path) -> BridgeState {
        let path = BridgeState::path(data_dir);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BridgeState::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the HIS bridge state; starting afresh");
                BridgeState::default()
            }
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "the HIS bridge state is damaged; starting afresh (pulls re-read, pushes compare with the HIS)");
                BridgeState::default()
            }),
        }
    }

    /// Writes the state atomically.
    pub fn save(&self, data_dir: &Path) -> anyhow::Result<()> {
        let path = BridgeState::path(data_dir);
        let tmp = data_dir.join(format!("{FILE}.tmp"));
        let bytes = serde_json::to_vec(self).context("cannot encode the HIS bridge state")?;
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_survives_a_restart_and_a_damaged_file_starts_afresh() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(BridgeState::load(dir.path()), BridgeState::default());
        let mut s = BridgeState::default();
        s.cursors.insert(
            "patients".into(),
            Cursor {
                updated_at: Value::Timestamp(1_700_000_000_000_000),
                key: Value::text("P000000042"),
            },
        );
        s.save(dir.path()).expect("save");
        assert_eq!(BridgeState::load(dir.path()), s);
        std::fs::write(BridgeState::path(dir.path()), b"{not json").expect("damage");
        assert_eq!(BridgeState::load(dir.path()), BridgeState::default());
    }

    /// A store behind this file lost history (restored, or a backup copied over it by hand);
    /// a store ahead of it is one whose file was not saved after its last page (a crash
    /// between the two), and a file of the version before says nothing.
    #[test]
    fn a_store_behind_the_file_lost_history() {
        let cursor = |us: i64, key: &str| Cursor {
            updated_at: Value::Timestamp(us),
            key: Value::text(key),
        };
        let mut state = BridgeState {
            cursors_in_store: true,
            ..BridgeState::default()
        };
        state.cursors.insert("patients".into(), cursor(2_000, "P5"));
        let held = |c: Cursor| BTreeMap::from([("patients".to_owned(), c.text())]);
        assert!(state.store_went_back(&held(cursor(1_000, "P9"))));
        assert!(state.store_went_back(&held(cursor(2_000, "P4"))));
        assert!(state.store_went_back(&BTreeMap::new()), "no cursor at all");
        assert!(!state.store_went_back(&held(cursor(2_000, "P5"))));
        assert!(
            !state.store_went_back(&held(cursor(3_000, "P1"))),
            "the file lagging"
        );
        state.cursors_in_store = false;
        assert!(
            !state.store_went_back(&held(cursor(1_000, "P9"))),
            "an older file"
        );
    }

    /// The store's cursors are the pull's; a file of the version before gives its own to a
    /// store holding none, once; a store restored from before any pull starts from nothing.
    #[test]
    fn the_cursors_are_the_store_s_and_an_older_file_gives_its_own_to_the_store() {
        let cursor = |key: &str| Cursor {
            updated_at: Value::Timestamp(1_700_000_000_000_000),
            key: Value::text(key),
        };
        let older: BridgeState = serde_json::from_value(serde_json::json!({
            "cursors": { "patients": cursor("P1") },
        }))
        .expect("a file of the version before");
        assert!(!older.cursors_in_store);

        let mut state = older.clone();
        let given = state.cursors_from_store(BTreeMap::new());
        assert_eq!(
            given,
            Some(BTreeMap::from([("patients".into(), cursor("P1").text())]))
        );
        assert_eq!(state.cursors["patients"], cursor("P1"));
        assert!(state.cursors_in_store);

        // The store restored from a backup taken before any pull: from the start.
        assert_eq!(state.cursors_from_store(BTreeMap::new()), None);
        assert!(state.cursors.is_empty());

        let mut state = older;
        let held = BTreeMap::from([
            ("patients".to_owned(), cursor("P0").text()),
            ("charges".to_owned(), "{damaged".to_owned()),
        ]);
        assert_eq!(state.cursors_from_store(held), None);
        assert_eq!(
            state.cursors,
            BTreeMap::from([("patients".to_owned(), cursor("P0"))]),
            "the store's, a damaged one left out (its table is read from the start)"
        );
    }
}
