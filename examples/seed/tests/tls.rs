//! `seed-server --tls-cert --tls-key`: HTTPS over HTTP/2 and HTTP/1.1, WSS over an HTTP/1.1
//! upgrade and over HTTP/2 (RFC 8441 extended CONNECT), with a CA and a `localhost`
//! certificate generated for the test; and clear start-up errors for unusable files.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rivetkit_rs::protocol::{Encoding, Frame, ToClient, ToServer};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A throwaway CA and a certificate for `localhost` / `127.0.0.1` it signed, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Pki {
    fn generate() -> Self {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rivetkit-rs test CA");
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // The chain, leaf first.
        std::fs::write(dir.path().join("cert.pem"), leaf.pem() + &ca.as_ref().pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
        Self {
            dir,
            ca_pem: ca.as_ref().pem(),
        }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// A rustls client trusting only the test CA, offering `alpn`.
    fn connector(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }

    /// reqwest over rustls trusting only the test CA (HTTP/2 when ALPN agrees).
    fn reqwest(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .https_only(true)
            .build()
            .unwrap()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn seed_server(data_dir: &Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_seed-server"));
    command
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("RIVETKIT_TOKEN")
        .env_remove("RIVETKIT_TLS_CERT")
        .env_remove("RIVETKIT_TLS_KEY")
        .env("RUST_LOG", "warn");
    command
}

/// A `seed-server` serving TLS on a free port, killed on drop.
struct TlsServer {
    child: Child,
    port: u16,
    pki: Pki,
    _data: tempfile::TempDir,
}

impl TlsServer {
    /// Starts with the certificate given by flags, or by `RIVETKIT_TLS_CERT`/`_KEY` with
    /// `by_env`.
    async fn start(by_env: bool) -> Self {
        let pki = Pki::generate();
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut command = seed_server(data.path(), port);
        if by_env {
            command
                .env("RIVETKIT_TLS_CERT", pki.cert())
                .env("RIVETKIT_TLS_KEY", pki.key());
        } else {
            command
                .arg("--tls-cert")
                .arg(pki.cert())
                .arg("--tls-key")
                .arg(pki.key());
        }
        let child = command.stdout(Stdio::null()).spawn().unwrap();
        let server = Self {
            child,
            port,
            pki,
            _data: data,
        };
        let http = server.pki.reqwest();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = http.get(server.url("/health")).send().await {
                if response.status().is_success() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "seed-server (TLS) did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    async fn get_or_create(&self, name: &str, key: &str) -> String {
        let response = self
            .pki
            .reqwest()
            .put(self.url("/actors?namespace=default"))
            .json(&json!({"name": name, "key": key, "runner_name_selector": "default", "crash_policy": "sleep"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["actor"]["actor_id"].as_str().unwrap().to_owned()
    }

    /// A TLS connection to the server that negotiated `alpn`.
    async fn tls(&self, alpn: &[u8]) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let tls = self
            .pki
            .connector(&[alpn])
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .expect("TLS handshake with the test CA's certificate");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
        tls
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocketStream<S>,
    message: ToServer,
) {
    let Frame::Text(text) = message.encode(Encoding::Json, 2) else {
        panic!("JSON encodes to text");
    };
    socket.send(Message::Text(text.into())).await.unwrap();
}

async fn recv<S: AsyncRead + AsyncWrite + Unpin>(socket: &mut WebSocketStream<S>) -> ToClient {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("socket still open")
            .unwrap();
        match message {
            Message::Text(text) => {
                return ToClient::decode(text.as_bytes(), Encoding::Json).unwrap()
            }
            Message::Binary(bytes) => return ToClient::decode(&bytes, Encoding::Json).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// The rivetkit connection protocol on an open socket: Init for `actor_id`, then a subscribed
/// event and the response of an `increment` by `by` that moves the count to `expected`.
async fn increment_over<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocketStream<S>,
    actor_id: &str,
    by: i64,
    expected: i64,
) {
    match recv(socket).await {
        ToClient::Init { actor_id: id, .. } => assert_eq!(id, actor_id),
        other => panic!("expected Init, got {other:?}"),
    }
    send(
        socket,
        ToServer::SubscriptionRequest {
            event_name: "count".into(),
            subscribe: true,
        },
    )
    .await;
    send(
        socket,
        ToServer::ActionRequest {
            id: 7,
            name: "increment".into(),
            args: vec![json!(by)],
        },
    )
    .await;
    let (mut event, mut response) = (false, false);
    while !(event && response) {
        match recv(socket).await {
            ToClient::Event { name, args } => {
                assert_eq!((name.as_str(), args), ("count", vec![json!(expected)]));
                event = true;
            }
            ToClient::ActionResponse { id, output } => {
                assert_eq!((id, output), (7, json!(expected)));
                response = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn https_actions_over_http2_and_http1() {
    let server = TlsServer::start(false).await;
    let id = server.get_or_create("counter", "tls-http").await;
    let http = server.pki.reqwest();

    let response = http
        .post(server.url(&format!("/gateway/{id}/action/increment")))
        .header("x-rivet-encoding", "json")
        .header("content-type", "application/json")
        .body(r#"{"args":[5]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN picks h2"
    );
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"output": 5})
    );

    // A client that offers only HTTP/1.1 gets it.
    let http1 = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(server.pki.ca_pem.as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let response = http1
        .post(server.url(&format!("/gateway/{id}/action/increment")))
        .header("x-rivet-encoding", "json")
        .header("content-type", "application/json")
        .body(r#"{"args":[2]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"output": 7})
    );

    // Plain HTTP on the TLS port is not served.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/health", server.port))
        .send()
        .await;
    assert!(
        plain.map_or(true, |response| !response.status().is_success()),
        "plain HTTP must not reach the routes of a TLS listener"
    );
}

#[tokio::test]
async fn wss_over_an_http1_upgrade() {
    let server = TlsServer::start(true).await; // certificate from the environment
    let id = server.get_or_create("counter", "tls-ws1").await;
    let tls = server.tls(b"http/1.1").await;
    let mut request = format!("wss://localhost:{}/gateway/{id}/connect", server.port)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "rivet, rivet_encoding.json".parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("WebSocket upgrade over TLS");
    assert_eq!(response.headers()["sec-websocket-protocol"], "rivet");
    increment_over(&mut socket, &id, 4, 4).await;
}

#[tokio::test]
async fn wss_over_http2_extended_connect() {
    let server = TlsServer::start(false).await;
    let id = server.get_or_create("counter", "tls-ws2").await;
    let tls = server.tls(b"h2").await;
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Empty<rivetkit_rs::bytes::Bytes>>(TokioIo::new(tls))
        .await
        .unwrap();
    // The server's SETTINGS frame arrives with the first exchange: drive the connection
    // until /health is answered, then read what the server advertised.
    let mut connection = Box::pin(connection);
    let health = hyper::Request::get(server.url("/health"))
        .body(Empty::new())
        .unwrap();
    let health = sender.send_request(health);
    let status = tokio::select! {
        response = health => response.unwrap().status(),
        ended = &mut connection => panic!("the connection ended early: {ended:?}"),
    };
    assert_eq!(status, 200);
    assert!(
        connection.is_extended_connect_protocol_enabled(),
        "the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL"
    );
    let connection = tokio::spawn(connection);

    // Two WebSockets as streams of this one HTTP/2 connection.
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let request = hyper::Request::connect(server.url(&format!("/gateway/{id}/connect")))
            .extension(hyper::ext::Protocol::from_static("websocket"))
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "rivet, rivet_encoding.json")
            .body(Empty::new())
            .unwrap();
        let mut response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200, "extended CONNECT accepted");
        assert_eq!(response.headers()["sec-websocket-protocol"], "rivet");
        let upgraded = hyper::upgrade::on(&mut response).await.unwrap();
        sockets.push(
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await,
        );
    }
    increment_over(&mut sockets[0], &id, 1, 1).await;
    increment_over(&mut sockets[1], &id, 10, 11).await;
    // The first socket, subscribed, hears the second's increment.
    match recv(&mut sockets[0]).await {
        ToClient::Event { name, args } => {
            assert_eq!((name.as_str(), args), ("count", vec![json!(11)]))
        }
        other => panic!("unexpected {other:?}"),
    }
    drop(sockets);
    drop(sender);
    tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the connection ends once its streams and sender are gone")
        .unwrap()
        .unwrap();
}

/// Runs `seed-server` with `args` and returns its exit status and stderr (it must exit).
fn startup_failure(extra: &[&std::ffi::OsStr]) -> (i32, String) {
    let data = tempfile::tempdir().unwrap();
    let mut child = seed_server(data.path(), free_port())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("seed-server kept running with unusable TLS files {extra:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn unusable_certificate_or_key_files_stop_the_server_with_a_clear_error() {
    let pki = Pki::generate();
    let other = Pki::generate();
    let missing = pki.dir.path().join("missing.pem");
    let os = |path: &Path| path.as_os_str().to_owned();
    let cases: [(Vec<std::ffi::OsString>, String); 4] = [
        (
            vec![
                "--tls-cert".into(),
                os(&missing),
                "--tls-key".into(),
                os(&pki.key()),
            ],
            format!("cannot read TLS certificate {}", missing.display()),
        ),
        (
            vec![
                "--tls-cert".into(),
                os(&pki.key()),
                "--tls-key".into(),
                os(&pki.key()),
            ],
            format!(
                "TLS certificate {} holds no PEM CERTIFICATE block",
                pki.key().display()
            ),
        ),
        (
            vec![
                "--tls-cert".into(),
                os(&pki.cert()),
                "--tls-key".into(),
                os(&pki.cert()),
            ],
            format!("TLS key {} holds no PEM private key", pki.cert().display()),
        ),
        (
            vec![
                "--tls-cert".into(),
                os(&pki.cert()),
                "--tls-key".into(),
                os(&other.key()),
            ],
            "cannot be used together".to_owned(),
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let (code, stderr) = startup_failure(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&expected),
            "{args:?}: expected {expected:?} in {stderr:?}"
        );
    }
    // A certificate without its key is refused by the argument parser.
    let (code, stderr) = startup_failure(&["--tls-cert".as_ref(), pki.cert().as_os_str()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

/// Over TLS, a connection beyond `max_connections` is answered too, after its handshake: a 503
/// `request/overloaded` the client can read, not a reset.
#[tokio::test]
async fn over_tls_connections_beyond_the_maximum_get_a_503() {
    let pki = Pki::generate();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = rivetkit_rs::ServerConfig {
        port,
        data_dir: data.path().to_path_buf(),
        tls_cert: Some(pki.cert()),
        tls_key: Some(pki.key()),
        max_connections: 2,
        // The idle connections below must keep their places while the test runs.
        header_read_timeout: Duration::from_secs(120),
        ..rivetkit_rs::ServerConfig::default()
    };
    tokio::spawn(async move { rivetkit_rs::serve(seed::registry(), config).await.unwrap() });
    let client = pki.reqwest();
    let health = format!("https://localhost:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(&health).send().await.is_err() {
        assert!(Instant::now() < deadline, "the TLS server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(client);
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    // A fresh client (no pooled connection): its connection is the third.
    let deadline = Instant::now() + Duration::from_secs(10);
    let response = loop {
        let response = pki.reqwest().get(&health).send().await.unwrap();
        if response.status() == 503 || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(response.status(), 503);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (&error["group"], &error["code"]),
        (&json!("request"), &json!("overloaded")),
        "{error}"
    );

    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pki
        .reqwest()
        .get(&health)
        .send()
        .await
        .map(|r| r.status())
        .ok()
        != Some(reqwest::StatusCode::OK)
    {
        assert!(
            Instant::now() < deadline,
            "still refused after the idle connections closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
