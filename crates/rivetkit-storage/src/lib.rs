//! Durable storage for RivetKit actors, behind a contract any backend can keep.
//!
//! The contract has three parts, along the lines of the official rivetkit's split between a
//! manager driver and an actor driver (see `ARCHITECTURE.md` at the repository root):
//!
//! * a [`Directory`]: namespace + name + key → actor id, creation with its input, lookup by id
//!   or key, listing, destruction;
//! * an [`ActorStore`]: one actor's state, KV, alarms, queue and database, obtained once when
//!   the actor starts, so no call carries the actor id;
//! * a [`Backend`]: the factory that makes both.
//!
//! Two backends are here: [`SqliteBackend`] (embedded, bundled SQLite; the default) and
//! [`MemoryBackend`] (nothing durable: tests and ephemeral use).
//!
//! The contract every backend keeps: when a write's future resolves `Ok`, the write is durable
//! (for [`SqliteBackend`]: committed and fsync'd). Backends are expected to group concurrent
//! writes from many actors into one commit so that this stays cheap. Errors are
//! [`StoreError`]s, whose [`ErrorKind`] says what went wrong whatever the backend.
//!
//! It must not know about the wire protocol, HTTP, or how actors are defined: keys arrive already
//! serialized, state and input arrive as opaque bytes.

#![warn(missing_docs)]

#[cfg(feature = "contract")]
pub mod contract;
mod memory;
pub mod metrics;
pub mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

pub use memory::MemoryBackend;
pub use sqlite::SqliteBackend;

/// One entry of the actor directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorRecord {
    /// The actor's id, unique across namespaces (gateway paths carry no namespace).
    pub actor_id: String,
    /// The namespace the actor was created in.
    pub namespace: String,
    /// The actor type's registered name.
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
    /// Given by the backend; unique among the alarms of the backend.
    pub alarm_id: i64,
    /// The actor the alarm belongs to.
    pub actor_id: String,
    /// When it is due, in milliseconds since the Unix epoch.
    pub fire_at: i64,
    /// The action it calls.
    pub action: String,
    /// The action's arguments, as JSON.
    pub args: Vec<u8>,
}

/// A message in an actor's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Increasing with send order, across all queue names of the actor.
    pub message_id: i64,
    /// The queue name.
    pub name: String,
    /// The body as JSON.
    pub body: Vec<u8>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// What [`Directory::insert`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// The record was written.
    New(ActorRecord),
    /// Another actor already holds that namespace + name + key; this is it.
    Existing(ActorRecord),
}

/// What kind of failure a [`StoreError`] is, whatever the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No room left: a disk, a quota, a page limit. The write was not made.
    Full,
    /// The storage cannot be written or read now: read-only, an I/O error, a file or service
    /// that cannot be reached. The write was not made.
    Unavailable,
    /// What is stored does not read back as what was written (a damaged file).
    Corrupt,
    /// The write collides with other data or another owner: a taken id, or a data dir held by
    /// another process.
    Conflict,
    /// The backend is shut down.
    Closed,
    /// Anything else (usually a bug).
    Other,
}

/// A storage failure that is not a bug and that a caller can be told about: the write that
/// met it was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// [`ErrorKind::Full`].
    Full,
    /// [`ErrorKind::Unavailable`] or [`ErrorKind::Corrupt`].
    Unavailable,
}

impl ErrorKind {
    /// The [`Failure`] clients are told about, when this kind is one.
    pub fn failure(self) -> Option<Failure> {
        match self {
            Self::Full => Some(Failure::Full),
            Self::Unavailable | Self::Corrupt => Some(Failure::Unavailable),
            Self::Conflict | Self::Closed | Self::Other => None,
        }
    }

    /// The kind of an I/O error.
    pub fn of_io(error: &std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        match error.kind() {
            Io::StorageFull | Io::QuotaExceeded => Self::Full,
            Io::ReadOnlyFilesystem => Self::Unavailable,
            _ => Self::Other,
        }
    }
}

/// A storage error of any backend: its [`ErrorKind`], a message, and the backend's own error
/// behind it when there is one.
#[derive(Debug)]
pub struct StoreError {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error of `kind`, described by `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` caused by `source`, which is kept for [`std::error::Error::source`].
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            source: Some(Box::new(source)),
            ..Self::new(kind, message)
        }
    }

    /// The backend is shut down.
    pub fn closed() -> Self {
        Self::new(ErrorKind::Closed, "storage is shut down")
    }

    /// What kind of error this is, independent of the backend.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Why this error happened, when it is a [`Failure`] rather than a bug or a shut-down.
    pub fn failure(&self) -> Option<Failure> {
        self.kind.failure()
    }
}

impl fmt::Display for StoreError {
    // The source's text is part of the message: most of these errors end up in a log line,
    // where a chain of sources would not be printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for StoreError {
    fn from(error: std::io::Error) -> Self {
        Self::with_source(ErrorKind::of_io(&error), "storage I/O error", error)
    }
}

/// The result of every storage operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// KV entries as (key, value) pairs.
pub type KvEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// The actor directory: which actors exist, under which namespace + name + key.
///
/// Futures are boxed so that the runtime can hold any backend behind `dyn`.
pub trait Directory: Send + Sync + 'static {
    /// Writes `record` unless its namespace + name + key is taken; durable when it resolves.
    fn insert(&self, record: ActorRecord) -> BoxFuture<'_, StoreResult<Inserted>>;

    /// The actor with this id, in any namespace.
    fn by_id<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>>;

    /// The actor under namespace + name + serialized key.
    fn by_key<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>>;

    /// Actors of one name, oldest first, at most `limit`.
    fn list<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<ActorRecord>>>;

    /// Removes the actor and everything it owns (state, KV, alarms, queue, its database); its
    /// key is free again; durable when it resolves. The actor must be stopped (its database
    /// closed) by then.
    fn destroy(&self, actor_id: String) -> BoxFuture<'_, StoreResult<()>>;

    /// How many actors the directory held when it was opened (0 if it does not know): with the
    /// creates and destroys since, the runtime knows how many actors exist without a query.
    fn initial_actor_count(&self) -> u64 {
        0
    }
}

/// One actor's own storage, obtained once when the actor starts ([`Backend::actor_store`]), for
/// an actor that is in the [`Directory`].
///
/// Every write is durable when its future resolves `Ok`.
pub trait ActorStore: Send + Sync + 'static {
    /// The saved state, `None` for an actor that never saved one.
    fn load_state(&self) -> BoxFuture<'_, StoreResult<Option<Vec<u8>>>>;

    /// Replaces the state. This is the hot path: one call per durable change.
    fn save_state(&self, state: Vec<u8>) -> BoxFuture<'_, StoreResult<()>>;

    /// The value stored under `key`.
    fn kv_get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>>;

    /// Entries whose key starts with `prefix`, in key order.
    fn kv_list<'a>(&'a self, prefix: &'a [u8]) -> BoxFuture<'a, StoreResult<KvEntries>>;

    /// Writes (`Some`) or deletes (`None`) one key.
    fn kv_set(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> BoxFuture<'_, StoreResult<()>>;

    /// Stores an alarm of this actor and returns the id it was given.
    fn add_alarm(
        &self,
        fire_at: i64,
        action: String,
        args: Vec<u8>,
    ) -> BoxFuture<'_, StoreResult<i64>>;

    /// Deletes an alarm of this actor (after it fired, or when cancelled); unknown ids are ignored.
    fn delete_alarm(&self, alarm_id: i64) -> BoxFuture<'_, StoreResult<()>>;

    /// This actor's alarms, soonest first.
    fn alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>>;

    /// Appends a message and returns the id it was given.
    fn queue_push(
        &self,
        name: String,
        body: Vec<u8>,
        created_at: i64,
    ) -> BoxFuture<'_, StoreResult<i64>>;

    /// Removes messages (received, or completed).
    fn queue_remove(&self, message_ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>>;

    /// The queued messages in send order.
    fn queue_load(&self) -> BoxFuture<'_, StoreResult<Vec<QueuedMessage>>>;

    /// Where the actor's own SQLite database file lives, or `None` if this backend offers no
    /// actor databases (actors that declare one are then refused with a clear error).
    fn database_file(&self) -> Option<PathBuf>;
}

/// A storage backend: makes the [`Directory`] and each actor's [`ActorStore`].
pub trait Backend: Send + Sync + 'static {
    /// The actor directory (shared by all actors).
    fn directory(&self) -> Arc<dyn Directory>;

    /// The store of actor `actor_id`; cheap, called once per actor start.
    fn actor_store(&self, actor_id: &str) -> Arc<dyn ActorStore>;

    /// Every stored alarm of every actor, soonest first. A single-node host reads them once at
    /// start and wakes actors itself when they are due; a host whose platform wakes actors for
    /// their alarms (the Rivet Engine) does not scan.
    fn all_alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>>;
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let enospc = std::io::Error::from_raw_os_error(28);
        let erofs = std::io::Error::from_raw_os_error(30);
        assert_eq!(ErrorKind::of_io(&enospc), ErrorKind::Full);
        assert_eq!(ErrorKind::of_io(&erofs), ErrorKind::Unavailable);
        assert_eq!(
            ErrorKind::of_io(&std::io::Error::other("x")),
            ErrorKind::Other
        );
        assert_eq!(StoreError::from(enospc).failure(), Some(Failure::Full));
        assert_eq!(StoreError::closed().failure(), None);
    }

    #[test]
    fn a_store_error_shows_its_source() {
        let error = StoreError::with_source(
            ErrorKind::Unavailable,
            "storage I/O error",
            std::io::Error::other("disk gone"),
        );
        assert_eq!(error.to_string(), "storage I/O error: disk gone");
        assert!(std::error::Error::source(&error).is_some());
    }
}
