//! A Rust client for Rivet Actors, speaking the RivetKit client protocol
//! (`spec/PROTOCOL.md`) to rivetkit-rs servers and to the official ones alike. Section
//! references (§n) in this crate's docs are to that document.
//!
//! This crate owns the *calling* side: configuration and URL auth ([`ClientConfig`]), the
//! `/metadata` lookup and manager API ([`Client`]), handles ([`ActorHandle`]) with stateless
//! calls and raw HTTP/WebSocket, and reconnecting connections ([`Connection`]). Wire formats
//! come from `rivetkit-protocol`, typed interfaces from `rivetkit-interface`. It must not know
//! how actors run or are stored: it never depends on the runtime, server or storage crates.
//!
//! ```no_run
//! use rivetkit_client::{Client, ClientConfig};
//!
//! // The actor's interface, usually in a crate the server and its clients share.
//! pub struct Counter;
//! rivetkit_interface::interface! {
//!     actor Counter = "counter";
//!     pub trait CounterActions {
//!         action Increment = "increment", fn increment(x: i64) -> i64;
//!     }
//!     pub event CountChanged = "count", (i64,);
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> rivetkit_client::Result<()> {
//!     let client = Client::new(ClientConfig::new("http://127.0.0.1:6420"))?;
//!     let counter = client.get_or_create::<Counter>(["my-counter"]);
//!     let count = counter.increment(1).await?; // stateless, over HTTP
//!
//!     let conn = counter.connect(); // stateful, over WebSocket
//!     conn.on(CountChanged, |(count,)| println!("count is now {count}"));
//!     conn.increment(1).await?;
//!
//!     // Without an interface:
//!     let n: i64 = client
//!         .actor("counter")
//!         .get_or_create(["my-counter"])
//!         .action("increment", (1,))
//!         .await?;
//!     assert!(n > count);
//!     Ok(())
//! }
//! ```

#![warn(missing_docs)]

mod client;
mod config;
mod connection;
mod error;
mod handle;
mod options;
mod transport;

pub use client::{ActorInfo, Actors, Client};
pub use config::{
    Backoff, ClientConfig, GatewayAddressing, GatewayCreate, GatewayQuery, Target, DEFAULT_ENDPOINT,
};
pub use connection::{ConnStatus, Connection, Subscription};
pub use error::{ActorError, Error, Result};
pub use handle::{ActorHandle, QueueReply, RawRequest, Untyped};
pub use options::{CreateOptions, GetOptions, GetOrCreateOptions};
pub use rivetkit_interface::{Action, ActorInterface, ArgList, Caller, Event, Spread};
pub use rivetkit_protocol::error::ActorSpecifier;
pub use rivetkit_protocol::{Encoding, Key, Value};
pub use tokio_tungstenite::tungstenite::Message as WsMessage;
pub use transport::RawWebSocket;

#[cfg(test)]
mod test_vectors {
    use std::path::PathBuf;

    use serde_json::Value;

    /// Every record of `spec/vectors/{file}` (in the repository); panics if it is missing, so a
    /// misplaced checkout cannot pass silently.
    pub fn vectors(file: &str) -> Vec<Value> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../spec/vectors")
            .join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}
