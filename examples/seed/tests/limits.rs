//! Connection timeouts and limits of `rivetkit_rs::serve` (issue 8): sockets that stall before or
//! between requests are closed, and the server keeps answering. Each test runs its own server
//! in-process with short configured values; every bound on observing a close is generous.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivetkit_rs::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A server on a free loopback port with `config`'s timeouts; the data dir lives as long as it.
struct TestServer {
    port: u16,
    _dir: tempfile::TempDir,
}

async fn start(config: ServerConfig) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = ServerConfig {
        host: "127.0.0.1".into(),
        port,
        data_dir: dir.path().to_path_buf(),
        token: None,
        ..config
    };
    tokio::spawn(async move { rivetkit_rs::serve(seed::registry(), config).await.unwrap() });
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    TestServer { port, _dir: dir }
}

/// Reads until the server closes the socket; the bytes read, or `None` if it is still open
/// after `bound`.
async fn read_until_closed(socket: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let mut read = Vec::new();
    let outcome = tokio::time::timeout(bound, async {
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    outcome.ok().map(|()| read)
}

fn short_timeouts() -> ServerConfig {
    ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn a_request_whose_headers_never_finish_is_closed() {
    let server = start(short_timeouts()).await;
    let mut partial = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    partial
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow:")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let mut half_preface = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    for (name, socket) in [
        ("partial headers", &mut partial),
        ("nothing sent", &mut silent),
        ("part of the HTTP/2 preface", &mut half_preface),
    ] {
        let read = read_until_closed(socket, Duration::from_secs(15)).await;
        assert!(read.is_some(), "{name}: still open after 15 s");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_response() {
    let server = start(short_timeouts()).await;
    let mut socket = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let read = read_until_closed(&mut socket, Duration::from_secs(15))
        .await
        .expect("an idle keep-alive connection still open after 15 s");
    let text = String::from_utf8_lossy(&read);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// An HTTP/2 client (prior knowledge, plain TCP) that never answers pings: the server pings it
/// and closes it once the ping went unanswered.
#[tokio::test]
async fn an_http2_peer_that_does_not_answer_pings_is_closed() {
    let server = start(ServerConfig {
        http2_keep_alive_interval: Some(Duration::from_secs(1)),
        http2_keep_alive_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let mut socket = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // An empty SETTINGS frame, then nothing: no SETTINGS ack, no PING ack.
    socket
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let read = read_until_closed(&mut socket, Duration::from_secs(20))
        .await
        .expect("an HTTP/2 connection that answers no ping still open after 20 s");
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 9 <= read.len() {
        let len = (usize::from(read[at]) << 16)
            | (usize::from(read[at + 1]) << 8)
            | usize::from(read[at + 2]);
        frames.push(read[at + 3]);
        at += 9 + len;
    }
    // 6: PING, 7: GOAWAY.
    assert!(frames.contains(&6), "no PING among frame types {frames:?}");
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// `PUT /actors`: the id of actor `name` with key `key`.
async fn actor_id(server: &TestServer, name: &str, key: &str) -> String {
    let response = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{}/actors?namespace=default", server.port))
        // Not kept alive: it would hold one of the server's places after the call.
        .header("connection", "close")
        .json(&serde_json::json!({"name": name, "key": key, "runner_name_selector": "default", "crash_policy": "sleep"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["actor"]["actor_id"].as_str().unwrap().to_owned()
}

async fn open_websocket(server: &TestServer, path: &str) -> WebSocket {
    let mut request = format!("ws://127.0.0.1:{}{path}", server.port)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "rivet, rivet_encoding.json".parse().unwrap(),
    );
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// Reads (answering pings, as tungstenite does while read) until the server's close frame;
/// `None` if the socket is still open after `bound`.
async fn close_within(socket: &mut WebSocket, bound: Duration) -> Option<(u16, String)> {
    let read = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or((1005, String::new()), |frame| {
                        (u16::from(frame.code), frame.reason.to_string())
                    })
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(bound, read).await.ok()
}

fn short_websocket_timeouts() -> ServerConfig {
    ServerConfig {
        websocket_ping_interval: Duration::from_secs(1),
        websocket_idle_timeout: Duration::from_secs(4),
        ..ServerConfig::default()
    }
}

/// A protocol and a raw WebSocket whose client reads nothing (so answers no ping) are closed
/// with 1001 `ws.idle_timeout`; a client that reads (and so answers pings) stays connected.
#[tokio::test]
async fn websockets_that_answer_no_pings_are_closed_and_others_stay() {
    let server = start(short_websocket_timeouts()).await;
    let counter = actor_id(&server, "counter", "idle").await;
    let room = actor_id(&server, "chatRoom", "idle").await;
    let mut protocol = open_websocket(&server, &format!("/gateway/{counter}/connect")).await;
    let mut raw = open_websocket(&server, &format!("/gateway/{room}/websocket/stream")).await;
    let mut answering = open_websocket(&server, &format!("/gateway/{counter}/connect")).await;

    // The answering client reads for 10 s (pinged after 1 s of silence, given up after 4 s):
    // meanwhile the two others read nothing.
    assert_eq!(
        close_within(&mut answering, Duration::from_secs(10)).await,
        None,
        "a socket that answers pings was closed"
    );
    for (name, socket) in [("protocol", &mut protocol), ("raw", &mut raw)] {
        let close = close_within(socket, Duration::from_secs(15))
            .await
            .unwrap_or_else(|| panic!("{name}: a socket that answers no ping is still open"));
        assert_eq!(close, (1001, "ws.idle_timeout".to_owned()), "{name}");
    }
}

/// `GET /health` on a new connection: the status and body, once the server closes or answers.
async fn health_on_new_connection(server: &TestServer) -> (String, String) {
    let mut socket = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let read = read_until_closed(&mut socket, Duration::from_secs(10))
        .await
        .expect("an answer and a close within 10 s");
    let text = String::from_utf8_lossy(&read).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// Beyond `max_connections` a new connection gets a 503 `request/overloaded` once its request
/// head is read (so HTTP client libraries read it as the answer to their request) and is
/// closed; when connections end, new ones are served again. Open WebSockets count too.
#[tokio::test]
async fn connections_beyond_the_maximum_get_a_readable_503() {
    let server = start(ServerConfig {
        max_connections: 4,
        // The idle connections below must stay open while the test runs.
        header_read_timeout: Duration::from_secs(120),
        ..ServerConfig::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(
            TcpStream::connect(("127.0.0.1", server.port))
                .await
                .unwrap(),
        );
    }
    // The start-up probe's connection may still be counted for a moment: the fifth connection
    // is refused once the four idle ones hold every place.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = health_on_new_connection(&server).await;
        if status.contains("503") || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable", "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["group"], "request", "{error}");
    assert_eq!(error["code"], "overloaded", "{error}");
    // hyper (under reqwest) drops a response that comes before its request was sent.
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/health", server.port))
        .send()
        .await
        .expect("reqwest reads the 503");
    assert_eq!(response.status(), 503);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (&error["group"], &error["code"]),
        (&"request".into(), &"overloaded".into()),
        "{error}"
    );

    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = health_on_new_connection(&server).await;
        if status.contains("200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after the idle connections closed: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // WebSockets keep their place after the upgrade.
    let counter = actor_id(&server, "counter", "many").await;
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(open_websocket(&server, &format!("/gateway/{counter}/connect")).await);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let (status, _) = health_on_new_connection(&server).await;
        if status.contains("503") || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        status, "HTTP/1.1 503 Service Unavailable",
        "4 WebSockets open"
    );
    drop(sockets);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !health_on_new_connection(&server).await.0.contains("200") {
        assert!(
            Instant::now() < deadline,
            "still refused after the WebSockets closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `head` (headers announcing a body) and then the body a byte every 200 ms, each byte
/// well within any per-frame timeout; returns what the server answered before it gave up.
async fn trickle_body(server: &TestServer, head: &str, body: &[u8]) -> String {
    let mut socket = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let body = body.to_vec();
    let trickle = tokio::spawn(async move {
        for byte in body {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(15), async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") || !answer.ends_with(b"}") {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    trickle.abort();
    assert!(read.is_ok(), "no answer within 15 s to a trickled body");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_that_trickles_in_is_answered_with_408_when_its_time_is_up() {
    let server = start(ServerConfig {
        request_body_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let action = b"{\"args\":[1]}                                                  ";
    let create = b"{\"name\":\"counter\",\"key\":\"slow\"}                                    ";
    for (route, head) in [
        (
            "action",
            format!(
                "POST /gateway/counter/action/increment?rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=slow HTTP/1.1\r\n\
                 Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                action.len()
            ),
        ),
        (
            "create",
            format!(
                "PUT /actors HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                create.len()
            ),
        ),
    ] {
        let body: &[u8] = if route == "action" { action } else { create };
        let answer = trickle_body(&server, &head, body).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{route}: {answer}");
        assert!(answer.contains("\"body_timeout\""), "{route}: {answer}");
    }
    // The server is unharmed: a whole request is answered.
    let answer = trickle_body(
        &server,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
