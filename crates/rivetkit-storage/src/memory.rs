//! The in-memory backend: every directory entry, state, KV entry, alarm and queued message in
//! one map behind a mutex.
//!
//! **Nothing is durable**: everything is gone when the last clone of the backend is dropped.
//! A write "is durable when it resolves" only in the sense that every later read of this
//! backend sees it. For tests (the runtime's suite runs on it as on SQLite) and for ephemeral
//! servers whose actors may be lost. It offers no actor databases.
//!
//! Every call completes at once (a mutex held for a map operation), so the futures are ready
//! futures; the one mutex serializes all actors, which is fine for what this backend is for.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::{self, BoxFuture};

use crate::{
    ActorRecord, ActorStore, Alarm, Backend, Directory, Inserted, KvEntries, QueuedMessage,
    StoreResult,
};

/// The in-memory [`Backend`] and its [`Directory`]. Cheap to clone; clones share the data, so a
/// runtime built on a clone after another one stopped finds what that one wrote (a "restart").
#[derive(Clone, Default)]
pub struct MemoryBackend {
    data: Arc<Mutex<Data>>,
}

#[derive(Default)]
struct Data {
    actors: HashMap<String, ActorRecord>,
    /// (namespace, name, key) → actor id.
    ids_by_key: HashMap<(String, String, String), String>,
    states: HashMap<String, Vec<u8>>,
    kv: HashMap<String, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// By alarm id, which increases with creation.
    alarms: BTreeMap<i64, Alarm>,
    /// By message id, which increases with send order.
    messages: BTreeMap<i64, (Arc<str>, QueuedMessage)>,
    /// The last id given to an alarm or message (shared: ids only need to be unique).
    last_id: i64,
}

impl Data {
    fn next_id(&mut self) -> i64 {
        self.last_id += 1;
        self.last_id
    }
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic under the lock leaves maps that are each still consistent.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` on the data and answers at once.
    fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Data) -> T,
    ) -> BoxFuture<'static, StoreResult<T>> {
        let result = work(&mut self.data());
        Box::pin(future::ready(Ok(result)))
    }
}

impl Backend for MemoryBackend {
    fn directory(&self) -> Arc<dyn Directory> {
        Arc::new(self.clone())
    }

    fn actor_store(&self, actor_id: &str) -> Arc<dyn ActorStore> {
        Arc::new(MemoryActorStore {
            backend: self.clone(),
            actor_id: actor_id.into(),
        })
    }

    fn all_alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>> {
        self.with(|data| soonest_first(data.alarms.values()))
    }
}

fn soonest_first<'a>(alarms: impl Iterator<Item = &'a Alarm>) -> Vec<Alarm> {
    let mut alarms: Vec<Alarm> = alarms.cloned().collect();
    alarms.sort_by_key(|alarm| (alarm.fire_at, alarm.alarm_id));
    alarms
}

impl Directory for MemoryBackend {
    fn insert(&self, record: ActorRecord) -> BoxFuture<'_, StoreResult<Inserted>> {
        self.with(|data| {
            let key = (
                record.namespace.clone(),
                record.name.clone(),
                record.key.clone(),
            );
            if let Some(existing) = data.ids_by_key.get(&key) {
                return Inserted::Existing(data.actors[existing].clone());
            }
            data.ids_by_key.insert(key, record.actor_id.clone());
            data.actors.insert(record.actor_id.clone(), record.clone());
            Inserted::New(record)
        })
    }

    fn by_id<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        self.with(|data| data.actors.get(actor_id).cloned())
    }

    fn by_key<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        let key = (namespace.to_owned(), name.to_owned(), key.to_owned());
        self.with(move |data| {
            let id = data.ids_by_key.get(&key)?;
            data.actors.get(id).cloned()
        })
    }

    fn list<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<ActorRecord>>> {
        self.with(|data| {
            let mut found: Vec<ActorRecord> = data
                .actors
                .values()
                .filter(|record| record.namespace == namespace && record.name == name)
                .cloned()
                .collect();
            found.sort_by(|a, b| (a.create_ts, &a.actor_id).cmp(&(b.create_ts, &b.actor_id)));
            found.truncate(limit);
            found
        })
    }

    fn destroy(&self, actor_id: String) -> BoxFuture<'_, StoreResult<()>> {
        self.with(move |data| {
            if let Some(record) = data.actors.remove(&actor_id) {
                data.ids_by_key
                    .remove(&(record.namespace, record.name, record.key));
            }
            data.states.remove(&actor_id);
            data.kv.remove(&actor_id);
            data.alarms.retain(|_, alarm| alarm.actor_id != actor_id);
            data.messages.retain(|_, (owner, _)| **owner != *actor_id);
        })
    }
}

/// One actor's view of a [`MemoryBackend`].
struct MemoryActorStore {
    backend: MemoryBackend,
    actor_id: Arc<str>,
}

impl ActorStore for MemoryActorStore {
    fn load_state(&self) -> BoxFuture<'_, StoreResult<Option<Vec<u8>>>> {
        self.backend
            .with(|data| data.states.get(&*self.actor_id).cloned())
    }

    fn save_state(&self, state: Vec<u8>) -> BoxFuture<'_, StoreResult<()>> {
        self.backend.with(|data| {
            data.states.insert(self.actor_id.to_string(), state);
        })
    }

    fn kv_get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        self.backend.with(|data| {
            data.kv
                .get(&*self.actor_id)
                .and_then(|entries| entries.get(key).cloned())
        })
    }

    fn kv_list<'a>(&'a self, prefix: &'a [u8]) -> BoxFuture<'a, StoreResult<KvEntries>> {
        self.backend.with(|data| {
            let Some(entries) = data.kv.get(&*self.actor_id) else {
                return Vec::new();
            };
            entries
                .range(prefix.to_vec()..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
    }

    fn kv_set(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> BoxFuture<'_, StoreResult<()>> {
        self.backend.with(|data| {
            let entries = data.kv.entry(self.actor_id.to_string()).or_default();
            match value {
                Some(value) => entries.insert(key, value),
                None => entries.remove(&key),
            };
        })
    }

    fn add_alarm(
        &self,
        fire_at: i64,
        action: String,
        args: Vec<u8>,
    ) -> BoxFuture<'_, StoreResult<i64>> {
        self.backend.with(|data| {
            let alarm_id = data.next_id();
            let alarm = Alarm {
                alarm_id,
                actor_id: self.actor_id.to_string(),
                fire_at,
                action,
                args,
            };
            data.alarms.insert(alarm_id, alarm);
            alarm_id
        })
    }

    fn delete_alarm(&self, alarm_id: i64) -> BoxFuture<'_, StoreResult<()>> {
        self.backend.with(|data| {
            data.alarms.remove(&alarm_id);
        })
    }

    fn alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>> {
        self.backend.with(|data| {
            soonest_first(
                data.alarms
                    .values()
                    .filter(|alarm| *alarm.actor_id == *self.actor_id),
            )
        })
    }

    fn queue_push(
        &self,
        name: String,
        body: Vec<u8>,
        created_at: i64,
    ) -> BoxFuture<'_, StoreResult<i64>> {
        self.backend.with(|data| {
            let message_id = data.next_id();
            let message = QueuedMessage {
                message_id,
                name,
                body,
                created_at,
            };
            data.messages
                .insert(message_id, (self.actor_id.clone(), message));
            message_id
        })
    }

    fn queue_remove(&self, message_ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        self.backend.with(|data| {
            for message_id in message_ids {
                data.messages.remove(&message_id);
            }
        })
    }

    fn queue_load(&self) -> BoxFuture<'_, StoreResult<Vec<QueuedMessage>>> {
        self.backend.with(|data| {
            data.messages
                .values()
                .filter(|(owner, _)| *owner == self.actor_id)
                .map(|(_, message)| message.clone())
                .collect()
        })
    }

    fn database_file(&self) -> Option<PathBuf> {
        None
    }
}
