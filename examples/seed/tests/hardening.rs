//! Hardening (issue 8) against the real `seed-server`: a counter pushed past `f64::MAX` refuses
//! the change with a typed error, keeps its state, and still loads after a restart (JSON would
//! have saved `{"count":null}`, which no longer loads into the counter's `f64`).

mod support;

use rivetkit_rs::protocol::{Encoding, ErrorBody, HttpActionRequest, HttpActionResponse};
use serde_json::json;
use support::Server;

fn body(encoding: Encoding, args: Vec<serde_json::Value>) -> Vec<u8> {
    HttpActionRequest { args }.encode(encoding, 2)
}

async fn get_count(server: &Server, id: &str) -> serde_json::Value {
    let (status, reply) = server
        .action_raw(id, "getCount", Encoding::Json, body(Encoding::Json, vec![]))
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    HttpActionResponse::decode(&reply, Encoding::Json)
        .unwrap()
        .output
}

#[tokio::test]
async fn an_infinite_count_is_refused_and_the_actor_still_loads_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path(), None).await;
    let id = server.get_or_create("counter", "overflow").await;

    let (status, reply) = server
        .action_raw(
            &id,
            "increment",
            Encoding::Json,
            body(Encoding::Json, vec![json!(f64::MAX)]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        HttpActionResponse::decode(&reply, Encoding::Json)
            .unwrap()
            .output,
        json!(f64::MAX)
    );

    for encoding in [Encoding::Json, Encoding::Cbor, Encoding::Bare] {
        let (status, reply) = server
            .action_raw(
                &id,
                "increment",
                encoding,
                body(encoding, vec![json!(f64::MAX)]),
            )
            .await;
        assert_eq!(
            status,
            400,
            "{encoding:?}: {}",
            String::from_utf8_lossy(&reply)
        );
        let error = ErrorBody::decode_http(&reply, encoding).unwrap();
        assert_eq!(
            (error.group.as_str(), error.code.as_str()),
            ("state", "invalid")
        );
        assert!(
            error.message.contains("state.count is inf"),
            "{}",
            error.message
        );
    }
    assert_eq!(get_count(&server, &id).await, json!(f64::MAX));

    server.kill();
    let server = Server::start_in(data.path(), None).await;
    assert_eq!(get_count(&server, &id).await, json!(f64::MAX));
}

/// A stateless `chatRoom.sendMessage` with `x-rivet-conn-params` set to `params`, raw bytes.
async fn send_with_params(server: &Server, id: &str, params: &[u8]) -> (u16, String) {
    let response = server
        .http()
        .post(server.url(&format!("/gateway/{id}/action/sendMessage")))
        .header("x-rivet-encoding", "json")
        .header("content-type", "application/json")
        .header(
            "x-rivet-conn-params",
            reqwest::header::HeaderValue::from_bytes(params).unwrap(),
        )
        .body(body(Encoding::Json, vec![json!("hi")]))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn non_ascii_connection_params_in_the_header_are_accepted() {
    let server = Server::start().await;
    let id = server.get_or_create("chatRoom", "params-utf8").await;
    // UTF-8, and one byte per character as the official JS client's `fetch` sends it.
    let utf8 = "{\"authToken\":\"zoë\"}".as_bytes();
    let latin1 = b"{\"authToken\":\"zo\xEB\"}";
    for params in [utf8, latin1] {
        let (status, reply) = send_with_params(&server, &id, params).await;
        assert_eq!(status, 200, "{params:?}: {reply}");
    }
    // The params still reach `on_before_connect`: an empty token is refused.
    let (status, reply) = send_with_params(&server, &id, b"{\"authToken\":\"\"}").await;
    assert_eq!(status, 403, "{reply}");
}
