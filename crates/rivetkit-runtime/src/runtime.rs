//! The registry of actor definitions, and the runtime that finds, creates and starts actors.
//!
//! The runtime keeps the actor directory in a sharded in-memory cache in front of the store and
//! holds one running instance per actor id, started on first use. Nothing on the request path
//! takes a lock shared by all actors: lookups hit sharded maps, and two requests that race to
//! start the same actor wait on that actor's own once-cell.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use futures::future::BoxFuture;

use dashmap::DashMap;
use rivetkit_protocol::{cbor, key, Value};
use rivetkit_storage::{ActorRecord, ActorStore, Alarm, Backend, Directory, Inserted};
use tokio::sync::OnceCell;

use crate::activity::ActivityGuard;
use crate::clock::now_ms;
use crate::definition::Actor;
use crate::handle::{ActorInstance, Connection};
use crate::host::{ActorStopped, Host};
use crate::inspect::Change;
use crate::instance::{Blueprint, Instance, Origin, State};
use crate::meta::ActorMeta;
use crate::metrics::Population;
use crate::queue::{QueueSend, SendOutcome};
use crate::scheduler::Scheduler;
use crate::{ActorError, ActorResult};

/// Starts instances of one actor definition, whatever its state type.
trait Definition: Send + Sync {
    fn start(
        &self,
        meta: ActorMeta,
        origin: Origin,
        store: Arc<dyn ActorStore>,
        host: Weak<dyn Host>,
    ) -> BoxFuture<'static, ActorResult<Arc<dyn ActorInstance>>>;
}

impl<S: State> Definition for Arc<Blueprint<S>> {
    fn start(
        &self,
        meta: ActorMeta,
        origin: Origin,
        store: Arc<dyn ActorStore>,
        host: Weak<dyn Host>,
    ) -> BoxFuture<'static, ActorResult<Arc<dyn ActorInstance>>> {
        let blueprint = self.clone();
        Box::pin(async move {
            let instance: Arc<dyn ActorInstance> =
                Instance::start(blueprint, meta, origin, store, host).await?;
            Ok(instance)
        })
    }
}

/// A running instance, held awake for as long as this value lives ([`Runtime::instance`]).
pub struct AwakeInstance {
    instance: Arc<dyn ActorInstance>,
    _busy: ActivityGuard,
}

impl AwakeInstance {
    /// The running instance.
    pub fn instance(&self) -> Arc<dyn ActorInstance> {
        self.instance.clone()
    }
}

/// The actors a server hosts, by name (the JS `setup({ use: { ... } })`).
#[derive(Clone, Default)]
pub struct Registry {
    definitions: BTreeMap<String, Arc<dyn Definition>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a definition.
    ///
    /// # Panics
    /// If its name is taken (two actors with one name is a bug), or if it implements an
    /// interface only in part (`Actor::handle` for some of the actions `interface!` declares,
    /// but not all): both are wiring mistakes, caught when the server is put together rather
    /// than when a client first calls.
    pub fn register<S: State, V: Send + Sync + 'static>(mut self, actor: Actor<S, V>) -> Self {
        if let Err(problem) = actor.check_interfaces() {
            panic!("{problem}");
        }
        let name = actor.name().to_owned();
        let previous = self
            .definitions
            .insert(name.clone(), Arc::new(Arc::new(actor.into_blueprint())));
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
    backend: Arc<dyn Backend>,
    directory: Arc<dyn Directory>,
    /// The directory's records read or written so far, by id and by key: a cache, bounded by
    /// `directory_cache_limit` (see [`Runtime::set_directory_cache_limit`]).
    records: DashMap<String, Arc<ActorRecord>>,
    ids_by_key: DashMap<String, String>,
    directory_cache_limit: AtomicUsize,
    instances: DashMap<String, Arc<OnceCell<Arc<dyn ActorInstance>>>>,
    scheduler: Scheduler,
    /// Set by [`Runtime::sleep_all`]: no actor starts any more.
    closing: AtomicBool,
    /// The host's hook for actors that stopped ([`Runtime::on_actor_stopped`]).
    stop_listener: OnceLock<StopListener>,
    /// How actors reach other actors when a platform places them ([`Runtime::call_through`]).
    remote: OnceLock<Arc<dyn RemoteActors>>,
    population: Population,
    /// See [`Runtime::set_action_history`].
    action_history: AtomicBool,
    this: Weak<Runtime>,
}

/// How an actor instance stopped, as told to [`Runtime::on_actor_stopped`].
type StopListener = Box<dyn Fn(&str, ActorStopped) + Send + Sync>;

/// Calls actors by name and key where a platform, not this process, decides which process
/// runs them (the Rivet Engine): the actor may run elsewhere, and only the platform can
/// create it. Set with [`Runtime::call_through`]; without it, actors call actors in-process.
pub trait RemoteActors: Send + Sync + 'static {
    /// Calls `action` on actor `name` + `key` of the default namespace, created if needed, as
    /// a stateless call with connection `params` (`null`: none). Errors the actor raised come
    /// back as they were raised.
    fn call<'a>(
        &'a self,
        name: &'a str,
        key: &'a [String],
        params: Value,
        action: &'a str,
        args: Vec<Value>,
    ) -> BoxFuture<'a, ActorResult<Value>>;
}

/// How many actor records [`Runtime`] keeps in memory unless told otherwise
/// ([`Runtime::set_directory_cache_limit`]).
pub const DEFAULT_DIRECTORY_CACHE_LIMIT: usize = 10_000;

/// The namespace that always exists; actors calling actors use it.
pub const DEFAULT_NAMESPACE: &str = "default";

fn directory_key(namespace: &str, name: &str, key: &str) -> String {
    format!("{namespace}\u{0}{name}\u{0}{key}")
}

/// A random id of 16 hex digits: URL-path safe, as the clients require.
fn new_actor_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Runtime {
    /// Builds a runtime and starts its alarm scheduler (which loads the stored alarms), so it
    /// must be called inside a tokio runtime.
    pub fn new(registry: Registry, backend: Arc<dyn Backend>) -> Arc<Self> {
        let directory = backend.directory();
        Arc::new_cyclic(|this| Self {
            registry,
            scheduler: Scheduler::start(backend.clone(), Self::alarm_firer(this.clone())),
            population: Population::new(directory.initial_actor_count()),
            action_history: AtomicBool::new(true),
            backend,
            directory,
            records: DashMap::new(),
            ids_by_key: DashMap::new(),
            directory_cache_limit: AtomicUsize::new(DEFAULT_DIRECTORY_CACHE_LIMIT),
            instances: DashMap::new(),
            closing: AtomicBool::new(false),
            stop_listener: OnceLock::new(),
            remote: OnceLock::new(),
            this: this.clone(),
        })
    }

    /// The actor definitions this runtime runs.
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
        self.forget_sleeping_actors();
        record
    }

    /// About how many cached records are of actors not awake (a starting or stopping actor
    /// may be counted on either side).
    fn records_of_sleeping_actors(&self) -> usize {
        self.records.len().saturating_sub(self.instances.len())
    }

    /// Bounds the directory cache: besides the records of awake actors, which are kept
    /// whatever the limit, at most `limit` records stay in memory (default 10,000). When a
    /// lookup, a creation or an actor going to sleep takes it over, records of actors that are
    /// not awake are dropped until they are a tenth under it. A dropped record is read from the
    /// directory again at its next use.
    pub fn set_directory_cache_limit(&self, limit: usize) {
        self.directory_cache_limit.store(limit, Ordering::Relaxed);
    }

    /// Whether awake actors keep their last 100 finished actions for the inspector's traces
    /// view (about 15 KB for a busy actor). On by default; the server turns it off when its
    /// inspector is disabled (no inspector token), where nobody could read them. Actors that
    /// start afterwards follow the new setting.
    pub fn set_action_history(&self, keep: bool) {
        self.action_history.store(keep, Ordering::Relaxed);
    }

    /// The actor records in the directory cache now, awake actors' included.
    pub fn cached_actor_records(&self) -> usize {
        self.records.len()
    }

    /// When the cached records of actors that are not awake are over the limit, drops them
    /// down to a tenth under it.
    /// Without it the cache would grow with every actor ever touched by this process (a record
    /// and two map entries each) and never shrink. Which sleeping actors go is not chosen: the
    /// cache only saves a directory read, so any of them will do.
    ///
    /// The limit counts sleeping actors only, so that each walk of the cache drops a tenth of
    /// the limit: counted with the awake ones, a cache full of awake actors was walked whole on
    /// every lookup of another actor and found nothing to drop (100,000 counters called once
    /// each: 412 calls/s, against 8,142/s for 1,000).
    fn forget_sleeping_actors(&self) {
        let limit = self.directory_cache_limit.load(Ordering::Relaxed);
        let sleeping = self.records_of_sleeping_actors();
        if sleeping <= limit {
            return;
        }
        let excess = sleeping - (limit - limit / 10);
        // Collected first: removing while iterating would wait on the shard lock it holds.
        let asleep: Vec<String> = self
            .records
            .iter()
            .filter(|entry| !self.instances.contains_key(entry.key()))
            .take(excess)
            .map(|entry| entry.key().clone())
            .collect();
        for actor_id in asleep {
            if let Some((_, record)) = self.records.remove(&actor_id) {
                self.ids_by_key.remove_if(
                    &directory_key(&record.namespace, &record.name, &record.key),
                    |_, id| *id == actor_id,
                );
            }
        }
    }

    /// The actor with this id, in any namespace; cached after the first lookup.
    pub async fn find_by_id(&self, actor_id: &str) -> ActorResult<Option<Arc<ActorRecord>>> {
        if let Some(record) = self.records.get(actor_id) {
            return Ok(Some(record.clone()));
        }
        Ok(self
            .directory
            .by_id(actor_id)
            .await?
            .map(|record| self.remember(record)))
    }

    /// `key` is the serialized key (PROTOCOL.md §3.6).
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
            .directory
            .by_key(namespace, name, key)
            .await?
            .map(|record| self.remember(record)))
    }

    /// Actors of one name in `namespace`, oldest first, at most `limit`.
    pub async fn list_by_name(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
    ) -> ActorResult<Vec<ActorRecord>> {
        Ok(self.directory.list(namespace, name, limit).await?)
    }

    /// Creates the actor unless its key is taken; the boolean says whether it was created
    /// (concurrent creators of one key all get the same actor). Durable when it returns.
    pub async fn insert_if_absent(
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
        Ok(match self.directory.insert(record).await? {
            Inserted::New(record) => {
                self.population.created(&record.name);
                (self.remember(record), true)
            }
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
        self.insert_if_absent(namespace, name, key, input).await
    }

    /// Creates an actor; fails with `actor/duplicate_key` if the key is taken.
    pub async fn create(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        input: Option<Vec<u8>>,
    ) -> ActorResult<Arc<ActorRecord>> {
        match self.insert_if_absent(namespace, name, key, input).await? {
            (record, true) => Ok(record),
            (_, false) => Err(ActorError::duplicate_key(name, key)),
        }
    }

    /// The running instance of an actor, started (or woken) if it is not running, and held
    /// awake while the returned [`AwakeInstance`] lives.
    pub async fn instance(&self, actor_id: &str) -> ActorResult<AwakeInstance> {
        loop {
            let slot = match self.instances.get(actor_id) {
                Some(slot) => slot.clone(),
                None => self
                    .instances
                    .entry(actor_id.to_owned())
                    .or_default()
                    .clone(),
            };
            let instance = slot.get_or_try_init(|| self.start(actor_id)).await?.clone();
            if let Some(busy) = instance.activity().begin() {
                return Ok(AwakeInstance {
                    instance,
                    _busy: busy,
                });
            }
            // It is going to sleep (or being destroyed): wait, then start it afresh.
            instance.activity().stopped().await;
        }
    }

    async fn start(&self, actor_id: &str) -> ActorResult<Arc<dyn ActorInstance>> {
        if self.is_closing() {
            self.instances.remove(actor_id);
            return Err(ActorError::shutting_down());
        }
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
        // The actor's store is made once per start; every write of the instance goes through it.
        let store = self.backend.actor_store(actor_id);
        let origin = match store.load_state().await? {
            Some(saved) => Origin::Saved(saved),
            None => Origin::Created,
        };
        let from_saved_state = matches!(origin, Origin::Saved(_));
        let host: Weak<dyn Host> = self.this.clone();
        let started = definition.start(meta, origin, store, host).await;
        match &started {
            Ok(_) => self.population.started(&record.name, from_saved_state),
            Err(_) => {
                self.instances.remove(actor_id);
            }
        }
        tracing::debug!(actor_id, name = %record.name, "actor started");
        started
    }

    /// Whether [`Runtime::sleep_all`] has begun: actors no longer start.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// For a graceful shutdown: from now on no actor starts (requests for one that is not
    /// running fail with `server/shutting_down`, and due alarms stay stored for the next
    /// start), and every running actor goes to sleep through its normal path — once its
    /// in-flight work is done, `on_sleep` runs, its connections close and its state is saved.
    /// Returns once all of them have stopped; bound it with a timeout, as an action that never
    /// ends keeps its actor awake.
    pub async fn sleep_all(&self) {
        self.closing.store(true, Ordering::Release);
        let slots: Vec<_> = self
            .instances
            .iter()
            .map(|slot| slot.value().clone())
            .collect();
        let stops = slots.into_iter().map(|slot| async move {
            // An actor still starting is waited for: the fallback start runs only if that
            // start fails, and then refuses.
            let started = slot
                .get_or_try_init(|| async { Err(ActorError::shutting_down()) })
                .await;
            if let Ok(instance) = started {
                instance.request_sleep();
                instance.activity().stopped().await;
            }
        });
        futures::future::join_all(stops).await;
    }

    /// How many actors are running (or starting) now.
    pub fn running_actors(&self) -> usize {
        self.instances.len()
    }

    /// Registers the host's hook, called after each actor instance stopped (once its state is
    /// saved). A host whose platform places actors (the Rivet Engine) tells the platform there,
    /// so that an actor that went to sleep here is woken wherever the platform chooses. Only the
    /// first hook is kept: returns `false` if one was set already.
    pub fn on_actor_stopped(
        &self,
        listener: impl Fn(&str, ActorStopped) + Send + Sync + 'static,
    ) -> bool {
        self.stop_listener.set(Box::new(listener)).is_ok()
    }

    /// Sends actors' calls to other actors (`call_actor`) through `remote` instead of running
    /// them in this process: for a host whose platform places actors. Only the first is kept:
    /// returns `false` if one was set already.
    pub fn call_through(&self, remote: Arc<dyn RemoteActors>) -> bool {
        self.remote.set(remote).is_ok()
    }

    /// Puts one actor to sleep through its normal path (as `c.sleep()`: in-flight work first,
    /// then `on_sleep`, then the state is saved) and returns once it stopped; `false` if it was
    /// not running. For a host whose platform decides when actors stop.
    pub async fn sleep_actor(&self, actor_id: &str) -> bool {
        let Some(instance) = self.running_instance(actor_id).await else {
            return false;
        };
        instance.request_sleep();
        instance.activity().stopped().await;
        true
    }

    /// The instance of a running (or starting) actor, without starting one.
    async fn running_instance(&self, actor_id: &str) -> Option<Arc<dyn ActorInstance>> {
        let slot = self.instances.get(actor_id).map(|slot| slot.clone())?;
        slot.get_or_try_init(|| async { Err(ActorError::actor_not_found(actor_id)) })
            .await
            .ok()
            .cloned()
    }

    /// Arms the stored alarms of one actor, for a host whose platform moves actors between
    /// processes: the process that starts an actor fires its alarms from then on (an alarm
    /// already armed here is not armed twice).
    pub async fn arm_stored_alarms(&self, actor_id: &str) -> ActorResult<()> {
        for alarm in self.backend.actor_store(actor_id).alarms().await? {
            self.scheduler.arm(alarm);
        }
        Ok(())
    }

    /// Called when a destroyed actor has stopped: deletes it and all its data from the
    /// directory; its id and key no longer resolve.
    async fn delete_destroyed(&self, actor_id: &str) {
        if let Err(error) = self.directory.destroy(actor_id.to_owned()).await {
            tracing::error!(actor = %actor_id, %error, "deleting a destroyed actor failed");
        }
        if let Some((_, record)) = self.records.remove(actor_id) {
            self.ids_by_key
                .remove(&directory_key(&record.namespace, &record.name, &record.key));
        }
    }

    /// Stores an alarm of the actor whose store is `store` durably and arms it.
    async fn schedule(
        &self,
        store: &dyn ActorStore,
        actor_id: &str,
        fire_at: i64,
        action: &str,
        args: &[Value],
    ) -> ActorResult<()> {
        let args = serde_json::to_vec(args)?;
        let alarm_id = store
            .add_alarm(fire_at, action.to_owned(), args.clone())
            .await?;
        self.scheduler.arm(Alarm {
            alarm_id,
            actor_id: actor_id.to_owned(),
            fire_at,
            action: action.to_owned(),
            args,
        });
        self.tell_inspector(actor_id, Change::Schedules);
        Ok(())
    }

    /// The stored alarms of actor `actor_id`, soonest first (for the inspector).
    pub async fn alarms_of(&self, actor_id: &str) -> ActorResult<Vec<Alarm>> {
        Ok(self.backend.actor_store(actor_id).alarms().await?)
    }

    /// Tells the inspector of actor `actor_id` of `change`, if the actor is running.
    fn tell_inspector(&self, actor_id: &str, change: Change) {
        let running = self
            .instances
            .get(actor_id)
            .and_then(|slot| slot.get().cloned());
        if let Some(instance) = running {
            instance.inspect().notify(change);
        }
    }

    /// Opens a connection from inside the server to actor `name` + `key` (default namespace,
    /// created if needed).
    pub async fn connect(
        &self,
        name: &str,
        key: &[String],
        params: Value,
    ) -> ActorResult<Connection> {
        if self.remote.get().is_some() {
            return Err(ActorError::public(
                "actor",
                "connect_not_supported",
                "connecting to another actor from inside an actor is not supported when a platform places actors (engine mode); use call_actor",
            )
            .with_status(501));
        }
        let (record, _) = self
            .get_or_create(DEFAULT_NAMESPACE, name, &key::serialize_key(key), None)
            .await?;
        let awake = self.instance(&record.actor_id).await?;
        awake.instance().connect(params, None).await
    }

    /// A queue send from inside the server, as a client without params would make it.
    pub async fn send_queue(&self, actor_id: &str, send: QueueSend) -> ActorResult<SendOutcome> {
        let awake = self.instance(actor_id).await?;
        awake.instance().send_queue(Value::Null, None, send).await
    }

    /// Destroys an actor from outside (the manager's `DELETE /actors/{id}`): `on_destroy` runs,
    /// its data is deleted and its key is free. Returns once it is gone.
    pub async fn destroy(&self, actor_id: &str) -> ActorResult<()> {
        let awake = self.instance(actor_id).await?;
        let instance = awake.instance();
        instance.request_destroy();
        drop(awake);
        instance.activity().stopped().await;
        Ok(())
    }

    /// A stateless call from inside the server: `action` with connection `params` on actor
    /// `name` + `key` in the default namespace, created if needed.
    pub async fn call(
        &self,
        name: &str,
        key: &[String],
        params: Value,
        action: &str,
        args: Vec<Value>,
    ) -> ActorResult<Value> {
        if let Some(remote) = self.remote.get() {
            return remote.call(name, key, params, action, args).await;
        }
        let (record, _) = self
            .get_or_create(DEFAULT_NAMESPACE, name, &key::serialize_key(key), None)
            .await?;
        let awake = self.instance(&record.actor_id).await?;
        awake
            .instance()
            .call_stateless(params, None, action.to_owned(), args)
            .await
    }

    /// What the scheduler calls with each due alarm: fires it on a task of its own; `false`
    /// once the runtime is gone (nothing is left to fire then).
    fn alarm_firer(this: Weak<Runtime>) -> impl Fn(Alarm) -> bool + Send + 'static {
        move |alarm| {
            let Some(runtime) = this.upgrade() else {
                return false;
            };
            let store = runtime.backend.actor_store(&alarm.actor_id);
            tokio::spawn(runtime.fire_alarm(store, alarm));
            true
        }
    }

    /// Runs a due alarm's action on its actor (waking it), then deletes the alarm. An alarm is
    /// deleted only after its action ran, so a crash in between runs it again (at-least-once).
    async fn fire_alarm(self: Arc<Self>, store: Arc<dyn ActorStore>, alarm: Alarm) {
        let args: Vec<Value> = serde_json::from_slice(&alarm.args).unwrap_or_default();
        match self.instance(&alarm.actor_id).await {
            Ok(awake) => {
                let call = awake
                    .instance()
                    .call_action(None, alarm.action.clone(), args);
                if let Err(error) = call.await {
                    tracing::warn!(actor = %alarm.actor_id, action = %alarm.action, %error, "scheduled action failed");
                }
            }
            // Shutting down: the alarm stays stored and fires after the next start.
            Err(_) if self.is_closing() => return,
            // A destroyed actor's alarms are deleted with it; nothing to run.
            Err(error) => {
                tracing::debug!(actor = %alarm.actor_id, %error, "alarm for an actor that is gone")
            }
        }
        if let Err(error) = store.delete_alarm(alarm.alarm_id).await {
            tracing::error!(alarm = alarm.alarm_id, %error, "deleting a fired alarm failed; it will fire again");
        }
        self.tell_inspector(&alarm.actor_id, Change::Schedules);
    }
}

/// How the instances this runtime hosts reach it.
impl Host for Runtime {
    fn schedule<'a>(
        &'a self,
        store: &'a dyn ActorStore,
        actor_id: &'a str,
        fire_at: i64,
        action: &'a str,
        args: &'a [Value],
    ) -> BoxFuture<'a, ActorResult<()>> {
        Box::pin(Runtime::schedule(
            self, store, actor_id, fire_at, action, args,
        ))
    }

    fn send_queue<'a>(
        &'a self,
        actor_id: &'a str,
        send: QueueSend,
    ) -> BoxFuture<'a, ActorResult<SendOutcome>> {
        Box::pin(Runtime::send_queue(self, actor_id, send))
    }

    fn connect<'a>(
        &'a self,
        name: &'a str,
        key: &'a [String],
        params: Value,
    ) -> BoxFuture<'a, ActorResult<Connection>> {
        Box::pin(Runtime::connect(self, name, key, params))
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        key: &'a [String],
        params: Value,
        action: &'a str,
        args: Vec<Value>,
    ) -> BoxFuture<'a, ActorResult<Value>> {
        Box::pin(Runtime::call(self, name, key, params, action, args))
    }

    fn keeps_action_history(&self) -> bool {
        self.action_history.load(Ordering::Relaxed)
    }

    fn delete_destroyed<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(Runtime::delete_destroyed(self, actor_id))
    }

    /// Forgets the instance (the next request starts a new one) and tells the host's hook.
    fn instance_stopped(&self, meta: &ActorMeta, how: ActorStopped) {
        self.instances.remove(&meta.actor_id);
        // Its record now counts against the cache's limit: past it, records go now rather
        // than at the next lookup, so that the memory of many actors gone to sleep at once is
        // not held (pinned page by page) by their records.
        self.forget_sleeping_actors();
        if let Some(listener) = self.stop_listener.get() {
            listener(&meta.actor_id, how);
        }
        let event = match how {
            ActorStopped::Slept => "sleep",
            ActorStopped::Destroyed => "destroy",
            ActorStopped::Retired => "retire",
        };
        self.population.stopped(&meta.name, event);
    }
}
