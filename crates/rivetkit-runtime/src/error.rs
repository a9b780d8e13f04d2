//! The one error type actor code and the runtime return: `{group, code, message, metadata}`.
//!
//! An error is either *public* (a user error, or one of the protocol's known codes) and goes to
//! the client as it is, or *internal* (anything else: a bug, a storage failure) and is masked
//! before it leaves the server unless exposure is switched on.
//!
//! [`ActorError`] deliberately does not implement `std::error::Error`: that is what lets any
//! `std::error::Error` convert into it with `?` (as an internal error), the way `anyhow` works.
//! It captures no backtrace, so errors stay cheap on hot paths.

use std::fmt;

use rivetkit_protocol::{ErrorBody, Value};

/// The message of a masked internal error, as the official server words it.
pub const MASKED_MESSAGE: &str = "Internal error. Read the server logs for more details.";

/// Boxed so that `Result<T, ActorError>` stays small on the success path.
#[derive(Clone, Debug, PartialEq)]
pub struct ActorError(Box<Inner>);

#[derive(Clone, Debug, PartialEq)]
struct Inner {
    body: ErrorBody,
    public: bool,
    status: u16,
}

impl ActorError {
    fn new(body: ErrorBody, public: bool, status: u16) -> Self {
        Self(Box::new(Inner {
            body,
            public,
            status,
        }))
    }

    /// A public error with an explicit group and code, HTTP status 400.
    pub fn public(
        group: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(ErrorBody::new(group, code, message), true, 400)
    }

    /// An error thrown by actor code for the client to see (group `user`).
    pub fn user(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::public("user", code, message)
    }

    /// A user error with the default code `user_error`.
    pub fn user_message(message: impl Into<String>) -> Self {
        Self::user("user_error", message)
    }

    /// An internal error: logged in full, masked for clients.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            ErrorBody::new("rivetkit", "internal_error", message),
            false,
            500,
        )
    }

    pub fn group(&self) -> &str {
        &self.0.body.group
    }

    pub fn code(&self) -> &str {
        &self.0.body.code
    }

    pub fn message(&self) -> &str {
        &self.0.body.message
    }

    pub fn metadata(&self) -> Option<&Value> {
        self.0.body.metadata.as_ref()
    }

    /// Attaches metadata (any serializable value) for the client.
    pub fn with_metadata(mut self, metadata: impl serde::Serialize) -> Self {
        self.0.body.metadata = rivetkit_protocol::value::from_typed(&metadata).ok();
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.0.status = status;
        self
    }

    pub fn is_public(&self) -> bool {
        self.0.public
    }

    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// What the client receives: the error itself if public or `expose` is on, else the mask.
    pub fn to_body(&self, expose: bool) -> ErrorBody {
        if self.0.public || expose {
            self.0.body.clone()
        } else {
            ErrorBody {
                metadata: Some(Value::Object(Default::default())),
                message: MASKED_MESSAGE.into(),
                ..self.0.body.clone()
            }
        }
    }

    // The protocol's known public errors (PROTOCOL.md §6.5).

    pub fn actor_not_found(what: impl fmt::Display) -> Self {
        Self::public("actor", "not_found", format!("Actor not found: {what}"))
    }

    pub fn duplicate_key(name: &str, key: &str) -> Self {
        Self::public(
            "actor",
            "duplicate_key",
            format!("Actor {name} with key {key:?} already exists"),
        )
    }

    pub fn action_not_found(name: &str) -> Self {
        Self::public("action", "not_found", format!("Action '{name}' not found"))
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::public("action", "invalid_request", message)
    }
}

impl fmt::Display for ActorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}: {}", self.group(), self.code(), self.message())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ActorError {
    fn from(error: E) -> Self {
        Self::internal(error.to_string())
    }
}

pub type ActorResult<T> = Result<T, ActorError>;
