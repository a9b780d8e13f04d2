//! What the inspector watches on a running actor: a bounded broadcast of changes (state,
//! connections, queue, schedules, broadcast events, errors) and a small ring of recent errors.
//!
//! Watching must never slow the actor down: nothing is sent while nobody listens, sending never
//! waits, and a listener that falls more than [`CHANNEL_CAPACITY`] changes behind is told so
//! ([`tokio::sync::broadcast::error::RecvError::Lagged`]) instead of holding the actor back.

use std::collections::VecDeque;

use parking_lot::Mutex;
use rivetkit_protocol::Value;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::context::now_ms;
use crate::ActorError;

/// How many changes a listener may fall behind before it is dropped.
pub const CHANNEL_CAPACITY: usize = 256;
/// How many errors an actor keeps for the inspector, newest last.
pub const RECENT_ERRORS: usize = 20;

/// One change of a running actor, as the inspector is told of it.
#[derive(Clone, Debug)]
pub enum Change {
    /// The state changed (read it with [`crate::ActorInstance::state_json`]).
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
    pub name: String,
    pub args: Vec<Value>,
}

/// A failure of an action or hook, as the inspector shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedError {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// What failed, e.g. `action increment` or `on_disconnect`.
    pub source: String,
    pub group: String,
    pub code: String,
    pub message: String,
}

/// An actor's inspector feed.
pub struct Inspect {
    changes: broadcast::Sender<Change>,
    errors: Mutex<VecDeque<RecordedError>>,
}

impl Default for Inspect {
    fn default() -> Self {
        Self {
            changes: broadcast::channel(CHANNEL_CAPACITY).0,
            errors: Mutex::new(VecDeque::with_capacity(RECENT_ERRORS)),
        }
    }
}

impl Inspect {
    /// Listens to the changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The last [`RECENT_ERRORS`] errors, oldest first.
    pub fn recent_errors(&self) -> Vec<RecordedError> {
        self.errors.lock().iter().cloned().collect()
    }

    /// Tells the listeners, if any, of `change`.
    pub(crate) fn notify(&self, change: Change) {
        if self.changes.receiver_count() > 0 {
            // No listener left since the count was read: nobody to tell.
            let _ = self.changes.send(change);
        }
    }

    /// Tells the listeners of a broadcast event; its arguments are copied only if someone
    /// listens.
    pub(crate) fn event(&self, name: &str, args: &[Value]) {
        if self.changes.receiver_count() > 0 {
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
        let inspect = Inspect::default();
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
    fn a_listener_that_falls_behind_is_told_and_never_blocks_the_sender() {
        let inspect = Inspect::default();
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
