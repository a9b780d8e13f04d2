//! raw-websocket: actors speaking raw WebSocket frames.

use rivetkit_rs::prelude::*;
use serde_json::{json, Value};

#[derive(Serialize, Deserialize, Default)]
struct Stats {
    #[serde(rename = "connectionCount")]
    connection_count: i64,
    #[serde(rename = "messageCount")]
    message_count: i64,
}

/// `{ url, pathname, search }` of the request that opened the socket.
fn request_description(url: &str) -> Value {
    let uri: http::Uri = url.parse().unwrap_or_default();
    let search = uri
        .query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    json!({ "type": "requestInfo", "url": url, "pathname": uri.path(), "search": search })
}

fn raw_websocket_actor() -> Actor<Stats> {
    actor::<Stats>("rawWebSocketActor")
        .on_websocket(|c, mut socket: RawWebSocket| async move {
            let count = c.update(|s| {
                s.connection_count += 1;
                s.connection_count
            });
            c.save().await?;
            let sender = socket.sender();
            sender.send_text(json!({ "type": "welcome", "connectionCount": count }).to_string());
            while let Some(message) = socket.recv().await {
                c.update(|s| s.message_count += 1);
                let text = match message {
                    WsMessage::Text(text) => text,
                    other => {
                        sender.send(other);
                        continue;
                    }
                };
                let reply = match serde_json::from_str::<Value>(&text).ok().and_then(|v| v["type"].as_str().map(str::to_owned)) {
                    Some(kind) if kind == "ping" => json!({ "type": "pong", "timestamp": rivetkit_rs::now_ms() }).to_string(),
                    Some(kind) if kind == "getStats" => {
                        let (connections, messages) = c.state(|s| (s.connection_count, s.message_count));
                        json!({ "type": "stats", "connectionCount": connections, "messageCount": messages }).to_string()
                    }
                    Some(kind) if kind == "getRequestInfo" => {
                        request_description(c.request().map_or("", |request| request.url.as_str())).to_string()
                    }
                    _ => text,
                };
                sender.send_text(reply);
            }
            c.update(|s| s.connection_count -= 1);
            c.save().await
        })
        .action("getStats", |c, ()| async move { Ok(c.state(|s| serde_json::to_value(s))?) })
}

fn binary_actor() -> Actor<()> {
    actor::<()>("rawWebSocketBinaryActor").on_websocket(|_c, mut socket: RawWebSocket| async move {
        let sender = socket.sender();
        while let Some(message) = socket.recv().await {
            if let WsMessage::Binary(bytes) = message {
                let reversed: Vec<u8> = bytes.iter().rev().copied().collect();
                sender.send(WsMessage::Binary(reversed.into()));
            }
        }
        Ok(())
    })
}

pub fn register(registry: Registry) -> Registry {
    registry
        .register(raw_websocket_actor())
        .register(binary_actor())
}
