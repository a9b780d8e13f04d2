//! Turning errors into HTTP responses the clients can decode (PROTOCOL.md §7.2).
//!
//! Handlers fail with an [`ApiError`]. Manager routes always answer JSON. Actor routes answer in
//! the request's encoding, with the BARE version the request used, so every client version can
//! read its own errors.
//!
//! An `ApiError` becomes a response in two steps, because `IntoResponse` cannot see the server's
//! config: it sets the status and rides along as a response extension, and the front door, which
//! knows whether internal errors are exposed, writes the body ([`render`]).

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rivetkit_protocol::error::ActorSpecifier;
use rivetkit_protocol::{Encoding, ProtocolError, SERVER_BARE_VERSION};
use rivetkit_runtime::ActorError;

/// An error on its way to a client, with the encoding it must be written in.
#[derive(Clone)]
pub struct ApiError {
    error: ActorError,
    encoding: Encoding,
    bare_version: u16,
    /// The actor the error came from, when it was found (BARE v4 names it).
    actor: Option<ActorSpecifier>,
}

/// JSON, as every manager route and every refusal before an actor endpoint answers.
impl From<ActorError> for ApiError {
    fn from(error: ActorError) -> Self {
        Self {
            error,
            encoding: Encoding::Json,
            bare_version: SERVER_BARE_VERSION,
            actor: None,
        }
    }
}

impl ApiError {
    /// Written in `encoding`, for a client that reads BARE `bare_version`.
    pub fn encoded(self, encoding: Encoding, bare_version: u16) -> Self {
        Self {
            encoding,
            bare_version,
            ..self
        }
    }

    /// Naming the actor it came from.
    pub fn about(self, actor: Option<ActorSpecifier>) -> Self {
        Self { actor, ..self }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Writes the body of a response made from an [`ApiError`] (any other response is left as it
/// is); `expose`: whether internal errors are shown as they are rather than masked.
pub fn render(mut response: Response, expose: bool) -> Response {
    let Some(ApiError {
        error,
        encoding,
        bare_version,
        actor,
    }) = response.extensions_mut().remove::<ApiError>()
    else {
        return response;
    };
    rivetkit_runtime::metrics::record_error(&error);
    if error.is_public() {
        tracing::debug!(%error, status = %response.status(), "request refused");
    } else {
        tracing::error!(%error, "internal error");
    }
    let mut body = error.to_body(expose);
    body.actor = actor;
    *response.body_mut() = Body::from(body.encode_http(encoding, bare_version));
    // The routes it passed through may have set the length of the empty placeholder body.
    response.headers_mut().remove(header::CONTENT_LENGTH);
    set_content_type(&mut response, encoding);
    response
}

/// A response with `body` labelled for `encoding`.
pub fn bytes_response(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    set_content_type(&mut response, encoding);
    response
}

fn set_content_type(response: &mut Response, encoding: Encoding) {
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
}

/// The fallback of every router: no route has this path.
pub async fn no_route(uri: Uri) -> ApiError {
    route_not_found(uri.path()).into()
}

/// The fallback of every route: it has no handler for this method.
pub async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    method_not_allowed(&method, uri.path()).into()
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

/// A path or query part with a `%` escape `decodeURIComponent` would throw on.
pub fn invalid_percent_encoding(what: &str) -> ActorError {
    ActorError::public(
        "request",
        "invalid_percent_encoding",
        format!("{what} is not valid percent-encoded UTF-8"),
    )
}

pub fn route_not_found(path: &str) -> ActorError {
    ActorError::public("request", "not_found", format!("No route for {path}")).with_status(404)
}

pub fn method_not_allowed(method: &Method, path: &str) -> ActorError {
    ActorError::public(
        "request",
        "method_not_allowed",
        format!("{method} is not allowed on {path}"),
    )
    .with_status(405)
}
