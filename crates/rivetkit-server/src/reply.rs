//! Turning errors into HTTP responses the clients can decode (PROTOCOL.md §7.2).
//!
//! Manager routes always answer JSON. Actor routes answer in the request's encoding, with the
//! BARE version the request used, so every client version can read its own errors.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rivetkit_protocol::error::ActorSpecifier;
use rivetkit_protocol::{Encoding, ProtocolError, SERVER_BARE_VERSION};
use rivetkit_runtime::ActorError;

/// An error on its way to a client, with the encoding it must be written in.
pub struct ErrorReply {
    pub error: ActorError,
    pub encoding: Encoding,
    pub bare_version: u16,
    /// The actor the error came from, when it was found (BARE v4 names it).
    pub actor: Option<ActorSpecifier>,
    pub expose: bool,
}

impl ErrorReply {
    pub fn json(error: ActorError, expose: bool) -> Self {
        Self {
            error,
            encoding: Encoding::Json,
            bare_version: SERVER_BARE_VERSION,
            actor: None,
            expose,
        }
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        rivetkit_runtime::metrics::record_error(&self.error);
        let status =
            StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if self.error.is_public() {
            tracing::debug!(error = %self.error, %status, "request refused");
        } else {
            tracing::error!(error = %self.error, "internal error");
        }
        let mut body = self.error.to_body(self.expose);
        body.actor = self.actor;
        let body = body.encode_http(self.encoding, self.bare_version);
        bytes_response(status, self.encoding, body)
    }
}

/// A response with `body` labelled for `encoding`.
pub fn bytes_response(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}

/// A payload that does not decode: `message/malformed`, `encoding/invalid` or `params/invalid`.
pub fn protocol_error(error: ProtocolError) -> ActorError {
    let body = error.to_error_body();
    ActorError::public(body.group, body.code, body.message)
}

pub fn incoming_too_long(size: usize, limit: usize) -> ActorError {
    ActorError::public(
        "message",
        "incoming_too_long",
        format!("Incoming message is {size} bytes; the limit is {limit}"),
    )
}

pub fn outgoing_too_long(size: usize, limit: usize) -> ActorError {
    ActorError::public(
        "message",
        "outgoing_too_long",
        format!("Outgoing message is {size} bytes; the limit is {limit}"),
    )
}

pub fn invalid_request(message: impl Into<String>) -> ActorError {
    ActorError::public("request", "invalid", message)
}

pub fn route_not_found(path: &str) -> ActorError {
    ActorError::public("request", "not_found", format!("No route for {path}")).with_status(404)
}

pub fn method_not_allowed(method: &axum::http::Method, path: &str) -> ActorError {
    ActorError::public(
        "request",
        "method_not_allowed",
        format!("{method} is not allowed on {path}"),
    )
    .with_status(405)
}
