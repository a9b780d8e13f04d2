//! Connections: the clients an actor knows about, what they subscribed to, and what is sent
//! to them.
//!
//! A WebSocket client holds a [`Connection`] for as long as its socket is open. The actor pushes
//! [`Outgoing`] items into the connection's queue; the server drains the queue, encodes each item
//! in the client's encoding and writes it to the socket. Dropping the [`Connection`] removes it
//! from the actor.

use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use rivetkit_protocol::{Encoding, Frame, ToClient, Value};
use tokio::sync::{mpsc, oneshot};

use crate::activity::ActivityGuard;
use crate::instance::ActorInstance;
use crate::ActorError;

/// An event, shared by every connection it goes to and encoded at most once per encoding.
#[derive(Debug)]
pub struct SharedEvent {
    pub name: String,
    pub args: Vec<Value>,
    frames: [OnceLock<Frame>; 3],
    /// Told once the event is written to its (one) connection's socket; see [`DirectWrites`].
    /// `None` for every event nobody waits on (all broadcasts), so writing those takes no lock.
    written: Option<Mutex<Option<oneshot::Sender<()>>>>,
}

impl SharedEvent {
    pub fn new(name: String, args: Vec<Value>) -> Self {
        Self {
            name,
            args,
            frames: Default::default(),
            written: None,
        }
    }

    /// An event for one connection, sent by the action running in this task (if any): that
    /// action's answer then waits until the event is written (see [`DirectWrites`]).
    pub(crate) fn direct(name: String, args: Vec<Value>) -> Self {
        Self {
            written: DirectWrites::track().map(|written| Mutex::new(Some(written))),
            ..Self::new(name, args)
        }
    }

    /// Whether an action waits for this event to be written ([`SharedEvent::mark_written`]).
    pub fn awaits_write(&self) -> bool {
        self.written.is_some()
    }

    /// The transport calls this once the event is on the client's socket.
    pub fn mark_written(&self) {
        if let Some(written) = self
            .written
            .as_ref()
            .and_then(|written| written.lock().take())
        {
            let _ = written.send(());
        }
    }

    /// This event as a `ToClient` frame in `encoding`, encoded on first use.
    pub fn frame(&self, encoding: Encoding) -> &Frame {
        let slot = match encoding {
            Encoding::Json => 0,
            Encoding::Cbor => 1,
            Encoding::Bare => 2,
        };
        self.frames[slot].get_or_init(|| {
            ToClient::Event {
                name: self.name.clone(),
                args: self.args.clone(),
            }
            .encode(encoding)
        })
    }
}

tokio::task_local! {
    static DIRECT_WRITES: RefCell<Vec<oneshot::Receiver<()>>>;
}

/// Events an action sends to single connections (`c.send_to`) reach their sockets before the
/// action's own answer: the official server writes them synchronously, and clients (the
/// official test suite among them) count on a message sent to a peer having arrived once the
/// call that sent it returned. Each such event is tracked while the action runs, and the answer
/// waits for them to be written, up to [`DIRECT_WRITE_WAIT`] (a peer that does not read, or
/// sleeps hibernated, must not hold the caller for long).
pub(crate) struct DirectWrites;

/// How long an action's answer waits for the events it sent to single connections.
const DIRECT_WRITE_WAIT: Duration = Duration::from_millis(500);

impl DirectWrites {
    /// Runs `call`, then waits for the direct events it sent to be written.
    pub(crate) async fn around<T>(call: impl Future<Output = T>) -> T {
        DIRECT_WRITES
            .scope(RefCell::new(Vec::new()), async {
                let result = call.await;
                let pending = DIRECT_WRITES.with(|writes| writes.take());
                // A dropped sender (socket gone, event refused) counts as done.
                let all_written = futures::future::join_all(pending);
                let _ = tokio::time::timeout(DIRECT_WRITE_WAIT, all_written).await;
                result
            })
            .await
    }

    /// A sender to tell when a direct event is written, if an action is running here.
    fn track() -> Option<oneshot::Sender<()>> {
        DIRECT_WRITES
            .try_with(|writes| {
                let (written, wait) = oneshot::channel();
                writes.borrow_mut().push(wait);
                written
            })
            .ok()
    }
}

/// What an actor sends to one connection.
#[derive(Debug)]
pub enum Outgoing {
    Event(Arc<SharedEvent>),
    ActionResponse {
        id: u64,
        result: Result<Value, ActorError>,
    },
    /// A connection-level error (such as a refused subscription); the connection stays open.
    Error(ActorError),
    /// The actor ends the connection (close code, reason).
    Close(u16, String),
    /// The actor goes to sleep and keeps this connection: keep the socket open, and hand the
    /// snapshot back with `ActorInstance::resume` when the client next speaks.
    Hibernate(HibernatedConn),
}

/// A connection kept while its actor sleeps: everything needed to put it back as it was.
#[derive(Clone, Debug)]
pub struct HibernatedConn {
    pub id: Arc<str>,
    pub params: Value,
    pub state: Value,
    pub subscriptions: HashSet<String>,
}

/// The actor-side record of one connection.
pub(crate) struct ConnEntry {
    /// Where its messages go; `None` for the short-lived connection of a stateless call.
    pub(crate) sender: Option<mpsc::UnboundedSender<Outgoing>>,
    pub(crate) subscriptions: HashSet<String>,
    pub(crate) params: Value,
    /// Made by `create_conn_state` (`Null` without it).
    pub(crate) state: Value,
    /// Keeps the actor awake while a long-lived connection is open.
    pub(crate) _open: Option<ActivityGuard>,
    /// Set once its disconnect started, so that it runs once.
    pub(crate) releasing: bool,
}

impl ConnEntry {
    pub(crate) fn send(&self, item: Outgoing) {
        if let Some(sender) = &self.sender {
            // A closed receiver means the socket is going away; its disconnect is on its way.
            let _ = sender.send(item);
        }
    }
}

/// A client's live connection to an actor. Dropping it disconnects.
pub struct Connection {
    /// Set once the actor hibernated this connection: dropping it then must not disconnect.
    pub(crate) detached: bool,
    pub(crate) id: Arc<str>,
    pub(crate) actor: Arc<dyn ActorInstance>,
    pub(crate) sender: mpsc::UnboundedSender<Outgoing>,
    pub(crate) outgoing: mpsc::UnboundedReceiver<Outgoing>,
}

impl Connection {
    pub fn id(&self) -> &str {
        &self.id
    }

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
            let _ = self.sender.send(Outgoing::Error(error));
        }
    }

    /// Calls an action as this connection and queues its response; returns at once so that
    /// the connection can go on reading while the action runs.
    pub fn spawn_action(&self, id: u64, name: String, args: Vec<Value>) {
        let call = self
            .actor
            .clone()
            .call_action(Some(self.id.clone()), name, args);
        let sender = self.sender.clone();
        tokio::spawn(async move {
            let result = call.await;
            let _ = sender.send(Outgoing::ActionResponse { id, result });
        });
    }

    /// The next item to send to the client; `None` never happens while the connection lives.
    pub async fn next_outgoing(&mut self) -> Option<Outgoing> {
        self.outgoing.recv().await
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
            self.actor.clone().disconnect(self.id.clone());
        }
    }
}
