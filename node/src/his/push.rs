//! Push (Lifeline → HIS) after recovery: the episodes' records into the interface tables,
//! table by table in order (a charge after its registration), one HIS transaction per
//! batch.
//!
//! Per row: the ledger (`his-state.json`) says what was last written; a row whose values
//! have not changed since is not touched. Otherwise the latest revision of its `ext_id` is
//! read from the HIS: none, or the same values, or (different and not yet imported) updated
//! in place, or (imported, or refused) a new revision. A row the HIS has imported is never
//! rewritten. So a second push writes nothing, and a lost ledger costs reads, not rows.
//! Nor does a second push build rows again: a record whose rows were built from records that
//! have not changed since is reused as it is ([`super::sources`]), so a push costs what
//! changed, not what the episodes wrote.
//! Afterwards the HIS's verdicts are read back: refusals (`import_error`) reach the recovery
//! worklist, and emergency patients the HIS took get the HIS id it gave them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use lifeline_core::import::HisRejection;
use lifeline_core::{Operator, RecordId, Store, WriteError};

use super::db::{DbError, HisDatabase, Row, Value};
use super::mapping::{Mapping, TablePush};
use super::outbound::{OutRow, PUSH_TABLES, Tally, outbound};
use super::sources::Sources;
use super::state::{BridgeState, ImportState, Pushed, TableRun};

/// Ext ids asked about in one query when reading the HIS's verdicts.
const VERDICT_BATCH: usize = 200;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    #[error("pushing {table}")]
    Db {
        table: String,
        #[source]
        source: DbError,
    },
    #[error("Lifeline could not read or mark the records to push")]
    Store(#[source] WriteError),
    #[error("the push was interrupted")]
    Interrupted,
}

impl PushError {
    pub fn his_unreachable(&self) -> bool {
        matches!(self, PushError::Db { source, .. } if source.is_unreachable())
    }
}

/// What one push did.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PushSummary {
    pub tables: Vec<(String, TableRun)>,
    /// Rows written and not yet imported by the HIS.
    pub waiting: u64,
    /// Rows whose latest revision the HIS refused.
    pub refused: u64,
    /// Records that could not be written as rows, with why.
    pub unwritable: Vec<(String, String)>,
}

pub struct Pusher<'a, D: HisDatabase> {
    pub db: &'a mut D,
    pub store: &'a Store,
    pub mapping: &'a Mapping,
    pub who: &'a Operator,
    pub utc_offset_min: i32,
    pub save: &'a (dyn Fn(&BridgeState) + Send + Sync),
}

impl<D: HisDatabase> std::fmt::Debug for Pusher<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher").finish_non_exhaustive()
    }
}

fn section<'m>(mapping: &'m Mapping, table: &str) -> &'m TablePush {
    let p = &mapping.push;
    match table {
        "patients" => &p.patients,
        "registrations" => &p.registrations,
        "prescriptions" => &p.prescriptions,
        _ => &p.charges,
    }
}

/// What the HIS holds as the latest revision of a row.
#[derive(Debug)]
struct Latest {
    revision: i64,
    settled: bool,
    same: bool,
}

impl<D: HisDatabase> Pusher<'_, D> {
    pub async fn push_all(&mut self, state: &mut BridgeState) -> Result<PushSummary, PushError> {
        let (store, mapping, offset) = (
            self.store.clone(),
            self.mapping.clone(),
            self.utc_offset_min,
        );
        // The sources of records whose rows the ledger holds; those of the records rebuilt
        // now stay out of the state until their rows are all pushed (see `sources`).
        let prior: BTreeMap<RecordId, Sources> = std::mem::take(&mut state.sources)
            .into_iter()
            .filter(|(_, s)| s.rows.iter().all(|e| state.ledger.contains_key(e)))
            .collect();
        let mut out =
            tokio::task::spawn_blocking(move || outbound(&store, &mapping, offset, prior))
                .await
                .map_err(|_| PushError::Interrupted)?
                .map_err(|e| PushError::Store(WriteError::Read(e)))?;
        state.sources = std::mem::take(&mut out.kept);
        let mut summary = PushSummary {
            unwritable: out
                .unwritable
                .iter()
                .map(|u| (u.record.to_string(), u.reason.clone()))
                .collect(),
            ..PushSummary::default()
        };
        for u in &out.unwritable {
            tracing::warn!(record = %u.record, reason = %u.reason, "a record cannot be pushed to the HIS");
        }
        for table in PUSH_TABLES {
            let rows = out.rows.remove(table).unwrap_or_default();
            let tally = out.tally.get(table).copied().unwrap_or_default();
            let run = self.push_table(state, table, &rows, tally).await?;
            summary.tables.push((table.to_owned(), run));
        }
        state.sources.append(&mut out.built);
        self.read_verdicts(state).await?;
        for p in state.ledger.values() {
            match p.outcome {
                ImportState::Waiting => summary.waiting += 1,
                ImportState::Refused { .. } => summary.refused += 1,
                ImportState::Imported { .. } => {}
            }
        }
        Ok(summary)
    }

    fn db_err(table: &str) -> impl FnOnce(DbError) -> PushError + '_ {
        move |source| PushError::Db {
            table: table.to_owned(),
            source,
        }
    }

    async fn push_table(
        &mut self,
        state: &mut BridgeState,
        table: &'static str,
        rows: &[OutRow],
        tally: Tally,
    ) -> Result<TableRun, PushError> {
        let started = Instant::now();
        let push = section(self.mapping, table).clone();
        // The reused records' rows are as the ledger holds them: unchanged.
        let mut run = TableRun {
            rows: rows.len() as u64 + tally.reused_rows,
            unchanged: tally.reused_rows,
            rebuilt: tally.rebuilt,
            reused: tally.reused,
            ..TableRun::default()
        };
        let changed: Vec<&OutRow> = rows
            .iter()
            .filter(|r| {
                state
                    .ledger
                    .get(&r.ext_id)
                    .is_none_or(|p| p.fingerprint != r.fingerprint())
            })
            .collect();
        run.unchanged += (rows.len() - changed.len()) as u64;
        let batch = self.mapping.push.batch_rows as usize;
        for chunk in changed.chunks(batch.max(1)) {
            self.db.begin().await.map_err(Self::db_err(&push.table))?;
            let mut written = Vec::with_capacity(chunk.len());
            let mut failed = None;
            for row in chunk {
                match self.write_row(&push, row).await {
                    Ok(w) => written.push(w),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                let _ = self.db.rollback().await;
                return Err(Self::db_err(&push.table)(e));
            }
            self.db.commit().await.map_err(Self::db_err(&push.table))?;
            for (row, (revision, wrote, new_row)) in chunk.iter().zip(written) {
                match (wrote, new_row) {
                    (false, _) => run.unchanged += 1,
                    (true, true) if revision == 1 => run.created += 1,
                    (true, _) => run.updated += 1,
                }
                let keep = state
                    .ledger
                    .get(&row.ext_id)
                    .filter(|p| p.revision == revision && !wrote);
                let outcome = keep.map_or(ImportState::Waiting, |p| p.outcome.clone());
                state.ledger.insert(
                    row.ext_id.clone(),
                    Pushed {
                        table: push.table.clone(),
                        record: row.record.to_string(),
                        revision,
                        fingerprint: row.fingerprint(),
                        outcome,
                    },
                );
            }
            run.finished_ms = self.store.now_ms();
            run.elapsed_ms = started.elapsed().as_millis() as u64;
            state.pushes.insert(table.to_owned(), run.clone());
            (self.save)(state);
        }
        run.finished_ms = self.store.now_ms();
        run.elapsed_ms = started.elapsed().as_millis() as u64;
        state.pushes.insert(table.to_owned(), run.clone());
        Ok(run)
    }

    /// The row's values for the mapped columns: (column, value).
    fn mapped<'r>(push: &'r TablePush, row: &'r OutRow) -> Vec<(&'r str, &'r Value)> {
        row.values
            .iter()
            .filter_map(|(field, v)| push.columns.get(*field).map(|c| (c.as_str(), v)))
            .collect()
    }

    /// Writes one row if the HIS does not hold it already: returns (its revision, whether
    /// anything was written, whether that was a new row).
    async fn write_row(
        &mut self,
        push: &TablePush,
        row: &OutRow,
    ) -> Result<(i64, bool, bool), DbError> {
        let latest = self.latest(push, row).await?;
        let cols = Self::mapped(push, row);
        let col = |f: &str| push.columns.get(f).cloned().unwrap_or_else(|| f.to_owned());
        let table = self.db.quote(&push.table);
        match latest {
            Some(l) if l.same => Ok((l.revision, false, false)),
            Some(l) if !l.settled => {
                // Not imported or refused yet: correct it in place, unless the HIS takes it
                // meanwhile (then it is a new revision).
                let mut sets = Vec::with_capacity(cols.len());
                let mut params: Vec<Value> =
                    vec![Value::text(row.ext_id.clone()), Value::Int(l.revision)];
                for (c, v) in &cols {
                    params.push((*v).clone());
                    sets.push(format!(
                        "{} = {}",
                        self.db.quote(c),
                        self.db.placeholder(params.len())
                    ));
                }
                let sql = format!(
                    "UPDATE {table} SET {} WHERE {} = {} AND {} = {} AND {} IS NULL AND {} IS NULL",
                    sets.join(", "),
                    self.db.quote(&col("ext_id")),
                    self.db.placeholder(1),
                    self.db.quote(&col("revision")),
                    self.db.placeholder(2),
                    self.db.quote(&col("imported_at")),
                    self.db.quote(&col("import_error")),
                );
                if self.db.execute(&sql, &params).await? == 1 {
                    return Ok((l.revision, true, false));
                }
                self.insert(push, row, l.revision + 1).await?;
                Ok((l.revision + 1, true, true))
            }
            Some(l) => {
                self.insert(push, row, l.revision + 1).await?;
                Ok((l.revision + 1, true, true))
            }
            None => {
                self.insert(push, row, 1).await?;
                Ok((1, true, true))
            }
        }
    }

    async fn insert(
        &mut self,
        push: &TablePush,
        row: &OutRow,
        revision: i64,
    ) -> Result<(), DbError> {
        let col = |f: &str| push.columns.get(f).cloned().unwrap_or_else(|| f.to_owned());
        let mut names = vec![
            self.db.quote(&col("ext_id")),
            self.db.quote(&col("revision")),
        ];
        let mut params = vec![Value::text(row.ext_id.clone()), Value::Int(revision)];
        for (c, v) in Self::mapped(push, row) {
            names.push(self.db.quote(c));
            params.push(v.clone());
        }
        let placeholders: Vec<String> =
            (1..=params.len()).map(|n| self.db.placeholder(n)).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.db.quote(&push.table),
            names.join(", "),
            placeholders.join(", ")
        );
        self.db.execute(&sql, &params).await.map(drop)
    }

    /// The latest revision of the row in the HIS, and whether it holds these values.
    async fn latest(&mut self, push: &TablePush, row: &OutRow) -> Result<Option<Latest>, DbError> {
        let col = |f: &str| push.columns.get(f).cloned().unwrap_or_else(|| f.to_owned());
        let cols = Self::mapped(push, row);
        let mut params = vec![Value::text(row.ext_id.clone())];
        let mut same = Vec::with_capacity(cols.len());
        for (c, v) in &cols {
            params.push((*v).clone());
            same.push(format!(
                "{} IS NOT DISTINCT FROM {}",
                self.db.quote(c),
                self.db.placeholder(params.len())
            ));
        }
        let sql = format!(
            "SELECT {rev}, ({imp} IS NOT NULL OR {err} IS NOT NULL) AS settled, ({same}) AS same \
               FROM {table} WHERE {ext} = {p1} ORDER BY {rev} DESC LIMIT 1",
            rev = self.db.quote(&col("revision")),
            imp = self.db.quote(&col("imported_at")),
            err = self.db.quote(&col("import_error")),
            same = if same.is_empty() {
                "TRUE".to_owned()
            } else {
                same.join(" AND ")
            },
            table = self.db.quote(&push.table),
            ext = self.db.quote(&col("ext_id")),
            p1 = self.db.placeholder(1),
        );
        let rows = self.db.query(&sql, &params).await?;
        Ok(rows.first().map(|r| Latest {
            revision: match r.values.first() {
                Some(Value::Int(i)) => *i,
                _ => 0,
            },
            settled: matches!(r.values.get(1), Some(Value::Bool(true))),
            same: matches!(r.values.get(2), Some(Value::Bool(true))),
        }))
    }

    /// Reads what the HIS did with every row still waiting, then marks refusals on their
    /// records (the worklist) and links emergency patients the HIS took.
    async fn read_verdicts(&mut self, state: &mut BridgeState) -> Result<(), PushError> {
        let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (ext, p) in &state.ledger {
            if !matches!(p.outcome, ImportState::Imported { .. }) {
                by_table
                    .entry(p.table.clone())
                    .or_default()
                    .push(ext.clone());
            }
        }
        let mut changed_records = BTreeSet::new();
        for (table, exts) in by_table {
            let push = [
                &self.mapping.push.patients,
                &self.mapping.push.registrations,
                &self.mapping.push.prescriptions,
                &self.mapping.push.charges,
            ]
            .into_iter()
            .find(|s| s.table == table)
            .cloned();
            let Some(push) = push else { continue };
            for chunk in exts.chunks(VERDICT_BATCH) {
                let rows = self
                    .verdicts(&push, chunk)
                    .await
                    .map_err(Self::db_err(&table))?;
                for r in rows {
                    let text = |i: usize| r.values.get(i).and_then(Value::as_text);
                    let (Some(ext), Some(rev)) = (text(0), r.values.get(1)) else {
                        continue;
                    };
                    let Some(p) = state.ledger.get_mut(&ext) else {
                        continue;
                    };
                    if *rev != Value::Int(p.revision) {
                        continue;
                    }
                    let outcome = match (text(2), text(3)) {
                        (_, Some(reason)) => ImportState::Refused { reason },
                        (Some(_), None) => ImportState::Imported { his_id: text(4) },
                        (None, None) => ImportState::Waiting,
                    };
                    if p.outcome != outcome {
                        p.outcome = outcome;
                        changed_records.insert(p.record.clone());
                    }
                }
            }
        }
        if changed_records.is_empty() {
            return Ok(());
        }
        // The verdict on a record: refused if any of its rows is (the latest revision).
        let mut marks: BTreeMap<String, Option<HisRejection>> = BTreeMap::new();
        let mut links = Vec::new();
        let now = self.store.now_ms();
        for p in state.ledger.values() {
            if !changed_records.contains(&p.record) {
                continue;
            }
            let mark = marks.entry(p.record.clone()).or_insert(None);
            match &p.outcome {
                ImportState::Refused { reason } if mark.is_none() => {
                    *mark = Some(HisRejection {
                        table: p.table.clone(),
                        revision: p.revision,
                        reason: reason.clone(),
                        seen_ms: now,
                    });
                }
                ImportState::Imported { his_id: Some(his) }
                    if p.table == self.mapping.push.patients.table =>
                {
                    if let Ok(id) = p.record.parse::<RecordId>() {
                        links.push((id, his.clone()));
                    }
                }
                _ => {}
            }
        }
        let marks: Vec<(RecordId, Option<HisRejection>)> = marks
            .into_iter()
            .filter_map(|(r, m)| r.parse().ok().map(|id| (id, m)))
            .collect();
        let (store, who) = (self.store.clone(), self.who.clone());
        tokio::task::spawn_blocking(move || -> Result<(), WriteError> {
            store.set_his_rejections(&who, marks)?;
            if !links.is_empty() {
                store.link_his_patients(&who, links)?;
            }
            Ok(())
        })
        .await
        .map_err(|_| PushError::Interrupted)?
        .map_err(PushError::Store)?;
        (self.save)(state);
        Ok(())
    }

    /// The latest revision of each of `exts`: (ext_id, revision, imported_at, import_error,
    /// his_id), in plain SQL (the newest revision is picked here).
    async fn verdicts(&mut self, push: &TablePush, exts: &[String]) -> Result<Vec<Row>, DbError> {
        let col = |f: &str| push.columns.get(f).cloned().unwrap_or_else(|| f.to_owned());
        let placeholders: Vec<String> = (1..=exts.len()).map(|n| self.db.placeholder(n)).collect();
        let params: Vec<Value> = exts.iter().map(|e| Value::text(e.clone())).collect();
        let his_col = match push.columns.get("his_id") {
            Some(c) => self.db.quote(c),
            None => "NULL".to_owned(),
        };
        let sql = format!(
            "SELECT {ext}, {rev}, {imp}, {err}, {his_col} FROM {table} WHERE {ext} IN ({list})",
            ext = self.db.quote(&col("ext_id")),
            rev = self.db.quote(&col("revision")),
            imp = self.db.quote(&col("imported_at")),
            err = self.db.quote(&col("import_error")),
            table = self.db.quote(&push.table),
            list = placeholders.join(", "),
        );
        let rows = self.db.query(&sql, &params).await?;
        let mut newest: BTreeMap<String, Row> = BTreeMap::new();
        for r in rows {
            let ext = r
                .values
                .first()
                .and_then(Value::as_text)
                .unwrap_or_default();
            let rev = |r: &Row| match r.values.get(1) {
                Some(Value::Int(i)) => *i,
                _ => i64::MIN,
            };
            if newest.get(&ext).is_none_or(|old| rev(old) < rev(&r)) {
                newest.insert(ext, r);
            }
        }
        Ok(newest.into_values().collect())
    }
}
