//! The inspector page and the API it uses: `/ui` (disabled without an inspector token),
//! `/inspector/actors` (search), `/gateway/{id}/inspector/events` (server-sent events), and the
//! token every call needs.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{free_port, Server};

const INSPECTOR_TOKEN: &str = "inspector-secret";
/// A bound on waiting for a stream to show something, so that a broken server fails the test
/// instead of hanging it.
const HANG_GUARD: Duration = Duration::from_secs(20);

async fn start(inspector: bool) -> (Server, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let args: &[&str] = if inspector {
        &["--inspector-token", INSPECTOR_TOKEN]
    } else {
        &[]
    };
    let server = Server::start_with_args(data.path(), free_port(), None, args).await;
    (server, data)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_says_when_the_inspector_is_disabled() {
    let (server, _data) = start(true).await;
    let http = server.http();
    for (path, content_type) in [
        ("/ui", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], content_type, "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.starts_with("default-src 'self';"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
    }
    let page = http
        .get(server.url("/ui"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Everything comes from this server: no other origin, no inline script or handler.
    assert!(!page.contains("http://") && !page.contains("https://"));
    for inline in [
        "<script>",
        "<style",
        " style=",
        " onclick=",
        " onsubmit=",
        " onload=",
    ] {
        assert!(!page.contains(inline), "{inline}");
    }
    assert!(page.contains(r#"<script src="ui/app.js" defer></script>"#));

    let (disabled, _data) = start(false).await;
    let response = disabled
        .http()
        .get(disabled.url("/ui"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Inspector disabled"));
    let response = disabled
        .http()
        .get(disabled.url("/inspector/actors"))
        .header("authorization", bearer(INSPECTOR_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "disabled");
}

#[tokio::test]
async fn the_inspector_api_refuses_calls_without_the_token() {
    let (server, _data) = start(true).await;
    let id = server.get_or_create("counter", "refused").await;
    let http = server.http();
    for path in [
        "/inspector/actors?search=counter".to_owned(),
        format!("/gateway/{id}/inspector/events"),
        format!("/gateway/{id}/inspector/schedules"),
        format!("/gateway/{id}/inspector/errors"),
    ] {
        for authorization in [
            None,
            Some(bearer("wrong")),
            Some(INSPECTOR_TOKEN.to_owned()),
        ] {
            let mut request = http.get(server.url(&path));
            if let Some(authorization) = &authorization {
                request = request.header("authorization", authorization);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{path} with {authorization:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["group"], "inspector", "{path}");
            assert_eq!(body["code"], "unauthorized", "{path}");
        }
    }
}

#[tokio::test]
async fn the_search_finds_actors_by_name_and_key() {
    let (server, _data) = start(true).await;
    let counter = server.get_or_create("counter", "alpha-counter").await;
    let room = server.get_or_create("chatRoom", "beta-room").await;
    let search = |text: &'static str| {
        let request = server
            .http()
            .get(server.url("/inspector/actors"))
            .query(&[("search", text)])
            .header("authorization", bearer(INSPECTOR_TOKEN));
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            let mut ids: Vec<String> = body["actors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|actor| actor["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(search("COUNTER").await, vec![counter.clone()]);
    assert_eq!(search("beta").await, vec![room.clone()]);
    let mut both = vec![counter, room];
    both.sort();
    assert_eq!(search("").await, both);
    assert!(search("nothing-like-this").await.is_empty());
}

/// Reads the stream until its text contains every one of `wanted`; returns the text read.
async fn read_until(response: &mut reqwest::Response, text: &mut String, wanted: &[&str]) {
    let read = async {
        while !wanted.iter().all(|part| text.contains(part)) {
            let chunk = response.chunk().await.unwrap().expect("the stream ended");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    if tokio::time::timeout(HANG_GUARD, read).await.is_err() {
        panic!("the stream never showed {wanted:?}; it showed:\n{text}");
    }
}

#[tokio::test]
async fn the_event_stream_delivers_state_changes_events_connections_and_errors() {
    let (server, _data) = start(true).await;
    let id = server.get_or_create("counter", "watched").await;
    let mut events = server
        .http()
        .get(server.url(&format!("/gateway/{id}/inspector/events")))
        .header("authorization", bearer(INSPECTOR_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    // The whole picture first.
    read_until(
        &mut events,
        &mut text,
        &[
            "event: state\ndata: {\"count\":0.0}",
            "event: connections\ndata: []",
            "event: queue\n",
            "event: schedules\ndata: []",
            "event: errors\ndata: []",
        ],
    )
    .await;

    let increment = |args: Value| {
        server
            .http()
            .post(server.url(&format!("/gateway/{id}/action/increment")))
            .json(&json!({ "args": args }))
            .send()
    };
    let response = increment(json!([5])).await.unwrap();
    assert_eq!(response.status(), 200);
    read_until(
        &mut events,
        &mut text,
        &[
            "event: state\ndata: {\"count\":5.0}",
            "event: broadcast\ndata: {\"at\":",
            "\"name\":\"count\",\"args\":[5]}",
        ],
    )
    .await;
    // A connection that stays open (the stateless call above was one only while it ran, too
    // briefly for the stream's snapshot to be sure to see it under load).
    let _connection = server
        .connect(&id, rivetkit_rs::protocol::Encoding::Json)
        .await;
    read_until(
        &mut events,
        &mut text,
        &["\"params\":null,\"state\":null,\"subscriptions\":[]}]"],
    )
    .await;

    let response = increment(json!(["not a number"])).await.unwrap();
    assert_eq!(response.status(), 400);
    read_until(
        &mut events,
        &mut text,
        &[
            "event: error\ndata: {\"at\":",
            "\"source\":\"action increment\"",
        ],
    )
    .await;
    let errors: Value = server
        .http()
        .get(server.url(&format!("/gateway/{id}/inspector/errors")))
        .header("authorization", bearer(INSPECTOR_TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(errors["errors"][0]["source"], "action increment");
}

#[tokio::test]
async fn the_event_stream_ends_with_stopped_when_the_actor_stops() {
    let (server, _data) = start(true).await;
    let id = server.get_or_create("counter", "destroyed").await;
    let mut events = server
        .http()
        .get(server.url(&format!("/gateway/{id}/inspector/events")))
        .header("authorization", bearer(INSPECTOR_TOKEN))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    read_until(&mut events, &mut text, &["event: errors\n"]).await;
    let response = server
        .http()
        .delete(server.url(&format!("/actors/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Nothing keeps the stream (or the actor) alive after that: it ends.
    let to_the_end = async {
        while let Some(chunk) = events.chunk().await.unwrap() {
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    if tokio::time::timeout(HANG_GUARD, to_the_end).await.is_err() {
        panic!("the stream did not end; it showed:\n{text}");
    }
    assert!(
        text.contains("event: stopped\ndata: {\"reason\":"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_percent_escapes_are_typed_400s() {
    let (server, _data) = start(true).await;
    let id = server.get_or_create("counter", "escapes").await;
    let http = server.http();
    let requests = [
        http.post(server.url(&format!("/gateway/{id}/inspector/action/%zz")))
            .json(&json!({ "args": [] })),
        http.get(server.url("/inspector/actors?search=%ff")),
        http.get(server.url(&format!("/gateway/{id}/inspector/queue?limit=%4"))),
    ];
    for request in requests {
        let request = request
            .header("authorization", bearer(INSPECTOR_TOKEN))
            .build()
            .unwrap();
        let url = request.url().to_string();
        let response = http.execute(request).await.unwrap();
        assert_eq!(response.status(), 400, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["group"], "request", "{url}");
        assert_eq!(body["code"], "invalid_percent_encoding", "{url}");
    }
    // Without the token, the token is what is wrong.
    let response = http
        .get(server.url("/inspector/actors?search=%ff"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
