//! "Calling from Backend": an HTTP route that calls an actor. `POST /increment/{name}`
//! increments the counter `name` and answers `{"count": n}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use rivetkit_rs::client::{Client, Error};
use seed::{Counter, CounterActions};
use serde_json::{json, Value};

/// The app; `client` is shared by every request (it is a cheap handle to one HTTP pool).
pub fn app(client: Client) -> Router {
    Router::new()
        .route("/increment/{name}", post(increment))
        .with_state(client)
}

async fn increment(
    State(client): State<Client>,
    Path(name): Path<String>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let counter = client.get_or_create::<Counter>([name]);
    let count = counter.increment(1.0).await.map_err(error_response)?;
    Ok(Json(json!({ "count": count })))
}

/// Actor errors are the caller's business (400 with the error); anything else means the
/// actor could not be reached (502).
fn error_response(error: Error) -> (StatusCode, Json<Value>) {
    match error {
        Error::Actor(error) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "group": error.group, "code": error.code, "message": error.message })),
        ),
        other => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": other.to_string() })),
        ),
    }
}
