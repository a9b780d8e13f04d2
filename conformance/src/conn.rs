//! actor-conn and actor-handle: connection params and state, lifecycle hook order, payload
//! limits over a connection.

use rivetkit_rs::prelude::*;
use serde_json::{json, Value};

use crate::payload;

#[derive(Serialize, Deserialize, Default)]
struct WithParams {
    count: i64,
    initializers: Vec<String>,
}

#[derive(Deserialize)]
struct NameParams {
    name: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct NameState {
    name: String,
}

fn counter_with_params() -> Actor<WithParams> {
    actor::<WithParams>("counterWithParams")
        .create_conn_state(|_c, params: Option<NameParams>| async move {
            let name = params
                .and_then(|p| p.name)
                .unwrap_or_else(|| "anonymous".into());
            Ok(NameState { name })
        })
        .on_connect(|c| async move {
            let conn: NameState = c.conn_state()?;
            c.update(|s| s.initializers.push(conn.name));
            Ok(())
        })
        .action("increment", |c, (x,): (i64,)| async move {
            let by = c.conn_state::<NameState>()?.name;
            let count = c.update(|s| {
                s.count += x;
                s.count
            });
            c.broadcast("newCount", (json!({ "count": count, "by": by }),));
            Ok(count)
        })
        .action("getInitializers", |c, ()| async move {
            Ok(c.state(|s| s.initializers.clone()))
        })
}

#[derive(Serialize, Deserialize, Default)]
struct Lifecycle {
    count: i64,
    events: Vec<String>,
}

#[derive(Deserialize, Default)]
struct TrackParams {
    #[serde(rename = "trackLifecycle")]
    track_lifecycle: Option<bool>,
}

/// Whether the connection this context runs for asked to be tracked.
fn tracked<V: Send + Sync + 'static>(c: &Ctx<Lifecycle, V>) -> bool {
    c.conn_params::<TrackParams>()
        .ok()
        .flatten()
        .and_then(|p| p.track_lifecycle)
        .unwrap_or(false)
}

fn counter_with_lifecycle() -> Actor<Lifecycle> {
    actor::<Lifecycle>("counterWithLifecycle")
        .create_conn_state(|_c, _params: Value| async move {
            Ok(json!({ "joinTime": rivetkit_rs::now_ms() }))
        })
        .on_wake(|c| async move {
            c.update(|s| s.events.push("onWake".into()));
            Ok(())
        })
        .on_before_connect(|c, params: Option<TrackParams>| async move {
            if params.and_then(|p| p.track_lifecycle).unwrap_or(false) {
                c.update(|s| s.events.push("onBeforeConnect".into()));
            }
            Ok(())
        })
        .on_connect(|c| async move {
            if tracked(&c) {
                c.update(|s| s.events.push("onConnect".into()));
            }
            Ok(())
        })
        .on_disconnect(|c| async move {
            if tracked(&c) {
                c.update(|s| s.events.push("onDisconnect".into()));
            }
            Ok(())
        })
        .action("getEvents", |c, ()| async move {
            Ok(c.state(|s| s.events.clone()))
        })
        .action("increment", |c, (x,): (i64,)| async move {
            Ok(c.update(|s| {
                s.count += x;
                s.count
            }))
        })
}

#[derive(Serialize, Deserialize, Default)]
struct LastRequest {
    #[serde(rename = "lastRequestSize")]
    last_request_size: usize,
}

fn large_payload_conn_actor() -> Actor<()> {
    payload::actions(actor::<()>("largePayloadConnActor"))
        .create_conn_state(|_c, _params: Value| async move { Ok(LastRequest::default()) })
        .action(
            "processLargeRequest",
            |c, (request,): (payload::LargeRequest,)| async move {
                c.update_conn_state(|conn: &mut LastRequest| {
                    conn.last_request_size = request.items.len()
                })?;
                Ok(payload::summarize(&request))
            },
        )
        .action("getLastRequestSize", |c, ()| async move {
            Ok(c.conn_state::<LastRequest>()?.last_request_size)
        })
}

pub fn register(registry: Registry) -> Registry {
    registry
        .register(counter_with_params())
        .register(counter_with_lifecycle())
        .register(large_payload_conn_actor())
}
