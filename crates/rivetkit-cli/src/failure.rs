//! Why a command failed, as a typed error (group/code/message) with the exit code it ends with.
//!
//! Exit codes: 0 success; 1 the server or the actor answered with an error (`actor/not_found`,
//! `action/not_found`, `auth/forbidden`, `user/…`, `inspector/unauthorized`); 2 the command
//! line is wrong (clap's own errors, a bad KEY, a missing inspector token, an unusable
//! endpoint); 3 the server could not be reached or the connection was lost; 4 the server
//! answered something this client cannot read.

use rivetkit_client::{Error, Value};
use serde_json::json;

/// The server or actor refused.
pub const EXIT_REFUSED: i32 = 1;
/// Bad command line or configuration (clap exits with 2 as well).
pub const EXIT_USAGE: i32 = 2;
/// Unreachable server, lost connection.
pub const EXIT_UNREACHABLE: i32 = 3;
/// An answer the client cannot read.
pub const EXIT_PROTOCOL: i32 = 4;

#[derive(Debug)]
pub struct Failure {
    pub group: String,
    pub code: String,
    pub message: String,
    /// Boxed: failures travel through every `Result` of the crate, and details are rare.
    pub metadata: Option<Box<Value>>,
    pub exit_code: i32,
}

impl Failure {
    fn new(group: &str, code: &str, message: impl Into<String>, exit_code: i32) -> Self {
        Failure {
            group: group.into(),
            code: code.into(),
            message: message.into(),
            metadata: None,
            exit_code,
        }
    }

    /// A command line that cannot be run as given (`cli/invalid_argument`).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new("cli", "invalid_argument", message, EXIT_USAGE)
    }

    /// `cli/{code}` with the usage exit code, for a missing setting.
    pub fn missing(code: &str, message: impl Into<String>) -> Self {
        Failure::new("cli", code, message, EXIT_USAGE)
    }

    /// No actor `name` with `key` (the server's own `actor/not_found` shape).
    pub fn actor_not_found(name: &str, key: &str) -> Self {
        Failure::new(
            "actor",
            "not_found",
            format!("no actor {name} with key {key}"),
            EXIT_REFUSED,
        )
    }

    /// Writes the error to stderr: `error: group/code: message` (and the metadata), or one JSON
    /// object `{"error": {...}}` for scripts.
    pub fn report(&self, json: bool) {
        if json {
            let error = json!({
                "group": self.group,
                "code": self.code,
                "message": self.message,
                "metadata": self.metadata,
            });
            eprintln!("{}", json!({ "error": error }));
            return;
        }
        eprintln!("error: {}/{}: {}", self.group, self.code, self.message);
        if let Some(metadata) = &self.metadata {
            eprintln!("metadata: {metadata}");
        }
    }
}

/// Client errors keep the server's group/code; failures on the client's side are named
/// `client/{kind}`.
impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::Actor(error) => Failure {
                group: error.group,
                code: error.code,
                message: error.message,
                metadata: error.metadata.map(Box::new),
                exit_code: EXIT_REFUSED,
            },
            Error::Config(message) => Failure::new("client", "config", message, EXIT_USAGE),
            Error::Http { status, body } => Failure {
                metadata: Some(Box::new(json!({ "status": status, "body": body }))),
                ..Failure::new("client", "http_error", message, EXIT_PROTOCOL)
            },
            Error::Transport(_) => Failure::new("client", "transport", message, EXIT_UNREACHABLE),
            Error::ConnectionLost(_) => {
                Failure::new("client", "connection_lost", message, EXIT_UNREACHABLE)
            }
            Error::Closed(_) => Failure::new("client", "closed", message, EXIT_UNREACHABLE),
            Error::Protocol(_) => Failure::new("client", "protocol", message, EXIT_PROTOCOL),
            Error::Conversion(_) => Failure::new("client", "conversion", message, EXIT_PROTOCOL),
        }
    }
}
