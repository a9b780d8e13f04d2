//! `serve` installs a `tracing` subscriber when the binary has none: `seed-server` installs
//! none of its own, yet logs to stderr, filtered by `RUST_LOG` (default `info`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `seed-server` until it answers `/health`, stops it with SIGTERM and returns its stderr.
fn stderr_of_a_run(rust_log: Option<&str>) -> String {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_seed-server"));
    command
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(data.path())
        .env_remove("RIVETKIT_TOKEN")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    let mut child = command.spawn().expect("seed-server starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !healthy(port) {
        assert!(
            Instant::now() < deadline,
            "seed-server did not become healthy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = i32::try_from(child.id()).unwrap();
    #[allow(unsafe_code, reason = "kill through libc")]
    // SAFETY: kill only sends a signal to the process id it is given.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let mut stderr = String::new();
    // Read to the end: the pipe closes when the server exits.
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();
    stderr
}

fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut response = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.starts_with("HTTP/1.1 200")
}

#[test]
fn serve_logs_to_stderr_at_info_by_default() {
    let stderr = stderr_of_a_run(None);
    assert!(
        stderr.contains("rivetkit server listening"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("INFO"), "stderr: {stderr}");
}

#[test]
fn rust_log_filters_the_logs() {
    let stderr = stderr_of_a_run(Some("warn"));
    assert!(
        !stderr.contains("rivetkit server listening"),
        "stderr: {stderr}"
    );
    let stderr = stderr_of_a_run(Some("warn,rivetkit_server=info"));
    assert!(
        stderr.contains("rivetkit server listening"),
        "stderr: {stderr}"
    );
}
