//! The RivetKit server: one HTTP listener that speaks the RivetKit client protocol.
//!
//! It owns the routes (manager API, gateway, actor endpoints), WebSocket handling, the optional
//! server token and CORS, and turns runtime results into wire messages in the client's encoding.
//! It must not know how actors are defined or stored: it drives a
//! [`rivetkit_runtime::Runtime`] built from a [`Registry`] over a [`rivetkit_storage::Store`].
//!
//! Use [`serve`] for a standalone server, or [`router`] to mount the same routes in your own
//! axum app (e.g. `app.nest("/api/rivet", rivetkit_server::router(runtime, config))`).

mod actor_http;
mod actor_ws;
mod auth;
mod body;
mod config;
mod cors;
mod gateway;
mod host;
mod inspector;
mod manager;
mod reply;
mod target;
mod tls;

use std::sync::Arc;

use axum::routing::{any, delete, get};
use axum::Router;
use rivetkit_runtime::{ActorError, Registry, Runtime};
use rivetkit_storage::SqliteStore;

pub use config::ServerConfig;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    runtime: Arc<Runtime>,
    config: Arc<ServerConfig>,
}

impl AppState {
    fn json_error(&self, error: ActorError) -> reply::ErrorReply {
        reply::ErrorReply::json(error, self.config.expose_errors)
    }
}

/// The server's routes over `runtime`, ready to serve or to nest in another axum app.
///
/// # Panics
///
/// When `config` is invalid ([`ServerConfig::validate`]), e.g. an empty token: serving it would
/// open the server to anyone. [`embedded_runtime`] and [`serve`] return that error instead.
pub fn router(runtime: Arc<Runtime>, config: ServerConfig) -> Router {
    if let Err(error) = config.validate() {
        panic!("rivetkit router: {error}");
    }
    let state = AppState {
        runtime,
        config: Arc::new(config),
    };
    Router::new()
        .route("/", get(manager::root))
        .route("/health", get(manager::health))
        .route("/metadata", get(manager::metadata))
        .route(
            "/actors",
            get(manager::list)
                .put(manager::get_or_create)
                .post(manager::create),
        )
        .route("/actors/names", get(manager::names))
        .route("/actors/{actor_id}", delete(manager::destroy))
        .route("/devtools/{*path}", get(manager::devtools))
        .route("/gateway/{*rest}", any(gateway::route))
        .fallback(|request: axum::extract::Request| async move {
            reply::ErrorReply::json(reply::route_not_found(request.uri().path()), false)
        })
        .method_not_allowed_fallback(|request: axum::extract::Request| async move {
            reply::ErrorReply::json(
                reply::method_not_allowed(request.method(), request.uri().path()),
                false,
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gateway::by_header,
        ))
        .layer(axum::middleware::map_request_with_state(
            state.config.request_body_timeout,
            |axum::extract::State(timeout), request| async move {
                body::with_deadline(timeout, request)
            },
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(cors::Origins::new(&state.config.cors_origins)),
            cors::cors,
        ))
        // Outermost: a refused host learns nothing else, not even CORS headers.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(host::HostCheck::from_config(&state.config)),
            host::check,
        ))
        .with_state(state)
}

/// Opens the embedded store under `config.data_dir` and starts a runtime for `registry` on it.
/// Call it inside a tokio runtime: the runtime starts its alarm scheduler as a task.
/// Fails with `InvalidInput` when `config` is invalid ([`ServerConfig::validate`]).
pub fn embedded_runtime(
    registry: Registry,
    config: &ServerConfig,
) -> std::io::Result<Arc<Runtime>> {
    config.validate()?;
    let store = SqliteStore::open(&config.data_dir).map_err(std::io::Error::other)?;
    Ok(Runtime::new(registry, Arc::new(store)))
}

/// Serves `registry` on `config.host:config.port` until the process ends: plain HTTP, or HTTPS
/// and WSS (HTTP/2 or HTTP/1.1, as the client's ALPN picks) when `config.tls_cert` and
/// `config.tls_key` are set.
pub async fn serve(registry: Registry, config: ServerConfig) -> std::io::Result<()> {
    // Bad certificate or key files fail here, before anything is opened or bound.
    let tls = tls::acceptor_for(&config)?;
    let runtime = embedded_runtime(registry, &config)?;
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await?;
    tracing::info!(
        address = %listener.local_addr()?,
        data_dir = %config.data_dir.display(),
        token = config.token.is_some(),
        tls = tls.is_some(),
        "rivetkit server listening"
    );
    let server = tls::Listener::new(&config, tls);
    tls::serve(listener, server, router(runtime, config)).await
}
