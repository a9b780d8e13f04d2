//! actor-stateless: `statelessActor` has no state and no database.

use rivetkit_rs::prelude::*;
use serde_json::{json, Value};

pub fn register(registry: Registry) -> Registry {
    let actor = actor::<()>("statelessActor")
        .action("ping", |_c, ()| async move { Ok("pong") })
        .action("echo", |_c, (message,): (Value,)| async move { Ok(message) })
        .action("getActorId", |c, ()| async move { Ok(c.actor_id().to_owned()) })
        .action("tryGetState", |_c, ()| async move {
            Ok(json!({ "success": false, "error": "This actor has no state: state is not enabled" }))
        })
        .action("tryGetDb", |_c, ()| async move {
            Ok(json!({ "success": false, "error": "This actor has no database: database is not enabled" }))
        });
    registry.register(actor)
}
