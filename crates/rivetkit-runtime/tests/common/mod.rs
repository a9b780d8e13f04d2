//! What several runtime test files share.

#![allow(dead_code)] // each test file uses its own part of this module

use std::sync::Arc;

use futures::future::BoxFuture;
use rivetkit_storage::{
    ActorRecord, Alarm, Failure, Inserted, KvEntries, QueuedMessage, SqliteStore, Store,
    StoreError, StoreResult,
};
use tokio::sync::Semaphore;

/// A store whose state saves wait for a permit, so a test can hold durability back, and fail
/// as a failing disk would while `save_failure` is set.
pub struct GatedStore {
    pub inner: SqliteStore,
    /// One permit per save allowed through.
    pub saves: Arc<Semaphore>,
    /// While set, saves fail as a commit that met this failure (nothing written).
    pub save_failure: Arc<parking_lot::Mutex<Option<Failure>>>,
}

impl Store for GatedStore {
    fn insert_actor(&self, record: ActorRecord) -> BoxFuture<'_, StoreResult<Inserted>> {
        self.inner.insert_actor(record)
    }
    fn actor_by_id<'a>(
        &'a self,
        actor_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        self.inner.actor_by_id(actor_id)
    }
    fn actor_by_key<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        self.inner.actor_by_key(namespace, name, key)
    }
    fn actors_by_name<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<ActorRecord>>> {
        self.inner.actors_by_name(namespace, name, limit)
    }
    fn load_state<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        self.inner.load_state(actor_id)
    }
    fn save_state(&self, actor_id: String, state: Vec<u8>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            self.saves.acquire().await.unwrap().forget();
            let failure = *self.save_failure.lock();
            if let Some(failure) = failure {
                return Err(StoreError::Commit {
                    message: format!("injected {failure:?}"),
                    failure: Some(failure),
                });
            }
            self.inner.save_state(actor_id, state).await
        })
    }
    fn delete_actor(&self, actor_id: String) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.delete_actor(actor_id)
    }
    fn add_alarm(&self, alarm: Alarm) -> BoxFuture<'_, StoreResult<i64>> {
        self.inner.add_alarm(alarm)
    }
    fn delete_alarm(&self, alarm_id: i64) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.delete_alarm(alarm_id)
    }
    fn alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>> {
        self.inner.alarms()
    }
    fn queue_push(&self, message: QueuedMessage) -> BoxFuture<'_, StoreResult<i64>> {
        self.inner.queue_push(message)
    }
    fn queue_remove(&self, message_ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.queue_remove(message_ids)
    }
    fn queue_load<'a>(
        &'a self,
        actor_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<QueuedMessage>>> {
        self.inner.queue_load(actor_id)
    }
    fn kv_get<'a>(
        &'a self,
        actor_id: &'a str,
        key: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        self.inner.kv_get(actor_id, key)
    }
    fn kv_list<'a>(
        &'a self,
        actor_id: &'a str,
        prefix: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<KvEntries>> {
        self.inner.kv_list(actor_id, prefix)
    }
    fn kv_set(
        &self,
        actor_id: String,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.kv_set(actor_id, key, value)
    }
}

/// Opens the store of `dir` once the tasks of a runtime put to sleep and dropped before have
/// let it go (a store holds its dir's lock until its last handle is dropped; the runtime's
/// alarm task drops its handle only once it runs again).
pub async fn open_store(dir: &std::path::Path) -> SqliteStore {
    let waiting = async {
        loop {
            match SqliteStore::open(dir) {
                Err(StoreError::Locked { .. }) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await
                }
                opened => return opened.unwrap(),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the store was let go in time")
}
