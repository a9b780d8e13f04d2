//! [`Connection`]: a stateful WebSocket session with an actor (§5.3) that survives restarts.
//!
//! One background task owns the socket. Callers talk to it through a command channel, so an
//! action called while the connection is (re)connecting simply waits in the task's queue and is
//! sent right after the next Init. The task's life:
//!
//! ```text
//!   Connecting ──Init──▶ Connected ──socket ends──▶ Disconnected ──▶ Connecting ...
//!       │  attempt failed: wait (jittered exponential backoff), try again
//!       └─ permanent failure (401/403, auth.*, user.forbidden, ...) ──▶ Failed (task ends)
//!   dispose() or every Connection clone dropped ──▶ Disposed (task ends)
//! ```
//!
//! Each Init starts a fresh server-side connection (there is no resumption in the protocol), so
//! the task re-sends a subscription for every event that still has listeners. Actions that
//! were in flight when a socket died fail with [`Error::ConnectionLost`]: they may or may not
//! have run, and only the caller can decide whether repeating them is safe.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};

use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use rivetkit_interface::{Action, ActorInterface, ArgList, Caller, Event};
use rivetkit_protocol::message::CLIENT_BARE_VERSION;
use rivetkit_protocol::{parse_close_reason, value, Encoding, Frame, ToClient, ToServer, Value};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::error::{ActorError, Error, Result};
use crate::handle::{arg_list, ActorHandle, Untyped};
use crate::transport::{self, RawWebSocket};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnStatus {
    /// Resolving the actor, opening the socket or waiting for Init (possibly after failures).
    Connecting,
    /// Init received: actions go out at once, events arrive.
    Connected,
    /// The socket just ended; a new attempt follows.
    Disconnected,
    /// Stopped after a permanent failure; [`Connection::error`] says which.
    Failed,
    /// Closed by [`Connection::dispose`] or by dropping every clone.
    Disposed,
}

impl ConnStatus {
    /// Failed or disposed: nothing will happen on this connection any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, ConnStatus::Failed | ConnStatus::Disposed)
    }
}

type EventFn = Arc<dyn Fn(Vec<Value>) + Send + Sync>;
type OpenCloseFn = Arc<dyn Fn() + Send + Sync>;
type ErrorFn = Arc<dyn Fn(&Error) + Send + Sync>;
type StatusFn = Arc<dyn Fn(ConnStatus) + Send + Sync>;

struct EventListener {
    id: u64,
    once: bool,
    call: EventFn,
}

#[derive(Default)]
struct Listeners {
    next_id: u64,
    events: HashMap<String, Vec<EventListener>>,
    open: Vec<(u64, OpenCloseFn)>,
    close: Vec<(u64, OpenCloseFn)>,
    error: Vec<(u64, ErrorFn)>,
    status: Vec<(u64, StatusFn)>,
}

/// State shared by the task and every [`Connection`] clone.
struct State {
    status: watch::Sender<ConnStatus>,
    last_error: Mutex<Option<Error>>,
    listeners: Mutex<Listeners>,
}

impl State {
    fn set_status(&self, status: ConnStatus) {
        if !self
            .status
            .send_if_modified(|current| std::mem::replace(current, status) != status)
        {
            return;
        }
        let callbacks: Vec<StatusFn> = self
            .listeners
            .lock()
            .status
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        callbacks.iter().for_each(|f| f(status));
    }

    fn report(&self, error: &Error) {
        *self.last_error.lock() = Some(error.clone());
        let callbacks: Vec<ErrorFn> = self
            .listeners
            .lock()
            .error
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        callbacks.iter().for_each(|f| f(error));
    }

    fn fire(&self, pick: impl Fn(&Listeners) -> &Vec<(u64, OpenCloseFn)>) {
        let callbacks: Vec<OpenCloseFn> = pick(&self.listeners.lock())
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        callbacks.iter().for_each(|f| f());
    }

    fn event_names(&self) -> Vec<String> {
        self.listeners.lock().events.keys().cloned().collect()
    }

    /// Calls the listeners of `name`; drops `once` listeners after their call. True when that
    /// left the event without listeners.
    fn dispatch(&self, name: &str, args: Vec<Value>) -> bool {
        let (callbacks, emptied) = {
            let mut listeners = self.listeners.lock();
            let Some(list) = listeners.events.get_mut(name) else {
                return false;
            };
            let callbacks: Vec<EventFn> = list.iter().map(|l| l.call.clone()).collect();
            list.retain(|l| !l.once);
            let emptied = list.is_empty();
            if emptied {
                listeners.events.remove(name);
            }
            (callbacks, emptied)
        };
        for callback in &callbacks {
            callback(args.clone());
        }
        emptied
    }
}

enum Command {
    Action {
        name: String,
        args: Vec<Value>,
        reply: oneshot::Sender<Result<Value>>,
    },
    Subscribe {
        event: String,
        subscribe: bool,
    },
    Dispose {
        done: oneshot::Sender<()>,
    },
}

/// A connection to one actor. Clones share the session; it ends with [`Connection::dispose`] or
/// when the last clone is dropped. All callbacks run on the connection's task: keep them short
/// and never block in them.
pub struct Connection<A = Untyped> {
    commands: mpsc::UnboundedSender<Command>,
    state: Arc<State>,
    _actor: PhantomData<fn() -> A>,
}

impl<A> Clone for Connection<A> {
    fn clone(&self) -> Self {
        Connection {
            commands: self.commands.clone(),
            state: self.state.clone(),
            _actor: PhantomData,
        }
    }
}

/// Removes a listener again; see the `on*` methods of [`Connection`]. Dropping it keeps the
/// listener (as the function JS returns does).
pub struct Subscription {
    state: Weak<State>,
    commands: mpsc::UnboundedSender<Command>,
    id: u64,
    event: Option<String>,
}

impl Subscription {
    /// Removes the listener.
    pub fn unsubscribe(self) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        let mut listeners = state.listeners.lock();
        let id = self.id;
        match &self.event {
            Some(event) => {
                let Some(list) = listeners.events.get_mut(event) else {
                    return;
                };
                list.retain(|l| l.id != id);
                if list.is_empty() {
                    listeners.events.remove(event);
                    let _ = self.commands.send(Command::Subscribe {
                        event: event.clone(),
                        subscribe: false,
                    });
                }
            }
            None => {
                listeners.open.retain(|(i, _)| *i != id);
                listeners.close.retain(|(i, _)| *i != id);
                listeners.error.retain(|(i, _)| *i != id);
                listeners.status.retain(|(i, _)| *i != id);
            }
        }
    }
}

/// Event arguments as `T`: a tuple (`()`, `(x,)`), or `Vec<Value>` for the raw list.
fn decode_event_args<T: DeserializeOwned>(
    args: Vec<Value>,
) -> std::result::Result<T, serde_json::Error> {
    let empty = args.is_empty();
    value::to_typed(Value::Array(args)).or_else(|error| {
        // serde reads `()` from null only; an event without arguments carries `[]`.
        if empty {
            value::to_typed(Value::Null).map_err(|_| error)
        } else {
            Err(error)
        }
    })
}

impl<A> Connection<A> {
    pub(crate) fn open(handle: ActorHandle<Untyped>) -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            status: watch::Sender::new(ConnStatus::Connecting),
            last_error: Mutex::new(None),
            listeners: Mutex::new(Listeners::default()),
        });
        let task = Task {
            encoding: handle.client.encoding(),
            handle,
            state: state.clone(),
            commands: receiver,
            queued: Vec::new(),
            in_flight: HashMap::new(),
            next_action_id: 0,
            disposed: Vec::new(),
        };
        tokio::spawn(task.run());
        Connection {
            commands,
            state,
            _actor: PhantomData,
        }
    }

    /// Where the connection stands now.
    pub fn status(&self) -> ConnStatus {
        *self.state.status.borrow()
    }

    /// A receiver that sees every status change (for `changed().await` / `wait_for`).
    pub fn status_watch(&self) -> watch::Receiver<ConnStatus> {
        self.state.status.subscribe()
    }

    /// The most recent error: of a failed attempt, a connection-level error frame, or the
    /// permanent failure that stopped the connection.
    pub fn error(&self) -> Option<Error> {
        self.state.last_error.lock().clone()
    }

    /// Calls action `name` over the connection (queued until connected). `args` is a tuple.
    pub async fn action<R: DeserializeOwned>(&self, name: &str, args: impl ArgList) -> Result<R> {
        let (reply, response) = oneshot::channel();
        let command = Command::Action {
            name: name.to_owned(),
            args: arg_list(&args)?,
            reply,
        };
        if self.commands.send(command).is_err() {
            return Err(self.closed_error());
        }
        let output = response.await.map_err(|_| self.closed_error())??;
        Ok(value::to_typed(output)?)
    }

    fn closed_error(&self) -> Error {
        match self.error() {
            Some(error) if self.status() == ConnStatus::Failed => error,
            _ => Error::Closed("the connection is disposed".into()),
        }
    }

    /// Calls `f` with the arguments of every event `name` (decoded as `T`, a tuple).
    pub fn on_event<T: DeserializeOwned>(
        &self,
        name: &str,
        f: impl Fn(T) + Send + Sync + 'static,
    ) -> Subscription {
        self.add_event_listener(name, false, f)
    }

    /// Like [`on_event`](Self::on_event), for the next event `name` only.
    pub fn once_event<T: DeserializeOwned>(
        &self,
        name: &str,
        f: impl Fn(T) + Send + Sync + 'static,
    ) -> Subscription {
        self.add_event_listener(name, true, f)
    }

    fn add_event_listener<T: DeserializeOwned>(
        &self,
        name: &str,
        once: bool,
        f: impl Fn(T) + Send + Sync + 'static,
    ) -> Subscription {
        let event = name.to_owned();
        let call: EventFn = Arc::new(move |args| match decode_event_args::<T>(args) {
            Ok(args) => f(args),
            Err(error) => {
                tracing::warn!(event, %error, "event arguments do not match the listener's type")
            }
        });
        let mut listeners = self.state.listeners.lock();
        listeners.next_id += 1;
        let id = listeners.next_id;
        let list = listeners.events.entry(name.to_owned()).or_default();
        if list.is_empty() {
            let _ = self.commands.send(Command::Subscribe {
                event: name.to_owned(),
                subscribe: true,
            });
        }
        list.push(EventListener { id, once, call });
        self.subscription(id, Some(name.to_owned()))
    }

    fn subscription(&self, id: u64, event: Option<String>) -> Subscription {
        Subscription {
            state: Arc::downgrade(&self.state),
            commands: self.commands.clone(),
            id,
            event,
        }
    }

    fn add_listener<F>(
        &self,
        pick: impl FnOnce(&mut Listeners) -> &mut Vec<(u64, F)>,
        f: F,
    ) -> Subscription {
        let mut listeners = self.state.listeners.lock();
        listeners.next_id += 1;
        let id = listeners.next_id;
        pick(&mut listeners).push((id, f));
        self.subscription(id, None)
    }

    /// Called after every Init (first connection and each reconnection).
    pub fn on_open(&self, f: impl Fn() + Send + Sync + 'static) -> Subscription {
        self.add_listener(|l| &mut l.open, Arc::new(f) as OpenCloseFn)
    }

    /// Called when a connected socket ends (including on dispose).
    pub fn on_close(&self, f: impl Fn() + Send + Sync + 'static) -> Subscription {
        self.add_listener(|l| &mut l.close, Arc::new(f) as OpenCloseFn)
    }

    /// Called for failed connection attempts, connection-level error frames and the permanent
    /// failure that stops the connection. Action failures go to their caller instead.
    pub fn on_error(&self, f: impl Fn(&Error) + Send + Sync + 'static) -> Subscription {
        self.add_listener(|l| &mut l.error, Arc::new(f) as ErrorFn)
    }

    /// Called on every status change, with the new status.
    pub fn on_status_change(&self, f: impl Fn(ConnStatus) + Send + Sync + 'static) -> Subscription {
        self.add_listener(|l| &mut l.status, Arc::new(f) as StatusFn)
    }

    /// Closes the connection (WebSocket close 1000 `Disposed`); pending and queued actions fail
    /// with [`Error::Closed`]. Returns once the socket is closed.
    pub async fn dispose(&self) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Dispose { done }).is_ok() {
            let _ = finished.await;
        }
    }
}

impl<A: ActorInterface> Connection<A> {
    /// Calls a typed action over the connection; the generated interface methods call this.
    pub async fn call<Act: Action<Actor = A>>(
        &self,
        _action: Act,
        args: Act::Args,
    ) -> Result<Act::Output> {
        self.action(Act::NAME, args).await
    }

    /// Calls `f` with the arguments of every event `E`.
    pub fn on<E: Event<Actor = A>>(
        &self,
        _event: E,
        f: impl Fn(E::Args) + Send + Sync + 'static,
    ) -> Subscription {
        self.on_event(E::NAME, f)
    }

    /// Calls `f` for the next event `E` only.
    pub fn once<E: Event<Actor = A>>(
        &self,
        _event: E,
        f: impl Fn(E::Args) + Send + Sync + 'static,
    ) -> Subscription {
        self.once_event(E::NAME, f)
    }
}

impl<A: ActorInterface> Caller for Connection<A> {
    type Actor = A;
    type Error = Error;

    fn call<Act: Action<Actor = A>>(
        &self,
        action: Act,
        args: Act::Args,
    ) -> impl std::future::Future<Output = Result<Act::Output>> + Send {
        Connection::call(self, action, args)
    }
}

type Reply = oneshot::Sender<Result<Value>>;

/// Why the task stopped waiting on something.
enum Interrupt {
    /// `dispose()` was called or every `Connection` was dropped.
    Stop,
}

struct Task {
    handle: ActorHandle<Untyped>,
    encoding: Encoding,
    state: Arc<State>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Actions called while not connected, sent after the next Init.
    queued: Vec<(String, Vec<Value>, Reply)>,
    in_flight: HashMap<u64, Reply>,
    /// Ids are per connection object, not reset on reconnect (§5.3).
    next_action_id: u64,
    disposed: Vec<oneshot::Sender<()>>,
}

impl Task {
    async fn run(mut self) {
        let mut attempt = 0u32;
        let end = loop {
            self.state.set_status(ConnStatus::Connecting);
            let connected = match self
                .offline(connect(self.handle.clone(), self.encoding))
                .await
            {
                Err(Interrupt::Stop) => break None,
                Ok(connected) => connected,
            };
            let error = match connected {
                Ok(socket) => {
                    attempt = 0;
                    match self.session(socket).await {
                        Err(Interrupt::Stop) => break None,
                        Ok(error) => error,
                    }
                }
                Err(error) => error,
            };
            if error
                .as_actor()
                .is_some_and(|e| e.group == "actor" && e.code == "not_found")
            {
                self.handle.forget_actor_id();
            }
            if error.is_permanent() {
                break Some(error);
            }
            self.state.report(&error);
            let delay = self.handle.client.reconnect_delay(attempt);
            attempt = attempt.saturating_add(1);
            tracing::debug!(actor = self.handle.name(), %error, ?delay, "connection attempt failed; retrying");
            if let Err(Interrupt::Stop) = self.offline(tokio::time::sleep(delay)).await {
                break None;
            }
        };
        let (status, error) = match end {
            Some(error) => (ConnStatus::Failed, error),
            None => (
                ConnStatus::Disposed,
                Error::Closed("the connection is disposed".into()),
            ),
        };
        if status == ConnStatus::Failed {
            tracing::warn!(actor = self.handle.name(), %error, "connection failed permanently");
            // The error must be readable before the status says Failed.
            *self.state.last_error.lock() = Some(error.clone());
        }
        for (_, _, reply) in self.queued.drain(..) {
            let _ = reply.send(Err(error.clone()));
        }
        self.state.set_status(status);
        if status == ConnStatus::Failed {
            self.state.report(&error);
        }
        for done in self.disposed.drain(..) {
            let _ = done.send(());
        }
    }

    /// Waits for `work` while not connected: actions queue up, subscriptions are left to the
    /// re-subscribe after Init.
    async fn offline<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, Interrupt> {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return Ok(output),
                command = self.commands.recv() => match command {
                    None => return Err(Interrupt::Stop),
                    Some(Command::Dispose { done }) => {
                        self.disposed.push(done);
                        return Err(Interrupt::Stop);
                    }
                    Some(Command::Action { name, args, reply }) => self.queued.push((name, args, reply)),
                    Some(Command::Subscribe { .. }) => {}
                },
            }
        }
    }

    /// Runs one connected session; returns the error that ended it.
    async fn session(&mut self, mut socket: RawWebSocket) -> Result<Error, Interrupt> {
        self.state.set_status(ConnStatus::Connected);
        self.state.fire(|l| &l.open);
        let result = self.serve(&mut socket).await;
        let lost = match &result {
            Ok(error) => error.to_string(),
            Err(Interrupt::Stop) => "the connection is disposed".to_owned(),
        };
        for (_, reply) in self.in_flight.drain() {
            let _ = reply.send(Err(match result {
                Ok(_) => Error::ConnectionLost(lost.clone()),
                Err(Interrupt::Stop) => Error::Closed(lost.clone()),
            }));
        }
        if result.is_ok() {
            self.state.set_status(ConnStatus::Disconnected);
        }
        self.state.fire(|l| &l.close);
        result
    }

    async fn serve(&mut self, socket: &mut RawWebSocket) -> Result<Error, Interrupt> {
        let mut outgoing: Vec<ToServer> = self
            .state
            .event_names()
            .into_iter()
            .map(|event_name| ToServer::SubscriptionRequest {
                event_name,
                subscribe: true,
            })
            .collect();
        for (name, args, reply) in std::mem::take(&mut self.queued) {
            outgoing.push(self.start_action(name, args, reply));
        }
        for message in outgoing {
            if let Err(error) = self.send(socket, message).await {
                return Ok(error);
            }
        }
        loop {
            tokio::select! {
                incoming = socket.next() => {
                    let message = match incoming {
                        Some(Ok(message)) => message,
                        Some(Err(error)) => return Ok(Error::ConnectionLost(error.to_string())),
                        None => return Ok(Error::ConnectionLost("the socket ended".into())),
                    };
                    let data = match message {
                        Message::Text(text) => text.as_bytes().to_vec(),
                        Message::Binary(bytes) => bytes.to_vec(),
                        Message::Close(frame) => return Ok(close_error(frame)),
                        _ => continue,
                    };
                    match ToClient::decode(&data, self.encoding) {
                        Ok(message) => self.receive(socket, message).await,
                        Err(error) => tracing::warn!(%error, "undecodable message from the server ignored"),
                    }
                }
                command = self.commands.recv() => {
                    let message = match command {
                        None | Some(Command::Dispose { .. }) => {
                            if let Some(Command::Dispose { done }) = command {
                                self.disposed.push(done);
                            }
                            let _ = socket
                                .close(Some(CloseFrame { code: CloseCode::Normal, reason: "Disposed".into() }))
                                .await;
                            return Err(Interrupt::Stop);
                        }
                        Some(Command::Action { name, args, reply }) => self.start_action(name, args, reply),
                        Some(Command::Subscribe { event, subscribe }) => ToServer::SubscriptionRequest {
                            event_name: event,
                            subscribe,
                        },
                    };
                    if let Err(error) = self.send(socket, message).await {
                        return Ok(error);
                    }
                }
            }
        }
    }

    fn start_action(&mut self, name: String, args: Vec<Value>, reply: Reply) -> ToServer {
        let id = self.next_action_id;
        self.next_action_id += 1;
        self.in_flight.insert(id, reply);
        ToServer::ActionRequest { id, name, args }
    }

    async fn send(&mut self, socket: &mut RawWebSocket, message: ToServer) -> Result<(), Error> {
        socket
            .send(to_message(
                message.encode(self.encoding, CLIENT_BARE_VERSION),
            ))
            .await
            .map_err(|e| Error::ConnectionLost(e.to_string()))
    }

    async fn receive(&mut self, socket: &mut RawWebSocket, message: ToClient) {
        match message {
            ToClient::ActionResponse { id, output } => {
                if let Some(reply) = self.in_flight.remove(&id) {
                    let _ = reply.send(Ok(output));
                }
            }
            // Any present id is an action error, 0 included (the JS client gets 0 wrong).
            ToClient::Error {
                error,
                action_id: Some(id),
            } => {
                if let Some(reply) = self.in_flight.remove(&id) {
                    let _ = reply.send(Err(ActorError::from(error).into()));
                }
            }
            ToClient::Error {
                error,
                action_id: None,
            } => {
                let error = Error::from(ActorError::from(error));
                for (_, reply) in self.in_flight.drain() {
                    let _ = reply.send(Err(error.clone()));
                }
                self.state.report(&error);
            }
            ToClient::Event { name, args } => {
                if self.state.dispatch(&name, args) {
                    let unsubscribe = ToServer::SubscriptionRequest {
                        event_name: name,
                        subscribe: false,
                    };
                    // A failed send ends the session on the next read.
                    let _ = self.send(socket, unsubscribe).await;
                }
            }
            ToClient::Init { .. } => {}
        }
    }
}

fn to_message(frame: Frame) -> Message {
    match frame {
        Frame::Text(text) => Message::Text(text.into()),
        Frame::Binary(bytes) => Message::Binary(bytes.into()),
    }
}

/// The error a close frame stands for: `group.code[#ray]` reasons are actor errors (§7.3).
fn close_error(frame: Option<CloseFrame>) -> Error {
    let Some(frame) = frame else {
        return Error::ConnectionLost("closed without a reason".into());
    };
    match parse_close_reason(&frame.reason) {
        Some((group, code, _ray_id)) => {
            ActorError::new(group, code, format!("Connection closed: {}", frame.reason)).into()
        }
        None => Error::ConnectionLost(format!(
            "closed (code: {}, reason: {:?})",
            u16::from(frame.code),
            frame.reason.as_str()
        )),
    }
}

/// One connection attempt: find the actor's route, open `/connect`, wait for Init.
async fn connect(handle: ActorHandle<Untyped>, encoding: Encoding) -> Result<RawWebSocket> {
    let url = handle.ws_url("/connect").await?;
    let mut socket = transport::open_websocket(&url, encoding, handle.params()).await?;
    loop {
        let message = match socket.next().await {
            Some(Ok(message)) => message,
            Some(Err(error)) => return Err(Error::Transport(error.to_string())),
            None => return Err(Error::Transport("the socket ended before Init".into())),
        };
        let data = match message {
            Message::Text(text) => text.as_bytes().to_vec(),
            Message::Binary(bytes) => bytes.to_vec(),
            Message::Close(frame) => return Err(close_error(frame)),
            _ => continue,
        };
        match ToClient::decode(&data, encoding)? {
            ToClient::Init { .. } => return Ok(socket),
            ToClient::Error { error, .. } => return Err(ActorError::from(error).into()),
            other => tracing::debug!(?other, "message before Init ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::vectors;

    #[test]
    fn close_reason_vectors() {
        for record in vectors("close-reasons.jsonl") {
            let reason = record["reason"].as_str().unwrap();
            let error = close_error(Some(CloseFrame {
                code: CloseCode::Error,
                reason: reason.into(),
            }));
            let expected = &record["parsed_by_2_1_5_client"];
            match error.as_actor() {
                Some(actor) => {
                    assert_eq!(actor.group, expected["group"], "{reason}");
                    assert_eq!(actor.code, expected["code"], "{reason}");
                }
                None => assert!(expected.is_null(), "{reason}: {error}"),
            }
        }
    }

    #[test]
    fn permanence_of_close_reasons() {
        let permanent = |reason: &str| {
            close_error(Some(CloseFrame {
                code: CloseCode::Error,
                reason: reason.into(),
            }))
            .is_permanent()
        };
        assert!(permanent("user.forbidden"));
        assert!(permanent("auth.unauthorized#ray"));
        assert!(!permanent("actor.internal_error"));
        assert!(!permanent("guard.actor_runner_failed#x"));
        assert!(!permanent("Disposed"));
    }

    #[test]
    fn event_arguments_decode_into_tuples() {
        decode_event_args::<()>(vec![]).unwrap();
        let (n,): (i64,) = decode_event_args(vec![serde_json::json!(5)]).unwrap();
        assert_eq!(n, 5);
        let raw: Vec<Value> = decode_event_args(vec![serde_json::json!("a")]).unwrap();
        assert_eq!(raw, vec![serde_json::json!("a")]);
    }
}
