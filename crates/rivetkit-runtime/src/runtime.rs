//! The registry of actor definitions, and the runtime that finds, creates and starts actors.
//!
//! The runtime keeps the actor directory in a sharded in-memory cache in front of the store and
//! holds one running instance per actor id, started on first use. Nothing on the request path
//! takes a lock shared by all actors: lookups hit sharded maps, and two requests that race to
//! start the same actor wait on that actor's own once-cell.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use rivetkit_protocol::{cbor, key, Value};
use rivetkit_storage::{ActorRecord, Inserted, Store};
use tokio::sync::OnceCell;

use crate::definition::Actor;
use crate::instance::{ActorCell, ActorInstance, ActorMeta};
use crate::{ActorError, ActorResult, State};

/// Starts instances of one actor definition, whatever its state type.
trait Definition: Send + Sync {
    fn start(
        &self,
        meta: ActorMeta,
        saved_state: Option<Vec<u8>>,
        store: Arc<dyn Store>,
    ) -> ActorResult<Arc<dyn ActorInstance>>;
}

impl<S: State, V: Send + Sync + 'static> Definition for Arc<Actor<S, V>> {
    fn start(
        &self,
        meta: ActorMeta,
        saved_state: Option<Vec<u8>>,
        store: Arc<dyn Store>,
    ) -> ActorResult<Arc<dyn ActorInstance>> {
        Ok(ActorCell::start(self.clone(), meta, saved_state, store)?)
    }
}

/// The actors a server hosts, by name (the JS `setup({ use: { ... } })`).
#[derive(Clone, Default)]
pub struct Registry {
    definitions: BTreeMap<String, Arc<dyn Definition>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a definition. Panics if its name is taken: two actors with one name is a bug.
    pub fn register<S: State, V: Send + Sync + 'static>(mut self, actor: Actor<S, V>) -> Self {
        let name = actor.name().to_owned();
        let previous = self
            .definitions
            .insert(name.clone(), Arc::new(Arc::new(actor)));
        assert!(previous.is_none(), "two actors are registered as {name:?}");
        self
    }

    /// Registered actor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.definitions.keys().map(String::as_str)
    }

    fn definition(&self, name: &str) -> ActorResult<&Arc<dyn Definition>> {
        self.definitions.get(name).ok_or_else(|| {
            ActorError::actor_not_found(format!("no actor named {name:?} is registered"))
        })
    }
}

/// Finds, creates and runs actors.
pub struct Runtime {
    registry: Registry,
    store: Arc<dyn Store>,
    records: DashMap<String, Arc<ActorRecord>>,
    ids_by_key: DashMap<String, String>,
    instances: DashMap<String, Arc<OnceCell<Arc<dyn ActorInstance>>>>,
}

fn directory_key(namespace: &str, name: &str, key: &str) -> String {
    format!("{namespace}\u{0}{name}\u{0}{key}")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// A random id of 16 hex digits: URL-path safe, as the clients require.
fn new_actor_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Runtime {
    pub fn new(registry: Registry, store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            registry,
            store,
            records: DashMap::new(),
            ids_by_key: DashMap::new(),
            instances: DashMap::new(),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn remember(&self, record: ActorRecord) -> Arc<ActorRecord> {
        let record = Arc::new(record);
        self.ids_by_key.insert(
            directory_key(&record.namespace, &record.name, &record.key),
            record.actor_id.clone(),
        );
        self.records.insert(record.actor_id.clone(), record.clone());
        record
    }

    pub async fn find_by_id(&self, actor_id: &str) -> ActorResult<Option<Arc<ActorRecord>>> {
        if let Some(record) = self.records.get(actor_id) {
            return Ok(Some(record.clone()));
        }
        Ok(self
            .store
            .actor_by_id(actor_id)
            .await?
            .map(|record| self.remember(record)))
    }

    /// `key` is the serialized key (PROTOCOL.md §2.7).
    pub async fn find_by_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
    ) -> ActorResult<Option<Arc<ActorRecord>>> {
        let cached = self
            .ids_by_key
            .get(&directory_key(namespace, name, key))
            .and_then(|id| self.records.get(id.as_str()).map(|record| record.clone()));
        if cached.is_some() {
            return Ok(cached);
        }
        Ok(self
            .store
            .actor_by_key(namespace, name, key)
            .await?
            .map(|record| self.remember(record)))
    }

    pub async fn list_by_name(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
    ) -> ActorResult<Vec<ActorRecord>> {
        Ok(self.store.actors_by_name(namespace, name, limit).await?)
    }

    async fn insert(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        input: Option<Vec<u8>>,
    ) -> ActorResult<(Arc<ActorRecord>, bool)> {
        self.registry.definition(name)?;
        let record = ActorRecord {
            actor_id: new_actor_id(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
            create_ts: now_ms(),
            input,
        };
        Ok(match self.store.insert_actor(record).await? {
            Inserted::New(record) => (self.remember(record), true),
            Inserted::Existing(record) => (self.remember(record), false),
        })
    }

    /// Returns the actor with this key, creating it (with `input`) if there is none.
    /// The boolean says whether it was created.
    pub async fn get_or_create(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        input: Option<Vec<u8>>,
    ) -> ActorResult<(Arc<ActorRecord>, bool)> {
        if let Some(record) = self.find_by_key(namespace, name, key).await? {
            return Ok((record, false));
        }
        self.insert(namespace, name, key, input).await
    }

    /// Creates an actor; fails with `actor/duplicate_key` if the key is taken.
    pub async fn create(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        input: Option<Vec<u8>>,
    ) -> ActorResult<Arc<ActorRecord>> {
        match self.insert(namespace, name, key, input).await? {
            (record, true) => Ok(record),
            (_, false) => Err(ActorError::duplicate_key(name, key)),
        }
    }

    /// The running instance of an actor, started if it is not running.
    pub async fn instance(&self, actor_id: &str) -> ActorResult<Arc<dyn ActorInstance>> {
        let slot = match self.instances.get(actor_id) {
            Some(slot) => slot.clone(),
            None => self
                .instances
                .entry(actor_id.to_owned())
                .or_default()
                .clone(),
        };
        slot.get_or_try_init(|| self.start(actor_id)).await.cloned()
    }

    async fn start(&self, actor_id: &str) -> ActorResult<Arc<dyn ActorInstance>> {
        let Some(record) = self.find_by_id(actor_id).await? else {
            self.instances.remove(actor_id);
            return Err(ActorError::actor_not_found(actor_id));
        };
        let definition = self.registry.definition(&record.name)?;
        let input = match &record.input {
            Some(bytes) => cbor::decode(bytes).map_err(|error| {
                ActorError::internal(format!(
                    "input of actor {actor_id} does not decode: {error}"
                ))
            })?,
            None => Value::Null,
        };
        let meta = ActorMeta {
            actor_id: record.actor_id.clone(),
            name: record.name.clone(),
            key: key::parse_key(&record.key),
            input,
        };
        let saved_state = self.store.load_state(actor_id).await?;
        let is_new = saved_state.is_none();
        let instance = definition.start(meta, saved_state, self.store.clone())?;
        if is_new {
            instance.clone().persist().await?;
        }
        tracing::debug!(actor_id, name = %record.name, is_new, "actor started");
        Ok(instance)
    }
}
