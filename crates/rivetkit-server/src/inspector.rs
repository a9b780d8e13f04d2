//! The inspector API behind the gateway (`/gateway/{id}/inspector/...`): read and replace an
//! actor's state, list its connections and actions, call an action, look at its queue,
//! schedules and recent errors, and watch all of these change (`/events`, server-sent events).
//! `/inspector/actors` lists and searches the actors of this server.
//!
//! Enabled only when the server has an inspector token; every request must carry it as
//! `Authorization: Bearer {token}` (401 otherwise), which a layer checks before any route
//! ([`require_inspector_token`]). JSON in, JSON out.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use rivetkit_protocol::key;
use rivetkit_runtime::inspect::Change;
use rivetkit_runtime::{
    ActorError, ActorInspector, ActorInstance, AwakeInstance, DEFAULT_NAMESPACE,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::extract::{DecodedPath, DecodedQuery, NameParam};
use crate::gateway::Routed;
use crate::reply::{self, invalid_request, ApiError};
use crate::{target, AppState};

/// How many queued messages a queue listing shows unless asked otherwise.
const DEFAULT_QUEUE_LIMIT: usize = 100;
/// The largest inspector request body.
const MAX_BODY: usize = 1024 * 1024;
/// How many actors a search lists at most, and how many it reads per actor name.
const MAX_SEARCH_RESULTS: usize = 200;
const MAX_READ_PER_NAME: usize = 1000;

/// The inspector API of one actor, under `/gateway/{id}/inspector`.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/state", get(get_state).patch(put_state).put(put_state))
        .route("/connections", get(connections))
        .route("/rpcs", get(rpcs))
        .route("/action/{*name}", post(call_action))
        .route("/queue", get(queue))
        .route("/schedules", get(schedules))
        .route("/errors", get(errors))
        .route("/traces", get(traces))
        .route("/workflow-history", get(workflow_history))
        .route("/summary", get(summary))
        .route("/events", get(events))
        .method_not_allowed_fallback(reply::wrong_method)
        .fallback(reply::no_route)
        .layer(middleware::from_fn_with_state(
            state,
            require_inspector_token,
        ))
}

/// Layer of every inspector route: answers 404 `inspector/disabled` when the server has no
/// inspector token, 401 `inspector/unauthorized` when the request does not carry it.
pub async fn require_inspector_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    authorize(&state, request.headers())?;
    Ok(next.run(request).await)
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ActorError> {
    let Some(expected) = state.config.inspector_token.as_deref() else {
        return Err(ActorError::public(
            "inspector",
            "disabled",
            "The inspector is not enabled on this server",
        )
        .with_status(404));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(token) if crate::auth::constant_time_eq(token.as_bytes(), expected.as_bytes()) => {
            Ok(())
        }
        _ => Err(ActorError::public(
            "inspector",
            "unauthorized",
            "A valid inspector token is required",
        )
        .with_status(401)),
    }
}

/// The actor an inspector request is about, kept awake while the request is served.
struct Inspected {
    actor_id: String,
    active: AwakeInstance,
}

impl Inspected {
    fn actor(&self) -> Arc<dyn ActorInstance> {
        self.active.instance()
    }

    /// The inspector-only view of the actor.
    fn inspector(&self) -> Arc<dyn ActorInspector> {
        self.actor().inspector()
    }
}

impl FromRequestParts<AppState> for Inspected {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Routed { target, .. } = Routed::from_request_parts(parts, state).await?;
        let record = target::resolve(state, &target).await?;
        let active = state.runtime.instance(&record.actor_id).await?;
        Ok(Inspected {
            actor_id: record.actor_id.clone(),
            active,
        })
    }
}

type JsonResult = Result<Json<Value>, ApiError>;

#[derive(Deserialize)]
struct NewState {
    state: Value,
}

#[derive(Deserialize)]
struct ActionCall {
    #[serde(default)]
    args: Vec<Value>,
}

async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ActorError> {
    let bytes = crate::body::read(body, MAX_BODY)
        .await
        .map_err(|error| match error {
            crate::body::BodyError::TimedOut(error) => error,
            crate::body::BodyError::TooLarge => invalid_request("the request body is too large"),
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|error| invalid_request(format!("invalid JSON body: {error}")))
}

fn connections_json(actor: &dyn ActorInspector) -> Value {
    let connections: Vec<Value> = actor
        .connections()
        .into_iter()
        .map(|conn| {
            json!({
                "id": conn.id,
                "params": conn.params,
                "state": conn.state,
                "subscriptions": conn.subscriptions,
            })
        })
        .collect();
    Value::from(connections)
}

fn queue_json(actor: &dyn ActorInspector, limit: usize) -> Value {
    let queue = actor.queue_snapshot(limit);
    json!({
        "size": queue.size,
        "maxSize": queue.max_size,
        "truncated": queue.size > queue.messages.len(),
        "messages": queue.messages,
    })
}

async fn schedules_json(state: &AppState, actor_id: &str) -> Result<Value, ActorError> {
    let alarms = state.runtime.alarms_of(actor_id).await?;
    let schedules: Vec<Value> = alarms
        .into_iter()
        .map(|alarm| {
            json!({
                "id": alarm.alarm_id,
                "fireAt": alarm.fire_at,
                "action": alarm.action,
                // Stored by the runtime as a JSON list; shown as stored if that ever fails.
                "args": serde_json::from_slice::<Value>(&alarm.args)
                    .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&alarm.args))),
            })
        })
        .collect();
    Ok(Value::from(schedules))
}

fn errors_json(actor: &dyn ActorInstance) -> Value {
    json!(actor.inspect().recent_errors())
}

/// How many spans `/traces` answers unless asked otherwise (all an actor keeps).
const DEFAULT_TRACES_LIMIT: usize = rivetkit_runtime::inspect::RECENT_SPANS;

/// The actor's recent action spans as the official inspector answers `/traces` (rivetkit's
/// traces package, v2.3: `{ otlp, clamped }`, where `otlp` is an OTLP/JSON
/// `ExportTraceServiceRequest` with hex ids and nanosecond times as decimal strings, and
/// `clamped` tells that `limit` cut spans off). It takes the same query: `startMs` and `endMs`
/// (milliseconds since the epoch; a span is in when it overlaps them) and `limit`; unlike the
/// official one, which keeps the earliest, it keeps the most recent spans, as it keeps only
/// a few.
fn traces_json(actor: &dyn ActorInstance, query: &DecodedQuery) -> Value {
    let millis = |name| query.get(name).and_then(|value| value.parse::<u64>().ok());
    let start_ns = u128::from(millis("startMs").unwrap_or(0)) * 1_000_000;
    let end_ns = millis("endMs").map_or(u128::MAX, |end| u128::from(end) * 1_000_000);
    let limit = query
        .get("limit")
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(DEFAULT_TRACES_LIMIT);
    let unix_ns = |time: std::time::SystemTime| {
        time.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos())
    };
    let in_range: Vec<_> = actor
        .inspect()
        .recent_spans()
        .into_iter()
        .filter(|span| unix_ns(span.start) <= end_ns && unix_ns(span.end) >= start_ns)
        .collect();
    let clamped = in_range.len() > limit;
    let meta = actor.meta();
    let string = |key: &str, value: &str| json!({ "key": key, "value": { "stringValue": value } });
    let spans: Vec<Value> = in_range[in_range.len().saturating_sub(limit)..]
        .iter()
        .map(|span| {
            let mut otlp = json!({
                "traceId": hex::encode(span.trace_id),
                "spanId": hex::encode(span.span_id),
                "name": span.action,
                // SPAN_KIND_INTERNAL
                "kind": 1,
                "startTimeUnixNano": unix_ns(span.start).to_string(),
                "endTimeUnixNano": unix_ns(span.end).to_string(),
                "attributes": [
                    string("rivet.actor.name", &meta.name),
                    string("rivet.actor.id", &meta.actor_id),
                    string("rivet.actor.key", &key::serialize_key(&meta.key)),
                    string("rivet.action.name", &span.action),
                ],
                // STATUS_CODE_OK
                "status": { "code": 1 },
            });
            if let Some(parent) = span.parent_span_id {
                otlp["parentSpanId"] = json!(hex::encode(parent));
            }
            if let Some((code, message)) = &span.error {
                // STATUS_CODE_ERROR
                otlp["status"] = json!({ "code": 2, "message": format!("{code}: {message}") });
            }
            otlp
        })
        .collect();
    json!({
        "otlp": {
            "resourceSpans": [{
                "resource": { "attributes": [string("service.name", "rivetkit")] },
                "scopeSpans": [{ "scope": { "name": "rivetkit" }, "spans": spans }],
            }],
        },
        "clamped": clamped,
    })
}

/// `GET /state`
async fn get_state(inspected: Inspected) -> JsonResult {
    Ok(Json(
        json!({ "state": inspected.inspector().state_json()? }),
    ))
}

/// `PATCH /state` and `PUT /state`: replaces the state.
async fn put_state(inspected: Inspected, body: Body) -> JsonResult {
    let NewState { state } = json_body(body).await?;
    inspected.inspector().replace_state(state).await?;
    Ok(Json(json!({ "ok": true })))
}

/// `GET /connections`
async fn connections(inspected: Inspected) -> Json<Value> {
    Json(json!({ "connections": connections_json(inspected.inspector().as_ref()) }))
}

/// `GET /rpcs`: the actor's action names.
async fn rpcs(inspected: Inspected) -> Json<Value> {
    Json(json!({ "rpcs": inspected.inspector().action_names() }))
}

/// `POST /action/{name}`: calls an action with the JSON `args` of the body.
async fn call_action(
    inspected: Inspected,
    DecodedPath(NameParam { name }): DecodedPath<NameParam<String>>,
    body: Body,
) -> JsonResult {
    let ActionCall { args } = json_body(body).await?;
    let output = inspected
        .actor()
        .call_stateless(Value::Null, None, name, args)
        .await?;
    Ok(Json(json!({ "output": output })))
}

/// `GET /queue?limit=N`
async fn queue(inspected: Inspected, query: DecodedQuery) -> Json<Value> {
    let limit = query
        .get("limit")
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(DEFAULT_QUEUE_LIMIT);
    Json(queue_json(inspected.inspector().as_ref(), limit))
}

/// `GET /schedules`
async fn schedules(State(state): State<AppState>, inspected: Inspected) -> JsonResult {
    let schedules = schedules_json(&state, &inspected.actor_id).await?;
    Ok(Json(json!({ "schedules": schedules })))
}

/// `GET /errors`
async fn errors(inspected: Inspected) -> Json<Value> {
    Json(json!({ "errors": errors_json(inspected.actor().as_ref()) }))
}

/// `GET /traces?startMs=…&endMs=…&limit=…`
async fn traces(inspected: Inspected, query: DecodedQuery) -> Json<Value> {
    Json(traces_json(inspected.actor().as_ref(), &query))
}

/// `GET /workflow-history`: actors here run no workflows (the actor is still looked up, so an
/// unknown one is a 404 as on every other route).
async fn workflow_history(_inspected: Inspected) -> Json<Value> {
    Json(json!({ "history": null, "isWorkflowEnabled": false }))
}

/// `GET /summary`: everything the inspector page shows first, in one answer.
async fn summary(State(state): State<AppState>, inspected: Inspected) -> JsonResult {
    let actor = inspected.actor();
    let inspector = inspected.inspector();
    Ok(Json(json!({
        "state": inspector.state_json()?,
        "connections": connections_json(inspector.as_ref()),
        "rpcs": inspector.action_names(),
        "queueSize": inspector.queue_snapshot(0).size,
        "queue": queue_json(inspector.as_ref(), DEFAULT_QUEUE_LIMIT),
        "schedules": schedules_json(&state, &inspected.actor_id).await?,
        "errors": errors_json(actor.as_ref()),
        "isStateEnabled": true,
        "isDatabaseEnabled": false,
        "isWorkflowEnabled": false,
        "workflowHistory": null,
    })))
}

/// What a watcher still has to send: the parts that changed since it last sent them.
#[derive(Default)]
struct Dirty {
    state: bool,
    connections: bool,
    queue: bool,
    schedules: bool,
}

impl Dirty {
    fn everything() -> Self {
        Self {
            state: true,
            connections: true,
            queue: true,
            schedules: true,
        }
    }

    fn any(&self) -> bool {
        self.state || self.connections || self.queue || self.schedules
    }
}

/// One actor's stream of server-sent events for the inspector page.
struct Watcher {
    state: AppState,
    actor_id: String,
    actor: Arc<dyn ActorInstance>,
    inspector: Arc<dyn ActorInspector>,
    changes: tokio::sync::broadcast::Receiver<Change>,
    dirty: Dirty,
    /// Events ready to send, oldest first.
    ready: std::collections::VecDeque<Event>,
    /// Set once the stream ends after what is ready.
    ending: bool,
}

fn sse(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

impl Watcher {
    /// Sends what is dirty, in a fixed order (events and errors were queued as they came).
    async fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        let actor = self.inspector.as_ref();
        if dirty.state {
            let state = actor
                .state_json()
                .unwrap_or_else(|error| json!({ "error": error.message() }));
            self.ready.push_back(sse("state", &state));
        }
        if dirty.connections {
            self.ready
                .push_back(sse("connections", &connections_json(actor)));
        }
        if dirty.queue {
            self.ready
                .push_back(sse("queue", &queue_json(actor, DEFAULT_QUEUE_LIMIT)));
        }
        if dirty.schedules {
            let schedules = schedules_json(&self.state, &self.actor_id)
                .await
                .unwrap_or_else(|error| json!({ "error": error.message() }));
            self.ready.push_back(sse("schedules", &schedules));
        }
    }

    fn take(&mut self, change: Change) {
        match change {
            Change::State => self.dirty.state = true,
            Change::Connections => self.dirty.connections = true,
            Change::Queue => self.dirty.queue = true,
            Change::Schedules => self.dirty.schedules = true,
            Change::Event(event) => self.ready.push_back(sse("broadcast", &json!(event))),
            Change::Error(error) => self.ready.push_back(sse("error", &json!(error))),
        }
    }

    /// Waits for the next change and takes it with every change already waiting behind it, so
    /// that a burst of changes is sent once. `false` when the stream must end.
    async fn next_changes(&mut self) -> bool {
        let activity = self.actor.activity().clone();
        let first = tokio::select! {
            change = self.changes.recv() => change,
            () = activity.aborted() => {
                self.ready.push_back(sse("stopped", &json!({ "reason": "the actor stopped (asleep or destroyed)" })));
                return false;
            }
            _ = self.state.draining.started() => return false,
        };
        let mut next = first;
        loop {
            match next {
                Ok(change) => self.take(change),
                Err(RecvError::Lagged(missed)) => {
                    // Dropped rather than let it hold anything back; the page starts over.
                    self.ready
                        .push_back(sse("lagged", &json!({ "missed": missed })));
                    return false;
                }
                Err(RecvError::Closed) => return false,
            }
            next = match self.changes.try_recv() {
                Ok(change) => Ok(change),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(missed)) => {
                    Err(RecvError::Lagged(missed))
                }
                Err(_) => return true,
            };
        }
    }
}

/// `GET /gateway/{id}/inspector/events`: server-sent events, first the whole picture (`state`,
/// `connections`, `queue`, `schedules`, `errors`), then each part again when it changes, every
/// `broadcast` event and every new `error`. It ends with `stopped` when the actor stops (it
/// does not keep the actor awake), with `lagged` when it fell too far behind, and when the
/// server shuts down.
async fn events(
    State(state): State<AppState>,
    inspected: Inspected,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let Inspected { actor_id, active } = inspected;
    let actor = active.instance();
    // Listening before the first picture is taken, so that no change falls in between.
    let changes = actor.inspect().subscribe();
    let mut watcher = Watcher {
        state,
        actor_id,
        inspector: actor.clone().inspector(),
        actor,
        changes,
        dirty: Dirty::everything(),
        ready: std::collections::VecDeque::new(),
        ending: false,
    };
    let errors = errors_json(watcher.actor.as_ref());
    watcher.flush().await;
    watcher.ready.push_back(sse("errors", &errors));
    drop(active);
    let stream = futures::stream::unfold(watcher, |mut watcher| async move {
        loop {
            if let Some(event) = watcher.ready.pop_front() {
                return Some((Ok(event), watcher));
            }
            if watcher.ending {
                return None;
            }
            watcher.ending = !watcher.next_changes().await;
            if watcher.dirty.any() {
                watcher.flush().await;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /inspector/actors?search=TEXT`: the actors of this server (default namespace) whose
/// name or key contains `search` (case-insensitive; all when empty), newest first, at most
/// [`MAX_SEARCH_RESULTS`].
pub async fn actors(State(state): State<AppState>, query: DecodedQuery) -> JsonResult {
    let needle = query
        .get("search")
        .map(|search| search.trim().to_lowercase())
        .unwrap_or_default();
    let mut found = Vec::new();
    let mut truncated = false;
    for name in state.runtime.registry().names() {
        let records = state
            .runtime
            .list_by_name(DEFAULT_NAMESPACE, name, MAX_READ_PER_NAME)
            .await?;
        truncated |= records.len() == MAX_READ_PER_NAME;
        for record in records {
            let key = key::parse_key(&record.key);
            let matches = needle.is_empty()
                || record.name.to_lowercase().contains(&needle)
                || key.iter().any(|part| part.to_lowercase().contains(&needle));
            if matches {
                found.push((record, key));
            }
        }
    }
    found.sort_by_key(|(record, _)| std::cmp::Reverse(record.create_ts));
    truncated |= found.len() > MAX_SEARCH_RESULTS;
    found.truncate(MAX_SEARCH_RESULTS);
    let actors: Vec<Value> = found
        .into_iter()
        .map(|(record, key)| {
            json!({
                "id": record.actor_id,
                "name": record.name,
                "key": key,
                "createTs": record.create_ts,
            })
        })
        .collect();
    Ok(Json(json!({ "actors": actors, "truncated": truncated })))
}
