//! [`Blueprint`]: what every instance of one actor definition is made from — how to make its
//! state and vars, its handlers and its options.
//!
//! It exists apart from the builder (`definition`) so that an instance can run a definition
//! without depending on `Ctx`: each handler is stored taking the runtime's [`CallScope`], and
//! the builder wraps the user's closure in one that makes the `Ctx<S, V>` it was written for
//! from that scope. That wrapping is also what lets `vars` come before or after the handlers: a
//! blueprint never depends on the vars type.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use rivetkit_protocol::Value;

use super::CallScope;
use crate::db::Database;
use crate::metrics::ActorActions;
use crate::queue::QueueLimits;
use crate::raw::{RawWebSocket, Request, Response};
use crate::ActorResult;

pub(crate) type ActionFn<S> =
    Arc<dyn Fn(CallScope<S>, Vec<Value>) -> BoxFuture<'static, ActorResult<Value>> + Send + Sync>;
pub(crate) type ConnectFn<S> =
    Arc<dyn Fn(CallScope<S>, Value) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
pub(crate) type RequestFn<S> =
    Arc<dyn Fn(CallScope<S>, Request) -> BoxFuture<'static, ActorResult<Response>> + Send + Sync>;
pub(crate) type WebSocketFn<S> =
    Arc<dyn Fn(CallScope<S>, RawWebSocket) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
pub(crate) type HookFn<S> =
    Arc<dyn Fn(CallScope<S>) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
pub(crate) type ConnStateFn<S> =
    Arc<dyn Fn(CallScope<S>, Value) -> BoxFuture<'static, ActorResult<Value>> + Send + Sync>;
pub(crate) type InputHookFn<S> =
    Arc<dyn Fn(CallScope<S>, Value) -> BoxFuture<'static, ActorResult<()>> + Send + Sync>;
pub(crate) type StateChangeFn<S> = Arc<dyn Fn(CallScope<S>) + Send + Sync>;
pub(crate) type AccessFn<S> = Arc<dyn Fn(CallScope<S>) -> bool + Send + Sync>;
pub(crate) type CreateStateFn<S> = Arc<dyn Fn(Value) -> ActorResult<S> + Send + Sync>;
/// An instance's vars, whatever their type (`Ctx::vars` gives them back typed).
pub(crate) type Vars = Box<dyn Any + Send + Sync>;
pub(crate) type CreateVarsFn = Arc<dyn Fn() -> Vars + Send + Sync>;

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

/// What every instance of one definition is made from.
pub(crate) struct Blueprint<S> {
    pub(crate) create_state: CreateStateFn<S>,
    pub(crate) create_vars: CreateVarsFn,
    pub(crate) options: Options,
    pub(crate) handlers: Handlers<S>,
    pub(crate) database: Option<Database>,
    /// The metric handles of the actions, made when the first instance starts and shared by
    /// all (per instance they were about 600 bytes of every awake actor).
    pub(crate) action_metrics: OnceLock<ActorActions>,
}

impl<S> Blueprint<S> {
    pub(crate) fn initial_state(&self, input: Value) -> ActorResult<S> {
        (self.create_state)(input)
    }

    pub(crate) fn new_vars(&self) -> Vars {
        (self.create_vars)()
    }
}
