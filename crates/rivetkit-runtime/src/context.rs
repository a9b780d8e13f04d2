//! [`Ctx`]: what actor code holds while it runs — the actor's state, identity, vars,
//! connections, timers and KV, and the way to talk to its clients.
//!
//! State is reached only through closures ([`Ctx::state`], [`Ctx::update`]). A closure cannot
//! `.await`, so a borrow of the state can never be held across an await point: actions may
//! interleave (one waits on a timer while another runs) yet the state is never touched from two
//! places at once.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use rivetkit_interface::{ActorInterface, ArgList};
use rivetkit_protocol::{value, Key, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::activity::Stop;
use crate::clock::now_ms;
use crate::conn::ConnInfo;
use crate::db::Db;
use crate::host::Host;
use crate::inspect::Change;
use crate::instance::{CallScope, Instance, State};
use crate::kv::Kv;
use crate::peer::{ActorConn, ActorRef};
use crate::queue::{Queue, QueueSend};
use crate::raw::RequestInfo;
use crate::{args, ActorError, ActorResult};

/// The context handed to every action and hook. Cheap to clone; may be moved into tasks.
pub struct Ctx<S, V = ()> {
    scope: CallScope<S>,
    /// The type [`Ctx::vars`] reads the instance's vars as (they are stored untyped).
    vars: PhantomData<fn() -> V>,
}

impl<S, V> Clone for Ctx<S, V> {
    fn clone(&self) -> Self {
        Self::new(self.scope.clone())
    }
}

impl<S, V> Ctx<S, V> {
    /// The context of one run of actor code, for a handler written for vars `V`.
    pub(crate) fn new(scope: CallScope<S>) -> Self {
        Self {
            scope,
            vars: PhantomData,
        }
    }

    fn instance(&self) -> &Arc<Instance<S>> {
        &self.scope.instance
    }
}

/// An event's arguments as a list, refusing what JSON cannot carry.
fn event_args<A: ArgList>(name: &str, args: &A) -> ActorResult<Vec<Value>> {
    let root = format!("the arguments of event {name:?}: args");
    let list = crate::finite::to_value(args, "event", "invalid_args", &root)?;
    Ok(args::value_to_arg_list(list))
}

impl<S: State, V: Send + Sync + 'static> Ctx<S, V> {
    /// Reads the state. Do not call `state`/`update` again inside `read`: it would deadlock.
    /// `broadcast`, `send_to` and `disconnect` may be called inside; they take effect when
    /// `read` returns.
    pub fn state<R>(&self, read: impl FnOnce(&S) -> R) -> R {
        self.instance().read_state(read)
    }

    /// Changes the state. The change is saved durably before the response of the action that
    /// made it, or any event broadcast after it, leaves the server.
    ///
    /// `broadcast`, `send_to` and `disconnect` may be called inside `change`: they take effect
    /// in order when it returns (a broadcast, like any after a change, once the change is
    /// durable), and not at all if the change is refused.
    ///
    /// A change that would not survive saving and loading (a NaN or infinite float, which JSON
    /// would write as `null`, or a state that does not deserialize back) is rolled back at
    /// once: the call's later changes and events are discarded too, and it answers
    /// `state/invalid`. In `run` and `on_websocket`, which have no answer, only the refused
    /// change is dropped (and logged).
    pub fn update<R>(&self, change: impl FnOnce(&mut S) -> R) -> R {
        self.instance().update_state(&self.scope.refusal, change)
    }

    /// The error this call will answer with because the runtime refused one of its changes or
    /// events; `None` while nothing was refused (and always in `run` and `on_websocket`, where
    /// a refusal drops only what was refused).
    pub fn refused(&self) -> Option<ActorError> {
        self.scope.refusal.error()
    }

    /// Records that this call failed (the first refusal wins).
    fn refuse(&self, error: ActorError) {
        tracing::warn!(actor = %self.actor_id(), %error, "refused");
        self.scope.refusal.record(error);
    }

    /// Waits until every state change made so far is durable. Actions and `on_request` do this
    /// by themselves before answering; call it where actor code answers by other means, such as
    /// a raw WebSocket.
    pub async fn save(&self) -> ActorResult<()> {
        self.instance().save().await
    }

    /// Sends an event to every connection subscribed to `name`. `args` is a tuple: `()` for no
    /// argument, `(x,)` for one, `(x, y)` for two.
    ///
    /// Arguments that do not serialize, or hold a NaN or infinite float (which JSON would send
    /// as `null`), are refused: the event is not sent and the call answers `event/invalid_args`.
    /// Nothing is sent either once a change of this call was refused (see [`Ctx::update`]).
    pub fn broadcast<A: ArgList>(&self, name: &str, args: A) {
        if self.refused().is_some() {
            tracing::debug!(actor = %self.actor_id(), event = name, "dropping an event of a refused call");
            return;
        }
        match event_args(name, &args) {
            Ok(args) => self.instance().broadcast(name.to_owned(), args),
            Err(error) => self.refuse(error),
        }
    }

    /// Sends an event to one connection only; `false` if it is not connected. Fails with
    /// `event/invalid_args` for arguments JSON cannot carry, and with the call's refusal once a
    /// change of this call was refused.
    pub fn send_to<A: ArgList>(&self, conn_id: &str, name: &str, args: A) -> ActorResult<bool> {
        if let Some(error) = self.refused() {
            return Err(error);
        }
        let args = event_args(name, &args)?;
        Ok(self.instance().send_to(conn_id, name.to_owned(), args))
    }

    /// This actor's id.
    pub fn actor_id(&self) -> &str {
        &self.instance().meta.actor_id
    }

    /// This actor's registered name.
    pub fn name(&self) -> &str {
        &self.instance().meta.name
    }

    /// The actor's key: the array of strings clients address it by.
    pub fn key(&self) -> &[String] {
        &self.instance().meta.key
    }

    /// The input the actor was created with, if any.
    pub fn input<T: DeserializeOwned>(&self) -> ActorResult<Option<T>> {
        match &self.instance().meta.input {
            Value::Null => Ok(None),
            input => Ok(Some(value::to_typed(input.clone())?)),
        }
    }

    /// The actor's in-memory vars (see `Actor::vars`).
    pub fn vars(&self) -> &V {
        // `V` is the type `Actor::vars` made them with, or `()` in a handler added before it.
        let unit: &(dyn Any + Send + Sync) = &();
        self.instance()
            .vars
            .downcast_ref::<V>()
            .or_else(|| unit.downcast_ref::<V>())
            .expect("a handler reads the vars as the type Actor::vars made them with")
    }

    /// The connection this call came over (a stateless call has a short-lived one too); `None`
    /// in lifecycle hooks and alarms.
    pub fn conn_id(&self) -> Option<&str> {
        self.scope.conn_id.as_deref()
    }

    /// The HTTP request behind this connection, in `on_before_connect`, `create_conn_state`,
    /// `on_connect` and raw handlers.
    pub fn request(&self) -> Option<&RequestInfo> {
        self.scope.request.as_deref()
    }

    fn own_conn(&self) -> ActorResult<&str> {
        self.conn_id()
            .ok_or_else(|| ActorError::internal("this call has no connection"))
    }

    /// The params of the caller's connection (`None` when it sent none).
    pub fn conn_params<T: DeserializeOwned>(&self) -> ActorResult<Option<T>> {
        let params = self
            .instance()
            .with_conn(self.own_conn()?, |entry| entry.params.clone());
        match params {
            None | Some(Value::Null) => Ok(None),
            Some(params) => Ok(Some(value::to_typed(params)?)),
        }
    }

    /// The caller's connection state (see `Actor::create_conn_state`).
    pub fn conn_state<T: DeserializeOwned>(&self) -> ActorResult<T> {
        let state = self
            .instance()
            .with_conn(self.own_conn()?, |entry| entry.state.clone())
            .ok_or_else(|| ActorError::internal("the connection is gone"))?;
        Ok(value::to_typed(state)?)
    }

    /// Changes the caller's connection state. Connection state lives as long as the connection
    /// and is not persisted.
    pub fn update_conn_state<T, R>(&self, change: impl FnOnce(&mut T) -> R) -> ActorResult<R>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut state: T = self.conn_state()?;
        let result = change(&mut state);
        let state = value::from_typed(&state)?;
        self.instance()
            .with_conn(self.own_conn()?, |entry| entry.state = state);
        self.instance().inspect.notify(Change::Connections);
        Ok(result)
    }

    /// Every open connection, including short-lived ones of stateless calls in progress. A
    /// connection whose `on_disconnect` runs is no longer listed (also inside it).
    pub fn conns(&self) -> Vec<ConnInfo> {
        self.instance().connections()
    }

    /// Ends one connection (a normal close, code 1000, with `reason`).
    pub fn disconnect(&self, conn_id: &str, reason: &str) {
        self.instance().close_conn(conn_id, reason.to_owned());
    }

    /// Puts the actor to sleep once the work in flight (this call included) is done. Its state
    /// is saved; the next request wakes it.
    pub fn sleep(&self) {
        self.instance().request_stop(Stop::Sleep);
    }

    /// Destroys the actor once the work in flight (this call included) is done: `on_destroy`
    /// runs, then its state, KV and alarms are deleted and its key is free again.
    pub fn destroy(&self) {
        self.instance().request_stop(Stop::Destroy);
    }

    fn host(&self) -> ActorResult<Arc<dyn Host>> {
        self.instance()
            .host
            .upgrade()
            .ok_or_else(|| ActorError::internal("the runtime has shut down"))
    }

    /// Calls `action` with `args` (a tuple) on this actor after `delay`. Durable: it fires even
    /// after a restart, and wakes the actor if it sleeps.
    pub async fn schedule_after<A: ArgList>(
        &self,
        delay: Duration,
        action: &str,
        args: A,
    ) -> ActorResult<()> {
        let at = now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        self.schedule_at(at, action, args).await
    }

    /// Calls `action` with `args` (a tuple) on this actor at `timestamp_ms` (ms since the epoch).
    ///
    /// An action the actor does not define is refused here, with `schedule/action_not_found`,
    /// rather than failing unseen when the schedule fires.
    pub async fn schedule_at<A: ArgList>(
        &self,
        timestamp_ms: i64,
        action: &str,
        args: A,
    ) -> ActorResult<()> {
        if !self.instance().has_action(action) {
            return Err(ActorError::public(
                "schedule",
                "action_not_found",
                format!(
                    "Cannot schedule action '{action}': actor '{}' has no such action",
                    self.name()
                ),
            ));
        }
        let args = args::to_arg_list(&args)?;
        self.instance().retirement.refuse_writes()?;
        self.host()?
            .schedule(
                &*self.instance().store,
                self.actor_id(),
                timestamp_ms,
                action,
                &args,
            )
            .await
    }

    /// The actor's own key-value store.
    pub fn kv(&self) -> Kv<'_> {
        Kv::new(self.instance().store.as_ref(), &self.instance().retirement)
    }

    /// The actor's own SQLite database; fails unless the actor declares one
    /// (`Actor::database`), and with the storage error once a save of the state failed (the
    /// instance is retired then: what it would write may derive from the lost changes).
    pub fn db(&self) -> ActorResult<Db> {
        self.instance().retirement.refuse_writes()?;
        self.instance().db.clone().ok_or_else(|| {
            ActorError::internal(format!(
                "actor {:?}: the database is not enabled (declare it with Actor::database)",
                self.name()
            ))
        })
    }

    /// The actor's own queue.
    pub fn queue(&self) -> Queue<'_> {
        Queue {
            core: &self.instance().queue,
            pending: &self.scope.pending_completions,
            in_run: self.scope.in_run,
            conn_gone: self.scope.conn_link.as_ref().map(|link| &link.gone),
        }
    }

    /// Whether the actor has been asked to stop (sleep or destroy).
    pub fn is_aborted(&self) -> bool {
        self.instance().activity.is_aborted()
    }

    /// Resolves when the actor is asked to stop: long-running work (a `run` loop) should wrap
    /// up then.
    pub async fn aborted(&self) {
        self.instance().activity.aborted().await
    }

    /// Sends a message to a queue of actor `actor_id` as a client would (undeclared queue names
    /// are dropped, `can_publish` rules apply).
    pub async fn send_queue<B: Serialize>(
        &self,
        actor_id: &str,
        queue: &str,
        body: B,
    ) -> ActorResult<()> {
        let send = QueueSend {
            name: queue.to_owned(),
            body: value::from_typed(&body)?,
            wait: false,
            timeout_ms: None,
        };
        self.host()?.send_queue(actor_id, send).await?;
        Ok(())
    }

    /// Another actor, of the type interface `I` declares, by key: its interface's methods call
    /// it (`c.actor::<Counter>(["main"]).increment(1).await?`), `.connect()` opens a
    /// connection, `.with_params(p)` passes connection params. The callee is created if it
    /// does not exist.
    pub fn actor<I: ActorInterface>(&self, key: impl Into<Key>) -> ActorRef<I> {
        ActorRef::typed(self.instance().host.clone(), key.into())
    }

    /// Another actor by name and key, without an interface: its actions are called by name
    /// (`.action::<i64>("increment", (1,))`).
    pub fn actor_named(&self, name: impl Into<String>, key: impl Into<Key>) -> ActorRef {
        ActorRef::named(self.instance().host.clone(), name.into(), key.into())
    }

    /// Opens a connection without params to actor `name` + `key` (created if needed):
    /// `c.actor_named(name, key).connect()`.
    pub async fn connect_actor(&self, name: &str, key: &[String]) -> ActorResult<ActorConn> {
        self.actor_named(name, key).connect().await
    }

    /// Calls an action on actor `name` + `key` (created if needed), as a stateless call
    /// without params: `c.actor_named(name, key).action(action, args)`.
    pub async fn call_actor<A: ArgList, R: DeserializeOwned>(
        &self,
        name: &str,
        key: &[String],
        action: &str,
        args: A,
    ) -> ActorResult<R> {
        self.actor_named(name, key).action(action, args).await
    }

    /// Broadcasts the interface event `E` to its subscribers: `c.emit(CountChanged, (count,))`.
    pub fn emit<E: rivetkit_interface::Event>(&self, _event: E, args: E::Args) {
        self.broadcast(E::NAME, args)
    }
}
