//! What an actor's `on_request` sees behind the 2.3 query-form gateway: the gateway's `rvt-*`
//! parameters are gone, and the user's own query parameters arrive byte for byte, in order.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start() -> Server {
    let data = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_conformance-server"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        port,
        _data: data,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "conformance-server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}

#[tokio::test]
async fn rvt_parameters_are_stripped_and_the_rest_kept_byte_for_byte() {
    let server = start().await;
    let url = format!(
        "http://127.0.0.1:{}/gateway/rawHttpRequestPropertiesActor/request/echo/path?q=a+b&rvt-namespace=default&rvt-method=getOrCreate&&tag=c%2B%2B&rvt-runner=default&rvt-key=props&lower=%2f&rvt-crash-policy=sleep",
        server.port
    );
    let properties: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(properties["pathname"], "/echo/path");
    assert_eq!(properties["search"], "?q=a+b&tag=c%2B%2B&lower=%2f");
    assert_eq!(properties["searchParams"]["q"], "a b");
    assert_eq!(properties["searchParams"]["tag"], "c++");
    assert!(!properties["url"].as_str().unwrap().contains("rvt-"));
}
