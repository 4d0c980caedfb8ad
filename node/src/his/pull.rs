//! Pull (HIS → Lifeline): the catalogs when they changed, then the patient master and today's
//! registrations, prescriptions, invoices and charges, each incrementally by (`updated_at`,
//! key) from its persisted cursor less the overlap window. One page of rows is one commit in
//! Lifeline; the cursor is saved after each page, so a restart goes on from there.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeline_core::import::{ImportOutcome, SkippedRow};
use lifeline_core::record::CatalogKind;
use lifeline_core::store::ReadError;
use lifeline_core::{NodeRole, Operator, Store, WriteError};
use serde::Serialize;

use super::catalogs::{self, Before, HeldCodes};
use super::convert::{self, CatalogRows, Converted};
use super::db::{DbError, HisDatabase, Row, Value, timestamp_text};
use super::mapping::{Mapping, TablePull};
use super::state::{BridgeState, Cursor, TableRun};

/// The incremental tables in the order they are pulled: a registration finds its patient, a
/// prescription its registration, a charge its registration and its invoice.
pub const TABLES: [&str; 5] = [
    "patients",
    "registrations",
    "prescriptions",
    "invoices",
    "charges",
];

/// Most pages one table reads in one run (a query that does not move past its cursor stops).
const MAX_PAGES: u64 = 1_000_000;

/// Why a pull stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    #[error("pulling {table}")]
    Db {
        table: &'static str,
        #[source]
        source: DbError,
    },
    #[error("Lifeline could not store the {table} pulled")]
    Store {
        table: &'static str,
        #[source]
        source: WriteError,
    },
    #[error(
        "this node lost history (restored, or its store copied back) and pulls from the HIS once \
         it has caught up with {server}: a pull before would make second records of the patients \
         on their way back"
    )]
    Relearning { server: String },
    #[error("Lifeline could not read or keep the pull's state in its store")]
    Cursors {
        #[source]
        source: WriteError,
    },
    #[error(
        "pull.{table}.sql returned the same rows again: it must return rows after ($1, $2) in (updated_at, key) order"
    )]
    Stuck { table: &'static str },
    #[error("the pull of {table} was interrupted")]
    Interrupted { table: &'static str },
    /// The standby's pull, when central came back: central pulls from there.
    #[error("central is back: the standby stopped pulling {table} (central pulls from here)")]
    HandedBack { table: &'static str },
}

impl PullError {
    /// Whether the HIS itself is unreachable.
    pub fn his_unreachable(&self) -> bool {
        matches!(self, PullError::Db { source, .. } if source.is_unreachable())
    }
}

/// Every code Lifeline's catalogs hold (withdrawn ones included), from the catalog index.
fn held_codes(store: &Store) -> Result<HeldCodes, ReadError> {
    let codes = |kind| -> Result<BTreeSet<String>, ReadError> {
        let held = store.catalog_codes(kind)?;
        Ok(held.into_iter().map(|(code, _)| code).collect())
    };
    Ok(HeldCodes {
        drugs: codes(CatalogKind::Drug)?,
        services: codes(CatalogKind::Service)?,
    })
}

/// A value of a catalog's `changed_sql` answer as the pull compares it with the last one:
/// exactly (a timestamp to the microsecond: a change within the second of the last one is
/// a change).
fn probe_text(v: &Value) -> String {
    match v {
        Value::Timestamp(us) => format!("{us}us"),
        v => v.as_text().unwrap_or_default(),
    }
}

/// What one pull did, table by table.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct PullSummary {
    pub tables: Vec<(String, TableRun)>,
}

impl PullSummary {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, t)| t.rows).sum()
    }
}

/// What a pull needs: the HIS, the store, the mapping, who writes, and where to report.
pub struct Puller<'a, D: HisDatabase> {
    pub db: &'a mut D,
    pub store: &'a Store,
    pub mapping: &'a Mapping,
    pub who: &'a Operator,
    pub utc_offset_min: i32,
    pub overlap: Duration,
    /// Told (table, rows read so far in this run) after each page.
    pub progress: &'a (dyn Fn(&str, u64) + Send + Sync),
    /// Called with the state after each page, to persist it.
    pub save: &'a (dyn Fn(&BridgeState) + Send + Sync),
    /// Asked before each page is written: whether this node still pulls (the standby's pull
    /// stops when central is back, so that the two never write the same new rows).
    pub keep_going: &'a (dyn Fn() -> bool + Send + Sync),
}

impl<D: HisDatabase> std::fmt::Debug for Puller<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Puller").finish_non_exhaustive()
    }
}

type ImportFn<T> = fn(&Store, &Operator, Vec<T>) -> Result<ImportOutcome, WriteError>;
type ConvertFn<T> = fn(&[Row], &Mapping, i32) -> Converted<T>;

fn run_of<T>(converted: &Converted<T>, outcome: &ImportOutcome, rows: usize) -> TableRun {
    let mut skipped: Vec<SkippedRow> = converted.skipped.clone();
    skipped.extend(outcome.skipped.iter().cloned());
    for s in &skipped {
        tracing::warn!(his_id = %s.his_id, reason = %s.reason, "an HIS row was skipped");
    }
    TableRun {
        rows: rows as u64,
        created: outcome.created as u64,
        updated: outcome.updated as u64,
        unchanged: outcome.unchanged as u64,
        ignored: converted.ignored as u64,
        skipped: skipped.len() as u64,
        rounded: converted.rounded as u64,
        last_skipped: skipped,
        ..TableRun::default()
    }
}

/// Forgets the rows of `rows` that the import skipped, so that the next pull's overlap reads
/// them again: a row skipped for what Lifeline does not hold yet (the patient an HIS merge
/// points at, while it comes back by replication to a restored central) is taken once it
/// is here, not only when the HIS changes the row again (found by the simulator, seed 6038
/// of a store sweep).
fn forget_skipped(
    rows: &[Row],
    key_column: &str,
    skipped: &[SkippedRow],
    seen: &mut BTreeMap<String, (i64, u64)>,
) {
    if skipped.is_empty() {
        return;
    }
    let skipped: BTreeSet<&str> = skipped.iter().map(|s| s.his_id.as_str()).collect();
    for row in rows {
        let key = row.get(key_column);
        if key
            .and_then(Value::as_text)
            .is_some_and(|k| skipped.contains(k.as_str()))
        {
            seen.remove(&format!("{key:?}"));
        }
    }
}

/// The rows of a page not read exactly so before (by key, a digest of every value), and how
/// many were; every row with a timestamp is remembered for the next pull's overlap.
fn unseen(
    rows: &[Row],
    key_column: &str,
    updated_column: &str,
    seen: &mut BTreeMap<String, (i64, u64)>,
) -> (Vec<Row>, u64) {
    let mut fresh = Vec::with_capacity(rows.len());
    let mut reread = 0;
    for row in rows {
        let key = format!("{:?}", row.get(key_column));
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        format!("{:?}", row.values).hash(&mut hasher);
        let digest = hasher.finish();
        if seen.get(&key).is_some_and(|(_, d)| *d == digest) {
            reread += 1;
            continue;
        }
        if let Some(Value::Timestamp(at)) = row.get(updated_column) {
            seen.insert(key, (*at, digest));
        }
        fresh.push(row.clone());
    }
    (fresh, reread)
}

impl<D: HisDatabase> Puller<'_, D> {
    /// Pulls everything once: the catalogs if they changed (central only: catalogs come from
    /// central), then every incremental table.
    pub async fn run(&mut self, state: &mut BridgeState) -> Result<PullSummary, PullError> {
        let held = self
            .store
            .bridge_cursors()
            .map_err(|e| PullError::Cursors { source: e.into() })?;
        if state.store_went_back(&held) {
            // A backup copied over the store by hand: it relearns what it lost before it
            // pulls (seed 10114 `--store`), as a restored one does.
            tracing::warn!("the store holds less than the HIS pull took: it lost history");
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || store.note_history_lost())
                .await
                .map_err(|_| PullError::Interrupted { table: "cursors" })?
                .map_err(|source| PullError::Cursors { source })?;
        }
        if let Some(older) = state.cursors_from_store(held) {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || store.set_bridge_cursors(older))
                .await
                .map_err(|_| PullError::Interrupted { table: "cursors" })?
                .map_err(|source| PullError::Cursors { source })?;
        }
        let waits = self
            .store
            .his_pull_waits_for()
            .map_err(|e| PullError::Cursors { source: e.into() })?;
        if let Some(server) = waits {
            return Err(PullError::Relearning {
                server: server.to_string(),
            });
        }
        let mut summary = PullSummary::default();
        if self.store.role() == NodeRole::Central
            && let Some(run) = self.catalogs(state).await?
        {
            summary.tables.push(("catalogs".into(), run));
        }
        let p = &self.mapping.pull;
        let (patients, registrations, prescriptions, invoices, charges) = (
            p.patients.clone(),
            p.registrations.clone(),
            p.prescriptions.clone(),
            p.invoices.clone(),
            p.charges.clone(),
        );
        let run = self
            .table(
                state,
                "patients",
                &patients,
                convert::patients,
                Store::import_his_patients,
            )
            .await?;
        summary.tables.push(("patients".into(), run));
        let run = self
            .table(
                state,
                "registrations",
                &registrations,
                convert::visits,
                Store::import_his_visits,
            )
            .await?;
        summary.tables.push(("registrations".into(), run));
        let run = self
            .table(
                state,
                "prescriptions",
                &prescriptions,
                convert::prescriptions,
                Store::import_his_prescriptions,
            )
            .await?;
        summary.tables.push(("prescriptions".into(), run));
        let run = self
            .table(
                state,
                "invoices",
                &invoices,
                convert::invoices,
                Store::import_his_invoices,
            )
            .await?;
        summary.tables.push(("invoices".into(), run));
        let run = self
            .table(
                state,
                "charges",
                &charges,
                convert::charges,
                Store::import_his_charges,
            )
            .await?;
        summary.tables.push(("charges".into(), run));
        Ok(summary)
    }

    async fn query(
        &mut self,
        table: &'static str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Row>, PullError> {
        self.db
            .query(sql, params)
            .await
            .map_err(|source| PullError::Db { table, source })
    }

    /// The catalogs, read whole when their `changed_sql` answers differ from the last time
    /// (or someone else changed Lifeline's catalogs since), and written as what changed.
    async fn catalogs(&mut self, state: &mut BridgeState) -> Result<Option<TableRun>, PullError> {
        const TABLE: &str = "catalogs";
        let started = Instant::now();
        let p = self.mapping.pull.clone();
        let sections = [&p.departments, &p.doctors, &p.services, &p.drugs];
        let mut probe = String::new();
        for s in sections {
            for row in self.query(TABLE, &s.changed_sql, &[]).await? {
                for v in &row.values {
                    probe.push_str(&probe_text(v));
                    probe.push('|');
                }
            }
            probe.push('\n');
        }
        let store_error = |source: ReadError| PullError::Store {
            table: TABLE,
            source: source.into(),
        };
        let versions = self.store.catalog_versions().map_err(store_error)?;
        let changed_here = state.catalog_versions.is_some_and(|v| v != versions);
        if state.catalog_probe.as_deref() == Some(probe.as_str()) && !changed_here {
            return Ok(None);
        }
        let rows = CatalogRows {
            departments: self.query(TABLE, &p.departments.sql, &[]).await?,
            doctors: self.query(TABLE, &p.doctors.sql, &[]).await?,
            services: self.query(TABLE, &p.services.sql, &[]).await?,
            drugs: self.query(TABLE, &p.drugs.sql, &[]).await?,
        };
        let total =
            rows.departments.len() + rows.doctors.len() + rows.services.len() + rows.drugs.len();
        let mut converted = convert::catalogs(&rows, self.mapping);
        let Some(his) = converted.items.pop() else {
            return Ok(None);
        };
        let seen = state
            .catalog_seen
            .clone()
            .filter(|seen| seen.versions == versions);
        let (store, who) = (self.store.clone(), self.who.clone());
        let (written, mut seen) = tokio::task::spawn_blocking(move || {
            let held;
            let before = match &seen {
                Some(seen) => Before::Seen(seen),
                None => {
                    held = held_codes(&store)?;
                    Before::Held(&held)
                }
            };
            let (changes, seen) = catalogs::changes(&his, before);
            let written = store.change_catalog(&who, changes)?.value;
            Ok::<_, WriteError>((written, seen))
        })
        .await
        .map_err(|_| PullError::Interrupted { table: TABLE })?
        .map_err(|source| PullError::Store {
            table: TABLE,
            source,
        })?;
        seen.versions = written.versions;
        let mut run = run_of(&converted, &ImportOutcome::default(), total);
        run.created = written.items.added;
        run.updated = written.items.changed + written.items.withdrawn;
        run.note = Some(format!(
            "drug catalog version {}, service catalog version {}; items: {} new, {} changed, {} withdrawn",
            written.versions.0,
            written.versions.1,
            written.items.added,
            written.items.changed,
            written.items.withdrawn
        ));
        run.finished_ms = self.store.now_ms();
        run.elapsed_ms = started.elapsed().as_millis() as u64;
        if written.before == versions {
            state.catalog_probe = Some(probe);
            state.catalog_versions = Some(written.versions);
            state.catalog_seen = Some(Arc::new(seen));
        } else {
            // Someone else changed the catalogs while this pull ran: the next pull reads and
            // compares everything again.
            state.catalog_probe = None;
            state.catalog_versions = None;
            state.catalog_seen = None;
        }
        state.pulls.insert(TABLE.into(), run.clone());
        (self.save)(state);
        Ok(Some(run))
    }

    /// One incremental table, page after page from its cursor less the overlap window.
    async fn table<T: Send + 'static>(
        &mut self,
        state: &mut BridgeState,
        table: &'static str,
        section: &TablePull,
        convert: ConvertFn<T>,
        import: ImportFn<T>,
    ) -> Result<TableRun, PullError> {
        let started = Instant::now();
        let page_rows = i64::from(self.mapping.pull.page_rows);
        let overlap_us = i64::try_from(self.overlap.as_micros()).unwrap_or(i64::MAX);
        let (mut since, mut after) = match state.cursors.get(table) {
            Some(Cursor {
                updated_at: Value::Timestamp(us),
                ..
            }) => (
                Value::Timestamp(us.saturating_sub(overlap_us)),
                Value::Lowest,
            ),
            Some(c) => (c.updated_at.clone(), c.key.clone()),
            None => (Value::Lowest, Value::Lowest),
        };
        let key_column = section.columns.get("key").cloned().unwrap_or_default();
        let updated_column = section
            .columns
            .get("updated_at")
            .cloned()
            .unwrap_or_default();
        let mut total = TableRun::default();
        let mut seen = state.overlap_seen.remove(table).unwrap_or_default();
        for _ in 0..MAX_PAGES {
            let params = [since.clone(), after.clone(), Value::Int(page_rows)];
            let rows = self.query(table, &section.sql, &params).await?;
            let Some(last) = rows.last() else { break };
            let next_since = last.get(&updated_column).cloned().unwrap_or(Value::Null);
            let next_after = last.get(&key_column).cloned().unwrap_or(Value::Null);
            if next_since.is_null() || next_after.is_null() {
                return Err(PullError::Stuck { table });
            }
            if next_since == since && next_after == after {
                return Err(PullError::Stuck { table });
            }
            if !(self.keep_going)() {
                return Err(PullError::HandedBack { table });
            }
            let (fresh, reread) = unseen(&rows, &key_column, &updated_column, &mut seen);
            let mut converted = convert(&fresh, self.mapping, self.utc_offset_min);
            let items = std::mem::take(&mut converted.items);
            let (store, who) = (self.store.clone(), self.who.clone());
            let cursor = Cursor {
                updated_at: next_since.clone(),
                key: next_after.clone(),
            };
            let outcome = tokio::task::spawn_blocking(move || {
                let outcome = import(&store, &who, items)?;
                // After the rows' commit: the store never holds a cursor ahead of its rows.
                store.set_bridge_cursors(BTreeMap::from([(table.to_owned(), cursor.text())]))?;
                Ok(outcome)
            })
            .await
            .map_err(|_| PullError::Interrupted { table })?
            .map_err(|source| PullError::Store { table, source })?;
            forget_skipped(&fresh, &key_column, &outcome.skipped, &mut seen);
            let mut page = run_of(&converted, &outcome, rows.len());
            page.reread = reread;
            page.unchanged += reread;
            if let Value::Timestamp(us) = next_since {
                page.cursor = Some(timestamp_text(us));
            }
            total.add(&page);
            since = next_since;
            after = next_after;
            state.cursors.insert(
                table.to_owned(),
                Cursor {
                    updated_at: since.clone(),
                    key: after.clone(),
                },
            );
            total.finished_ms = self.store.now_ms();
            total.elapsed_ms = started.elapsed().as_millis() as u64;
            state.pulls.insert(table.to_owned(), total.clone());
            (self.save)(state);
            (self.progress)(table, total.rows);
            if (rows.len() as i64) < page_rows {
                break;
            }
        }
        // Only the rows the next pull reads again are worth remembering.
        if let Some(Cursor {
            updated_at: Value::Timestamp(us),
            ..
        }) = state.cursors.get(table)
        {
            let edge = us.saturating_sub(overlap_us);
            seen.retain(|_, (at, _)| *at >= edge);
        }
        state.overlap_seen.insert(table.to_owned(), seen);
        total.finished_ms = self.store.now_ms();
        total.elapsed_ms = started.elapsed().as_millis() as u64;
        if let Some(previous) = state.pulls.get(table)
            && total.rows == 0
        {
            // A quiet run: keep what the last run read, with this run's time.
            let mut kept = previous.clone();
            kept.finished_ms = total.finished_ms;
            kept.elapsed_ms = total.elapsed_ms;
            state.pulls.insert(table.to_owned(), kept);
        } else {
            state.pulls.insert(table.to_owned(), total.clone());
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, phone: &str) -> Row {
        Row {
            columns: Arc::new(vec!["id".into(), "updated_at".into(), "phone".into()]),
            values: vec![
                Value::Text(key.into()),
                Value::Timestamp(1_000),
                Value::Text(phone.into()),
            ],
        }
    }

    /// A row read before is left alone by the overlap's re-read, unless the import skipped
    /// it: then it is read again, though the HIS did not change it.
    #[test]
    fn the_overlap_reads_a_skipped_row_again_and_leaves_taken_rows_alone() {
        let page = vec![row("P1", "1"), row("P2", "2")];
        let mut seen = BTreeMap::new();
        let (fresh, reread) = unseen(&page, "id", "updated_at", &mut seen);
        assert_eq!((fresh.len(), reread), (2, 0));
        let skipped = vec![SkippedRow {
            his_id: "P2".into(),
            reason: "merged into HIS patient P9, which is not in Lifeline (yet)".into(),
        }];
        forget_skipped(&fresh, "id", &skipped, &mut seen);
        let (again, reread) = unseen(&page, "id", "updated_at", &mut seen);
        assert_eq!(reread, 1, "P1 was taken: not read again");
        let keys: Vec<_> = again.iter().map(|r| r.get("id").cloned()).collect();
        assert_eq!(keys, vec![Some(Value::Text("P2".into()))]);
    }
}
