//! End-to-end tests of `seed-server` over real sockets, in every encoding: actions, events,
//! bad input of every kind (the server must answer with a typed error and keep serving),
//! tokens, and durability across SIGKILL.

mod support;

use rivetkit_rs::protocol::{
    Encoding, ErrorBody, HttpActionRequest, HttpActionResponse, ToClient, ToServer,
};
use serde_json::json;
use support::{expect_close, Server, ENCODINGS};

/// An action request body with no arguments, in JSON.
const NO_ARGS: &[u8] = br#"{"args":[]}"#;

fn increment_body(encoding: Encoding, by: i64) -> Vec<u8> {
    HttpActionRequest {
        args: vec![json!(by)],
    }
    .encode(encoding, 2)
}

async fn assert_healthy(server: &Server) {
    let id = server.get_or_create("counter", "health-check").await;
    let (status, _) = server
        .action_raw(&id, "getCount", Encoding::Json, NO_ARGS.to_vec())
        .await;
    assert_eq!(status, 200, "the server still serves");
}

/// The output of a JSON action call with no arguments.
async fn output_of(server: &Server, id: &str, action: &str) -> serde_json::Value {
    let (_, body) = server
        .action_raw(id, action, Encoding::Json, NO_ARGS.to_vec())
        .await;
    HttpActionResponse::decode(&body, Encoding::Json)
        .unwrap()
        .output
}

fn error_of(encoding: Encoding, body: &[u8]) -> ErrorBody {
    ErrorBody::decode_http(body, encoding).unwrap_or_else(|error| {
        panic!("error body does not decode in {encoding:?}: {error}: {body:?}")
    })
}

/// The error of a manager or gateway response answered in JSON.
async fn json_error_of(response: reqwest::Response) -> ErrorBody {
    error_of(Encoding::Json, &response.bytes().await.unwrap())
}

#[tokio::test]
async fn stateless_actions_in_every_encoding() {
    let server = Server::start().await;
    let id = server.get_or_create("counter", "stateless").await;
    let mut expected = 0;
    for encoding in ENCODINGS {
        expected += 5;
        let (status, body) = server
            .action_raw(&id, "increment", encoding, increment_body(encoding, 5))
            .await;
        assert_eq!(status, 200, "{encoding:?}");
        assert_eq!(
            HttpActionResponse::decode(&body, encoding).unwrap().output,
            json!(expected)
        );
    }
    // A 2.1.x client writes BARE v3 and must be answered in v3.
    let v3 = HttpActionRequest {
        args: vec![json!(1)],
    }
    .encode(Encoding::Bare, 3);
    let (_, body) = server
        .action_raw(&id, "increment", Encoding::Bare, v3)
        .await;
    assert_eq!(&body[..2], &[3, 0]);
}

#[tokio::test]
async fn connection_gets_init_events_and_responses_in_every_encoding() {
    let server = Server::start().await;
    for encoding in ENCODINGS {
        let id = server
            .get_or_create("counter", &format!("conn-{}", encoding.as_str()))
            .await;
        let mut conn = server.connect(&id, encoding).await;
        conn.send(ToServer::SubscriptionRequest {
            event_name: "count".into(),
            subscribe: true,
        })
        .await;
        conn.call(0, "increment", vec![json!(3)]).await;
        let mut got_event = false;
        let mut got_response = false;
        while !(got_event && got_response) {
            match conn.recv().await {
                ToClient::Event { name, args } => {
                    assert_eq!((name.as_str(), args), ("count", vec![json!(3)]));
                    got_event = true;
                }
                ToClient::ActionResponse { id, output } => {
                    assert_eq!((id, output), (0, json!(3)));
                    got_response = true;
                }
                other => panic!("{encoding:?}: unexpected {other:?}"),
            }
        }
        // Unknown actions fail the call, not the connection.
        conn.call(1, "nope", vec![]).await;
        match conn.recv().await {
            ToClient::Error { error, action_id } => {
                assert_eq!(
                    (error.group.as_str(), error.code.as_str(), action_id),
                    ("action", "not_found", Some(1))
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        conn.call(2, "getCount", vec![]).await;
        assert_eq!(
            conn.recv().await,
            ToClient::ActionResponse {
                id: 2,
                output: json!(3)
            }
        );
    }
}

#[tokio::test]
async fn malformed_http_bodies_get_typed_errors_in_the_request_encoding() {
    let server = Server::start().await;
    let id = server.get_or_create("counter", "malformed").await;
    let garbage: [(Encoding, &[u8]); 4] = [
        (Encoding::Json, b"{not json"),
        (Encoding::Cbor, &[0xff, 0x00, 0x13]),
        (Encoding::Bare, &[0x09, 0x00, 0x01]),
        (Encoding::Bare, &[0x02, 0x00, 0x05, 0x81]),
    ];
    for (encoding, body) in garbage {
        let (status, reply) = server
            .action_raw(&id, "increment", encoding, body.to_vec())
            .await;
        assert_eq!(status, 400, "{encoding:?}");
        let error = error_of(encoding, &reply);
        assert_eq!(
            (error.group.as_str(), error.code.as_str()),
            ("message", "malformed"),
            "{encoding:?}"
        );
    }
    assert_healthy(&server).await;
}

#[tokio::test]
async fn oversize_unknown_and_wrong_requests_get_typed_errors() {
    let server = Server::start().await;
    let id = server.get_or_create("counter", "bad").await;

    let huge = HttpActionRequest {
        args: vec![json!("x".repeat(70 * 1024))],
    }
    .encode(Encoding::Json, 2);
    let (status, reply) = server
        .action_raw(&id, "increment", Encoding::Json, huge)
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_of(Encoding::Json, &reply).code, "incoming_too_long");

    let (status, reply) = server
        .action_raw(
            "0000000000000000",
            "increment",
            Encoding::Cbor,
            increment_body(Encoding::Cbor, 1),
        )
        .await;
    assert_eq!(status, 400);
    let error = error_of(Encoding::Cbor, &reply);
    assert_eq!(
        (error.group.as_str(), error.code.as_str()),
        ("actor", "not_found")
    );

    let (status, reply) = server
        .action_raw(
            &id,
            "missing",
            Encoding::Bare,
            increment_body(Encoding::Bare, 1),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_of(Encoding::Bare, &reply).code, "not_found");

    let (status, reply) = server
        .action_raw(
            &id,
            "increment",
            Encoding::Json,
            br#"{"args":["five"]}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_of(Encoding::Json, &reply).code, "invalid_request");

    let http = server.http();
    let response = http
        .post(server.url(&format!("/gateway/{id}/action/increment")))
        .header("x-rivet-encoding", "yaml")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_error_of(response).await.group, "encoding");

    let response = http
        .get(server.url(&format!("/gateway/{id}/action/increment")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let response = http.patch(server.url("/actors")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(json_error_of(response).await.code, "method_not_allowed");

    // A key that is not a string, and an unregistered actor name.
    let put_actor = |body: serde_json::Value| {
        http.put(server.url("/actors?namespace=default"))
            .json(&body)
            .send()
    };
    let response = put_actor(json!({"name": "counter", "key": 5}))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_error_of(response).await.code, "invalid");
    let response = put_actor(json!({"name": "nobody", "key": "k"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_error_of(response).await.code, "not_found");

    assert_healthy(&server).await;
}

/// `%zz` (not an escape) and `%ff` (not UTF-8) are refused where `decodeURIComponent` throws,
/// with a typed 400, rather than taken as they are.
#[tokio::test]
async fn bad_percent_escapes_in_paths_and_queries_are_typed_400s() {
    let server = Server::start().await;
    let id = server.get_or_create("counter", "escapes").await;
    let http = server.http();
    for bad in ["%zz", "%ff", "a%2"] {
        let requests = [
            http.post(server.url(&format!("/gateway/{id}/action/{bad}"))),
            http.post(server.url(&format!("/gateway/{id}/queue/{bad}"))),
            http.get(server.url(&format!("/actors?name=counter&key={bad}"))),
            http.delete(server.url(&format!("/actors/{bad}"))),
        ];
        for request in requests {
            let request = request.body(NO_ARGS).build().unwrap();
            let url = request.url().to_string();
            let response = http.execute(request).await.unwrap();
            assert_eq!(response.status(), 400, "{url}");
            let error = json_error_of(response).await;
            assert_eq!(
                (error.group.as_str(), error.code.as_str()),
                ("request", "invalid_percent_encoding"),
                "{url}"
            );
        }
    }
    // Escapes that decode are decoded: `get%43ount` is `getCount`.
    assert_eq!(
        output_of(&server, &id, "getCount").await,
        output_of(&server, &id, "get%43ount").await
    );
    assert_healthy(&server).await;
}

#[tokio::test]
async fn malformed_and_oversize_frames_close_the_socket_with_a_reason() {
    let server = Server::start().await;
    let id = server.get_or_create("counter", "frames").await;
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    for encoding in ENCODINGS {
        for frame in [
            Message::Binary(vec![0xff, 0xfe, 0x01].into()),
            Message::Text("{\"body\":".into()),
        ] {
            let mut conn = server.connect(&id, encoding).await;
            conn.socket.send(frame).await.unwrap();
            assert_eq!(
                expect_close(&mut conn.socket).await,
                (1011, "message.malformed".to_owned()),
                "{encoding:?}"
            );
        }
        let mut conn = server.connect(&id, encoding).await;
        conn.call(0, "increment", vec![json!("y".repeat(70 * 1024))])
            .await;
        assert_eq!(
            expect_close(&mut conn.socket).await,
            (1011, "message.incoming_too_long".to_owned()),
            "{encoding:?}"
        );
    }
    assert_healthy(&server).await;
}

#[tokio::test]
async fn outgoing_messages_over_the_limit_are_refused() {
    let server = Server::start().await;
    let id = server.get_or_create("chatRoom", "big").await;
    let text = "z".repeat(60 * 1024);
    for _ in 0..18 {
        let body = HttpActionRequest {
            args: vec![json!(text)],
        }
        .encode(Encoding::Cbor, 2);
        let (status, _) = server
            .action_raw(&id, "sendMessage", Encoding::Cbor, body)
            .await;
        assert_eq!(status, 200);
    }
    let (status, reply) = server
        .action_raw(&id, "getHistory", Encoding::Json, NO_ARGS.to_vec())
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_of(Encoding::Json, &reply).code, "outgoing_too_long");
    assert_healthy(&server).await;
}

#[tokio::test]
async fn the_server_token_is_required_everywhere() {
    let server = Server::start_with_token("s3cr/t").await;
    let id = server.get_or_create("counter", "guarded").await;
    let bare = reqwest::Client::new();

    let response = bare.get(server.url("/metadata")).send().await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "metadata stays open: clients retry it forever"
    );
    let response = bare.get(server.url("/actors/names")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = bare
        .get(server.url("/actors?name=counter&namespace=default"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(json_error_of(response).await.code, "forbidden");

    let action = |path: String| bare.post(server.url(&path)).body(r#"{"args":[]}"#).send();
    assert_eq!(
        action(format!("/gateway/{id}/action/getCount"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        action(format!("/gateway/{id}@wrong/action/getCount"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        action(format!("/gateway/{id}@s3cr%2Ft/action/getCount"))
            .await
            .unwrap()
            .status(),
        200
    );

    let mut socket = server
        .websocket(&format!("/gateway/{id}/connect"), Encoding::Json, &[])
        .await;
    assert_eq!(
        expect_close(&mut socket).await,
        (1011, "auth.unauthorized".to_owned())
    );
    let mut conn = server
        .connect(&format!("{id}@s3cr%2Ft"), Encoding::Json)
        .await;
    conn.call(0, "getCount", vec![]).await;
    assert_eq!(
        conn.recv().await,
        ToClient::ActionResponse {
            id: 0,
            output: json!(0)
        }
    );
}

#[tokio::test]
async fn acknowledged_changes_survive_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path(), None).await;
    let counter = server.get_or_create("counter", "durable").await;
    let room = server.get_or_create("chatRoom", "durable").await;
    let mut conn = server.connect(&counter, Encoding::Bare).await;
    for i in 0..50u64 {
        conn.call(i, "increment", vec![json!(1)]).await;
    }
    let mut answered = 0;
    while answered < 50 {
        if let ToClient::ActionResponse { .. } = conn.recv().await {
            answered += 1;
        }
    }
    let (status, _) = server
        .action_raw(
            &room,
            "sendMessage",
            Encoding::Json,
            br#"{"args":["kept"]}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 200);
    server.kill();

    let server = Server::start_in(data.path(), None).await;
    assert_eq!(
        server.get_or_create("counter", "durable").await,
        counter,
        "the directory survives"
    );
    assert_eq!(output_of(&server, &counter, "getCount").await, json!(50));
    assert_eq!(
        output_of(&server, &room, "getHistory").await,
        json!(["kept"])
    );
}

#[tokio::test]
async fn cors_reflects_the_origin_for_browsers() {
    let server = Server::start().await;
    let http = reqwest::Client::new();
    let preflight = http
        .request(
            reqwest::Method::OPTIONS,
            server.url("/actors?namespace=default"),
        )
        .header("origin", "http://app.example")
        .header("access-control-request-method", "PUT")
        .header(
            "access-control-request-headers",
            "content-type,x-rivet-token",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "http://app.example");
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert_eq!(
        headers["access-control-allow-headers"],
        "content-type,x-rivet-token"
    );
    assert!(headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PUT"));

    let response = http
        .get(server.url("/metadata"))
        .header("origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let plain = http.get(server.url("/metadata")).send().await.unwrap();
    assert!(plain.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn header_routing_reaches_the_actor_like_the_gateway_path() {
    let server = Server::start().await;
    let id = server.get_or_create("counter", "by-header").await;
    let http = server.http();
    let call = |actor: Option<&str>| {
        let mut request = http
            .post(server.url("/action/increment"))
            .header("x-rivet-target", "actor")
            .header("x-rivet-encoding", "json")
            .body(r#"{"args":[2]}"#);
        if let Some(actor) = actor {
            request = request.header("x-rivet-actor", actor);
        }
        request.send()
    };
    let response = call(Some(&id)).await.unwrap();
    assert_eq!(response.status(), 200);
    let output =
        HttpActionResponse::decode(&response.bytes().await.unwrap(), Encoding::Json).unwrap();
    assert_eq!(output.output, json!(2));
    let response = call(None).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_error_of(response).await.code, "missing_actor_header");

    let target = format!("rivet_actor.{id}");
    let socket = server
        .websocket("/connect", Encoding::Json, &["rivet_target.actor", &target])
        .await;
    let mut conn = support::Conn {
        socket,
        encoding: Encoding::Json,
    };
    assert!(matches!(conn.recv().await, ToClient::Init { .. }));
    conn.call(0, "getCount", vec![]).await;
    assert_eq!(
        conn.recv().await,
        ToClient::ActionResponse {
            id: 0,
            output: json!(2)
        }
    );
}

#[tokio::test]
async fn delete_destroys_an_actor_and_frees_its_key() {
    let server = Server::start().await;
    let id = server.get_or_create("counter", "doomed").await;
    let (status, _) = server
        .action_raw(
            &id,
            "increment",
            Encoding::Json,
            increment_body(Encoding::Json, 3),
        )
        .await;
    assert_eq!(status, 200);
    let http = server.http();
    let response = http
        .delete(server.url(&format!("/actors/{id}?namespace=default")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, body) = server
        .action_raw(&id, "getCount", Encoding::Json, NO_ARGS.to_vec())
        .await;
    assert_eq!(
        (status, error_of(Encoding::Json, &body).code),
        (400, "not_found".to_owned())
    );
    let again = server.get_or_create("counter", "doomed").await;
    assert_ne!(again, id, "the key makes a new actor");
    assert_eq!(output_of(&server, &again, "getCount").await, json!(0));
    let response = http
        .delete(server.url(&format!("/actors/{id}?namespace=default")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "already gone");
}
