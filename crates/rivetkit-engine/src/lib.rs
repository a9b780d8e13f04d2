//! The engine host: runs a [`Registry`]'s actors as an *envoy* of the Rivet Engine instead of
//! serving HTTP itself, so that the same actors scale past one machine.
//!
//! The engine (npm `@rivetkit/engine-cli`, on Postgres or FoundationDB, across nodes) creates
//! actors, resolves keys, places each actor on one envoy of a pool, routes clients' requests
//! to it through its gateway, and sleeps and wakes actors. This crate connects to it with the
//! official envoy client ([`rivet_envoy_client`], same version as the engine), and:
//! - starts and stops our actor instances when the engine says so;
//! - serves tunnelled HTTP requests and WebSockets with the same routes as the embedded server
//!   ([`rivetkit_server::router`]), see the `tunnel` module;
//! - keeps each actor's state, KV, alarms and queue in the engine's per-actor KV (the `store`
//!   module), so an actor moved to another envoy finds them there;
//! - sends actors' calls to other actors through the engine's gateway (the `calls` module).
//!
//! It owns nothing of the protocol or of how actors run; it must not know actor definitions.
//! What single-node mode does that this host leaves to the engine is in ARCHITECTURE.md.

#![warn(missing_docs)]

mod calls;
mod pool;
mod store;
#[cfg(test)]
mod store_contract_tests;
mod tunnel;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use parking_lot::Mutex;
use rivet_envoy_client::config::{
    ActorName, BoxFuture, EnvoyCallbacks, EnvoyConfig, HttpRequest, HttpResponse, WebSocketHandler,
    WebSocketSender,
};
use rivet_envoy_client::envoy::start_envoy;
use rivet_envoy_client::handle::EnvoyHandle;
use rivet_envoy_client::protocol;
use rivetkit_runtime::{ActorStopped, Registry, Runtime};
use rivetkit_server::ServerConfig;
use rivetkit_storage::ActorRecord;

use store::{Engine, EngineBackend};

pub use rivetkit_server::{shutdown_signal, Shutdown};

/// Where the engine is and how this envoy joins it.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The engine's URL, e.g. `http://127.0.0.1:6420`.
    pub endpoint: String,
    /// The namespace this envoy serves (`default` unless set).
    pub namespace: String,
    /// The engine's token, if it requires one.
    pub token: Option<String>,
    /// The pool (runner name) this envoy joins; the engine places actors on its envoys.
    pub pool: String,
    /// This envoy's version: the engine prefers envoys of the newest version.
    pub version: u32,
    /// The limits and options of the routes the tunnelled requests reach (message sizes, error
    /// exposure, WebSocket timings). Its listening address, token, allowed hosts and CORS are
    /// not used: the engine's gateway is the front door.
    pub server: ServerConfig,
    /// How long a graceful stop waits for the engine to move this envoy's actors away.
    pub shutdown_timeout: Duration,
}

impl EngineConfig {
    /// An envoy of pool `default` in namespace `default`, no token.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            namespace: "default".to_owned(),
            token: None,
            pool: "default".to_owned(),
            version: 1,
            server: ServerConfig::default(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }

    /// The configuration the environment gives, as the official clients read it:
    /// `RIVET_ENGINE` or `RIVET_ENDPOINT` (the engine's URL; `None` when neither is set),
    /// `RIVET_NAMESPACE`, `RIVET_TOKEN`, `RIVET_POOL` or `RIVET_RUNNER` (the pool).
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let endpoint = var("RIVET_ENGINE").or_else(|| var("RIVET_ENDPOINT"))?;
        let mut config = Self::new(endpoint);
        if let Some(namespace) = var("RIVET_NAMESPACE") {
            config.namespace = namespace;
        }
        config.token = var("RIVET_TOKEN");
        if let Some(pool) = pool_from(var) {
            config.pool = pool;
        }
        Some(config)
    }

    fn validate(&self) -> std::io::Result<()> {
        let invalid =
            |what: String| Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, what));
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return invalid(format!(
                "engine endpoint {:?} must be an http:// or https:// URL",
                self.endpoint
            ));
        }
        if self.namespace.is_empty() || self.pool.is_empty() {
            return invalid("engine namespace and pool must not be empty".to_owned());
        }
        if self.token.as_deref() == Some("") {
            return invalid("engine token must not be empty when set".to_owned());
        }
        Ok(())
    }
}

/// Runs `registry` as an envoy of the engine until SIGTERM or SIGINT, then stops gracefully
/// (see [`serve_engine_with_shutdown`]).
pub async fn serve_engine(registry: Registry, config: EngineConfig) -> std::io::Result<()> {
    serve_engine_with_shutdown(registry, config, shutdown_signal()).await
}

/// Runs `registry` as an envoy of the engine until `shutdown` resolves. Then it asks the engine
/// to move its actors away (each goes to sleep through its normal path here, state saved, and
/// wakes on another envoy at its next request), waits for that up to
/// `config.shutdown_timeout`, and returns. A restart ([`Shutdown::Restart`]) is treated as a
/// stop: on the engine, another envoy (or this one started again) takes over.
pub async fn serve_engine_with_shutdown<S: Into<Shutdown>>(
    registry: Registry,
    config: EngineConfig,
    shutdown: impl Future<Output = S>,
) -> std::io::Result<()> {
    config.validate()?;
    let telemetry = rivetkit_server::install_telemetry()?;
    let names: HashMap<String, ActorName> = registry
        .names()
        .map(|name| {
            (
                name.to_owned(),
                ActorName {
                    metadata: serde_json::json!({}),
                },
            )
        })
        .collect();
    let engine = Engine::default();
    let backend = EngineBackend::new(engine.clone());
    let runtime = Runtime::new(registry, Arc::new(backend.clone()));
    runtime.call_through(Arc::new(calls::EngineCalls::new(&config)?));
    let mut server = config.server.clone();
    // The engine's gateway checked the token and the Host; no listener of ours is bound, and
    // the Host check is only enabled for loopback or listed hosts.
    server.token = None;
    server.host = "0.0.0.0".to_owned();
    server.allowed_hosts.clear();
    let router = rivetkit_server::router(runtime.clone(), server);
    let host = Arc::new(Host {
        runtime: runtime.clone(),
        router,
        backend: backend.clone(),
        engine: engine.clone(),
        generations: Mutex::new(HashMap::new()),
        stopping: Mutex::new(HashSet::new()),
    });
    let stop_host = Arc::downgrade(&host);
    runtime.on_actor_stopped(move |actor_id, how| {
        if let Some(host) = stop_host.upgrade() {
            host.stopped_here(actor_id, how);
        }
    });
    let destroy_host = Arc::downgrade(&host);
    backend.actors().on_destroy(move |actor_id| {
        if let Some(host) = destroy_host.upgrade() {
            host.destroyed_here(actor_id);
        }
    });
    let mut shutdown = std::pin::pin!(shutdown);
    tokio::select! {
        () = pool::ensure(&config) => {}
        how = &mut shutdown => {
            let _: Shutdown = how.into();
            telemetry.shutdown().await;
            return Ok(());
        }
    }
    let handle = start_envoy(EnvoyConfig {
        version: config.version,
        endpoint: config.endpoint.clone(),
        token: config.token.clone(),
        namespace: config.namespace.clone(),
        pool_name: config.pool.clone(),
        prepopulate_actor_names: names,
        metadata: None,
        not_global: true,
        debug_latency_ms: None,
        callbacks: Arc::new(Callbacks(host.clone())),
    })
    .await;
    engine.connected(&handle);
    tracing::info!(
        endpoint = %config.endpoint,
        namespace = %config.namespace,
        pool = %config.pool,
        "connecting to the Rivet Engine as an envoy"
    );
    tokio::select! {
        started = handle.started() => {
            started.map_err(|error| std::io::Error::other(format!("the envoy did not start: {error:#}")))?;
            tracing::info!(envoy = handle.get_envoy_key(), "envoy registered with the Rivet Engine");
        }
        how = &mut shutdown => {
            let _: Shutdown = how.into();
            handle.shutdown(true);
            telemetry.shutdown().await;
            return Ok(());
        }
    }
    let _: Shutdown = shutdown.await.into();
    tracing::info!(
        actors = runtime.running_actors(),
        "stopping: the engine moves this envoy's actors away"
    );
    let drained = tokio::time::timeout(config.shutdown_timeout, async {
        handle.shutdown_and_wait(false).await;
        runtime.sleep_all().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            awake = runtime.running_actors(),
            "shutdown timeout: actors still awake are left behind"
        );
        handle.shutdown(true);
    }
    drop(host);
    telemetry.shutdown().await;
    Ok(())
}

/// The envoy's callbacks: the engine's commands, applied to the runtime.
struct Host {
    runtime: Arc<Runtime>,
    router: Router,
    backend: EngineBackend,
    engine: Engine,
    /// The generation the engine gave each actor running here (its intents name it).
    generations: Mutex<HashMap<String, u32>>,
    /// Actors the engine is stopping: their stop is not reported back as an intent.
    stopping: Mutex<HashSet<String>>,
}

impl Host {
    /// An actor stopped on its own (idle, `c.sleep()`): the engine is told, so that it wakes
    /// the actor (here or elsewhere) at its next request instead of routing to a stopped one.
    fn stopped_here(&self, actor_id: &str, how: ActorStopped) {
        if how != ActorStopped::Slept || self.stopping.lock().contains(actor_id) {
            return;
        }
        let generation = self.generations.lock().get(actor_id).copied();
        if let Some(handle) = self.engine.get() {
            handle.sleep_actor(actor_id.to_owned(), generation, None);
        }
    }

    /// An actor destroyed itself (`c.destroy()`): the engine deletes it and its KV.
    fn destroyed_here(&self, actor_id: &str) {
        if self.stopping.lock().contains(actor_id) {
            return;
        }
        let generation = self.generations.lock().remove(actor_id);
        if let Some(handle) = self.engine.get() {
            handle.stop_actor(actor_id.to_owned(), generation);
        }
    }

    async fn start(
        &self,
        handle: &EnvoyHandle,
        actor_id: String,
        generation: u32,
        config: protocol::ActorConfig,
    ) -> anyhow::Result<()> {
        self.engine.connected(handle);
        tracing::debug!(actor = %actor_id, name = %config.name, generation, "the engine started an actor here");
        self.generations.lock().insert(actor_id.clone(), generation);
        self.backend.actors().started(ActorRecord {
            actor_id: actor_id.clone(),
            namespace: handle.namespace().to_owned(),
            name: config.name,
            key: config.key.unwrap_or_default(),
            create_ts: config.create_ts,
            input: config.input,
        });
        // Started now, so that `on_wake` and the `run` handler run when the engine says, and
        // kept awake by the runtime's own rules from here.
        self.runtime
            .instance(&actor_id)
            .await
            .map_err(|error| anyhow::anyhow!("starting actor {actor_id}: {error}"))?;
        self.runtime
            .arm_stored_alarms(&actor_id)
            .await
            .map_err(|error| anyhow::anyhow!("arming the alarms of actor {actor_id}: {error}"))?;
        Ok(())
    }

    async fn stop(
        &self,
        actor_id: String,
        reason: protocol::StopActorReason,
    ) -> anyhow::Result<()> {
        self.stopping.lock().insert(actor_id.clone());
        match reason {
            protocol::StopActorReason::Destroy => {
                if let Err(error) = self.runtime.destroy(&actor_id).await {
                    tracing::debug!(actor = %actor_id, %error, "destroying an actor that is not running here");
                }
            }
            _ => {
                self.runtime.sleep_actor(&actor_id).await;
            }
        }
        self.stopping.lock().remove(&actor_id);
        self.generations.lock().remove(&actor_id);
        self.backend.actors().stopped(&actor_id);
        Ok(())
    }
}

/// The callbacks the envoy client calls, each future owning a clone of the host.
struct Callbacks(Arc<Host>);

impl EnvoyCallbacks for Callbacks {
    fn on_connect(&self, handle: EnvoyHandle) {
        // Logged at every (re)connection: operators and tests see the envoy come back after
        // an engine restart.
        tracing::info!(
            envoy = handle.get_envoy_key(),
            "envoy connected to the Rivet Engine"
        );
        self.0.engine.connected(&handle);
    }

    fn on_actor_start(
        &self,
        handle: EnvoyHandle,
        actor_id: String,
        generation: u32,
        config: protocol::ActorConfig,
        _preloaded_kv: Option<protocol::PreloadedKv>,
    ) -> BoxFuture<anyhow::Result<()>> {
        let host = self.0.clone();
        Box::pin(async move { host.start(&handle, actor_id, generation, config).await })
    }

    fn on_actor_stop(
        &self,
        _handle: EnvoyHandle,
        actor_id: String,
        _generation: u32,
        reason: protocol::StopActorReason,
    ) -> BoxFuture<anyhow::Result<()>> {
        let host = self.0.clone();
        Box::pin(async move { host.stop(actor_id, reason).await })
    }

    fn on_shutdown(&self) {
        tracing::info!("the envoy shut down");
    }

    fn fetch(
        &self,
        _handle: EnvoyHandle,
        actor_id: String,
        _gateway_id: protocol::GatewayId,
        _request_id: protocol::RequestId,
        request: HttpRequest,
    ) -> BoxFuture<anyhow::Result<HttpResponse>> {
        let router = self.0.router.clone();
        Box::pin(async move { tunnel::fetch(router, &actor_id, request).await })
    }

    fn websocket(
        &self,
        _handle: EnvoyHandle,
        actor_id: String,
        _gateway_id: protocol::GatewayId,
        _request_id: protocol::RequestId,
        _request: HttpRequest,
        path: String,
        headers: HashMap<String, String>,
        _is_hibernatable: bool,
        _is_restoring_hibernatable: bool,
        sender: WebSocketSender,
    ) -> BoxFuture<anyhow::Result<WebSocketHandler>> {
        let router = self.0.router.clone();
        Box::pin(async move { tunnel::websocket(router, &actor_id, &path, &headers, sender).await })
    }

    /// No: a WebSocket ends when its actor sleeps or moves, and the official clients reconnect
    /// by themselves (see ARCHITECTURE.md, "engine host").
    fn can_hibernate(
        &self,
        _actor_id: &str,
        _gateway_id: &protocol::GatewayId,
        _request_id: &protocol::RequestId,
        _request: &HttpRequest,
    ) -> BoxFuture<anyhow::Result<bool>> {
        Box::pin(async { Ok(false) })
    }
}

/// The engine mode's command-line flags, to flatten into a binary's own clap arguments next to
/// [`rivetkit_server::ServerArgs`] (see `seed-server`).
#[derive(clap::Args, Clone, Debug)]
pub struct EngineArgs {
    /// Run the actors as an envoy of the Rivet Engine at URL instead of serving HTTP (the way
    /// past one machine). Without URL, `RIVET_ENGINE` or else `RIVET_ENDPOINT` gives it;
    /// `RIVET_ENGINE` set alone also selects this mode.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub engine: Option<String>,
    /// The engine namespace to serve (engine mode).
    #[arg(long, env = "RIVET_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// The engine pool (runner name) to join (engine mode) [env: RIVET_POOL, RIVET_RUNNER]
    /// [default: default].
    #[arg(long)]
    pub pool: Option<String>,
    /// The engine's token (engine mode; `--token` is taken when this is not set).
    #[arg(long, env = "RIVET_TOKEN")]
    pub engine_token: Option<String>,
}

impl EngineArgs {
    /// The engine configuration these flags select, `None` for embedded mode; `server` gives
    /// the limits of the routes, the shutdown timeout, and the token when no engine token is
    /// set. Fails when `--engine` has no URL and the environment gives none.
    pub fn into_config(self, server: &ServerConfig) -> Result<Option<EngineConfig>, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let endpoint = match self.engine {
            Some(url) if !url.is_empty() => url,
            Some(_) => var("RIVET_ENGINE")
                .or_else(|| var("RIVET_ENDPOINT"))
                .ok_or("--engine without URL needs RIVET_ENGINE or RIVET_ENDPOINT")?,
            None => match var("RIVET_ENGINE") {
                Some(url) => url,
                None => return Ok(None),
            },
        };
        let mut config = EngineConfig::new(endpoint);
        config.namespace = self.namespace;
        if let Some(pool) = self.pool.or_else(|| pool_from(var)) {
            config.pool = pool;
        }
        config.token = self
            .engine_token
            .or_else(|| server.token.clone())
            .filter(|token| !token.is_empty());
        config.shutdown_timeout = server.shutdown_timeout;
        config.server = server.clone();
        Ok(Some(config))
    }
}

/// The pool an environment names (`lookup` maps a variable to its non-empty value):
/// `RIVET_POOL`, which 2.3 clients and envoys read, or else `RIVET_RUNNER`, its 2.0–2.2 name.
fn pool_from(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup("RIVET_POOL").or_else(|| lookup("RIVET_RUNNER"))
}

#[cfg(test)]
mod tests {
    use super::pool_from;

    #[test]
    fn the_pool_comes_from_rivet_pool_or_else_rivet_runner() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(var, _)| *var == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert_eq!(pool_from(env(&[])), None);
        assert_eq!(
            pool_from(env(&[("RIVET_RUNNER", "old")])).as_deref(),
            Some("old")
        );
        assert_eq!(
            pool_from(env(&[("RIVET_RUNNER", "old"), ("RIVET_POOL", "new")])).as_deref(),
            Some("new")
        );
    }
}
