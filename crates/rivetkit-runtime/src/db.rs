//! Each actor's private SQLite database (`c.db()`), for actors that declare one with
//! [`Actor::database`](crate::Actor::database).
//!
//! The file is the backend's to place ([`ActorStore::database_file`]) and to delete with the
//! actor.
//! An instance opens it when it starts, before `on_create`/`on_wake`, runs the migration, and
//! closes it when it stops, after the stop hooks and the last `on_disconnect`: hooks can use it,
//! and nothing is left open on a file that destruction is about to delete.
//!
//! It runs in WAL mode with `synchronous=FULL`: a statement that returned is durable. Queries run
//! on the blocking thread pool, one at a time per actor (one connection behind a mutex).

use std::sync::Arc;

use parking_lot::Mutex;
use rivetkit_protocol::Value;
use rivetkit_storage::sqlite::open_wal_database;
use rivetkit_storage::ActorStore;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Batch, Connection};
use serde_json::Map;

use crate::{ActorError, ActorResult};

type MigrateFn = Arc<dyn Fn(&Connection) -> ActorResult<()> + Send + Sync>;
type ObserveFn = Arc<dyn Fn(&str, DbEvent) + Send + Sync>;

/// A row as [`Db::execute`] returns it: column name → value.
pub type DbRow = Map<String, Value>;

/// What happened to an actor's database, as [`Database::observe`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbEvent {
    /// The file was opened (on every start of an instance).
    Opened,
    /// The migration ran to completion.
    Migrated,
    /// The connection was closed (the instance stopped, or failed to start).
    Closed,
}

/// An actor's database declaration: the migration that brings a file, new or old, up to date.
pub struct Database {
    migrate: MigrateFn,
    observe: Option<ObserveFn>,
}

impl Database {
    /// `migrate` runs on every start, right after the file is opened, so it must be idempotent
    /// (`CREATE TABLE IF NOT EXISTS ...`, or a version check on `PRAGMA user_version`). If it
    /// fails the instance does not start: the request that woke it gets the error.
    pub fn new<E, F>(migrate: F) -> Self
    where
        E: Into<ActorError>,
        F: Fn(&Connection) -> Result<(), E> + Send + Sync + 'static,
    {
        Self {
            migrate: Arc::new(move |conn| migrate(conn).map_err(Into::into)),
            observe: None,
        }
    }

    /// Calls `observe(actor_id, event)` as each actor's database is opened, migrated and closed
    /// (for metrics, or tests). It runs on a blocking thread, so it must be quick.
    pub fn observe(mut self, observe: impl Fn(&str, DbEvent) + Send + Sync + 'static) -> Self {
        self.observe = Some(Arc::new(observe));
        self
    }

    /// Opens and migrates the database of `actor_id`. On a failed migration the connection is
    /// closed again (and observed as such) before the error is returned.
    pub(crate) async fn open(&self, store: &dyn ActorStore, actor_id: &str) -> ActorResult<Db> {
        let path = store.database_file().ok_or_else(|| {
            ActorError::internal(format!(
                "actor {actor_id} declares a database, but this server's storage backend offers no actor databases"
            ))
        })?;
        let migrate = self.migrate.clone();
        let observe = self.observe.clone();
        let actor_id: Arc<str> = actor_id.into();
        let notify = move |event| {
            if let Some(observe) = &observe {
                observe(&actor_id, event);
            }
        };
        blocking(move || {
            let conn = open_wal_database(&path).map_err(|error| {
                ActorError::from_storage(
                    &error,
                    format!("opening the database {} failed", path.display()),
                )
            })?;
            notify(DbEvent::Opened);
            if let Err(error) = migrate(&conn) {
                drop(conn);
                notify(DbEvent::Closed);
                return Err(error);
            }
            notify(DbEvent::Migrated);
            Ok(Db(Arc::new(DbInner {
                conn: Mutex::new(Some(conn)),
                on_close: Box::new(move || notify(DbEvent::Closed)),
            })))
        })
        .await
    }
}

/// Runs blocking database work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ActorResult<T> + Send + 'static,
) -> ActorResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ActorError::internal(format!("database task failed: {error}")))?
}

struct DbInner {
    /// `None` once closed.
    conn: Mutex<Option<Connection>>,
    on_close: Box<dyn Fn() + Send + Sync>,
}

/// A running actor's database (`c.db()`). Cheap to clone; fails with an error once the instance
/// that opened it has stopped.
#[derive(Clone)]
pub struct Db(Arc<DbInner>);

impl Db {
    /// Runs `sql` and returns the rows of its last statement, keyed by column name.
    ///
    /// `sql` may hold several statements (`BEGIN; INSERT ...; COMMIT;`); they run in order, and
    /// each takes the next of `params`, as many as it has placeholders. Too few values fail the
    /// statement that lacks them; values left over fail the call after all statements ran.
    /// Parameters map from JSON as null, integer (or real), text, and booleans as 0/1; arrays
    /// and objects are bound as their JSON text. Results map back the same way, with blobs as
    /// arrays of byte values.
    ///
    /// If a statement fails inside a transaction this call began, the transaction is rolled
    /// back. Every statement that returned is durable.
    pub async fn execute(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> ActorResult<Vec<DbRow>> {
        let inner = self.0.clone();
        let sql = sql.to_owned();
        let params: Vec<SqlValue> = params.into_iter().map(to_sql).collect();
        blocking(move || {
            let guard = inner.conn.lock();
            let conn = guard
                .as_ref()
                .ok_or_else(|| ActorError::internal("the actor's database is closed"))?;
            let outside_transaction = conn.is_autocommit();
            let result = run_batch(conn, &sql, params);
            if result.is_err() && outside_transaction && !conn.is_autocommit() {
                if let Err(error) = conn.execute_batch("ROLLBACK") {
                    tracing::warn!(%error, "rolling back a failed statement's transaction");
                }
            }
            result
        })
        .await
    }

    /// Closes the connection (waiting for a query in progress); later calls fail.
    pub(crate) async fn close(&self) {
        let inner = self.0.clone();
        let closed = blocking(move || {
            if let Some(conn) = inner.conn.lock().take() {
                if let Err((_, error)) = conn.close() {
                    tracing::warn!(%error, "closing an actor database");
                }
                (inner.on_close)();
            }
            Ok(())
        })
        .await;
        if let Err(error) = closed {
            tracing::warn!(%error, "closing an actor database");
        }
    }
}

fn run_batch(conn: &Connection, sql: &str, params: Vec<SqlValue>) -> ActorResult<Vec<DbRow>> {
    let mut params = params.into_iter();
    let mut batch = Batch::new(conn, sql);
    let mut rows = Vec::new();
    while let Some(mut statement) = batch.next()? {
        for index in 1..=statement.parameter_count() {
            let value = params.next().ok_or_else(|| {
                ActorError::internal(format!(
                    "too few parameters for {:?}",
                    statement.expanded_sql().unwrap_or_default()
                ))
            })?;
            statement.raw_bind_parameter(index, value)?;
        }
        let columns: Vec<String> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut results = statement.raw_query();
        rows.clear();
        while let Some(row) = results.next()? {
            let mut map = DbRow::new();
            for (index, name) in columns.iter().enumerate() {
                map.insert(name.clone(), from_sql(row.get_ref(index)?));
            }
            rows.push(map);
        }
    }
    let unused = params.len();
    if unused > 0 {
        return Err(ActorError::internal(format!(
            "{unused} parameter(s) left over: the SQL has fewer placeholders"
        )));
    }
    Ok(rows)
}

fn to_sql(value: Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(flag) => SqlValue::Integer(flag.into()),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => SqlValue::Integer(integer),
            None => SqlValue::Real(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => SqlValue::Text(text),
        composite => SqlValue::Text(composite.to_string()),
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(integer) => integer.into(),
        ValueRef::Real(real) => real.into(),
        ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned().into(),
        ValueRef::Blob(bytes) => bytes.iter().copied().collect(),
    }
}
