//! Security defaults of `seed-server` (issue 8, "Hardening"): settings that would quietly open
//! the server are refused at start-up.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `seed-server` with `args` and `envs` and waits (at most 20 s) for it to exit; a server
/// that starts instead is killed and the test fails. Returns the exit status and stderr.
fn run_until_exit(args: &[&str], envs: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_seed-server"));
    command
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--data-dir"])
        .arg(data.path())
        .args(args)
        .env_remove("RIVETKIT_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("seed-server starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
                .unwrap();
            return (status, stderr);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("seed-server {args:?} {envs:?} started instead of refusing to");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_empty_token_flag_stops_the_server_with_a_message() {
    let (status, stderr) = run_until_exit(&["--token", ""], &[]);
    assert!(!status.success(), "{status}");
    assert!(stderr.contains("token is empty"), "stderr: {stderr}");
    assert!(stderr.contains("RIVETKIT_TOKEN"), "stderr: {stderr}");
}

#[test]
fn an_empty_token_variable_stops_the_server_with_a_message() {
    let (status, stderr) = run_until_exit(&[], &[("RIVETKIT_TOKEN", "")]);
    assert!(!status.success(), "{status}");
    assert!(stderr.contains("token is empty"), "stderr: {stderr}");
}
