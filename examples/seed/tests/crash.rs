//! The durability promise under load: many clients increment many counters concurrently, the
//! server is SIGKILLed in the middle of it, and after a restart every counter holds at least
//! every increment that was acknowledged (and at most the ones that were sent).

mod support;

use std::sync::Arc;
use std::time::Duration;

use rivetkit_rs::protocol::{Encoding, HttpActionRequest, HttpActionResponse};
use serde_json::json;
use support::Server;

const ACTORS: usize = 8;
const CLIENTS_PER_ACTOR: usize = 4;

#[tokio::test]
async fn no_acknowledged_increment_is_lost_to_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path(), None).await;
    let mut ids = Vec::new();
    for actor in 0..ACTORS {
        ids.push(
            server
                .get_or_create("counter", &format!("crash-{actor}"))
                .await,
        );
    }
    let server_url = server.url("");
    let http = reqwest::Client::new();
    let body = HttpActionRequest {
        args: vec![json!(1)],
    }
    .encode(Encoding::Bare, 2);

    // Per actor: how many increments were sent, and the highest count acknowledged.
    let sent: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new((0..ACTORS).map(|_| Default::default()).collect());
    let acked: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new((0..ACTORS).map(|_| Default::default()).collect());
    let mut clients = Vec::new();
    for (actor, id) in ids.iter().enumerate() {
        for _ in 0..CLIENTS_PER_ACTOR {
            let (http, body, sent, acked) =
                (http.clone(), body.clone(), sent.clone(), acked.clone());
            let url = format!("{server_url}/gateway/{id}/action/increment");
            clients.push(tokio::spawn(async move {
                // Bounded: stops at the first failure (the kill) or after 2,000 calls.
                for _ in 0..2_000 {
                    sent[actor].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let response = http
                        .post(&url)
                        .header("x-rivet-encoding", "bare")
                        .body(body.clone())
                        .send()
                        .await;
                    let Ok(response) = response else { return };
                    if !response.status().is_success() {
                        return;
                    }
                    let Ok(bytes) = response.bytes().await else {
                        return;
                    };
                    let count = HttpActionResponse::decode(&bytes, Encoding::Bare)
                        .unwrap()
                        .output;
                    acked[actor]
                        .fetch_max(count.as_u64().unwrap(), std::sync::atomic::Ordering::SeqCst);
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill();
    for client in clients {
        client.await.unwrap();
    }

    let server = Server::start_in(data.path(), None).await;
    let mut total_acked = 0;
    for (actor, id) in ids.iter().enumerate() {
        let (_, body) = server
            .action_raw(id, "getCount", Encoding::Json, br#"{"args":[]}"#.to_vec())
            .await;
        let stored = HttpActionResponse::decode(&body, Encoding::Json)
            .unwrap()
            .output
            .as_u64()
            .unwrap();
        let acked = acked[actor].load(std::sync::atomic::Ordering::SeqCst);
        let sent = sent[actor].load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            stored >= acked,
            "actor {actor}: {acked} acknowledged but only {stored} survived"
        );
        assert!(
            stored <= sent,
            "actor {actor}: {stored} stored but only {sent} sent"
        );
        total_acked += acked;
    }
    assert!(
        total_acked > 0,
        "the kill came before any increment was acknowledged"
    );
}
