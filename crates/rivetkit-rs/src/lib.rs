//! Rivet Actors in Rust.
//!
//! The one crate an application depends on, as `rivetkit` is the one package a JS application
//! installs. It is `rivetkit-rs` (`rivetkit` on crates.io is the official project's Rust SDK)
//! and only re-exports; each part lives in its own crate:
//!
//! * defining and running actors — `rivetkit-runtime` ([`actor`], [`Ctx`], [`Registry`]);
//! * serving them — `rivetkit-server` ([`serve`], [`serve_with_shutdown`], [`server::router`]);
//! * durable storage — `rivetkit-storage`;
//! * the wire protocol — `rivetkit-protocol` ([`protocol`]);
//! * calling actors from Rust — `rivetkit-client` ([`client`]), typed by interfaces declared
//!   with [`interface!`] (`rivetkit-interface`), which servers implement with `Actor::handle`.
//!
//! ```no_run
//! use rivetkit_rs::prelude::*;
//!
//! #[derive(Serialize, Deserialize, Default)]
//! struct Counter { count: i64 }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let counter = actor::<Counter>("counter").action("increment", |c, (x,): (i64,)| async move {
//!         let count = c.update(|s| { s.count += x; s.count });
//!         c.broadcast("count", (count,));
//!         Ok(count)
//!     });
//!     rivetkit_rs::serve(Registry::new().register(counter), ServerConfig::from_env()?).await
//! }
//! ```
//!
//! A raw HTTP handler answers any body, with [`http`] and [`bytes`] from this crate:
//!
//! ```
//! use rivetkit_rs::prelude::*;
//! use rivetkit_rs::{bytes::Bytes, http};
//!
//! fn page(visits: i64) -> Result<Response, ActorError> {
//!     Ok(http::Response::builder()
//!         .header(http::header::CONTENT_TYPE, "text/plain")
//!         .body(Bytes::from(format!("{visits} visits")))?)
//! }
//!
//! let _visits = actor::<i64>("visits").on_request(|c, _request: Request| async move {
//!     page(c.update(|n| { *n += 1; *n }))
//! });
//! assert_eq!(page(3).unwrap().body().as_ref(), b"3 visits");
//! ```
//!
//! Errors of any kind convert into [`ActorError`] with `?`: `std::error::Error`s and
//! `anyhow::Error` become internal errors (masked for clients), [`ActorError::user`] is for the
//! client to see.

#![warn(missing_docs)]

pub use rivetkit_client as client;
pub use rivetkit_engine::{serve_engine, serve_engine_with_shutdown, EngineArgs, EngineConfig};
pub use rivetkit_interface::{interface, Action, ActorInterface, ArgList, Event, Spread};
pub use rivetkit_protocol as protocol;
pub use rivetkit_protocol::value::Bytes;
pub use rivetkit_protocol::Key;
pub use rivetkit_runtime::raw;
pub use rivetkit_runtime::{
    actor, now_ms, Actor, ActorConn, ActorError, ActorEvent, ActorRef, ActorResult, Args, ConnInfo,
    Connection, Ctx, Kv, Outgoing, QueueMessage, Receive, Registry, Runtime, State, Untyped,
};
/// Actor databases: [`Actor::database`] declares one, `c.db()` queries it.
pub use rivetkit_runtime::{rusqlite, Database, Db, DbEvent, DbRow};
pub use rivetkit_server::{serve, serve_with_shutdown, ServerArgs, ServerConfig, Shutdown};

/// The crates raw handlers speak, re-exported so that an actor needs no dependency of its own
/// for them: `http` (a raw [`Response`](raw::Response) is an `http::Response<bytes::Bytes>`),
/// `bytes` (its body; not [`Bytes`], the binary value of the wire protocol) and `tracing` (the
/// logs [`serve`] sets up).
pub use {bytes, http, tracing};

/// Serving: the axum router to mount in your own app, and the embedded runtime behind it.
pub mod server {
    pub use rivetkit_server::{
        embedded_runtime, router, serve, serve_with_shutdown, shutdown_signal, termination_signal,
        ServerArgs, ServerConfig, Shutdown,
    };
}

/// The storage contract ([`storage::Backend`], [`storage::Directory`], [`storage::ActorStore`])
/// and its backends.
pub mod storage {
    pub use rivetkit_storage::{
        ActorStore, Backend, Directory, ErrorKind, MemoryBackend, SqliteBackend, StoreError,
    };
}

/// What actor definitions usually need.
pub mod prelude {
    pub use crate::raw::{json_response, RawWebSocket, Request, Response, WsMessage};
    pub use crate::{actor, Actor, ActorError, ActorResult, Ctx, Database, Registry, ServerConfig};
    pub use serde::{Deserialize, Serialize};
}
