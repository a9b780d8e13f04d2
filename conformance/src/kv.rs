//! actor-kv: `kvActor` — text and binary values in the actor's KV store.

use rivetkit_rs::prelude::*;
use serde_json::json;

pub fn register(registry: Registry) -> Registry {
    let actor = actor::<()>("kvActor")
        .action("putText", |c, (key, value): (String, String)| async move {
            c.kv().put(key, value).await?;
            Ok(true)
        })
        .action("getText", |c, (key,): (String,)| async move {
            let value = c.kv().get(key).await?;
            Ok(value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
        })
        .action("listText", |c, (prefix,): (String,)| async move {
            let entries = c.kv().list(prefix).await?;
            Ok(entries
                .into_iter()
                .map(|(key, value)| {
                    json!({
                        "key": String::from_utf8_lossy(&key),
                        "value": String::from_utf8_lossy(&value),
                    })
                })
                .collect::<Vec<_>>())
        })
        .action(
            "roundtripArrayBuffer",
            |c, (key, bytes): (String, Vec<u8>)| async move {
                c.kv().put(key.clone(), bytes).await?;
                c.kv().get(key).await
            },
        );
    registry.register(actor)
}
