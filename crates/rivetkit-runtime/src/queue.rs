//! Actor queues: durable, per-actor, first-in-first-out across all queue names.
//!
//! Clients (or the actor itself) send `(name, body)` messages; actor code receives them with
//! [`Queue::receive`], optionally as *completable* messages that stay queued until
//! [`QueueMessage::complete`] — which also answers a sender that waits for the completion.
//! Every enqueue and every removal is durable before it is acknowledged.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rivetkit_protocol::{value, Value};
use rivetkit_storage::ActorStore;
use serde::Serialize;
use tokio::sync::{oneshot, Notify};

use crate::activity::Activity;
use crate::clock::now_ms;
use crate::conn::Signal;
use crate::inspect::{Change, Inspect};
use crate::metrics;
use crate::{ActorError, ActorResult};

/// Default most messages one actor's queue holds.
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 1000;
/// Default largest message (its body encoded as JSON), in bytes.
pub const DEFAULT_MAX_QUEUE_MESSAGE_SIZE: usize = 64 * 1024;

#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueLimits {
    pub(crate) max_size: usize,
    pub(crate) max_message_size: usize,
}

#[derive(Clone)]
struct Queued {
    id: i64,
    name: String,
    body: Value,
    created_at: i64,
}

#[derive(Default)]
struct QueueState {
    messages: VecDeque<Queued>,
    /// Senders waiting for a message to be completed, by message id.
    completions: HashMap<i64, oneshot::Sender<Option<Value>>>,
}

/// One actor's queue: the messages (mirrored in memory, durable in the store) and the waits.
pub(crate) struct QueueCore {
    store: Arc<dyn ActorStore>,
    limits: QueueLimits,
    state: Mutex<QueueState>,
    arrived: Notify,
    activity: Arc<Activity>,
    /// Told of every message queued or taken off.
    inspect: Arc<Inspect>,
}

/// A queue send as a client makes it.
#[derive(Clone, Debug)]
pub struct QueueSend {
    /// The queue name.
    pub name: String,
    /// The message.
    pub body: Value,
    /// Answer only once the actor completed the message.
    pub wait: bool,
    /// How long to wait when `wait` is set; `None`: no limit, zero or less: at once.
    pub timeout_ms: Option<i64>,
}

/// How a send ended, for senders that wait.
#[derive(Clone, Debug, PartialEq)]
pub enum SendOutcome {
    /// Enqueued (no wait), dropped (no such queue), or completed with this response.
    Completed(Option<Value>),
    /// `wait` was set and the timeout passed before the actor completed the message.
    TimedOut,
}

impl QueueCore {
    pub(crate) async fn load(
        store: Arc<dyn ActorStore>,
        limits: QueueLimits,
        activity: Arc<Activity>,
        inspect: Arc<Inspect>,
    ) -> ActorResult<Arc<Self>> {
        let messages = store
            .queue_load()
            .await?
            .into_iter()
            .map(|stored| {
                Ok(Queued {
                    id: stored.message_id,
                    name: stored.name,
                    body: serde_json::from_slice(&stored.body)?,
                    created_at: stored.created_at,
                })
            })
            .collect::<Result<VecDeque<_>, serde_json::Error>>()?;
        metrics::queue_messages_added(messages.len());
        Ok(Arc::new(Self {
            store,
            limits,
            state: Mutex::new(QueueState {
                messages,
                completions: HashMap::new(),
            }),
            arrived: Notify::new(),
            activity,
            inspect,
        }))
    }

    /// Appends a message durably. With `wait`, also returns where its completion will arrive.
    pub(crate) async fn enqueue(
        &self,
        name: &str,
        body: Value,
        wait: bool,
    ) -> ActorResult<Option<oneshot::Receiver<Option<Value>>>> {
        let encoded = serde_json::to_vec(&body)?;
        if encoded.len() > self.limits.max_message_size {
            return Err(ActorError::public(
                "queue",
                "message_too_large",
                format!(
                    "Queue message is {} bytes; the limit is {} bytes.",
                    encoded.len(),
                    self.limits.max_message_size
                ),
            ));
        }
        if self.state.lock().messages.len() >= self.limits.max_size {
            return Err(ActorError::public(
                "queue",
                "full",
                format!("Queue is full. Limit is {} messages.", self.limits.max_size),
            ));
        }
        let created_at = now_ms();
        let id = self
            .store
            .queue_push(name.to_owned(), encoded, created_at)
            .await?;
        let completion = {
            let mut state = self.state.lock();
            state.messages.push_back(Queued {
                id,
                name: name.to_owned(),
                body,
                created_at,
            });
            metrics::queue_messages_added(1);
            wait.then(|| {
                let (sender, receiver) = oneshot::channel();
                state.completions.insert(id, sender);
                receiver
            })
        };
        self.arrived.notify_waiters();
        self.inspect.notify(Change::Queue);
        Ok(completion)
    }

    /// Up to `count` messages whose name is in `names` (any name when `None`), in send order.
    /// Non-completable messages are removed from the queue; completable ones stay until done.
    async fn take(
        &self,
        names: Option<&[String]>,
        count: usize,
        completable: bool,
    ) -> ActorResult<Vec<Queued>> {
        let taken: Vec<Queued> = {
            let mut state = self.state.lock();
            let matches =
                |message: &Queued| names.is_none_or(|names| names.contains(&message.name));
            if completable {
                state
                    .messages
                    .iter()
                    .filter(|m| matches(m))
                    .take(count)
                    .cloned()
                    .collect()
            } else {
                let mut taken = Vec::new();
                let mut kept = VecDeque::with_capacity(state.messages.len());
                for message in state.messages.drain(..) {
                    if taken.len() < count && matches(&message) {
                        taken.push(message);
                    } else {
                        kept.push_back(message);
                    }
                }
                state.messages = kept;
                metrics::queue_messages_removed(taken.len());
                taken
            }
        };
        if !completable && !taken.is_empty() {
            self.inspect.notify(Change::Queue);
            self.store
                .queue_remove(taken.iter().map(|m| m.id).collect())
                .await?;
        }
        Ok(taken)
    }

    async fn receive(
        &self,
        names: Option<&[String]>,
        count: usize,
        timeout: Option<Duration>,
        completable: bool,
        in_run: bool,
        conn_gone: Option<&Signal>,
    ) -> ActorResult<Vec<Queued>> {
        let deadline = timeout.map(|timeout| tokio::time::Instant::now() + timeout);
        loop {
            // Registered before looking, so that a message arriving in between still wakes us.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if self.activity.is_aborted() {
                return Err(aborted());
            }
            // Checked before taking: a message is taken (and removed) only for a caller that
            // can still be answered, and a cancelled wait has taken nothing.
            if conn_gone.is_some_and(Signal::is_raised) {
                return Err(connection_gone());
            }
            let taken = self.take(names, count, completable).await?;
            if !taken.is_empty() || timeout == Some(Duration::ZERO) {
                return Ok(taken);
            }
            // A `run` handler that only waits for messages lets the actor sleep.
            let _waiting = in_run.then(|| RunWaiting::start(&self.activity));
            let timed_out = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut arrived => {}
                () = timed_out => return Ok(Vec::new()),
                () = self.activity.aborted() => return Err(aborted()),
                () = async {
                    match conn_gone {
                        Some(gone) => gone.raised().await,
                        None => std::future::pending().await,
                    }
                } => return Err(connection_gone()),
            }
        }
    }

    /// Removes a completed message and answers its waiting sender, if any.
    async fn complete(&self, id: i64, response: Option<Value>) -> ActorResult<()> {
        self.store.queue_remove(vec![id]).await?;
        let waiter = {
            let mut state = self.state.lock();
            let before = state.messages.len();
            state.messages.retain(|message| message.id != id);
            metrics::queue_messages_removed(before - state.messages.len());
            state.completions.remove(&id)
        };
        self.inspect.notify(Change::Queue);
        if let Some(waiter) = waiter {
            let _ = waiter.send(response);
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.state.lock().messages.len()
    }
}

/// The messages of a queue that is gone (its actor stopped) no longer wait in an awake actor.
impl Drop for QueueCore {
    fn drop(&mut self) {
        metrics::queue_messages_removed(self.state.get_mut().messages.len());
    }
}

impl QueueCore {
    pub(crate) fn snapshot(&self, limit: usize) -> QueueSnapshot {
        let state = self.state.lock();
        QueueSnapshot {
            size: state.messages.len(),
            max_size: self.limits.max_size,
            messages: state
                .messages
                .iter()
                .take(limit)
                .map(|m| serde_json::json!({ "id": m.id, "name": m.name, "body": m.body, "createdAt": m.created_at }))
                .collect(),
        }
    }
}

/// A look at a queue (for the inspector).
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSnapshot {
    /// How many messages are queued.
    pub size: usize,
    /// How many the queue accepts before sends fail with `queue/full`.
    pub max_size: usize,
    /// The first messages as `{ id, name, body, createdAt }`.
    pub messages: Vec<Value>,
}

fn aborted() -> ActorError {
    ActorError::public(
        "actor",
        "aborted",
        "The actor is stopping; the operation was aborted",
    )
}

fn connection_gone() -> ActorError {
    ActorError::public(
        "connection",
        "closed",
        "The connection of this call closed; its wait was cancelled",
    )
}

/// While alive, the `run` handler counts as waiting rather than working.
struct RunWaiting<'a>(&'a Activity);

impl<'a> RunWaiting<'a> {
    fn start(activity: &'a Activity) -> Self {
        activity.set_running(false);
        Self(activity)
    }
}

impl Drop for RunWaiting<'_> {
    fn drop(&mut self) {
        self.0.set_running(true);
    }
}

/// What to receive: `Receive::any()` or `Receive::names([...])`, then `.count(n)`,
/// `.timeout(d)`, `.completable()`.
#[derive(Clone, Debug)]
pub struct Receive {
    names: Option<Vec<String>>,
    count: usize,
    timeout: Option<Duration>,
    completable: bool,
}

impl Receive {
    /// Messages of any queue name.
    pub fn any() -> Self {
        Self {
            names: None,
            count: 1,
            timeout: None,
            completable: false,
        }
    }

    /// Messages of these queue names only (an empty list means any name).
    pub fn names<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        Self {
            names: (!names.is_empty()).then_some(names),
            ..Self::any()
        }
    }

    /// At most this many messages (at least 1; default 1).
    pub fn count(mut self, count: usize) -> Self {
        self.count = count.max(1);
        self
    }

    /// Give up after `timeout` with no messages (default: wait until some arrive). A zero
    /// timeout only takes what is already there.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Leave each message queued until it is completed (see [`QueueMessage::complete`]).
    pub fn completable(mut self) -> Self {
        self.completable = true;
        self
    }
}

/// A received message.
#[derive(Debug)]
pub struct QueueMessage {
    /// Increasing with send order, across all queue names of the actor.
    pub id: i64,
    /// The queue name it was sent to.
    pub name: String,
    /// The message body.
    pub body: Value,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    completion: Option<Completion>,
}

struct Completion {
    core: Arc<QueueCore>,
    done: AtomicBool,
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("done", &self.done)
            .finish()
    }
}

impl QueueMessage {
    /// The body as a typed value.
    pub fn body<T: serde::de::DeserializeOwned>(&self) -> ActorResult<T> {
        Ok(value::to_typed(self.body.clone())?)
    }

    /// Whether a sender waits for this message's completion.
    pub fn is_completable(&self) -> bool {
        self.completion.is_some()
    }

    /// Completes a completable message: removes it from the queue and answers a sender that
    /// waits for it with `response`. A second call fails with `queue/already_completed`.
    pub async fn complete<R: Serialize>(&self, response: Option<R>) -> ActorResult<()> {
        let Some(completion) = &self.completion else {
            return Err(ActorError::public(
                "queue",
                "not_completable",
                "Only messages received with `completable()` can be completed",
            ));
        };
        if completion.done.swap(true, Ordering::SeqCst) {
            return Err(ActorError::public(
                "queue",
                "already_completed",
                "Queue message was already completed",
            ));
        }
        let response = response.map(|r| value::from_typed(&r)).transpose()?;
        if let Err(error) = completion.core.complete(self.id, response).await {
            completion.done.store(false, Ordering::SeqCst);
            return Err(error);
        }
        completion.pending.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

/// The actor's own queue, as actor code sees it (`c.queue()`).
pub struct Queue<'a> {
    pub(crate) core: &'a Arc<QueueCore>,
    /// Completable messages this context received and has not completed yet.
    pub(crate) pending: &'a Arc<AtomicUsize>,
    pub(crate) in_run: bool,
    /// Raised when the connection the call runs for goes (`None` outside connections).
    pub(crate) conn_gone: Option<&'a Signal>,
}

impl Queue<'_> {
    /// Receives messages as `receive` says, waiting for them unless it sets a zero timeout;
    /// fails with `actor/aborted` when the actor stops meanwhile, and with `connection/closed`
    /// when the WebSocket connection the call runs for goes (nothing is taken then).
    pub async fn receive(&self, receive: Receive) -> ActorResult<Vec<QueueMessage>> {
        if self.pending.load(Ordering::SeqCst) > 0 {
            return Err(ActorError::public(
                "queue",
                "previous_message_not_completed",
                "Complete the previous queue message before receiving the next one",
            ));
        }
        let taken = self
            .core
            .receive(
                receive.names.as_deref(),
                receive.count,
                receive.timeout,
                receive.completable,
                self.in_run,
                self.conn_gone,
            )
            .await?;
        Ok(taken
            .into_iter()
            .map(|message| {
                let completion = receive.completable.then(|| {
                    self.pending.fetch_add(1, Ordering::SeqCst);
                    Completion {
                        core: self.core.clone(),
                        done: AtomicBool::new(false),
                        pending: self.pending.clone(),
                    }
                });
                QueueMessage {
                    id: message.id,
                    name: message.name,
                    body: message.body,
                    created_at: message.created_at,
                    completion,
                }
            })
            .collect())
    }

    /// The next message (see [`Queue::receive`]); `None` after a timeout.
    pub async fn next(&self, receive: Receive) -> ActorResult<Option<QueueMessage>> {
        Ok(self.receive(receive.count(1)).await?.into_iter().next())
    }

    /// Sends a message to this actor's own queue.
    pub async fn send<B: Serialize>(&self, name: &str, body: B) -> ActorResult<()> {
        self.core
            .enqueue(name, value::from_typed(&body)?, false)
            .await?;
        Ok(())
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Waits for a sent message's completion as a sender asked (`timeout` in ms; zero or less
/// gives up at once, `None` waits as long as it takes).
pub(crate) async fn await_completion(
    completion: oneshot::Receiver<Option<Value>>,
    timeout_ms: Option<i64>,
) -> SendOutcome {
    let completed =
        |answer: Result<Option<Value>, _>| SendOutcome::Completed(answer.ok().flatten());
    match timeout_ms {
        Some(ms) if ms <= 0 => SendOutcome::TimedOut,
        Some(ms) => {
            match tokio::time::timeout(Duration::from_millis(ms as u64), completion).await {
                Ok(answer) => completed(answer),
                Err(_) => SendOutcome::TimedOut,
            }
        }
        None => completed(completion.await),
    }
}
