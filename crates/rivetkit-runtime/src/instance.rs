//! A running actor: its state in memory, the version of it that is durable, its connections,
//! the events waiting for durability, and its life from start to sleep or destruction.
//!
//! Durability rule: a change is saved before anything that depends on it leaves the server.
//! Every `update` bumps the state's *version*; `durable` is the highest version saved. An action's
//! response waits until `durable` reaches the version the action ended at. Broadcast events go
//! through an ordered outbox that is released only as far as `durable` has caught up, so events
//! never overtake each other nor the state they describe. One save per actor runs at a time and
//! always writes the newest state, so concurrent actions on one actor share saves, and the store
//! groups saves of many actors into one commit.
//!
//! A failed save loses the changes it carried, and every change since: a client told a write was
//! not made must be able to rely on it. The instance is *retired*: each action waiting for a
//! version above `durable` answers the storage error, the events of those versions are dropped
//! undelivered, every later write of the instance (state, KV, alarms, database) is refused, and
//! once its work in flight is done it stops without a hook or a save and closes its connections.
//! The next request loads the last durable state afresh, so reads work again at once, even while
//! the store still refuses writes. Retiring rather than rolling back in place means no action
//! that began on the lost state can finish on top of the restored one.
//!
//! Connections: every client is a connection while it talks to the actor — a WebSocket for as
//! long as it is open, a stateless call or raw request for the duration of that call. Each runs
//! `on_before_connect`, `create_conn_state` and `on_connect` when admitted and `on_disconnect`
//! when it ends.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use rivetkit_protocol::Value;
use rivetkit_storage::ActorStore;
use tracing::Instrument;

use crate::activity::{Activity, ActivityGuard, Stop};
use crate::conn::{
    outgoing_queue, ConnEntry, ConnLimits, ConnLink, Connection, DirectWrites, HibernatedConn,
    Outgoing, OutgoingSender, SharedEvent,
};
use crate::context::ConnInfo;
use crate::db::Db;
use crate::definition::{Actor, HookFn, Vars};
use crate::inspect::{Change, Inspect};
use crate::metrics::{self, ActorActions};
use crate::queue::{await_completion, QueueCore, QueueSnapshot, SendOutcome};
use crate::raw::{RawWebSocket, Request, RequestInfo, Response, WsSender};
use crate::runtime::ActorStopped;
use crate::runtime::Runtime;
use crate::trace;
use crate::{ActorError, ActorResult, Ctx, State};

/// What actor code sent from inside an `update` or `state` closure, held until the closure
/// returns: sending needs locks the closure's caller holds.
enum Held {
    Broadcast(String, Vec<Value>),
    SendTo(String, String, Vec<Value>),
    Close(String, String),
}

thread_local! {
    /// The closures running on this thread, innermost last, by the address of their actor's
    /// cell, with what they sent so far. A closure cannot await, so what runs while it is on
    /// this stack runs inside it.
    static HELD: RefCell<Vec<(usize, Vec<Held>)>> = const { RefCell::new(Vec::new()) };
}

/// Holds what actor code sends while a state closure of actor `cell` runs on this thread.
struct Holding {
    finished: bool,
}

impl Holding {
    fn begin(cell: usize) -> Self {
        HELD.with(|held| held.borrow_mut().push((cell, Vec::new())));
        Self { finished: false }
    }

    /// Stops holding; what was sent, in order.
    fn finish(mut self) -> Vec<Held> {
        self.finished = true;
        HELD.with(|held| held.borrow_mut().pop())
            .map(|(_, items)| items)
            .unwrap_or_default()
    }
}

impl Drop for Holding {
    /// A closure that panicked sends nothing.
    fn drop(&mut self) {
        if !self.finished {
            HELD.with(|held| held.borrow_mut().pop());
        }
    }
}

/// Holds `item` if a state closure of actor `cell` is running on this thread; gives it back
/// otherwise.
fn hold(cell: usize, item: Held) -> Result<(), Held> {
    HELD.with(|held| {
        match held
            .borrow_mut()
            .iter_mut()
            .rev()
            .find(|(id, _)| *id == cell)
        {
            Some((_, items)) => {
                items.push(item);
                Ok(())
            }
            None => Err(item),
        }
    })
}

/// The refusal a call's changes or events met, if any.
fn failed(failure: &Option<Arc<Mutex<Option<ActorError>>>>) -> ActorResult<()> {
    match failure.as_ref().and_then(|failure| failure.lock().take()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// `Err` with the error that retired an instance, if it is retired (`retired` is its
/// [`ActorCell::retired`]).
pub(crate) fn refuse_if_retired(retired: &OnceLock<ActorError>) -> ActorResult<()> {
    match retired.get() {
        Some(error) => Err(error.clone()),
        None => Ok(()),
    }
}

fn stopping() -> ActorError {
    ActorError::public("actor", "stopping", "The actor is stopping")
}

fn too_many_subscriptions(event_name: &str, limit: usize) -> ActorError {
    ActorError::public(
        "connection",
        "too_many_subscriptions",
        format!("Subscribing to {event_name:?} would pass this connection's limit of {limit} subscriptions"),
    )
}

fn forbidden(message: String) -> ActorError {
    ActorError::public("auth", "forbidden", message).with_status(403)
}

/// How long `on_sleep`, `on_destroy` and connection hooks may run during a stop.
const STOP_HOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Close code and reason sent to connections when their actor sleeps or is destroyed; clients
/// reconnect (and so wake the actor) on their own.
const CLOSE_STOPPING: (u16, &str) = (1000, "actor.stopping");

/// Who an actor is; fixed for its lifetime.
#[derive(Clone, Debug)]
pub struct ActorMeta {
    /// The actor's id.
    pub actor_id: String,
    /// The actor type's registered name.
    pub name: String,
    /// The actor's key.
    pub key: Vec<String>,
    /// The create input (`Null` when none was given).
    pub input: Value,
}

/// The server's view of a running actor, whatever its state type.
pub trait ActorInstance: Send + Sync + 'static {
    /// Who the actor is.
    fn meta(&self) -> &ActorMeta;

    /// The instance's in-flight work and stop requests, which decide when it may sleep.
    fn activity(&self) -> &Arc<Activity>;

    /// What the inspector watches: changes as they happen and recent errors.
    fn inspect(&self) -> &Inspect;

    /// Calls an action as connection `conn_id` (or as nobody, for alarms). Resolves once the
    /// action is done and the state changes it made are durable.
    fn call_action(
        self: Arc<Self>,
        conn_id: Option<Arc<str>>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>>;

    /// A stateless call: admits a short-lived connection with `params`, runs the action as it,
    /// and ends the connection.
    fn call_stateless(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>>;

    /// Admits a WebSocket connection with the default [`ConnLimits`]; it lasts until the
    /// returned [`Connection`] is dropped.
    fn connect(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
    ) -> BoxFuture<'static, ActorResult<Connection>> {
        self.connect_with_limits(params, request, ConnLimits::default())
    }

    /// Admits a WebSocket connection under `limits` (a server's, see [`ConnLimits`]).
    fn connect_with_limits(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        limits: ConnLimits,
    ) -> BoxFuture<'static, ActorResult<Connection>>;

    /// Subscribes a connection to an event (or unsubscribes it); a subscription refused by the
    /// event's `can_subscribe` rule fails with `auth/forbidden`, one past the connection's
    /// [`ConnLimits::max_subscriptions`] with `connection/too_many_subscriptions`.
    fn set_subscription(
        self: Arc<Self>,
        conn_id: &str,
        event_name: &str,
        subscribe: bool,
    ) -> ActorResult<()>;

    /// Puts back a connection this actor hibernated when it went to sleep: same id, params,
    /// state and subscriptions; no connection hooks run.
    fn resume(
        self: Arc<Self>,
        snapshot: HibernatedConn,
        limits: ConnLimits,
    ) -> BoxFuture<'static, ActorResult<Connection>>;

    /// A queue send from a client, as a short-lived connection with `params`: checks the queue
    /// is declared (else the message is dropped) and its `can_publish` rule, enqueues, and with
    /// `wait` waits for the completion (`timeout_ms` as the client gave it).
    fn send_queue(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        send: QueueSend,
    ) -> BoxFuture<'static, ActorResult<SendOutcome>>;

    /// Ends a connection: runs `on_disconnect`, then forgets it.
    fn disconnect(self: Arc<Self>, conn_id: Arc<str>);

    /// The state as JSON (for the inspector).
    fn state_json(&self) -> ActorResult<Value>;

    /// Replaces the whole state with `state` (for the inspector); durable when it resolves.
    fn replace_state(self: Arc<Self>, state: Value) -> BoxFuture<'static, ActorResult<()>>;

    /// The open connections (for the inspector).
    fn connections(&self) -> Vec<ConnInfo>;

    /// The names of the actor's actions, sorted.
    fn action_names(&self) -> Vec<String>;

    /// How many messages are queued, the limit, and the first `limit` of them.
    fn queue_snapshot(&self, limit: usize) -> QueueSnapshot;

    /// Asks the actor to destroy itself once its work in flight is done (as `c.destroy()`).
    fn request_destroy(&self);

    /// Asks the actor to go to sleep once its work in flight is done (as `c.sleep()`):
    /// `on_sleep` runs and the state is saved.
    fn request_sleep(&self);

    /// A raw HTTP request (`on_request`), as a short-lived connection with `params`.
    fn handle_request(
        self: Arc<Self>,
        params: Value,
        request: Request,
    ) -> BoxFuture<'static, ActorResult<Response>>;

    /// A raw WebSocket (`on_websocket`), as a connection with `params` that lasts until the
    /// handler returns.
    fn handle_websocket(
        self: Arc<Self>,
        params: Value,
        request: RequestInfo,
        socket: RawWebSocket,
    ) -> BoxFuture<'static, ActorResult<()>>;
}

/// A queue send as a client makes it.
#[derive(Clone, Debug)]
pub struct QueueSend {
    /// The queue name.
    pub name: String,
    /// The message.
    pub body: Value,
    /// Answer only once the actor completed the message.
    pub wait: bool,
    /// How long to wait when `wait` is set; `None`: no limit, zero or less: at once.
    pub timeout_ms: Option<i64>,
}

struct Versioned<S> {
    value: S,
    version: u64,
    /// `value` as it is saved: checked to load back into `S`, and what a rolled-back change
    /// returns to.
    saved: Vec<u8>,
}

/// The state as it is saved, if it survives the trip: no float JSON would write as `null`, and
/// the bytes deserialize back into `S`.
fn encode_state<S: State>(state: &S) -> Result<Vec<u8>, String> {
    crate::finite::check(state).map_err(|problem| problem.describe("state"))?;
    let bytes = serde_json::to_vec(state)
        .map_err(|error| format!("the state does not serialize: {error}"))?;
    serde_json::from_slice::<S>(&bytes)
        .map_err(|error| format!("the state as saved would not load back: {error}"))?;
    Ok(bytes)
}

fn invalid_state(reason: &str) -> ActorError {
    ActorError::public(
        "state",
        "invalid",
        format!("The state change was refused and rolled back: {reason}"),
    )
}

#[derive(Default)]
struct Outbox {
    waiting: VecDeque<(u64, Arc<SharedEvent>)>,
    draining: bool,
}

pub(crate) struct ActorCell<S> {
    pub(crate) meta: ActorMeta,
    pub(crate) vars: Vars,
    definition: Arc<Actor<S>>,
    state: Mutex<Versioned<S>>,
    /// `state.version`, readable without the state lock (written under it).
    version: AtomicU64,
    durable: AtomicU64,
    save_lock: tokio::sync::Mutex<()>,
    /// Set when a save failed, to its error: the instance is retired (see the module doc), and
    /// every later write of it answers this error.
    pub(crate) retired: OnceLock<ActorError>,
    pub(crate) store: Arc<dyn ActorStore>,
    pub(crate) runtime: Weak<Runtime>,
    conns: Mutex<HashMap<Arc<str>, ConnEntry>>,
    raw_sockets: Mutex<Vec<WsSender>>,
    outbox: Mutex<Outbox>,
    activity: Arc<Activity>,
    pub(crate) queue: Arc<QueueCore>,
    pub(crate) inspect: Arc<Inspect>,
    run_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Open from start to stop, if the actor declares a database.
    pub(crate) db: Option<Db>,
    action_metrics: ActorActions,
    this: Weak<Self>,
}

/// Where an instance's state comes from when it starts.
pub(crate) enum Origin {
    /// A brand-new actor: state from the definition, `on_create` runs.
    Created,
    /// Waking: the saved state.
    Saved(Vec<u8>),
}

impl<S: State> ActorCell<S> {
    /// Starts an instance: opens and migrates its database (if it has one), then boots it. A
    /// start that fails closes the database again.
    pub(crate) async fn start(
        definition: Arc<Actor<S>>,
        meta: ActorMeta,
        origin: Origin,
        store: Arc<dyn ActorStore>,
        runtime: Weak<Runtime>,
    ) -> ActorResult<Arc<Self>> {
        let db = match &definition.database {
            Some(database) => Some(database.open(store.as_ref(), &meta.actor_id).await?),
            None => None,
        };
        let started = Self::boot(definition, meta, origin, store, runtime, db.clone()).await;
        if let (Err(_), Some(db)) = (&started, &db) {
            db.close().await;
        }
        started
    }

    /// Makes or loads the state, runs `on_create` (new actors) and `on_wake`, saves, and begins
    /// watching for sleep.
    async fn boot(
        definition: Arc<Actor<S>>,
        meta: ActorMeta,
        origin: Origin,
        store: Arc<dyn ActorStore>,
        runtime: Weak<Runtime>,
        db: Option<Db>,
    ) -> ActorResult<Arc<Self>> {
        let (value, version, saved) = match &origin {
            Origin::Saved(bytes) => {
                let value = serde_json::from_slice(bytes).map_err(|error| {
                    ActorError::internal(format!(
                        "saved state of actor {} does not load: {error}",
                        meta.actor_id
                    ))
                })?;
                (value, 0, bytes.clone())
            }
            // Version 1 against durable 0: a new actor's first state is not saved yet.
            Origin::Created => {
                let value = definition.initial_state(meta.input.clone())?;
                let saved = encode_state(&value).map_err(|reason| {
                    ActorError::public(
                        "state",
                        "invalid",
                        format!("The initial state cannot be saved: {reason}"),
                    )
                })?;
                (value, 1, saved)
            }
        };
        let vars = definition.new_vars();
        let activity = Activity::new();
        let inspect = Arc::new(Inspect::default());
        let queue = QueueCore::load(
            store.clone(),
            definition.options.queue_limits,
            activity.clone(),
            inspect.clone(),
        )
        .await?;
        let action_metrics = ActorActions::new(&meta.name, definition.handlers.actions.keys());
        let cell = Arc::new_cyclic(|this| Self {
            meta,
            vars,
            definition,
            state: Mutex::new(Versioned {
                value,
                version,
                saved,
            }),
            version: AtomicU64::new(version),
            durable: AtomicU64::new(0),
            save_lock: tokio::sync::Mutex::new(()),
            retired: OnceLock::new(),
            store,
            runtime,
            conns: Mutex::new(HashMap::new()),
            raw_sockets: Mutex::new(Vec::new()),
            outbox: Mutex::new(Outbox::default()),
            activity,
            queue,
            inspect,
            run_task: Mutex::new(None),
            db,
            action_metrics,
            this: this.clone(),
        });
        let handlers = &cell.definition.handlers;
        if let (Origin::Created, Some(on_create)) = (&origin, &handlers.on_create) {
            let ctx = cell.ctx(None, None);
            let failure = ctx.failure.clone();
            on_create(ctx, cell.meta.input.clone()).await?;
            failed(&failure)?;
        }
        if let Some(on_wake) = &handlers.on_wake {
            let ctx = cell.ctx(None, None);
            let failure = ctx.failure.clone();
            on_wake(ctx).await?;
            failed(&failure)?;
        }
        cell.save().await?;
        if let Some(run) = cell.definition.handlers.run.clone() {
            // Run it up to its first await point now, as a JS runtime would, so that whatever
            // it does first is done before the request that started the actor is served.
            let mut running = Box::pin(cell.clone().run(run));
            if futures::poll!(running.as_mut()).is_pending() {
                *cell.run_task.lock() = Some(tokio::spawn(running));
            }
        }
        tokio::spawn(cell.clone().live());
        Ok(cell)
    }

    /// Runs the `run` handler; if it ends on its own (not because the actor stops), the actor
    /// is destroyed.
    async fn run(self: Arc<Self>, run: HookFn<S>) {
        self.activity.set_running(true);
        let mut ctx = self.ctx(None, None);
        ctx.in_run = true;
        ctx.failure = None;
        let outcome = run(ctx).await;
        self.activity.set_running(false);
        if self.activity.is_aborted() {
            return;
        }
        match outcome {
            Ok(()) => {
                tracing::debug!(actor = %self.meta.actor_id, "run handler returned; destroying the actor")
            }
            Err(error) => {
                tracing::warn!(actor = %self.meta.actor_id, %error, "run handler failed; destroying the actor");
                self.inspect.error("run", &error);
            }
        }
        self.activity.request(Stop::Destroy);
    }

    pub(crate) fn ctx(
        self: &Arc<Self>,
        conn_id: Option<Arc<str>>,
        request: Option<Arc<RequestInfo>>,
    ) -> Ctx<S> {
        let conn_link = conn_id.as_deref().and_then(|id| self.conn_link(id));
        Ctx {
            cell: self.clone(),
            conn_id,
            conn_link,
            request,
            pending_completions: Arc::default(),
            in_run: false,
            failure: Some(Arc::default()),
            vars: std::marker::PhantomData,
        }
    }

    /// Whether the definition has an action called `name`.
    pub(crate) fn has_action(&self, name: &str) -> bool {
        self.definition.handlers.actions.contains_key(name)
    }

    /// What a long-lived connection shares with its socket; `None` for a short-lived one.
    fn conn_link(&self, conn_id: &str) -> Option<Arc<ConnLink>> {
        let conns = self.conns.lock();
        let sender = conns.get(conn_id)?.sender.as_ref()?;
        Some(sender.link.clone())
    }

    /// This actor's key in [`HELD`].
    fn holding_key(&self) -> usize {
        self as *const Self as usize
    }

    pub(crate) fn read_state<R>(&self, read: impl FnOnce(&S) -> R) -> R {
        let holding = Holding::begin(self.holding_key());
        let result = read(&self.state.lock().value);
        self.send_held(holding.finish());
        result
    }

    /// Sends what a state closure sent, now that the state lock is free.
    fn send_held(&self, held: Vec<Held>) {
        for item in held {
            match item {
                Held::Broadcast(name, args) => self.broadcast(name, args),
                Held::SendTo(conn_id, name, args) => {
                    self.send_to(&conn_id, name, args);
                }
                Held::Close(conn_id, reason) => self.close_conn(&conn_id, reason),
            }
        }
    }

    /// Runs `change` on the state, then checks the new state survives saving and loading; if
    /// not, or if the call (`failure`) was already refused, the change is rolled back and the
    /// call is marked refused.
    pub(crate) fn update_state<R>(
        &self,
        failure: Option<&Mutex<Option<ActorError>>>,
        change: impl FnOnce(&mut S) -> R,
    ) -> R {
        let refused_call = failure.is_some_and(|failure| failure.lock().is_some());
        // Events sent inside `change` wait until it returns and the lock is free; they follow
        // the change, so they also wait until it is durable.
        let holding = Holding::begin(self.holding_key());
        let (result, refusal) = {
            let mut state = self.state.lock();
            let result = change(&mut state.value);
            let checked = if refused_call {
                Err(None)
            } else {
                encode_state(&state.value).map_err(Some)
            };
            match checked {
                Ok(saved) => {
                    state.version += 1;
                    state.saved = saved;
                    self.version.store(state.version, Ordering::Release);
                    (result, None)
                }
                Err(reason) => {
                    // The saved bytes always load (that was checked when they were made).
                    match serde_json::from_slice(&state.saved) {
                        Ok(previous) => state.value = previous,
                        Err(error) => {
                            tracing::error!(actor = %self.meta.actor_id, %error, "rolling back a refused change failed")
                        }
                    }
                    (result, Some(reason))
                }
            }
        };
        let held = holding.finish();
        match refusal {
            None => self.send_held(held),
            Some(None) => {
                tracing::debug!(actor = %self.meta.actor_id, "discarding a change of a refused call");
                return result;
            }
            Some(Some(reason)) => {
                let error = invalid_state(&reason);
                tracing::warn!(actor = %self.meta.actor_id, %error, "refused a state change");
                self.inspect.error("state change", &error);
                if let Some(failure) = failure {
                    failure.lock().get_or_insert(error);
                }
                return result;
            }
        }
        self.inspect.notify(Change::State);
        if let (Some(on_change), Some(this)) = (
            &self.definition.handlers.on_state_change,
            self.this.upgrade(),
        ) {
            on_change(&this.ctx(None, None));
        }
        result
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Returns once every change up to `version` is durable.
    async fn make_durable(&self, version: u64) -> ActorResult<()> {
        if self.durable.load(Ordering::Acquire) >= version {
            return Ok(());
        }
        let _saving = self.save_lock.lock().await;
        // A save that finished while we waited may already cover us.
        if self.durable.load(Ordering::Acquire) >= version {
            return Ok(());
        }
        // After a failed save, no change above `durable` may become durable through this
        // instance: it is lost, and the client that made it was told so.
        self.refuse_if_retired()?;
        let (bytes, saved_version) = {
            let state = self.state.lock();
            (state.saved.clone(), state.version)
        };
        let saved = self.store.save_state(bytes).await;
        if let Err(error) = saved {
            let error = ActorError::from_storage(
                &error,
                format!("saving actor {} failed", self.meta.actor_id),
            );
            self.inspect.error("save", &error);
            self.retire(error.clone());
            return Err(error);
        }
        self.durable.fetch_max(saved_version, Ordering::AcqRel);
        Ok(())
    }

    /// The error every write answers once the instance is retired.
    pub(crate) fn refuse_if_retired(&self) -> ActorResult<()> {
        refuse_if_retired(&self.retired)
    }

    /// A save failed with `error`: retires the instance (see the module doc). Called under the
    /// save lock, so `durable` no longer moves.
    fn retire(&self, error: ActorError) {
        if self.retired.set(error).is_err() {
            return;
        }
        tracing::warn!(
            actor = %self.meta.actor_id,
            durable = self.durable.load(Ordering::Acquire),
            version = self.version(),
            "a save failed: the changes not yet saved are lost; retiring the instance"
        );
        self.discard_lost_events();
        self.activity.request(Stop::Retire);
    }

    pub(crate) async fn save(&self) -> ActorResult<()> {
        self.make_durable(self.version()).await
    }

    pub(crate) fn broadcast(&self, name: String, args: Vec<Value>) {
        let (name, args) = match hold(self.holding_key(), Held::Broadcast(name, args)) {
            Ok(()) => return,
            Err(Held::Broadcast(name, args)) => (name, args),
            Err(_) => unreachable!("hold gives back what it was given"),
        };
        let event = Arc::new(SharedEvent::new(name, args));
        let version = self.version();
        let mut outbox = self.outbox.lock();
        if !outbox.draining && self.durable.load(Ordering::Acquire) >= version {
            drop(outbox);
            self.deliver(&event);
            return;
        }
        outbox.waiting.push_back((version, event));
        if !outbox.draining {
            outbox.draining = true;
            if let Some(this) = self.this.upgrade() {
                tokio::spawn(async move { this.drain_outbox().await });
            }
        }
    }

    /// Makes waiting events durable and releases them, in order.
    async fn drain_outbox(self: Arc<Self>) {
        loop {
            let version = {
                let mut outbox = self.outbox.lock();
                match outbox.waiting.front() {
                    Some((version, _)) => *version,
                    None => {
                        outbox.draining = false;
                        return;
                    }
                }
            };
            if let Err(error) = self.make_durable(version).await {
                // The save failed, so the instance is retired: the state these events describe
                // will never be durable, and they must never leave.
                tracing::debug!(actor = %self.meta.actor_id, %error, "dropping the events of changes that were not saved");
                self.discard_lost_events();
                return;
            }
            self.release_durable_events();
        }
    }

    /// On a retired instance: delivers the waiting events whose state is durable and drops the
    /// others, which describe lost changes; no more draining.
    fn discard_lost_events(&self) {
        self.release_durable_events();
        let mut outbox = self.outbox.lock();
        outbox.waiting.clear();
        outbox.draining = false;
    }

    /// Delivers, in order, the waiting events whose state is durable. Called by the outbox
    /// task and by every action before its response goes out, so that a caller always sees
    /// the events its action broadcast before the action's result.
    fn release_durable_events(&self) {
        let durable = self.durable.load(Ordering::Acquire);
        let mut outbox = self.outbox.lock();
        while outbox
            .waiting
            .front()
            .is_some_and(|(version, _)| *version <= durable)
        {
            if let Some((_, event)) = outbox.waiting.pop_front() {
                self.deliver(&event);
            }
        }
    }

    fn deliver(&self, event: &Arc<SharedEvent>) {
        self.inspect.event(&event.name, &event.args);
        let mut sent = 0;
        for entry in self.conns.lock().values() {
            if entry.subscriptions.contains(&event.name) {
                entry.send(Outgoing::Event(event.clone()));
                sent += 1;
            }
        }
        metrics::events_sent(sent);
    }

    /// Sends an event to one connection; `false` if there is no such connection.
    /// Inside a state closure it is sent when the closure returns.
    pub(crate) fn send_to(&self, conn_id: &str, name: String, args: Vec<Value>) -> bool {
        let conns = self.conns.lock();
        let Some(entry) = conns.get(conn_id) else {
            return false;
        };
        let held = Held::SendTo(conn_id.to_owned(), name, args);
        if let Err(Held::SendTo(_, name, args)) = hold(self.holding_key(), held) {
            entry.send(Outgoing::Event(Arc::new(SharedEvent::direct(name, args))));
            metrics::events_sent(1);
        }
        true
    }

    /// Closes one connection normally (code 1000) with `reason`; inside a state closure, once
    /// the closure returns (after what it sent before).
    pub(crate) fn close_conn(&self, conn_id: &str, reason: String) {
        let reason = match hold(self.holding_key(), Held::Close(conn_id.to_owned(), reason)) {
            Ok(()) => return,
            Err(Held::Close(_, reason)) => reason,
            Err(_) => unreachable!("hold gives back what it was given"),
        };
        if let Some(entry) = self.conns.lock().get(conn_id) {
            entry.send(Outgoing::Close(1000, reason));
        }
    }

    /// Runs `read` on one connection's record.
    pub(crate) fn with_conn<R>(
        &self,
        conn_id: &str,
        read: impl FnOnce(&mut ConnEntry) -> R,
    ) -> Option<R> {
        self.conns.lock().get_mut(conn_id).map(read)
    }

    /// Runs `read` on the record of every connection, with its id, but those leaving: like the
    /// official runtime, a connection is no longer listed once its disconnect starts.
    pub(crate) fn each_conn<R>(&self, mut read: impl FnMut(&str, &ConnEntry) -> R) -> Vec<R> {
        self.conns
            .lock()
            .iter()
            .filter(|(_, entry)| !entry.releasing)
            .map(|(id, entry)| read(id, entry))
            .collect()
    }

    pub(crate) fn request_stop(&self, stop: Stop) {
        self.activity.request(stop);
    }

    /// Admits a connection: `on_before_connect`, `create_conn_state`, registration, `on_connect`.
    async fn admit(
        self: &Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        sender: Option<OutgoingSender>,
        open: Option<ActivityGuard>,
    ) -> ActorResult<Arc<str>> {
        let request = request.map(Arc::new);
        let handlers = &self.definition.handlers;
        if let Some(before_connect) = &handlers.on_before_connect {
            before_connect(self.ctx(None, request.clone()), params.clone()).await?;
        }
        let state = match &handlers.create_conn_state {
            Some(create) => create(self.ctx(None, request.clone()), params.clone()).await?,
            None => Value::Null,
        };
        let id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        self.conns.lock().insert(
            id.clone(),
            ConnEntry {
                sender,
                subscriptions: HashSet::new(),
                params,
                state,
                _open: open,
                releasing: false,
            },
        );
        self.inspect.notify(Change::Connections);
        if let Some(on_connect) = &handlers.on_connect {
            if let Err(error) = on_connect(self.ctx(Some(id.clone()), request)).await {
                self.conns.lock().remove(&id);
                self.inspect.notify(Change::Connections);
                return Err(error);
            }
        }
        Ok(id)
    }

    /// Ends a connection: unlists it, runs `on_disconnect` (while its record is still readable
    /// by its own id), then forgets it.
    async fn release(self: &Arc<Self>, conn_id: Arc<str>) {
        // Claimed under the lock: a socket closing while its actor stops may release the same
        // connection twice, and `on_disconnect` must run once.
        // Once claimed, the connection is gone for everyone else (it is no longer listed and
        // gets no more broadcasts), while `on_disconnect` can still read its params and state.
        let claimed = self.conns.lock().get_mut(&conn_id).is_some_and(|entry| {
            let claimed = !std::mem::replace(&mut entry.releasing, true);
            if claimed {
                entry.subscriptions.clear();
                if let Some(sender) = &entry.sender {
                    sender.link.gone.raise();
                }
            }
            claimed
        });
        if !claimed {
            return;
        }
        self.inspect.notify(Change::Connections);
        if let Some(on_disconnect) = &self.definition.handlers.on_disconnect {
            let _busy = self.activity.begin();
            if let Err(error) = on_disconnect(self.ctx(Some(conn_id.clone()), None)).await {
                tracing::warn!(actor = %self.meta.actor_id, %error, "on_disconnect failed");
                self.inspect.error("on_disconnect", &error);
            }
        }
        self.conns.lock().remove(&conn_id);
        if let Err(error) = self.save().await {
            tracing::error!(actor = %self.meta.actor_id, %error, "saving after a disconnect failed");
        }
    }

    /// Runs `body` as a short-lived connection with `params`.
    async fn as_ephemeral<T, Fut>(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        body: impl FnOnce(Arc<Self>, Arc<str>) -> Fut,
    ) -> ActorResult<T>
    where
        Fut: Future<Output = ActorResult<T>>,
    {
        let conn_id = self.admit(params, request, None, None).await?;
        let result = body(self.clone(), conn_id.clone()).await;
        self.release(conn_id).await;
        result
    }

    /// The instance's life after start: wait for the reason to stop, then stop.
    async fn live(self: Arc<Self>) {
        let options = &self.definition.options;
        let stop = self
            .activity
            .until_stop(options.sleep_timeout, options.no_sleep)
            .await;
        // The `run` handler saw the abort signal; give it its stop timeout to wrap up.
        let run_task = self.run_task.lock().take();
        if let Some(mut run_task) = run_task {
            if tokio::time::timeout(options.run_stop_timeout, &mut run_task)
                .await
                .is_err()
            {
                tracing::warn!(actor = %self.meta.actor_id, "run handler did not return in time; cancelling it");
                run_task.abort();
            }
        }
        let handlers = &self.definition.handlers;
        match stop {
            Stop::Sleep => self.run_stop_hook(&handlers.on_sleep).await,
            Stop::Destroy => self.run_stop_hook(&handlers.on_destroy).await,
            // Its memory holds changes that were refused: no hook may act on them.
            Stop::Retire => {}
        }
        self.close_everything(stop).await;
        if let Some(db) = &self.db {
            db.close().await;
        }
        let runtime = self.runtime.upgrade();
        match stop {
            Stop::Sleep => {
                if let Err(error) = self.save().await {
                    tracing::error!(actor = %self.meta.actor_id, %error, "saving before sleep failed");
                }
                tracing::debug!(actor = %self.meta.actor_id, "actor sleeps");
            }
            Stop::Retire => {
                tracing::info!(actor = %self.meta.actor_id, "retired instance stopped; the next request loads the saved state");
            }
            Stop::Destroy => {
                match &runtime {
                    Some(runtime) => runtime.delete_destroyed(&self.meta.actor_id).await,
                    None => {
                        tracing::error!(actor = %self.meta.actor_id, "the runtime was gone before the destroyed actor was deleted; its data stays")
                    }
                }
                tracing::debug!(actor = %self.meta.actor_id, "actor destroyed");
            }
        }
        if let Some(runtime) = &runtime {
            let (how, event) = match stop {
                Stop::Sleep => (ActorStopped::Slept, "sleep"),
                Stop::Destroy => (ActorStopped::Destroyed, "destroy"),
                Stop::Retire => (ActorStopped::Retired, "retire"),
            };
            runtime.forget_instance(&self.meta.actor_id, how);
            runtime.population.stopped(&self.meta.name, event);
        }
        self.activity.finish_stop();
    }

    async fn run_stop_hook(self: &Arc<Self>, hook: &Option<HookFn<S>>) {
        let Some(hook) = hook else { return };
        match tokio::time::timeout(STOP_HOOK_TIMEOUT, hook(self.ctx(None, None))).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(actor = %self.meta.actor_id, %error, "stop hook failed");
                self.inspect.error("stop hook", &error);
            }
            Err(_) => tracing::warn!(actor = %self.meta.actor_id, "stop hook timed out"),
        }
    }

    /// Ends every connection and raw socket of a stopping instance.
    async fn close_everything(self: &Arc<Self>, stop: Stop) {
        if stop == Stop::Sleep && self.definition.options.hibernatable_connections {
            self.hibernate_connections();
        }
        let ids: Vec<Arc<str>> = self.conns.lock().keys().cloned().collect();
        for id in ids {
            if let Some(entry) = self.conns.lock().get(&id) {
                entry.send(Outgoing::Close(CLOSE_STOPPING.0, CLOSE_STOPPING.1.into()));
            }
            let release = self.release(id);
            if tokio::time::timeout(STOP_HOOK_TIMEOUT, release)
                .await
                .is_err()
            {
                tracing::warn!(actor = %self.meta.actor_id, "on_disconnect timed out while stopping");
            }
        }
        for socket in self.raw_sockets.lock().drain(..) {
            socket.close(CLOSE_STOPPING.0, CLOSE_STOPPING.1);
        }
    }

    /// Hands every WebSocket connection its snapshot and forgets it without `on_disconnect`:
    /// the socket stays open while the actor sleeps (see `ActorInstance::resume`).
    fn hibernate_connections(&self) {
        self.conns.lock().retain(|id, entry| {
            let Some(sender) = &entry.sender else {
                return true;
            };
            let snapshot = HibernatedConn {
                id: id.clone(),
                params: entry.params.clone(),
                state: entry.state.clone(),
                subscriptions: entry.subscriptions.clone(),
            };
            sender.send(Outgoing::Hibernate(Box::new(snapshot)));
            false
        });
        self.inspect.notify(Change::Connections);
    }

    fn timed_out(&self) -> ActorError {
        ActorError::public("action", "timed_out", "Action timed out")
    }
}

impl<S: State> ActorInstance for ActorCell<S> {
    fn meta(&self) -> &ActorMeta {
        &self.meta
    }

    fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    fn inspect(&self) -> &Inspect {
        &self.inspect
    }

    fn call_action(
        self: Arc<Self>,
        conn_id: Option<Arc<str>>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>> {
        let Some(action) = self.definition.handlers.actions.get(&name).cloned() else {
            self.action_metrics.record(&name, Duration::ZERO, false);
            return futures::future::ready(Err(ActorError::action_not_found(&name))).boxed();
        };
        let started = Instant::now();
        let Some(busy) = self.activity.begin() else {
            return futures::future::ready(Err(stopping())).boxed();
        };
        let trace = trace::action_span(&self.meta, &name);
        let start = SystemTime::now();
        let ctx = self.ctx(conn_id, None);
        let failure = ctx.failure.clone();
        let call = DirectWrites::around(action(ctx, args));
        let span = trace.span.clone();
        let call = async move {
            let result = tokio::time::timeout(self.definition.options.action_timeout, call)
                .await
                .unwrap_or_else(|_| Err(self.timed_out()));
            // A refused change or event is why the call failed, whatever it returned.
            let result = failed(&failure).and(result);
            if let Err(error) = &result {
                self.inspect.error(format!("action {name}"), error);
            }
            // Also on error: whatever the action changed before failing must not be lost.
            let saved = self.save().await;
            if saved.is_ok() {
                self.release_durable_events();
            }
            drop(busy);
            let result = saved.and(result);
            let elapsed = started.elapsed();
            self.action_metrics.record(&name, elapsed, result.is_ok());
            self.inspect
                .span(trace::finish(&trace, name, start, elapsed, &result));
            result
        };
        // Not wrapped when the span is off: moving the call into the wrapper costs a copy.
        if span.is_disabled() {
            call.boxed()
        } else {
            call.instrument(span).boxed()
        }
    }

    fn call_stateless(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>> {
        let Some(busy) = self.activity.begin() else {
            return futures::future::ready(Err(stopping())).boxed();
        };
        async move {
            let result = self
                .as_ephemeral(params, request, |this, conn_id| {
                    this.call_action(Some(conn_id), name, args)
                })
                .await;
            drop(busy);
            result
        }
        .boxed()
    }

    fn connect_with_limits(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        limits: ConnLimits,
    ) -> BoxFuture<'static, ActorResult<Connection>> {
        async move {
            let open = self.activity.open().ok_or_else(stopping)?;
            let (sender, outgoing) = outgoing_queue(limits);
            let id = self
                .admit(params, request, Some(sender.clone()), Some(open))
                .await?;
            self.save().await?;
            Ok(Connection {
                detached: false,
                id,
                actor: self,
                sender,
                outgoing,
            })
        }
        .boxed()
    }

    fn resume(
        self: Arc<Self>,
        snapshot: HibernatedConn,
        limits: ConnLimits,
    ) -> BoxFuture<'static, ActorResult<Connection>> {
        async move {
            let open = self.activity.open().ok_or_else(stopping)?;
            let (sender, outgoing) = outgoing_queue(limits);
            self.conns.lock().insert(
                snapshot.id.clone(),
                ConnEntry {
                    sender: Some(sender.clone()),
                    subscriptions: snapshot.subscriptions,
                    params: snapshot.params,
                    state: snapshot.state,
                    _open: Some(open),
                    releasing: false,
                },
            );
            self.inspect.notify(Change::Connections);
            Ok(Connection {
                detached: false,
                id: snapshot.id,
                actor: self,
                sender,
                outgoing,
            })
        }
        .boxed()
    }

    fn set_subscription(
        self: Arc<Self>,
        conn_id: &str,
        event_name: &str,
        subscribe: bool,
    ) -> ActorResult<()> {
        if subscribe {
            if let Some(can_subscribe) = self.definition.handlers.event_rules.get(event_name) {
                if !can_subscribe(&self.ctx(Some(conn_id.into()), None)) {
                    return Err(forbidden(format!(
                        "Subscribing to {event_name:?} is not allowed"
                    )));
                }
            }
        }
        self.with_conn(conn_id, |entry| {
            if !subscribe {
                entry.subscriptions.remove(event_name);
                return Ok(());
            }
            let limit = entry
                .sender
                .as_ref()
                .map(|sender| sender.link.max_subscriptions());
            if let Some(limit) = limit.filter(|&limit| {
                entry.subscriptions.len() >= limit && !entry.subscriptions.contains(event_name)
            }) {
                return Err(too_many_subscriptions(event_name, limit));
            }
            entry.subscriptions.insert(event_name.to_owned());
            Ok(())
        })
        .unwrap_or(Ok(()))?;
        self.inspect.notify(Change::Connections);
        Ok(())
    }

    fn state_json(&self) -> ActorResult<Value> {
        Ok(self.read_state(|state| serde_json::to_value(state))?)
    }

    fn replace_state(self: Arc<Self>, state: Value) -> BoxFuture<'static, ActorResult<()>> {
        async move {
            let state: S = serde_json::from_value(state).map_err(|error| {
                ActorError::public(
                    "state",
                    "invalid",
                    format!("the state does not fit: {error}"),
                )
            })?;
            let failure = Some(Arc::new(Mutex::new(None)));
            self.update_state(failure.as_deref(), |current| *current = state);
            failed(&failure)?;
            self.save().await
        }
        .boxed()
    }

    fn connections(&self) -> Vec<ConnInfo> {
        self.each_conn(|id, entry| ConnInfo {
            id: id.to_owned(),
            params: entry.params.clone(),
            state: entry.state.clone(),
            subscriptions: {
                let mut names: Vec<String> = entry.subscriptions.iter().cloned().collect();
                names.sort();
                names
            },
        })
    }

    fn action_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.definition.handlers.actions.keys().cloned().collect();
        names.sort();
        names
    }

    fn request_destroy(&self) {
        self.request_stop(Stop::Destroy);
    }

    fn request_sleep(&self) {
        self.request_stop(Stop::Sleep);
    }

    fn queue_snapshot(&self, limit: usize) -> QueueSnapshot {
        self.queue.snapshot(limit)
    }

    fn send_queue(
        self: Arc<Self>,
        params: Value,
        request: Option<RequestInfo>,
        send: QueueSend,
    ) -> BoxFuture<'static, ActorResult<SendOutcome>> {
        let Some(busy) = self.activity.begin() else {
            return futures::future::ready(Err(stopping())).boxed();
        };
        async move {
            let outcome = self
                .as_ephemeral(params, request, |this, conn_id| async move {
                    let Some(rule) = this.definition.handlers.queues.get(&send.name) else {
                        tracing::debug!(actor = %this.meta.actor_id, queue = %send.name, "dropping a message for an undeclared queue");
                        return Ok(SendOutcome::Completed(None));
                    };
                    if let Some(can_publish) = rule {
                        if !can_publish(&this.ctx(Some(conn_id), None)) {
                            return Err(forbidden(format!("Sending to queue {:?} is not allowed", send.name)));
                        }
                    }
                    let completion = this.queue.enqueue(&send.name, send.body, send.wait).await?;
                    Ok(match completion {
                        Some(completion) => await_completion(completion, send.timeout_ms).await,
                        None => SendOutcome::Completed(None),
                    })
                })
                .await;
            drop(busy);
            outcome
        }
        .boxed()
    }

    fn disconnect(self: Arc<Self>, conn_id: Arc<str>) {
        tokio::spawn(async move { self.release(conn_id).await });
    }

    fn handle_request(
        self: Arc<Self>,
        params: Value,
        request: Request,
    ) -> BoxFuture<'static, ActorResult<Response>> {
        let Some(handler) = self.definition.handlers.on_request.clone() else {
            let error = ActorError::public(
                "handler",
                "request_not_defined",
                "This actor has no onRequest handler",
            );
            return futures::future::ready(Err(error.with_status(404))).boxed();
        };
        let Some(busy) = self.activity.begin() else {
            return futures::future::ready(Err(stopping())).boxed();
        };
        let info = RequestInfo {
            method: request.method().clone(),
            url: request.uri().to_string(),
            headers: request.headers().clone(),
        };
        async move {
            let result = self
                .as_ephemeral(params, Some(info.clone()), |this, conn_id| async move {
                    let ctx = this.ctx(Some(conn_id), Some(Arc::new(info)));
                    let failure = ctx.failure.clone();
                    let response = handler(ctx, request).await;
                    this.save().await?;
                    failed(&failure)?;
                    response
                })
                .await;
            drop(busy);
            result
        }
        .boxed()
    }

    fn handle_websocket(
        self: Arc<Self>,
        params: Value,
        request: RequestInfo,
        socket: RawWebSocket,
    ) -> BoxFuture<'static, ActorResult<()>> {
        async move {
            let handler = self
                .definition
                .handlers
                .on_websocket
                .clone()
                .ok_or_else(|| {
                    ActorError::public(
                        "handler",
                        "websocket_not_defined",
                        "This actor has no onWebSocket handler",
                    )
                    .with_status(404)
                })?;
            let open = self.activity.open().ok_or_else(stopping)?;
            let request = Arc::new(request);
            let conn_id = self
                .admit(params, Some((*request).clone()), None, Some(open))
                .await?;
            self.raw_sockets.lock().push(socket.sender());
            self.raw_sockets.lock().retain(|sender| !sender.is_closed());
            let mut ctx = self.ctx(Some(conn_id.clone()), Some(request));
            ctx.failure = None; // long-lived: a refusal drops only what was refused
            let result = handler(ctx, socket).await;
            self.release(conn_id).await;
            result
        }
        .boxed()
    }
}
