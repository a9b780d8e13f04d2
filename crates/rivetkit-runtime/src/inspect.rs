//! What the inspector watches on a running actor: a bounded broadcast of changes (state,
//! connections, queue, schedules, broadcast events, errors), a small ring of recent errors and
//! one of recent action spans.
//!
//! Watching must never slow the actor down: nothing is sent while nobody listens, sending never
//! waits, and a listener that falls more than [`CHANNEL_CAPACITY`] changes behind is told so
//! ([`tokio::sync::broadcast::error::RecvError::Lagged`]) instead of holding the actor back.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::SystemTime;

use parking_lot::Mutex;
use rivetkit_protocol::Value;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::clock::now_ms;
use crate::ActorError;

/// How many changes a listener may fall behind before it is dropped.
pub const CHANNEL_CAPACITY: usize = 256;
/// How many errors an actor keeps for the inspector, newest last.
pub const RECENT_ERRORS: usize = 20;
/// How many finished action spans an actor keeps for the inspector, newest last.
pub const RECENT_SPANS: usize = 100;

/// A finished action of this actor, as the inspector's `/traces` shows it. Its ids are those of
/// the action's exported span when traces are exported (so both views agree), fresh random ones
/// otherwise.
#[derive(Clone, Debug)]
pub struct ActionSpan {
    /// The trace the action belongs to.
    pub trace_id: [u8; 16],
    /// The action's own span.
    pub span_id: [u8; 8],
    /// The span this action ran in (a request, or another actor's action calling this one),
    /// when traces are exported.
    pub parent_span_id: Option<[u8; 8]>,
    /// The action's name.
    pub action: String,
    /// When the action started.
    pub start: SystemTime,
    /// When it answered.
    pub end: SystemTime,
    /// `group.code` and message of the error it answered, if it failed.
    pub error: Option<(String, String)>,
}

/// One change of a running actor, as the inspector is told of it.
#[derive(Clone, Debug)]
pub enum Change {
    /// The state changed (read it with [`crate::ActorInspector::state_json`]).
    State,
    /// A connection came, went, subscribed, unsubscribed or changed its state.
    Connections,
    /// A message was queued or taken off the queue.
    Queue,
    /// An alarm was set or fired.
    Schedules,
    /// An event was broadcast (delivered to its subscribers: its state change is durable).
    Event(BroadcastEvent),
    /// An action or hook failed; it is also in [`Inspect::recent_errors`].
    Error(RecordedError),
}

/// A broadcast event as the inspector shows it.
#[derive(Clone, Debug, Serialize)]
pub struct BroadcastEvent {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// The event name.
    pub name: String,
    /// The event's arguments.
    pub args: Vec<Value>,
}

/// A failure of an action or hook, as the inspector shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedError {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// What failed, e.g. `action increment` or `on_disconnect`.
    pub source: String,
    /// The error's group.
    pub group: String,
    /// The error's code.
    pub code: String,
    /// The error's message, unmasked.
    pub message: String,
}

/// An actor's inspector feed.
///
/// Every awake actor has one, and most are never inspected, so it takes memory only as it is
/// used: the change channel when a first listener comes (a tokio broadcast channel allocates
/// all its slots at once, about 20 KiB for 256 changes), the rings as they fill. Made eagerly,
/// these were about 36 KiB of each awake actor's memory.
pub struct Inspect {
    changes: OnceLock<broadcast::Sender<Change>>,
    errors: Mutex<VecDeque<RecordedError>>,
    /// Whether finished actions are kept: a busy actor's ring is about 15 KB, of no use where
    /// nobody can inspect (see [`crate::Runtime::set_action_history`]).
    keeps_spans: bool,
    /// When kept, every action is, watched or not: the span moves in the name the call owned,
    /// and the ring grows to its size in a few steps, then no more (see BENCHMARKS.md).
    spans: Mutex<VecDeque<ActionSpan>>,
}

impl Inspect {
    /// A feed that keeps the recent finished actions if `keeps_spans`.
    pub(crate) fn new(keeps_spans: bool) -> Self {
        Self {
            changes: OnceLock::new(),
            errors: Mutex::default(),
            keeps_spans,
            spans: Mutex::default(),
        }
    }

    /// Listens to the changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes
            .get_or_init(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    /// The change channel, if someone listens to it.
    fn listened(&self) -> Option<&broadcast::Sender<Change>> {
        self.changes
            .get()
            .filter(|changes| changes.receiver_count() > 0)
    }

    /// The last [`RECENT_ERRORS`] errors, oldest first.
    pub fn recent_errors(&self) -> Vec<RecordedError> {
        self.errors.lock().iter().cloned().collect()
    }

    /// The last [`RECENT_SPANS`] finished actions, oldest first.
    pub fn recent_spans(&self) -> Vec<ActionSpan> {
        self.spans.lock().iter().cloned().collect()
    }

    /// Keeps a finished action among the recent spans, if they are kept.
    pub(crate) fn span(&self, span: ActionSpan) {
        if !self.keeps_spans {
            return;
        }
        let mut spans = self.spans.lock();
        if spans.len() == RECENT_SPANS {
            spans.pop_front();
        }
        spans.push_back(span);
    }

    /// Tells the listeners, if any, of `change`.
    pub(crate) fn notify(&self, change: Change) {
        if let Some(changes) = self.listened() {
            // No listener left since the count was read: nobody to tell.
            let _ = changes.send(change);
        }
    }

    /// Tells the listeners of a broadcast event; its arguments are copied only if someone
    /// listens.
    pub(crate) fn event(&self, name: &str, args: &[Value]) {
        if self.listened().is_some() {
            self.notify(Change::Event(BroadcastEvent {
                at: now_ms(),
                name: name.to_owned(),
                args: args.to_vec(),
            }));
        }
    }

    /// Keeps `error` of `source` among the recent errors and tells the listeners.
    pub(crate) fn error(&self, source: impl Into<String>, error: &ActorError) {
        let recorded = RecordedError {
            at: now_ms(),
            source: source.into(),
            group: error.group().to_owned(),
            code: error.code().to_owned(),
            message: error.message().to_owned(),
        };
        {
            let mut errors = self.errors.lock();
            if errors.len() == RECENT_ERRORS {
                errors.pop_front();
            }
            errors.push_back(recorded.clone());
        }
        self.notify(Change::Error(recorded));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_most_recent_errors() {
        let inspect = Inspect::new(true);
        for n in 0..RECENT_ERRORS + 3 {
            inspect.error(format!("action a{n}"), &ActorError::user("boom", "failed"));
        }
        let errors = inspect.recent_errors();
        assert_eq!(errors.len(), RECENT_ERRORS);
        assert_eq!(errors[0].source, "action a3");
        assert_eq!(
            errors.last().map(|error| error.source.as_str()),
            Some(format!("action a{}", RECENT_ERRORS + 2).as_str())
        );
    }

    #[test]
    fn keeps_only_the_most_recent_spans() {
        let inspect = Inspect::new(true);
        for n in 0..RECENT_SPANS + 3 {
            inspect.span(ActionSpan {
                trace_id: [1; 16],
                span_id: [2; 8],
                parent_span_id: None,
                action: format!("a{n}"),
                start: SystemTime::UNIX_EPOCH,
                end: SystemTime::UNIX_EPOCH,
                error: None,
            });
        }
        let spans = inspect.recent_spans();
        assert_eq!(spans.len(), RECENT_SPANS);
        let unkept = Inspect::new(false);
        unkept.span(spans[0].clone());
        assert!(unkept.recent_spans().is_empty());
        assert_eq!(spans[0].action, "a3");
        assert_eq!(
            spans.last().map(|span| span.action.as_str()),
            Some(format!("a{}", RECENT_SPANS + 2).as_str())
        );
    }

    #[test]
    fn a_listener_that_falls_behind_is_told_and_never_blocks_the_sender() {
        let inspect = Inspect::new(true);
        let mut listener = inspect.subscribe();
        for _ in 0..CHANNEL_CAPACITY + 10 {
            inspect.notify(Change::State);
        }
        assert!(matches!(
            listener.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
    }
}
