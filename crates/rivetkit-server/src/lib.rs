//! The RivetKit server: one HTTP listener that speaks the RivetKit client protocol.
//!
//! It owns the routes (manager API, gateway, actor endpoints), WebSocket handling, the optional
//! server token and CORS, and turns runtime results into wire messages in the client's encoding.
//! It must not know how actors are defined or stored: it drives a
//! [`rivetkit_runtime::Runtime`] built from a [`Registry`] over a storage [`rivetkit_storage::Backend`].
//!
//! Use [`serve`] for a standalone server that stops gracefully on SIGTERM or SIGINT and
//! restarts in place on SIGHUP, [`serve_with_shutdown`] to stop or restart it on a future of
//! your own, or [`router`] to mount the same
//! routes in your own axum app (e.g.
//! `app.nest("/api/rivet", rivetkit_server::router(runtime, config))`).

#![warn(missing_docs)]

mod actor_http;
mod actor_ws;
mod auth;
mod body;
mod config;
mod cors;
mod extract;
mod front_door;
mod gateway;
mod host;
mod inspector;
mod inspector_ui;
mod manager;
mod metrics;
mod reply;
#[cfg(unix)]
mod restart;
mod shutdown;
mod target;
mod telemetry;
mod tls;
mod trim;

use std::future::Future;
use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, MethodRouter};
use axum::Router;
use rivetkit_runtime::{Registry, Runtime};
use rivetkit_storage::SqliteBackend;

use crate::metrics::RouteLabel;

pub use config::{ServerArgs, ServerConfig};
pub use shutdown::{shutdown_signal, termination_signal, Shutdown};
pub use telemetry::Telemetry;

/// Installs what [`serve`] installs for itself, for a host of another kind (the engine host):
/// logs to stderr by `RUST_LOG`, and the OTLP trace export when `OTEL_EXPORTER_OTLP_ENDPOINT`
/// is set; nothing when the process already has a subscriber. Call [`Telemetry::shutdown`]
/// before exiting to send the spans still batched.
pub fn install_telemetry() -> std::io::Result<Telemetry> {
    telemetry::install()
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    runtime: Arc<Runtime>,
    config: Arc<ServerConfig>,
    /// Tells WebSockets to finish their actions in flight and close with 1001.
    draining: shutdown::Draining,
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
    front_door(runtime, config, shutdown::Draining::never()).into_router()
}

fn front_door(
    runtime: Arc<Runtime>,
    config: ServerConfig,
    draining: shutdown::Draining,
) -> front_door::FrontDoor {
    if let Err(error) = config.validate() {
        panic!("rivetkit router: {error}");
    }
    // Nobody can read the actions' history without the inspector.
    runtime.set_action_history(config.inspector_token.is_some());
    let state = AppState {
        runtime,
        config: Arc::new(config),
        draining,
    };
    let server_token = || from_fn_with_state(state.clone(), auth::require_server_token);
    let inspector_token = from_fn_with_state(state.clone(), inspector::require_inspector_token);
    // Each route's responses are counted under its path: a label of its own rather than axum's
    // `MatchedPath`, which the front door, running before any route, cannot see. The label goes
    // around the token checks, so refusals are counted under the route too.
    let own_routes: [(&'static str, MethodRouter<AppState>); 11] = [
        ("/", get(manager::root)),
        ("/health", get(manager::health)),
        ("/metadata", get(manager::metadata)),
        (
            "/actors",
            get(manager::list)
                .put(manager::get_or_create)
                .post(manager::create)
                .layer(server_token()),
        ),
        ("/actors/names", get(manager::names).layer(server_token())),
        (
            "/actors/{actor_id}",
            delete(manager::destroy).layer(server_token()),
        ),
        ("/devtools/{*path}", get(manager::devtools)),
        (
            "/inspector/actors",
            get(inspector::actors).layer(inspector_token),
        ),
        ("/ui", get(inspector_ui::index)),
        ("/ui/app.js", get(inspector_ui::script)),
        ("/ui/app.css", get(inspector_ui::stylesheet)),
    ];
    let routes = own_routes
        .into_iter()
        .fold(Router::new(), |routes, (path, route)| {
            routes.route(path, route.layer(RouteLabel(path).layer()))
        })
        .fallback(reply::no_route)
        .method_not_allowed_fallback(reply::wrong_method)
        .with_state(state.clone());
    front_door::FrontDoor::new(front_door::Steps {
        gateway: gateway::Gateway::new(state.clone()),
        routes,
        hosts: host::HostCheck::from_config(&state.config),
        origins: cors::Origins::new(&state.config.cors_origins),
        body_timeout: state.config.request_body_timeout,
        expose_errors: state.config.expose_errors,
    })
}

/// Opens the embedded SQLite backend under `config.data_dir` and starts a runtime for `registry` on it.
/// Call it inside a tokio runtime: the runtime starts its alarm scheduler as a task.
/// Fails with `InvalidInput` when `config` is invalid ([`ServerConfig::validate`]).
pub fn embedded_runtime(
    registry: Registry,
    config: &ServerConfig,
) -> std::io::Result<Arc<Runtime>> {
    config.validate()?;
    let backend = SqliteBackend::open(&config.data_dir).map_err(std::io::Error::other)?;
    Ok(Runtime::new(registry, Arc::new(backend)))
}

/// Serves `registry` on `config.host:config.port` (or on the listening socket handed over by
/// socket activation, see [`serve_with_shutdown`]) until [`shutdown_signal`]: at the first
/// SIGTERM or SIGINT it shuts down gracefully as [`serve_with_shutdown`] does and returns; at
/// the first SIGHUP it restarts in place ([`Shutdown::Restart`]). A SIGTERM or SIGINT during
/// the drain ends the process at once.
pub async fn serve(registry: Registry, config: ServerConfig) -> std::io::Result<()> {
    serve_with_shutdown(registry, config, shutdown_signal()).await
}

/// Serves `registry` until `shutdown` resolves: plain HTTP, or HTTPS and WSS (HTTP/2 or
/// HTTP/1.1, as the client's ALPN picks) when `config.tls_cert` and `config.tls_key` are set.
///
/// It listens on `config.host:config.port`, unless the process was handed a listening TCP
/// socket by the systemd protocol (`LISTEN_FDS=1`, `LISTEN_PID` this process's id or unset,
/// the socket at fd 3 or at `LISTEN_FDS_FIRST_FD`: a systemd `.socket` unit, `systemfd`, or a
/// restart): then it serves that socket whatever its address, and a new start refuses no
/// connection.
///
/// When `shutdown` resolves it stops gracefully:
/// 1. it stops accepting: with [`Shutdown::Exit`] (or `()`) the listener closes and new
///    connections are refused; with [`Shutdown::Restart`] it stays open and new connections
///    wait in its backlog;
/// 2. requests in flight get their responses (then their connections close; HTTP/2 ones get
///    GOAWAY), and every WebSocket first gets the responses of its actions in flight, then a
///    close with code 1001 (going away), so that clients reconnect — to this server once it is
///    back, or to another one;
/// 3. every actor goes to sleep through its normal path: `on_sleep` runs and its state is
///    saved; stored alarms stay stored and fire after the next start.
///
/// Steps 2 and 3 together wait at most `config.shutdown_timeout`; what is still running then is
/// left behind (nothing a client was told succeeded is lost: that is durable already). Then,
/// for [`Shutdown::Exit`], it returns. For [`Shutdown::Restart`] (Unix) it releases the store
/// and re-executes the process's binary, same pid, arguments and environment, handing it the
/// listener through the systemd protocol (at its own descriptor number, named by
/// `LISTEN_FDS_FIRST_FD`): it returns only if that failed, with the error, and the process
/// should then exit. Replacing the binary first makes this an upgrade.
pub async fn serve_with_shutdown<S: Into<Shutdown>>(
    registry: Registry,
    config: ServerConfig,
    shutdown: impl Future<Output = S>,
) -> std::io::Result<()> {
    let telemetry = telemetry::install()?;
    // Bad certificate or key files fail here, before anything is opened or bound.
    let tls = tls::acceptor_for(&config)?;
    // Before the runtime: what it records from its start on goes to this recorder.
    let metrics = match config.metrics_address() {
        Some(address) => Some((
            metrics::recorder()?,
            tokio::net::TcpListener::bind(address).await?,
        )),
        None => None,
    };
    let runtime = embedded_runtime(registry, &config)?;
    trim::spawn(Arc::downgrade(&runtime));
    let (listener, how) = match inherited_listener()? {
        Some(listener) => (
            tokio::net::TcpListener::from_std(listener)?,
            "socket activation",
        ),
        None => (
            tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await?,
            "bound",
        ),
    };
    tracing::info!(
        address = %listener.local_addr()?,
        socket = how,
        data_dir = %config.data_dir.display(),
        token = config.token.is_some(),
        tls = tls.is_some(),
        "rivetkit server listening"
    );
    let shutdown_timeout = config.shutdown_timeout;
    let server = tls::Listener::new(&config, tls);
    let (drain, draining) = shutdown::channel();
    // Scrapes go on while the server drains; the endpoint closes when serving ends.
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some((handle, metrics_listener)) = metrics {
        tracing::info!(address = %metrics_listener.local_addr()?, "prometheus metrics at /metrics");
        tokio::spawn(async move {
            let stop = async {
                let _ = metrics_stopped.await;
            };
            if let Err(error) = metrics::serve(metrics_listener, handle, stop).await {
                tracing::error!(%error, "the metrics endpoint stopped");
            }
        });
    }
    let app = front_door(runtime.clone(), config, draining.clone());
    let stopped = tls::serve(listener, server, app, draining, async {
        shutdown.await.into()
    })
    .await;
    let listener = match stopped.how {
        Shutdown::Exit => {
            // New connections are refused from here on.
            drop(stopped.listener);
            None
        }
        Shutdown::Restart => Some(stopped.listener),
    };
    let connections = stopped.connections;

    let deadline = tokio::time::Instant::now() + shutdown_timeout;
    let places = connections.places();
    let open = places.count();
    tracing::info!(
        timeout = ?shutdown_timeout,
        "stopped accepting; draining {open} connections"
    );
    // Idle HTTP connections close first, WebSockets a moment later. A client told to go away
    // on its WebSocket reconnects at once, and Node's WebSocket (undici) may send the upgrade
    // on an idle keep-alive connection of its pool: closed by the drain at that same instant,
    // the attempt fails, and 2.2/2.3 clients do not try again (1 of 50 official clients in 12
    // SIGHUP restarts under CPU load). Once the idle connection's close has reached the client,
    // the reconnect opens a new one, which waits in the backlog for the next server.
    let closed = tokio::spawn(connections.closed());
    tokio::time::sleep(IDLE_CONNECTIONS_CLOSE_FIRST).await;
    drain.start(deadline);
    if tokio::time::timeout_at(deadline, closed).await.is_err() {
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
    // The last handle, unless work left behind holds one: dropping it closes the store and
    // releases the data dir's lock (its file is close-on-exec, so a restart releases it anyway).
    drop(runtime);
    drop(metrics_stop);
    // Before a restart too: the new process starts with an empty batch.
    telemetry.shutdown().await;
    match listener {
        None => {
            tracing::info!("rivetkit server stopped");
            Ok(())
        }
        Some(listener) => Err(restart_with(listener.into_std()?)),
    }
}

/// How long idle HTTP connections have to close before WebSockets are told to go away.
const IDLE_CONNECTIONS_CLOSE_FIRST: std::time::Duration = std::time::Duration::from_millis(50);

#[cfg(unix)]
fn inherited_listener() -> std::io::Result<Option<std::net::TcpListener>> {
    restart::inherited_listener()
}

#[cfg(not(unix))]
fn inherited_listener() -> std::io::Result<Option<std::net::TcpListener>> {
    Ok(None)
}

/// Re-executes the process with `listener`; returns only the reason it could not.
#[cfg(unix)]
fn restart_with(listener: std::net::TcpListener) -> std::io::Error {
    restart::exec_self(listener)
}

#[cfg(not(unix))]
fn restart_with(_listener: std::net::TcpListener) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "restarting in place needs Unix (exec and fd passing)",
    )
}
