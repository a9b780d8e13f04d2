//! The gateway (PROTOCOL.md §4): routes `/gateway/{actor_id}[@{token}]/{rest}`, and the 2.3
//! query form `/gateway/{name}/{rest}?rvt-…` (see [`rivetkit_protocol::actor_query`]), to one
//! actor's endpoints (§5), after checking the server token.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rivetkit_protocol::actor_query::{
    parse_gateway, ActorTarget, GatewayRequest, KeySyntax, QueryError,
};
use rivetkit_protocol::message::ACTOR_SPECIFIER_BARE_VERSION;
use rivetkit_protocol::{path, Encoding};
use rivetkit_runtime::ActorError;

use crate::metrics::RouteLabel;
use crate::reply::{invalid_request, method_not_allowed, route_not_found, ErrorReply};
use crate::{actor_http, actor_ws, auth, inspector, target, AppState};

/// The actor endpoint a gateway path names.
enum Endpoint {
    /// The percent-decoded action name.
    Action(String),
    Inspector,
    /// A queue send; the name from the path, or (`None`) from the body.
    Queue(Option<String>),
    Connect,
    RawRequest,
    RawWebSocket(String),
    Info,
}

impl Endpoint {
    /// The route template requests to this endpoint are counted under, whichever way they
    /// were routed (by path or by headers).
    fn route_label(&self) -> RouteLabel {
        RouteLabel(match self {
            Endpoint::Action(_) => "/gateway/{actor}/action/{name}",
            Endpoint::Inspector => "/gateway/{actor}/inspector/{path}",
            Endpoint::Queue(Some(_)) => "/gateway/{actor}/queue/{name}",
            Endpoint::Queue(None) => "/gateway/{actor}/queue",
            Endpoint::Connect => "/gateway/{actor}/connect",
            Endpoint::RawRequest => "/gateway/{actor}/request/{path}",
            Endpoint::RawWebSocket(_) => "/gateway/{actor}/websocket/{path}",
            Endpoint::Info => "/gateway/{actor}/{info}",
        })
    }
}

/// The percent-decoded `{name}` of `POST {prefix}{name}`.
fn posted_name(method: &Method, rest_path: &str, name: &str) -> Result<String, ActorError> {
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .map_err(|_| invalid_request("the name is not valid percent-encoded UTF-8"))?;
    if name.is_empty() {
        return Err(route_not_found(rest_path));
    }
    if method != Method::POST {
        return Err(method_not_allowed(method, rest_path));
    }
    Ok(name.into_owned())
}

fn endpoint(method: &Method, rest_path: &str, rest: &str) -> Result<Endpoint, ActorError> {
    if let Some(name) = rest_path.strip_prefix("/action/") {
        return posted_name(method, rest_path, name).map(Endpoint::Action);
    }
    if let Some(name) = rest_path.strip_prefix("/queue/") {
        return posted_name(method, rest_path, name).map(|name| Endpoint::Queue(Some(name)));
    }
    if rest_path == "/queue" {
        if method != Method::POST {
            return Err(method_not_allowed(method, rest_path));
        }
        return Ok(Endpoint::Queue(None));
    }
    if rest_path.starts_with("/inspector/") {
        return Ok(Endpoint::Inspector);
    }
    if rest_path == "/connect" {
        return Ok(Endpoint::Connect);
    }
    if rest_path == "/request" || rest_path.starts_with("/request/") {
        return Ok(Endpoint::RawRequest);
    }
    if let Some(raw_path) = path::raw_websocket_path(rest) {
        return Ok(Endpoint::RawWebSocket(raw_path));
    }
    if matches!(rest_path, "/" | "/health" | "/metadata") {
        return Ok(Endpoint::Info);
    }
    Err(route_not_found(rest_path))
}

/// `/gateway/...` in either addressing form: by actor id, or by name and key (2.3 query form).
pub async fn route(State(state): State<AppState>, request: Request) -> Response {
    match parse_gateway(&path_and_query(&request), key_syntax(&request)) {
        Ok(Some(gateway)) => to_actor(state, gateway, request).await,
        Ok(None) => state
            .json_error(route_not_found(request.uri().path()))
            .into_response(),
        Err(error) => refuse_query(state, error, request).await,
    }
}

/// A malformed query path: a typed `guard.query_*` error, in the client's encoding (over a
/// WebSocket: as the close reason, like every refusal of a socket).
async fn refuse_query(state: AppState, error: QueryError, request: Request) -> Response {
    let error = ActorError::public(QueryError::GROUP, error.code(), error.to_string());
    let (mut parts, _) = request.into_parts();
    if parts.headers.contains_key(axum::http::header::UPGRADE) {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => actor_ws::refuse(state, upgrade, error),
            Err(rejection) => rejection.into_response(),
        };
    }
    ErrorReply {
        error,
        encoding: actor_http::request_encoding(&parts).unwrap_or(Encoding::Json),
        bare_version: ACTOR_SPECIFIER_BARE_VERSION,
        actor: None,
        expose: state.config.expose_errors,
    }
    .into_response()
}

/// How this request's client writes `rvt-key`: the official Rust client from 3.0 on
/// (`User-Agent: ActorClient-Rust/3.…`) escapes the key's parts, as the 3.x engine reads them;
/// every other client joins them as they are, as the 2.3 engine reads them.
fn key_syntax(request: &Request) -> KeySyntax {
    let agent = request
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let major = agent
        .strip_prefix("ActorClient-Rust/")
        .and_then(|version| version.split('.').next())
        .and_then(|major| major.parse::<u32>().ok());
    match major {
        Some(major) if major >= 3 => KeySyntax::Escaped,
        _ => KeySyntax::Plain,
    }
}

fn path_and_query(request: &Request) -> String {
    request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path(), |pq| pq.as_str())
        .to_owned()
}

/// Header routing (PROTOCOL.md §4.3, the engine's form): a request with `x-rivet-target: actor`
/// (or a WebSocket offering `rivet_target.actor`) goes to the actor named by `x-rivet-actor`
/// (or `rivet_actor.{id}`), whatever its path. A gateway path wins over the headers, as in the
/// official gateway: the official Rust client sends both. Other requests go on to the routes.
pub(crate) async fn by_header(state: &AppState, mut request: Request, next: Next) -> Response {
    let protocols = request
        .headers()
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .map(path::parse_ws_protocols)
        .unwrap_or_default();
    let header_target = request
        .headers()
        .get(TARGET_HEADER)
        .and_then(|value| value.to_str().ok());
    let wants_actor =
        header_target == Some("actor") || protocols.target.as_deref() == Some("actor");
    // Parsed only for requests that ask for header routing: every other request (each call of
    // an action among them) is parsed once, by the gateway route.
    if !wants_actor
        || !matches!(
            parse_gateway(&path_and_query(&request), key_syntax(&request)),
            Ok(None)
        )
    {
        return next.run(request).await;
    }
    let actor_id = request
        .headers()
        .get(ACTOR_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or(protocols.actor);
    let Some(actor_id) = actor_id else {
        let error = ActorError::public(
            "request",
            "missing_actor_header",
            "x-rivet-actor is required with x-rivet-target: actor",
        );
        return state.json_error(error).into_response();
    };
    strip_routing_headers(request.headers_mut());
    let gateway = GatewayRequest {
        target: ActorTarget::Id(actor_id),
        token: None,
        rest: path_and_query(&request),
    };
    to_actor(state.clone(), gateway, request).await
}

const TARGET_HEADER: &str = "x-rivet-target";
const ACTOR_HEADER: &str = "x-rivet-actor";

/// Routing headers are the gateway's, not the actor's.
fn strip_routing_headers(headers: &mut axum::http::HeaderMap) {
    headers.remove(TARGET_HEADER);
    headers.remove(ACTOR_HEADER);
}

/// Serves an actor endpoint (PROTOCOL.md §5) for a request routed to `gateway.target`.
async fn to_actor(state: AppState, gateway: GatewayRequest, request: Request) -> Response {
    let GatewayRequest {
        target,
        token,
        rest,
    } = gateway;
    let rest_path = rest.split('?').next().unwrap_or("/");
    let endpoint = match endpoint(request.method(), rest_path, &rest) {
        Ok(endpoint) => endpoint,
        Err(error) => return state.json_error(error).into_response(),
    };
    let label = endpoint.route_label();
    let mut response = serve_endpoint(state, target, token, &rest, endpoint, request).await;
    response.extensions_mut().insert(label);
    response
}

async fn serve_endpoint(
    state: AppState,
    target: ActorTarget,
    token: Option<String>,
    rest: &str,
    endpoint: Endpoint,
    request: Request,
) -> Response {
    let rest_path = rest.split('?').next().unwrap_or("/");

    let (mut parts, body) = request.into_parts();
    strip_routing_headers(&mut parts.headers);
    let upgrade = match endpoint {
        Endpoint::Connect | Endpoint::RawWebSocket(_) => {
            match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
                Ok(upgrade) => Some(upgrade),
                Err(rejection) => return rejection.into_response(),
            }
        }
        _ => None,
    };
    let protocols = parts
        .headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .map(path::parse_ws_protocols);
    let presented = auth::Presented {
        path_token: token.as_deref(),
        subprotocol_token: protocols.as_ref().and_then(|p| p.token.as_deref()),
    };
    let authorized = auth::check(state.config.token.as_deref(), &parts.headers, presented);
    let socket = |upgrade, url| actor_ws::Socket {
        upgrade,
        target: target.clone(),
        request: actor_http::request_info(&parts, url),
        protocols: protocols.unwrap_or_default(),
        authorized: authorized.clone(),
    };

    match (endpoint, upgrade) {
        (Endpoint::Connect, Some(upgrade)) => {
            actor_ws::connect(state, socket(upgrade, format!("http://actor{rest}")))
        }
        (Endpoint::RawWebSocket(raw_path), Some(upgrade)) => {
            let socket = socket(upgrade, format!("http://actor{raw_path}"));
            actor_ws::raw(state, socket, raw_path)
        }
        (endpoint, _) => {
            if let Err(error) = authorized {
                return ErrorReply::json(error, state.config.expose_errors).into_response();
            }
            match endpoint {
                Endpoint::Queue(name) => {
                    actor_http::queue_send(state, &target, name, parts, body).await
                }
                Endpoint::Action(name) => {
                    actor_http::action(state, &target, &name, parts, body).await
                }
                Endpoint::Inspector => {
                    let inspector_path = &rest_path["/inspector".len()..];
                    match target::resolve(&state, &target).await {
                        Ok(record) => {
                            let actor_id = record.actor_id.clone();
                            inspector::handle(state, actor_id, inspector_path, parts, body).await
                        }
                        Err(error) => state.json_error(error).into_response(),
                    }
                }
                Endpoint::RawRequest => match target::resolve(&state, &target).await {
                    Ok(record) => {
                        let actor_id = record.actor_id.clone();
                        actor_http::raw_request(state, actor_id, rest.to_owned(), parts, body).await
                    }
                    Err(error) => state.json_error(error).into_response(),
                },
                _ => actor_http::info(rest_path),
            }
        }
    }
}
