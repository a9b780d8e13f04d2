//! request-access: `requestAccessActor` records the HTTP request its connection hooks saw.

use rivetkit_rs::prelude::*;
use rivetkit_rs::raw::RequestInfo;
use serde_json::{json, Map, Value};

#[derive(Serialize, Deserialize)]
struct Seen {
    #[serde(rename = "onBeforeConnectRequest")]
    on_before_connect: Value,
    #[serde(rename = "createConnStateRequest")]
    create_conn_state: Value,
    #[serde(rename = "onRequestRequest")]
    on_request: Value,
    #[serde(rename = "onWebSocketRequest")]
    on_websocket: Value,
}

fn nothing_seen() -> Value {
    json!({ "hasRequest": false, "requestUrl": null, "requestMethod": null, "requestHeaders": {} })
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            on_before_connect: nothing_seen(),
            create_conn_state: nothing_seen(),
            on_request: nothing_seen(),
            on_websocket: nothing_seen(),
        }
    }
}

fn describe(request: Option<&RequestInfo>) -> Value {
    let Some(request) = request else {
        return nothing_seen();
    };
    let headers: Map<String, Value> = request
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), Value::from(value.to_str().ok()?)))
        })
        .collect();
    json!({
        "hasRequest": true,
        "requestUrl": request.url,
        "requestMethod": request.method.as_str(),
        "requestHeaders": headers,
    })
}

#[derive(Deserialize, Default)]
struct Params {
    #[serde(rename = "trackRequest")]
    track_request: Option<bool>,
}

#[derive(Serialize, Deserialize)]
struct ConnState {
    #[serde(rename = "trackRequest")]
    track_request: bool,
    #[serde(rename = "requestInfo")]
    request_info: Option<Value>,
}

pub fn register(registry: Registry) -> Registry {
    let actor = actor::<Seen>("requestAccessActor")
        .on_before_connect(|c, params: Option<Params>| async move {
            if params.and_then(|p| p.track_request).unwrap_or(false) {
                let seen = describe(c.request());
                c.update(|s| s.on_before_connect = seen);
            }
            Ok(())
        })
        .create_conn_state(|c, params: Option<Params>| async move {
            let track_request = params.and_then(|p| p.track_request).unwrap_or(false);
            let request_info =
                (track_request && c.request().is_some()).then(|| describe(c.request()));
            Ok(ConnState {
                track_request,
                request_info,
            })
        })
        .on_connect(|c| async move {
            if let Some(info) = c.conn_state::<ConnState>()?.request_info {
                c.update(|s| s.create_conn_state = info);
            }
            Ok(())
        })
        .on_request(|c, _request: Request| async move {
            let seen = describe(c.request());
            c.update(|s| s.on_request = seen);
            json_response(&c.state(|s| serde_json::to_value(s))?)
        })
        .on_websocket(|c, mut socket: RawWebSocket| async move {
            let seen = describe(c.request());
            c.update(|s| s.on_websocket = seen);
            c.save().await?;
            let sender = socket.sender();
            sender.send_text(serde_json::to_string(
                &c.state(|s| serde_json::to_value(s))?,
            )?);
            while let Some(message) = socket.recv().await {
                sender.send(message);
            }
            Ok(())
        })
        .action("getRequestInfo", |c, ()| async move {
            Ok(c.state(|s| {
                json!({
                    "onBeforeConnect": s.on_before_connect,
                    "createConnState": s.create_conn_state,
                    "onRequest": s.on_request,
                    "onWebSocket": s.on_websocket,
                })
            }))
        });
    registry.register(actor)
}
