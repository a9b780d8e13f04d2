//! actor-destroy: `destroyActor` tells `destroyObserver` when it is destroyed.

use rivetkit_rs::prelude::*;

#[derive(Serialize, Deserialize, Default)]
struct Observer {
    #[serde(rename = "destroyedActors")]
    destroyed_actors: Vec<String>,
}

#[derive(Serialize, Deserialize, Default)]
struct Destroyable {
    value: i64,
    key: String,
}

pub fn register(registry: Registry) -> Registry {
    let observer = actor::<Observer>("destroyObserver")
        .action("notifyDestroyed", |c, (key,): (String,)| async move {
            c.update(|s| s.destroyed_actors.push(key));
            Ok(())
        })
        .action("wasDestroyed", |c, (key,): (String,)| async move {
            Ok(c.state(|s| s.destroyed_actors.contains(&key)))
        })
        .action("reset", |c, ()| async move {
            c.update(|s| s.destroyed_actors.clear());
            Ok(())
        });
    let destroyable = actor::<Destroyable>("destroyActor")
        .on_wake(|c| async move {
            let key = c.key().join("/");
            c.update(|s| s.key = key);
            Ok(())
        })
        .on_destroy(|c| async move {
            let key = c.state(|s| s.key.clone());
            c.call_actor::<_, serde_json::Value>(
                "destroyObserver",
                &["observer".to_owned()],
                "notifyDestroyed",
                (key,),
            )
            .await?;
            Ok(())
        })
        .action("setValue", |c, (value,): (i64,)| async move {
            c.update(|s| s.value = value);
            c.save().await?;
            Ok(value)
        })
        .action("getValue", |c, ()| async move { Ok(c.state(|s| s.value)) })
        .action("destroy", |c, ()| async move {
            c.destroy();
            Ok(())
        });
    registry.register(observer).register(destroyable)
}
