//! The server's routes nested in a user's own axum app under a path prefix (what the server
//! crate's docs promise): the client reaches actors at `{app}/api/rivet` by HTTP and by
//! WebSocket, the app keeps its own routes, and a path the server does not know under the
//! prefix gets the server's typed 404.

use rivetkit_rs::client::{Client, ClientConfig};
use rivetkit_rs::prelude::*;
use rivetkit_rs::server::{embedded_runtime, router};
use serde_json::Value;

fn counter() -> Actor<i64> {
    actor::<i64>("counter").action("increment", |c, (by,): (i64,)| async move {
        let count = c.update(|count| {
            *count += by;
            *count
        });
        c.broadcast("count", (count,));
        Ok(count)
    })
}

#[tokio::test]
async fn the_server_nested_under_a_prefix_serves_actors_there() {
    let data = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        data_dir: data.path().to_path_buf(),
        ..ServerConfig::default()
    };
    let runtime = embedded_runtime(Registry::new().register(counter()), &config).unwrap();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "the app's own page" }))
        .nest("/api/rivet", router(runtime, config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = Client::new(ClientConfig::new(format!("http://{address}/api/rivet"))).unwrap();
    let counter = client.actor("counter").get_or_create(["nested"]);
    assert_eq!(counter.action::<i64>("increment", (2,)).await.unwrap(), 2);

    let connection = counter.connect();
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let _listening = connection.on_event("count", move |(count,): (i64,)| {
        let _ = events.send(count);
    });
    assert_eq!(
        connection.action::<i64>("increment", (3,)).await.unwrap(),
        5
    );
    assert_eq!(received.recv().await, Some(5));

    let http = reqwest::Client::new();
    let page = http.get(format!("http://{address}/")).send().await.unwrap();
    assert_eq!(page.text().await.unwrap(), "the app's own page");
    let unknown = http
        .get(format!("http://{address}/api/rivet/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["group"], "request");
    assert_eq!(body["code"], "not_found");
}
