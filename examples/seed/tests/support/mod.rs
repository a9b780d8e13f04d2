//! Runs the real `seed-server` binary on a free loopback port for a test, and talks to it.

#![allow(dead_code)] // each test file uses its own part of this module

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rivetkit_rs::protocol::{Encoding, Frame, ToClient, ToServer, Value};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

pub struct Server {
    /// The `seed-server` process; `None` for a server running in this test's process.
    child: Option<Child>,
    pub port: u16,
    pub data_dir: PathBuf,
    token: Option<String>,
    _temp: Option<tempfile::TempDir>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub async fn start() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().to_path_buf();
        let mut server = Self::start_in(&data_dir, None).await;
        server._temp = Some(temp);
        server
    }

    pub async fn start_with_token(token: &str) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let mut server = Self::start_in(temp.path(), Some(token)).await;
        server._temp = Some(temp);
        server
    }

    /// Starts a server on `data_dir` (kept by the caller).
    pub async fn start_in(data_dir: &Path, token: Option<&str>) -> Self {
        Self::start_at(data_dir, free_port(), token).await
    }

    /// Starts a server on `data_dir` and `port` (to restart one where its clients expect it).
    pub async fn start_at(data_dir: &Path, port: u16, token: Option<&str>) -> Self {
        Self::start_with_args(data_dir, port, token, &[]).await
    }

    /// Starts a server on `data_dir` and `port` with more command-line arguments.
    pub async fn start_with_args(
        data_dir: &Path,
        port: u16,
        token: Option<&str>,
        args: &[&str],
    ) -> Self {
        let command = Self::command(data_dir, port, token, args);
        Self::spawn(command, data_dir, port, token).await
    }

    /// The command that [`Server::start_with_args`] runs, to change before [`Server::spawn`].
    pub fn command(data_dir: &Path, port: u16, token: Option<&str>, args: &[&str]) -> Command {
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
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        command.args(args);
        command
    }

    /// Runs `command` (a seed-server serving `data_dir` on `port`) until it is healthy.
    pub async fn spawn(
        mut command: Command,
        data_dir: &Path,
        port: u16,
        token: Option<&str>,
    ) -> Self {
        let child = command.spawn().expect("seed-server starts");
        let server = Self {
            child: Some(child),
            port,
            data_dir: data_dir.to_path_buf(),
            token: token.map(str::to_owned),
            _temp: None,
        };
        server.wait_healthy().await;
        server
    }

    /// Serves the seed registry in this test's process, with `config`'s settings (those a
    /// `seed-server` flag does not reach) on a free loopback port and a fresh data dir.
    pub async fn start_with(config: rivetkit_rs::ServerConfig) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = rivetkit_rs::ServerConfig {
            host: "127.0.0.1".into(),
            port,
            data_dir: temp.path().to_path_buf(),
            token: None,
            ..config
        };
        tokio::spawn(async move { rivetkit_rs::serve(seed::registry(), config).await.unwrap() });
        let server = Self {
            child: None,
            port,
            data_dir: temp.path().to_path_buf(),
            token: None,
            _temp: Some(temp),
        };
        server.wait_healthy().await;
        server
    }

    /// The `seed-server` process (fails for a server in the test's own process).
    fn process(&mut self) -> &mut Child {
        self.child.as_mut().expect("a seed-server process")
    }

    /// The server process's id.
    pub fn pid(&mut self) -> u32 {
        self.process().id()
    }

    /// Whether the server process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.process().try_wait().unwrap().is_none()
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        // Each attempt is bounded: a socket that listens but is served by nobody (socket
        // activation gone wrong) would hold a request forever.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        loop {
            if let Ok(response) = http.get(self.url("/health")).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "seed-server did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        let child = self.process();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the server process.
    #[allow(unsafe_code, reason = "kill through libc")]
    pub fn signal(&mut self, signal: i32) {
        let pid = i32::try_from(self.process().id()).unwrap();
        // SAFETY: kill only sends a signal to the process id it is given.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal sent");
    }

    /// Waits (up to 30 s, then fails) for the process to exit on its own.
    pub async fn exit_status(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.process().try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "seed-server did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn http(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &self.token {
            headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
            headers.insert("x-rivet-token", token.parse().unwrap());
        }
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    /// `PUT /actors`: the id of the actor `name` + `key` (serialized), created if needed.
    pub async fn get_or_create(&self, name: &str, key: &str) -> String {
        let response = self
            .http()
            .put(self.url("/actors?namespace=default"))
            .json(&json!({"name": name, "key": key, "runner_name_selector": "default", "crash_policy": "sleep"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["actor"]["actor_id"].as_str().unwrap().to_owned()
    }

    /// A stateless action; returns the HTTP status and the raw body.
    pub async fn action_raw(
        &self,
        actor_id: &str,
        action: &str,
        encoding: Encoding,
        body: Vec<u8>,
    ) -> (u16, Vec<u8>) {
        let response = self
            .http()
            .post(self.url(&format!("/gateway/{actor_id}/action/{action}")))
            .header("x-rivet-encoding", encoding.as_str())
            .header("content-type", encoding.content_type())
            .body(body)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.bytes().await.unwrap().to_vec(),
        )
    }

    /// Opens `/connect` and reads the Init message. `target` is the gateway segment: the actor
    /// id, optionally followed by `@token`.
    pub async fn connect(&self, target: &str, encoding: Encoding) -> Conn {
        let socket = self
            .websocket(&format!("/gateway/{target}/connect"), encoding, &[])
            .await;
        let mut conn = Conn { socket, encoding };
        let actor_id = target.split('@').next().unwrap();
        match conn.recv().await {
            ToClient::Init { actor_id: id, .. } => assert_eq!(id, actor_id),
            other => panic!("expected Init, got {other:?}"),
        }
        conn
    }

    /// Opens a WebSocket offering `rivet`, the encoding, and any `extra` subprotocol entries.
    pub async fn websocket(&self, path: &str, encoding: Encoding, extra: &[&str]) -> Socket {
        let mut request = format!("ws://127.0.0.1:{}{path}", self.port)
            .into_client_request()
            .unwrap();
        let mut protocols = format!("rivet, rivet_encoding.{}", encoding.as_str());
        for entry in extra {
            protocols.push_str(", ");
            protocols.push_str(entry);
        }
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket opens");
        assert_eq!(response.headers()["sec-websocket-protocol"], "rivet");
        socket
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Conn {
    pub socket: Socket,
    pub encoding: Encoding,
}

impl Conn {
    pub async fn send(&mut self, message: ToServer) {
        let frame = match message.encode(self.encoding, 2) {
            Frame::Text(text) => Message::Text(text.into()),
            Frame::Binary(bytes) => Message::Binary(bytes.into()),
        };
        self.socket.send(frame).await.unwrap();
    }

    pub async fn recv(&mut self) -> ToClient {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a message within 10 s")
                .expect("socket still open")
                .unwrap();
            let data = match message {
                Message::Text(text) => text.as_bytes().to_vec(),
                Message::Binary(bytes) => bytes.to_vec(),
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            };
            return ToClient::decode(&data, self.encoding).unwrap();
        }
    }

    pub async fn call(&mut self, id: u64, name: &str, args: Vec<Value>) {
        self.send(ToServer::ActionRequest {
            id,
            name: name.into(),
            args,
        })
        .await;
    }
}

/// Reads until the server closes; returns the close code and reason.
pub async fn expect_close(socket: &mut Socket) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the server closes within 10 s");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string())
            }
            Some(Ok(Message::Close(None))) => return (u16::from(CloseCode::Status), String::new()),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub const ENCODINGS: [Encoding; 3] = [Encoding::Json, Encoding::Cbor, Encoding::Bare];
