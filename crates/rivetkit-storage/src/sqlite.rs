//! The embedded driver: one SQLite database file in WAL mode.
//!
//! Writes go to a single writer thread that drains every write waiting in its queue, applies
//! them in one transaction and commits once (`synchronous=FULL`, so the commit is fsync'd), then
//! answers all of them: under load one fsync covers many actors' writes ("group commit").
//! Reads use a separate connection, which WAL lets run beside the writer.
//!
//! Actor databases are separate files, `dir/actors/<actor id>.sqlite`, so that one actor's
//! queries never contend with the directory's writer nor with other actors.
//!
//! On a data dir that cannot be written (a read-only mount) the store still opens and serves
//! reads; every write fails as `SQLITE_READONLY`, which callers report as
//! [`ErrorKind::Unavailable`]. See [`open_wal_database`].
//!
//! Single-node assumptions: one process per data dir (held by a lock file), every file local.

use std::ffi::OsString;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use futures::future::BoxFuture;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;

use crate::{
    ActorRecord, ActorStore, Alarm, Backend, Directory, ErrorKind, Inserted, KvEntries,
    QueuedMessage, StoreError, StoreResult,
};

/// The file in the data dir whose exclusive lock a [`SqliteBackend`] holds for its whole life.
pub(crate) const LOCK_FILE: &str = "rivetkit.lock";

/// The most writes one commit carries; bounds the latency a single transaction adds.
const MAX_BATCH: usize = 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS actors (
    actor_id   TEXT PRIMARY KEY,
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    key        TEXT NOT NULL,
    create_ts  INTEGER NOT NULL,
    input      BLOB,
    UNIQUE (namespace, name, key)
);
CREATE TABLE IF NOT EXISTS actor_state (
    actor_id TEXT PRIMARY KEY REFERENCES actors(actor_id),
    state    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS actor_kv (
    actor_id TEXT NOT NULL,
    key      BLOB NOT NULL,
    value    BLOB NOT NULL,
    PRIMARY KEY (actor_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    alarm_id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id TEXT NOT NULL,
    fire_at  INTEGER NOT NULL,
    action   TEXT NOT NULL,
    args     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS alarms_by_actor ON alarms (actor_id);
CREATE TABLE IF NOT EXISTS queue_messages (
    message_id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    body       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_by_actor ON queue_messages (actor_id, message_id);
";

/// A write waiting for the writer thread, with where to send its outcome.
enum Write {
    InsertActor(ActorRecord, oneshot::Sender<StoreResult<Inserted>>),
    AddAlarm(NewAlarm, oneshot::Sender<StoreResult<i64>>),
    QueuePush(NewMessage, oneshot::Sender<StoreResult<i64>>),
    /// Writes that answer nothing but "done".
    Plain(PlainWrite, oneshot::Sender<StoreResult<()>>),
}

/// The actor id of per-actor writes is the store handle's own `Arc<str>`: a write clones no
/// string.
struct NewAlarm {
    actor_id: Arc<str>,
    fire_at: i64,
    action: String,
    args: Vec<u8>,
}

struct NewMessage {
    actor_id: Arc<str>,
    name: String,
    body: Vec<u8>,
    created_at: i64,
}

enum PlainWrite {
    SaveState {
        actor_id: Arc<str>,
        state: Vec<u8>,
    },
    DeleteActor {
        actor_id: String,
    },
    QueueRemove {
        message_ids: Vec<i64>,
    },
    DeleteAlarm {
        alarm_id: i64,
    },
    KvSet {
        actor_id: Arc<str>,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    },
}

/// What applying one write produced, to be sent once the batch is committed.
enum Applied {
    Inserted(Inserted),
    /// The id of a new row (alarm or queue message).
    RowId(i64),
    Done,
}

/// The SQLite [`Backend`], and its [`Directory`]. Cheap to clone.
#[derive(Clone)]
pub struct SqliteBackend {
    // Declared before `_writer`, so that it is dropped first: when the last clone goes, the
    // queue closes before `Writer::drop` (of `_writer`) waits for the writer thread to finish it.
    writes: std_mpsc::Sender<Write>,
    reader: Arc<Mutex<Connection>>,
    /// Where actor databases live.
    actors_dir: PathBuf,
    /// `SELECT COUNT(*) FROM actors` when the store was opened.
    initial_actor_count: u64,
    _writer: Arc<Writer>,
}

/// The writer thread and the data dir's lock, shared by every clone of a store.
///
/// Dropping the last one waits for the thread to commit what is still queued, then releases
/// the lock: a store opened on the same dir afterwards (a restart in the same process) then
/// finds the lock free and every write made.
struct Writer {
    thread: Option<thread::JoinHandle<()>>,
    /// Holds the exclusive lock on [`LOCK_FILE`]. std opens it close-on-exec, so a process
    /// that re-executes itself releases the lock for its new image even if a store is left.
    _lock: Option<File>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the sqlite writer thread panicked");
            }
        }
    }
}

/// Takes the exclusive lock of the data dir `dir`, or says which dir is in use.
///
/// On a read-only dir the lock file is opened for reading (a lock works on any open file); if it
/// does not exist there, no lock is taken: nobody can write to such a dir, so two servers on it
/// cannot lose each other's writes, and it is still served for reading.
fn lock_dir(dir: &Path) -> StoreResult<Option<File>> {
    let path = dir.join(LOCK_FILE);
    let opened = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path);
    let file = match opened {
        Ok(file) => file,
        Err(error) if is_read_only(&error) => match File::open(&path) {
            Ok(file) => file,
            Err(missing) if missing.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(dir = %dir.display(), "read-only data dir without a lock file: serving it unlocked");
                return Ok(None);
            }
            Err(other) => return Err(other.into()),
        },
        Err(error) => return Err(error.into()),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Err(StoreError::new(
            ErrorKind::Conflict,
            format!(
                "data dir {} is in use by another rivetkit server (its lock file {} is held); \
                 stop that one first, or give this one a data dir of its own",
                dir.display(),
                path.display()
            ),
        )),
        Err(TryLockError::Error(error)) => Err(error.into()),
    }
}

/// The [`ErrorKind`] of a SQLite error.
pub fn error_kind(error: &rusqlite::Error) -> ErrorKind {
    use rusqlite::ErrorCode;
    let rusqlite::Error::SqliteFailure(error, _) = error else {
        return ErrorKind::Other;
    };
    match error.code {
        ErrorCode::DiskFull => ErrorKind::Full,
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => ErrorKind::Corrupt,
        ErrorCode::ReadOnly
        | ErrorCode::SystemIoFailure
        | ErrorCode::CannotOpen
        | ErrorCode::FileLockingProtocolFailed => ErrorKind::Unavailable,
        ErrorCode::ConstraintViolation => ErrorKind::Conflict,
        _ => ErrorKind::Other,
    }
}

/// A SQLite error as a [`StoreError`] of its kind.
fn store_error(error: rusqlite::Error) -> StoreError {
    StoreError::with_source(error_kind(&error), "sqlite error", error)
}

impl SqliteBackend {
    /// Opens (creating if needed) `dir/rivetkit.db` and the folder of actor databases.
    ///
    /// The backend holds an exclusive lock on `dir` (`dir/rivetkit.lock`) until its last clone
    /// is dropped; opening a dir that another backend holds, in this process or another, fails
    /// with an [`ErrorKind::Conflict`] error naming the dir.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        let actors_dir = dir.join("actors");
        std::fs::create_dir_all(&actors_dir)?;
        let lock = lock_dir(dir)?;
        let path = dir.join("rivetkit.db");
        let writer = open_wal_database(&path).map_err(store_error)?;
        writer.execute_batch(SCHEMA).map_err(store_error)?;
        let initial_actor_count = writer
            .query_row("SELECT COUNT(*) FROM actors", [], |row| row.get(0))
            .map_err(store_error)?;
        let reader = open_wal_database(&path).map_err(store_error)?;
        let (writes, queue) = std_mpsc::channel();
        let thread = thread::Builder::new()
            .name("rivetkit-sqlite-writer".into())
            .spawn(move || write_loop(writer, queue))?;
        Ok(Self {
            writes,
            reader: Arc::new(Mutex::new(reader)),
            actors_dir,
            initial_actor_count,
            _writer: Arc::new(Writer {
                thread: Some(thread),
                _lock: lock,
            }),
        })
    }

    fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> Write,
    ) -> BoxFuture<'_, StoreResult<T>>
    where
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let sent = self.writes.send(make(tx));
        Box::pin(async move {
            sent.map_err(|_| StoreError::closed())?;
            rx.await.map_err(|_| StoreError::closed())?
        })
    }

    /// The database file of an actor. Ids made of letters, digits, `-` and `_` (all the runtime
    /// makes) are used as they are; any other id is hex-encoded behind a `%`, which no plain id
    /// contains, so that no id can name a path outside `actors_dir` or collide with another.
    fn database_file(&self, actor_id: &str) -> PathBuf {
        let plain = !actor_id.is_empty()
            && actor_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let stem = if plain {
            actor_id.to_owned()
        } else {
            std::iter::once("%".to_owned())
                .chain(actor_id.bytes().map(|b| format!("{b:02x}")))
                .collect()
        };
        self.actors_dir.join(format!("{stem}.sqlite"))
    }

    /// Runs a read on the reader connection without blocking the async runtime.
    fn read<T, F>(&self, query: F) -> BoxFuture<'static, StoreResult<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let reader = self.reader.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                query(&conn).map_err(store_error)
            })
            .await
            .map_err(|_| StoreError::closed())?
        })
    }
}

impl Backend for SqliteBackend {
    fn directory(&self) -> Arc<dyn Directory> {
        Arc::new(self.clone())
    }

    fn actor_store(&self, actor_id: &str) -> Arc<dyn ActorStore> {
        Arc::new(SqliteActorStore {
            backend: self.clone(),
            actor_id: actor_id.into(),
        })
    }

    fn all_alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>> {
        self.read(|conn| {
            conn.prepare_cached(&format!("{SELECT_ALARM} ORDER BY fire_at, alarm_id"))?
                .query_map([], row_to_alarm)?
                .collect()
        })
    }
}

impl Directory for SqliteBackend {
    fn insert(&self, record: ActorRecord) -> BoxFuture<'_, StoreResult<Inserted>> {
        self.submit(|reply| Write::InsertActor(record, reply))
    }

    fn by_id<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        let actor_id = actor_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("{SELECT_ACTOR} WHERE actor_id = ?1"))?
                .query_row([actor_id], row_to_record)
                .optional()
        })
    }

    fn by_key<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        let args = (namespace.to_owned(), name.to_owned(), key.to_owned());
        self.read(move |conn| select_by_key(conn, &args.0, &args.1, &args.2))
    }

    fn list<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<ActorRecord>>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "{SELECT_ACTOR} WHERE namespace = ?1 AND name = ?2 ORDER BY create_ts, actor_id LIMIT ?3"
            ))?
            .query_map(params![namespace, name, limit], row_to_record)?
            .collect()
        })
    }

    fn destroy(&self, actor_id: String) -> BoxFuture<'_, StoreResult<()>> {
        let database = self.database_file(&actor_id);
        let deleted =
            self.submit(|reply| Write::Plain(PlainWrite::DeleteActor { actor_id }, reply));
        Box::pin(async move {
            deleted.await?;
            // After the rows: a crash in between leaves an orphan file, never an actor whose
            // database vanished.
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut path = OsString::from(database.as_os_str());
                path.push(suffix);
                match tokio::fs::remove_file(&path).await {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(error.into())
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    }

    fn initial_actor_count(&self) -> u64 {
        self.initial_actor_count
    }
}

/// One actor's store on a [`SqliteBackend`]: its rows in the shared database, written by the
/// shared writer (so its writes join other actors' commits), and its database file.
struct SqliteActorStore {
    backend: SqliteBackend,
    actor_id: Arc<str>,
}

impl ActorStore for SqliteActorStore {
    fn load_state(&self) -> BoxFuture<'_, StoreResult<Option<Vec<u8>>>> {
        let actor_id = self.actor_id.clone();
        self.backend.read(move |conn| {
            conn.prepare_cached("SELECT state FROM actor_state WHERE actor_id = ?1")?
                .query_row([&*actor_id], |row| row.get(0))
                .optional()
        })
    }

    fn save_state(&self, state: Vec<u8>) -> BoxFuture<'_, StoreResult<()>> {
        let actor_id = self.actor_id.clone();
        self.backend
            .submit(|reply| Write::Plain(PlainWrite::SaveState { actor_id, state }, reply))
    }

    fn kv_get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        let (actor_id, key) = (self.actor_id.clone(), key.to_vec());
        self.backend.read(move |conn| {
            conn.prepare_cached("SELECT value FROM actor_kv WHERE actor_id = ?1 AND key = ?2")?
                .query_row(params![&*actor_id, key], |row| row.get(0))
                .optional()
        })
    }

    fn kv_list<'a>(&'a self, prefix: &'a [u8]) -> BoxFuture<'a, StoreResult<KvEntries>> {
        let (actor_id, prefix) = (self.actor_id.clone(), prefix.to_vec());
        self.backend.read(move |conn| {
            // Keys are compared as bytes: `substr` on a BLOB takes bytes, so this is an exact
            // prefix test (LIKE would treat `%` and `_` in keys as wildcards).
            conn.prepare_cached(
                "SELECT key, value FROM actor_kv
                 WHERE actor_id = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
            )?
            .query_map(params![&*actor_id, prefix], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect()
        })
    }

    fn kv_set(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> BoxFuture<'_, StoreResult<()>> {
        let actor_id = self.actor_id.clone();
        self.backend.submit(|reply| {
            Write::Plain(
                PlainWrite::KvSet {
                    actor_id,
                    key,
                    value,
                },
                reply,
            )
        })
    }

    fn add_alarm(
        &self,
        fire_at: i64,
        action: String,
        args: Vec<u8>,
    ) -> BoxFuture<'_, StoreResult<i64>> {
        let alarm = NewAlarm {
            actor_id: self.actor_id.clone(),
            fire_at,
            action,
            args,
        };
        self.backend.submit(|reply| Write::AddAlarm(alarm, reply))
    }

    fn delete_alarm(&self, alarm_id: i64) -> BoxFuture<'_, StoreResult<()>> {
        self.backend
            .submit(|reply| Write::Plain(PlainWrite::DeleteAlarm { alarm_id }, reply))
    }

    fn alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>> {
        let actor_id = self.actor_id.clone();
        self.backend.read(move |conn| {
            conn.prepare_cached(&format!(
                "{SELECT_ALARM} WHERE actor_id = ?1 ORDER BY fire_at, alarm_id"
            ))?
            .query_map([&*actor_id], row_to_alarm)?
            .collect()
        })
    }

    fn queue_push(
        &self,
        name: String,
        body: Vec<u8>,
        created_at: i64,
    ) -> BoxFuture<'_, StoreResult<i64>> {
        let message = NewMessage {
            actor_id: self.actor_id.clone(),
            name,
            body,
            created_at,
        };
        self.backend
            .submit(|reply| Write::QueuePush(message, reply))
    }

    fn queue_remove(&self, message_ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        self.backend
            .submit(|reply| Write::Plain(PlainWrite::QueueRemove { message_ids }, reply))
    }

    fn queue_load(&self) -> BoxFuture<'_, StoreResult<Vec<QueuedMessage>>> {
        let actor_id = self.actor_id.clone();
        self.backend.read(move |conn| {
            conn.prepare_cached(
                "SELECT message_id, name, body, created_at FROM queue_messages
                 WHERE actor_id = ?1 ORDER BY message_id",
            )?
            .query_map([&*actor_id], |row| {
                Ok(QueuedMessage {
                    message_id: row.get(0)?,
                    name: row.get(1)?,
                    body: row.get(2)?,
                    created_at: row.get(3)?,
                })
            })?
            .collect()
        })
    }

    fn database_file(&self) -> Option<PathBuf> {
        Some(self.backend.database_file(&self.actor_id))
    }
}

const SELECT_ALARM: &str = "SELECT alarm_id, actor_id, fire_at, action, args FROM alarms";

fn row_to_alarm(row: &rusqlite::Row<'_>) -> rusqlite::Result<Alarm> {
    Ok(Alarm {
        alarm_id: row.get(0)?,
        actor_id: row.get(1)?,
        fire_at: row.get(2)?,
        action: row.get(3)?,
        args: row.get(4)?,
    })
}

const SELECT_ACTOR: &str = "SELECT actor_id, namespace, name, key, create_ts, input FROM actors";

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<ActorRecord> {
    Ok(ActorRecord {
        actor_id: row.get(0)?,
        namespace: row.get(1)?,
        name: row.get(2)?,
        key: row.get(3)?,
        create_ts: row.get(4)?,
        input: row.get(5)?,
    })
}

fn select_by_key(
    conn: &Connection,
    namespace: &str,
    name: &str,
    key: &str,
) -> rusqlite::Result<Option<ActorRecord>> {
    conn.prepare_cached(&format!(
        "{SELECT_ACTOR} WHERE namespace = ?1 AND name = ?2 AND key = ?3"
    ))?
    .query_row(params![namespace, name, key], row_to_record)
    .optional()
}

/// Opens a SQLite file in WAL mode with `synchronous=FULL` (a commit that returned is durable).
///
/// A WAL database needs its `-shm` file to be read, and a clean close removes it: on a file that
/// cannot be written (a read-only mount) SQLite then cannot open it at all. In that case the file
/// is opened *immutable* — read-only, every write failing as `SQLITE_READONLY` — provided no
/// `-wal` file holds commits that reading the main file alone would miss (after a crash the
/// `-shm` file is still there, and the normal open reads both).
pub fn open_wal_database(path: &Path) -> rusqlite::Result<Connection> {
    let opened = Connection::open(path).and_then(|conn| {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(conn)
    });
    match opened {
        Ok(conn) => Ok(conn),
        Err(error) if cannot_be_written(path) && !has_pending_wal(path) => {
            tracing::warn!(path = %path.display(), %error, "the database cannot be written: opened read-only, every write will be refused");
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(immutable_uri(path), flags)
        }
        Err(error) => Err(error),
    }
}

/// Whether `path` exists but cannot be opened for writing.
fn cannot_be_written(path: &Path) -> bool {
    match std::fs::OpenOptions::new().append(true).open(path) {
        Ok(_) => false,
        Err(error) => is_read_only(&error),
    }
}

/// Whether opening a file for writing failed because the file system or the file is read-only.
fn is_read_only(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
    )
}

/// Whether the `-wal` file of `path` holds anything.
fn has_pending_wal(path: &Path) -> bool {
    let mut wal = OsString::from(path.as_os_str());
    wal.push("-wal");
    std::fs::metadata(wal).is_ok_and(|wal| wal.len() > 0)
}

/// `file:` URI of `path` opened immutable; bytes other than unreserved ones and `/` are
/// percent-encoded, so that no `?`, `#` or `%` in the path is read as URI syntax.
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// The writer thread: block for one write, take whatever else is queued, commit once.
fn write_loop(mut conn: Connection, queue: std_mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let metrics = crate::metrics::CommitMetrics::register();
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, &mut batch, &metrics);
    }
    tracing::debug!("sqlite writer stopped: every store handle was dropped");
}

/// Applies a batch in one transaction and answers each write only after the commit: an answer
/// is a promise that the write is durable.
fn commit_batch(
    conn: &mut Connection,
    batch: &mut Vec<Write>,
    metrics: &crate::metrics::CommitMetrics,
) {
    let started = Instant::now();
    let mut sync_time = None;
    let outcome = (|| -> rusqlite::Result<Vec<Applied>> {
        let tx = conn.transaction()?;
        let mut results = Vec::with_capacity(batch.len());
        for write in batch.iter() {
            results.push(apply(&tx, write)?);
        }
        let committing = Instant::now();
        tx.commit()?;
        sync_time = Some(committing.elapsed());
        Ok(results)
    })();
    metrics.record(batch.len(), started.elapsed(), sync_time);
    match outcome {
        Ok(results) => {
            for (write, result) in batch.drain(..).zip(results) {
                match (write, result) {
                    (Write::InsertActor(_, reply), Applied::Inserted(inserted)) => {
                        drop(reply.send(Ok(inserted)))
                    }
                    (
                        Write::AddAlarm(_, reply) | Write::QueuePush(_, reply),
                        Applied::RowId(id),
                    ) => drop(reply.send(Ok(id))),
                    (Write::Plain(_, reply), Applied::Done) => drop(reply.send(Ok(()))),
                    _ => unreachable!(
                        "apply answers each kind of write with its own kind of outcome"
                    ),
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, writes = batch.len(), "sqlite commit failed");
            let kind = error_kind(&error);
            let failure = || StoreError::new(kind, format!("storage commit failed: {error}"));
            for write in batch.drain(..) {
                match write {
                    Write::InsertActor(_, reply) => drop(reply.send(Err(failure()))),
                    Write::AddAlarm(_, reply) | Write::QueuePush(_, reply) => {
                        drop(reply.send(Err(failure())))
                    }
                    Write::Plain(_, reply) => drop(reply.send(Err(failure()))),
                }
            }
        }
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, write: &Write) -> rusqlite::Result<Applied> {
    match write {
        Write::InsertActor(record, _) => {
            let written = tx
                .prepare_cached(
                    "INSERT INTO actors (actor_id, namespace, name, key, create_ts, input)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    record.actor_id,
                    record.namespace,
                    record.name,
                    record.key,
                    record.create_ts,
                    record.input
                ])?;
            if written == 1 {
                return Ok(Applied::Inserted(Inserted::New(record.clone())));
            }
            // A conflict on the primary key (a reused random id) is not a key conflict: report
            // it as an error rather than hand back an unrelated actor.
            select_by_key(tx, &record.namespace, &record.name, &record.key)?
                .map(|found| Applied::Inserted(Inserted::Existing(found)))
                .ok_or(rusqlite::Error::QueryReturnedNoRows)
        }
        Write::AddAlarm(alarm, _) => {
            tx.prepare_cached(
                "INSERT INTO alarms (actor_id, fire_at, action, args) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &*alarm.actor_id,
                alarm.fire_at,
                alarm.action,
                alarm.args
            ])?;
            Ok(Applied::RowId(tx.last_insert_rowid()))
        }
        Write::QueuePush(message, _) => {
            tx.prepare_cached("INSERT INTO queue_messages (actor_id, name, body, created_at) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![&*message.actor_id, message.name, message.body, message.created_at])?;
            Ok(Applied::RowId(tx.last_insert_rowid()))
        }
        Write::Plain(write, _) => {
            match write {
                PlainWrite::SaveState { actor_id, state } => {
                    tx.prepare_cached(
                        "INSERT INTO actor_state (actor_id, state) VALUES (?1, ?2)
                         ON CONFLICT (actor_id) DO UPDATE SET state = excluded.state",
                    )?
                    .execute(params![&**actor_id, state])?;
                }
                PlainWrite::DeleteActor { actor_id } => {
                    for table in [
                        "actor_state",
                        "actor_kv",
                        "alarms",
                        "queue_messages",
                        "actors",
                    ] {
                        tx.prepare_cached(&format!("DELETE FROM {table} WHERE actor_id = ?1"))?
                            .execute([actor_id])?;
                    }
                }
                PlainWrite::QueueRemove { message_ids } => {
                    let mut remove =
                        tx.prepare_cached("DELETE FROM queue_messages WHERE message_id = ?1")?;
                    for message_id in message_ids {
                        remove.execute([message_id])?;
                    }
                }
                PlainWrite::DeleteAlarm { alarm_id } => {
                    tx.prepare_cached("DELETE FROM alarms WHERE alarm_id = ?1")?
                        .execute([alarm_id])?;
                }
                PlainWrite::KvSet {
                    actor_id,
                    key,
                    value: Some(value),
                } => {
                    tx.prepare_cached(
                        "INSERT INTO actor_kv (actor_id, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (actor_id, key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(params![&**actor_id, key, value])?;
                }
                PlainWrite::KvSet {
                    actor_id,
                    key,
                    value: None,
                } => {
                    tx.prepare_cached("DELETE FROM actor_kv WHERE actor_id = ?1 AND key = ?2")?
                        .execute(params![&**actor_id, key])?;
                }
            }
            Ok(Applied::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    #[test]
    fn an_immutable_uri_escapes_what_uris_would_read_as_syntax() {
        assert_eq!(
            immutable_uri(Path::new("/data dir/a?b#c%d/rivetkit.db")),
            "file:/data%20dir/a%3Fb%23c%25d/rivetkit.db?immutable=1"
        );
        assert_eq!(
            immutable_uri(Path::new("rivetkit-data/rivetkit.db")),
            "file:rivetkit-data/rivetkit.db?immutable=1"
        );
    }

    fn sqlite(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_codes_are_classified() {
        let cases = [
            (ffi::SQLITE_FULL, ErrorKind::Full),
            (ffi::SQLITE_READONLY, ErrorKind::Unavailable),
            (ffi::SQLITE_IOERR, ErrorKind::Unavailable),
            (ffi::SQLITE_IOERR_WRITE, ErrorKind::Unavailable),
            (ffi::SQLITE_IOERR_FSYNC, ErrorKind::Unavailable),
            (ffi::SQLITE_CANTOPEN, ErrorKind::Unavailable),
            (ffi::SQLITE_CORRUPT, ErrorKind::Corrupt),
            (ffi::SQLITE_NOTADB, ErrorKind::Corrupt),
            (ffi::SQLITE_CONSTRAINT, ErrorKind::Conflict),
            (ffi::SQLITE_ERROR, ErrorKind::Other),
            (ffi::SQLITE_MISUSE, ErrorKind::Other),
        ];
        for (code, kind) in cases {
            assert_eq!(error_kind(&sqlite(code)), kind, "{code}");
        }
        assert_eq!(
            error_kind(&rusqlite::Error::QueryReturnedNoRows),
            ErrorKind::Other
        );
        // Bugs and contention stay internal errors; corruption is reported as unavailable.
        assert_eq!(store_error(sqlite(ffi::SQLITE_CONSTRAINT)).failure(), None);
        assert_eq!(
            store_error(sqlite(ffi::SQLITE_NOTADB)).failure(),
            Some(crate::Failure::Unavailable)
        );
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
        assert_eq!(error_kind(&error), ErrorKind::Full, "{error}");
    }
}
