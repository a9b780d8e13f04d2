//! Durable alarms: `c.schedule_after` / `c.schedule_at` store an alarm, and this scheduler
//! calls its action on the actor when it is due — waking the actor if it sleeps, and after a
//! restart too, since every stored alarm is loaded when the runtime starts.
//!
//! This in-process scan of every actor's alarms is a single-node host's job
//! ([`Backend::all_alarms`]); on the Rivet Engine, the engine wakes actors for their alarms.
//!
//! An alarm is deleted only after its action ran, so a crash in between runs it again on the
//! next start (at-least-once).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rivetkit_protocol::Value;
use rivetkit_storage::{ActorStore, Alarm, Backend};
use tokio::sync::mpsc;

use crate::context::now_ms;
use crate::runtime::Runtime;

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
    pub(crate) fn start(runtime: Weak<Runtime>, backend: Arc<dyn Backend>) -> Self {
        let (arm, armed) = mpsc::unbounded_channel();
        tokio::spawn(run(runtime, backend, armed));
        Self { arm }
    }

    /// Arms an alarm that is already stored.
    pub(crate) fn arm(&self, alarm: Alarm) {
        // The task only ends with the runtime, and then nothing is left to fire.
        let _ = self.arm.send(alarm);
    }
}

async fn run(
    runtime: Weak<Runtime>,
    backend: Arc<dyn Backend>,
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
                    let Some(runtime) = runtime.upgrade() else { return };
                    let store = backend.actor_store(&alarm.actor_id);
                    tokio::spawn(fire(runtime, store, alarm));
                }
            }
        }
    }
}

async fn fire(runtime: Arc<Runtime>, store: Arc<dyn ActorStore>, alarm: Alarm) {
    let args: Vec<Value> = serde_json::from_slice(&alarm.args).unwrap_or_default();
    match runtime.instance(&alarm.actor_id).await {
        Ok(active) => {
            let call = active
                .instance()
                .call_action(None, alarm.action.clone(), args);
            if let Err(error) = call.await {
                tracing::warn!(actor = %alarm.actor_id, action = %alarm.action, %error, "scheduled action failed");
            }
        }
        // Shutting down: the alarm stays stored and fires after the next start.
        Err(_) if runtime.is_closing() => return,
        // A destroyed actor's alarms are deleted with it; nothing to run.
        Err(error) => {
            tracing::debug!(actor = %alarm.actor_id, %error, "alarm for an actor that is gone")
        }
    }
    if let Err(error) = store.delete_alarm(alarm.alarm_id).await {
        tracing::error!(alarm = alarm.alarm_id, %error, "deleting a fired alarm failed; it will fire again");
    }
    runtime.tell_inspector(&alarm.actor_id, crate::inspect::Change::Schedules);
}
