//! The actor-store contract (`rivetkit_storage::contract`, which the SQLite and in-memory
//! backends pass too) on the engine's per-actor KV: a real engine 2.3.19 on Postgres + NATS
//! (`tests/engine/engine.sh`), an envoy of a pool of its own, and actors the engine created
//! and started on it. Without the engine installed the test says so and passes, except in CI.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rivet_envoy_client::config::{
    ActorName, BoxFuture, EnvoyCallbacks, EnvoyConfig, HttpRequest, HttpResponse, WebSocketHandler,
    WebSocketSender,
};
use rivet_envoy_client::envoy::start_envoy;
use rivet_envoy_client::handle::EnvoyHandle;
use rivet_envoy_client::protocol;
use rivetkit_storage::contract::{self, Stores};
use rivetkit_storage::Backend;
use tokio::sync::mpsc;

use crate::store::{Engine, EngineBackend};
use crate::{pool, EngineConfig};

const POOL: &str = "store-contract";
const ACTOR: &str = "contract";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/engine")
}

/// `engine.sh` in a temp dir; stopped (its database dropped) on drop.
struct TestEngine {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl TestEngine {
    fn start() -> Option<Self> {
        let binary =
            fixture().join("node_modules/@rivetkit/engine-cli-linux-x64-musl/rivet-engine");
        if !binary.exists() {
            let reason = format!(
                "the engine is not installed (npm install in {})",
                fixture().display()
            );
            assert!(std::env::var_os("CI").is_none(), "{reason}");
            eprintln!("SKIPPED: {reason}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("bash")
            .arg(fixture().join("engine.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "engine.sh start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let endpoint = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        Some(Self { dir, endpoint })
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(fixture().join("engine.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// An envoy that runs nothing: it reports each actor the engine starts on it (key, id).
struct Reporter(mpsc::UnboundedSender<(String, String)>);

impl EnvoyCallbacks for Reporter {
    fn on_actor_start(
        &self,
        _handle: EnvoyHandle,
        actor_id: String,
        _generation: u32,
        config: protocol::ActorConfig,
        _preloaded_kv: Option<protocol::PreloadedKv>,
    ) -> BoxFuture<anyhow::Result<()>> {
        let _ = self.0.send((config.key.unwrap_or_default(), actor_id));
        Box::pin(async { Ok(()) })
    }

    fn on_actor_stop(
        &self,
        _handle: EnvoyHandle,
        _actor_id: String,
        _generation: u32,
        _reason: protocol::StopActorReason,
    ) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn on_shutdown(&self) {}

    fn fetch(
        &self,
        _handle: EnvoyHandle,
        _actor_id: String,
        _gateway_id: protocol::GatewayId,
        _request_id: protocol::RequestId,
        _request: HttpRequest,
    ) -> BoxFuture<anyhow::Result<HttpResponse>> {
        Box::pin(async { anyhow::bail!("this test envoy serves no requests") })
    }

    fn websocket(
        &self,
        _handle: EnvoyHandle,
        _actor_id: String,
        _gateway_id: protocol::GatewayId,
        _request_id: protocol::RequestId,
        _request: HttpRequest,
        _path: String,
        _headers: HashMap<String, String>,
        _is_hibernatable: bool,
        _is_restoring_hibernatable: bool,
        _sender: WebSocketSender,
    ) -> BoxFuture<anyhow::Result<WebSocketHandler>> {
        Box::pin(async { anyhow::bail!("this test envoy serves no WebSockets") })
    }

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

/// Stores of two actors the engine creates and starts on the test's envoy, per check.
struct EngineActors {
    http: reqwest::Client,
    endpoint: String,
    backend: EngineBackend,
    /// (key, id) of each actor the engine started on the envoy.
    starts: mpsc::UnboundedReceiver<(String, String)>,
    ids: HashMap<String, String>,
}

impl contract::FreshStores for EngineActors {
    async fn fresh(&mut self, tag: &'static str) -> Stores {
        let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
        self.create(&a).await;
        self.create(&b).await;
        while !(self.ids.contains_key(&a) && self.ids.contains_key(&b)) {
            let (key, id) = tokio::time::timeout(Duration::from_secs(30), self.starts.recv())
                .await
                .expect("the engine starts the created actors within 30 s")
                .unwrap();
            self.ids.insert(key, id);
        }
        Stores {
            a: self.backend.actor_store(&self.ids[&a]),
            b: self.backend.actor_store(&self.ids[&b]),
            again: self.backend.actor_store(&self.ids[&a]),
            a_id: self.ids[&a].clone(),
        }
    }
}

impl EngineActors {
    /// Creates actor `key` through the engine's manager API, in the test's pool; retried
    /// (get-or-create) while the engine answers that it could not place it in time, which a
    /// busy machine was seen to cause.
    async fn create(&self, key: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let response = self
                .http
                .put(format!("{}/actors?namespace=default", self.endpoint))
                .json(&serde_json::json!({
                    "name": ACTOR,
                    "key": key,
                    "runner_name_selector": POOL,
                    "crash_policy": "sleep",
                }))
                .send()
                .await
                .unwrap();
            if response.status().is_success() {
                return;
            }
            let failure = format!(
                "PUT /actors {key}: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
            assert!(std::time::Instant::now() < deadline, "{failure}");
            eprintln!("retrying: {failure}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_kv_keeps_the_actor_store_contract() {
    let Some(test_engine) = TestEngine::start() else {
        return;
    };
    let mut config = EngineConfig::new(&test_engine.endpoint);
    config.pool = POOL.to_owned();
    pool::ensure(&config).await;
    let (started, starts) = mpsc::unbounded_channel();
    let handle = start_envoy(EnvoyConfig {
        version: 1,
        endpoint: config.endpoint.clone(),
        token: None,
        namespace: config.namespace.clone(),
        pool_name: config.pool.clone(),
        prepopulate_actor_names: HashMap::from([(
            ACTOR.to_owned(),
            ActorName {
                metadata: serde_json::json!({}),
            },
        )]),
        metadata: None,
        not_global: true,
        debug_latency_ms: None,
        callbacks: Arc::new(Reporter(started)),
    })
    .await;
    tokio::time::timeout(Duration::from_secs(30), handle.started())
        .await
        .expect("the envoy registers within 30 s")
        .expect("the envoy starts");
    let engine = Engine::default();
    engine.connected(&handle);
    let backend = EngineBackend::new(engine);

    contract::run_all(&mut EngineActors {
        http: reqwest::Client::new(),
        endpoint: test_engine.endpoint.clone(),
        backend,
        starts,
        ids: HashMap::new(),
    })
    .await;
    handle.shutdown(true);
}
