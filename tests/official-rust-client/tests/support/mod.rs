//! Runs the real `seed-server` binary on a free loopback port for one test.
//!
//! The binary is `SEED_SERVER_BIN` when set (scripts/test.sh builds it once for every suite);
//! otherwise it is built here from the workspace two directories up, once per test process.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub port: u16,
    _temp: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn seed_server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SEED_SERVER_BIN") {
            return PathBuf::from(bin);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&workspace)
            .args(["build", "--quiet", "-p", "seed", "--bin", "seed-server"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building seed-server failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let target = if target.is_absolute() {
            target
        } else {
            workspace.join(target)
        };
        target.join("debug/seed-server")
    })
}

impl Server {
    pub async fn start() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let mut server = Self::start_at(temp.path(), free_port()).await;
        server._temp = Some(temp);
        server
    }

    /// A server that requires `token` on every manager, gateway and WebSocket request.
    pub async fn start_with_token(token: &str) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let mut server = Self::spawn(temp.path(), free_port(), Some(token)).await;
        server._temp = Some(temp);
        server
    }

    /// Starts a server on `data_dir` (kept by the caller) and `port`: how a restarted server
    /// comes back where its clients expect it.
    pub async fn start_at(data_dir: &Path, port: u16) -> Self {
        Self::spawn(data_dir, port, None).await
    }

    async fn spawn(data_dir: &Path, port: u16, token: Option<&str>) -> Self {
        let mut command = Command::new(seed_server_bin());
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
        let child = command.spawn().expect("seed-server starts");
        let server = Self {
            child,
            port,
            _temp: None,
        };
        server.wait_healthy().await;
        server
    }

    /// A server on a fresh data dir that the caller keeps, for restarts.
    pub async fn start_keeping(temp: &tempfile::TempDir) -> Self {
        Self::start_at(temp.path(), free_port()).await
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = reqwest::get(self.url("/health")).await {
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

    /// SIGKILL: no chance to flush anything or to close sockets politely.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The endpoint the official client is given.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Fails the test instead of hanging it when the server never answers.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(20), future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out: {what}"),
    }
}
