//! A running actor: its state in memory, the version of it that is durable, its connections and
//! the events waiting for durability.
//!
//! Durability rule: a change is saved before anything that depends on it leaves the server.
//! Every `update` bumps the state's *version*; `durable` is the highest version saved. An action's
//! response waits until `durable` reaches the version the action ended at. Broadcast events go
//! through an ordered outbox that is released only as far as `durable` has caught up, so events
//! never overtake each other nor the state they describe. One save per actor runs at a time and
//! always writes the newest state, so concurrent actions on one actor share saves, and the store
//! groups saves of many actors into one commit.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use rivetkit_protocol::Value;
use rivetkit_storage::Store;
use tokio::sync::mpsc;

use crate::conn::{ConnEntry, Connection, Outgoing, SharedEvent};
use crate::definition::Actor;
use crate::raw::{RawWebSocket, Request, Response};
use crate::{ActorError, ActorResult, Ctx, State};

/// Who an actor is; fixed for its lifetime.
#[derive(Clone, Debug)]
pub struct ActorMeta {
    pub actor_id: String,
    pub name: String,
    pub key: Vec<String>,
    /// The create input (`Null` when none was given).
    pub input: Value,
}

/// The server's view of a running actor, whatever its state type.
pub trait ActorInstance: Send + Sync + 'static {
    fn meta(&self) -> &ActorMeta;

    /// Calls an action (`conn_id` = the connection it came over, if any). Resolves once the
    /// action is done and the state changes it made are durable.
    fn call_action(
        self: Arc<Self>,
        conn_id: Option<Arc<str>>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>>;

    /// Runs `on_before_connect` for a client that sent `params`; an error rejects it.
    fn authorize(self: Arc<Self>, params: Value) -> BoxFuture<'static, ActorResult<()>>;

    /// Admits a connection (after `authorize`) and registers it.
    fn connect(self: Arc<Self>, params: Value) -> BoxFuture<'static, ActorResult<Connection>>;

    fn set_subscription(&self, conn_id: &str, event_name: &str, subscribe: bool);

    fn disconnect(&self, conn_id: &str);

    /// `None` when the actor has no `on_request` handler.
    fn handle_request(
        self: Arc<Self>,
        request: Request,
    ) -> Option<BoxFuture<'static, ActorResult<Response>>>;

    /// `None` when the actor has no `on_websocket` handler.
    fn handle_websocket(
        self: Arc<Self>,
        socket: RawWebSocket,
    ) -> Option<BoxFuture<'static, ActorResult<()>>>;

    /// Saves the current state (used once when an actor is first created).
    fn persist(self: Arc<Self>) -> BoxFuture<'static, ActorResult<()>>;
}

struct Versioned<S> {
    value: S,
    version: u64,
}

#[derive(Default)]
struct Outbox {
    waiting: VecDeque<(u64, Arc<SharedEvent>)>,
    draining: bool,
}

pub(crate) struct ActorCell<S, V> {
    pub(crate) meta: ActorMeta,
    pub(crate) vars: V,
    definition: Arc<Actor<S, V>>,
    state: Mutex<Versioned<S>>,
    durable: AtomicU64,
    save_lock: tokio::sync::Mutex<()>,
    store: Arc<dyn Store>,
    conns: Mutex<HashMap<Arc<str>, ConnEntry>>,
    outbox: Mutex<Outbox>,
    this: Weak<Self>,
}

impl<S: State, V: Send + Sync + 'static> ActorCell<S, V> {
    /// `saved_state`: what the store holds for this actor; `None` for a new actor, whose state
    /// then comes from the definition and is not yet durable.
    pub(crate) fn start(
        definition: Arc<Actor<S, V>>,
        meta: ActorMeta,
        saved_state: Option<Vec<u8>>,
        store: Arc<dyn Store>,
    ) -> ActorResult<Arc<Self>> {
        let (value, version, durable) = match saved_state {
            Some(bytes) => {
                let value = serde_json::from_slice(&bytes).map_err(|error| {
                    ActorError::internal(format!(
                        "saved state of actor {} does not load: {error}",
                        meta.actor_id
                    ))
                })?;
                (value, 0, 0)
            }
            None => (definition.initial_state(meta.input.clone())?, 1, 0),
        };
        let vars = definition.new_vars();
        Ok(Arc::new_cyclic(|this| Self {
            meta,
            vars,
            definition,
            state: Mutex::new(Versioned { value, version }),
            durable: AtomicU64::new(durable),
            save_lock: tokio::sync::Mutex::new(()),
            store,
            conns: Mutex::new(HashMap::new()),
            outbox: Mutex::new(Outbox::default()),
            this: this.clone(),
        }))
    }

    fn ctx(self: &Arc<Self>, conn_id: Option<Arc<str>>) -> Ctx<S, V> {
        Ctx {
            cell: self.clone(),
            conn_id,
        }
    }

    pub(crate) fn read_state<R>(&self, read: impl FnOnce(&S) -> R) -> R {
        read(&self.state.lock().value)
    }

    pub(crate) fn update_state<R>(&self, change: impl FnOnce(&mut S) -> R) -> R {
        let mut state = self.state.lock();
        state.version += 1;
        change(&mut state.value)
    }

    fn version(&self) -> u64 {
        self.state.lock().version
    }

    /// Returns once every change up to `version` is durable.
    async fn make_durable(&self, version: u64) -> ActorResult<()> {
        if self.durable.load(Ordering::Acquire) >= version {
            return Ok(());
        }
        let _saving = self.save_lock.lock().await;
        // A save that finished while we waited may already cover us.
        if self.durable.load(Ordering::Acquire) >= version {
            return Ok(());
        }
        let (bytes, saved_version) = {
            let state = self.state.lock();
            (serde_json::to_vec(&state.value)?, state.version)
        };
        self.store
            .save_state(self.meta.actor_id.clone(), bytes)
            .await
            .map_err(|error| {
                ActorError::internal(format!(
                    "saving actor {} failed: {error}",
                    self.meta.actor_id
                ))
            })?;
        self.durable.fetch_max(saved_version, Ordering::AcqRel);
        Ok(())
    }

    pub(crate) fn broadcast(&self, name: String, args: Vec<Value>) {
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

    /// Releases waiting events in order, each once the state it followed is durable.
    async fn drain_outbox(self: Arc<Self>) {
        loop {
            let (version, event) = {
                let mut outbox = self.outbox.lock();
                match outbox.waiting.front() {
                    Some((version, event)) => (*version, event.clone()),
                    None => {
                        outbox.draining = false;
                        return;
                    }
                }
            };
            if let Err(error) = self.make_durable(version).await {
                // Nothing may leave before the state it describes is saved: hold the events
                // and try again rather than drop or release them.
                tracing::error!(actor = %self.meta.actor_id, %error, "holding events until the state can be saved");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            self.outbox.lock().waiting.pop_front();
            self.deliver(&event);
        }
    }

    fn deliver(&self, event: &Arc<SharedEvent>) {
        for entry in self.conns.lock().values() {
            if entry.subscriptions.contains(&event.name) {
                let _ = entry.sender.send(Outgoing::Event(event.clone()));
            }
        }
    }

    pub(crate) fn send_to(&self, conn_id: &str, name: String, args: Vec<Value>) {
        if let Some(entry) = self.conns.lock().get(conn_id) {
            let _ = entry
                .sender
                .send(Outgoing::Event(Arc::new(SharedEvent::new(name, args))));
        }
    }

    /// Closes one connection normally (code 1000) with `reason`.
    pub(crate) fn close_conn(&self, conn_id: &str, reason: String) {
        if let Some(entry) = self.conns.lock().get(conn_id) {
            let _ = entry.sender.send(Outgoing::Close(1000, reason));
        }
    }

    pub(crate) fn conn_params(&self, conn_id: &str) -> Option<Value> {
        self.conns
            .lock()
            .get(conn_id)
            .map(|entry| entry.params.clone())
    }

    pub(crate) async fn save(&self) -> ActorResult<()> {
        self.make_durable(self.version()).await
    }

    pub(crate) fn conn_ids(&self) -> Vec<String> {
        self.conns.lock().keys().map(|id| id.to_string()).collect()
    }

    fn run_before_connect(self: &Arc<Self>, params: Value) -> BoxFuture<'static, ActorResult<()>> {
        match &self.definition.on_before_connect {
            Some(hook) => hook(self.ctx(None), params),
            None => futures::future::ready(Ok(())).boxed(),
        }
    }
}

impl<S: State, V: Send + Sync + 'static> ActorInstance for ActorCell<S, V> {
    fn meta(&self) -> &ActorMeta {
        &self.meta
    }

    fn call_action(
        self: Arc<Self>,
        conn_id: Option<Arc<str>>,
        name: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, ActorResult<Value>> {
        let Some(action) = self.definition.actions.get(&name).cloned() else {
            return futures::future::ready(Err(ActorError::action_not_found(&name))).boxed();
        };
        let call = action(self.ctx(conn_id), args);
        async move {
            let result = call.await;
            // Also on error: whatever the action changed before failing must not be lost.
            self.save().await?;
            result
        }
        .boxed()
    }

    fn authorize(self: Arc<Self>, params: Value) -> BoxFuture<'static, ActorResult<()>> {
        self.run_before_connect(params)
    }

    fn connect(self: Arc<Self>, params: Value) -> BoxFuture<'static, ActorResult<Connection>> {
        let before_connect = self.run_before_connect(params.clone());
        async move {
            before_connect.await?;
            let id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
            let (sender, outgoing) = mpsc::unbounded_channel();
            self.conns.lock().insert(
                id.clone(),
                ConnEntry {
                    sender: sender.clone(),
                    subscriptions: HashSet::new(),
                    params,
                },
            );
            Ok(Connection {
                id,
                actor: self,
                sender,
                outgoing,
            })
        }
        .boxed()
    }

    fn set_subscription(&self, conn_id: &str, event_name: &str, subscribe: bool) {
        if let Some(entry) = self.conns.lock().get_mut(conn_id) {
            if subscribe {
                entry.subscriptions.insert(event_name.to_owned());
            } else {
                entry.subscriptions.remove(event_name);
            }
        }
    }

    fn disconnect(&self, conn_id: &str) {
        self.conns.lock().remove(conn_id);
    }

    fn handle_request(
        self: Arc<Self>,
        request: Request,
    ) -> Option<BoxFuture<'static, ActorResult<Response>>> {
        let handler = self.definition.on_request.clone()?;
        let ctx = self.ctx(None);
        Some(
            async move {
                let response = handler(ctx, request).await;
                self.save().await?;
                response
            }
            .boxed(),
        )
    }

    fn handle_websocket(
        self: Arc<Self>,
        socket: RawWebSocket,
    ) -> Option<BoxFuture<'static, ActorResult<()>>> {
        let handler = self.definition.on_websocket.clone()?;
        Some(handler(self.ctx(None), socket))
    }

    fn persist(self: Arc<Self>) -> BoxFuture<'static, ActorResult<()>> {
        async move { self.save().await }.boxed()
    }
}
