//! An instance's life: start (database, state, `on_create`, `on_wake`, the `run` handler),
//! and the stop it waits for — sleep, destroy, or retirement after a failed save.
//!
//! When to stop is [`Activity`]'s decision; this module carries it out: the `run` handler gets
//! its stop timeout, the stop hook runs (none on retirement: the memory holds lost changes),
//! connections close or hibernate, the database closes, the state is saved (sleep) or the
//! actor deleted (destroy), and the host forgets the instance so that the next request starts a
//! fresh one.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use rivetkit_storage::ActorStore;

use super::outbox::Outbox;
use super::state::{encode_state, Versioned};
use super::{Blueprint, HookFn, Instance, Refusal, State};
use crate::activity::{Activity, Stop};
use crate::db::Db;
use crate::host::{ActorStopped, Host};
use crate::inspect::Inspect;
use crate::meta::ActorMeta;
use crate::queue::QueueCore;
use crate::retirement::Retirement;
use crate::{ActorError, ActorResult};

/// How long `on_sleep`, `on_destroy` and connection hooks may run during a stop.
pub(super) const STOP_HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Where an instance's state comes from when it starts.
pub(crate) enum Origin {
    /// A brand-new actor: state from the definition, `on_create` runs.
    Created,
    /// Waking: the saved state.
    Saved(Vec<u8>),
}

impl<S: State> Instance<S> {
    /// Starts an instance: opens and migrates its database (if it has one), then boots it. A
    /// start that fails closes the database again.
    pub(crate) async fn start(
        blueprint: Arc<Blueprint<S>>,
        meta: ActorMeta,
        origin: Origin,
        store: Arc<dyn ActorStore>,
        host: Weak<dyn Host>,
    ) -> ActorResult<Arc<Self>> {
        let db = match &blueprint.database {
            Some(database) => Some(database.open(store.as_ref(), &meta.actor_id).await?),
            None => None,
        };
        let started = Self::boot(blueprint, meta, origin, store, host, db.clone()).await;
        if let (Err(_), Some(db)) = (&started, &db) {
            db.close().await;
        }
        started
    }

    /// Makes or loads the state, runs `on_create` (new actors) and `on_wake`, saves, and begins
    /// waiting for the stop.
    async fn boot(
        blueprint: Arc<Blueprint<S>>,
        meta: ActorMeta,
        origin: Origin,
        store: Arc<dyn ActorStore>,
        host: Weak<dyn Host>,
        db: Option<Db>,
    ) -> ActorResult<Arc<Self>> {
        let (value, version, saved) = match &origin {
            Origin::Saved(bytes) => {
                let value = serde_json::from_slice(bytes).map_err(|error| {
                    ActorError::internal(format!(
                        "saved state of actor {} does not load: {error}",
                        meta.actor_id
                    ))
                })?;
                (value, 0, bytes.clone())
            }
            // Version 1 against durable 0: a new actor's first state is not saved yet.
            Origin::Created => {
                let value = blueprint.initial_state(meta.input.clone())?;
                let saved = encode_state(&value).map_err(|reason| {
                    ActorError::public(
                        "state",
                        "invalid",
                        format!("The initial state cannot be saved: {reason}"),
                    )
                })?;
                (value, 1, saved)
            }
        };
        let vars = blueprint.new_vars();
        let activity = Activity::new();
        let keeps_spans = host
            .upgrade()
            .is_some_and(|host| host.keeps_action_history());
        let inspect = Arc::new(Inspect::new(keeps_spans));
        let queue = QueueCore::load(
            store.clone(),
            blueprint.options.queue_limits,
            activity.clone(),
            inspect.clone(),
        )
        .await?;
        let instance = Arc::new_cyclic(|this| Self {
            meta,
            vars,
            blueprint,
            state: Mutex::new(Versioned::new(value, version, saved)),
            version: AtomicU64::new(version),
            durable: AtomicU64::new(0),
            save_lock: tokio::sync::Mutex::new(()),
            retirement: Retirement::default(),
            store,
            outbox: Mutex::new(Outbox::default()),
            conns: Mutex::new(HashMap::new()),
            raw_sockets: Mutex::new(Vec::new()),
            host,
            activity,
            queue,
            inspect,
            run_task: Mutex::new(None),
            db,
            this: this.clone(),
        });
        let handlers = &instance.blueprint.handlers;
        if let (Origin::Created, Some(on_create)) = (&origin, &handlers.on_create) {
            let scope = instance.scope(None, None);
            let refusal = scope.refusal.clone();
            on_create(scope, instance.meta.input.clone()).await?;
            refusal.take()?;
        }
        if let Some(on_wake) = &handlers.on_wake {
            let scope = instance.scope(None, None);
            let refusal = scope.refusal.clone();
            on_wake(scope).await?;
            refusal.take()?;
        }
        instance.save().await?;
        if let Some(run) = instance.blueprint.handlers.run.clone() {
            // Run it up to its first await point now, as a JS runtime would, so that whatever
            // it does first is done before the request that started the actor is served.
            let mut running = Box::pin(instance.clone().run(run));
            if futures::poll!(running.as_mut()).is_pending() {
                *instance.run_task.lock() = Some(tokio::spawn(running));
            }
        }
        tokio::spawn(instance.clone().stop_when_asked());
        Ok(instance)
    }

    /// Runs the `run` handler; if it ends on its own (not because the actor stops), the actor
    /// is destroyed.
    async fn run(self: Arc<Self>, run: HookFn<S>) {
        self.activity.set_running(true);
        let mut scope = self.scope(None, None);
        scope.in_run = true;
        scope.refusal = Refusal::long_lived();
        let outcome = run(scope).await;
        self.activity.set_running(false);
        if self.activity.is_aborted() {
            return;
        }
        match outcome {
            Ok(()) => {
                tracing::debug!(actor = %self.meta.actor_id, "run handler returned; destroying the actor")
            }
            Err(error) => {
                tracing::warn!(actor = %self.meta.actor_id, %error, "run handler failed; destroying the actor");
                self.inspect.error("run", &error);
            }
        }
        self.activity.request(Stop::Destroy);
    }

    /// Asks the instance to stop once its work in flight is done.
    pub(crate) fn request_stop(&self, stop: Stop) {
        self.activity.request(stop);
    }

    /// The rest of the instance's life after start: waits until it is to stop, then stops.
    async fn stop_when_asked(self: Arc<Self>) {
        let options = &self.blueprint.options;
        let stop = self
            .activity
            .until_stop(options.sleep_timeout, options.no_sleep)
            .await;
        // Boxed: the task of every awake actor is as large as its future, and stopping (hooks,
        // closing, saving) is a much larger future than waiting (640 bytes of task in all).
        Box::pin(self.stop(stop)).await;
    }

    /// Stops: the `run` handler, the stop hook, connections, the database, then the state is
    /// saved (or the actor deleted) and the host told.
    async fn stop(self: Arc<Self>, stop: Stop) {
        let options = &self.blueprint.options;
        // The `run` handler saw the abort signal; give it its stop timeout to wrap up.
        let run_task = self.run_task.lock().take();
        if let Some(mut run_task) = run_task {
            if tokio::time::timeout(options.run_stop_timeout, &mut run_task)
                .await
                .is_err()
            {
                tracing::warn!(actor = %self.meta.actor_id, "run handler did not return in time; cancelling it");
                run_task.abort();
            }
        }
        let handlers = &self.blueprint.handlers;
        match stop {
            Stop::Sleep => self.run_stop_hook(&handlers.on_sleep).await,
            Stop::Destroy => self.run_stop_hook(&handlers.on_destroy).await,
            // Its memory holds changes that were refused: no hook may act on them.
            Stop::Retire => {}
        }
        self.close_everything(stop).await;
        if let Some(db) = &self.db {
            db.close().await;
        }
        let host = self.host.upgrade();
        match stop {
            Stop::Sleep => {
                if let Err(error) = self.save().await {
                    tracing::error!(actor = %self.meta.actor_id, %error, "saving before sleep failed");
                }
                tracing::debug!(actor = %self.meta.actor_id, "actor sleeps");
            }
            Stop::Retire => {
                tracing::info!(actor = %self.meta.actor_id, "retired instance stopped; the next request loads the saved state");
            }
            Stop::Destroy => {
                match &host {
                    Some(host) => host.delete_destroyed(&self.meta.actor_id).await,
                    None => {
                        tracing::error!(actor = %self.meta.actor_id, "the runtime was gone before the destroyed actor was deleted; its data stays")
                    }
                }
                tracing::debug!(actor = %self.meta.actor_id, "actor destroyed");
            }
        }
        if let Some(host) = &host {
            let how = match stop {
                Stop::Sleep => ActorStopped::Slept,
                Stop::Destroy => ActorStopped::Destroyed,
                Stop::Retire => ActorStopped::Retired,
            };
            host.instance_stopped(&self.meta, how);
        }
        self.activity.finish_stop();
    }

    async fn run_stop_hook(self: &Arc<Self>, hook: &Option<HookFn<S>>) {
        let Some(hook) = hook else { return };
        match tokio::time::timeout(STOP_HOOK_TIMEOUT, hook(self.scope(None, None))).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(actor = %self.meta.actor_id, %error, "stop hook failed");
                self.inspect.error("stop hook", &error);
            }
            Err(_) => tracing::warn!(actor = %self.meta.actor_id, "stop hook timed out"),
        }
    }
}
