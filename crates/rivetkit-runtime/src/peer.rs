//! Calling other actors from inside an actor: [`ActorRef`] for calls (typed by an interface
//! declared with `interface!`, or untyped by name) and [`ActorConn`] for a connection with
//! events. Both go through the [`Host`], which places the callee: this server embedded, the
//! engine's gateway in engine mode.
//!
//! Calls carry connection params like a client's do, so an actor guarded by
//! `on_before_connect` can be reached; they arrive as a stateless call or a connection of the
//! callee, never as anything a client could not send.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};

use rivetkit_interface::{Action, ActorInterface, ArgList, Caller, Event};
use rivetkit_protocol::{value, Key, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::conn::Outgoing;
use crate::handle::Connection;
use crate::host::Host;
use crate::{args, ActorError, ActorResult};

/// The actor type of an [`ActorRef`] or [`ActorConn`] reached by name, without an interface:
/// its actions are called by name with [`ActorRef::action`].
#[derive(Clone, Copy, Debug)]
pub struct Untyped;

/// Another actor, addressed by name and key, as seen from inside an actor: `c.actor::<I>(key)`
/// for one with an interface (its generated methods apply), `c.actor_named(name, key)` for one
/// called by action name. Cheap to build; nothing is resolved until a call.
pub struct ActorRef<I = Untyped> {
    host: Weak<dyn Host>,
    /// The interface's name, or the one given for an untyped reference.
    name: Cow<'static, str>,
    key: Key,
    params: Result<Value, ActorError>,
    interface: PhantomData<fn() -> I>,
}

impl<I> Clone for ActorRef<I> {
    fn clone(&self) -> Self {
        Self {
            host: self.host.clone(),
            name: self.name.clone(),
            key: self.key.clone(),
            params: self.params.clone(),
            interface: PhantomData,
        }
    }
}

impl<I: ActorInterface> ActorRef<I> {
    pub(crate) fn typed(host: Weak<dyn Host>, key: Key) -> Self {
        Self::new(host, Cow::Borrowed(I::NAME), key)
    }
}

impl ActorRef<Untyped> {
    pub(crate) fn named(host: Weak<dyn Host>, name: String, key: Key) -> Self {
        Self::new(host, Cow::Owned(name), key)
    }
}

impl<I> ActorRef<I> {
    fn new(host: Weak<dyn Host>, name: Cow<'static, str>, key: Key) -> Self {
        Self {
            host,
            name,
            key,
            params: Ok(Value::Null),
            interface: PhantomData,
        }
    }

    /// The name the callee is registered under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Connection params for every call and connection made through this reference: the
    /// callee's `on_before_connect` sees them as it would a client's. Params that cannot be
    /// represented fail each call with `action/invalid_request`.
    #[must_use]
    pub fn with_params(mut self, params: impl Serialize) -> Self {
        self.params = value::from_typed(&params)
            .map_err(|error| ActorError::invalid_request(format!("connection params: {error}")));
        self
    }

    /// Calls action `action` with `args` (a tuple) as a stateless call and decodes its output.
    /// The callee is created if it does not exist.
    pub fn action<R: DeserializeOwned>(
        &self,
        action: &str,
        args: impl ArgList,
    ) -> impl Future<Output = ActorResult<R>> + Send + 'static {
        // What the call needs, taken now: its future does not borrow the reference.
        let ready = self
            .host()
            .and_then(|host| Ok((host, self.params.clone()?, args::to_arg_list(&args)?)));
        let (name, key, action) = (self.name.clone(), self.key.clone(), action.to_owned());
        async move {
            let (host, params, args) = ready?;
            let output = host.call(&name, &key.0, params, &action, args).await?;
            Ok(value::to_typed(output)?)
        }
    }

    /// Opens a connection to the callee (created if it does not exist), with this reference's
    /// params. Refused in engine mode (`actor/connect_not_supported`).
    pub async fn connect(&self) -> ActorResult<ActorConn<I>> {
        let host = self.host()?;
        let params = self.params.clone()?;
        let inner = host.connect(self.name(), &self.key.0, params).await?;
        Ok(ActorConn {
            inner,
            interface: PhantomData,
        })
    }

    fn host(&self) -> ActorResult<Arc<dyn Host>> {
        self.host
            .upgrade()
            .ok_or_else(|| ActorError::internal("the runtime has shut down"))
    }
}

/// `Caller` for a type with an inherent `action(name, args)`: the methods an `interface!`
/// generates then call the action by its wire name.
macro_rules! caller_by_action_name {
    ($caller:ident) => {
        impl<I: ActorInterface> Caller for $caller<I> {
            type Actor = I;
            type Error = ActorError;

            fn call<A: Action<Actor = I>>(
                &self,
                _action: A,
                args: A::Args,
            ) -> impl Future<Output = ActorResult<A::Output>> + Send {
                self.action(A::NAME, args)
            }
        }
    };
}

caller_by_action_name!(ActorRef);

/// A connection from inside an actor to another actor: its actions run as this connection
/// (`c.conn()` is set there), and the events it subscribed to arrive in
/// [`next_event`](Self::next_event). Dropping it disconnects.
pub struct ActorConn<I = Untyped> {
    inner: Connection,
    interface: PhantomData<fn() -> I>,
}

impl<I> ActorConn<I> {
    /// The connection's id, as the callee sees it.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// Subscribes to event `name`: from when this returns, its broadcasts reach
    /// [`next_event`](Self::next_event).
    pub fn subscribe_to(&self, name: &str) {
        self.inner.set_subscription(name, true);
    }

    /// Stops receiving event `name`.
    pub fn unsubscribe_from(&self, name: &str) {
        self.inner.set_subscription(name, false);
    }

    /// Calls action `action` with `args` (a tuple) as this connection and decodes its output.
    pub fn action<R: DeserializeOwned>(
        &self,
        action: &str,
        args: impl ArgList,
    ) -> impl Future<Output = ActorResult<R>> + Send + 'static {
        let call = args::to_arg_list(&args).map(|args| self.inner.call(action.to_owned(), args));
        async move { Ok(value::to_typed(call?.await?)?) }
    }

    /// The next event sent to this connection, in the order the callee sent them; `Ok(None)`
    /// once the callee closed the connection (or went to sleep keeping it, which an actor
    /// calling an actor cannot resume), `Err` for an error the callee sent the connection (a
    /// refused subscription).
    pub async fn next_event(&mut self) -> ActorResult<Option<ActorEvent>> {
        loop {
            if let Some(read) = read(self.inner.next_outgoing().await) {
                return read;
            }
        }
    }

    /// The next event if one is queued already, without waiting (`Ok(None)` if none is): the
    /// events an action broadcast are queued by the time its answer came back.
    pub fn try_next_event(&mut self) -> ActorResult<Option<ActorEvent>> {
        loop {
            if let Some(read) = read(self.inner.try_next_outgoing()) {
                return read;
            }
        }
    }
}

/// What an item of a connection's queue (`None`: none) means to [`ActorConn`]'s reader; `None`
/// to read on.
fn read(item: Option<Outgoing>) -> Option<ActorResult<Option<ActorEvent>>> {
    match item {
        Some(Outgoing::Event(event)) => Some(Ok(Some(ActorEvent {
            name: event.name.clone(),
            args: event.args.clone(),
        }))),
        Some(Outgoing::Error(error)) => Some(Err(error)),
        Some(Outgoing::Close(..) | Outgoing::Hibernate(_)) | None => Some(Ok(None)),
        // Answers are awaited by their callers, never queued: see `ActorConn::action`.
        Some(Outgoing::ActionResponse { .. }) => None,
    }
}

impl<I: ActorInterface> ActorConn<I> {
    /// Subscribes to the interface event `E`: `conn.subscribe(CountChanged)`.
    pub fn subscribe<E: Event<Actor = I>>(&self, _event: E) {
        self.subscribe_to(E::NAME);
    }
}

caller_by_action_name!(ActorConn);

/// An event another actor sent to an [`ActorConn`].
#[derive(Clone, Debug, PartialEq)]
pub struct ActorEvent {
    /// The event's name.
    pub name: String,
    /// Its arguments.
    pub args: Vec<Value>,
}

impl ActorEvent {
    /// The arguments as the interface event `E` declares them, if this is that event:
    /// `if let Some((count,)) = event.args_of(CountChanged)? { … }`.
    pub fn args_of<E: Event>(&self, _event: E) -> ActorResult<Option<E::Args>> {
        if self.name != E::NAME {
            return Ok(None);
        }
        let args = Value::Array(self.args.clone());
        value::to_typed(args)
            .map(Some)
            .map_err(|error| ActorError::invalid_request(format!("event {}: {error}", E::NAME)))
    }
}
