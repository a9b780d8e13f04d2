//! The one error type actor code and the runtime return: `{group, code, message, metadata}`.
//!
//! An error is either *public* (a user error, or one of the protocol's known codes) and goes to
//! the client as it is, or *internal* (anything else: a bug, a storage failure) and is masked
//! before it leaves the server unless exposure is switched on. Storage failures that are not
//! bugs (full, read-only, I/O errors) are public `storage/full` / `storage/unavailable` (503).
//!
//! [`ActorError`] deliberately does not implement `std::error::Error`: that is what lets any
//! error convert into it with `?` (as an internal error): every `std::error::Error`, and
//! whatever else converts into a boxed one, `anyhow::Error` included. It captures no
//! backtrace, so errors stay cheap on hot paths.

use std::fmt;

use futures::future::BoxFuture;
use futures::FutureExt;
use rivetkit_protocol::{ErrorBody, Value};
use rivetkit_storage::{ErrorKind, Failure, StoreError};

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

    /// Who defines the code: `user`, `actor`, `action`, …
    pub fn group(&self) -> &str {
        &self.0.body.group
    }

    /// Machine-readable, unique within the group.
    pub fn code(&self) -> &str {
        &self.0.body.code
    }

    /// The message (for internal errors: the real one, which clients see only masked).
    pub fn message(&self) -> &str {
        &self.0.body.message
    }

    /// The value attached with [`with_metadata`](Self::with_metadata), if any.
    pub fn metadata(&self) -> Option<&Value> {
        self.0.body.metadata.as_ref()
    }

    /// Attaches metadata (any serializable value) for the client.
    pub fn with_metadata(mut self, metadata: impl serde::Serialize) -> Self {
        self.0.body.metadata = rivetkit_protocol::value::from_typed(&metadata).ok();
        self
    }

    /// Overrides the HTTP status the error is answered with.
    pub fn with_status(mut self, status: u16) -> Self {
        self.0.status = status;
        self
    }

    /// Whether clients see the error as it is (otherwise it is masked, unless errors are exposed).
    pub fn is_public(&self) -> bool {
        self.0.public
    }

    /// The HTTP status of a response carrying this error.
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

    // The protocol's known public errors (PROTOCOL.md §7.5).

    /// `actor/not_found`: no actor by that id or key.
    pub fn actor_not_found(what: impl fmt::Display) -> Self {
        Self::public("actor", "not_found", format!("Actor not found: {what}"))
    }

    /// `actor/duplicate_key`: `create` of a key in use.
    pub fn duplicate_key(name: &str, key: &str) -> Self {
        Self::public(
            "actor",
            "duplicate_key",
            format!("Actor {name} with key {key:?} already exists"),
        )
    }

    /// `action/not_found`: the actor has no action of that name.
    pub fn action_not_found(name: &str) -> Self {
        Self::public("action", "not_found", format!("Action '{name}' not found"))
    }

    /// `action/invalid_request`: arguments that do not fit the action.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::public("action", "invalid_request", message)
    }

    /// The server is shutting down and starts no more actors (HTTP 503): the client should
    /// retry, on this server once it is back or on another one.
    pub fn shutting_down() -> Self {
        Self::public(
            "server",
            "shutting_down",
            "The server is shutting down; retry shortly",
        )
        .with_status(503)
    }

    /// A storage failure that is not a bug: `storage/full` or `storage/unavailable`, public
    /// (the client may retry later or alert someone), HTTP 503. Errors of the store, of SQLite
    /// (an actor's database) and I/O errors that report one convert into it with `?`.
    pub fn storage(failure: Failure) -> Self {
        let (code, message) = match failure {
            Failure::Full => (
                "full",
                "The server's storage is full: the write was not made",
            ),
            Failure::Unavailable => (
                "unavailable",
                "The server's storage is unavailable (read-only or failing): the write was not made",
            ),
        };
        Self::public("storage", code, message).with_status(503)
    }
}

impl fmt::Display for ActorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}: {}", self.group(), self.code(), self.message())
    }
}

/// Any error (`?` in actor code): every `std::error::Error`, and what converts into a boxed one
/// (`anyhow::Error`, which is no `std::error::Error` itself; also a `String` or `&str`). Storage
/// failures become `storage/*`; anything else is internal (masked for clients), its message the
/// error and each of its sources. An error meant for the client is [`ActorError::user`].
impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<E> for ActorError {
    fn from(error: E) -> Self {
        let error: Box<dyn std::error::Error + Send + Sync> = error.into();
        match storage_failure(error.as_ref()) {
            Some(failure) => {
                // The client gets a public error without the details (paths, SQL): log them.
                tracing::error!(%error, ?failure, "storage failure");
                Self::storage(failure)
            }
            None => {
                let mut message = error.to_string();
                let mut source = error.source();
                while let Some(cause) = source {
                    let cause_text = cause.to_string();
                    // Errors that print their source already are not repeated.
                    if !message.ends_with(&cause_text) {
                        message.push_str(": ");
                        message.push_str(&cause_text);
                    }
                    source = cause.source();
                }
                Self::internal(message)
            }
        }
    }
}

impl ActorError {
    /// `error` from the storage layer, with `context` for the log: `storage/*` when it is a
    /// [`Failure`], else an internal error with the context in its message.
    pub(crate) fn from_storage(
        error: &(dyn std::error::Error + Send + Sync + 'static),
        context: impl fmt::Display,
    ) -> Self {
        match storage_failure(error) {
            Some(failure) => {
                tracing::error!(%error, ?failure, "{context}");
                Self::storage(failure)
            }
            None => Self::internal(format!("{context}: {error}")),
        }
    }
}

/// The storage failure behind `error`, when it is a store, SQLite or I/O error that reports one.
fn storage_failure(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<Failure> {
    if let Some(error) = error.downcast_ref::<StoreError>() {
        error.failure()
    } else if let Some(error) = error.downcast_ref::<rusqlite::Error>() {
        rivetkit_storage::sqlite::error_kind(error).failure()
    } else if let Some(error) = error.downcast_ref::<std::io::Error>() {
        ErrorKind::of_io(error).failure()
    } else {
        None
    }
}

/// The result of actions, hooks and runtime calls.
pub type ActorResult<T> = Result<T, ActorError>;

/// A future that fails with `error` at once: for the erased handlers and instance entry points,
/// which return boxed futures but may refuse before any work starts (and must refuse then, not
/// when first polled).
pub(crate) fn fail_now<T: Send + 'static>(error: ActorError) -> BoxFuture<'static, ActorResult<T>> {
    futures::future::ready(Err(error)).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn sqlite(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some("details".into()))
    }

    fn convert(error: impl std::error::Error + Send + Sync + 'static) -> ActorError {
        error.into()
    }

    #[test]
    fn storage_failures_get_their_own_public_codes() {
        let cases = [
            (convert(sqlite(ffi::SQLITE_FULL)), "full"),
            (
                convert(StoreError::with_source(
                    ErrorKind::Full,
                    "x",
                    sqlite(ffi::SQLITE_FULL),
                )),
                "full",
            ),
            (convert(StoreError::new(ErrorKind::Full, "x")), "full"),
            (
                convert(StoreError::new(ErrorKind::Corrupt, "x")),
                "unavailable",
            ),
            (convert(std::io::Error::from_raw_os_error(28)), "full"),
            (convert(sqlite(ffi::SQLITE_READONLY)), "unavailable"),
            (convert(sqlite(ffi::SQLITE_IOERR_WRITE)), "unavailable"),
            (
                convert(StoreError::from(std::io::Error::from_raw_os_error(30))),
                "unavailable",
            ),
        ];
        for (error, code) in cases {
            assert_eq!((error.group(), error.code()), ("storage", code), "{error}");
            assert!(error.is_public(), "{error}");
            assert_eq!(error.status(), 503, "{error}");
            assert!(error.message().contains("not made"), "{error}");
            // Not masked, and without the SQLite details.
            assert_eq!(error.to_body(false).message, error.message());
            assert!(!error.message().contains("details"), "{error}");
        }
    }

    #[test]
    fn other_errors_stay_internal() {
        for error in [
            convert(sqlite(ffi::SQLITE_CONSTRAINT)),
            convert(StoreError::closed()),
            convert(StoreError::new(ErrorKind::Conflict, "x")),
            convert(StoreError::new(ErrorKind::Other, "x")),
            convert(std::io::Error::other("x")),
            convert(std::fmt::Error),
        ] {
            assert_eq!(
                (error.group(), error.code()),
                ("rivetkit", "internal_error")
            );
            assert!(!error.is_public());
        }
    }
}
