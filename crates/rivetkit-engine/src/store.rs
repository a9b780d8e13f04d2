//! Storage on the Rivet Engine: each actor's state, KV, alarms and queue as entries of the
//! engine's per-actor KV, and a directory of the actors this envoy runs.
//!
//! The engine owns the real directory (it creates actors, resolves keys and places actors on
//! envoys); [`EngineDirectory`] only remembers the record of each actor the engine started
//! here, so that the shared routes find it by id. A write is durable when the engine
//! acknowledged it: [`rivet_envoy_client::handle::EnvoyHandle::kv_put`] resolves on the
//! engine's answer, and the runtime answers clients only after that.
//!
//! Key layout inside one actor's KV (the first byte says what an entry is):
//!
//! | key | value |
//! |---|---|
//! | `0x01` | the saved state |
//! | `0x02` + user key | a user KV entry (`c.kv()`) |
//! | `0x03` + alarm id (8 bytes, big-endian) | fire time (8 bytes BE), action length (4 bytes BE), action, args (JSON) |
//! | `0x04` + message id (8 bytes, big-endian) | send time (8 bytes BE), name length (4 bytes BE), name, body (JSON) |
//!
//! Big-endian ids keep list order equal to id order (ids are never negative).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use futures::future::{self, BoxFuture};
use parking_lot::Mutex;
use rivet_envoy_client::handle::EnvoyHandle;
use rivetkit_storage::{
    ActorRecord, ActorStore, Alarm, Backend, Directory, ErrorKind, Inserted, KvEntries,
    QueuedMessage, StoreError, StoreResult,
};

const STATE: u8 = 0x01;
const USER_KV: u8 = 0x02;
const ALARM: u8 = 0x03;
const MESSAGE: u8 = 0x04;

/// The engine's connection, set once the envoy is connected. Stores made before it (none are:
/// actors start only on the engine's command) fail with `Unavailable`.
#[derive(Clone, Default)]
pub(crate) struct Engine(Arc<OnceLock<EnvoyHandle>>);

impl Engine {
    pub(crate) fn connected(&self, handle: &EnvoyHandle) {
        let _ = self.0.set(handle.clone());
    }

    pub(crate) fn get(&self) -> Option<&EnvoyHandle> {
        self.0.get()
    }

    fn handle(&self) -> StoreResult<&EnvoyHandle> {
        self.get().ok_or_else(|| {
            StoreError::new(
                ErrorKind::Unavailable,
                "not connected to the Rivet Engine yet",
            )
        })
    }
}

/// An engine KV call that failed: the engine (or the way to it) is unavailable.
fn unavailable(error: anyhow::Error) -> StoreError {
    StoreError::new(
        ErrorKind::Unavailable,
        format!("Rivet Engine KV request failed: {error:#}"),
    )
}

/// The [`Backend`] of an envoy: per-actor stores on the engine's KV.
#[derive(Clone)]
pub(crate) struct EngineBackend {
    engine: Engine,
    directory: Arc<EngineDirectory>,
}

impl EngineBackend {
    pub(crate) fn new(engine: Engine) -> Self {
        Self {
            engine,
            directory: Arc::new(EngineDirectory::default()),
        }
    }

    pub(crate) fn actors(&self) -> &EngineDirectory {
        &self.directory
    }
}

impl Backend for EngineBackend {
    fn directory(&self) -> Arc<dyn Directory> {
        self.directory.clone()
    }

    fn actor_store(&self, actor_id: &str) -> Arc<dyn ActorStore> {
        Arc::new(EngineActorStore {
            engine: self.engine.clone(),
            actor_id: actor_id.to_owned(),
            last_ids: Mutex::new(None),
        })
    }

    /// None: the engine wakes an actor for its alarms (each store sets the engine's alarm to
    /// the soonest of its actor's), and the process that starts the actor arms them.
    fn all_alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>> {
        Box::pin(future::ready(Ok(Vec::new())))
    }
}

/// What the envoy does when the runtime destroyed an actor.
type DestroyHook = Box<dyn Fn(&str) + Send + Sync>;

/// The records of the actors the engine started on this envoy, by id.
#[derive(Default)]
pub(crate) struct EngineDirectory {
    records: Mutex<HashMap<String, ActorRecord>>,
    /// Called with an actor's id when the runtime destroyed it (`c.destroy()`): the envoy tells
    /// the engine, which deletes the actor and its KV.
    on_destroy: OnceLock<DestroyHook>,
}

impl EngineDirectory {
    pub(crate) fn started(&self, record: ActorRecord) {
        self.records.lock().insert(record.actor_id.clone(), record);
    }

    pub(crate) fn stopped(&self, actor_id: &str) {
        self.records.lock().remove(actor_id);
    }

    pub(crate) fn on_destroy(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        let _ = self.on_destroy.set(Box::new(hook));
    }

    fn not_here(what: &str) -> StoreError {
        StoreError::new(
            ErrorKind::Other,
            format!(
                "{what} is the Rivet Engine's job in engine mode: clients create and find actors through the engine"
            ),
        )
    }
}

impl Directory for EngineDirectory {
    fn insert(&self, _record: ActorRecord) -> BoxFuture<'_, StoreResult<Inserted>> {
        Box::pin(future::ready(Err(Self::not_here("creating an actor"))))
    }

    fn by_id<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        let record = self.records.lock().get(actor_id).cloned();
        Box::pin(future::ready(Ok(record)))
    }

    /// Only the actors running here: a key the engine placed elsewhere is not found.
    fn by_key<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ActorRecord>>> {
        let record = self
            .records
            .lock()
            .values()
            .find(|record| {
                record.namespace == namespace && record.name == name && record.key == key
            })
            .cloned();
        Box::pin(future::ready(Ok(record)))
    }

    fn list<'a>(
        &'a self,
        _namespace: &'a str,
        _name: &'a str,
        _limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<ActorRecord>>> {
        Box::pin(future::ready(Err(Self::not_here("listing actors"))))
    }

    fn destroy(&self, actor_id: String) -> BoxFuture<'_, StoreResult<()>> {
        self.stopped(&actor_id);
        if let Some(hook) = self.on_destroy.get() {
            hook(&actor_id);
        }
        Box::pin(future::ready(Ok(())))
    }
}

/// One actor's storage in the engine's KV.
struct EngineActorStore {
    engine: Engine,
    actor_id: String,
    /// The last alarm id and message id given, read from the KV at the first allocation. One
    /// store per actor start, and an actor runs on one envoy at a time, so no one else
    /// allocates meanwhile.
    last_ids: Mutex<Option<(i64, i64)>>,
}

fn with_id(kind: u8, id: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(kind);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

fn id_of(key: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(key.get(1..9)?.try_into().ok()?))
}

/// `time`, then a length-prefixed `name`, then `rest`: the layout of alarms and messages.
fn pack(time: i64, name: &str, rest: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(12 + name.len() + rest.len());
    value.extend_from_slice(&time.to_be_bytes());
    value.extend_from_slice(&(name.len() as u32).to_be_bytes());
    value.extend_from_slice(name.as_bytes());
    value.extend_from_slice(rest);
    value
}

fn unpack(value: &[u8]) -> StoreResult<(i64, String, Vec<u8>)> {
    let corrupt = || StoreError::new(ErrorKind::Corrupt, "a stored alarm or message is malformed");
    let time = i64::from_be_bytes(
        value
            .get(..8)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    );
    let len = u32::from_be_bytes(
        value
            .get(8..12)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    ) as usize;
    let name = value.get(12..12 + len).ok_or_else(corrupt)?;
    let name = String::from_utf8(name.to_vec()).map_err(|_| corrupt())?;
    Ok((time, name, value[12 + len..].to_vec()))
}

impl EngineActorStore {
    async fn put(&self, key: Vec<u8>, value: Vec<u8>) -> StoreResult<()> {
        self.engine
            .handle()?
            .kv_put(self.actor_id.clone(), vec![(key, value)])
            .await
            .map_err(unavailable)
    }

    async fn delete(&self, keys: Vec<Vec<u8>>) -> StoreResult<()> {
        self.engine
            .handle()?
            .kv_delete(self.actor_id.clone(), keys)
            .await
            .map_err(unavailable)
    }

    async fn get(&self, key: Vec<u8>) -> StoreResult<Option<Vec<u8>>> {
        let mut values = self
            .engine
            .handle()?
            .kv_get(self.actor_id.clone(), vec![key])
            .await
            .map_err(unavailable)?;
        Ok(values.pop().flatten())
    }

    async fn list(
        &self,
        prefix: Vec<u8>,
        reverse: bool,
        limit: Option<u64>,
    ) -> StoreResult<KvEntries> {
        self.engine
            .handle()?
            .kv_list_prefix(self.actor_id.clone(), prefix, Some(reverse), limit)
            .await
            .map_err(unavailable)
    }

    /// The next alarm (`ALARM`) or message (`MESSAGE`) id.
    async fn next_id(&self, kind: u8) -> StoreResult<i64> {
        if self.last_ids.lock().is_none() {
            let last =
                |entries: KvEntries| entries.first().and_then(|(key, _)| id_of(key)).unwrap_or(0);
            let alarm = last(self.list(vec![ALARM], true, Some(1)).await?);
            let message = last(self.list(vec![MESSAGE], true, Some(1)).await?);
            let mut ids = self.last_ids.lock();
            if ids.is_none() {
                *ids = Some((alarm, message));
            }
        }
        let mut ids = self.last_ids.lock();
        let (alarm, message) = ids.as_mut().expect("read above");
        let id = if kind == ALARM { alarm } else { message };
        *id += 1;
        Ok(*id)
    }

    /// Points the engine's alarm of this actor at its soonest stored alarm (or clears it), so
    /// that the engine wakes the actor, wherever it places it, when that alarm is due. A wake
    /// hint only: the alarms themselves are durable in the KV, and while the actor's process
    /// lives its scheduler fires them.
    async fn set_engine_alarm(&self) -> StoreResult<()> {
        let soonest = self.alarms().await?.first().map(|alarm| alarm.fire_at);
        self.engine
            .handle()?
            .set_alarm(self.actor_id.clone(), soonest, None);
        Ok(())
    }
}

impl ActorStore for EngineActorStore {
    fn load_state(&self) -> BoxFuture<'_, StoreResult<Option<Vec<u8>>>> {
        Box::pin(self.get(vec![STATE]))
    }

    fn save_state(&self, state: Vec<u8>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.put(vec![STATE], state))
    }

    fn kv_get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(self.get([&[USER_KV], key].concat()))
    }

    fn kv_list<'a>(&'a self, prefix: &'a [u8]) -> BoxFuture<'a, StoreResult<KvEntries>> {
        Box::pin(async move {
            let entries = self
                .list([&[USER_KV], prefix].concat(), false, None)
                .await?;
            Ok(entries
                .into_iter()
                .map(|(key, value)| (key[1..].to_vec(), value))
                .collect())
        })
    }

    fn kv_set(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> BoxFuture<'_, StoreResult<()>> {
        let key = [&[USER_KV], key.as_slice()].concat();
        Box::pin(async move {
            match value {
                Some(value) => self.put(key, value).await,
                None => self.delete(vec![key]).await,
            }
        })
    }

    fn add_alarm(
        &self,
        fire_at: i64,
        action: String,
        args: Vec<u8>,
    ) -> BoxFuture<'_, StoreResult<i64>> {
        Box::pin(async move {
            let alarm_id = self.next_id(ALARM).await?;
            self.put(with_id(ALARM, alarm_id), pack(fire_at, &action, &args))
                .await?;
            self.set_engine_alarm().await?;
            Ok(alarm_id)
        })
    }

    fn delete_alarm(&self, alarm_id: i64) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            self.delete(vec![with_id(ALARM, alarm_id)]).await?;
            self.set_engine_alarm().await
        })
    }

    fn alarms(&self) -> BoxFuture<'_, StoreResult<Vec<Alarm>>> {
        Box::pin(async move {
            let mut alarms = Vec::new();
            for (key, value) in self.list(vec![ALARM], false, None).await? {
                let (fire_at, action, args) = unpack(&value)?;
                alarms.push(Alarm {
                    alarm_id: id_of(&key).unwrap_or_default(),
                    actor_id: self.actor_id.clone(),
                    fire_at,
                    action,
                    args,
                });
            }
            alarms.sort_by_key(|alarm| (alarm.fire_at, alarm.alarm_id));
            Ok(alarms)
        })
    }

    fn queue_push(
        &self,
        name: String,
        body: Vec<u8>,
        created_at: i64,
    ) -> BoxFuture<'_, StoreResult<i64>> {
        Box::pin(async move {
            let message_id = self.next_id(MESSAGE).await?;
            self.put(with_id(MESSAGE, message_id), pack(created_at, &name, &body))
                .await?;
            Ok(message_id)
        })
    }

    fn queue_remove(&self, message_ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        let keys = message_ids
            .into_iter()
            .map(|id| with_id(MESSAGE, id))
            .collect();
        Box::pin(self.delete(keys))
    }

    fn queue_load(&self) -> BoxFuture<'_, StoreResult<Vec<QueuedMessage>>> {
        Box::pin(async move {
            let mut messages = Vec::new();
            for (key, value) in self.list(vec![MESSAGE], false, None).await? {
                let (created_at, name, body) = unpack(&value)?;
                messages.push(QueuedMessage {
                    message_id: id_of(&key).unwrap_or_default(),
                    name,
                    body,
                    created_at,
                });
            }
            Ok(messages)
        })
    }

    /// None: actor databases are not offered on the engine yet (the envoy crate's SQLite
    /// support is a page-level VFS protocol this host does not drive); actors that declare
    /// one are refused with a clear error.
    fn database_file(&self) -> Option<PathBuf> {
        None
    }
}
