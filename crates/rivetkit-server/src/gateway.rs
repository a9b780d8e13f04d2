//! The gateway (PROTOCOL.md §3): routes `/gateway/{actor_id}[@{token}]/{rest}` to one actor's
//! endpoints (§4), after checking the server token.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rivetkit_protocol::path::{self, GatewayPath};

use rivetkit_runtime::ActorError;

use crate::reply::{invalid_request, method_not_allowed, route_not_found, ErrorReply};
use crate::{actor_http, actor_ws, auth, inspector, AppState};

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

/// `/gateway/{actor_id}[@{token}]/...`: path routing, what the official clients use.
pub async fn route(State(state): State<AppState>, request: Request) -> Response {
    let path_and_query = path_and_query(&request);
    match path::parse_gateway_path(&path_and_query) {
        Some(gateway) => to_actor(state, gateway, request).await,
        None => state
            .json_error(route_not_found(request.uri().path()))
            .into_response(),
    }
}

fn path_and_query(request: &Request) -> String {
    request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path(), |pq| pq.as_str())
        .to_owned()
}

/// Header routing (PROTOCOL.md §3.2, the engine's form): a request with `x-rivet-target: actor`
/// (or a WebSocket offering `rivet_target.actor`) goes to the actor named by `x-rivet-actor`
/// (or `rivet_actor.{id}`), whatever its path. Other requests go on to the routes.
pub async fn by_header(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
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
    if header_target != Some("actor") && protocols.target.as_deref() != Some("actor") {
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
    // Routing headers are the gateway's, not the actor's.
    request.headers_mut().remove(TARGET_HEADER);
    request.headers_mut().remove(ACTOR_HEADER);
    let gateway = GatewayPath {
        actor_id,
        token: None,
        rest: path_and_query(&request),
    };
    to_actor(state, gateway, request).await
}

const TARGET_HEADER: &str = "x-rivet-target";
const ACTOR_HEADER: &str = "x-rivet-actor";

/// Serves an actor endpoint (PROTOCOL.md §4) for a request already routed to `gateway.actor_id`.
async fn to_actor(state: AppState, gateway: GatewayPath, request: Request) -> Response {
    let GatewayPath {
        actor_id,
        token,
        rest,
    } = gateway;
    let rest_path = rest.split('?').next().unwrap_or("/");
    let endpoint = match endpoint(request.method(), rest_path, &rest) {
        Ok(endpoint) => endpoint,
        Err(error) => return state.json_error(error).into_response(),
    };

    let (mut parts, body) = request.into_parts();
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

    match (endpoint, upgrade) {
        (Endpoint::Connect, Some(upgrade)) => {
            let request = actor_http::request_info(&parts, format!("http://actor{rest}"));
            let protocols = protocols.unwrap_or_default();
            actor_ws::connect(state, upgrade, actor_id, request, protocols, authorized)
        }
        (Endpoint::RawWebSocket(raw_path), Some(upgrade)) => {
            let request = actor_http::request_info(&parts, format!("http://actor{raw_path}"));
            let protocols = protocols.unwrap_or_default();
            actor_ws::raw(
                state, upgrade, actor_id, raw_path, request, protocols, authorized,
            )
        }
        (endpoint, _) => {
            if let Err(error) = authorized {
                return ErrorReply::json(error, state.config.expose_errors).into_response();
            }
            match endpoint {
                Endpoint::Inspector => {
                    let inspector_path = &rest_path["/inspector".len()..];
                    inspector::handle(state, actor_id, inspector_path, parts, body).await
                }
                Endpoint::Queue(name) => {
                    actor_http::queue_send(state, actor_id, name, parts, body).await
                }
                Endpoint::Action(name) => {
                    actor_http::action(state, actor_id, &name, parts, body).await
                }
                Endpoint::RawRequest => {
                    actor_http::raw_request(state, actor_id, rest, parts, body).await
                }
                _ => actor_http::info(rest_path),
            }
        }
    }
}
