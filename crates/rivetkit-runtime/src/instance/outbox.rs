//! The ordered outbox: broadcast events wait here until the state change they follow is
//! durable, and leave in the order they were sent.
//!
//! An event is tagged with the state version current when it was broadcast. It is released
//! only once `durable` (see [`super::state`]) has reached that version, so events never overtake
//! each other nor the state they describe. One drain task per instance saves and releases; each
//! action also releases what is durable before its response goes out, so that a caller always
//! sees the events its action broadcast before the action's result.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rivetkit_protocol::Value;

use super::held::{hold, Held};
use super::{Instance, State};
use crate::conn::{Outgoing, SharedEvent};
use crate::metrics;

/// Events waiting for durability, each with the version it follows, oldest first.
#[derive(Default)]
pub(super) struct Outbox {
    waiting: VecDeque<(u64, Arc<SharedEvent>)>,
    /// A drain task is running.
    draining: bool,
}

impl<S: State> Instance<S> {
    /// Sends an event to every connection subscribed to `name`, once the state it follows is
    /// durable. Inside a state closure it is held until the closure returns.
    pub(crate) fn broadcast(&self, name: String, args: Vec<Value>) {
        let (name, args) = match hold(self.holding_key(), Held::Broadcast(name, args)) {
            Ok(()) => return,
            Err(Held::Broadcast(name, args)) => (name, args),
            Err(_) => unreachable!("hold gives back what it was given"),
        };
        let event = Arc::new(SharedEvent::new(name, args));
        let version = self.version();
        let mut outbox = self.outbox.lock();
        if !outbox.draining && self.durable.load(Ordering::Acquire) >= version {
            drop(outbox);
            self.deliver(&event);
            return;
        }
        outbox.waiting.push_back((version, event));
        if !outbox.draining {
            outbox.draining = true;
            if let Some(this) = self.this.upgrade() {
                tokio::spawn(async move { this.drain_outbox().await });
            }
        }
    }

    /// Makes waiting events durable and releases them, in order.
    async fn drain_outbox(self: Arc<Self>) {
        loop {
            let version = {
                let mut outbox = self.outbox.lock();
                match outbox.waiting.front() {
                    Some((version, _)) => *version,
                    None => {
                        outbox.draining = false;
                        return;
                    }
                }
            };
            if let Err(error) = self.make_durable(version).await {
                // The save failed, so the instance is retired: the state these events describe
                // will never be durable, and they must never leave.
                tracing::debug!(actor = %self.meta.actor_id, %error, "dropping the events of changes that were not saved");
                self.discard_lost_events();
                return;
            }
            self.release_durable_events();
        }
    }

    /// On a retired instance: delivers the waiting events whose state is durable and drops the
    /// others, which describe lost changes; no more draining.
    pub(super) fn discard_lost_events(&self) {
        self.release_durable_events();
        let mut outbox = self.outbox.lock();
        outbox.waiting.clear();
        outbox.draining = false;
    }

    /// Delivers, in order, the waiting events whose state is durable. Called by the drain task
    /// and by every action before its response goes out.
    pub(super) fn release_durable_events(&self) {
        let durable = self.durable.load(Ordering::Acquire);
        let mut outbox = self.outbox.lock();
        while outbox
            .waiting
            .front()
            .is_some_and(|(version, _)| *version <= durable)
        {
            if let Some((_, event)) = outbox.waiting.pop_front() {
                self.deliver(&event);
            }
        }
    }

    fn deliver(&self, event: &Arc<SharedEvent>) {
        self.inspect.event(&event.name, &event.args);
        let mut sent = 0;
        for entry in self.conns.lock().values() {
            if entry.subscriptions.contains(&event.name) {
                entry.send(Outgoing::Event(event.clone()));
                sent += 1;
            }
        }
        metrics::events_sent(sent);
    }
}
