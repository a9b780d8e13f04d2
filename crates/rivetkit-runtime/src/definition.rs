//! Defining an actor: its state, its actions and its handlers, as plain closures.
//!
//! ```ignore
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
//! ```
//!
//! The builder erases each closure's argument and return types behind one boxed signature, so
//! a definition is a map from names to handlers that the runtime can call with wire values.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use rivetkit_protocol::{value, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::raw::{RawWebSocket, Request, Response};
use crate::{ActorError, ActorResult, Args, Ctx};

/// What an actor's state must be: saved as JSON after every change, loaded on wake.
pub trait State: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> State for T {}

pub(crate) type ActionFn<S, V> =
    Arc<dyn Fn(Ctx<S, V>, Vec<Value>) -> BoxFuture<'static, ActorResult<Value>> + Send + Sync>;
pub(crate) type ConnectFn<S, V> =
    Arc<dyn Fn(Ctx<S, V>, Value) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
pub(crate) type RequestFn<S, V> =
    Arc<dyn Fn(Ctx<S, V>, Request) -> BoxFuture<'static, ActorResult<Response>> + Send + Sync>;
pub(crate) type WebSocketFn<S, V> =
    Arc<dyn Fn(Ctx<S, V>, RawWebSocket) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
type CreateStateFn<S> = Arc<dyn Fn(Value) -> ActorResult<S> + Send + Sync>;
type CreateVarsFn<V> = Arc<dyn Fn() -> V + Send + Sync>;

/// An actor definition with state `S` and per-instance, never-persisted vars `V`.
pub struct Actor<S, V = ()> {
    pub(crate) name: String,
    pub(crate) create_state: CreateStateFn<S>,
    pub(crate) create_vars: CreateVarsFn<V>,
    pub(crate) actions: HashMap<String, ActionFn<S, V>>,
    pub(crate) on_before_connect: Option<ConnectFn<S, V>>,
    pub(crate) on_request: Option<RequestFn<S, V>>,
    pub(crate) on_websocket: Option<WebSocketFn<S, V>>,
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
            create_vars: Arc::new(|| ()),
            actions: HashMap::new(),
            on_before_connect: None,
            on_request: None,
            on_websocket: None,
        }
    }

    /// Gives every instance vars made by `create_vars` when it starts: in-memory values such as
    /// channels or open sockets, never persisted. Call it before adding handlers.
    pub fn vars<V, F>(self, create_vars: F) -> Actor<S, V>
    where
        V: Send + Sync + 'static,
        F: Fn() -> V + Send + Sync + 'static,
    {
        assert!(
            self.actions.is_empty()
                && self.on_before_connect.is_none()
                && self.on_request.is_none()
                && self.on_websocket.is_none(),
            "actor {:?}: call vars() before adding actions and handlers",
            self.name
        );
        Actor {
            name: self.name,
            create_state: self.create_state,
            create_vars: Arc::new(create_vars),
            actions: HashMap::new(),
            on_before_connect: None,
            on_request: None,
            on_websocket: None,
        }
    }
}

impl<S: State, V: Send + Sync + 'static> Actor<S, V> {
    pub fn name(&self) -> &str {
        &self.name
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
        let erased: ActionFn<S, V> = Arc::new(move |ctx, args| match A::from_args(args) {
            Ok(args) => {
                let call = handler(ctx, args);
                async move { Ok(value::from_typed(&call.await?)?) }.boxed()
            }
            Err(error) => futures::future::ready(Err(error)).boxed(),
        });
        self.actions.insert(name.into(), erased);
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
        self.on_before_connect = Some(Arc::new(move |ctx, params| {
            match value::to_typed::<P>(params) {
                Ok(params) => handler(ctx, params).boxed(),
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
        self.on_request = Some(Arc::new(move |ctx, request| handler(ctx, request).boxed()));
        self
    }

    /// Handles raw WebSockets opened on `/websocket/...`; the socket closes when the returned
    /// future ends.
    pub fn on_websocket<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Ctx<S, V>, RawWebSocket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ActorResult<()>> + Send + 'static,
    {
        self.on_websocket = Some(Arc::new(move |ctx, socket| handler(ctx, socket).boxed()));
        self
    }

    pub(crate) fn initial_state(&self, input: Value) -> ActorResult<S> {
        (self.create_state)(input)
    }

    pub(crate) fn new_vars(&self) -> V {
        (self.create_vars)()
    }
}
