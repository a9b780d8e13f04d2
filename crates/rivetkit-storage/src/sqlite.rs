//! The embedded driver: one SQLite database file in WAL mode.
//!
//! Writes go to a single writer thread that drains every write waiting in its queue, applies
//! them in one transaction and commits once (`synchronous=FULL`, so the commit is fsync'd), then
//! answers all of them: under load one fsync covers many actors' writes ("group commit").
//! Reads use a separate connection, which WAL lets run beside the writer.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use futures::future::BoxFuture;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::{ActorRecord, Inserted, Store, StoreError, StoreResult};

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
";

enum Write {
    InsertActor(ActorRecord, oneshot::Sender<StoreResult<Inserted>>),
    SaveState(String, Vec<u8>, oneshot::Sender<StoreResult<()>>),
}

/// SQLite-backed [`Store`]. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    writes: std_mpsc::Sender<Write>,
    reader: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/rivetkit.db`.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("rivetkit.db");
        let writer = Connection::open(&path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.execute_batch(SCHEMA)?;
        let reader = Connection::open(&path)?;
        let (writes, queue) = std_mpsc::channel();
        thread::Builder::new()
            .name("rivetkit-sqlite-writer".into())
            .spawn(move || write_loop(writer, queue))?;
        Ok(Self {
            writes,
            reader: Arc::new(Mutex::new(reader)),
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
            sent.map_err(|_| StoreError::Closed)?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
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
                query(&conn).map_err(StoreError::from)
            })
            .await
            .map_err(|_| StoreError::Closed)?
        })
    }
}

impl Store for SqliteStore {
    fn insert_actor(&self, record: ActorRecord) -> BoxFuture<'_, StoreResult<Inserted>> {
        self.submit(|reply| Write::InsertActor(record, reply))
    }

    fn actor_by_id<'a>(
        &'a self,
        actor_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        let actor_id = actor_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("{SELECT_ACTOR} WHERE actor_id = ?1"))?
                .query_row([actor_id], row_to_record)
                .optional()
        })
    }

    fn actor_by_key<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        let args = (namespace.to_owned(), name.to_owned(), key.to_owned());
        self.read(move |conn| select_by_key(conn, &args.0, &args.1, &args.2))
    }

    fn actors_by_name<'a>(
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

    fn load_state<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        let actor_id = actor_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT state FROM actor_state WHERE actor_id = ?1")?
                .query_row([actor_id], |row| row.get(0))
                .optional()
        })
    }

    fn save_state(&self, actor_id: String, state: Vec<u8>) -> BoxFuture<'_, StoreResult<()>> {
        self.submit(|reply| Write::SaveState(actor_id, state, reply))
    }
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

/// The writer thread: block for one write, take whatever else is queued, commit once.
fn write_loop(mut conn: Connection, queue: std_mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, &mut batch);
    }
    tracing::debug!("sqlite writer stopped: every store handle was dropped");
}

/// Applies a batch in one transaction and answers each write only after the commit: an answer
/// is a promise that the write is durable.
fn commit_batch(conn: &mut Connection, batch: &mut Vec<Write>) {
    let outcome = (|| -> rusqlite::Result<Vec<Option<Inserted>>> {
        let tx = conn.transaction()?;
        let mut results = Vec::with_capacity(batch.len());
        for write in batch.iter() {
            results.push(apply(&tx, write)?);
        }
        tx.commit()?;
        Ok(results)
    })();
    match outcome {
        Ok(results) => {
            for (write, result) in batch.drain(..).zip(results) {
                match (write, result) {
                    (Write::InsertActor(_, reply), Some(inserted)) => {
                        let _ = reply.send(Ok(inserted));
                    }
                    (Write::SaveState(_, _, reply), None) => {
                        let _ = reply.send(Ok(()));
                    }
                    _ => unreachable!("apply returns an insert outcome exactly for inserts"),
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, writes = batch.len(), "sqlite commit failed");
            let message = error.to_string();
            for write in batch.drain(..) {
                let failure = || StoreError::Commit(message.clone());
                match write {
                    Write::InsertActor(_, reply) => drop(reply.send(Err(failure()))),
                    Write::SaveState(_, _, reply) => drop(reply.send(Err(failure()))),
                }
            }
        }
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, write: &Write) -> rusqlite::Result<Option<Inserted>> {
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
                return Ok(Some(Inserted::New(record.clone())));
            }
            let existing = select_by_key(tx, &record.namespace, &record.name, &record.key)?;
            // A conflict on the primary key (a reused random id) is not a key conflict: report
            // it as an error rather than hand back an unrelated actor.
            existing
                .map(|found| Some(Inserted::Existing(found)))
                .ok_or(rusqlite::Error::QueryReturnedNoRows)
        }
        Write::SaveState(actor_id, state, _) => {
            tx.prepare_cached(
                "INSERT INTO actor_state (actor_id, state) VALUES (?1, ?2)
                 ON CONFLICT (actor_id) DO UPDATE SET state = excluded.state",
            )?
            .execute(params![actor_id, state])?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, key: &str) -> ActorRecord {
        ActorRecord {
            actor_id: id.into(),
            namespace: "default".into(),
            name: "counter".into(),
            key: key.into(),
            create_ts: 1,
            input: Some(vec![7]),
        }
    }

    #[tokio::test]
    async fn insert_is_unique_per_key_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            assert_eq!(
                store.insert_actor(record("a", "k")).await.unwrap(),
                Inserted::New(record("a", "k"))
            );
            assert_eq!(
                store.insert_actor(record("b", "k")).await.unwrap(),
                Inserted::Existing(record("a", "k"))
            );
            store
                .save_state("a".into(), b"{\"count\":3}".to_vec())
                .await
                .unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store.actor_by_id("a").await.unwrap(),
            Some(record("a", "k"))
        );
        assert_eq!(
            store.actor_by_key("default", "counter", "k").await.unwrap(),
            Some(record("a", "k"))
        );
        assert_eq!(
            store.actor_by_key("other", "counter", "k").await.unwrap(),
            None
        );
        assert_eq!(
            store.load_state("a").await.unwrap(),
            Some(b"{\"count\":3}".to_vec())
        );
        assert_eq!(store.load_state("b").await.unwrap(), None);
    }

    #[tokio::test]
    async fn concurrent_writes_are_all_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let writes = (0..200).map(|i| {
            let store = store.clone();
            async move {
                store
                    .insert_actor(record(&format!("id{i}"), &format!("k{i}")))
                    .await
                    .unwrap();
                store
                    .save_state(format!("id{i}"), vec![i as u8])
                    .await
                    .unwrap();
            }
        });
        futures::future::join_all(writes).await;
        let listed = store
            .actors_by_name("default", "counter", 1000)
            .await
            .unwrap();
        assert_eq!(listed.len(), 200);
        assert_eq!(store.load_state("id199").await.unwrap(), Some(vec![199]));
    }
}
