//! A running actor: [`Instance`], its state in memory and the version of it that is durable,
//! its connections, the events waiting for durability, and its life from start to sleep or
//! destruction.
//!
//! Durability rule: a change is saved before anything that depends on it leaves the server. A
//! response or an event leaves only once the write it depends on is durable. How each part
//! keeps it:
//!
//! - [`state`]: the state, its version counter and durable watermark, saves, and retirement
//!   after a failed save;
//! - [`outbox`]: broadcast events, released in order as far as the watermark has caught up;
//! - [`held`]: what actor code sends from inside a state closure, held until the closure
//!   returns;
//! - [`connections`]: admitting, listing, hibernating and ending connections;
//! - [`dispatch`]: actions, stateless calls, queue sends and raw handlers, each answering only
//!   once its changes are durable;
//! - [`lifecycle`]: start, the `run` handler, and the stop (sleep, destroy, retire);
//! - [`blueprint`]: what every instance of one definition is made from (its handlers and
//!   options), and [`scope`]: what one run of actor code sees, which `Ctx` wraps;
//! - [`erased`]: the instance as the server sees it, through [`crate::ActorInstance`] and
//!   [`crate::ActorInspector`].
//!
//! Nothing here knows `Ctx` or the runtime: handlers take a [`CallScope`] (the definition wraps
//! it in the `Ctx` the user's closure expects), and the runtime is reached through
//! [`crate::host::Host`]. That keeps the module graph free of cycles: `definition` and
//! `context` build on this module, never the reverse.

mod blueprint;
mod connections;
mod dispatch;
mod erased;
mod held;
mod lifecycle;
mod outbox;
mod scope;
mod state;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use rivetkit_storage::ActorStore;

use crate::activity::Activity;
use crate::conn::ConnEntry;
use crate::db::Db;
use crate::host::Host;
use crate::inspect::Inspect;
use crate::meta::ActorMeta;
use crate::queue::QueueCore;
use crate::raw::WsSender;
use crate::retirement::Retirement;
use crate::ActorError;

pub(crate) use blueprint::{AccessFn, ActionFn, Blueprint, Handlers, HookFn, Options};
pub(crate) use lifecycle::Origin;
pub(crate) use scope::{CallScope, Refusal};
pub use state::State;

/// A running instance of an actor whose state is an `S`. The server holds it erased, as an
/// `Arc<dyn ActorInstance>`; actor code reaches it through `Ctx`.
pub(crate) struct Instance<S> {
    pub(crate) meta: ActorMeta,
    pub(crate) vars: blueprint::Vars,
    blueprint: Arc<Blueprint<S>>,
    /// The state with its version; see [`state`].
    state: Mutex<state::Versioned<S>>,
    /// `state.version`, readable without the state lock (written under it).
    version: AtomicU64,
    /// The highest version saved.
    durable: AtomicU64,
    /// One save at a time, always of the newest state.
    save_lock: tokio::sync::Mutex<()>,
    /// Set when a save failed: every later write of the instance is refused.
    pub(crate) retirement: Retirement,
    pub(crate) store: Arc<dyn ActorStore>,
    outbox: Mutex<outbox::Outbox>,
    conns: Mutex<HashMap<Arc<str>, ConnEntry>>,
    /// The raw WebSockets of `on_websocket` handlers, closed when the actor stops.
    raw_sockets: Mutex<Vec<WsSender>>,
    pub(crate) host: Weak<dyn Host>,
    pub(crate) activity: Arc<Activity>,
    pub(crate) queue: Arc<QueueCore>,
    pub(crate) inspect: Arc<Inspect>,
    /// The `run` handler, once it awaited for the first time.
    run_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Open from start to stop, if the actor declares a database.
    pub(crate) db: Option<Db>,
    this: Weak<Self>,
}

/// The answer of every entry point once the instance stops admitting work.
fn stopping() -> ActorError {
    ActorError::public("actor", "stopping", "The actor is stopping")
}

/// The answer of a subscription or queue send its access rule refused.
fn forbidden(message: String) -> ActorError {
    ActorError::public("auth", "forbidden", message).with_status(403)
}
