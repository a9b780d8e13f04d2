//! Hardening (issue 8) against the real `seed-server`: a counter pushed past `f64::MAX` refuses
//! the change with a typed error, keeps its state, and still loads after a restart (JSON would
//! have saved `{"count":null}`, which no longer loads into the counter's `f64`).

mod support;

use rivetkit::protocol::{Encoding, ErrorBody, HttpActionRequest, HttpActionResponse};
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
