//! The portable query layer: one SQL text, one set of parameters, either database.
//!
//! Store code writes a query once, with PostgreSQL-style `$1` placeholders (SQLite accepts the
//! same syntax; parameters are bound by name, so `$2` may appear before `$1`), and runs it
//! through a [`Tx`]. On SQLite the statement runs synchronously on the connection the `Tx`
//! owns — there is no thread hop per statement, which is what lets the single SQLite writer
//! commit tens of thousands of jobs per second. On PostgreSQL it runs through sqlx.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Column, Postgres, Row as _, TypeInfo, ValueRef as _};

use crate::{Backend, StoreError};

/// A query parameter or a column value. Nulls carry their type, as PostgreSQL needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    /// A floating-point number (usage quantities; never money).
    Real(Option<f64>),
    /// A PostgreSQL `int8[]` (bulk statements with `unnest`; not for SQLite).
    IntList(Vec<Option<i64>>),
    /// A PostgreSQL `text[]` (bulk statements with `unnest` and `= any(…)`; not for SQLite).
    TextList(Vec<Option<String>>),
    /// A PostgreSQL `float8[]` (bulk statements with `unnest`; not for SQLite).
    RealList(Vec<Option<f64>>),
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(Some(v))
    }
}

impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Self {
        Value::Real(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_owned))
    }
}

/// Builds a parameter list: `params![id.as_str(), amount, None::<String>]`.
#[macro_export]
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::sql::Value::from($value)),*][..]
    };
}

/// A borrowed parameter of a statement run once per row ([`Tx::execute_each`]): rows of a bulk
/// write bind the caller's text in place instead of copying it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Real(Option<f64>),
}

impl From<f64> for Param<'_> {
    fn from(v: f64) -> Self {
        Param::Real(Some(v))
    }
}

impl From<Option<f64>> for Param<'_> {
    fn from(v: Option<f64>) -> Self {
        Param::Real(v)
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Param::Text(v)
    }
}

impl From<Param<'_>> for Value {
    fn from(v: Param<'_>) -> Self {
        match v {
            Param::Int(v) => Value::Int(v),
            Param::Text(v) => Value::Text(v.map(str::to_owned)),
            Param::Real(v) => Value::Real(v),
        }
    }
}

/// A result row: values by column name.
#[derive(Debug, Clone)]
pub struct Row {
    columns: std::sync::Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    fn value(&self, column: &str) -> Result<&Value, StoreError> {
        let index = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| StoreError::Corrupt(format!("BUG: no column '{column}' in the row")))?;
        Ok(&self.values[index])
    }

    pub fn opt_i64(&self, column: &str) -> Result<Option<i64>, StoreError> {
        match self.value(column)? {
            Value::Int(v) => Ok(*v),
            Value::Text(None) => Ok(None),
            _ => Err(StoreError::Corrupt(format!(
                "column '{column}' is not an integer"
            ))),
        }
    }

    pub fn i64(&self, column: &str) -> Result<i64, StoreError> {
        self.opt_i64(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("column '{column}' is null")))
    }

    /// A number column (integers widen to floats).
    pub fn opt_f64(&self, column: &str) -> Result<Option<f64>, StoreError> {
        match self.value(column)? {
            Value::Real(v) => Ok(*v),
            #[allow(clippy::cast_precision_loss)]
            Value::Int(v) => Ok(v.map(|v| v as f64)),
            Value::Text(None) => Ok(None),
            _ => Err(StoreError::Corrupt(format!(
                "column '{column}' is not a number"
            ))),
        }
    }

    pub fn f64(&self, column: &str) -> Result<f64, StoreError> {
        self.opt_f64(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("column '{column}' is null")))
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        match self.value(column)? {
            Value::Text(v) => Ok(v.clone()),
            Value::Int(None) => Ok(None),
            _ => Err(StoreError::Corrupt(format!(
                "column '{column}' is not text"
            ))),
        }
    }

    /// A text column, borrowed.
    pub fn str(&self, column: &str) -> Result<&str, StoreError> {
        match self.value(column)? {
            Value::Text(Some(v)) => Ok(v),
            Value::Text(None) | Value::Int(None) => {
                Err(StoreError::Corrupt(format!("column '{column}' is null")))
            }
            _ => Err(StoreError::Corrupt(format!(
                "column '{column}' is not text"
            ))),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, StoreError> {
        self.opt_text(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("column '{column}' is null")))
    }
}

/// A connection inside a transaction (writes) or outside one (reads).
pub struct Tx {
    pub(crate) inner: TxInner,
    /// The SQLite writer's cache of ledger accounts (only on the writer's connection).
    pub(crate) accounts: Option<crate::account_cache::AccountCache>,
    /// Domain events recorded through this connection since the last
    /// [`Tx::take_events_recorded`].
    pub(crate) events_recorded: usize,
    /// The SQLite writer's ledger request events, recorded once per group commit (only on the
    /// writer's connection; see [`crate::ledger::record_request_event`]).
    pub(crate) deferred: Option<crate::deferred::DeferredEvents>,
    /// The SQLite writer's usage-event claims (only on the writer's connection).
    pub(crate) claims: Option<crate::claims::ClaimSet>,
    /// The SQLite writer's rollup changes of the running group (only on the writer's connection).
    pub(crate) rollups: Option<crate::deferred::DeferredRollups>,
}

pub(crate) enum TxInner {
    Sqlite(rusqlite::Connection),
    Postgres(sqlx::Transaction<'static, Postgres>),
    PostgresRead(sqlx::pool::PoolConnection<Postgres>),
}

impl Tx {
    /// How many domain events were recorded since the last call (the write path tells the
    /// relay after its commit when there were some).
    pub fn take_events_recorded(&mut self) -> usize {
        std::mem::take(&mut self.events_recorded)
    }

    /// How many domain events were recorded since the last [`Tx::take_events_recorded`].
    pub fn events_recorded(&self) -> usize {
        self.events_recorded
    }

    /// ` for update` on PostgreSQL when `lock` (SQLite has one writer): the tail of a select
    /// that locks the rows it reads until the transaction ends.
    pub fn for_update(&self, lock: bool) -> &'static str {
        match lock && self.backend() == Backend::Postgres {
            true => " for update",
            false => "",
        }
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(_) => Backend::Sqlite,
            TxInner::Postgres(_) | TxInner::PostgresRead(_) => Backend::Postgres,
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        crate::statements::count_one();
        match &mut self.inner {
            TxInner::Sqlite(conn) => sqlite_execute(conn, sql, params),
            TxInner::Postgres(tx) => Ok(pg_query(sql, params)
                .execute(&mut **tx)
                .await?
                .rows_affected()),
            TxInner::PostgresRead(conn) => Ok(pg_query(sql, params)
                .execute(&mut **conn)
                .await?
                .rows_affected()),
        }
    }

    pub async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        crate::statements::count_one();
        match &mut self.inner {
            TxInner::Sqlite(conn) => sqlite_fetch(conn, sql, params),
            TxInner::Postgres(tx) => pg_rows(pg_query(sql, params).fetch_all(&mut **tx).await?),
            TxInner::PostgresRead(conn) => {
                pg_rows(pg_query(sql, params).fetch_all(&mut **conn).await?)
            }
        }
    }

    pub async fn fetch_optional(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<Row>, StoreError> {
        let mut rows = self.fetch_all(sql, params).await?;
        if rows.len() > 1 {
            return Err(StoreError::Corrupt(format!(
                "BUG: more than one row from: {sql}"
            )));
        }
        Ok(rows.pop())
    }

    pub async fn fetch_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.fetch_optional(sql, params)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("BUG: no row from: {sql}")))
    }

    /// Runs `sql` once for each row of `params` (`width` parameters per row) and returns the
    /// number of rows changed in all. On SQLite the statement is prepared once and re-bound per
    /// row, in place: the cheapest way to write many rows. On PostgreSQL each row is a round
    /// trip; bulk PostgreSQL paths send arrays instead (`unnest`).
    pub async fn execute_each(
        &mut self,
        sql: &str,
        width: usize,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        check_rows(width, params)?;
        if let TxInner::Sqlite(conn) = &mut self.inner {
            let mut statement = conn.prepare_cached(&sqlite_placeholders(sql))?;
            let mut changed = 0_u64;
            for row in params.chunks(width) {
                sqlite_bind(&mut statement, row.iter().copied())?;
                changed += u64::try_from(statement.raw_execute()?).unwrap_or(u64::MAX);
            }
            return Ok(changed);
        }
        let mut changed = 0_u64;
        for row in params.chunks(width) {
            let values: Vec<Value> = row.iter().copied().map(Value::from).collect();
            changed += self.execute(sql, &values).await?;
        }
        Ok(changed)
    }

    /// Runs the query `sql` once for each row of `params` (`width` parameters per row) and
    /// returns all the rows it found, in order; prepared once on SQLite, as
    /// [`Tx::execute_each`].
    pub async fn fetch_each(
        &mut self,
        sql: &str,
        width: usize,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        check_rows(width, params)?;
        if let TxInner::Sqlite(conn) = &mut self.inner {
            let mut statement = conn.prepare_cached(&sqlite_placeholders(sql))?;
            let columns = sqlite_columns(&statement);
            let mut result = Vec::new();
            for row in params.chunks(width) {
                sqlite_bind(&mut statement, row.iter().copied())?;
                sqlite_collect(&mut statement, &columns, &mut result)?;
            }
            return Ok(result);
        }
        let mut result = Vec::new();
        for row in params.chunks(width) {
            let values: Vec<Value> = row.iter().copied().map(Value::from).collect();
            result.extend(self.fetch_all(sql, &values).await?);
        }
        Ok(result)
    }

    /// Runs several statements without parameters (migrations, savepoints, settings).
    pub async fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        use sqlx::Executor;
        // A plain string with no arguments goes over PostgreSQL's simple query protocol, which
        // takes several statements at once.
        match &mut self.inner {
            TxInner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            TxInner::Postgres(tx) => {
                (&mut **tx).execute(sql).await?;
                Ok(())
            }
            TxInner::PostgresRead(conn) => {
                (&mut **conn).execute(sql).await?;
                Ok(())
            }
        }
    }
}

/// PostgreSQL bulk rows: `select * from unnest($first::int8[], $…::text[], …)` and its
/// parameters, one array per column of the `width`-wide rows in `params` (each column's type is
/// taken from its first row). Placeholders start at `$first`.
pub fn unnest(width: usize, params: &[Param<'_>], first: usize) -> (String, Vec<Value>) {
    let mut arrays: Vec<Value> = Vec::with_capacity(width);
    let mut casts: Vec<String> = Vec::with_capacity(width);
    for column in 0..width {
        let cells = params.iter().skip(column).step_by(width);
        let (array, cast) = match params.get(column) {
            Some(Param::Int(_)) => (
                Value::IntList(
                    cells
                        .map(|p| if let Param::Int(v) = p { *v } else { None })
                        .collect(),
                ),
                "int8[]",
            ),
            Some(Param::Real(_)) => (
                Value::RealList(
                    cells
                        .map(|p| if let Param::Real(v) = p { *v } else { None })
                        .collect(),
                ),
                "float8[]",
            ),
            Some(Param::Text(_)) | None => (
                Value::TextList(
                    cells
                        .map(|p| {
                            if let Param::Text(v) = p {
                                v.map(str::to_owned)
                            } else {
                                None
                            }
                        })
                        .collect(),
                ),
                "text[]",
            ),
        };
        arrays.push(array);
        casts.push(format!("${}::{cast}", column + first));
    }
    (
        format!("select * from unnest({})", casts.join(", ")),
        arrays,
    )
}

/// SQLite reads `$1` as a *named* parameter, numbered by first appearance; `?1` is numbered
/// explicitly. Rewriting one into the other (same length) lets parameters bind by position,
/// with no lookup of names per parameter.
fn sqlite_placeholders(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut bytes = sql.as_bytes().to_vec();
    for index in 0..bytes.len() {
        if bytes[index] == b'$' && bytes.get(index + 1).is_some_and(u8::is_ascii_digit) {
            bytes[index] = b'?';
        }
    }
    std::borrow::Cow::Owned(String::from_utf8(bytes).unwrap_or_else(|_| sql.to_owned()))
}

fn check_rows(width: usize, params: &[Param<'_>]) -> Result<(), StoreError> {
    if width == 0 || !params.len().is_multiple_of(width) {
        return Err(StoreError::Corrupt(format!(
            "BUG: {} parameters do not make rows of {width}",
            params.len()
        )));
    }
    Ok(())
}

fn sqlite_bind<'a>(
    statement: &mut rusqlite::CachedStatement<'_>,
    params: impl ExactSizeIterator<Item = Param<'a>>,
) -> Result<(), StoreError> {
    let expected = statement.parameter_count();
    if expected != params.len() {
        return Err(StoreError::Corrupt(format!(
            "BUG: statement takes {expected} parameters, {} given",
            params.len()
        )));
    }
    for (position, value) in params.enumerate() {
        match value {
            Param::Int(v) => statement.raw_bind_parameter(position + 1, v)?,
            Param::Text(v) => statement.raw_bind_parameter(position + 1, v)?,
            Param::Real(v) => statement.raw_bind_parameter(position + 1, v)?,
        }
    }
    Ok(())
}

/// The parameters of a one-off statement, borrowed for binding.
fn sqlite_params(params: &[Value]) -> Result<Vec<Param<'_>>, StoreError> {
    params
        .iter()
        .map(|value| match value {
            Value::Int(v) => Ok(Param::Int(*v)),
            Value::Text(v) => Ok(Param::Text(v.as_deref())),
            Value::Real(v) => Ok(Param::Real(*v)),
            Value::IntList(_) | Value::TextList(_) | Value::RealList(_) => Err(
                StoreError::Corrupt("BUG: array parameters are PostgreSQL-only".into()),
            ),
        })
        .collect()
}

fn sqlite_execute(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<u64, StoreError> {
    let mut statement = conn.prepare_cached(&sqlite_placeholders(sql))?;
    sqlite_bind(&mut statement, sqlite_params(params)?.into_iter())?;
    let changed = statement.raw_execute()?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

fn sqlite_columns(statement: &rusqlite::CachedStatement<'_>) -> std::sync::Arc<[String]> {
    statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Appends the rows of the bound `statement` to `result`.
fn sqlite_collect(
    statement: &mut rusqlite::CachedStatement<'_>,
    columns: &std::sync::Arc<[String]>,
    result: &mut Vec<Row>,
) -> Result<(), StoreError> {
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns.len());
        for index in 0..columns.len() {
            values.push(match row.get_ref(index)? {
                rusqlite::types::ValueRef::Null => Value::Text(None),
                rusqlite::types::ValueRef::Integer(v) => Value::Int(Some(v)),
                rusqlite::types::ValueRef::Real(v) => Value::Real(Some(v)),
                rusqlite::types::ValueRef::Text(bytes) => {
                    Value::Text(Some(String::from_utf8_lossy(bytes).into_owned()))
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "column '{}' has unsupported type {:?}",
                        columns[index],
                        other.data_type()
                    )));
                }
            });
        }
        result.push(Row {
            columns: columns.clone(),
            values,
        });
    }
    Ok(())
}

fn sqlite_fetch(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>, StoreError> {
    let mut statement = conn.prepare_cached(&sqlite_placeholders(sql))?;
    sqlite_bind(&mut statement, sqlite_params(params)?.into_iter())?;
    let columns = sqlite_columns(&statement);
    let mut result = Vec::new();
    sqlite_collect(&mut statement, &columns, &mut result)?;
    Ok(result)
}

fn pg_query<'q>(sql: &'q str, params: &[Value]) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    let mut query = sqlx::query(sql);
    for value in params {
        query = match value {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.clone()),
            Value::IntList(v) => query.bind(v.clone()),
            Value::TextList(v) => query.bind(v.clone()),
            Value::Real(v) => query.bind(*v),
            Value::RealList(v) => query.bind(v.clone()),
        };
    }
    query
}

fn pg_rows(rows: Vec<PgRow>) -> Result<Vec<Row>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: std::sync::Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    rows.iter()
        .map(|row| {
            let mut values = Vec::with_capacity(columns.len());
            for (index, column) in row.columns().iter().enumerate() {
                let raw = row.try_get_raw(index)?;
                let is_null = raw.is_null();
                let value = match column.type_info().name() {
                    "INT8" => Value::Int(row.try_get::<Option<i64>, _>(index)?),
                    "INT4" => Value::Int(row.try_get::<Option<i32>, _>(index)?.map(i64::from)),
                    "INT2" => Value::Int(row.try_get::<Option<i16>, _>(index)?.map(i64::from)),
                    "FLOAT8" => Value::Real(row.try_get::<Option<f64>, _>(index)?),
                    "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                        Value::Text(row.try_get::<Option<String>, _>(index)?)
                    }
                    _ if is_null => Value::Text(None),
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "column '{}' has unsupported type {other}",
                            column.name()
                        )));
                    }
                };
                values.push(value);
            }
            Ok(Row {
                columns: columns.clone(),
                values,
            })
        })
        .collect()
}
