//! The RivetKit actor runtime.
//!
//! This crate owns what an actor *is* while it runs: how it is defined ([`actor`], [`Actor`]),
//! what its code sees ([`Ctx`]), its running instances, connections and subscriptions, and the
//! rule that a state change is durable before anything that depends on it leaves the server.
//! [`Runtime`] finds, creates and starts actors over a storage [`rivetkit_storage::Backend`].
//!
//! It must not know about HTTP frameworks, sockets or the server's routes: the server crate
//! drives it with decoded protocol values and drains [`Connection`]s.

#![warn(missing_docs)]

mod activity;
mod args;
mod clock;
mod conn;
mod context;
mod db;
mod definition;
mod error;
mod finite;
mod handle;
mod host;
pub mod inspect;
mod instance;
mod kv;
mod meta;
pub mod metrics;
mod peer;
mod queue;
pub mod raw;
mod retirement;
mod runtime;
mod scheduler;
pub mod trace;

pub use activity::{Activity, ActivityGuard};
pub use args::Args;
pub use clock::now_ms;
pub use conn::{
    ConnInfo, ConnLimits, HibernatedConn, Outgoing, OverflowWatch, SharedEvent,
    DEFAULT_MAX_OUTGOING_BYTES, DEFAULT_MAX_SUBSCRIPTIONS,
};
pub use context::Ctx;
pub use db::{Database, Db, DbEvent, DbRow};
pub use definition::{
    actor, Actor, DEFAULT_ACTION_TIMEOUT, DEFAULT_RUN_STOP_TIMEOUT, DEFAULT_SLEEP_TIMEOUT,
};
pub use error::{ActorError, ActorResult, MASKED_MESSAGE};
pub use handle::{ActorInspector, ActorInstance, Connection};
pub use host::ActorStopped;
pub use instance::State;
pub use kv::Kv;
pub use meta::ActorMeta;
pub use peer::{ActorConn, ActorEvent, ActorRef, Untyped};
pub use queue::{Queue, QueueMessage, QueueSend, QueueSnapshot, Receive, SendOutcome};
pub use runtime::{
    AwakeInstance, Registry, RemoteActors, Runtime, DEFAULT_DIRECTORY_CACHE_LIMIT,
    DEFAULT_NAMESPACE,
};
/// The SQLite bindings [`Database`] migrations are written against.
pub use rusqlite;
