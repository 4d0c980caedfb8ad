//! The HIS's database behind a small trait, so that the bridge speaks to PostgreSQL today
//! and could speak to SQL Server or Oracle (through ODBC) by adding one implementation (see
//! docs/his.md). Values cross it as [`Value`]s: text, integers, exact decimals, dates and
//! local timestamps, never floats for money.

mod codec;
pub mod postgres;

use std::sync::Arc;

use lifeline_core::Date;
use serde::{Deserialize, Serialize};

use super::money::Decimal;

/// One value read from or written to the HIS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    Decimal(Decimal),
    /// A floating-point column: fine for a code, refused for money.
    Float(f64),
    Bool(bool),
    Date(Date),
    /// A local timestamp without a time zone, as microseconds since 1970-01-01 00:00 local.
    Timestamp(i64),
    Json(serde_json::Value),
    /// The lowest value of whatever type the parameter has: where a keyset cursor starts.
    Lowest,
}

impl Value {
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    /// A value that may be absent.
    pub fn opt<T: Into<Value>>(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a person reads it (codes, keys, names), or `None` for null.
    pub fn as_text(&self) -> Option<String> {
        Some(match self {
            Value::Null | Value::Lowest => return None,
            Value::Text(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Decimal(d) => d.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => d.to_string(),
            Value::Timestamp(us) => timestamp_text(*us),
            Value::Json(j) => j.to_string(),
        })
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Text(_) => "text",
            Value::Int(_) => "an integer",
            Value::Decimal(_) => "a decimal",
            Value::Float(_) => "a floating-point number",
            Value::Bool(_) => "a boolean",
            Value::Date(_) => "a date",
            Value::Timestamp(_) => "a timestamp",
            Value::Json(_) => "JSON",
            Value::Lowest => "the lowest value",
        }
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<Decimal> for Value {
    fn from(v: Decimal) -> Value {
        Value::Decimal(v)
    }
}
impl From<Date> for Value {
    fn from(v: Date) -> Value {
        Value::Date(v)
    }
}

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A local timestamp as `YYYY-MM-DD HH:MM:SS`.
pub fn timestamp_text(us: i64) -> String {
    let date = Date::at(us.div_euclid(1000), 0);
    let secs = us.rem_euclid(MICROS_PER_DAY) / 1_000_000;
    format!(
        "{date} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// One row of a result: its values in the order of the result's columns.
#[derive(Debug, Clone)]
pub struct Row {
    pub columns: Arc<Vec<String>>,
    pub values: Vec<Value>,
}

impl Row {
    /// The value of a column, or `None` when the result has no such column.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
    }
}

/// A column of a table, as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    /// The database's name for its type (`character varying`, `numeric`, ...).
    pub type_name: String,
    pub nullable: bool,
}

/// What went wrong talking to the HIS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("cannot reach the HIS database")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the HIS database did not answer within {seconds} s")]
    Timeout { seconds: u64 },
    #[error("the HIS database refused {what}")]
    Query {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the connection to the HIS database is closed")]
    Closed,
}

impl DbError {
    /// Whether the HIS is down (as opposed to refusing one statement).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            DbError::Connect(_) | DbError::Timeout { .. } | DbError::Closed
        )
    }
}

/// What the bridge needs of the HIS's database.
#[allow(
    async_fn_in_trait,
    reason = "used generically, never as a trait object"
)]
pub trait HisDatabase: Send {
    /// Runs a query and returns its rows.
    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
    /// Runs a statement; returns the rows it changed.
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Begins a transaction: what follows runs in it until [`commit`](Self::commit) or
    /// [`rollback`](Self::rollback).
    async fn begin(&mut self) -> Result<(), DbError>;
    async fn commit(&mut self) -> Result<(), DbError>;
    async fn rollback(&mut self) -> Result<(), DbError>;
    /// The columns a query returns, without running it.
    async fn describe(&mut self, sql: &str) -> Result<Vec<ColumnInfo>, DbError>;
    /// The columns of a table (`schema.table`), empty when there is no such table.
    async fn columns(&mut self, table: &str) -> Result<Vec<ColumnInfo>, DbError>;
    /// The placeholder of the `n`th parameter (from 1) in this database's SQL.
    fn placeholder(&self, n: usize) -> String;
    /// An identifier (`schema.table` or a column) quoted for this database's SQL.
    fn quote(&self, ident: &str) -> String;
    /// Whether a column's type (as [`ColumnInfo::type_name`] says) takes values of the kind a
    /// mapping puts there.
    fn type_fits(&self, type_name: &str, expected: Expected) -> bool;
}

/// What a mapped column is expected to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    Text,
    Integer,
    /// An exact decimal (money, quantities).
    Decimal,
    Date,
    Timestamp,
    Json,
    /// A key: text or an integer.
    Key,
}

impl Expected {
    pub fn name(self) -> &'static str {
        match self {
            Expected::Text => "text",
            Expected::Integer => "an integer",
            Expected::Decimal => "an exact decimal (numeric)",
            Expected::Date => "a date",
            Expected::Timestamp => "a timestamp",
            Expected::Json => "JSON",
            Expected::Key => "text or an integer",
        }
    }
}
