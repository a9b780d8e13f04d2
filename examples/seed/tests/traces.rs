//! Traces (issue 12): with `OTEL_EXPORTER_OTLP_ENDPOINT` set, `seed-server` exports the span of
//! every request and action over OTLP/HTTP (protobuf), an action called by another actor's
//! action nests under it, and what is batched is sent when the server stops. The inspector's
//! `/traces` answers the recent action spans of one actor, in the official OTLP/JSON shape.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};
use support::{free_port, Server};

const INSPECTOR_TOKEN: &str = "inspector-secret";

/// A span as received, with its resource's service name.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<String> {
        string_attribute(&self.span.attributes, key)
    }
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(
            |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(value) => Some(value.clone()),
                AnyValue::IntValue(value) => Some(value.to_string()),
                _ => None,
            },
        )
}

/// An OTLP/HTTP trace receiver on a free loopback port: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`, as a collector takes it. Returns its base URL and what it got.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| async move {
            let request = ExportTraceServiceRequest::decode(body)
                .expect("the exporter sends a protobuf ExportTraceServiceRequest");
            let mut received = sink.lock().unwrap();
            for resource_spans in request.resource_spans {
                let service = resource_spans
                    .resource
                    .as_ref()
                    .and_then(|resource| string_attribute(&resource.attributes, "service.name"))
                    .unwrap_or_default();
                for scope_spans in resource_spans.scope_spans {
                    for span in scope_spans.spans {
                        received.push(Received {
                            service: service.clone(),
                            span,
                        });
                    }
                }
            }
            // An empty ExportTraceServiceResponse: everything accepted.
            ([("content-type", "application/x-protobuf")], Vec::new())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn call(server: &Server, actor_id: &str, action: &str, args: Value) -> Value {
    let response = server
        .http()
        .post(server.url(&format!("/gateway/{actor_id}/action/{action}")))
        .header("x-rivet-encoding", "json")
        .header("content-type", "application/json")
        .body(json!({ "args": args }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{action}");
    response.json::<Value>().await.unwrap()["output"].clone()
}

async fn traces(server: &Server, actor_id: &str, query: &str) -> Value {
    let response = server
        .http()
        .get(server.url(&format!("/gateway/{actor_id}/inspector/traces{query}")))
        .header("authorization", format!("Bearer {INSPECTOR_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The spans of a `/traces` answer.
fn spans_of(answer: &Value) -> Vec<Value> {
    let resource_spans = answer["otlp"]["resourceSpans"].as_array().unwrap();
    assert_eq!(resource_spans.len(), 1, "{answer}");
    resource_spans[0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap()
        .clone()
}

fn inspector_attribute(span: &Value, key: &str) -> Option<String> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|attribute| attribute["key"] == key)
        .and_then(|attribute| attribute["value"]["stringValue"].as_str())
        .map(str::to_owned)
}

#[tokio::test]
async fn an_action_calling_another_actor_is_exported_as_parent_and_child_and_flushed_on_stop() {
    let (endpoint, received) = receiver().await;
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Server::command(
        data.path(),
        port,
        None,
        &["--inspector-token", INSPECTOR_TOKEN],
    );
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME");
    let mut server = Server::spawn(command, data.path(), port, None).await;
    let caller = server.get_or_create("counter", "caller").await;
    let callee = server.get_or_create("counter", "callee").await;
    assert_eq!(
        call(&server, &caller, "incrementOther", json!([["callee"], 5])).await,
        5.0
    );

    // The inspector's view, while the server runs: each actor shows its own action only, with
    // the ids the exporter uses.
    let caller_spans = spans_of(&traces(&server, &caller, "").await);
    let callee_spans = spans_of(&traces(&server, &callee, "").await);
    assert_eq!(caller_spans.len(), 1, "{caller_spans:?}");
    assert_eq!(callee_spans.len(), 1, "{callee_spans:?}");
    assert_eq!(caller_spans[0]["name"], "incrementOther");
    assert_eq!(callee_spans[0]["name"], "increment");
    assert_eq!(callee_spans[0]["parentSpanId"], caller_spans[0]["spanId"]);
    assert_eq!(callee_spans[0]["traceId"], caller_spans[0]["traceId"]);

    // Batched until the graceful stop sends them.
    server.signal(libc::SIGTERM);
    assert!(server.exit_status().await.success());
    let received = received.lock().unwrap().clone();
    let by_name: HashMap<String, &Received> = received
        .iter()
        .map(|received| (received.span.name.clone(), received))
        .collect();
    let outer = by_name
        .get("incrementOther")
        .unwrap_or_else(|| panic!("no span of incrementOther among {received:#?}"));
    let inner = by_name
        .get("increment")
        .unwrap_or_else(|| panic!("no span of increment among {received:#?}"));
    let request = by_name
        .get("POST /gateway/{actor}/action/{name}")
        .unwrap_or_else(|| panic!("no span of the request among {received:#?}"));
    assert_eq!(outer.service, "seed-server");
    assert_eq!(
        outer.attribute("rivet.actor.name").as_deref(),
        Some("counter")
    );
    assert_eq!(outer.attribute("rivet.actor.id"), Some(caller.clone()));
    assert_eq!(
        outer.attribute("rivet.actor.key").as_deref(),
        Some("caller")
    );
    assert_eq!(
        outer.attribute("rivet.action.name").as_deref(),
        Some("incrementOther")
    );
    assert_eq!(inner.attribute("rivet.actor.id"), Some(callee.clone()));
    assert_eq!(
        inner.attribute("rivet.actor.key").as_deref(),
        Some("callee")
    );
    // request → incrementOther on the caller → increment on the callee, one trace.
    assert_eq!(outer.span.parent_span_id, request.span.span_id);
    assert_eq!(inner.span.parent_span_id, outer.span.span_id);
    assert_eq!(inner.span.trace_id, request.span.trace_id);
    assert_eq!(
        request.attribute("http.route").as_deref(),
        Some("/gateway/{actor}/action/{name}")
    );
    assert_eq!(
        hex(&outer.span.span_id),
        caller_spans[0]["spanId"].as_str().unwrap()
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn the_inspector_answers_the_recent_action_spans_of_that_actor_only() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with_args(
        data.path(),
        free_port(),
        None,
        &["--inspector-token", INSPECTOR_TOKEN],
    )
    .await;
    let watched = server.get_or_create("counter", "watched").await;
    let other = server.get_or_create("counter", "other").await;
    call(&server, &watched, "increment", json!([1])).await;
    call(&server, &other, "increment", json!([2])).await;
    call(&server, &watched, "getCount", json!([])).await;

    let answer = traces(&server, &watched, "").await;
    assert_eq!(answer["clamped"], false);
    let spans = spans_of(&answer);
    let names: Vec<&str> = spans
        .iter()
        .map(|span| span["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["increment", "getCount"]);
    for span in &spans {
        assert_eq!(
            inspector_attribute(span, "rivet.actor.id"),
            Some(watched.clone())
        );
        assert_eq!(
            inspector_attribute(span, "rivet.actor.key").as_deref(),
            Some("watched")
        );
        assert_eq!(span["traceId"].as_str().unwrap().len(), 32);
        assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
        let start: u128 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u128 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert!(start <= end);
        assert_eq!(span["status"]["code"], 1);
    }

    // The official query: a limit keeps the most recent and says it cut; a window before the
    // first call holds nothing.
    let limited = traces(&server, &watched, "?limit=1").await;
    assert_eq!(limited["clamped"], true);
    let limited = spans_of(&limited);
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0]["name"], "getCount");
    assert!(spans_of(&traces(&server, &watched, "?startMs=0&endMs=1").await).is_empty());

    // A failed action is kept with its error.
    let response = server
        .http()
        .post(server.url(&format!("/gateway/{watched}/action/increment")))
        .header("x-rivet-encoding", "json")
        .header("content-type", "application/json")
        .body(json!({ "args": ["not a number"] }).to_string())
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 200);
    let spans = spans_of(&traces(&server, &watched, "").await);
    let failed = spans.last().unwrap();
    assert_eq!(failed["name"], "increment");
    assert_eq!(failed["status"]["code"], 2, "{failed}");
}
