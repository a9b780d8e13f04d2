//! Defining an actor: its state, its actions and its handlers, as plain closures.
//!
//! ```
//! use rivetkit_runtime::{actor, Registry};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Default)]
//! struct Counter { count: i64 }
//!
//! let counter = actor::<Counter>("counter")
//!     .action("increment", |c, (x,): (i64,)| async move {
//!         let count = c.update(|s| { s.count += x; s.count });
//!         c.broadcast("count", (count,));
//!         Ok(count)
//!     })
//!     .action("getCount", |c, ()| async move { Ok(c.state(|s| s.count)) });
//! let registry = Registry::new().register(counter);
//! assert_eq!(registry.names().collect::<Vec<_>>(), ["counter"]);
//! ```
//!
//! The builder erases each closure's argument and return types behind one boxed signature, so
//! a definition is a map from names to handlers that the runtime can call with wire values.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use rivetkit_protocol::{value, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::Ctx;
use crate::db::Database;
use crate::error::fail_now;
use crate::instance::{AccessFn, ActionFn, Blueprint, CallScope, Handlers, HookFn, Options, State};
use crate::queue::{QueueLimits, DEFAULT_MAX_QUEUE_MESSAGE_SIZE, DEFAULT_MAX_QUEUE_SIZE};
use crate::raw::{RawWebSocket, Request, Response};
use crate::{ActorError, ActorResult, Args};

/// How long an actor may idle before it sleeps, unless configured otherwise.
pub const DEFAULT_SLEEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an action may run before its caller gets `action/timed_out`.
pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping actor waits for its `run` handler to return, unless configured otherwise.
pub const DEFAULT_RUN_STOP_TIMEOUT: Duration = Duration::from_secs(15);

// What instances run is the blueprint; each handler added here is stored there wrapped in a
// closure that makes the `Ctx<S, V>` it was written for out of the runtime's call scope, so the
// blueprint never depends on `V` (nor the instance on `Ctx`).
/// An actor definition with state `S` and per-instance, never-persisted vars `V`.
pub struct Actor<S, V = ()> {
    name: String,
    blueprint: Blueprint<S>,
    /// The actions of each interface `handle` registered actions of: all of them must have a
    /// handler by the time the actor is registered.
    interfaces: Vec<&'static [&'static str]>,
    vars: PhantomData<fn() -> V>,
}

/// Wraps a hook closure into the boxed form the runtime stores.
fn hook<S, V, F, Fut>(handler: F) -> HookFn<S>
where
    S: State,
    V: Send + Sync + 'static,
    F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ActorResult<()>> + Send + 'static,
{
    Arc::new(move |scope: CallScope<S>| handler(Ctx::new(scope)).boxed())
}

/// Wraps a rule closure (`event_access`, `queue_with_access`) into the stored form.
fn access<S, V, F>(rule: F) -> AccessFn<S>
where
    S: State,
    V: Send + Sync + 'static,
    F: Fn(&Ctx<S, V>) -> bool + Send + Sync + 'static,
{
    Arc::new(move |scope: CallScope<S>| rule(&Ctx::new(scope)))
}

/// A create input as the definition's type `I` (`None` when the actor was created without
/// one); `actor/invalid_input` if it does not fit.
fn typed_input<I: DeserializeOwned>(input: Value) -> ActorResult<Option<I>> {
    match input {
        Value::Null => Ok(None),
        given => value::to_typed::<I>(given)
            .map(Some)
            .map_err(|error| ActorError::public("actor", "invalid_input", error.to_string())),
    }
}

/// Connection params as the handler's type `P`; `params/invalid` if they do not fit.
fn typed_params<P: DeserializeOwned>(params: Value) -> ActorResult<P> {
    value::to_typed::<P>(params)
        .map_err(|error| ActorError::public("params", "invalid", error.to_string()))
}

/// Starts a definition whose initial state is `S::default()`.
pub fn actor<S: State + Default>(name: impl Into<String>) -> Actor<S> {
    Actor::new(name, |_input: Option<Value>| S::default())
}

impl<S: State> Actor<S> {
    /// Starts a definition whose initial state is computed from the create input
    /// (`None` when the actor was created without input).
    pub fn new<I, F>(name: impl Into<String>, create_state: F) -> Self
    where
        I: DeserializeOwned,
        F: Fn(Option<I>) -> S + Send + Sync + 'static,
    {
        let blueprint = Blueprint {
            create_state: Arc::new(move |input: Value| Ok(create_state(typed_input(input)?))),
            create_vars: Arc::new(|| Box::new(())),
            options: Options {
                sleep_timeout: DEFAULT_SLEEP_TIMEOUT,
                no_sleep: false,
                action_timeout: DEFAULT_ACTION_TIMEOUT,
                hibernatable_connections: false,
                run_stop_timeout: DEFAULT_RUN_STOP_TIMEOUT,
                queue_limits: QueueLimits {
                    max_size: DEFAULT_MAX_QUEUE_SIZE,
                    max_message_size: DEFAULT_MAX_QUEUE_MESSAGE_SIZE,
                },
            },
            handlers: Handlers::default(),
            database: None,
            action_metrics: OnceLock::new(),
        };
        Self {
            name: name.into(),
            blueprint,
            interfaces: Vec::new(),
            vars: PhantomData,
        }
    }

    /// Gives every instance vars made by `create_vars` when it starts: in-memory values such as
    /// channels or open sockets, never persisted.
    ///
    /// It may come anywhere in the chain. Handlers added after it get `c.vars()` as `&V`;
    /// handlers added before it were written without vars, and see `()`.
    pub fn vars<V, F>(self, create_vars: F) -> Actor<S, V>
    where
        V: Send + Sync + 'static,
        F: Fn() -> V + Send + Sync + 'static,
    {
        Actor {
            name: self.name,
            blueprint: Blueprint {
                create_vars: Arc::new(move || Box::new(create_vars())),
                ..self.blueprint
            },
            interfaces: self.interfaces,
            vars: PhantomData,
        }
    }
}

impl<S: State, V: Send + Sync + 'static> Actor<S, V> {
    /// The name the actor is registered under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the runtime keeps of the definition to start instances from.
    pub(crate) fn into_blueprint(self) -> Blueprint<S> {
        self.blueprint
    }

    /// Adds an action. Arguments arrive as a tuple (see [`Args`]); the return value is sent to
    /// the caller once every state change the action made is durable.
    pub fn action<A, R, F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        A: Args,
        R: Serialize,
        F: Fn(Ctx<S, V>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<R>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: ActionFn<S> = Arc::new(move |scope, args| match A::from_args(args) {
            Ok(args) => {
                let call = handler(Ctx::new(scope), args);
                // An output JSON cannot carry (a NaN or infinite float would become `null`)
                // is refused rather than changed.
                async move {
                    crate::finite::to_value(&call.await?, "action", "invalid_output", "output")
                }
                .boxed()
            }
            Err(error) => fail_now(error),
        });
        self.blueprint.handlers.actions.insert(name.into(), erased);
        self
    }

    /// Runs before every connection and every stateless call, with the client's connection
    /// params (`None`/`null` when it sent none). An error rejects the client.
    pub fn on_before_connect<P, F, Fut>(mut self, handler: F) -> Self
    where
        P: DeserializeOwned,
        F: Fn(Ctx<S, V>, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.blueprint.handlers.on_before_connect = Some(Arc::new(move |scope, params| {
            match typed_params::<P>(params) {
                Ok(params) => handler(Ctx::new(scope), params).boxed(),
                Err(error) => fail_now(error),
            }
        }));
        self
    }

    /// Handles raw HTTP requests sent to `/request/...`.
    pub fn on_request<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>, Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<Response>> + Send + 'static,
    {
        self.blueprint.handlers.on_request = Some(Arc::new(move |scope, request| {
            handler(Ctx::new(scope), request).boxed()
        }));
        self
    }

    /// Handles raw WebSockets opened on `/websocket/...`; the socket closes when the returned
    /// future ends.
    pub fn on_websocket<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>, RawWebSocket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.blueprint.handlers.on_websocket = Some(Arc::new(move |scope, socket| {
            handler(Ctx::new(scope), socket).boxed()
        }));
        self
    }

    /// Gives the actor a private SQLite database (`c.db()`), kept across sleeps and deleted with
    /// the actor: `.database(Database::new(|conn| conn.execute_batch("CREATE TABLE IF NOT EXISTS ...")))`.
    pub fn database(mut self, database: Database) -> Self {
        self.blueprint.database = Some(database);
        self
    }

    /// Idle time after which the actor sleeps (default 30 s).
    pub fn sleep_timeout(mut self, timeout: Duration) -> Self {
        self.blueprint.options.sleep_timeout = timeout;
        self
    }

    /// Never sleep when idle (an explicit `c.sleep()` still does).
    pub fn no_sleep(mut self) -> Self {
        self.blueprint.options.no_sleep = true;
        self
    }

    /// Keep WebSocket connections open while the actor sleeps: the client's next message wakes
    /// the actor and the connection carries on with its id, params, state and subscriptions, and
    /// without `on_disconnect`/`on_connect` running again.
    pub fn hibernatable_connections(mut self) -> Self {
        self.blueprint.options.hibernatable_connections = true;
        self
    }

    /// How long an action may run before its caller gets `action/timed_out` (default 60 s).
    pub fn action_timeout(mut self, timeout: Duration) -> Self {
        self.blueprint.options.action_timeout = timeout;
        self
    }

    /// Runs once, when the actor is first created, with its create input (after the initial
    /// state is made, before `on_wake`).
    pub fn on_create<I, F, Fut>(mut self, handler: F) -> Self
    where
        I: DeserializeOwned,
        F: Fn(Ctx<S, V>, Option<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.blueprint.handlers.on_create = Some(Arc::new(move |scope, input| {
            match typed_input::<I>(input) {
                Ok(input) => handler(Ctx::new(scope), input).boxed(),
                Err(error) => fail_now(error),
            }
        }));
        self
    }

    /// Runs every time an instance starts: on creation and on every wake from sleep.
    pub fn on_wake<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.blueprint.handlers.on_wake = Some(hook(handler));
        self
    }

    /// Runs before the instance sleeps; its state changes are saved.
    pub fn on_sleep<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.blueprint.handlers.on_sleep = Some(hook(handler));
        self
    }

    /// Runs when the actor is destroyed (`c.destroy()`), before its data is deleted.
    pub fn on_destroy<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.blueprint.handlers.on_destroy = Some(hook(handler));
        self
    }

    /// Runs after every `c.update(...)`, once per change. It must not change the state itself.
    pub fn on_state_change<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Ctx<S, V>) + Send + Sync + 'static,
    {
        self.blueprint.handlers.on_state_change =
            Some(Arc::new(move |scope| handler(&Ctx::new(scope))));
        self
    }

    /// Makes the state of each new connection from its params (after `on_before_connect`).
    pub fn create_conn_state<P, C, F, Fut>(mut self, handler: F) -> Self
    where
        P: DeserializeOwned,
        C: Serialize,
        F: Fn(Ctx<S, V>, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<C>> + Send + 'static,
    {
        self.blueprint.handlers.create_conn_state = Some(Arc::new(move |scope, params| {
            match typed_params::<P>(params) {
                Ok(params) => {
                    let create = handler(Ctx::new(scope), params);
                    async move { Ok(value::from_typed(&create.await?)?) }.boxed()
                }
                Err(error) => fail_now(error),
            }
        }));
        self
    }

    /// Runs when a connection (also the short-lived one of a stateless call) has been admitted;
    /// `c.conn_id()` is that connection.
    pub fn on_connect<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.blueprint.handlers.on_connect = Some(hook(handler));
        self
    }

    /// Runs when a connection ends; `c.conn_id()` is that connection.
    pub fn on_disconnect<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.blueprint.handlers.on_disconnect = Some(hook(handler));
        self
    }

    /// Declares a queue that clients may send to. Sends to undeclared names are dropped.
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        self.blueprint.handlers.queues.insert(name.into(), None);
        self
    }

    /// Declares a queue whose senders must pass `can_publish` (run as the sender's connection);
    /// a refused send fails with `auth/forbidden`.
    pub fn queue_with_access<F>(mut self, name: impl Into<String>, can_publish: F) -> Self
    where
        F: Fn(&Ctx<S, V>) -> bool + Send + Sync + 'static,
    {
        self.blueprint
            .handlers
            .queues
            .insert(name.into(), Some(access(can_publish)));
        self
    }

    /// Lets a connection subscribe to `event` only if `can_subscribe` (run as that connection)
    /// says so; a refused subscription gets an `auth/forbidden` connection error.
    pub fn event_access<F>(mut self, event: impl Into<String>, can_subscribe: F) -> Self
    where
        F: Fn(&Ctx<S, V>) -> bool + Send + Sync + 'static,
    {
        self.blueprint
            .handlers
            .event_rules
            .insert(event.into(), access(can_subscribe));
        self
    }

    /// The most messages the queue holds (default 1000); beyond it sends fail with `queue/full`.
    pub fn max_queue_size(mut self, messages: usize) -> Self {
        self.blueprint.options.queue_limits.max_size = messages;
        self
    }

    /// The largest message body, encoded as JSON (default 64 KiB); larger sends fail with
    /// `queue/message_too_large`.
    pub fn max_queue_message_size(mut self, bytes: usize) -> Self {
        self.blueprint.options.queue_limits.max_message_size = bytes;
        self
    }

    /// A long-running handler started after every start of the actor. While it works it keeps
    /// the actor awake (waiting on the queue does not); on stop `c.aborted()` resolves and it has
    /// the run stop timeout to return. Returning on its own, or failing, destroys the actor.
    pub fn run<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.blueprint.handlers.run = Some(hook(handler));
        self
    }

    /// How long a stop waits for the `run` handler to return (default 15 s).
    pub fn run_stop_timeout(mut self, timeout: Duration) -> Self {
        self.blueprint.options.run_stop_timeout = timeout;
        self
    }

    /// Refuses a definition that implements an interface (`handle`) only in part: a client of
    /// that interface would compile its calls to the missing actions, and fail only when
    /// calling them.
    pub(crate) fn check_interfaces(&self) -> Result<(), String> {
        let missing: Vec<&str> = self
            .interfaces
            .iter()
            .flat_map(|actions| actions.iter().copied())
            .filter(|action| !self.blueprint.handlers.actions.contains_key(*action))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(format!(
            "actor {:?} does not implement {} of its interface (declared with interface!): {}; \
             add a handler for each with .handle(..)",
            self.name,
            if missing.len() == 1 {
                "this action"
            } else {
                "these actions"
            },
            missing
                .iter()
                .map(|action| format!("{action:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Typed registration from a shared interface (see `rivetkit_rs::interface!`): the wire name, the
/// argument tuple and the result type all come from the declaration, so the server and the
/// typed clients cannot disagree about them.
impl<S: State, V: Send + Sync + 'static> Actor<S, V> {
    /// Adds the interface action `A`: `.handle(Increment, |c, (x,)| async move { ... })`.
    ///
    /// Handling one action of an interface commits the actor to all of them: `Registry::register`
    /// refuses it while any is missing.
    ///
    /// # Panics
    /// If `A` is declared for an actor of another name (a wiring bug caught at startup).
    pub fn handle<A, F, Fut>(mut self, _action: A, handler: F) -> Self
    where
        A: rivetkit_interface::Action,
        A::Args: Args,
        F: Fn(Ctx<S, V>, A::Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<A::Output>> + Send + 'static,
    {
        let declared_for = <A::Actor as rivetkit_interface::ActorInterface>::NAME;
        assert_eq!(
            declared_for,
            self.name(),
            "action {:?} is declared for actor {declared_for:?}",
            A::NAME
        );
        let declared = <A::Actor as rivetkit_interface::ActorInterface>::ACTIONS;
        if !self.interfaces.contains(&declared) {
            self.interfaces.push(declared);
        }
        self.action(A::NAME, handler)
    }
}
