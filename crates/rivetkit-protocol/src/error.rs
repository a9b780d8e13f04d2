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
    /// Who defines the code: `actor`, `action`, `user`, `rivetkit`, …
    pub group: String,
    /// Machine-readable, unique within the group.
    pub code: String,
    /// For people.
    pub message: String,
    /// Any value the error carries (user errors); never `Some(Null)` after decoding.
    pub metadata: Option<Value>,
    /// Which actor answered; BARE v4 carries it (older versions and JSON/CBOR leave it out).
    pub actor: Option<ActorSpecifier>,
}

/// The actor an error came from, as BARE v4 errors name it (2.3.x clients).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorSpecifier {
    /// The actor's id.
    pub actor_id: String,
    /// How many times the actor was rescheduled; this server never moves an actor, so it is 0.
    pub generation: u64,
    /// The actor's serialized key (see [`crate::key::serialize_key`]).
    pub key: Option<String>,
}

impl ErrorBody {
    /// An error without metadata or actor.
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
    /// The BARE version prefix is outside 1–4.
    UnknownVersion(u16),
    #[error("{0} does not exist in BARE version {1}")]
    /// A message that the given BARE version does not have (queue messages before v3).
    NotInVersion(&'static str, u16),
    #[error("trailing bytes")]
    /// Bytes left after a complete BARE message.
    TrailingBytes,
    #[error("unexpected end of input")]
    /// The payload ended inside a field.
    UnexpectedEof,
    #[error("invalid varint")]
    /// A varint longer than 10 bytes, overflowing, or not in its shortest form.
    InvalidVarint,
    #[error("invalid UTF-8 string")]
    /// A `str` that is not UTF-8.
    InvalidUtf8,
    #[error("invalid bool byte {0:#04x}")]
    /// A `bool` byte other than 0 or 1.
    InvalidBool(u8),
    #[error("invalid optional tag {0:#04x}")]
    /// An `optional` presence byte other than 0 or 1.
    InvalidOptional(u8),
    #[error("unknown union tag {0}")]
    /// A union tag the schema does not define.
    UnknownTag(u8),
    #[error("invalid CBOR: {0}")]
    /// CBOR this codec does not accept (malformed, or a form JS cannot read).
    Cbor(&'static str),
    #[error("nesting deeper than {0} levels")]
    /// Arrays and maps nested deeper than the decoder allows (a guard against stack exhaustion).
    TooDeep(usize),
    #[error("invalid JSON: {0}")]
    /// Text that is not JSON.
    Json(String),
    #[error("unknown JSON encoding type {0}")]
    /// A `["$tag", …]` array whose tag the JSON-compat rules do not define.
    UnknownJsonTag(String),
    #[error("invalid {0} payload")]
    /// A known `$` tag with a payload of the wrong shape (e.g. bad base64).
    InvalidMarker(&'static str),
    #[error("expected {0}")]
    /// A message whose shape is wrong: a missing field, a field of the wrong type.
    Expected(&'static str),
    #[error("invalid encoding {0:?} (expected json, cbor or bare)")]
    /// An encoding name other than `json`, `cbor` or `bare`.
    InvalidEncoding(String),
    #[error("invalid connection params: {0}")]
    /// Connection params that are not JSON.
    InvalidParams(String),
    #[error("invalid percent-encoding")]
    /// A `%` not followed by two hex digits, or escapes that do not form UTF-8.
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
