//! Runs every guide snippet and the backend app against an in-process seed server, in each
//! encoding; and checks that the client follows `/metadata`'s `clientEndpoint`.

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use client_examples::{backend, snippets};
use rivetkit_rs::client::{Client, ClientConfig, ConnStatus, Encoding};
use rivetkit_rs::server::{embedded_runtime, router};
use rivetkit_rs::ServerConfig;
use seed::{ChatRoomActions, CounterActions};
use serde_json::{json, Value};

const STEP: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

/// Serves `app` on a free loopback port; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// The seed's actors, served in-process. Keep the directory alive as long as the server.
async fn seed_server() -> (String, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        data_dir: data.path().to_path_buf(),
        ..ServerConfig::default()
    };
    let runtime = embedded_runtime(seed::registry(), &config).unwrap();
    (serve(router(runtime, config)).await, data)
}

fn client(endpoint: &str, encoding: Encoding) -> Client {
    Client::new(ClientConfig::new(endpoint).encoding(encoding)).unwrap()
}

#[tokio::test]
async fn every_snippet_runs_in_every_encoding() {
    for encoding in [Encoding::Json, Encoding::Cbor, Encoding::Bare] {
        let (endpoint, _data) = seed_server().await;
        let client = client(&endpoint, encoding);

        assert_eq!(
            within("minimal", snippets::minimal_client(&endpoint))
                .await
                .unwrap(),
            1.0
        );

        let conn = within(
            "stateless vs stateful",
            snippets::stateless_vs_stateful(&client),
        )
        .await
        .unwrap();
        assert_eq!(conn.get_count().await.unwrap(), 3.0);
        conn.dispose().await;

        let id = within("getting actors", snippets::getting_actors(&client))
            .await
            .unwrap();
        assert!(!id.is_empty());

        let conn = snippets::connection_parameters(&client);
        within("params", conn.send_message("with params".into()))
            .await
            .unwrap();
        conn.dispose().await;

        let conn = snippets::subscribing_to_events(&client);
        within("events", conn.end_game()).await.unwrap();
        conn.dispose().await;

        within("lifecycle", snippets::connection_lifecycle(&client)).await;

        let history = within("low level", snippets::low_level(&client))
            .await
            .unwrap();
        assert_eq!(history, ["with params"]);

        let (code, metadata) = within("errors", snippets::error_handling(&client))
            .await
            .unwrap();
        assert_eq!(
            (code.as_str(), metadata),
            ("username_too_short", Some(json!({"minLength": 3})))
        );

        let info = within("keys", snippets::keys(&client)).await.unwrap();
        assert_eq!(info.org.as_deref(), Some("org-acme"));
    }
}

#[tokio::test]
async fn backend_route_calls_the_actor() {
    let (endpoint, _data) = seed_server().await;
    let app = serve(backend::app(client(&endpoint, Encoding::Bare))).await;
    let http = reqwest::Client::new();
    for expected in 1..=2 {
        let response = http
            .post(format!("{app}/increment/visits"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["count"].as_f64(), Some(f64::from(expected)), "{body}");
    }
    // An unreachable engine is a gateway error, not a hang.
    let mut config = ClientConfig::new("http://127.0.0.1:9");
    config.disable_metadata_lookup = true;
    let down = serve(backend::app(Client::new(config).unwrap())).await;
    let response = within("down", http.post(format!("{down}/increment/x")).send())
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
}

#[tokio::test]
async fn metadata_client_endpoint_redirects_every_call() {
    let (real, _data) = seed_server().await;
    // A front door that only answers /metadata, pointing clients at the real server.
    let redirect = json!({ "runtime": "rivetkit", "clientEndpoint": real });
    let front = serve(Router::new().route(
        "/metadata",
        get(move || {
            let redirect = redirect.clone();
            async move { Json(redirect) }
        }),
    ))
    .await;
    for encoding in [Encoding::Json, Encoding::Bare] {
        let client = client(&front, encoding);
        let counter = client.get_or_create::<seed::Counter>(["redirected"]);
        within("stateless", counter.increment(2.0)).await.unwrap();
        let conn = counter.connect();
        within("connected", conn.increment(1.0)).await.unwrap();
        assert_eq!(conn.status(), ConnStatus::Connected);
        conn.dispose().await;
    }
    let direct = client(&real, Encoding::Json);
    let count = direct
        .get_or_create::<seed::Counter>(["redirected"])
        .get_count()
        .await
        .unwrap();
    assert_eq!(count, 6.0);
}
