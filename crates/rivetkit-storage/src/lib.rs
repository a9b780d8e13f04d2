//! Durable storage for RivetKit actors.
//!
//! This crate owns what must survive a crash: the **actor directory** (namespace + name + key →
//! actor id, creation time, create input) and each actor's **state**. It offers one contract,
//! [`Store`], and one driver, [`SqliteStore`] (embedded, bundled SQLite), so that a multi-node
//! driver on a real distributed database can be added beside it later.
//!
//! The contract every driver keeps: when a write's future resolves `Ok`, the write is durable
//! (committed and fsync'd). Drivers are expected to group concurrent writes from many actors into
//! one commit so that this stays cheap.
//!
//! Actors that declare a SQLite database get a file of their own, placed by the store
//! ([`Store::actor_database_path`]) and removed with the actor ([`Store::delete_actor`]); the
//! runtime opens it.
//!
//! It must not know about the wire protocol, HTTP, or how actors are defined: keys arrive already
//! serialized, state and input arrive as opaque bytes.

pub mod metrics;
mod sqlite;

use std::path::PathBuf;

use futures::future::BoxFuture;

pub use sqlite::{open_wal_database, SqliteStore};

/// One entry of the actor directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorRecord {
    pub actor_id: String,
    pub namespace: String,
    pub name: String,
    /// The key in its serialized form (see the protocol crate); unique per namespace + name.
    pub key: String,
    /// Milliseconds since the Unix epoch.
    pub create_ts: i64,
    /// The create input as the client sent it (CBOR bytes), if any.
    pub input: Option<Vec<u8>>,
}

/// A durable timer: call `action` with `args` (JSON) on the actor at `fire_at` (ms epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alarm {
    pub alarm_id: i64,
    pub actor_id: String,
    pub fire_at: i64,
    pub action: String,
    pub args: Vec<u8>,
}

/// A message in an actor's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Increasing with send order, across all queue names of all actors.
    pub message_id: i64,
    pub actor_id: String,
    pub name: String,
    /// The body as JSON.
    pub body: Vec<u8>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// What [`Store::insert_actor`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// The record was written.
    New(ActorRecord),
    /// Another actor already holds that namespace + name + key; this is it.
    Existing(ActorRecord),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The batch this write was part of failed to commit; nothing of it was written.
    /// `failure` says why, when it is one clients are told about.
    #[error("storage commit failed: {message}")]
    Commit {
        message: String,
        failure: Option<Failure>,
    },
    #[error("storage is shut down")]
    Closed,
    /// Another store (in this process or another) has the data dir open: two stores sharing
    /// one dir can lose writes, as each caches actor state and saves over the other's.
    #[error(
        "data dir {} is in use by another rivetkit server (its lock file {} is held); \
         stop that one first, or give this one a data dir of its own",
        dir.display(),
        dir.join(crate::sqlite::LOCK_FILE).display()
    )]
    Locked { dir: PathBuf },
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A storage failure that is not a bug and that a caller can be told about: the write that
/// met it was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No room left: the disk, a quota, or SQLite's page limit (`SQLITE_FULL`, `ENOSPC`,
    /// `EDQUOT`).
    Full,
    /// The storage cannot be written or read: read-only (`SQLITE_READONLY`, `EROFS`), an I/O
    /// error, a file that cannot be opened, locked or is corrupt.
    Unavailable,
}

impl StoreError {
    /// Why this error happened, when it is a [`Failure`] rather than a bug or a shut-down.
    pub fn failure(&self) -> Option<Failure> {
        match self {
            Self::Sqlite(error) => sqlite_failure(error),
            Self::Commit { failure, .. } => *failure,
            Self::Io(error) => io_failure(error),
            Self::Closed | Self::Locked { .. } => None,
        }
    }
}

/// The [`Failure`] a SQLite error reports, if any.
pub fn sqlite_failure(error: &rusqlite::Error) -> Option<Failure> {
    use rusqlite::ErrorCode;
    let rusqlite::Error::SqliteFailure(error, _) = error else {
        return None;
    };
    match error.code {
        ErrorCode::DiskFull => Some(Failure::Full),
        ErrorCode::ReadOnly
        | ErrorCode::SystemIoFailure
        | ErrorCode::CannotOpen
        | ErrorCode::DatabaseCorrupt
        | ErrorCode::NotADatabase
        | ErrorCode::FileLockingProtocolFailed => Some(Failure::Unavailable),
        _ => None,
    }
}

/// The [`Failure`] an I/O error reports, if any.
pub fn io_failure(error: &std::io::Error) -> Option<Failure> {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Some(Failure::Full),
        ErrorKind::ReadOnlyFilesystem => Some(Failure::Unavailable),
        _ => None,
    }
}

/// KV entries as (key, value) pairs.
pub type KvEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// A durable store for the actor directory and actor state.
///
/// Futures are boxed so that the runtime can hold any driver as `Arc<dyn Store>`.
pub trait Store: Send + Sync + 'static {
    /// Writes `record` unless its namespace + name + key is taken; durable when it resolves.
    fn insert_actor(&self, record: ActorRecord) -> BoxFuture<'_, StoreResult<Inserted>>;

    fn actor_by_id<'a>(
        &'a self,
        actor_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>>;

    fn actor_by_key<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>>;

    /// Actors of one name, oldest first, at most `limit`.
    fn actors_by_name<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<ActorRecord>>>;

    fn load_state<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>>;

    /// Replaces the actor's state; durable when it resolves.
    fn save_state(&self, actor_id: String, state: Vec<u8>) -> BoxFuture<'_, StoreResult<()>>;

    /// Removes the actor and everything it owns (state, KV, alarms, its database file); its key
    /// is free again. The actor's database must be closed by then.
    fn delete_actor(&self, actor_id: String) -> BoxFuture<'_, StoreResult<()>>;

    /// How many actors the store held when it was opened (0 if it does not know): with the
    /// creates and destroys since, the runtime knows how many actors exist without a query.
    fn initial_actor_count(&self) -> u64 {
        0
    }

    /// Where the actor's own SQLite database file lives, or `None` if this store keeps no local
    /// files (actors that declare a database cannot run on it then).
    fn actor_database_path(&self, _actor_id: &str) -> Option<PathBuf> {
        None
    }

    /// Stores an alarm (its `alarm_id` is ignored) and returns the id it was given.
    fn add_alarm(&self, alarm: Alarm) -> BoxFuture<'_, StoreResult<i64>>;

    fn delete_alarm(&self, alarm_id: i64) -> BoxFuture<'_, StoreResult<()>>;

    /// Every stored alarm, soonest first (read once at startup).
    fn alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>>;

    fn kv_get<'a>(
        &'a self,
        actor_id: &'a str,
        key: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>>;

    /// Entries whose key starts with `prefix`, in key order.
    fn kv_list<'a>(
        &'a self,
        actor_id: &'a str,
        prefix: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<KvEntries>>;

    /// Appends a message (its `message_id` is ignored) and returns the id it was given.
    fn queue_push(&self, message: QueuedMessage) -> BoxFuture<'_, StoreResult<i64>>;

    /// Removes messages (received, or completed); durable when it resolves.
    fn queue_remove(&self, message_ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>>;

    /// An actor's queued messages in send order.
    fn queue_load<'a>(
        &'a self,
        actor_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<QueuedMessage>>>;

    /// Writes (`Some`) or deletes (`None`) one key; durable when it resolves.
    fn kv_set(
        &self,
        actor_id: String,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> BoxFuture<'_, StoreResult<()>>;
}

#[cfg(test)]
mod failure_tests {
    use super::*;
    use rusqlite::ffi;

    fn sqlite(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_codes_are_classified() {
        assert_eq!(
            sqlite_failure(&sqlite(ffi::SQLITE_FULL)),
            Some(Failure::Full)
        );
        for code in [
            ffi::SQLITE_READONLY,
            ffi::SQLITE_IOERR,
            ffi::SQLITE_IOERR_WRITE,
            ffi::SQLITE_IOERR_FSYNC,
            ffi::SQLITE_CANTOPEN,
            ffi::SQLITE_CORRUPT,
            ffi::SQLITE_NOTADB,
        ] {
            assert_eq!(
                sqlite_failure(&sqlite(code)),
                Some(Failure::Unavailable),
                "{code}"
            );
        }
        // Bugs and contention stay internal errors.
        for code in [
            ffi::SQLITE_ERROR,
            ffi::SQLITE_CONSTRAINT,
            ffi::SQLITE_MISUSE,
        ] {
            assert_eq!(sqlite_failure(&sqlite(code)), None, "{code}");
        }
        assert_eq!(sqlite_failure(&rusqlite::Error::QueryReturnedNoRows), None);
    }

    #[test]
    fn io_errors_and_store_errors_are_classified() {
        let enospc = std::io::Error::from_raw_os_error(28);
        let erofs = std::io::Error::from_raw_os_error(30);
        assert_eq!(io_failure(&enospc), Some(Failure::Full));
        assert_eq!(io_failure(&erofs), Some(Failure::Unavailable));
        assert_eq!(io_failure(&std::io::Error::other("x")), None);
        assert_eq!(StoreError::Io(enospc).failure(), Some(Failure::Full));
        assert_eq!(
            StoreError::Sqlite(sqlite(ffi::SQLITE_READONLY)).failure(),
            Some(Failure::Unavailable)
        );
        assert_eq!(StoreError::Closed.failure(), None);
    }

    /// A real SQLITE_FULL: a database whose page limit a write exceeds.
    #[test]
    fn a_full_database_is_reported_as_full() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB); PRAGMA max_page_count = 2;")
            .unwrap();
        let error = conn
            .execute("INSERT INTO t VALUES (zeroblob(100000))", [])
            .unwrap_err();
        assert_eq!(sqlite_failure(&error), Some(Failure::Full), "{error}");
    }
}
