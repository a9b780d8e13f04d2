//! actor-conn-hibernation: `hibernationActor` keeps its WebSocket connections (and their
//! state) while it sleeps.

use std::time::Duration;

use rivetkit_rs::prelude::*;
use serde_json::{json, Value};

#[derive(Serialize, Deserialize, Default)]
struct Counts {
    #[serde(rename = "sleepCount")]
    sleep_count: i64,
    #[serde(rename = "wakeCount")]
    wake_count: i64,
}

#[derive(Serialize, Deserialize, Default)]
struct ConnCounts {
    count: i64,
    #[serde(rename = "connectCount")]
    connect_count: i64,
    #[serde(rename = "disconnectCount")]
    disconnect_count: i64,
}

pub fn register(registry: Registry) -> Registry {
    let actor = actor::<Counts>("hibernationActor")
        .sleep_timeout(Duration::from_millis(500))
        .hibernatable_connections()
        .create_conn_state(|_c, _params: Value| async move { Ok(ConnCounts::default()) })
        .on_wake(|c| async move {
            c.update(|s| s.wake_count += 1);
            Ok(())
        })
        .on_sleep(|c| async move {
            c.update(|s| s.sleep_count += 1);
            Ok(())
        })
        .on_connect(|c| async move {
            c.update_conn_state(|conn: &mut ConnCounts| conn.connect_count += 1)
        })
        .on_disconnect(|c| async move {
            c.update_conn_state(|conn: &mut ConnCounts| conn.disconnect_count += 1)
        })
        .action("ping", |_c, ()| async move { Ok("pong") })
        .action("connIncrement", |c, ()| async move {
            c.update_conn_state(|conn: &mut ConnCounts| {
                conn.count += 1;
                conn.count
            })
        })
        .action("getConnCount", |c, ()| async move { Ok(c.conn_state::<ConnCounts>()?.count) })
        .action("getConnLifecycleCounts", |c, ()| async move {
            let conn: ConnCounts = c.conn_state()?;
            Ok(json!({ "connectCount": conn.connect_count, "disconnectCount": conn.disconnect_count }))
        })
        .action("getConnectionIds", |c, ()| async move {
            Ok(c.conns().into_iter().map(|conn| conn.id).collect::<Vec<_>>())
        })
        .action("getActorCounts", |c, ()| async move { Ok(c.state(|s| serde_json::to_value(s))?) })
        .action("triggerSleep", |c, ()| async move {
            c.sleep();
            Ok(())
        });
    registry.register(actor)
}
