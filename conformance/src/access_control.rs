//! access-control: who may send to which queue and subscribe to which event, and connect
//! rules for raw HTTP and raw WebSocket.

use std::time::Duration;

use rivetkit_rs::prelude::*;
use rivetkit_rs::Receive;
use serde_json::{json, Value};

#[derive(Serialize, Deserialize, Default)]
struct Access {
    #[serde(rename = "lastCanPublishConnId")]
    last_can_publish_conn_id: String,
    #[serde(rename = "lastCanSubscribeConnId")]
    last_can_subscribe_conn_id: String,
}

#[derive(Deserialize, Default)]
struct Params {
    #[serde(rename = "allowRequest")]
    allow_request: Option<bool>,
    #[serde(rename = "allowWebSocket")]
    allow_websocket: Option<bool>,
}

fn caller(c: &Ctx<Access>) -> String {
    c.conn_id().unwrap_or_default().to_owned()
}

/// Receives one message without waiting; its body, or null.
async fn try_receive<V: Send + Sync + 'static, S: rivetkit_rs::State>(
    c: &Ctx<S, V>,
    receive: Receive,
) -> ActorResult<Value> {
    let message = c.queue().next(receive.timeout(Duration::ZERO)).await?;
    Ok(message.map(|m| m.body).unwrap_or(Value::Null))
}

fn access_control_actor() -> Actor<Access> {
    let broadcast_as = |event: &'static str| {
        move |c: Ctx<Access>, (value,): (Value,)| async move {
            c.broadcast(event, (json!({ "value": value }),));
            Ok(())
        }
    };
    actor::<Access>("accessControlActor")
        .event_access("allowedEvent", |c| {
            let id = caller(c);
            c.update(|s| s.last_can_subscribe_conn_id = id);
            true
        })
        .event_access("blockedEvent", |c| {
            let id = caller(c);
            c.update(|s| s.last_can_subscribe_conn_id = id);
            false
        })
        .queue_with_access("allowedQueue", |c| {
            let id = caller(c);
            c.update(|s| s.last_can_publish_conn_id = id);
            true
        })
        .queue_with_access("blockedQueue", |c| {
            let id = caller(c);
            c.update(|s| s.last_can_publish_conn_id = id);
            false
        })
        .on_before_connect(|_c, params: Option<Params>| async move {
            let params = params.unwrap_or_default();
            if params.allow_request == Some(false) || params.allow_websocket == Some(false) {
                return Err(ActorError::public("auth", "forbidden", "Forbidden").with_status(403));
            }
            Ok(())
        })
        .on_request(|_c, request: Request| async move {
            if request.uri().path() == "/status" {
                return json_response(&json!({ "ok": true }));
            }
            Ok(http::Response::builder()
                .status(404)
                .body(bytes::Bytes::from_static(b"Not Found"))?)
        })
        .on_websocket(|_c, mut socket: RawWebSocket| async move {
            socket
                .sender()
                .send_text(json!({ "type": "welcome" }).to_string());
            while socket.recv().await.is_some() {}
            Ok(())
        })
        .action("allowedAction", |_c, (value,): (Value,)| async move {
            let value = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            Ok(format!("allowed:{value}"))
        })
        .action("allowedGetLastCanPublishConnId", |c, ()| async move {
            Ok(c.state(|s| s.last_can_publish_conn_id.clone()))
        })
        .action("allowedGetLastCanSubscribeConnId", |c, ()| async move {
            Ok(c.state(|s| s.last_can_subscribe_conn_id.clone()))
        })
        .action("allowedReceiveQueue", |c, ()| async move {
            try_receive(&c, Receive::names(["allowedQueue"])).await
        })
        .action("allowedReceiveAnyQueue", |c, ()| async move {
            try_receive(&c, Receive::any()).await
        })
        .action("allowedBroadcastAllowedEvent", broadcast_as("allowedEvent"))
        .action("allowedBroadcastBlockedEvent", broadcast_as("blockedEvent"))
        .action(
            "allowedBroadcastUndefinedEvent",
            broadcast_as("undefinedEvent"),
        )
}

fn no_queues_actor() -> Actor<()> {
    actor::<()>("accessControlNoQueuesActor").action("readAnyQueue", |c, ()| async move {
        try_receive(&c, Receive::any()).await
    })
}

pub fn register(registry: Registry) -> Registry {
    registry
        .register(access_control_actor())
        .register(no_queues_actor())
}
