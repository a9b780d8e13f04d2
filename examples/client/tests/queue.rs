//! Queue sends from the Rust client (`handle.send`, `handle.send_and_wait`) against an
//! in-process server hosting a small queue-consuming actor, in every encoding.

use std::time::Duration;

use rivetkit_rs::client::{Client, ClientConfig, Encoding, QueueReply};
use rivetkit_rs::prelude::*;
use rivetkit_rs::server::{embedded_runtime, router};
use serde_json::{json, Value};

mod support;
use support::jobs_actor;

async fn server() -> (String, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        data_dir: data.path().to_path_buf(),
        ..ServerConfig::default()
    };
    let runtime = embedded_runtime(Registry::new().register(jobs_actor()), &config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(runtime, config))
            .await
            .unwrap()
    });
    (format!("http://{address}"), data)
}

#[tokio::test]
async fn sends_queue_and_waits_for_completion_in_every_encoding() {
    let (endpoint, _data) = server().await;
    for encoding in [Encoding::Json, Encoding::Cbor, Encoding::Bare] {
        let client = Client::new(ClientConfig::new(&endpoint).encoding(encoding)).unwrap();
        let jobs = client.actor("jobs").get_or_create([encoding.as_str()]);

        jobs.send("jobs", json!({ "n": 1 })).await.unwrap();
        let taken: Value = jobs.action("take", ()).await.unwrap();
        assert_eq!(taken, json!({ "n": 1 }), "{encoding:?}");

        // A waiting send is answered by the completion of the action that takes it.
        let taker = tokio::spawn({
            let jobs = jobs.clone();
            async move { jobs.action::<Value>("take", ()).await }
        });
        let reply: QueueReply<Value> = jobs
            .send_and_wait("jobs", json!({ "n": 2 }), Some(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(
            reply,
            QueueReply::Completed(Some(json!({ "got": { "n": 2 } }))),
            "{encoding:?}"
        );
        assert_eq!(taker.await.unwrap().unwrap(), json!({ "n": 2 }));

        // Nobody takes it: the wait runs out, the message stays queued for the next taker.
        let reply: QueueReply<Value> = jobs
            .send_and_wait("jobs", 3, Some(Duration::from_millis(100)))
            .await
            .unwrap();
        assert_eq!(reply, QueueReply::TimedOut, "{encoding:?}");
        assert_eq!(jobs.action::<Value>("take", ()).await.unwrap(), json!(3));

        // A queue the actor does not declare: accepted and dropped.
        jobs.send("elsewhere", 4).await.unwrap();
    }
}
