//! What the runtime records through the [`metrics`] facade (nothing when no recorder is
//! installed): actions, the actors' lifecycle, events, queues and errors.
//!
//! Every label comes from a bounded set, never from an actor id: actor names and action names
//! are the ones the registry defines (a call of any other action is labelled
//! [`UNKNOWN_ACTION`]), and error group/code pairs are capped ([`record_error`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram, SharedString};

use crate::ActorError;

/// Counter: actions that ended, by `actor`, `action` and `outcome` (`ok` or `error`).
pub const ACTIONS: &str = "rivetkit_actions_total";
/// Histogram (seconds): an action from its call until its changes are durable, by `actor` and
/// `action`.
pub const ACTION_SECONDS: &str = "rivetkit_action_duration_seconds";
/// Gauge: actors by `state`: `awake` (an instance is running) or `asleep` (stored, not running).
pub const ACTORS: &str = "rivetkit_actors";
/// Counter: lifecycle steps, by `actor` and `event`: `create`, `wake` (an instance started from
/// saved state), `sleep`, `destroy`, `retire` (stopped after a refused save).
pub const ACTOR_LIFECYCLE: &str = "rivetkit_actor_lifecycle_total";
/// Counter: events handed to connections (a broadcast to three subscribers counts three).
pub const EVENTS_SENT: &str = "rivetkit_events_sent_total";
/// Gauge: messages waiting in the queues of awake actors.
pub const QUEUE_MESSAGES: &str = "rivetkit_queue_messages";
/// Counter: errors answered to clients, by `group` and `code` (see [`record_error`]).
pub const ERRORS: &str = "rivetkit_errors_total";

/// The `action` label of calls to an action the actor does not define.
pub const UNKNOWN_ACTION: &str = "unknown";
/// The `group` and `code` labels of errors beyond the cap.
pub const OTHER_ERROR: &str = "other";
/// Distinct group/code pairs labelled as they are; later new pairs count as [`OTHER_ERROR`].
/// The server's own codes are a few dozen, so only user-defined codes can reach the cap.
pub const MAX_ERROR_LABELS: usize = 100;
/// Longer groups or codes count as [`OTHER_ERROR`] at once.
const MAX_ERROR_LABEL_LEN: usize = 64;

/// An action's handles, registered once per instance so that a call only updates them.
struct ActionMetrics {
    ok: Counter,
    failed: Counter,
    seconds: Histogram,
}

impl ActionMetrics {
    fn new(actor: &SharedString, action: SharedString) -> Self {
        let counter = |outcome: &'static str| metrics::counter!(ACTIONS, "actor" => actor.clone(), "action" => action.clone(), "outcome" => outcome);
        Self {
            ok: counter("ok"),
            failed: counter("error"),
            seconds: metrics::histogram!(ACTION_SECONDS, "actor" => actor.clone(), "action" => action.clone()),
        }
    }
}

/// The action handles of one actor definition.
pub(crate) struct ActorActions {
    by_name: HashMap<String, ActionMetrics>,
    unknown: ActionMetrics,
}

impl ActorActions {
    pub(crate) fn new<'a>(actor: &str, actions: impl Iterator<Item = &'a String>) -> Self {
        let actor = SharedString::from(actor.to_owned());
        Self {
            by_name: actions
                .map(|name| {
                    let metrics = ActionMetrics::new(&actor, SharedString::from(name.clone()));
                    (name.clone(), metrics)
                })
                .collect(),
            unknown: ActionMetrics::new(&actor, SharedString::const_str(UNKNOWN_ACTION)),
        }
    }

    pub(crate) fn record(&self, action: &str, elapsed: Duration, ok: bool) {
        let metrics = self.by_name.get(action).unwrap_or(&self.unknown);
        metrics.seconds.record(elapsed);
        if ok {
            metrics.ok.increment(1);
        } else {
            metrics.failed.increment(1);
        }
    }
}

/// How many actors exist and how many are awake, for the [`ACTORS`] gauges.
pub(crate) struct Population {
    existing: AtomicI64,
    awake: AtomicI64,
}

impl Population {
    /// `existing`: the actors in the store when it was opened.
    pub(crate) fn new(existing: u64) -> Self {
        let population = Self {
            existing: AtomicI64::new(i64::try_from(existing).unwrap_or(i64::MAX)),
            awake: AtomicI64::new(0),
        };
        population.publish();
        population
    }

    pub(crate) fn created(&self, actor: &str) {
        lifecycle(actor, "create");
        self.existing.fetch_add(1, Ordering::Relaxed);
        self.publish();
    }

    pub(crate) fn started(&self, actor: &str, from_saved_state: bool) {
        if from_saved_state {
            lifecycle(actor, "wake");
        }
        self.awake.fetch_add(1, Ordering::Relaxed);
        self.publish();
    }

    /// An instance stopped; `event` is `sleep`, `destroy` or `retire`.
    pub(crate) fn stopped(&self, actor: &str, event: &'static str) {
        lifecycle(actor, event);
        self.awake.fetch_sub(1, Ordering::Relaxed);
        if event == "destroy" {
            self.existing.fetch_sub(1, Ordering::Relaxed);
        }
        self.publish();
    }

    fn publish(&self) {
        let awake = self.awake.load(Ordering::Relaxed);
        let asleep = (self.existing.load(Ordering::Relaxed) - awake).max(0);
        metrics::gauge!(ACTORS, "state" => "awake").set(awake as f64);
        metrics::gauge!(ACTORS, "state" => "asleep").set(asleep as f64);
    }
}

fn lifecycle(actor: &str, event: &'static str) {
    metrics::counter!(ACTOR_LIFECYCLE, "actor" => actor.to_owned(), "event" => event).increment(1);
}

pub(crate) fn events_sent(count: u64) {
    metrics::counter!(EVENTS_SENT).increment(count);
}

pub(crate) fn queue_messages_added(count: usize) {
    metrics::gauge!(QUEUE_MESSAGES).increment(count as f64);
}

pub(crate) fn queue_messages_removed(count: usize) {
    metrics::gauge!(QUEUE_MESSAGES).decrement(count as f64);
}

/// Counts an error sent to a client under its group and code, as long as fewer than
/// [`MAX_ERROR_LABELS`] distinct pairs have been seen (or the pair is among them); otherwise
/// under `other`/`other`, so that actors throwing ever new codes cannot grow the scrape.
pub fn record_error(error: &ActorError) {
    static SEEN: OnceLock<Mutex<HashSet<(String, String)>>> = OnceLock::new();
    let (group, code) = (error.group(), error.code());
    let labelled = group.len() <= MAX_ERROR_LABEL_LEN && code.len() <= MAX_ERROR_LABEL_LEN && {
        let mut seen = SEEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pair = (group.to_owned(), code.to_owned());
        seen.contains(&pair) || (seen.len() < MAX_ERROR_LABELS && seen.insert(pair))
    };
    let (group, code) = if labelled {
        (group.to_owned(), code.to_owned())
    } else {
        (OTHER_ERROR.to_owned(), OTHER_ERROR.to_owned())
    };
    metrics::counter!(ERRORS, "group" => group, "code" => code).increment(1);
}
