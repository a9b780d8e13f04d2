//! What a client call can fail with: an [`ActorError`] the actor (or the server on its behalf)
//! chose to send, or something that went wrong on the way ([`Error`]'s other variants).

use rivetkit_protocol::error::ActorSpecifier;
use rivetkit_protocol::{ErrorBody, Value};

/// An error sent by the server in the `{group, code, message, metadata}` shape (§7.1): thrown by
/// actor code (`user/...`), or raised by the server for the actor (`action/not_found`,
/// `auth/forbidden`, ...).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{group}/{code}: {message}")]
pub struct ActorError {
    /// Who defines the code: `user`, `actor`, `action`, `auth`, …
    pub group: String,
    /// Machine-readable, unique within the group.
    pub code: String,
    /// For people.
    pub message: String,
    /// Structured details, as sent (JSON-compat value); `None` when absent.
    pub metadata: Option<Value>,
    /// The actor that answered, when the server names it (2.3 servers do in BARE v4 errors):
    /// its id, generation and serialized key.
    pub actor: Option<ActorSpecifier>,
}

impl ActorError {
    /// An error without metadata or actor.
    pub fn new(
        group: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ActorError {
            group: group.into(),
            code: code.into(),
            message: message.into(),
            metadata: None,
            actor: None,
        }
    }

    /// Whether retrying cannot help: authentication and authorization failures, and connection
    /// params the actor refuses.
    pub fn is_permanent(&self) -> bool {
        self.group == "auth"
            || matches!(self.code.as_str(), "forbidden" | "unauthorized" | "denied")
            || (self.group == "params" && self.code == "invalid")
    }
}

impl From<ErrorBody> for ActorError {
    fn from(body: ErrorBody) -> Self {
        ActorError {
            group: body.group,
            code: body.code,
            message: body.message,
            metadata: body.metadata,
            actor: body.actor,
        }
    }
}

/// Everything a client operation can fail with. Cloneable, because one connection failure is
/// reported to every pending call and listener.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The actor or the server answered with a typed error (boxed: it is the largest variant
    /// and errors travel through every `Result` of the crate).
    #[error(transparent)]
    Actor(Box<ActorError>),
    /// The client configuration is unusable (bad endpoint, conflicting credentials).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// An HTTP error status whose body is not an error object.
    #[error("HTTP {status}: {body}")]
    Http {
        /// The response status.
        status: u16,
        /// The response body, as text.
        body: String,
    },
    /// The network: connection refused, reset, TLS, WebSocket handshake.
    #[error("transport error: {0}")]
    Transport(String),
    /// The server sent something this client cannot decode.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A value could not be converted to or from the caller's Rust type.
    #[error("cannot convert value: {0}")]
    Conversion(String),
    /// The connection closed while the call was in flight; the call may or may not have run.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The connection was disposed, or stopped reconnecting after a permanent failure.
    #[error("connection closed: {0}")]
    Closed(String),
}

impl Error {
    /// The actor error, if this is one.
    pub fn as_actor(&self) -> Option<&ActorError> {
        match self {
            Error::Actor(error) => Some(error),
            _ => None,
        }
    }

    /// Whether a reconnect loop should give up on this error instead of retrying.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Actor(error) => error.is_permanent(),
            Error::Http { status, .. } => matches!(status, 401 | 403),
            Error::Config(_) | Error::Closed(_) => true,
            _ => false,
        }
    }
}

impl From<ActorError> for Error {
    fn from(error: ActorError) -> Self {
        Error::Actor(Box::new(error))
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::Conversion(error.to_string())
    }
}

impl From<rivetkit_protocol::ProtocolError> for Error {
    fn from(error: rivetkit_protocol::ProtocolError) -> Self {
        Error::Protocol(error.to_string())
    }
}

impl From<reqwest::Error> for Error {
    fn from(error: reqwest::Error) -> Self {
        Error::Transport(error.to_string())
    }
}

/// The result of every fallible call of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
