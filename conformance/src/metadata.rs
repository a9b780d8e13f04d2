//! actor-metadata: `metadataActor` — its own name, and tags/region stored in state.

use rivetkit_rs::prelude::*;
use serde_json::{json, Map, Value};

#[derive(Serialize, Deserialize, Default)]
struct Metadata {
    #[serde(rename = "lastMetadata")]
    last_metadata: Value,
    #[serde(rename = "actorName")]
    actor_name: String,
    #[serde(rename = "storedTags")]
    stored_tags: Map<String, Value>,
    #[serde(rename = "storedRegion")]
    stored_region: Value,
}

pub fn register(registry: Registry) -> Registry {
    let actor = actor::<Metadata>("metadataActor")
        .on_wake(|c| async move {
            let name = c.name().to_owned();
            c.update(|s| s.actor_name = name);
            Ok(())
        })
        .action(
            "setupTestTags",
            |c, (tags,): (Map<String, Value>,)| async move {
                c.update(|s| s.stored_tags = tags.clone());
                Ok(tags)
            },
        )
        .action("setupTestRegion", |c, (region,): (Value,)| async move {
            c.update(|s| s.stored_region = region.clone());
            Ok(region)
        })
        .action("getMetadata", |c, ()| async move {
            let name = c.name().to_owned();
            Ok(c.update(|s| {
                let metadata =
                    json!({ "name": name, "tags": s.stored_tags, "region": s.stored_region });
                s.last_metadata = metadata.clone();
                metadata
            }))
        })
        .action(
            "getActorName",
            |c, ()| async move { Ok(c.name().to_owned()) },
        )
        .action("getTag", |c, (key,): (String,)| async move {
            Ok(c.state(|s| s.stored_tags.get(&key).cloned()))
        })
        .action("getTags", |c, ()| async move {
            Ok(c.state(|s| s.stored_tags.clone()))
        })
        .action("getRegion", |c, ()| async move {
            Ok(c.state(|s| s.stored_region.clone()))
        })
        .action("getStoredActorName", |c, ()| async move {
            Ok(c.state(|s| s.actor_name.clone()))
        })
        .action("getLastMetadata", |c, ()| async move {
            Ok(c.state(|s| s.last_metadata.clone()))
        });
    registry.register(actor)
}
