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

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use rivetkit_protocol::{value, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::db::Database;
use crate::queue::{QueueLimits, DEFAULT_MAX_QUEUE_MESSAGE_SIZE, DEFAULT_MAX_QUEUE_SIZE};
use crate::raw::{RawWebSocket, Request, Response};
use crate::{ActorError, ActorResult, Args, Ctx};

/// What an actor's state must be: saved as JSON after every change, loaded on wake.
pub trait State: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> State for T {}

// Handlers are stored with the context type the runtime makes, `Ctx<S>`; each builder method
// wraps the user's closure, typed `Ctx<S, V>`, in one that retypes the context. That is what
// lets `vars` come before or after the handlers: a definition's handlers never depend on `V`.
pub(crate) type ActionFn<S> =
    Arc<dyn Fn(Ctx<S>, Vec<Value>) -> BoxFuture<'static, ActorResult<Value>> + Send + Sync>;
pub(crate) type ConnectFn<S> =
    Arc<dyn Fn(Ctx<S>, Value) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
pub(crate) type RequestFn<S> =
    Arc<dyn Fn(Ctx<S>, Request) -> BoxFuture<'static, ActorResult<Response>> + Send + Sync>;
pub(crate) type WebSocketFn<S> =
    Arc<dyn Fn(Ctx<S>, RawWebSocket) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
pub(crate) type HookFn<S> =
    Arc<dyn Fn(Ctx<S>) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
pub(crate) type ConnStateFn<S> =
    Arc<dyn Fn(Ctx<S>, Value) -> BoxFuture<'static, ActorResult<Value>> + Send + Sync>;
pub(crate) type InputHookFn<S> =
    Arc<dyn Fn(Ctx<S>, Value) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
pub(crate) type StateChangeFn<S> = Arc<dyn Fn(&Ctx<S>) + Send + Sync>;
pub(crate) type AccessFn<S> = Arc<dyn Fn(&Ctx<S>) -> bool + Send + Sync>;
type CreateStateFn<S> = Arc<dyn Fn(Value) -> ActorResult<S> + Send + Sync>;
/// Makes an instance's vars, whatever their type (`Ctx::vars` gives them back typed).
pub(crate) type Vars = Box<dyn Any + Send + Sync>;
type CreateVarsFn = Arc<dyn Fn() -> Vars + Send + Sync>;

/// How long an actor may idle before it sleeps, unless configured otherwise.
pub const DEFAULT_SLEEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an action may run before its caller gets `action/timed_out`.
pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Tunables of one actor definition.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) sleep_timeout: Duration,
    pub(crate) no_sleep: bool,
    pub(crate) action_timeout: Duration,
    pub(crate) hibernatable_connections: bool,
    pub(crate) run_stop_timeout: Duration,
    pub(crate) queue_limits: QueueLimits,
}

/// How long a stopping actor waits for its `run` handler to return, unless configured otherwise.
pub const DEFAULT_RUN_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything an actor runs besides its state initializer: actions and hooks.
pub(crate) struct Handlers<S> {
    pub(crate) actions: HashMap<String, ActionFn<S>>,
    pub(crate) on_create: Option<InputHookFn<S>>,
    pub(crate) on_wake: Option<HookFn<S>>,
    pub(crate) on_sleep: Option<HookFn<S>>,
    pub(crate) on_destroy: Option<HookFn<S>>,
    pub(crate) on_state_change: Option<StateChangeFn<S>>,
    pub(crate) on_before_connect: Option<ConnectFn<S>>,
    pub(crate) create_conn_state: Option<ConnStateFn<S>>,
    pub(crate) on_connect: Option<HookFn<S>>,
    pub(crate) on_disconnect: Option<HookFn<S>>,
    pub(crate) on_request: Option<RequestFn<S>>,
    pub(crate) on_websocket: Option<WebSocketFn<S>>,
    /// Declared queue names, each with its optional `can_publish` rule. Sends to other names
    /// are dropped.
    pub(crate) queues: HashMap<String, Option<AccessFn<S>>>,
    /// `can_subscribe` rules of declared events; other event names are open to everyone.
    pub(crate) event_rules: HashMap<String, AccessFn<S>>,
    pub(crate) run: Option<HookFn<S>>,
}

impl<S> Default for Handlers<S> {
    fn default() -> Self {
        Self {
            actions: HashMap::new(),
            on_create: None,
            on_wake: None,
            on_sleep: None,
            on_destroy: None,
            on_state_change: None,
            on_before_connect: None,
            create_conn_state: None,
            on_connect: None,
            on_disconnect: None,
            on_request: None,
            on_websocket: None,
            queues: HashMap::new(),
            event_rules: HashMap::new(),
            run: None,
        }
    }
}

/// An actor definition with state `S` and per-instance, never-persisted vars `V`.
pub struct Actor<S, V = ()> {
    pub(crate) name: String,
    pub(crate) create_state: CreateStateFn<S>,
    pub(crate) create_vars: CreateVarsFn,
    pub(crate) options: Options,
    pub(crate) handlers: Handlers<S>,
    pub(crate) database: Option<Database>,
    /// The actions of each interface `handle` registered actions of: all of them must have a
    /// handler by the time the actor is registered.
    pub(crate) interfaces: Vec<&'static [&'static str]>,
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
    Arc::new(move |ctx: Ctx<S>| handler(ctx.typed()).boxed())
}

/// Wraps a rule closure (`event_access`, `queue_with_access`) into the stored form.
fn access<S, V, F>(rule: F) -> AccessFn<S>
where
    S: State,
    V: Send + Sync + 'static,
    F: Fn(&Ctx<S, V>) -> bool + Send + Sync + 'static,
{
    Arc::new(move |ctx: &Ctx<S>| rule(&ctx.clone().typed()))
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
        Self {
            name: name.into(),
            create_state: Arc::new(move |input: Value| {
                let input = match input {
                    Value::Null => None,
                    given => Some(value::to_typed::<I>(given).map_err(|error| {
                        ActorError::public("actor", "invalid_input", error.to_string())
                    })?),
                };
                Ok(create_state(input))
            }),
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
            create_state: self.create_state,
            create_vars: Arc::new(move || Box::new(create_vars())),
            options: self.options,
            handlers: self.handlers,
            database: self.database,
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

    /// The definition as the runtime keeps it: the same handlers, without the vars type.
    pub(crate) fn erase(self) -> Actor<S> {
        Actor {
            name: self.name,
            create_state: self.create_state,
            create_vars: self.create_vars,
            options: self.options,
            handlers: self.handlers,
            database: self.database,
            interfaces: self.interfaces,
            vars: PhantomData,
        }
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
        let erased: ActionFn<S> = Arc::new(move |ctx: Ctx<S>, args| match A::from_args(args) {
            Ok(args) => {
                let call = handler(ctx.typed(), args);
                // An output JSON cannot carry (a NaN or infinite float would become `null`)
                // is refused rather than changed.
                async move {
                    crate::finite::to_value(&call.await?, "action", "invalid_output", "output")
                }
                .boxed()
            }
            Err(error) => futures::future::ready(Err(error)).boxed(),
        });
        self.handlers.actions.insert(name.into(), erased);
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
        self.handlers.on_before_connect = Some(Arc::new(move |ctx: Ctx<S>, params| {
            match value::to_typed::<P>(params) {
                Ok(params) => handler(ctx.typed(), params).boxed(),
                Err(error) => futures::future::ready(Err(ActorError::public(
                    "params",
                    "invalid",
                    error.to_string(),
                )))
                .boxed(),
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
        self.handlers.on_request = Some(Arc::new(move |ctx: Ctx<S>, request| {
            handler(ctx.typed(), request).boxed()
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
        self.handlers.on_websocket = Some(Arc::new(move |ctx: Ctx<S>, socket| {
            handler(ctx.typed(), socket).boxed()
        }));
        self
    }

    /// Gives the actor a private SQLite database (`c.db()`), kept across sleeps and deleted with
    /// the actor: `.database(Database::new(|conn| conn.execute_batch("CREATE TABLE IF NOT EXISTS ...")))`.
    pub fn database(mut self, database: Database) -> Self {
        self.database = Some(database);
        self
    }

    /// Idle time after which the actor sleeps (default 30 s).
    pub fn sleep_timeout(mut self, timeout: Duration) -> Self {
        self.options.sleep_timeout = timeout;
        self
    }

    /// Never sleep when idle (an explicit `c.sleep()` still does).
    pub fn no_sleep(mut self) -> Self {
        self.options.no_sleep = true;
        self
    }

    /// Keep WebSocket connections open while the actor sleeps: the client's next message wakes
    /// the actor and the connection carries on with its id, params, state and subscriptions, and
    /// without `on_disconnect`/`on_connect` running again.
    pub fn hibernatable_connections(mut self) -> Self {
        self.options.hibernatable_connections = true;
        self
    }

    /// How long an action may run before its caller gets `action/timed_out` (default 60 s).
    pub fn action_timeout(mut self, timeout: Duration) -> Self {
        self.options.action_timeout = timeout;
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
        self.handlers.on_create = Some(Arc::new(move |ctx: Ctx<S>, input| {
            let input = match input {
                Value::Null => Ok(None),
                given => value::to_typed::<I>(given).map(Some),
            };
            match input {
                Ok(input) => handler(ctx.typed(), input).boxed(),
                Err(error) => futures::future::ready(Err(ActorError::public(
                    "actor",
                    "invalid_input",
                    error.to_string(),
                )))
                .boxed(),
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
        self.handlers.on_wake = Some(hook(handler));
        self
    }

    /// Runs before the instance sleeps; its state changes are saved.
    pub fn on_sleep<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.handlers.on_sleep = Some(hook(handler));
        self
    }

    /// Runs when the actor is destroyed (`c.destroy()`), before its data is deleted.
    pub fn on_destroy<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.handlers.on_destroy = Some(hook(handler));
        self
    }

    /// Runs after every `c.update(...)`, once per change. It must not change the state itself.
    pub fn on_state_change<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Ctx<S, V>) + Send + Sync + 'static,
    {
        self.handlers.on_state_change =
            Some(Arc::new(move |ctx: &Ctx<S>| handler(&ctx.clone().typed())));
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
        self.handlers.create_conn_state = Some(Arc::new(move |ctx: Ctx<S>, params| {
            match value::to_typed::<P>(params) {
                Ok(params) => {
                    let create = handler(ctx.typed(), params);
                    async move { Ok(value::from_typed(&create.await?)?) }.boxed()
                }
                Err(error) => futures::future::ready(Err(ActorError::public(
                    "params",
                    "invalid",
                    error.to_string(),
                )))
                .boxed(),
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
        self.handlers.on_connect = Some(hook(handler));
        self
    }

    /// Runs when a connection ends; `c.conn_id()` is that connection.
    pub fn on_disconnect<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.handlers.on_disconnect = Some(hook(handler));
        self
    }

    /// Declares a queue that clients may send to. Sends to undeclared names are dropped.
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        self.handlers.queues.insert(name.into(), None);
        self
    }

    /// Declares a queue whose senders must pass `can_publish` (run as the sender's connection);
    /// a refused send fails with `auth/forbidden`.
    pub fn queue_with_access<F>(mut self, name: impl Into<String>, can_publish: F) -> Self
    where
        F: Fn(&Ctx<S, V>) -> bool + Send + Sync + 'static,
    {
        self.handlers
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
        self.handlers
            .event_rules
            .insert(event.into(), access(can_subscribe));
        self
    }

    /// The most messages the queue holds (default 1000); beyond it sends fail with `queue/full`.
    pub fn max_queue_size(mut self, messages: usize) -> Self {
        self.options.queue_limits.max_size = messages;
        self
    }

    /// The largest message body, encoded as JSON (default 64 KiB); larger sends fail with
    /// `queue/message_too_large`.
    pub fn max_queue_message_size(mut self, bytes: usize) -> Self {
        self.options.queue_limits.max_message_size = bytes;
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
        self.handlers.run = Some(hook(handler));
        self
    }

    /// How long a stop waits for the `run` handler to return (default 15 s).
    pub fn run_stop_timeout(mut self, timeout: Duration) -> Self {
        self.options.run_stop_timeout = timeout;
        self
    }

    pub(crate) fn initial_state(&self, input: Value) -> ActorResult<S> {
        (self.create_state)(input)
    }

    pub(crate) fn new_vars(&self) -> Vars {
        (self.create_vars)()
    }

    /// Refuses a definition that implements an interface (`handle`) only in part: a client of
    /// that interface would compile its calls to the missing actions, and fail only when
    /// calling them.
    pub(crate) fn check_interfaces(&self) -> Result<(), String> {
        let missing: Vec<&str> = self
            .interfaces
            .iter()
            .flat_map(|actions| actions.iter().copied())
            .filter(|action| !self.handlers.actions.contains_key(*action))
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

/// Typed registration from a shared interface (see `rivetkit::interface!`): the wire name, the
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

impl<S: State, V: Send + Sync + 'static> Ctx<S, V> {
    /// Broadcasts the interface event `E` to its subscribers: `c.emit(CountChanged, (count,))`.
    pub fn emit<E: rivetkit_interface::Event>(&self, _event: E, args: E::Args) {
        self.broadcast(E::NAME, args)
    }
}
