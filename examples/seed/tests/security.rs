//! Security defaults of `seed-server` (issue 8, "Hardening"): settings that would quietly open
//! the server are refused at start-up; a loopback server answers only loopback hosts (DNS
//! rebinding).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A running `seed-server`, killed on drop.
struct Running {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `seed-server --host {bind}` with `args` and `envs`, reached on 127.0.0.1.
async fn start(bind: &str, args: &[&str], envs: &[(&str, &str)]) -> Running {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_seed-server"));
    command
        .args(["--host", bind, "--port", &port.to_string(), "--data-dir"])
        .arg(data.path())
        .args(args)
        .env_remove("RIVETKIT_TOKEN")
        .env_remove("RIVETKIT_ALLOWED_HOSTS")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    for (name, value) in envs {
        command.env(name, value);
    }
    let running = Running {
        child: command.spawn().expect("seed-server starts"),
        port,
        _data: data,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = format!("http://127.0.0.1:{port}/health");
    while !reqwest::get(&health)
        .await
        .is_ok_and(|response| response.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "seed-server did not become healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running
}

/// `GET {path}` on `server` with `Host: {host}`: the status and the JSON body (Null if none).
async fn get_as(server: &Running, host: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}{path}", server.port))
        .header("host", host)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn assert_host_refused((status, body): (u16, Value), host: &str) {
    assert_eq!(status, 403, "{host}: {body}");
    assert_eq!(body["group"], "request", "{host}: {body}");
    assert_eq!(body["code"], "host_not_allowed", "{host}: {body}");
}

const NAMES: &str = "/actors/names?namespace=default";

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
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--data-dir",
        ])
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
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
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

#[tokio::test]
async fn a_loopback_server_answers_loopback_hosts_only() {
    let server = start("127.0.0.1", &[], &[]).await;
    let port = server.port;
    // What the Node and browser tests' clients send, and the other loopback forms.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
    ] {
        let (status, body) = get_as(&server, &host, NAMES).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    for host in ["evil.example", "evil.example:80", "localhost.evil.example"] {
        assert_host_refused(get_as(&server, host, NAMES).await, host);
        assert_host_refused(get_as(&server, host, "/metadata").await, host);
    }
    // Probes stay open.
    assert_eq!(get_as(&server, "evil.example", "/health").await.0, 200);

    // A WebSocket upgrade is refused before it is accepted.
    let mut request = format!("ws://127.0.0.1:{port}/gateway/whatever/connect")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("host", "evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("upgrade with a foreign host: {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn listed_hosts_are_answered_too() {
    let server = start("127.0.0.1", &["--allowed-host", "actors.example.com"], &[]).await;
    assert_eq!(get_as(&server, "actors.example.com", NAMES).await.0, 200);
    assert_eq!(
        get_as(&server, "actors.example.com:6420", NAMES).await.0,
        200
    );
    assert_eq!(
        get_as(&server, &format!("127.0.0.1:{}", server.port), NAMES)
            .await
            .0,
        200
    );
    assert_host_refused(get_as(&server, "evil.example", NAMES).await, "evil.example");

    let server = start(
        "127.0.0.1",
        &[],
        &[("RIVETKIT_ALLOWED_HOSTS", "a.example,b.example")],
    )
    .await;
    assert_eq!(get_as(&server, "b.example", NAMES).await.0, 200);
    assert_host_refused(get_as(&server, "c.example", NAMES).await, "c.example");
}

#[tokio::test]
async fn a_server_on_all_interfaces_checks_only_listed_hosts() {
    let server = start("0.0.0.0", &[], &[]).await;
    assert_eq!(get_as(&server, "actors.lan", NAMES).await.0, 200);
    let server = start("0.0.0.0", &["--allowed-host", "actors.lan"], &[]).await;
    assert_eq!(get_as(&server, "actors.lan:6420", NAMES).await.0, 200);
    assert_host_refused(get_as(&server, "evil.example", NAMES).await, "evil.example");
}

/// `{method} {path}` from a page of `origin`; a preflight when `method` is OPTIONS.
async fn from_origin(server: &Running, method: &str, origin: &str) -> reqwest::Response {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}{NAMES}", server.port);
    let request = if method == "OPTIONS" {
        client
            .request(reqwest::Method::OPTIONS, url)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-rivet-encoding")
    } else {
        client.get(url)
    };
    request.header("origin", origin).send().await.unwrap()
}

fn allow_origin(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn without_an_origin_list_every_origin_is_reflected() {
    let server = start("127.0.0.1", &[], &[]).await;
    let response = from_origin(&server, "GET", "https://anywhere.example").await;
    assert_eq!(response.status(), 200);
    assert_eq!(allow_origin(&response), Some("https://anywhere.example"));
    let preflight = from_origin(&server, "OPTIONS", "https://anywhere.example").await;
    assert_eq!(preflight.status(), 204);
    assert_eq!(allow_origin(&preflight), Some("https://anywhere.example"));
}

#[tokio::test]
async fn with_an_origin_list_only_listed_origins_get_cors_headers() {
    let server = start(
        "127.0.0.1",
        &[
            "--cors-origin",
            "https://app.example",
            "--cors-origin",
            "http://localhost:5173",
        ],
        &[],
    )
    .await;
    for origin in ["https://app.example", "http://localhost:5173"] {
        let response = from_origin(&server, "GET", origin).await;
        assert_eq!(response.status(), 200, "{origin}");
        assert_eq!(allow_origin(&response), Some(origin));
        let preflight = from_origin(&server, "OPTIONS", origin).await;
        assert_eq!(preflight.status(), 204, "{origin}");
        assert_eq!(allow_origin(&preflight), Some(origin));
        assert!(preflight
            .headers()
            .contains_key("access-control-allow-methods"));
    }
    for origin in ["https://evil.example", "http://localhost:5174", "null"] {
        let response = from_origin(&server, "GET", origin).await;
        assert_eq!(allow_origin(&response), None, "{origin}");
        assert!(!response
            .headers()
            .contains_key("access-control-allow-credentials"));
        let preflight = from_origin(&server, "OPTIONS", origin).await;
        assert_eq!(preflight.status(), 403, "{origin}");
        assert_eq!(allow_origin(&preflight), None, "{origin}");
        let body: Value = preflight.json().await.unwrap();
        assert_eq!(body["code"], "origin_not_allowed", "{origin}: {body}");
    }

    let server = start(
        "127.0.0.1",
        &[],
        &[(
            "RIVETKIT_CORS_ORIGINS",
            "https://a.example,https://b.example",
        )],
    )
    .await;
    let response = from_origin(&server, "GET", "https://b.example").await;
    assert_eq!(allow_origin(&response), Some("https://b.example"));
    let response = from_origin(&server, "GET", "https://c.example").await;
    assert_eq!(allow_origin(&response), None);
}

/// Namespaces scope the manager API: an actor id looked up (`GET /actors?actor_ids=`) or
/// destroyed (`DELETE /actors/{id}`) from another namespace is not found there, and a key names
/// a different actor in each namespace.
#[tokio::test]
async fn the_manager_api_scopes_ids_and_keys_to_their_namespace() {
    let server = start("127.0.0.1", &[], &[]).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", server.port);
    let get_or_create = |namespace: &'static str| {
        let request = http
            .put(url(&format!("/actors?namespace={namespace}")))
            .json(&serde_json::json!({
                "name": "counter", "key": "shared", "runner_name_selector": "default",
                "crash_policy": "sleep"
            }));
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body["actor"]["actor_id"].as_str().unwrap().to_owned()
        }
    };
    let in_a = get_or_create("a").await;
    let in_b = get_or_create("b").await;
    assert_ne!(in_a, in_b, "one key, two namespaces, two actors");

    let listed = |namespace: &str, id: &str| {
        let request = http.get(url(&format!(
            "/actors?namespace={namespace}&actor_ids={id}"
        )));
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body["actors"].as_array().unwrap().len()
        }
    };
    assert_eq!(listed("a", &in_a).await, 1);
    assert_eq!(listed("b", &in_a).await, 0);
    assert_eq!(listed("default", &in_a).await, 0);

    let response = http
        .delete(url(&format!("/actors/{in_a}?namespace=b")))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found", "{body}");
    assert_eq!(
        listed("a", &in_a).await,
        1,
        "still there after a foreign delete"
    );
}
