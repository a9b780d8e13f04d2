//! The 2.3 query-form gateway (`/gateway/{name}/…?rvt-namespace=…&rvt-method=…`) against
//! `seed-server`: one request finds or creates the actor and runs the endpoint, malformed queries
//! get typed `guard.query_*` errors in the client's encoding, BARE v4 requests get v4 answers
//! that name the actor, and a gateway path wins over routing headers.

mod support;

use rivetkit_rs::protocol::{Encoding, ErrorBody, HttpActionRequest, HttpActionResponse, ToClient};
use serde_json::json;
use support::{expect_close, Server, ENCODINGS};

const QUERY: &str = "rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default";

fn args(encoding: Encoding, args: serde_json::Value, bare_version: u16) -> Vec<u8> {
    let args = args.as_array().unwrap().clone();
    HttpActionRequest { args }.encode(encoding, bare_version)
}

async fn post(server: &Server, path: &str, encoding: Encoding, body: Vec<u8>) -> (u16, Vec<u8>) {
    let response = server
        .http()
        .post(server.url(path))
        .header("x-rivet-encoding", encoding.as_str())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

async fn assert_healthy(server: &Server) {
    let path = format!("/gateway/counter/action/getCount?{QUERY}&rvt-key=health");
    let (status, _) = post(
        server,
        &path,
        Encoding::Json,
        args(Encoding::Json, json!([]), 2),
    )
    .await;
    assert_eq!(status, 200, "the server still serves");
}

#[tokio::test]
async fn get_or_create_and_call_in_one_request_in_every_encoding() {
    let server = Server::start().await;
    let mut expected = 0;
    for encoding in ENCODINGS {
        expected += 2;
        let path = format!("/gateway/counter/action/increment?{QUERY}&rvt-key=one-trip");
        let (status, body) = post(&server, &path, encoding, args(encoding, json!([2]), 4)).await;
        assert_eq!(
            status,
            200,
            "{encoding:?}: {}",
            String::from_utf8_lossy(&body)
        );
        let output = HttpActionResponse::decode(&body, encoding).unwrap().output;
        assert_eq!(output, json!(expected), "{encoding:?}");
    }
    // The same actor through the id form: the query form created exactly one.
    let id = server.get_or_create("counter", "one-trip").await;
    let path = format!("/gateway/{id}/action/getCount");
    let (_, body) = post(
        &server,
        &path,
        Encoding::Json,
        args(Encoding::Json, json!([]), 2),
    )
    .await;
    assert_eq!(
        HttpActionResponse::decode(&body, Encoding::Json)
            .unwrap()
            .output,
        json!(expected)
    );
}

#[tokio::test]
async fn keys_split_on_commas_as_in_the_engine() {
    let server = Server::start().await;
    let increment = |key: &'static str| {
        let server = &server;
        async move {
            let path = format!("/gateway/counter/action/increment?{QUERY}&rvt-key={key}");
            let (status, body) = post(
                server,
                &path,
                Encoding::Json,
                args(Encoding::Json, json!([1]), 2),
            )
            .await;
            assert_eq!(status, 200);
            HttpActionResponse::decode(&body, Encoding::Json)
                .unwrap()
                .output
        }
    };
    assert_eq!(increment("a%2Cb").await, json!(1));
    assert_eq!(
        increment("a,b").await,
        json!(2),
        "[\"a,b\"] and [\"a\",\"b\"] meet"
    );
    // The manager API keeps the two apart: its key is an escaped string, not a comma list.
    assert_ne!(
        server.get_or_create("counter", "a\\,b").await,
        server.get_or_create("counter", "a/b").await
    );
    assert_eq!(
        server.get_or_create("counter", "a/b").await,
        server.get_or_create("counter", "a/b").await
    );
}

#[tokio::test]
async fn get_of_a_missing_key_is_a_404_actor_not_found() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let path =
            "/gateway/counter/action/getCount?rvt-namespace=default&rvt-method=get&rvt-key=nobody";
        let (status, body) = post(&server, path, encoding, args(encoding, json!([]), 4)).await;
        assert_eq!(status, 404, "{encoding:?}");
        let error = ErrorBody::decode_http(&body, encoding).unwrap();
        assert_eq!(
            (error.group.as_str(), error.code.as_str()),
            ("actor", "not_found")
        );
    }
    assert_healthy(&server).await;
}

#[tokio::test]
async fn malformed_queries_are_typed_400s_in_the_clients_encoding() {
    let server = Server::start().await;
    // Unpadded base64url of 34 nested one-entry maps keyed by maps (`a1` × 34, `00` × 35): 69
    // bytes that once cost 2 GiB to decode.
    let bomb = "oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let oversize = "A".repeat(6000);
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{QUERY}&rvt-input=!!"),
            "query_invalid_base64_input",
        ),
        (format!("{QUERY}&rvt-input=oQ"), "query_invalid_cbor_input"),
        (
            format!("{QUERY}&rvt-input={bomb}"),
            "query_invalid_cbor_input",
        ),
        (
            format!("{QUERY}&rvt-input={oversize}"),
            "query_input_too_large",
        ),
        (
            "rvt-namespace=default&rvt-method=list".into(),
            "query_invalid_params",
        ),
        ("rvt-method=get".into(), "query_invalid_params"),
        (
            "rvt-namespace=&rvt-method=get".into(),
            "query_invalid_params",
        ),
        (
            format!("{QUERY}&rvt-key=a&rvt-key=b"),
            "query_duplicate_param",
        ),
        (
            "rvt-namespace=default&rvt-method=getOrCreate".into(),
            "query_missing_pool",
        ),
        (
            "rvt-namespace=default&rvt-method=get&rvt-runner=default".into(),
            "query_get_disallowed_params",
        ),
        (format!("{QUERY}&rvt-surprise=1"), "query_invalid_params"),
        (
            format!("{QUERY}&rvt-key=%zz"),
            "query_invalid_percent_encoding",
        ),
    ];
    for encoding in ENCODINGS {
        for (query, code) in &cases {
            let path = format!("/gateway/counter/action/increment?{query}");
            let (status, body) =
                post(&server, &path, encoding, args(encoding, json!([1]), 4)).await;
            assert_eq!(status, 400, "{encoding:?} {query}");
            let error = ErrorBody::decode_http(&body, encoding)
                .unwrap_or_else(|e| panic!("{encoding:?} {query}: {e}"));
            assert_eq!(
                (error.group.as_str(), error.code.as_str()),
                ("guard", *code),
                "{query}"
            );
        }
    }
    let (status, body) = post(
        &server,
        &format!("/gateway/a@t/connect?{QUERY}"),
        Encoding::Json,
        vec![],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        ErrorBody::decode_http(&body, Encoding::Json).unwrap().code,
        "query_path_token_syntax"
    );
    assert_healthy(&server).await;
}

#[tokio::test]
async fn a_malformed_query_refuses_a_websocket_with_a_close_reason() {
    let server = Server::start().await;
    let path = "/gateway/counter/connect?rvt-namespace=default&rvt-method=nope";
    let mut socket = server.websocket(path, Encoding::Json, &[]).await;
    let (code, reason) = expect_close(&mut socket).await;
    assert_eq!(
        (code, reason.as_str()),
        (1011, "guard.query_invalid_params")
    );
    let path = "/gateway/counter/connect?rvt-namespace=default&rvt-method=get&rvt-key=nobody";
    let mut socket = server.websocket(path, Encoding::Bare, &[]).await;
    let (code, reason) = expect_close(&mut socket).await;
    assert_eq!((code, reason.as_str()), (1011, "actor.not_found"));
    assert_healthy(&server).await;
}

#[tokio::test]
async fn bare_v4_errors_name_the_actor_and_v3_stays_as_it_was() {
    let server = Server::start().await;
    let path = format!("/gateway/counter/action/noSuchAction?{QUERY}&rvt-key=v4");
    let (status, body) = post(
        &server,
        &path,
        Encoding::Bare,
        args(Encoding::Bare, json!([]), 4),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(&body[..2], &[4, 0], "answered in the request's version");
    let error = ErrorBody::decode_http(&body, Encoding::Bare).unwrap();
    assert_eq!(error.code, "not_found");
    let actor = error.actor.expect("v4 names the actor");
    assert_eq!(actor.actor_id, server.get_or_create("counter", "v4").await);
    assert_eq!(actor.key.as_deref(), Some("v4"));

    let id = server.get_or_create("counter", "v4").await;
    let (status, body) = post(
        &server,
        &format!("/gateway/{id}/action/noSuchAction"),
        Encoding::Bare,
        args(Encoding::Bare, json!([]), 3),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(&body[..2], &[3, 0]);
    let v3 = ErrorBody::decode_http(&body, Encoding::Bare).unwrap();
    assert_eq!((v3.code.as_str(), v3.actor), ("not_found", None));
}

#[tokio::test]
async fn a_gateway_path_wins_over_routing_headers() {
    let server = Server::start().await;
    let id = server.get_or_create("counter", "headers").await;
    // What the official Rust client sends: the path and the headers, both naming the actor.
    let response = server
        .http()
        .post(server.url(&format!("/gateway/{id}/action/increment")))
        .header("x-rivet-encoding", "json")
        .header("x-rivet-target", "actor")
        .header("x-rivet-actor", &id)
        .body(r#"{"args":[1]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(
        HttpActionResponse::decode(&body, Encoding::Json)
            .unwrap()
            .output,
        json!(1)
    );
    // Headers alone still route (the engine's form).
    let response = server
        .http()
        .post(server.url("/action/increment"))
        .header("x-rivet-encoding", "json")
        .header("x-rivet-target", "actor")
        .header("x-rivet-actor", &id)
        .body(r#"{"args":[1]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn devtools_script_is_a_plain_404_script_with_cors() {
    // 2.3 browser clients on a localhost page add `<script src="{endpoint}/devtools/mod.js">`.
    let server = Server::start().await;
    let response = server
        .http()
        .get(server.url("/devtools/mod.js"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let headers = response.headers();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:5173"
    );
}

#[tokio::test]
async fn a_refused_23_connection_gets_an_error_message_then_the_close() {
    let server = Server::start().await;
    let params = "rivet_conn_params.%7B%22authToken%22%3A%22%22%7D";
    for encoding in ENCODINGS {
        let path = format!("/gateway/chatRoom/connect?{QUERY}&rvt-key=org,refused");
        let socket = server.websocket(&path, encoding, &[params]).await;
        let mut conn = support::Conn { socket, encoding };
        match conn.recv().await {
            ToClient::Error { error, action_id } => {
                assert_eq!(
                    (error.group.as_str(), error.code.as_str()),
                    ("user", "forbidden")
                );
                assert_eq!(action_id, None);
            }
            other => panic!("{encoding:?}: expected the refusal, got {other:?}"),
        }
        let (code, reason) = expect_close(&mut conn.socket).await;
        assert_eq!((code, reason.as_str()), (1011, "user.forbidden"));
    }
    // Clients of the id form (2.0 and 2.1) get the close alone, as from the 2.1 server.
    let id = server.get_or_create("chatRoom", "org/refused").await;
    let mut socket = server
        .websocket(&format!("/gateway/{id}/connect"), Encoding::Json, &[params])
        .await;
    let (code, reason) = expect_close(&mut socket).await;
    assert_eq!((code, reason.as_str()), (1011, "user.forbidden"));
}

#[tokio::test]
async fn connection_action_ids_may_be_plain_integers() {
    use futures::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let server = Server::start().await;
    let path = format!("/gateway/counter/connect?{QUERY}&rvt-key=plain-ids");
    let socket = server.websocket(&path, Encoding::Json, &[]).await;
    let mut conn = support::Conn {
        socket,
        encoding: Encoding::Json,
    };
    assert!(matches!(conn.recv().await, ToClient::Init { .. }));
    // What the official Rust client writes: `id` as a JSON number.
    let request =
        r#"{"body":{"tag":"ActionRequest","val":{"args":[3],"id":7,"name":"increment"}}}"#;
    conn.socket
        .send(Message::Text(request.into()))
        .await
        .unwrap();
    loop {
        match conn.recv().await {
            ToClient::ActionResponse { id, output } => {
                assert_eq!((id, output), (7, json!(3)));
                break;
            }
            ToClient::Event { .. } => continue,
            other => panic!("expected the action's response, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn json_and_cbor_errors_name_the_actor_only_for_query_clients() {
    let server = Server::start().await;
    let id = server.get_or_create("counter", "named").await;
    for encoding in [Encoding::Json, Encoding::Cbor] {
        let path = format!("/gateway/counter/action/noSuchAction?{QUERY}&rvt-key=named");
        let (status, body) = post(&server, &path, encoding, args(encoding, json!([]), 4)).await;
        assert_eq!(status, 400);
        let error = ErrorBody::decode_http(&body, encoding).unwrap();
        let actor = error
            .actor
            .expect("a 2.3 client is told which actor answered");
        assert_eq!(
            (actor.actor_id.as_str(), actor.key.as_deref()),
            (id.as_str(), Some("named"))
        );
        // The same error by id (clients up to 2.2) has no `actor` member at all.
        let path = format!("/gateway/{id}/action/noSuchAction");
        let (_, body) = post(&server, &path, encoding, args(encoding, json!([]), 2)).await;
        assert_eq!(ErrorBody::decode_http(&body, encoding).unwrap().actor, None);
        if encoding == Encoding::Json {
            assert!(!String::from_utf8_lossy(&body).contains("actor\""));
        }
    }
}

#[tokio::test]
async fn the_official_rust_client_3x_escapes_key_parts() {
    let server = Server::start().await;
    let call = |key: &'static str, agent: &'static str| {
        let server = &server;
        async move {
            let path = format!("/gateway/chatRoom/action/getRoomInfo?{QUERY}&rvt-key={key}");
            let response = server
                .http()
                .post(server.url(&path))
                .header("x-rivet-encoding", "json")
                .header("user-agent", agent)
                .body(r#"{"args":[]}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body = response.bytes().await.unwrap();
            HttpActionResponse::decode(&body, Encoding::Json)
                .unwrap()
                .output
        }
    };
    // ["a,b", "c"] as 3.0.0 writes it: `a\,b,c`.
    let escaped = call("a%5C%2Cb%2Cc", "ActorClient-Rust/3.0.0").await;
    assert_eq!(escaped, json!({"org": "a,b", "room": "c"}));
    // The same bytes from any other client: split on every comma, as the 2.3 engine does.
    let plain = call("a%5C%2Cb%2Cc", "node").await;
    assert_eq!(plain, json!({"org": "a\\", "room": "b"}));
}
