//! The inspector API behind the gateway (`/gateway/{id}/inspector/...`): read and replace an
//! actor's state, list its connections and actions, call an action, look at its queue.
//!
//! Enabled only when the server has an inspector token; every request must carry it as
//! `Authorization: Bearer {token}` (401 otherwise). JSON in, JSON out.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rivetkit_runtime::{ActorError, ActorInstance};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::reply::{invalid_request, method_not_allowed, route_not_found};
use crate::AppState;

/// How many queued messages a queue listing shows unless asked otherwise.
const DEFAULT_QUEUE_LIMIT: usize = 100;
/// The largest inspector request body.
const MAX_BODY: usize = 1024 * 1024;

pub async fn handle(
    state: AppState,
    actor_id: String,
    inspector_path: &str,
    parts: Parts,
    body: Body,
) -> Response {
    match respond(&state, &actor_id, inspector_path, parts, body).await {
        Ok(value) => Json(value).into_response(),
        Err(error) => state.json_error(error).into_response(),
    }
}

fn authorize(state: &AppState, parts: &Parts) -> Result<(), ActorError> {
    let Some(expected) = state.config.inspector_token.as_deref() else {
        return Err(ActorError::public(
            "inspector",
            "disabled",
            "The inspector is not enabled on this server",
        )
        .with_status(404));
    };
    let presented = parts
        .headers
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

fn query_param<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn connections_json(actor: &dyn ActorInstance) -> Value {
    let connections: Vec<Value> = actor
        .connections()
        .into_iter()
        .map(|conn| json!({ "id": conn.id, "params": conn.params, "state": conn.state }))
        .collect();
    Value::from(connections)
}

async fn respond(
    state: &AppState,
    actor_id: &str,
    path: &str,
    parts: Parts,
    body: Body,
) -> Result<Value, ActorError> {
    authorize(state, &parts)?;
    let active = state.runtime.instance(actor_id).await?;
    let actor = active.instance();
    let method = parts.method.clone();
    match (method.clone(), path) {
        (Method::GET, "/state") => Ok(json!({ "state": actor.state_json()? })),
        (Method::PATCH | Method::PUT, "/state") => {
            let NewState { state: new_state } = json_body(body).await?;
            actor.replace_state(new_state).await?;
            Ok(json!({ "ok": true }))
        }
        (Method::GET, "/connections") => {
            Ok(json!({ "connections": connections_json(actor.as_ref()) }))
        }
        (Method::GET, "/rpcs") => Ok(json!({ "rpcs": actor.action_names() })),
        (Method::POST, action) if action.starts_with("/action/") => {
            let name = percent_encoding::percent_decode_str(&action["/action/".len()..])
                .decode_utf8()
                .map_err(|_| invalid_request("the action name is not valid UTF-8"))?
                .into_owned();
            let ActionCall { args } = json_body(body).await?;
            let output = actor.call_stateless(Value::Null, None, name, args).await?;
            Ok(json!({ "output": output }))
        }
        (Method::GET, "/queue") => {
            let limit = query_param(&parts, "limit")
                .and_then(|limit| limit.parse().ok())
                .unwrap_or(DEFAULT_QUEUE_LIMIT);
            let queue = actor.queue_snapshot(limit);
            Ok(json!({
                "size": queue.size,
                "maxSize": queue.max_size,
                "truncated": queue.size > queue.messages.len(),
                "messages": queue.messages,
            }))
        }
        // No spans are recorded yet: an empty OTLP export is the truthful answer.
        (Method::GET, "/traces") => {
            Ok(json!({ "otlp": { "resourceSpans": [] }, "clamped": false }))
        }
        (Method::GET, "/workflow-history") => {
            Ok(json!({ "history": null, "isWorkflowEnabled": false }))
        }
        (Method::GET, "/summary") => Ok(json!({
            "state": actor.state_json()?,
            "connections": connections_json(actor.as_ref()),
            "rpcs": actor.action_names(),
            "queueSize": actor.queue_snapshot(0).size,
            "isStateEnabled": true,
            "isDatabaseEnabled": false,
            "isWorkflowEnabled": false,
            "workflowHistory": null,
        })),
        (
            _,
            "/state" | "/connections" | "/rpcs" | "/queue" | "/traces" | "/workflow-history"
            | "/summary",
        ) => Err(method_not_allowed(&method, path)),
        _ => Err(route_not_found(path)),
    }
}
