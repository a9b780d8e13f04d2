//! raw-http and raw-http-request-properties: actors answering raw HTTP requests.

use std::collections::BTreeMap;

use bytes::Bytes;
use rivetkit_rs::prelude::*;
use serde_json::{json, Map, Value};

fn status(code: u16, body: &'static str) -> ActorResult<Response> {
    Ok(http::Response::builder()
        .status(code)
        .body(Bytes::from_static(body.as_bytes()))?)
}

fn json_status(code: u16, value: &Value) -> ActorResult<Response> {
    let mut response = json_response(value)?;
    *response.status_mut() = http::StatusCode::from_u16(code)?;
    Ok(response)
}

fn headers_json(request: &Request) -> Map<String, Value> {
    request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), Value::from(value.to_str().ok()?)))
        })
        .collect()
}

#[derive(Serialize, Deserialize, Default)]
struct Requests {
    #[serde(rename = "requestCount")]
    request_count: i64,
}

fn raw_http_actor() -> Actor<Requests> {
    actor::<Requests>("rawHttpActor").on_request(|c, request: Request| async move {
        let count = c.update(|s| {
            s.request_count += 1;
            s.request_count
        });
        match (request.method().as_str(), request.uri().path()) {
            (_, "/api/hello") => json_response(&json!({ "message": "Hello from actor!" })),
            ("POST", "/api/echo") => {
                let mut response = http::Response::builder().status(200);
                for (name, value) in request.headers() {
                    response = response.header(name, value);
                }
                Ok(response.body(request.body().clone())?)
            }
            (_, "/api/state") => json_response(&json!({ "requestCount": count })),
            (_, "/api/headers") => json_response(&headers_json(&request)),
            _ => status(404, "Not Found"),
        }
    })
}

fn user_name(id: &str) -> &'static str {
    if id == "1" {
        "Alice"
    } else {
        "Bob"
    }
}

/// `{ id, ...body }` for the user routes that take a JSON body.
fn user_with(id: i64, body: &[u8]) -> Value {
    let mut user = json!({ "id": id });
    if let (Some(user), Ok(Value::Object(fields))) =
        (user.as_object_mut(), serde_json::from_slice::<Value>(body))
    {
        user.extend(fields);
    }
    user
}

/// The routes the official fixture builds with the Hono router, by hand.
fn rest_actor() -> Actor<()> {
    actor::<()>("rawHttpHonoActor").on_request(|_c, request: Request| async move {
        let path = request.uri().path().to_owned();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let id = segments.get(1).copied().unwrap_or_default();
        let numeric_id = id.parse::<i64>().unwrap_or_default();
        match (request.method().as_str(), segments.as_slice()) {
            ("GET", []) => json_response(&json!({ "message": "Welcome to Hono actor!" })),
            ("GET", ["users"]) => {
                json_response(&json!([{ "id": 1, "name": "Alice" }, { "id": 2, "name": "Bob" }]))
            }
            ("GET", ["users", _]) => {
                json_response(&json!({ "id": numeric_id, "name": user_name(id) }))
            }
            ("POST", ["users"]) => json_status(201, &user_with(3, request.body())),
            ("PUT", ["users", _]) => json_response(&user_with(numeric_id, request.body())),
            ("DELETE", ["users", _]) => {
                json_response(&json!({ "message": format!("User {id} deleted") }))
            }
            _ => status(404, "Not Found"),
        }
    })
}

/// Everything `rawHttpRequestPropertiesActor` reports about a request.
fn request_properties(request: &Request) -> Value {
    let uri = request.uri();
    let query = uri.query().unwrap_or_default();
    let search_params: BTreeMap<String, String> = url_pairs(query).collect();
    let text =
        (!request.body().is_empty()).then(|| String::from_utf8_lossy(request.body()).into_owned());
    let is_json = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("application/json"));
    let body = match &text {
        Some(text) if is_json => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::from(text.as_str()))
        }
        Some(text) => Value::from(text.as_str()),
        None => Value::Null,
    };
    json!({
        "url": uri.to_string(),
        "pathname": uri.path(),
        "search": if query.is_empty() { String::new() } else { format!("?{query}") },
        "searchParams": search_params,
        "hash": "",
        "method": request.method().as_str(),
        "headers": headers_json(request),
        "body": body,
        "bodyText": text,
        "cache": null,
        "credentials": null,
        "mode": null,
        "redirect": null,
        "referrer": null,
    })
}

/// `application/x-www-form-urlencoded` pairs, decoded (`+` is a space).
fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |part: &str| {
                percent_encoding::percent_decode_str(&part.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(name), decode(value))
        })
}

fn properties_actor() -> Actor<()> {
    actor::<()>("rawHttpRequestPropertiesActor").on_request(|_c, request: Request| async move {
        match request.method().as_str() {
            "HEAD" => status(200, ""),
            "OPTIONS" => status(204, ""),
            _ => json_response(&request_properties(&request)),
        }
    })
}

pub fn register(registry: Registry) -> Registry {
    registry
        .register(raw_http_actor())
        .register(actor::<()>("rawHttpNoHandlerActor"))
        .register(actor::<()>("rawHttpVoidReturnActor").on_request(
            |_c, _request: Request| async move {
                Err::<Response, _>(
                    ActorError::public(
                        "handler",
                        "invalid_request_handler_response",
                        "onRequest handler must return a Response",
                    )
                    .with_status(500),
                )
            },
        ))
        .register(rest_actor())
        .register(properties_actor())
}
