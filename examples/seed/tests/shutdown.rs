//! Graceful shutdown and restart of the real `seed-server`: on SIGTERM it refuses new
//! connections, lets the actions in flight finish (over HTTP and WebSocket), closes WebSockets
//! with 1001, exits 0, and after a restart on the same data dir every acknowledged write is
//! there and connected clients are back by themselves. A second signal ends the drain at once.
//! On SIGHUP it drains the same way without refusing anything, and its new image (same pid)
//! serves what arrived meanwhile. A listening socket handed over by socket activation is
//! served; a second server on a data dir in use does not start.

mod support;

use std::future::Future;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rivetkit_rs::client::{Backoff, Client, ClientConfig, Encoding};
use rivetkit_rs::protocol::{HttpActionRequest, HttpActionResponse, ToClient, ToServer};
use seed::{CountChanged, Counter, CounterActions};
use serde_json::json;
use support::{expect_close, free_port, Server};
use tokio::sync::mpsc;

/// Long enough that the actions are still running when the signal arrives.
const SLOW_DELAY_MS: u64 = 2_000;

/// Fails the test instead of hanging when `future` does not finish in 30 s.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Resolves once connecting to `port` is refused: the server no longer listens.
async fn refused(port: u16) {
    loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => return,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Reads `socket` until it has seen `count` more `slowIncrementStarted` events.
async fn wait_for_slow_starts(socket: &mut support::Conn, count: usize) {
    let mut seen = 0;
    while seen < count {
        if let ToClient::Event { name, .. } = socket.recv().await {
            if name == "slowIncrementStarted" {
                seen += 1;
            }
        }
    }
}

fn reconnecting_client(server: &Server) -> Client {
    let mut config = ClientConfig::new(server.url("")).encoding(Encoding::Json);
    config.reconnect = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    Client::new(config).unwrap()
}

/// A stateless call of `action` on `actor_id`; the output, or `None` if the server did not
/// answer with a success.
async fn call(
    http: &reqwest::Client,
    base: &str,
    actor_id: &str,
    action: &str,
    args: Vec<serde_json::Value>,
) -> Option<serde_json::Value> {
    let response = http
        .post(format!("{base}/gateway/{actor_id}/action/{action}"))
        .header("x-rivet-encoding", "bare")
        .body(HttpActionRequest { args }.encode(rivetkit_rs::protocol::Encoding::Bare, 2))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let bytes = response.bytes().await.ok()?;
    Some(
        HttpActionResponse::decode(&bytes, rivetkit_rs::protocol::Encoding::Bare)
            .unwrap()
            .output,
    )
}

/// Work in flight on the slow counter when the server is told to stop: our client connected
/// and listening to its events, a protocol WebSocket with a slow action running (x = 1, and
/// subscribed to every slow start), and three slow stateless calls over HTTP (x = 2, 4, 8).
struct InFlight {
    _client: Client,
    conn: rivetkit_rs::client::Connection<Counter>,
    counts: mpsc::UnboundedReceiver<f64>,
    opens: mpsc::UnboundedReceiver<()>,
    socket: support::Conn,
    slow_calls: Vec<tokio::task::JoinHandle<Option<serde_json::Value>>>,
    _subscriptions: [rivetkit_rs::client::Subscription; 2],
}

async fn start_in_flight(server: &Server, key: &str, slow_id: &str) -> InFlight {
    let client = reconnecting_client(server);
    let conn = client.get_or_create::<Counter>([key]).connect();
    let (count_tx, counts) = mpsc::unbounded_channel();
    let on_count = conn.on(CountChanged, move |(count,)| {
        let _ = count_tx.send(count);
    });
    let (open_tx, mut opens) = mpsc::unbounded_channel();
    let on_open = conn.on_open(move || {
        let _ = open_tx.send(());
    });
    within("the client connects", opens.recv()).await.unwrap();

    let mut socket = server
        .connect(slow_id, rivetkit_rs::protocol::Encoding::Json)
        .await;
    socket
        .send(ToServer::SubscriptionRequest {
            event_name: "slowIncrementStarted".into(),
            subscribe: true,
        })
        .await;
    socket
        .call(1, "incrementSlowly", vec![json!(1), json!(SLOW_DELAY_MS)])
        .await;
    wait_for_slow_starts(&mut socket, 1).await;

    let http = reqwest::Client::new();
    let base = server.url("");
    let slow_calls = [2, 4, 8]
        .into_iter()
        .map(|x| {
            let (http, base, id) = (http.clone(), base.clone(), slow_id.to_owned());
            tokio::spawn(async move {
                call(
                    &http,
                    &base,
                    &id,
                    "incrementSlowly",
                    vec![json!(x), json!(SLOW_DELAY_MS)],
                )
                .await
            })
        })
        .collect();
    wait_for_slow_starts(&mut socket, 3).await;
    InFlight {
        _client: client,
        conn,
        counts,
        opens,
        socket,
        slow_calls,
        _subscriptions: [on_count, on_open],
    }
}

#[tokio::test]
async fn sigterm_drains_in_flight_work_and_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--shutdown-timeout", "20"];
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut server = Server::start_with_args(data.path(), port, None, &args).await;
    let base = server.url("");
    let slow_id = server.get_or_create("counter", "graceful-slow").await;
    let ledger_id = server.get_or_create("counter", "graceful-ledger").await;

    let InFlight {
        conn,
        mut counts,
        mut opens,
        mut socket,
        slow_calls,
        _subscriptions,
        _client,
    } = start_in_flight(&server, "graceful-slow", &slow_id).await;
    let http = reqwest::Client::new();

    // Fast increments from four clients until the server stops answering: a ledger of what
    // was acknowledged.
    let acked = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (http, base, id) = (http.clone(), base.clone(), ledger_id.clone());
            let (acked, sent) = (acked.clone(), sent.clone());
            tokio::spawn(async move {
                for _ in 0..100_000 {
                    sent.fetch_add(1, Ordering::SeqCst);
                    match call(&http, &base, &id, "increment", vec![json!(1)]).await {
                        Some(count) => {
                            acked.fetch_max(count.as_f64().unwrap() as u64, Ordering::SeqCst);
                        }
                        None => return,
                    }
                }
            })
        })
        .collect();
    while acked.load(Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    server.signal(libc::SIGTERM);
    within("new connections are refused", refused(port)).await;

    // The WebSocket gets its action's response, then a 1001 close.
    let response = loop {
        match socket.recv().await {
            ToClient::ActionResponse { id: 1, output } => break output,
            ToClient::Event { .. } => continue,
            other => panic!("expected the action's response, got {other:?}"),
        }
    };
    assert!(response.is_number(), "{response:?}");
    let (code, reason) = expect_close(&mut socket.socket).await;
    assert_eq!((code, reason.as_str()), (1001, "server.shutting_down"));

    // The HTTP calls in flight succeeded.
    for slow_call in slow_calls {
        let output = within("a slow call", slow_call).await.unwrap();
        assert!(output.is_some(), "a slow call in flight failed");
    }
    for writer in writers {
        within("a writer stops", writer).await.unwrap();
    }
    let status = server.exit_status().await;
    assert_eq!(status.code(), Some(0), "{status:?}");

    // Same data dir, same port: every acknowledged write is there.
    let server = Server::start_with_args(data.path(), port, None, &args).await;
    let base = server.url("");
    let slow_count = call(&http, &base, &slow_id, "getCount", vec![]).await;
    assert_eq!(
        slow_count.and_then(|count| count.as_f64()),
        Some(15.0),
        "1 + 2 + 4 + 8"
    );
    let ledger = call(&http, &base, &ledger_id, "getCount", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap() as u64;
    let acked = acked.load(Ordering::SeqCst);
    assert!(
        ledger >= acked && ledger <= sent.load(Ordering::SeqCst),
        "ledger {ledger}, acknowledged up to {acked}"
    );

    // Our client came back by itself and receives events again.
    within("the client reconnects", opens.recv()).await.unwrap();
    call(&http, &base, &slow_id, "increment", vec![json!(100)]).await;
    within("events after the restart", async {
        while counts.recv().await != Some(115.0) {}
    })
    .await;
    assert_eq!(within("a call", conn.get_count()).await.unwrap(), 115.0);
    conn.dispose().await;
}

#[tokio::test]
async fn sigint_stops_an_idle_server_with_status_0() {
    let mut server = Server::start().await;
    let id = server.get_or_create("counter", "sigint").await;
    server
        .action_raw(
            &id,
            "getCount",
            rivetkit_rs::protocol::Encoding::Json,
            br#"{"args":[]}"#.to_vec(),
        )
        .await;
    server.signal(libc::SIGINT);
    let status = server.exit_status().await;
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test]
async fn a_second_signal_ends_the_drain_at_once() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server =
        Server::start_with_args(data.path(), port, None, &["--shutdown-timeout", "60"]).await;
    let id = server.get_or_create("counter", "impatient").await;
    let mut socket = server
        .connect(&id, rivetkit_rs::protocol::Encoding::Json)
        .await;
    socket
        .send(ToServer::SubscriptionRequest {
            event_name: "slowIncrementStarted".into(),
            subscribe: true,
        })
        .await;
    // Far longer than the test waits for the exit: only the second signal can end it.
    socket
        .call(
            1,
            "incrementSlowly",
            vec![json!(1), json!(seed::MAX_SLOW_DELAY_MS)],
        )
        .await;
    wait_for_slow_starts(&mut socket, 1).await;
    server.signal(libc::SIGTERM);
    // The drain has begun once the listener is closed.
    within("new connections are refused", refused(port)).await;
    server.signal(libc::SIGTERM);
    let status = server.exit_status().await;
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
}

/// Resolves once `log` holds `count` lines containing `text`.
async fn logged(log: &Path, text: &str, count: usize) {
    loop {
        let lines = std::fs::read_to_string(log).unwrap_or_default();
        if lines.lines().filter(|line| line.contains(text)).count() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts seed-server on `data_dir` and `port` with its info log (written to stderr) in `log`.
async fn start_logged(data_dir: &Path, port: u16, log: &Path, args: &[&str]) -> Server {
    let mut command = Server::command(data_dir, port, None, args);
    command
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::fs::File::create(log).unwrap());
    Server::spawn(command, data_dir, port, None).await
}

#[tokio::test]
async fn sighup_restarts_in_place_refusing_nothing_and_losing_nothing() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("seed-server.log");
    let mut server = start_logged(
        data.path(),
        free_port(),
        &log,
        &["--shutdown-timeout", "20"],
    )
    .await;
    let pid = server.pid();
    let base = server.url("");
    let slow_id = server.get_or_create("counter", "restart-slow").await;
    let ledger_id = server.get_or_create("counter", "restart-ledger").await;

    let InFlight {
        conn,
        mut counts,
        mut opens,
        mut socket,
        slow_calls,
        _subscriptions,
        _client,
    } = start_in_flight(&server, "restart-slow", &slow_id).await;
    let http = reqwest::Client::new();

    // Fast increments from four clients across the restart: a ledger of what was acknowledged.
    let acked = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (http, base, id) = (http.clone(), base.clone(), ledger_id.clone());
            let (acked, sent, stop) = (acked.clone(), sent.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    sent.fetch_add(1, Ordering::SeqCst);
                    if let Some(count) = call(&http, &base, &id, "increment", vec![json!(1)]).await
                    {
                        acked.fetch_max(count.as_f64().unwrap() as u64, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    while acked.load(Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    server.signal(libc::SIGHUP);
    within(
        "the old image stops accepting",
        logged(&log, "stopped accepting", 1),
    )
    .await;
    // New connections from now on can only be served by the new image: each must get in
    // (never refused) and be answered.
    let newcomers: Vec<_> = (0..3)
        .map(|_| {
            let base = base.clone();
            tokio::spawn(async move {
                let fresh = reqwest::Client::new();
                fresh.get(format!("{base}/health")).send().await
            })
        })
        .collect();

    // The WebSocket gets its action's response, then a 1001 close.
    let response = loop {
        match socket.recv().await {
            ToClient::ActionResponse { id: 1, output } => break output,
            ToClient::Event { .. } => continue,
            other => panic!("expected the action's response, got {other:?}"),
        }
    };
    assert!(response.is_number(), "{response:?}");
    let (code, reason) = expect_close(&mut socket.socket).await;
    assert_eq!((code, reason.as_str()), (1001, "server.shutting_down"));
    for slow_call in slow_calls {
        let output = within("a slow call", slow_call).await.unwrap();
        assert!(output.is_some(), "a slow call in flight failed");
    }
    for newcomer in newcomers {
        let response = within("a newcomer's request", newcomer).await.unwrap();
        let response = response.expect("a connection during the restart failed");
        assert!(response.status().is_success(), "{}", response.status());
    }
    // The same process, started afresh on the socket it handed itself.
    within(
        "the new image listens",
        logged(&log, "socket activation", 1),
    )
    .await;
    assert_eq!(server.pid(), pid);
    assert!(server.is_running());

    // Our client came back by itself and receives events again.
    within("the client reconnects", opens.recv()).await.unwrap();
    call(&http, &base, &slow_id, "increment", vec![json!(100)]).await;
    within("events after the restart", async {
        while counts.recv().await != Some(115.0) {}
    })
    .await;
    assert_eq!(within("a call", conn.get_count()).await.unwrap(), 115.0);

    // Every acknowledged increment is there.
    let acked_before = acked.load(Ordering::SeqCst);
    while acked.load(Ordering::SeqCst) < acked_before + 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        within("a writer stops", writer).await.unwrap();
    }
    let ledger = call(&http, &base, &ledger_id, "getCount", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap() as u64;
    let acked = acked.load(Ordering::SeqCst);
    assert!(
        ledger >= acked && ledger <= sent.load(Ordering::SeqCst),
        "ledger {ledger}, acknowledged up to {acked}"
    );
    conn.dispose().await;
    server.signal(libc::SIGTERM);
    let status = server.exit_status().await;
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test]
async fn a_second_server_on_a_data_dir_in_use_does_not_start() {
    let server = Server::start().await;
    let second =
        tokio::process::Command::from(Server::command(&server.data_dir, free_port(), None, &[]))
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
    // Without the lock it would serve (and so never exit): bounded, that fails the test.
    let output = within("the second server exits", second).await.unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("data dir {} is in use", server.data_dir.display());
    assert!(stderr.contains(&expected), "{stderr}");
    // The first one is unharmed.
    let id = server.get_or_create("counter", "still-here").await;
    assert!(!id.is_empty());
}

/// Starts seed-server on `listener` as socket activation hands it over: at fd 3, LISTEN_FDS=1.
#[allow(unsafe_code, reason = "pre_exec hands the server its socket at fd 3")]
async fn start_on_socket(data_dir: &Path, listener: &std::net::TcpListener) -> Server {
    let port = listener.local_addr().unwrap().port();
    // The port given on the command line is not bound: the server takes the socket it is given.
    let mut command = Server::command(data_dir, port, None, &[]);
    command.env("LISTEN_FDS", "1").env_remove("LISTEN_PID");
    let fd = listener.as_raw_fd();
    // SAFETY: runs in the child between fork and exec, calling only dup2 (async-signal-safe).
    // The copy at fd 3 is not close-on-exec, so the server inherits it.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(fd, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Server::spawn(command, data_dir, port, None).await
}

#[tokio::test]
async fn a_socket_handed_over_is_served_and_holds_connections_between_servers() {
    let data = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut first = start_on_socket(data.path(), &listener).await;
    let base = first.url("");
    let id = first.get_or_create("counter", "activated").await;
    let http = reqwest::Client::new();
    let count = call(&http, &base, &id, "increment", vec![json!(5)]).await;
    assert_eq!(count.and_then(|count| count.as_f64()), Some(5.0));
    first.kill();

    // Nothing serves the socket now, but it listens: this request waits in its backlog.
    let waiting = tokio::spawn({
        let base = base.clone();
        let id = id.clone();
        async move {
            call(
                &reqwest::Client::new(),
                &base,
                &id,
                "increment",
                vec![json!(1)],
            )
            .await
        }
    });
    let _second = start_on_socket(data.path(), &listener).await;
    let count = within("the waiting request", waiting).await.unwrap();
    assert_eq!(count.and_then(|count| count.as_f64()), Some(6.0));
}
