//! Errors: the `{group, code, message, metadata}` object that travels to clients (§7.1), and
//! [`ProtocolError`], everything that can go wrong while reading bytes off the wire.
//!
//! `ProtocolError` is deliberately small and backtrace-free: malformed input is an expected,
//! client-caused event on a hot path, not a bug worth capturing a stack for.

use crate::value::Value;

/// The error object every encoding carries (`HttpResponseError`, the WebSocket `Error` frame).
///
/// `metadata: None` and `Some(Null)` are the same thing on the wire of at least one encoding
/// (JS `undefined` becomes CBOR `f7`, which this crate reads as null), so decoders always
/// normalise a null metadata to `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorBody {
    pub group: String,
    pub code: String,
    pub message: String,
    pub metadata: Option<Value>,
    /// Which actor answered; BARE v4 carries it (older versions and JSON/CBOR leave it out).
    pub actor: Option<ActorSpecifier>,
}

/// The actor an error came from, as BARE v4 errors name it (2.3.x clients).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorSpecifier {
    pub actor_id: String,
    /// How many times the actor was rescheduled; this server never moves an actor, so it is 0.
    pub generation: u64,
    /// The actor's serialized key (see [`crate::key::serialize_key`]).
    pub key: Option<String>,
}

impl ErrorBody {
    pub fn new(
        group: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ErrorBody {
            group: group.into(),
            code: code.into(),
            message: message.into(),
            metadata: None,
            actor: None,
        }
    }
}

/// Why a payload could not be decoded (or a header/path could not be parsed).
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("unknown BARE version {0}")]
    UnknownVersion(u16),
    #[error("{0} does not exist in BARE version {1}")]
    NotInVersion(&'static str, u16),
    #[error("trailing bytes")]
    TrailingBytes,
    #[error("unexpected end of input")]
    UnexpectedEof,
    #[error("invalid varint")]
    InvalidVarint,
    #[error("invalid UTF-8 string")]
    InvalidUtf8,
    #[error("invalid bool byte {0:#04x}")]
    InvalidBool(u8),
    #[error("invalid optional tag {0:#04x}")]
    InvalidOptional(u8),
    #[error("unknown union tag {0}")]
    UnknownTag(u8),
    #[error("invalid CBOR: {0}")]
    Cbor(&'static str),
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("unknown JSON encoding type {0}")]
    UnknownJsonTag(String),
    #[error("invalid {0} payload")]
    InvalidMarker(&'static str),
    #[error("expected {0}")]
    Expected(&'static str),
    #[error("invalid encoding {0:?} (expected json, cbor or bare)")]
    InvalidEncoding(String),
    #[error("invalid connection params: {0}")]
    InvalidParams(String),
    #[error("invalid percent-encoding")]
    InvalidPercentEncoding,
}

impl From<serde_json::Error> for ProtocolError {
    fn from(e: serde_json::Error) -> Self {
        ProtocolError::Json(e.to_string())
    }
}

impl ProtocolError {
    /// The public error to send back. Undecodable input is `message/malformed`; the two
    /// header problems have their own codes in the official server (§7.5).
    pub fn to_error_body(&self) -> ErrorBody {
        let (group, code) = match self {
            ProtocolError::InvalidEncoding(_) => ("encoding", "invalid"),
            ProtocolError::InvalidParams(_) => ("params", "invalid"),
            _ => ("message", "malformed"),
        };
        ErrorBody::new(group, code, self.to_string())
    }
}
