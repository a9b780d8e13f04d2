//! actor-conn-state: `connStateActor` — per-connection state, listing connections, direct
//! messages, disconnect tracking.

use rivetkit_rs::prelude::*;
use serde_json::{json, Value};

#[derive(Serialize, Deserialize, Default)]
struct Shared {
    #[serde(rename = "sharedCounter")]
    shared_counter: i64,
    #[serde(rename = "disconnectionCount")]
    disconnection_count: i64,
}

#[derive(Deserialize, Default)]
struct Params {
    username: Option<String>,
    role: Option<String>,
    #[serde(rename = "noCount")]
    no_count: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone)]
struct ConnState {
    username: String,
    role: String,
    counter: i64,
    #[serde(rename = "createdAt")]
    created_at: i64,
    #[serde(rename = "noCount")]
    no_count: bool,
}

#[derive(Deserialize, Default)]
struct ConnUpdate {
    username: Option<String>,
    role: Option<String>,
}

fn counts(state: &Value) -> bool {
    state.get("noCount").and_then(Value::as_bool) != Some(true)
}

/// `{ id, ...state }` of one connection.
fn with_id(id: &str, state: &Value) -> Value {
    let mut entry = json!({ "id": id });
    if let (Some(entry), Some(state)) = (entry.as_object_mut(), state.as_object()) {
        entry.extend(state.clone());
    }
    entry
}

pub fn register(registry: Registry) -> Registry {
    let actor = actor::<Shared>("connStateActor")
        .create_conn_state(|_c, params: Option<Params>| async move {
            let params = params.unwrap_or_default();
            Ok(ConnState {
                username: params.username.unwrap_or_else(|| "anonymous".into()),
                role: params.role.unwrap_or_else(|| "user".into()),
                counter: 0,
                created_at: rivetkit_rs::now_ms(),
                no_count: params.no_count.unwrap_or(false),
            })
        })
        .on_connect(|c| async move {
            let id = c.conn_id().unwrap_or_default().to_owned();
            c.broadcast(
                "userConnected",
                (json!({ "id": id, "username": "anonymous", "role": "user" }),),
            );
            Ok(())
        })
        .on_disconnect(|c| async move {
            let state: ConnState = c.conn_state()?;
            if !state.no_count {
                c.update(|s| s.disconnection_count += 1);
                c.broadcast("userDisconnected", (json!({ "id": c.conn_id() }),));
            }
            Ok(())
        })
        .action(
            "incrementConnCounter",
            |c, (amount,): (Option<i64>,)| async move {
                c.update_conn_state(|conn: &mut ConnState| conn.counter += amount.unwrap_or(1))?;
                Ok(())
            },
        )
        .action(
            "incrementSharedCounter",
            |c, (amount,): (Option<i64>,)| async move {
                Ok(c.update(|s| {
                    s.shared_counter += amount.unwrap_or(1);
                    s.shared_counter
                }))
            },
        )
        .action("getConnectionState", |c, ()| async move {
            let state = serde_json::to_value(c.conn_state::<ConnState>()?)?;
            Ok(with_id(c.conn_id().unwrap_or_default(), &state))
        })
        .action("getConnectionIds", |c, ()| async move {
            Ok(c.conns()
                .into_iter()
                .filter(|conn| counts(&conn.state))
                .map(|conn| conn.id)
                .collect::<Vec<_>>())
        })
        .action("getDisconnectionCount", |c, ()| async move {
            Ok(c.state(|s| s.disconnection_count))
        })
        .action("getAllConnectionStates", |c, ()| async move {
            Ok(c.conns()
                .iter()
                .map(|conn| with_id(&conn.id, &conn.state))
                .collect::<Vec<_>>())
        })
        .action(
            "sendToConnection",
            |c, (target, message): (String, Value)| async move {
                let from = c.conn_id().unwrap_or_default().to_owned();
                c.send_to(
                    &target,
                    "directMessage",
                    (json!({ "from": from, "message": message }),),
                )
            },
        )
        .action(
            "updateConnection",
            |c, (update,): (ConnUpdate,)| async move {
                c.update_conn_state(|conn: &mut ConnState| {
                    if let Some(username) = update.username.filter(|u| !u.is_empty()) {
                        conn.username = username;
                    }
                    if let Some(role) = update.role.filter(|r| !r.is_empty()) {
                        conn.role = role;
                    }
                    conn.clone()
                })
            },
        )
        .action(
            "disconnectSelf",
            |c, (reason,): (Option<String>,)| async move {
                let reason = reason.unwrap_or_else(|| "test.disconnect".into());
                if let Some(id) = c.conn_id() {
                    c.disconnect(id, &reason);
                }
                Ok(true)
            },
        );
    registry.register(actor)
}
