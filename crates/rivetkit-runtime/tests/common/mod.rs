//! What several runtime test files share: the backends every test runs on, and a backend that
//! holds saves back or fails them.

#![allow(dead_code)] // each test file uses its own part of this module

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use rivetkit_storage::{
    ActorStore, Alarm, Backend, Directory, ErrorKind, Failure, KvEntries, MemoryBackend,
    QueuedMessage, SqliteBackend, StoreError, StoreResult,
};
use tokio::sync::Semaphore;

/// The data a test's runtimes run on: a SQLite data dir, or an in-memory backend.
pub enum Backing {
    Sqlite(tempfile::TempDir),
    Memory(MemoryBackend),
}

impl Backing {
    pub fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    pub fn memory() -> Self {
        Self::Memory(MemoryBackend::new())
    }

    /// A backend over this data, holding what the backends opened before wrote (a restart).
    /// On SQLite it waits until a runtime put to sleep and dropped before has let the dir go
    /// (a backend holds its dir's lock until its last handle is dropped; the runtime's alarm
    /// task drops its handle only once it runs again).
    pub async fn open(&self) -> Arc<dyn Backend> {
        match self {
            Self::Sqlite(dir) => Arc::new(open_sqlite(dir.path()).await),
            Self::Memory(backend) => Arc::new(backend.clone()),
        }
    }
}

async fn open_sqlite(dir: &std::path::Path) -> SqliteBackend {
    let waiting = async {
        loop {
            match SqliteBackend::open(dir) {
                Err(error) if error.kind() == ErrorKind::Conflict => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await
                }
                opened => return opened.unwrap(),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the backend was let go in time")
}

/// Runs each named test once per backend, as `sqlite::name` and `memory::name`: the `async`
/// ones are `async fn(Backing)` run on a tokio test runtime, the `blocking` ones `fn(Backing)`.
#[macro_export]
macro_rules! on_every_backend {
    (async [$($test:ident),* $(,)?] blocking [$($blocking:ident),* $(,)?]) => {
        $crate::on_every_backend!(@backend sqlite [$($test),*] [$($blocking),*]);
        $crate::on_every_backend!(@backend memory [$($test),*] [$($blocking),*]);
    };
    (@backend $backend:ident [$($test:ident),*] [$($blocking:ident),*]) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::common::Backing::$backend()).await
                }
            )*
            $(
                #[test]
                fn $blocking() {
                    super::$blocking(super::common::Backing::$backend())
                }
            )*
        }
    };
}

/// A backend whose actors' state saves wait for a permit, so a test can hold durability back,
/// and fail as a failing disk would while `save_failure` is set.
pub struct GatedBackend {
    pub inner: Arc<dyn Backend>,
    /// One permit per save allowed through.
    pub saves: Arc<Semaphore>,
    /// While set, saves fail as a commit that met this failure (nothing written).
    pub save_failure: Arc<parking_lot::Mutex<Option<Failure>>>,
}

impl Backend for GatedBackend {
    fn directory(&self) -> Arc<dyn Directory> {
        self.inner.directory()
    }
    fn actor_store(&self, actor_id: &str) -> Arc<dyn ActorStore> {
        Arc::new(GatedActorStore {
            inner: self.inner.actor_store(actor_id),
            saves: self.saves.clone(),
            save_failure: self.save_failure.clone(),
        })
    }
    fn all_alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>> {
        self.inner.all_alarms()
    }
}

struct GatedActorStore {
    inner: Arc<dyn ActorStore>,
    saves: Arc<Semaphore>,
    save_failure: Arc<parking_lot::Mutex<Option<Failure>>>,
}

impl ActorStore for GatedActorStore {
    fn load_state(&self) -> BoxFuture<'_, StoreResult<Option<Vec<u8>>>> {
        self.inner.load_state()
    }
    fn save_state(&self, state: Vec<u8>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            self.saves.acquire().await.unwrap().forget();
            let failure = *self.save_failure.lock();
            if let Some(failure) = failure {
                let kind = match failure {
                    Failure::Full => ErrorKind::Full,
                    Failure::Unavailable => ErrorKind::Unavailable,
                };
                return Err(StoreError::new(kind, format!("injected {failure:?}")));
            }
            self.inner.save_state(state).await
        })
    }
    fn kv_get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        self.inner.kv_get(key)
    }
    fn kv_list<'a>(&'a self, prefix: &'a [u8]) -> BoxFuture<'a, StoreResult<KvEntries>> {
        self.inner.kv_list(prefix)
    }
    fn kv_set(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.kv_set(key, value)
    }
    fn add_alarm(
        &self,
        fire_at: i64,
        action: String,
        args: Vec<u8>,
    ) -> BoxFuture<'_, StoreResult<i64>> {
        self.inner.add_alarm(fire_at, action, args)
    }
    fn delete_alarm(&self, alarm_id: i64) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.delete_alarm(alarm_id)
    }
    fn alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>> {
        self.inner.alarms()
    }
    fn queue_push(
        &self,
        name: String,
        body: Vec<u8>,
        created_at: i64,
    ) -> BoxFuture<'_, StoreResult<i64>> {
        self.inner.queue_push(name, body, created_at)
    }
    fn queue_remove(&self, message_ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.queue_remove(message_ids)
    }
    fn queue_load(&self) -> BoxFuture<'_, StoreResult<Vec<QueuedMessage>>> {
        self.inner.queue_load()
    }
    fn database_file(&self) -> Option<PathBuf> {
        self.inner.database_file()
    }
}
