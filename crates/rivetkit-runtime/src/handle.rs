//! The server's handle on a running actor, whatever its state type: the erased trait
//! [`ActorInstance`], the inspector's view [`ActorInspector`], and a client's [`Connection`].
//!
//! Why a module of its own: the server, the runtime and every connection hold an actor as
//! `Arc<dyn ActorInstance>`, without knowing its state type. A [`Connection`] holds its actor
//! this way and `ActorInstance::connect` hands one out, so the two types live together; the
//! concrete instance (`instance`) implements both traits and nothing here depends on it.

use std::sync::Arc;

use futures::future::BoxFuture;
use rivetkit_protocol::Value;

use crate::activity::Activity;
use crate::conn::{
    ConnInfo, ConnLimits, HibernatedConn, Outgoing, OutgoingReceiver, OutgoingSender, OverflowWatch,
};
use crate::inspect::Inspect;
use crate::meta::ActorMeta;
use crate::queue::{QueueSend, QueueSnapshot, SendOutcome};
use crate::raw::{RawWebSocket, Request, RequestInfo, Response};
use crate::ActorResult;

/// The server's view of a running actor, whatever its state type.
pub trait ActorInstance: Send + Sync + 'static {
    /// Who the actor is.
    fn meta(&self) -> &ActorMeta;

    /// The instance's in-flight work and stop requests, which decide when it may sleep.
    fn activity(&self) -> &Arc<Activity>;

    /// What the inspector watches: changes as they happen and recent errors.
    fn inspect(&self) -> &Inspect;

    /// What only the inspector asks of the actor: its state, connections, actions and queue.
    fn inspector(self: Arc<Self>) -> Arc<dyn ActorInspector>;

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

/// What the inspector reads and changes on a running actor ([`ActorInstance::inspector`]);
/// nothing else needs these, so they are kept off the trait every caller sees.
pub trait ActorInspector: Send + Sync + 'static {
    /// The state as JSON.
    fn state_json(&self) -> ActorResult<Value>;

    /// Replaces the whole state with `state`; durable when it resolves.
    fn replace_state(self: Arc<Self>, state: Value) -> BoxFuture<'static, ActorResult<()>>;

    /// The open connections.
    fn connections(&self) -> Vec<ConnInfo>;

    /// The names of the actor's actions, sorted.
    fn action_names(&self) -> Vec<String>;

    /// How many messages are queued, the limit, and the first `limit` of them.
    fn queue_snapshot(&self, limit: usize) -> QueueSnapshot;
}

/// A client's live connection to an actor. Dropping it disconnects.
pub struct Connection {
    /// Set once the actor hibernated this connection: dropping it then must not disconnect.
    detached: bool,
    id: Arc<str>,
    actor: Arc<dyn ActorInstance>,
    sender: OutgoingSender,
    outgoing: OutgoingReceiver,
}

impl Connection {
    /// The handle on connection `id` of `actor`, reading the socket's end of its queue.
    pub(crate) fn new(
        id: Arc<str>,
        actor: Arc<dyn ActorInstance>,
        sender: OutgoingSender,
        outgoing: OutgoingReceiver,
    ) -> Self {
        Self {
            detached: false,
            id,
            actor,
            sender,
            outgoing,
        }
    }

    /// The connection id (the `connectionId` of Init).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The actor the connection belongs to.
    pub fn actor(&self) -> &Arc<dyn ActorInstance> {
        &self.actor
    }

    /// Subscribes to (or unsubscribes from) an event; takes effect before this returns. A
    /// refused subscription is reported to the client as a connection-level error.
    pub fn set_subscription(&self, event_name: &str, subscribe: bool) {
        if let Err(error) = self
            .actor
            .clone()
            .set_subscription(&self.id, event_name, subscribe)
        {
            self.sender.send(Outgoing::Error(error));
        }
    }

    /// Calls an action as this connection and queues its response; returns at once so that
    /// the connection can go on reading while the action runs.
    pub fn spawn_action(&self, id: u64, name: String, args: Vec<Value>) {
        self.spawn_action_holding(id, name, args, ());
    }

    /// [`spawn_action`](Self::spawn_action), keeping `held` until the response is queued: a
    /// server counts the actions in flight on a connection with it (a semaphore permit).
    pub fn spawn_action_holding<H: Send + 'static>(
        &self,
        id: u64,
        name: String,
        args: Vec<Value>,
        held: H,
    ) {
        let call = self.call(name, args);
        let sender = self.sender.clone();
        tokio::spawn(async move {
            let result = call.await;
            sender.send(Outgoing::ActionResponse { id, result });
            drop(held);
        });
    }

    /// Calls an action as this connection and resolves with its output, for a caller that
    /// waits for the answer itself instead of reading it from the queue.
    pub fn call(&self, name: String, args: Vec<Value>) -> BoxFuture<'static, ActorResult<Value>> {
        self.actor
            .clone()
            .call_action(Some(self.id.clone()), name, args)
    }

    /// The next item to send to the client; `None` never happens while the connection lives.
    pub async fn next_outgoing(&mut self) -> Option<Outgoing> {
        let (item, size) = self.outgoing.recv().await?;
        self.sender.link.release(size);
        Some(item)
    }

    /// The next item if one is queued already, without waiting: a server writes what is queued
    /// in one go.
    pub fn try_next_outgoing(&mut self) -> Option<Outgoing> {
        let (item, size) = self.outgoing.try_recv().ok()?;
        self.sender.link.release(size);
        Some(item)
    }

    /// A handle that tells when this connection's queue went over its budget
    /// ([`ConnLimits::max_outgoing_bytes`]): the client does not read fast enough, and the
    /// connection is to be closed. It can be awaited while a write to the socket is pending.
    pub fn overflow_watch(&self) -> OverflowWatch {
        OverflowWatch(self.sender.link.clone())
    }
}

impl Connection {
    /// Lets go of a connection the actor hibernated, without disconnecting it.
    pub fn detach(mut self) {
        self.detached = true;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.detached {
            // Waits of this connection's calls give up now, before the disconnect runs.
            self.sender.link.gone.raise();
            self.actor.clone().disconnect(self.id.clone());
        }
    }
}
