//! The manager API (PROTOCOL.md §2.4, §3): metadata, health, and finding or creating actors.
//!
//! Every answer and every error here is JSON. Namespaces scope keys; any namespace name is
//! accepted (`default` always exists), as with the official development manager. The server
//! token is checked by a route layer ([`crate::auth::require_server_token`]) on the routes
//! that need it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use rivetkit_protocol::{cbor, key};
use rivetkit_runtime::ActorError;
use rivetkit_storage::ActorRecord;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{DecodedPath, DecodedQuery};
use crate::reply::{invalid_request, ApiError};
use crate::AppState;

/// The most ids one `GET /actors?actor_ids=` may ask for, as in the official manager.
const MAX_ACTOR_IDS: usize = 32;
/// The most actors one `GET /actors?name=` lists.
const MAX_LISTED: usize = 1000;

type JsonResult = Result<Json<Value>, ApiError>;

fn namespace(query: &DecodedQuery) -> &str {
    query.get("namespace").unwrap_or("default")
}

/// The actor object of the manager API.
fn actor_json(record: &ActorRecord) -> Value {
    json!({
        "actor_id": record.actor_id,
        "name": record.name,
        "key": record.key,
        "namespace_id": record.namespace,
        "runner_name_selector": "default",
        "create_ts": record.create_ts,
        "start_ts": record.create_ts,
        "connectable_ts": record.create_ts,
        "sleep_ts": null,
        "destroy_ts": null,
        "error": null,
    })
}

pub async fn root() -> &'static str {
    "This is a RivetKit server (rivetkit-rs).\n\nLearn more at https://rivet.dev\n"
}

/// `GET /devtools/…`: 2.3 browser clients on a localhost page load `{endpoint}/devtools/mod.js`
/// as a script. This server ships no devtools, so it says so with a 404 whose body is a script:
/// a JSON body would be blocked by the browser's opaque-response blocking (ORB) and logged as
/// an error instead of a plain missing resource.
pub async fn devtools() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/javascript; charset=utf-8",
        )],
        "// rivetkit-rs serves no devtools.\n",
    )
        .into_response()
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "runtime": "rivetkit", "version": env!("CARGO_PKG_VERSION")}))
}

fn actor_names(state: &AppState) -> Value {
    state
        .runtime
        .registry()
        .names()
        .map(|name| (name.to_owned(), json!({"metadata": {}})))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Open even when a token is required: the official clients retry this lookup forever, so
/// refusing it would hang a client with a wrong token instead of failing its first real call.
/// It tells only the registered actor names.
pub async fn metadata(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "runtime": "rivetkit",
        "version": env!("CARGO_PKG_VERSION"),
        "runner": {"kind": {"normal": {}}, "version": 1},
        "actorNames": actor_names(&state),
    }))
}

pub async fn names(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "names": actor_names(&state) }))
}

/// `GET /actors`: by `actor_ids`, by `name` + `key`, or all of one `name`.
pub async fn list(State(state): State<AppState>, query: DecodedQuery) -> JsonResult {
    let namespace = namespace(&query);
    let runtime = &state.runtime;
    let records: Vec<ActorRecord> =
        match (query.get("actor_ids"), query.get("name"), query.get("key")) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(invalid_request("actor_ids cannot be combined with name or key").into())
            }
            (None, None, Some(_)) => return Err(invalid_request("key requires name").into()),
            (None, None, None) => {
                return Err(invalid_request("give actor_ids, or name (and key)").into())
            }
            (Some(ids), None, None) => {
                let ids: Vec<&str> = ids
                    .split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .collect();
                if ids.len() > MAX_ACTOR_IDS {
                    return Err(
                        invalid_request(format!("at most {MAX_ACTOR_IDS} actor_ids")).into(),
                    );
                }
                let mut found = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(record) = runtime.find_by_id(id).await? {
                        if record.namespace == namespace {
                            found.push((*record).clone());
                        }
                    }
                }
                found
            }
            (None, Some(name), Some(key)) => runtime
                .find_by_key(namespace, name, key)
                .await?
                .map(|record| (*record).clone())
                .into_iter()
                .collect(),
            (None, Some(name), None) => runtime.list_by_name(namespace, name, MAX_LISTED).await?,
        };
    let actors: Vec<Value> = records.iter().map(actor_json).collect();
    Ok(Json(json!({ "actors": actors })))
}

/// Body of `PUT /actors` and `POST /actors`; unknown fields (`crash_policy`, `datacenter`, …)
/// are accepted and ignored.
#[derive(Deserialize)]
pub struct CreateBody {
    name: String,
    key: Option<String>,
    input: Option<String>,
}

impl CreateBody {
    /// The key, normalized so that every spelling of one key array maps to one actor.
    fn key(&self) -> String {
        key::serialize_key(&key::parse_key(self.key.as_deref().unwrap_or("/")))
    }

    /// The input as CBOR bytes, checked to decode.
    fn input(&self) -> Result<Option<Vec<u8>>, ActorError> {
        let Some(encoded) = &self.input else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|error| invalid_request(format!("input is not base64: {error}")))?;
        cbor::decode(&bytes)
            .map_err(|error| invalid_request(format!("input is not CBOR: {error}")))?;
        Ok(Some(bytes))
    }
}

/// Largest `PUT /actors` / `POST /actors` body (axum's default limit for a buffered body).
const MAX_CREATE_BODY: usize = 2 * 1024 * 1024;

async fn parse_body(body: axum::body::Body) -> Result<CreateBody, ActorError> {
    let body = crate::body::read(body, MAX_CREATE_BODY)
        .await
        .map_err(|error| match error {
            crate::body::BodyError::TimedOut(error) => error,
            crate::body::BodyError::TooLarge => invalid_request(format!(
                "the request body is larger than {MAX_CREATE_BODY} bytes"
            ))
            .with_status(413),
        })?;
    serde_json::from_slice(&body).map_err(|error| invalid_request(format!("invalid body: {error}")))
}

/// `PUT /actors`: get or create.
pub async fn get_or_create(
    State(state): State<AppState>,
    query: DecodedQuery,
    body: axum::body::Body,
) -> JsonResult {
    let body = parse_body(body).await?;
    let key = body.key();
    let namespace = namespace(&query);
    let (record, created) = match state
        .runtime
        .find_by_key(namespace, &body.name, &key)
        .await?
    {
        Some(record) => (record, false),
        None => {
            let input = body.input()?;
            state
                .runtime
                .insert_if_absent(namespace, &body.name, &key, input)
                .await?
        }
    };
    Ok(Json(
        json!({ "actor": actor_json(&record), "created": created }),
    ))
}

/// `POST /actors`: create, failing on a taken key.
pub async fn create(
    State(state): State<AppState>,
    query: DecodedQuery,
    body: axum::body::Body,
) -> JsonResult {
    let body = parse_body(body).await?;
    let input = body.input()?;
    let record = state
        .runtime
        .create(namespace(&query), &body.name, &body.key(), input)
        .await?;
    Ok(Json(json!({ "actor": actor_json(&record) })))
}

/// The `{actor_id}` of `/actors/{actor_id}`.
#[derive(Deserialize)]
pub struct ActorIdParam {
    actor_id: String,
}

/// `DELETE /actors/{id}`: destroys the actor (its `on_destroy` runs first) and answers `{}`.
pub async fn destroy(
    State(state): State<AppState>,
    DecodedPath(ActorIdParam { actor_id }): DecodedPath<ActorIdParam>,
    query: DecodedQuery,
) -> JsonResult {
    let record = state.runtime.find_by_id(&actor_id).await?;
    if record.is_none_or(|record| record.namespace != namespace(&query)) {
        return Err(ActorError::actor_not_found(&actor_id).into());
    }
    state.runtime.destroy(&actor_id).await?;
    Ok(Json(json!({})))
}
