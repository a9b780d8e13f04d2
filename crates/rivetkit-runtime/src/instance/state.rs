//! The state and its durability: the version counter, the durable watermark, saves, and
//! retirement after a failed save.
//!
//! Every `update` bumps the state's *version*; `durable` is the highest version saved. An
//! action's response waits until `durable` reaches the version the action ended at (and events
//! wait in the [`super::outbox`] the same way). One save per actor runs at a time and always
//! writes the newest state, so concurrent actions on one actor share saves, and the store groups
//! saves of many actors into one commit.
//!
//! A failed save loses the changes it carried, and every change since: a client told a write
//! was not made must be able to rely on it. The instance is *retired*: each action waiting for a
//! version above `durable` answers the storage error, the events of those versions are dropped
//! undelivered, every later write of the instance (state, KV, alarms, database) is refused, and
//! once its work in flight is done it stops without a hook or a save and closes its
//! connections. The next request loads the last durable state afresh, so reads work again at
//! once, even while the store still refuses writes. Retiring rather than rolling back in place
//! means no action that began on the lost state can finish on top of the restored one.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use rivetkit_protocol::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::held::Holding;
use super::{Instance, Refusal};
use crate::activity::Stop;
use crate::inspect::Change;
use crate::{ActorError, ActorResult};

/// What an actor's state must be: saved as JSON after every change, loaded on wake.
pub trait State: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> State for T {}

/// The state in memory, with its version and the bytes it saves as.
pub(super) struct Versioned<S> {
    value: S,
    version: u64,
    /// `value` as it is saved: checked to load back into `S`, and what a rolled-back change
    /// returns to.
    saved: Vec<u8>,
}

impl<S> Versioned<S> {
    pub(super) fn new(value: S, version: u64, saved: Vec<u8>) -> Self {
        Self {
            value,
            version,
            saved,
        }
    }
}

/// The state as it is saved, if it survives the trip: no float JSON would write as `null`, and
/// the bytes deserialize back into `S`.
pub(super) fn encode_state<S: State>(state: &S) -> Result<Vec<u8>, String> {
    crate::finite::check(state).map_err(|problem| problem.describe("state"))?;
    let bytes = serde_json::to_vec(state)
        .map_err(|error| format!("the state does not serialize: {error}"))?;
    serde_json::from_slice::<S>(&bytes)
        .map_err(|error| format!("the state as saved would not load back: {error}"))?;
    Ok(bytes)
}

fn invalid_state(reason: &str) -> ActorError {
    ActorError::public(
        "state",
        "invalid",
        format!("The state change was refused and rolled back: {reason}"),
    )
}

impl<S: State> Instance<S> {
    pub(crate) fn read_state<R>(&self, read: impl FnOnce(&S) -> R) -> R {
        let holding = Holding::begin(self.holding_key());
        let result = read(&self.state.lock().value);
        self.send_held(holding.finish());
        result
    }

    /// Runs `change` on the state, then checks the new state survives saving and loading; if
    /// not, or if the call was already refused (`refusal`), the change is rolled back and the
    /// call is marked refused.
    pub(crate) fn update_state<R>(&self, refusal: &Refusal, change: impl FnOnce(&mut S) -> R) -> R {
        let refused_call = refusal.is_refused();
        // Events sent inside `change` wait until it returns and the lock is free; they follow
        // the change, so they also wait until it is durable.
        let holding = Holding::begin(self.holding_key());
        let (result, rejection) = {
            let mut state = self.state.lock();
            let result = change(&mut state.value);
            let checked = if refused_call {
                Err(None)
            } else {
                encode_state(&state.value).map_err(Some)
            };
            match checked {
                Ok(saved) => {
                    state.version += 1;
                    state.saved = saved;
                    self.version.store(state.version, Ordering::Release);
                    (result, None)
                }
                Err(reason) => {
                    // The saved bytes always load (that was checked when they were made).
                    match serde_json::from_slice(&state.saved) {
                        Ok(previous) => state.value = previous,
                        Err(error) => {
                            tracing::error!(actor = %self.meta.actor_id, %error, "rolling back a refused change failed")
                        }
                    }
                    (result, Some(reason))
                }
            }
        };
        let held = holding.finish();
        match rejection {
            None => self.send_held(held),
            Some(None) => {
                tracing::debug!(actor = %self.meta.actor_id, "discarding a change of a refused call");
                return result;
            }
            Some(Some(reason)) => {
                let error = invalid_state(&reason);
                tracing::warn!(actor = %self.meta.actor_id, %error, "refused a state change");
                self.inspect.error("state change", &error);
                refusal.record(error);
                return result;
            }
        }
        self.inspect.notify(Change::State);
        if let (Some(on_change), Some(this)) = (
            &self.blueprint.handlers.on_state_change,
            self.this.upgrade(),
        ) {
            on_change(this.scope(None, None));
        }
        result
    }

    pub(super) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Returns once every change up to `version` is durable.
    pub(super) async fn make_durable(&self, version: u64) -> ActorResult<()> {
        if self.durable.load(Ordering::Acquire) >= version {
            return Ok(());
        }
        let _saving = self.save_lock.lock().await;
        // A save that finished while we waited may already cover us.
        if self.durable.load(Ordering::Acquire) >= version {
            return Ok(());
        }
        // After a failed save, no change above `durable` may become durable through this
        // instance: it is lost, and the client that made it was told so.
        self.retirement.refuse_writes()?;
        let (bytes, saved_version) = {
            let state = self.state.lock();
            (state.saved.clone(), state.version)
        };
        let saved = self.store.save_state(bytes).await;
        if let Err(error) = saved {
            let error = ActorError::from_storage(
                &error,
                format!("saving actor {} failed", self.meta.actor_id),
            );
            self.inspect.error("save", &error);
            self.retire(error.clone());
            return Err(error);
        }
        self.durable.fetch_max(saved_version, Ordering::AcqRel);
        Ok(())
    }

    /// A save failed with `error`: retires the instance (see the module doc). Called under the
    /// save lock, so `durable` no longer moves.
    fn retire(&self, error: ActorError) {
        if !self.retirement.retire(error) {
            return;
        }
        tracing::warn!(
            actor = %self.meta.actor_id,
            durable = self.durable.load(Ordering::Acquire),
            version = self.version(),
            "a save failed: the changes not yet saved are lost; retiring the instance"
        );
        self.discard_lost_events();
        self.activity.request(Stop::Retire);
    }

    /// Returns once every change made so far is durable.
    pub(crate) async fn save(&self) -> ActorResult<()> {
        self.make_durable(self.version()).await
    }

    /// The state as JSON (for the inspector).
    pub(super) fn state_json(&self) -> ActorResult<Value> {
        Ok(self.read_state(|state| serde_json::to_value(state))?)
    }

    /// Replaces the whole state with `state` (for the inspector); durable when it resolves.
    pub(super) fn replace_state(
        self: Arc<Self>,
        state: Value,
    ) -> BoxFuture<'static, ActorResult<()>> {
        async move {
            let state: S = serde_json::from_value(state).map_err(|error| {
                ActorError::public(
                    "state",
                    "invalid",
                    format!("the state does not fit: {error}"),
                )
            })?;
            let refusal = Refusal::answering();
            self.update_state(&refusal, |current| *current = state);
            refusal.take()?;
            self.save().await
        }
        .boxed()
    }
}
