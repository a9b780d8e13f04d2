//! The gateway (PROTOCOL.md §4): routes `/gateway/{actor_id}[@{token}]/{rest}`, and the 2.3
//! query form `/gateway/{name}/{rest}?rvt-…` (see [`rivetkit_protocol::actor_query`]), to one
//! actor's endpoints (§5), after checking the server token.
//!
//! Which actor a request names is parsed by the protocol crate, before any routing (the
//! [`crate::front_door`] asks first); the endpoints are a router of their own, under the path
//! that follows the actor, with the token checks as route layers. A request reaches it with
//! `{rest}` as its URI and the actor as a [`Routed`] extension, from a gateway path or by header
//! routing.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post, MethodRouter};
use axum::Router;
use rivetkit_protocol::actor_query::{
    parse_gateway, ActorTarget, GatewayRequest, KeySyntax, QueryError,
};
use rivetkit_protocol::message::ACTOR_SPECIFIER_BARE_VERSION;
use rivetkit_protocol::{path, Encoding};
use rivetkit_runtime::ActorError;
use tower::ServiceExt;

use crate::metrics::RouteLabel;
use crate::reply::{self, route_not_found, ApiError};
use crate::{actor_http, actor_ws, auth, inspector, AppState};

/// The actor a request was routed to, for the endpoints (taken out of the request by the
/// handler that serves it).
#[derive(Clone)]
pub struct Routed {
    pub target: ActorTarget,
    /// The token in the gateway path (`/gateway/{id}@{token}/…` or `rvt-token`), if any.
    pub path_token: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Routed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.remove::<Routed>().ok_or_else(|| {
            ActorError::internal("an actor endpoint was reached without an actor").into()
        })
    }
}

/// The route templates requests to the actor endpoints are counted under, whichever way they
/// were routed (by path or by headers).
const ACTION: &str = "/gateway/{actor}/action/{name}";
const INSPECTOR: &str = "/gateway/{actor}/inspector/{path}";
const QUEUE_NAMED: &str = "/gateway/{actor}/queue/{name}";
const QUEUE: &str = "/gateway/{actor}/queue";
const CONNECT: &str = "/gateway/{actor}/connect";
const RAW_REQUEST: &str = "/gateway/{actor}/request/{path}";
const RAW_WEBSOCKET: &str = "/gateway/{actor}/websocket/{path}";
const INFO: &str = "/gateway/{actor}/{info}";

/// The actor endpoints (PROTOCOL.md §5), under the path that follows the actor.
fn endpoints(state: AppState) -> Router {
    let counted = |label, route: MethodRouter<AppState>| route.layer(RouteLabel(label).layer());
    // The token check as a route layer, route by route (what `Router::route_layer` does to
    // each route) so that the label goes around it and refusals are counted under the route.
    // A wrong method still skips it: the method-not-allowed fallback is set afterwards. No
    // layer without a token: each costs every request a boxed service and a boxed future.
    let token_required = state.config.token.is_some();
    let http = |label, route: MethodRouter<AppState>| {
        let token = middleware::from_fn_with_state(state.clone(), auth::require_server_token);
        counted(
            label,
            if token_required {
                route.layer(token)
            } else {
                route
            },
        )
    };
    let socket = |label, route: MethodRouter<AppState>| {
        let token = middleware::from_fn_with_state(state.clone(), actor_ws::refuse_unauthorized);
        counted(
            label,
            if token_required {
                route.layer(token)
            } else {
                route
            },
        )
    };
    // `.layer`, not `.route_layer`: the inspector checks its tokens before it answers 404 or 405.
    let inspector = inspector::routes(state.clone())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_server_token,
        ))
        .layer(RouteLabel(INSPECTOR).layer());
    Router::new()
        // `{*name}`: a name may hold a `/`. A `{*…}` matches nothing empty, so a path that
        // ends after its `/` (`/request/`) is a route of its own.
        .route("/action/{*name}", http(ACTION, post(actor_http::action)))
        .route("/queue", http(QUEUE, post(actor_http::queue_send)))
        .route(
            "/queue/{*name}",
            http(QUEUE_NAMED, post(actor_http::queue_send)),
        )
        .route("/request", http(RAW_REQUEST, any(actor_http::raw_request)))
        .route("/request/", http(RAW_REQUEST, any(actor_http::raw_request)))
        .route(
            "/request/{*path}",
            http(RAW_REQUEST, any(actor_http::raw_request)),
        )
        .route("/", http(INFO, any(actor_http::about)))
        .route("/health", http(INFO, any(actor_http::health)))
        .route("/metadata", http(INFO, any(actor_http::metadata)))
        .route("/connect", socket(CONNECT, any(actor_ws::connect)))
        .route("/websocket", socket(RAW_WEBSOCKET, any(actor_ws::raw)))
        .route("/websocket/", socket(RAW_WEBSOCKET, any(actor_ws::raw)))
        .route(
            "/websocket/{*path}",
            socket(RAW_WEBSOCKET, any(actor_ws::raw)),
        )
        .nest("/inspector", inspector)
        .fallback(reply::no_route)
        .method_not_allowed_fallback(reply::wrong_method)
        .with_state(state)
}

/// Routes requests to the actor endpoints, from gateway paths and by header.
#[derive(Clone)]
pub struct Gateway {
    state: AppState,
    endpoints: Router,
}

impl Gateway {
    pub fn new(state: AppState) -> Self {
        Self {
            endpoints: endpoints(state.clone()),
            state,
        }
    }

    /// Routes a request: to an actor when its path is a gateway path (either addressing form)
    /// or, failing that, when its headers name an actor; every other request to `routes`.
    pub async fn route(&self, request: Request, routes: &Router) -> Response {
        match parse_gateway(path_and_query(request.uri()), key_syntax(request.headers())) {
            Ok(Some(gateway)) => self.to_actor(gateway, request).await,
            Err(error) => self.refuse_query(error, request).await,
            Ok(None) => self.by_header(request, routes).await,
        }
    }

    /// A malformed query path: a typed `guard.query_*` error, in the client's encoding (over a
    /// WebSocket: as the close reason, like every refusal of a socket).
    async fn refuse_query(&self, error: QueryError, request: Request) -> Response {
        let error = ActorError::public(QueryError::GROUP, error.code(), error.to_string());
        if request.headers().contains_key(axum::http::header::UPGRADE) {
            return actor_ws::refuse_request(self.state.clone(), request, error).await;
        }
        let encoding = actor_http::request_encoding(request.headers()).unwrap_or(Encoding::Json);
        ApiError::from(error)
            .encoded(encoding, ACTOR_SPECIFIER_BARE_VERSION)
            .into_response()
    }

    /// Header routing (PROTOCOL.md §4.3, the engine's form): a request with `x-rivet-target:
    /// actor` (or a WebSocket offering `rivet_target.actor`) goes to the actor named by
    /// `x-rivet-actor` (or `rivet_actor.{id}`), whatever its path. A gateway path wins over the
    /// headers, as in the official gateway: the official Rust client sends both. Other requests
    /// go on to `routes`.
    async fn by_header(&self, request: Request, routes: &Router) -> Response {
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
            let Ok(response) = routes.clone().oneshot(request).await;
            return response;
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
            return ApiError::from(error).into_response();
        };
        let gateway = GatewayRequest {
            target: ActorTarget::Id(actor_id),
            token: None,
            rest: path_and_query(request.uri()).to_owned(),
        };
        self.to_actor(gateway, request).await
    }

    /// Serves the actor endpoint at `gateway.rest` for a request routed to `gateway.target`.
    async fn to_actor(&self, gateway: GatewayRequest, mut request: Request) -> Response {
        let GatewayRequest {
            target,
            token,
            rest,
        } = gateway;
        let Some(uri) = with_path_and_query(request.uri(), &rest) else {
            return ApiError::from(route_not_found(&rest)).into_response();
        };
        *request.uri_mut() = uri;
        // Routing headers are the gateway's, not the actor's.
        let headers = request.headers_mut();
        headers.remove(TARGET_HEADER);
        headers.remove(ACTOR_HEADER);
        request.extensions_mut().insert(Routed {
            target,
            path_token: token,
        });
        let Ok(response) = self.endpoints.clone().oneshot(request).await;
        response
    }
}

const TARGET_HEADER: &str = "x-rivet-target";
const ACTOR_HEADER: &str = "x-rivet-actor";

/// How this request's client writes `rvt-key`: the official Rust client from 3.0 on
/// (`User-Agent: ActorClient-Rust/3.…`) escapes the key's parts, as the 3.x engine reads them;
/// every other client joins them as they are, as the 2.3 engine reads them.
fn key_syntax(headers: &HeaderMap) -> KeySyntax {
    let agent = headers
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

/// The path of `uri` with its query, if any.
pub fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query()
        .map_or_else(|| uri.path(), |pq| pq.as_str())
}

/// `uri` with another path and query (its scheme and authority kept).
fn with_path_and_query(uri: &Uri, path_and_query: &str) -> Option<Uri> {
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}
