//! Per-connection limits (issue 8): a client that does not read is cut off with a typed close
//! while the others go on, a connection runs at most its cap of actions at once, subscriptions
//! are capped with a typed error, and queue waits are released when their socket goes. Each
//! test runs its own server in-process with small limits and watches the `gate` actor's counts;
//! every bound on observing something is generous.

mod support;

use std::time::{Duration, Instant};

use rivetkit_rs::protocol::{Encoding, ToClient, ToServer, Value};
use rivetkit_rs::ServerConfig;
use seed::GateStats;
use serde_json::json;
use support::{expect_close, Conn, Server};

/// Polls the gate's counts (as a connection of its own) until `done` holds; fails after 20 s.
async fn wait_for_stats(
    observer: &mut Conn,
    what: &str,
    done: impl Fn(&GateStats) -> bool,
) -> GateStats {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut id = 1_000_000;
    loop {
        id += 1;
        let stats = stats(observer, id).await;
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "{what}: still {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stats(conn: &mut Conn, id: u64) -> GateStats {
    conn.call(id, "stats", vec![]).await;
    let output = response(conn, id).await;
    serde_json::from_value(output).unwrap()
}

/// Reads until the response to action `id`, skipping events; its output.
async fn response(conn: &mut Conn, id: u64) -> Value {
    loop {
        match conn.recv().await {
            ToClient::ActionResponse { id: got, output } if got == id => return output,
            ToClient::Event { .. } => {}
            other => panic!("expected the response to {id}, got {other:?}"),
        }
    }
}

async fn subscribe(conn: &mut Conn, event: &str, subscribe: bool) {
    conn.send(ToServer::SubscriptionRequest {
        event_name: event.into(),
        subscribe,
    })
    .await;
}

#[tokio::test]
async fn a_subscriber_that_never_reads_is_closed_while_another_keeps_receiving() {
    let server = Server::start_with(ServerConfig {
        max_outgoing_queue_bytes: 256 * 1024,
        ..ServerConfig::default()
    })
    .await;
    let gate = server.get_or_create("gate", "slow-consumer").await;
    let mut slow = server.connect(&gate, Encoding::Json).await;
    let mut reader = server.connect(&gate, Encoding::Json).await;
    subscribe(&mut slow, "blob", true).await;
    subscribe(&mut reader, "blob", true).await;
    // Both subscriptions are in place once a later call on each connection is answered.
    assert_eq!(stats(&mut slow, 0).await.connections, 2);
    assert_eq!(stats(&mut reader, 0).await.connections, 2);

    // 64 KiB events, one at a time: the reader takes each before the next is sent, the slow
    // subscriber takes none, so its socket's buffers fill, then its queue (256 KiB).
    const BLOB: usize = 64 * 1024;
    const MAX_ROUNDS: u64 = 1000;
    let mut received = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(
            rounds <= MAX_ROUNDS,
            "the slow subscriber was never cut off"
        );
        reader.call(rounds, "blast", vec![json!(BLOB)]).await;
        loop {
            match reader.recv().await {
                ToClient::Event { name, args } => {
                    assert_eq!(name, "blob");
                    assert_eq!(args[0].as_str().unwrap().len(), BLOB);
                    received += 1;
                }
                ToClient::ActionResponse { id, .. } if id == rounds => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        if stats(&mut reader, MAX_ROUNDS + rounds).await.connections == 1 {
            break;
        }
    }
    assert_eq!(received, rounds, "the reader got every event");
    // The reader goes on receiving after the slow subscriber is gone.
    reader.call(0, "blast", vec![json!(10)]).await;
    match reader.recv().await {
        ToClient::Event { name, args } => {
            assert_eq!((name.as_str(), &args[0]), ("blob", &json!("xxxxxxxxxx")))
        }
        other => panic!("expected the event, got {other:?}"),
    }
    // What the slow subscriber finally reads: the events its socket buffered, then the close.
    let (code, reason) = expect_close(&mut slow.socket).await;
    assert_eq!((code, reason.as_str()), (1008, "ws.slow_consumer"));
}

#[tokio::test]
async fn a_connection_runs_at_most_its_cap_of_actions_and_the_rest_wait_their_turn() {
    const CAP: usize = 4;
    let server = Server::start_with(ServerConfig {
        max_actions_in_flight: CAP,
        ..ServerConfig::default()
    })
    .await;
    let gate = server.get_or_create("gate", "in-flight").await;
    let mut busy = server.connect(&gate, Encoding::Json).await;
    let mut observer = server.connect(&gate, Encoding::Json).await;
    const CALLS: u64 = 3 * CAP as u64;
    for id in 0..CALLS {
        busy.call(id, "hold", vec![]).await;
    }
    wait_for_stats(&mut observer, "holding the cap", |stats| {
        stats.holding >= CAP
    })
    .await;
    observer.call(0, "open", vec![]).await;
    response(&mut observer, 0).await;
    // Every call is answered once the gate opens; none was refused.
    let mut answered = Vec::new();
    while answered.len() < CALLS as usize {
        match busy.recv().await {
            ToClient::ActionResponse { id, output } => {
                assert_eq!(output, Value::Null);
                answered.push(id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    answered.sort();
    assert_eq!(answered, (0..CALLS).collect::<Vec<_>>());
    let stats = stats(&mut observer, 1).await;
    assert_eq!(stats.peak, CAP, "never more than the cap at once");
    assert_eq!(stats.holding, 0);
}

#[tokio::test]
async fn subscriptions_past_the_cap_get_a_typed_error_and_the_connection_stays() {
    let server = Server::start_with(ServerConfig {
        max_subscriptions: 3,
        ..ServerConfig::default()
    })
    .await;
    let gate = server.get_or_create("gate", "subscriptions").await;
    let mut conn = server.connect(&gate, Encoding::Json).await;
    for event in ["a", "b", "c", "a"] {
        subscribe(&mut conn, event, true).await;
    }
    // No error came before the answer: three names (one twice) fit.
    stats(&mut conn, 0).await;

    subscribe(&mut conn, "d", true).await;
    match conn.recv().await {
        ToClient::Error { error, action_id } => {
            assert_eq!(action_id, None);
            assert_eq!(
                (error.group.as_str(), error.code.as_str()),
                ("connection", "too_many_subscriptions")
            );
        }
        other => panic!("expected the error, got {other:?}"),
    }
    // Unsubscribing makes room, and the connection works on.
    subscribe(&mut conn, "a", false).await;
    subscribe(&mut conn, "blob", true).await;
    conn.call(1, "blast", vec![json!(3)]).await;
    match conn.recv().await {
        ToClient::Event { name, .. } => assert_eq!(name, "blob"),
        other => panic!("expected the event, got {other:?}"),
    }
    response(&mut conn, 1).await;
}

/// Queue waits parked by `count` pipelined calls, then the socket is dropped; the gate's count
/// of parked waits must fall back to zero.
async fn parked_waits_are_released(config: ServerConfig, count: u64, parked: usize) {
    let server = Server::start_with(config).await;
    let gate = server.get_or_create("gate", "waits").await;
    let mut observer = server.connect(&gate, Encoding::Json).await;
    let mut waiting = server.connect(&gate, Encoding::Json).await;
    for id in 0..count {
        waiting.call(id, "waitForJob", vec![]).await;
    }
    wait_for_stats(&mut observer, "parked waits", |stats| {
        stats.waiting >= parked
    })
    .await;
    drop(waiting);
    let stats = wait_for_stats(&mut observer, "released waits", |stats| {
        stats.waiting == 0 && stats.connections == 1
    })
    .await;
    assert_eq!(stats.waiting, 0);
}

#[tokio::test]
async fn a_closed_socket_releases_its_parked_queue_waits() {
    parked_waits_are_released(ServerConfig::default(), 100, 100).await;
}

#[tokio::test]
async fn a_closed_socket_past_its_action_cap_releases_its_parked_queue_waits() {
    // Past the cap the server does not read the socket, so it learns the client is gone from
    // a ping it cannot deliver.
    const CAP: usize = 16;
    let config = ServerConfig {
        max_actions_in_flight: CAP,
        websocket_ping_interval: Duration::from_millis(100),
        websocket_idle_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    parked_waits_are_released(config, 2_000, CAP).await;
}

#[tokio::test]
async fn a_raw_socket_client_that_never_reads_is_closed_as_a_slow_consumer() {
    let server = Server::start_with(ServerConfig {
        max_outgoing_queue_bytes: 256 * 1024,
        ..ServerConfig::default()
    })
    .await;
    let gate = server.get_or_create("gate", "flood").await;
    let mut observer = server.connect(&gate, Encoding::Json).await;
    // The handler floods at once and returns at its first refused message; the client reads
    // nothing until then.
    let mut socket = server
        .websocket(
            &format!("/gateway/{gate}/websocket/flood"),
            Encoding::Json,
            &[],
        )
        .await;
    wait_for_stats(&mut observer, "the flood handler returned", |stats| {
        stats.floods == 1
    })
    .await;
    let (code, reason) = expect_close(&mut socket).await;
    assert_eq!((code, reason.as_str()), (1008, "ws.slow_consumer"));
}
