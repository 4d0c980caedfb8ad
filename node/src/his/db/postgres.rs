//! [`HisDatabase`] for PostgreSQL, with tokio-postgres: one connection, prepared statements
//! kept per SQL text, every call bounded by the query timeout, TLS (rustls) when a CA is
//! configured.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use super::codec::{Decoded, Param};
use super::{ColumnInfo, DbError, Expected, HisDatabase, Row, Value};
use crate::time::UtcOffset;

/// How to reach the HIS's PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// A `postgresql://` URL or a `key=value` connection string, without a password.
    pub url: String,
    pub password: Option<String>,
    /// The CA that signed the server's certificate: TLS is used when set.
    pub tls_ca: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
    /// The hospital's offset from UTC in minutes (for `timestamptz` columns).
    pub utc_offset_min: i32,
}

/// A connection to the HIS's PostgreSQL.
pub struct Postgres {
    client: Client,
    connection: JoinHandle<()>,
    statements: HashMap<String, Statement>,
    query_timeout: Duration,
    utc_offset_min: i32,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

fn boxed(
    e: impl std::error::Error + Send + Sync + 'static,
) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}

/// A driver error as the bridge sees it: the HIS gone, or one statement refused.
fn db_error(what: &str, e: tokio_postgres::Error) -> DbError {
    let connection_lost = e.is_closed()
        || e.code()
            .is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P"))
        || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if connection_lost {
        DbError::Connect(boxed(e))
    } else {
        DbError::Query {
            what: what.to_owned(),
            source: boxed(e),
        }
    }
}

/// The first line of a statement, for messages.
fn first_line(sql: &str) -> String {
    let line = sql.trim().lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(80).collect();
    if short.len() < line.len() || sql.trim().lines().count() > 1 {
        short.push_str(" ...");
    }
    format!("`{short}`")
}

impl Postgres {
    pub async fn connect(settings: &PgSettings) -> Result<Postgres, DbError> {
        let mut config: tokio_postgres::Config = settings
            .url
            .parse()
            .map_err(|e| DbError::Connect(boxed(e)))?;
        if let Some(pw) = &settings.password {
            config.password(pw);
        }
        config.connect_timeout(settings.connect_timeout);
        config.application_name("lifeline-his-bridge");
        let timeout = settings.connect_timeout + Duration::from_secs(1);
        let zone = UtcOffset::from_minutes(settings.utc_offset_min)
            .ok_or_else(|| {
                DbError::Connect(
                    format!(
                        "{} minutes is not a UTC offset a time zone can have",
                        settings.utc_offset_min
                    )
                    .into(),
                )
            })?
            .posix_zone();
        let connected = match &settings.tls_ca {
            None => open(&config, NoTls, timeout).await?,
            Some(ca) => open(&config, tls_connector(ca)?, timeout).await?,
        };
        // The session keeps the hospital's zone, whatever the server's default: `current_date`
        // and `localtimestamp` in the mapping's SQL then mean the hospital's day, the one its
        // local timestamps are read in.
        let set_zone = format!("SET TIME ZONE '{zone}'");
        tokio::time::timeout(timeout, connected.0.batch_execute(&set_zone))
            .await
            .map_err(|_| DbError::Timeout {
                seconds: timeout.as_secs(),
            })?
            .map_err(|e| db_error(&set_zone, e))?;
        Ok(Postgres {
            client: connected.0,
            connection: connected.1,
            statements: HashMap::new(),
            query_timeout: settings.query_timeout,
            utc_offset_min: settings.utc_offset_min,
        })
    }

    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        tokio::time::timeout(self.query_timeout, f)
            .await
            .map_err(|_| DbError::Timeout {
                seconds: self.query_timeout.as_secs(),
            })?
    }

    /// Runs a transaction-control statement (`BEGIN`, `COMMIT`, `ROLLBACK`).
    async fn batch(&self, sql: &'static str) -> Result<(), DbError> {
        let client = &self.client;
        self.bounded(async {
            client
                .batch_execute(sql)
                .await
                .map_err(|e| db_error(sql, e))
        })
        .await
    }

    async fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let client = &self.client;
        let stmt = tokio::time::timeout(self.query_timeout, client.prepare(sql))
            .await
            .map_err(|_| DbError::Timeout {
                seconds: self.query_timeout.as_secs(),
            })?
            .map_err(|e| db_error(&first_line(sql), e))?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    fn params<'a>(&self, values: &'a [Value]) -> Vec<Param<'a>> {
        values
            .iter()
            .map(|value| Param {
                value,
                utc_offset_min: self.utc_offset_min,
            })
            .collect()
    }
}

/// Connects within `timeout` and drives the connection on a task of its own.
async fn open<T>(
    config: &tokio_postgres::Config,
    tls: T,
    timeout: Duration,
) -> Result<(Client, JoinHandle<()>), DbError>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = tokio::time::timeout(timeout, config.connect(tls))
        .await
        .map_err(|_| DbError::Timeout {
            seconds: timeout.as_secs(),
        })?
        .map_err(|e| DbError::Connect(boxed(e)))?;
    Ok((client, tokio::spawn(drive(connection))))
}

async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio_postgres::tls::TlsStream + Unpin,
{
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "HIS connection ended");
    }
}

fn tls_connector(ca: &PathBuf) -> Result<tokio_postgres_rustls::MakeRustlsConnect, DbError> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca).map_err(|e| DbError::Connect(boxed(e)))?;
    for cert in certs {
        let cert = cert.map_err(|e| DbError::Connect(boxed(e)))?;
        roots.add(cert).map_err(|e| DbError::Connect(boxed(e)))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Connect(boxed(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl HisDatabase for Postgres {
    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let stmt = self.statement(sql).await?;
        let what = first_line(sql);
        let offset_us = i64::from(self.utc_offset_min) * 60_000_000;
        let params = self.params(params);
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let client = &self.client;
        let rows = self
            .bounded(async {
                client
                    .query(&stmt, &refs)
                    .await
                    .map_err(|e| db_error(&what, e))
            })
            .await?;
        let columns: Arc<Vec<String>> =
            Arc::new(stmt.columns().iter().map(|c| c.name().to_owned()).collect());
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(columns.len());
            for (i, name) in columns.iter().enumerate() {
                let decoded: Decoded = row.try_get(i).map_err(|e| DbError::Query {
                    what: format!("column {name} of {what}"),
                    source: boxed(e),
                })?;
                values.push(match decoded {
                    Decoded {
                        value: Value::Timestamp(us),
                        utc: true,
                    } => Value::Timestamp(us + offset_us),
                    d => d.value,
                });
            }
            out.push(Row {
                columns: columns.clone(),
                values,
            });
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let stmt = self.statement(sql).await?;
        let what = first_line(sql);
        let params = self.params(params);
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let client = &self.client;
        self.bounded(async {
            client
                .execute(&stmt, &refs)
                .await
                .map_err(|e| db_error(&what, e))
        })
        .await
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN").await
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.batch("COMMIT").await
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.batch("ROLLBACK").await
    }

    async fn describe(&mut self, sql: &str) -> Result<Vec<ColumnInfo>, DbError> {
        let stmt = self.statement(sql).await?;
        Ok(stmt
            .columns()
            .iter()
            .map(|c| ColumnInfo {
                name: c.name().to_owned(),
                type_name: c.type_().name().to_owned(),
                nullable: true,
            })
            .collect())
    }

    async fn columns(&mut self, table: &str) -> Result<Vec<ColumnInfo>, DbError> {
        let (schema, name) = table.split_once('.').unwrap_or(("public", table));
        let rows = self
            .query(
                "SELECT column_name::text, data_type::text, is_nullable::text \
                   FROM information_schema.columns \
                  WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                &[Value::text(schema), Value::text(name)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ColumnInfo {
                name: r
                    .values
                    .first()
                    .and_then(Value::as_text)
                    .unwrap_or_default(),
                type_name: r.values.get(1).and_then(Value::as_text).unwrap_or_default(),
                nullable: r.values.get(2).and_then(Value::as_text).as_deref() == Some("YES"),
            })
            .collect())
    }

    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }

    fn quote(&self, ident: &str) -> String {
        ident
            .split('.')
            .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Type names as `information_schema` says them and as a statement's columns do. What
    /// the bridge converts is accepted: codes and keys from text, integers or booleans,
    /// dates from text, decimals from numeric, integers or text; never money from a float.
    fn type_fits(&self, type_name: &str, expected: Expected) -> bool {
        let text = matches!(
            type_name,
            "character varying" | "character" | "text" | "name" | "varchar" | "bpchar" | "char"
        );
        let integer = matches!(
            type_name,
            "smallint" | "integer" | "bigint" | "int2" | "int4" | "int8"
        );
        let boolean = matches!(type_name, "boolean" | "bool");
        let timestamp = type_name.starts_with("timestamp");
        match expected {
            Expected::Text => text || integer || boolean,
            Expected::Integer => integer,
            Expected::Decimal => type_name == "numeric" || integer || text,
            Expected::Date => type_name == "date" || timestamp || text,
            Expected::Timestamp => timestamp || type_name == "date",
            Expected::Json => matches!(type_name, "json" | "jsonb"),
            Expected::Key => text || integer,
        }
    }
}
