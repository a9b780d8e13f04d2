//! The seed actors on the official Rivet Engine 2.3.19 (Postgres + NATS, `tests/engine/engine.sh`)
//! with `seed-server --engine` as its envoys, reached by our Rust client through the engine's
//! gateway: every encoding; a `kill -9` of one of two envoys under concurrent increments (a
//! ledger of acknowledged writes, none lost, the time until every actor answers again); an
//! engine restart (the envoys reconnect by themselves); and two engine nodes on one Postgres
//! database and NATS, an envoy and a client on each.
//!
//! `scripts/test.sh` installs the engine (npm, `tests/engine`); without it these tests say so
//! and pass, except in CI, where a missing engine is a failure.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rivetkit_rs::client::{Client, ClientConfig, Encoding};
use seed::{ChatRoom, ChatRoomActions, Counter, CounterActions, NewMessage};
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(30);

/// The engines of these tests are serialized: each is a real engine with its own database,
/// and two at once would only share two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/engine")
}

/// An engine started by `engine.sh`, stopped (and its database dropped) on drop.
struct Engine {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Engine {
    fn script(&self, command: &str) -> String {
        let output = Command::new("bash")
            .arg(fixture().join("engine.sh"))
            .arg(command)
            .arg(self.dir.path())
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs");
        assert!(output.status.success(), "engine.sh {command} failed");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Starts an engine on Postgres + NATS, or `None` (with the reason printed) when the
    /// engine is not installed outside CI.
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
        let mut engine = Self {
            dir: tempfile::tempdir().unwrap(),
            endpoint: String::new(),
        };
        engine.endpoint = engine.script("start");
        Some(engine)
    }

    /// A second node of this engine: same database, NATS and datacenter, ports of its own.
    /// Drop it before the first, whose drop drops the database.
    fn join(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("bash")
            .arg(fixture().join("engine.sh"))
            .arg("join")
            .arg(self.dir.path())
            .arg(dir.path())
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs");
        assert!(output.status.success(), "engine.sh join failed");
        let endpoint = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        Self { dir, endpoint }
    }

    fn restart(&self) {
        assert_eq!(self.script("restart"), self.endpoint);
    }

    fn log(&self) -> String {
        tail(&self.dir.path().join("engine.log"))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(fixture().join("engine.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n")
}

/// `seed-server --engine`, killed (SIGKILL) on drop.
struct Envoy {
    child: Child,
    log: PathBuf,
}

impl Envoy {
    /// Starts an envoy and waits until it is connected to the engine.
    async fn start(engine: &Engine, name: &str) -> Self {
        let log = engine.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_seed-server"))
            .arg("--engine")
            .arg(&engine.endpoint)
            .env_remove("RIVET_ENGINE")
            .env_remove("RIVET_ENDPOINT")
            .env_remove("RIVET_TOKEN")
            .env_remove("RIVET_NAMESPACE")
            .env_remove("RIVET_RUNNER")
            .env_remove("RUST_BACKTRACE")
            // Debug for the envoy host: it logs every actor the engine starts there.
            .env("RUST_LOG", "info,rivetkit_engine=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("seed-server starts");
        let envoy = Self { child, log };
        envoy.registered(1).await;
        envoy
    }

    /// Waits until the log shows `registrations` connections to the engine (a reconnection
    /// adds one).
    async fn registered(&self, registrations: usize) {
        self.registered_within(registrations, STEP).await;
    }

    async fn registered_within(&self, registrations: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.registrations() < registrations {
            assert!(
                Instant::now() < deadline,
                "the envoy did not register with the engine; its log:\n{}",
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn registrations(&self) -> usize {
        self.logged("envoy connected to the Rivet Engine")
    }

    /// How many actor starts the engine sent this envoy.
    fn actors_started(&self) -> usize {
        self.logged("the engine started an actor here")
    }

    fn logged(&self, line: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches(line)
            .count()
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Creates the counter with a first `increment(1)`, retried while the engine answers that it
/// could not place it yet: right after envoys join, the engine was seen to take more than its
/// 15 s routing timeout to place a new actor now and then (with the official envoy as well).
async fn placed(counter: &rivetkit_rs::client::ActorHandle<Counter>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match tokio::time::timeout(STEP, counter.increment(1.0)).await {
            // At least 1: an attempt that timed out may have been applied.
            Ok(Ok(count)) => {
                assert!(count >= 1.0, "a new counter counts from 0, got {count}");
                return;
            }
            failed => {
                assert!(
                    Instant::now() < deadline,
                    "the engine did not place the actor in 90 s: {failed:?}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

fn client(engine: &Engine, encoding: Encoding) -> Client {
    Client::new(ClientConfig::new(&engine.endpoint).encoding(encoding)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_actors_through_the_engine_in_every_encoding() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(engine) = Engine::start() else {
        return;
    };
    let _envoy = Envoy::start(&engine, "envoy").await;
    for encoding in [Encoding::Json, Encoding::Cbor, Encoding::Bare] {
        let client = client(&engine, encoding);
        let tag = format!("{encoding:?}");
        let counter = client.get_or_create::<Counter>(["engine", tag.as_str()]);
        assert_eq!(
            within("increment", counter.increment(5.0)).await.unwrap(),
            5.0,
            "{tag}"
        );
        assert_eq!(
            within("getCount", counter.get_count()).await.unwrap(),
            5.0,
            "{tag}"
        );

        let conn = counter.connect();
        let (tx, mut counts) = mpsc::unbounded_channel();
        let _counts = conn.on_event("count", move |(count,): (f64,)| {
            let _ = tx.send(count);
        });
        assert_eq!(
            within("increment over the connection", conn.increment(2.0))
                .await
                .unwrap(),
            7.0
        );
        assert_eq!(
            within("count event", counts.recv()).await,
            Some(7.0),
            "{tag}"
        );
        conn.dispose().await;

        // An actor calling another one: through the engine, which creates and places it.
        let other = ["engine-other", tag.as_str()];
        assert_eq!(
            within(
                "incrementOther",
                counter.increment_other(other.map(str::to_owned).to_vec(), 3.0)
            )
            .await
            .unwrap(),
            3.0,
            "{tag}"
        );
        assert_eq!(
            within(
                "getCount of the other",
                client.get_or_create::<Counter>(other).get_count()
            )
            .await
            .unwrap(),
            3.0,
            "{tag}"
        );

        // A compound key, an action with no result, and an event with a string.
        let room = client.get_or_create::<ChatRoom>(["org-acme", "general", tag.as_str()]);
        let conn = room.connect();
        let (tx, mut messages) = mpsc::unbounded_channel();
        let _messages = conn.on(NewMessage, move |(text,)| {
            let _ = tx.send(text);
        });
        within("sendMessage", conn.send_message(format!("hello {tag}")))
            .await
            .unwrap();
        assert_eq!(
            within("message event", messages.recv()).await,
            Some(format!("hello {tag}"))
        );
        let info = within("getRoomInfo", room.get_room_info()).await.unwrap();
        assert_eq!(info.org.as_deref(), Some("org-acme"), "{tag}");
        assert_eq!(
            within("getHistory", room.get_history()).await.unwrap(),
            vec![format!("hello {tag}")]
        );
        conn.dispose().await;
    }
}

const ACTORS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_envoy_loses_no_acknowledged_increment() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(engine) = Engine::start() else {
        return;
    };
    let client = client(&engine, Encoding::Bare);
    let counters: Vec<_> = (0..ACTORS)
        .map(|actor| client.get_or_create::<Counter>(["failover", &actor.to_string()]))
        .collect();
    // Half the actors are created while the first envoy is alone, so they run there and the
    // kill interrupts them; the engine places the other half as it likes.
    let mut first = Envoy::start(&engine, "envoy-1").await;
    for counter in &counters[..ACTORS / 2] {
        placed(counter).await;
    }
    let second = Envoy::start(&engine, "envoy-2").await;
    for counter in &counters[ACTORS / 2..] {
        placed(counter).await;
    }
    let on_first = first.actors_started();
    let on_second = second.actors_started();
    assert!(on_first >= ACTORS / 2, "envoy-1 ran {on_first} actors");

    // A connected client of an actor on the killed envoy: it must come back by itself.
    let conn = counters[0].connect();
    let (tx, mut counts) = mpsc::unbounded_channel();
    let _counts = conn.on_event("count", move |(count,): (f64,)| {
        let _ = tx.send(count);
    });
    within("the connection's first call", conn.get_count())
        .await
        .unwrap();

    // Per actor: increments acknowledged (the first, by `placed`, included), and the longest
    // time between two acknowledgements once the kill happened: how long it was not served.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..ACTORS).map(|_| AtomicU64::new(1)).collect());
    let started = Instant::now();
    let run_for = Duration::from_secs(16);
    let kill_at = Duration::from_secs(3);
    let mut loops = Vec::new();
    for (actor, counter) in counters.iter().cloned().enumerate() {
        let acked = acked.clone();
        loops.push(tokio::spawn(async move {
            let mut last_ack = Instant::now();
            let mut longest_gap = Duration::ZERO;
            let mut failures = 0u64;
            while started.elapsed() < run_for {
                match tokio::time::timeout(Duration::from_secs(10), counter.increment(1.0)).await {
                    Ok(Ok(count)) => {
                        let acknowledged = acked[actor].fetch_add(1, Ordering::SeqCst) + 1;
                        // The count includes every acknowledged increment of this actor (and
                        // perhaps some that failed after they were applied).
                        assert!(
                            count >= acknowledged as f64,
                            "actor {actor}: count {count} < {acknowledged} acknowledged"
                        );
                        longest_gap = longest_gap.max(last_ack.elapsed());
                        last_ack = Instant::now();
                    }
                    _ => {
                        failures += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            (longest_gap, failures)
        }));
    }
    tokio::time::sleep(kill_at).await;
    first.kill9();
    let mut gaps = Vec::new();
    let mut failures = 0;
    for task in loops {
        let (gap, failed) = task.await.unwrap();
        failures += failed;
        gaps.push(gap);
    }
    let mut total_acked = 0;
    for (actor, counter) in counters.iter().enumerate() {
        let count = within("final getCount", counter.get_count())
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "actor {actor} does not answer after the kill: {error}\nengine log:\n{}",
                    engine.log()
                )
            });
        let acknowledged = acked[actor].load(Ordering::SeqCst);
        total_acked += acknowledged;
        assert!(
            count >= acknowledged as f64,
            "actor {actor}: {count} < {acknowledged} acknowledged: writes lost"
        );
    }
    // The killed envoy's actors were started again on the other.
    let restarted = second.actors_started() - on_second;
    assert!(
        restarted >= on_first,
        "envoy-2 started {restarted} actors after the kill; envoy-1 had run {on_first}"
    );
    // The connection came back by itself and receives events again.
    let after = within("a call on the reconnected connection", conn.increment(1.0))
        .await
        .unwrap();
    within("the event after the failover", async {
        while counts.recv().await != Some(after) {}
    })
    .await;

    let served_again = gaps.iter().max().copied().unwrap_or_default();
    eprintln!(
        "failover: {ACTORS} actors (envoy-1 ran {on_first}, envoy-2 {on_second}); {restarted} restarted on envoy-2; {total_acked} acknowledged increments checked, 0 lost; {failures} failed calls; longest time an actor was not served: {:.1} s",
        served_again.as_secs_f64()
    );
    // The engine places the dead envoy's actors on the other after its lost threshold (3 s
    // here, engine.sh); the clients retry every 100 ms after a failure (10 s bound per call).
    assert!(
        served_again < Duration::from_secs(10),
        "actors were not served again within 10 s of the kill ({served_again:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoys_reconnect_by_themselves_after_an_engine_restart() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(engine) = Engine::start() else {
        return;
    };
    let envoy = Envoy::start(&engine, "envoy").await;
    let client = client(&engine, Encoding::Cbor);
    let counter = client.get_or_create::<Counter>(["restart"]);
    placed(&counter).await;
    let before = within("increment", counter.increment(2.0)).await.unwrap();
    assert!(before >= 3.0, "{before}");

    let restarted = Instant::now();
    engine.restart();
    // The envoy client retries with a growing backoff (about 1, 2, 4, 8 s ...).
    envoy.registered_within(2, Duration::from_secs(90)).await;
    eprintln!(
        "engine restart: the envoy registered again {:.1} s after the kill",
        restarted.elapsed().as_secs_f64()
    );
    // State written before the restart is there; the actor is served again.
    let deadline = Instant::now() + STEP;
    let count = loop {
        match counter.increment(1.0).await {
            Ok(count) => break count,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "not served after the engine restart: {error}\n{}",
                    engine.log()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(
        count > before,
        "the count {count} lost the writes made before the restart ({before})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engine_nodes_serve_the_same_actors() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(first) = Engine::start() else {
        return;
    };
    let second = first.join();
    let _envoy_1 = Envoy::start(&first, "envoy-1").await;
    let _envoy_2 = Envoy::start(&second, "envoy-2").await;
    let (client_1, client_2) = (
        client(&first, Encoding::Json),
        client(&second, Encoding::Bare),
    );
    for actor in 0..4 {
        let key = ["two-nodes".to_owned(), actor.to_string()];
        let via_1 = client_1.get_or_create::<Counter>(key.clone());
        let via_2 = client_2.get_or_create::<Counter>(key);
        placed(&via_2).await;
        // A connection through one node sees what a call through the other did.
        let conn = via_1.connect();
        let (tx, mut counts) = mpsc::unbounded_channel();
        let _counts = conn.on_event("count", move |(count,): (f64,)| {
            let _ = tx.send(count);
        });
        let before = within("getCount via node 1", conn.get_count())
            .await
            .unwrap();
        let after = within("increment via node 2", via_2.increment(10.0))
            .await
            .unwrap();
        assert_eq!(after, before + 10.0, "one actor behind both nodes");
        within("the event through node 1", async {
            while counts.recv().await != Some(after) {}
        })
        .await;
        assert_eq!(
            within("getCount via node 1", via_1.get_count())
                .await
                .unwrap(),
            after
        );
        conn.dispose().await;
    }
    drop(second);
}
