//! The RivetKit server: one HTTP listener that speaks the RivetKit client protocol.
//!
//! It owns the routes (manager API, gateway, actor endpoints), WebSocket handling, the optional
//! server token and CORS, and turns runtime results into wire messages in the client's encoding.
//! It must not know how actors are defined or stored: it drives a
//! [`rivetkit_runtime::Runtime`] built from a [`Registry`] over a [`rivetkit_storage::Store`].
//!
//! Use [`serve`] for a standalone server that stops gracefully on SIGTERM or SIGINT,
//! [`serve_with_shutdown`] to stop it on a future of your own, or [`router`] to mount the same
//! routes in your own axum app (e.g.
//! `app.nest("/api/rivet", rivetkit_server::router(runtime, config))`).

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
mod shutdown;
mod target;
mod tls;

use std::future::Future;
use std::sync::Arc;

use axum::routing::{any, delete, get};
use axum::Router;
use rivetkit_runtime::{ActorError, Registry, Runtime};
use rivetkit_storage::SqliteStore;

pub use config::ServerConfig;
pub use shutdown::termination_signal;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    runtime: Arc<Runtime>,
    config: Arc<ServerConfig>,
    /// Tells WebSockets to finish their actions in flight and close with 1001.
    draining: shutdown::Draining,
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
///
/// Shutting down is then the app's own: its WebSockets are not told to close, and its actors
/// are put to sleep with [`Runtime::sleep_all`] if the app calls it.
pub fn router(runtime: Arc<Runtime>, config: ServerConfig) -> Router {
    routes(runtime, config, shutdown::Draining::never())
}

fn routes(runtime: Arc<Runtime>, config: ServerConfig, draining: shutdown::Draining) -> Router {
    if let Err(error) = config.validate() {
        panic!("rivetkit router: {error}");
    }
    let state = AppState {
        runtime,
        config: Arc::new(config),
        draining,
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

/// Serves `registry` on `config.host:config.port` until the first SIGTERM or SIGINT
/// ([`termination_signal`]), then shuts down gracefully as [`serve_with_shutdown`] does and
/// returns; a second signal during the drain ends the process at once.
pub async fn serve(registry: Registry, config: ServerConfig) -> std::io::Result<()> {
    serve_with_shutdown(registry, config, termination_signal()).await
}

/// Serves `registry` on `config.host:config.port` until `shutdown` resolves: plain HTTP, or
/// HTTPS and WSS (HTTP/2 or HTTP/1.1, as the client's ALPN picks) when `config.tls_cert` and
/// `config.tls_key` are set.
///
/// Then it shuts down gracefully and returns:
/// 1. the listener closes: new connections are refused;
/// 2. requests in flight get their responses (then their connections close; HTTP/2 ones get
///    GOAWAY), and every WebSocket first gets the responses of its actions in flight, then a
///    close with code 1001 (going away), so that clients reconnect — to this server once it is
///    back, or to another one;
/// 3. every actor goes to sleep through its normal path: `on_sleep` runs and its state is
///    saved; stored alarms stay stored and fire after the next start.
///
/// Steps 2 and 3 together wait at most `config.shutdown_timeout`; what is still running then is
/// left behind (nothing a client was told succeeded is lost: that is durable already).
pub async fn serve_with_shutdown(
    registry: Registry,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
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
    let shutdown_timeout = config.shutdown_timeout;
    let server = tls::Listener::new(&config, tls);
    let (drain, draining) = shutdown::channel();
    let app = routes(runtime.clone(), config, draining.clone());
    let connections = tls::serve(listener, server, app, draining, shutdown).await;

    let deadline = tokio::time::Instant::now() + shutdown_timeout;
    let places = connections.places();
    let open = places.count();
    tracing::info!(
        timeout = ?shutdown_timeout,
        "stopped accepting; draining {open} connections"
    );
    drain.start(deadline);
    if tokio::time::timeout_at(deadline, connections.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            open = places.count(),
            "shutdown timeout: connections still open are left behind"
        );
    }
    let actors = runtime.running_actors();
    tracing::info!("putting {actors} actors to sleep");
    if tokio::time::timeout_at(deadline, runtime.sleep_all())
        .await
        .is_err()
    {
        tracing::warn!(
            awake = runtime.running_actors(),
            "shutdown timeout: actors still busy are left without sleeping"
        );
    }
    tracing::info!("rivetkit server stopped");
    Ok(())
}
