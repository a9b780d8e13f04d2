//! The RivetKit client protocol, as spoken by the official `rivetkit/client` (2.0.33 – 2.3.x).
//!
//! This crate owns everything that is *bytes on the wire* and nothing that does I/O:
//!
//! * [`value`]: the JS value model carried in args, outputs, events and metadata;
//! * [`cbor`]: a CBOR codec that reads and writes what the `cbor-x` JS library does;
//! * [`bare`]: the versioned BARE schema (v1–v4);
//! * [`message`]: the protocol messages and their json / cbor / bare encodings;
//! * [`key`]: actor key (de)serialization; [`path`]: gateway and actor path parsing;
//! * [`actor_query`]: the two gateway path forms, by id and by query (2.3);
//! * [`error`]: the `{group, code, message, metadata}` error shape.
//!
//! It must not know about actors, storage, HTTP frameworks or sockets: the server and the
//! client both build on it.
//!
//! The protocol itself is described in the repository's `spec/PROTOCOL.md`; section references
//! (§n) in this crate's docs are to that document.

#![warn(missing_docs)]

pub mod actor_query;
pub mod bare;
pub mod cbor;
pub mod error;
pub mod key;
pub mod message;
pub mod path;
pub mod value;

pub use error::{ErrorBody, ProtocolError};
pub use key::{parse_key, serialize_key, Key};
pub use message::{
    Encoding, Frame, HttpActionRequest, HttpActionResponse, HttpQueueSendRequest,
    HttpQueueSendResponse, ToClient, ToServer, SERVER_BARE_VERSION,
};
pub use path::{
    parse_close_reason, parse_gateway_path, parse_ws_protocols, raw_websocket_path, GatewayPath,
    WsProtocols,
};
pub use value::{Bytes, Value};
