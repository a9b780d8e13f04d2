//! Connections: the clients an actor knows about, what they subscribed to, and what is sent
//! to them.
//!
//! A WebSocket client holds a [`Connection`](crate::Connection) for as long as its socket is
//! open. The actor pushes [`Outgoing`] items into the connection's queue; the server drains the
//! queue, encodes each item in the client's encoding and writes it to the socket. Dropping the
//! `Connection` removes it from the actor.
//!
//! This module holds the connection's plumbing (its queue, limits and the actor's record of it)
//! and knows nothing of the actor: the `Connection` handle, which calls into the actor, lives
//! with the erased actor trait in `handle`.
//!
//! Each connection has limits ([`ConnLimits`]): its queue holds at most so many bytes not yet
//! taken by the socket (a client that does not read is cut off instead of growing the server's
//! memory), and it holds at most so many subscriptions.

use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use rivetkit_protocol::{Encoding, Frame, ToClient, Value};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::activity::ActivityGuard;
use crate::ActorError;

/// An event, shared by every connection it goes to and encoded at most once per encoding.
#[derive(Debug)]
pub struct SharedEvent {
    /// The event name.
    pub name: String,
    /// The event's arguments.
    pub args: Vec<Value>,
    frames: [OnceLock<Frame>; 3],
    /// About how many bytes it takes on the wire (its arguments as JSON), counted against each
    /// subscriber's queue budget.
    size: usize,
    /// Told once the event is written to its (one) connection's socket; see [`DirectWrites`].
    /// `None` for every event nobody waits on (all broadcasts), so writing those takes no lock.
    written: Option<Mutex<Option<oneshot::Sender<()>>>>,
}

impl SharedEvent {
    /// An event not yet encoded in any encoding.
    pub fn new(name: String, args: Vec<Value>) -> Self {
        let size = name.len() + json_size(&args);
        Self {
            name,
            args,
            frames: Default::default(),
            size,
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
    /// An event for this connection (broadcast to subscribers or sent to it alone).
    Event(Arc<SharedEvent>),
    /// The answer to one of the connection's actions.
    ActionResponse {
        /// The id the client gave the action.
        id: u64,
        /// Its output, or the error it failed with.
        result: Result<Value, ActorError>,
    },
    /// A connection-level error (such as a refused subscription); the connection stays open.
    Error(ActorError),
    /// The actor ends the connection (close code, reason).
    Close(u16, String),
    /// The actor goes to sleep and keeps this connection: keep the socket open, and hand the
    /// snapshot back with [`ActorInstance::resume`](crate::ActorInstance::resume) when the client
    /// next speaks. Boxed: it is
    /// rare and large, and every connection's queue reserves room for a block of items.
    Hibernate(Box<HibernatedConn>),
}

/// A connection kept while its actor sleeps: everything needed to put it back as it was.
#[derive(Clone, Debug)]
pub struct HibernatedConn {
    /// The connection id, kept so that the client's connection keeps its identity.
    pub id: Arc<str>,
    /// The params the connection was opened with.
    pub params: Value,
    /// The connection's state.
    pub state: Value,
    /// The events it was subscribed to.
    pub subscriptions: HashSet<String>,
}

/// What one queued item costs besides its payload: its channel slot (96 bytes) and a share of
/// the event record it points to. Counting only the payload would let a stream of tiny events
/// hold several times the budget in memory.
pub(crate) const ITEM_OVERHEAD: usize = 128;

impl Outgoing {
    /// What this item costs the connection's queue budget; control items cost nothing, so that
    /// a close or a hibernation always gets through.
    fn queued_size(&self) -> usize {
        match self {
            Outgoing::Event(event) => ITEM_OVERHEAD + event.size,
            Outgoing::ActionResponse {
                result: Ok(output), ..
            } => ITEM_OVERHEAD + json_size(output),
            Outgoing::ActionResponse { result: Err(_), .. } | Outgoing::Error(_) => ITEM_OVERHEAD,
            Outgoing::Close(..) | Outgoing::Hibernate(_) => 0,
        }
    }
}

/// The length of `value` as JSON, without keeping the text.
fn json_size(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // A value that does not serialize is refused before it is queued; count it as nothing.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// What a server enforces on each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// Bytes (about: messages as JSON, plus 128 per message) queued for the connection
    /// and not yet taken by its socket. Beyond it the connection is a slow consumer: it gets
    /// nothing more and its socket is closed. One message larger than this still passes when
    /// nothing else is queued.
    pub max_outgoing_bytes: usize,
    /// Events one connection may be subscribed to at once.
    pub max_subscriptions: usize,
}

/// Default [`ConnLimits::max_outgoing_bytes`]: 8 MiB.
pub const DEFAULT_MAX_OUTGOING_BYTES: usize = 8 * 1024 * 1024;
/// Default [`ConnLimits::max_subscriptions`].
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 1000;

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_outgoing_bytes: DEFAULT_MAX_OUTGOING_BYTES,
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
        }
    }
}

/// A flag that, once raised, stays raised and wakes whoever waits for it.
#[derive(Default)]
pub(crate) struct Signal {
    raised: AtomicBool,
    wake: Notify,
}

impl Signal {
    pub(crate) fn raise(&self) {
        if !self.raised.swap(true, Ordering::AcqRel) {
            self.wake.notify_waiters();
        }
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Resolves once raised; at once if it already is.
    pub(crate) async fn raised(&self) {
        let woken = self.wake.notified();
        tokio::pin!(woken);
        // Registered before looking, so that a raise in between still wakes us.
        woken.as_mut().enable();
        if !self.is_raised() {
            woken.await;
        }
    }
}

/// What the actor side and the socket side of one connection share.
pub(crate) struct ConnLink {
    limits: ConnLimits,
    /// Bytes queued and not yet taken by the socket side.
    queued: AtomicUsize,
    /// The queue went over its budget: nothing more is queued, the socket is to be closed.
    pub(crate) overflowed: Signal,
    /// The connection ended: waits of its calls give up (see `Queue::receive`).
    pub(crate) gone: Signal,
}

impl ConnLink {
    pub(crate) fn new(limits: ConnLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            queued: AtomicUsize::new(0),
            overflowed: Signal::default(),
            gone: Signal::default(),
        })
    }

    pub(crate) fn max_subscriptions(&self) -> usize {
        self.limits.max_subscriptions
    }

    /// Whether an item of `size` bytes may be queued: control items (size 0) always may; others
    /// only while the queue has not overflowed and they fit, and then they take their bytes.
    pub(crate) fn admit(&self, size: usize) -> bool {
        size == 0 || (!self.overflowed.is_raised() && self.reserve(size))
    }

    /// Takes `size` bytes of the budget; `false` (and the queue overflows) if they do not fit.
    fn reserve(&self, size: usize) -> bool {
        let limit = self.limits.max_outgoing_bytes;
        let fits = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued == 0 || queued.saturating_add(size) <= limit).then_some(queued + size)
            })
            .is_ok();
        if !fits {
            self.overflowed.raise();
        }
        fits
    }

    pub(crate) fn release(&self, size: usize) {
        self.queued.fetch_sub(size, Ordering::AcqRel);
    }
}

/// The actor's end of a connection's queue.
#[derive(Clone)]
pub(crate) struct OutgoingSender {
    items: mpsc::UnboundedSender<(Outgoing, usize)>,
    pub(crate) link: Arc<ConnLink>,
}

impl OutgoingSender {
    /// Queues `item` within the budget. An item over it is dropped and the queue overflows:
    /// the socket side then closes the connection, so nothing after the gap is ever delivered
    /// and the order of what the client sees is kept. Never waits.
    pub(crate) fn send(&self, item: Outgoing) {
        let size = item.queued_size();
        if !self.link.admit(size) {
            return;
        }
        // A closed receiver means the socket is going away; its disconnect is on its way.
        if self.items.send((item, size)).is_err() {
            self.link.release(size);
        }
    }
}

/// The socket's end of a connection's queue: each item with what it costs the budget.
pub(crate) type OutgoingReceiver = mpsc::UnboundedReceiver<(Outgoing, usize)>;

/// A new connection's queue: the actor's end and the socket's end.
pub(crate) fn outgoing_queue(limits: ConnLimits) -> (OutgoingSender, OutgoingReceiver) {
    let (items, outgoing) = mpsc::unbounded_channel();
    let sender = OutgoingSender {
        items,
        link: ConnLink::new(limits),
    };
    (sender, outgoing)
}

/// What kind of connection a record is: where its messages go, and what keeps the actor awake
/// while it lasts.
pub(crate) enum ConnKind {
    /// A client's WebSocket speaking the actor protocol: events and answers go to its queue,
    /// and it keeps the actor awake while open.
    Socket {
        sender: OutgoingSender,
        _open: ActivityGuard,
    },
    /// A raw WebSocket (`on_websocket`): its handler owns the socket, so nothing is queued; it
    /// keeps the actor awake while the handler runs.
    RawSocket { _open: ActivityGuard },
    /// The short-lived connection of one stateless call, queue send or raw HTTP request: the
    /// call's own work keeps the actor awake, and nothing is sent to it.
    Call,
}

impl ConnKind {
    /// Where its messages go: only a protocol socket has a queue.
    pub(crate) fn sender(&self) -> Option<&OutgoingSender> {
        match self {
            ConnKind::Socket { sender, .. } => Some(sender),
            ConnKind::RawSocket { .. } | ConnKind::Call => None,
        }
    }
}

/// The actor-side record of one connection.
pub(crate) struct ConnEntry {
    pub(crate) kind: ConnKind,
    pub(crate) subscriptions: HashSet<String>,
    pub(crate) params: Value,
    /// Made by `create_conn_state` (`Null` without it).
    pub(crate) state: Value,
    /// Set once its disconnect started, so that it runs once.
    pub(crate) releasing: bool,
}

impl ConnEntry {
    /// A connection just admitted (or put back from hibernation), not yet leaving.
    pub(crate) fn new(
        kind: ConnKind,
        params: Value,
        state: Value,
        subscriptions: HashSet<String>,
    ) -> Self {
        Self {
            kind,
            subscriptions,
            params,
            state,
            releasing: false,
        }
    }

    /// Queues `item` for the connection; dropped for one without a queue.
    pub(crate) fn send(&self, item: Outgoing) {
        if let Some(sender) = self.kind.sender() {
            sender.send(item);
        }
    }
}

/// One of the actor's connections, as [`Ctx::conns`](crate::Ctx::conns) lists them.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The connection id.
    pub id: String,
    /// The params the client connected with (`Null` when none).
    pub params: Value,
    /// The connection's state (`Null` when the actor has no `create_conn_state`).
    pub state: Value,
    /// The events it is subscribed to, sorted.
    pub subscriptions: Vec<String>,
}

impl ConnInfo {
    /// How the listing shows the connection `id` of record `entry`.
    pub(crate) fn of(id: &str, entry: &ConnEntry) -> Self {
        let mut subscriptions: Vec<String> = entry.subscriptions.iter().cloned().collect();
        subscriptions.sort();
        Self {
            id: id.to_owned(),
            params: entry.params.clone(),
            state: entry.state.clone(),
            subscriptions,
        }
    }
}

/// Tells when a connection's queue overflowed; see
/// [`Connection::overflow_watch`](crate::Connection::overflow_watch).
#[derive(Clone)]
pub struct OverflowWatch(pub(crate) Arc<ConnLink>);

impl OverflowWatch {
    /// Resolves once the queue overflowed; at once if it already has.
    pub async fn overflowed(&self) {
        self.0.overflowed.raised().await
    }

    /// Whether the budget was exceeded: the socket is to be closed as a slow consumer.
    pub fn is_overflowed(&self) -> bool {
        self.0.overflowed.is_raised()
    }
}
