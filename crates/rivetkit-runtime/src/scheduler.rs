//! Durable alarms: `c.schedule_after` / `c.schedule_at` store an alarm, and this scheduler
//! has its action called on the actor when it is due — waking the actor if it sleeps, and after
//! a restart too, since every stored alarm is loaded when the runtime starts. The scheduler only
//! keeps time; the runtime fires (`Runtime::fire_alarm`).
//!
//! This in-process scan of every actor's alarms is a single-node host's job
//! ([`Backend::all_alarms`]); on the Rivet Engine, the engine wakes actors for their alarms.
//!
//! An alarm is deleted only after its action ran, so a crash in between runs it again on the
//! next start (at-least-once).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rivetkit_storage::{Alarm, Backend};
use tokio::sync::mpsc;

use crate::clock::now_ms;

/// Arms alarms; the task behind it fires them.
pub(crate) struct Scheduler {
    arm: mpsc::UnboundedSender<Alarm>,
}

/// Alarms by due time (then id, so that equal times fire in the order they were set).
struct Due(Alarm);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.0.fire_at, self.0.alarm_id) == (other.0.fire_at, other.0.alarm_id)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.fire_at, self.0.alarm_id).cmp(&(other.0.fire_at, other.0.alarm_id))
    }
}

impl Scheduler {
    /// Starts the task that loads the stored alarms and fires each when due with `fire`, which
    /// runs the alarm's action (the runtime's; a closure, so that the scheduler does not depend
    /// on the runtime that owns it) and answers `false` once there is nothing left to fire for.
    pub(crate) fn start(
        backend: Arc<dyn Backend>,
        fire: impl Fn(Alarm) -> bool + Send + 'static,
    ) -> Self {
        let (arm, armed) = mpsc::unbounded_channel();
        tokio::spawn(run(backend, fire, armed));
        Self { arm }
    }

    /// Arms an alarm that is already stored.
    pub(crate) fn arm(&self, alarm: Alarm) {
        // The task only ends with the runtime, and then nothing is left to fire.
        let _ = self.arm.send(alarm);
    }
}

async fn run(
    backend: Arc<dyn Backend>,
    fire: impl Fn(Alarm) -> bool,
    mut armed: mpsc::UnboundedReceiver<Alarm>,
) {
    let mut queue = BinaryHeap::new();
    // (actor, alarm) of every alarm in `queue`: a host that arms an actor's stored alarms when
    // the actor starts ([`Runtime::arm_stored_alarms`]) may arm one that is armed already.
    let mut armed_ids = HashSet::new();
    match backend.all_alarms().await {
        Ok(stored) => {
            for alarm in stored {
                armed_ids.insert((alarm.actor_id.clone(), alarm.alarm_id));
                queue.push(Reverse(Due(alarm)));
            }
        }
        Err(error) => {
            tracing::error!(%error, "loading stored alarms failed; they fire after the next restart")
        }
    }
    loop {
        let wait = queue.peek().map(|Reverse(Due(alarm))| {
            Duration::from_millis(alarm.fire_at.saturating_sub(now_ms()).max(0) as u64)
        });
        tokio::select! {
            incoming = armed.recv() => match incoming {
                Some(alarm) => {
                    if armed_ids.insert((alarm.actor_id.clone(), alarm.alarm_id)) {
                        queue.push(Reverse(Due(alarm)));
                    }
                }
                None => return,
            },
            () = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {
                let now = now_ms();
                while queue.peek().is_some_and(|Reverse(Due(alarm))| alarm.fire_at <= now) {
                    let Some(Reverse(Due(alarm))) = queue.pop() else { break };
                    armed_ids.remove(&(alarm.actor_id.clone(), alarm.alarm_id));
                    if !fire(alarm) {
                        return;
                    }
                }
            }
        }
    }
}
