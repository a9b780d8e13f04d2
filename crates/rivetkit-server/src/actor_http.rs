//! Actor HTTP endpoints behind the gateway: stateless actions (`POST /action/{name}`,
//! PROTOCOL.md §5.1), queue sends (`POST /queue/{name}`), raw requests to `on_request`
//! (`/request/...`, §5.4), and the info routes.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use rivetkit_protocol::actor_query::ActorTarget;
use rivetkit_protocol::error::ActorSpecifier;
use rivetkit_protocol::message::QUEUE_BARE_VERSION;
use rivetkit_protocol::{
    Encoding, HttpActionRequest, HttpActionResponse, HttpQueueSendRequest, HttpQueueSendResponse,
    Value,
};
use rivetkit_runtime::raw::RequestInfo;
use rivetkit_runtime::{ActorError, QueueSend, SendOutcome};

use crate::extract::{DecodedPath, NameParam};
use crate::gateway::{self, Routed};
use crate::reply::{
    bytes_response, incoming_too_long, outgoing_too_long, protocol_error, ApiError,
};
use crate::{target, AppState};

const ENCODING_HEADER: &str = "x-rivet-encoding";
const CONN_PARAMS_HEADER: &str = "x-rivet-conn-params";

/// The connection params a request carries in `x-rivet-conn-params` (`null` when absent).
///
/// The official JS client sends `JSON.stringify(params)` as the header value, and `fetch` writes
/// each character of a header value as one byte: `{"authToken":"zoë"}` arrives with `ë` as the
/// single byte 0xEB (Latin-1; characters past U+00FF make the client throw before sending). The
/// official server, on Node, reads header values as Latin-1. Other clients (curl, Rust) send
/// UTF-8, so the value is read as UTF-8 when it is valid UTF-8, and as Latin-1 otherwise.
pub fn conn_params(headers: &HeaderMap) -> Result<Value, ActorError> {
    let Some(raw) = headers.get(CONN_PARAMS_HEADER) else {
        return Ok(Value::Null);
    };
    let bytes = raw.as_bytes();
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => std::borrow::Cow::Owned(bytes.iter().map(|&byte| char::from(byte)).collect()),
    };
    // Read as the WebSocket subprotocol's params are, so the same params give the same value
    // on both paths (a plain array that looks like a `["$tag", …]` marker stays plain).
    rivetkit_protocol::value::parse_conn_params(&text).map_err(|error| {
        ActorError::public(
            "params",
            "invalid",
            format!("connection params are not JSON: {error}"),
        )
    })
}

async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ActorError> {
    crate::body::read(body, limit)
        .await
        .map_err(|error| match error {
            crate::body::BodyError::TimedOut(error) => error,
            crate::body::BodyError::TooLarge => ActorError::public(
                "message",
                "incoming_too_long",
                format!("Incoming message is larger than the limit of {limit} bytes"),
            ),
        })
}

/// The encoding a request asks for in `x-rivet-encoding` (json when absent).
pub fn request_encoding(headers: &HeaderMap) -> Result<Encoding, ActorError> {
    match headers.get(ENCODING_HEADER) {
        None => Ok(Encoding::Json),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(Encoding::parse)
            .ok_or_else(|| {
                ActorError::public(
                    "encoding",
                    "invalid",
                    "x-rivet-encoding must be json, cbor or bare",
                )
            }),
    }
}

/// Reads a protocol message body, refusing one over the incoming message limit.
async fn read_message(state: &AppState, body: Body) -> Result<axum::body::Bytes, ActorError> {
    let limit = state.config.max_incoming_message_size;
    let body = read_body(body, limit).await?;
    if body.len() > limit {
        return Err(incoming_too_long(body.len(), limit));
    }
    Ok(body)
}

/// How to answer a client in BARE: the version it reads and the actor the answer is about,
/// both learnt while the request is served.
struct Answer {
    bare_version: u16,
    actor: Option<ActorSpecifier>,
}

impl Answer {
    fn for_target(target: &ActorTarget, oldest: u16) -> Self {
        Answer {
            bare_version: target::bare_version_hint(target).max(oldest),
            actor: None,
        }
    }

    /// Answers in the version the client wrote, when it wrote BARE.
    fn read_version(&mut self, version: Option<u16>) {
        if let Some(version) = version {
            self.bare_version = version;
        }
    }

    /// The answer to an action or a queue send: its encoded body, or the error, both in the
    /// request's encoding and in the version the client reads.
    fn reply(
        self,
        encoding: Encoding,
        result: Result<Vec<u8>, ActorError>,
    ) -> Result<Response, ApiError> {
        match result {
            Ok(body) => Ok(bytes_response(StatusCode::OK, encoding, body)),
            Err(error) => Err(ApiError::from(error)
                .encoded(encoding, self.bare_version)
                .about(self.actor)),
        }
    }
}

/// `POST /queue/{name}` (or `/queue` with the name in the body): a queue send.
pub async fn queue_send(
    State(state): State<AppState>,
    Routed { target, .. }: Routed,
    DecodedPath(NameParam { name }): DecodedPath<NameParam<Option<String>>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let encoding = request_encoding(&parts.headers)?;
    let mut answer = Answer::for_target(&target, QUEUE_BARE_VERSION);
    let send = QueueCall {
        target: &target,
        name,
        encoding,
        parts: &parts,
    };
    let result = send
        .run(&state, body, &mut answer)
        .await
        .map(|response| response.encode(encoding, answer.bare_version));
    answer.reply(encoding, result)
}

/// One queue send, decoded from its request.
struct QueueCall<'a> {
    target: &'a ActorTarget,
    name: Option<String>,
    encoding: Encoding,
    parts: &'a Parts,
}

impl QueueCall<'_> {
    async fn run(
        self,
        state: &AppState,
        body: Body,
        answer: &mut Answer,
    ) -> Result<HttpQueueSendResponse, ActorError> {
        let params = conn_params(&self.parts.headers)?;
        let body = read_message(state, body).await?;
        let (request, version) =
            HttpQueueSendRequest::decode(&body, self.encoding).map_err(protocol_error)?;
        answer.read_version(version);
        let name = self.name.or(request.name).ok_or_else(|| {
            ActorError::public("queue", "invalid_payload", "The queue name is missing")
        })?;
        let info = request_info(self.parts, format!("http://actor/queue/{name}"));
        let send = QueueSend {
            name,
            body: request.body,
            wait: request.wait.unwrap_or(false),
            timeout_ms: request
                .timeout_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
        };
        let record = target::resolve(state, self.target).await?;
        answer.actor = Some(target::specifier(&record));
        let actor = state.runtime.instance(&record.actor_id).await?;
        Ok(
            match actor
                .instance()
                .send_queue(params, Some(info), send)
                .await?
            {
                SendOutcome::Completed(response) => HttpQueueSendResponse {
                    status: "completed".into(),
                    response,
                },
                SendOutcome::TimedOut => HttpQueueSendResponse {
                    status: "timedOut".into(),
                    response: None,
                },
            },
        )
    }
}

/// `POST /action/{name}`: one stateless action.
pub async fn action(
    State(state): State<AppState>,
    Routed { target, .. }: Routed,
    DecodedPath(NameParam { name }): DecodedPath<NameParam<String>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let encoding = request_encoding(&parts.headers)?;
    let mut answer = Answer::for_target(&target, 0);
    let result = run_action(&state, &target, &name, encoding, &parts, body, &mut answer)
        .await
        .and_then(|output| {
            let body = HttpActionResponse { output }.encode(encoding, answer.bare_version);
            let limit = state.config.max_outgoing_message_size;
            if body.len() > limit {
                return Err(outgoing_too_long(body.len(), limit));
            }
            Ok(body)
        });
    answer.reply(encoding, result)
}

/// Decodes, authorizes and runs one stateless action, noting in `answer` how the client must be
/// answered, error or not.
async fn run_action(
    state: &AppState,
    target: &ActorTarget,
    name: &str,
    encoding: Encoding,
    parts: &Parts,
    body: Body,
    answer: &mut Answer,
) -> Result<Value, ActorError> {
    let params = conn_params(&parts.headers)?;
    let body = read_message(state, body).await?;
    let (request, version) = HttpActionRequest::decode(&body, encoding).map_err(protocol_error)?;
    answer.read_version(version);
    let record = target::resolve(state, target).await?;
    answer.actor = Some(target::specifier(&record));
    let actor = state.runtime.instance(&record.actor_id).await?;
    let info = request_info(parts, format!("http://actor/action/{name}"));
    actor
        .instance()
        .call_stateless(params, Some(info), name.to_owned(), request.args)
        .await
}

/// What connection hooks see of the HTTP request behind a call.
fn request_info(parts: &Parts, url: String) -> RequestInfo {
    RequestInfo {
        method: parts.method.clone(),
        url,
        headers: parts.headers.clone(),
    }
}

/// `/request/...`: a raw request, handed to the actor's `on_request`.
pub async fn raw_request(
    State(state): State<AppState>,
    Routed { target, .. }: Routed,
    request: Request,
) -> Result<Response, ApiError> {
    let record = target::resolve(&state, &target).await?;
    Ok(forward(&state, &record.actor_id, request).await?)
}

async fn forward(
    state: &AppState,
    actor_id: &str,
    request: Request,
) -> Result<Response, ActorError> {
    let (parts, body) = request.into_parts();
    // `/request/some/path?x=1` reaches the actor as `http://actor/some/path?x=1`.
    let actor_path = &gateway::path_and_query(&parts.uri)["/request".len()..];
    let uri = if actor_path.starts_with('/') {
        format!("http://actor{actor_path}")
    } else {
        format!("http://actor/{actor_path}")
    };
    let params = conn_params(&parts.headers)?;
    let body = read_body(body, state.config.max_raw_request_body).await?;
    let actor = state.runtime.instance(actor_id).await?;
    let mut request = http::Request::builder()
        .method(parts.method)
        .uri(uri)
        .body(body)?;
    *request.headers_mut() = parts.headers;
    let response = actor.instance().handle_request(params, request).await?;
    let (head, body) = response.into_parts();
    Ok(Response::from_parts(head, Body::from(body)))
}

/// `/` of one actor.
pub async fn about() -> &'static str {
    "This is a RivetKit actor.\n"
}

/// `/health` of one actor.
pub async fn health() -> &'static str {
    "ok"
}

/// `/metadata` of one actor.
pub async fn metadata() -> Json<serde_json::Value> {
    Json(serde_json::json!({"runtime": "rivetkit", "version": env!("CARGO_PKG_VERSION")}))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::{conn_params, CONN_PARAMS_HEADER};

    fn params_of(bytes: &[u8]) -> Result<serde_json::Value, rivetkit_runtime::ActorError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONN_PARAMS_HEADER, HeaderValue::from_bytes(bytes).unwrap());
        conn_params(&headers)
    }

    #[test]
    fn non_ascii_params_read_as_utf8_or_as_the_js_client_sends_them() {
        let expected = json!({ "authToken": "zoë" });
        // UTF-8 (curl, the Rust client).
        assert_eq!(
            params_of("{\"authToken\":\"zoë\"}".as_bytes()).unwrap(),
            expected
        );
        // One byte per character, as `fetch` sends `JSON.stringify(params)` (0xEB for ë).
        assert_eq!(params_of(b"{\"authToken\":\"zo\xEB\"}").unwrap(), expected);
        assert_eq!(
            params_of("{\"authToken\":\"日本\"}".as_bytes()).unwrap(),
            json!({ "authToken": "日本" })
        );
        assert_eq!(conn_params(&HeaderMap::new()).unwrap(), json!(null));
        let error = params_of(b"{not json").unwrap_err();
        assert_eq!((error.group(), error.code()), ("params", "invalid"));
    }

    #[test]
    fn header_params_read_as_the_websocket_subprotocol_reads_them() {
        let text = r#"{"tags":["$BigInt","1"],"n":[1,2]}"#;
        assert_eq!(
            params_of(text.as_bytes()).unwrap(),
            rivetkit_protocol::value::parse_conn_params(text).unwrap()
        );
    }
}
