//! actor-onstatechange: `onStateChangeActor` counts state changes with `on_state_change`.

use std::sync::atomic::{AtomicBool, Ordering};

use rivetkit_rs::prelude::*;

#[derive(Serialize, Deserialize, Default)]
struct Changes {
    value: i64,
    #[serde(rename = "changeCount")]
    change_count: i64,
}

pub fn register(registry: Registry) -> Registry {
    let actor = actor::<Changes>("onStateChangeActor")
        // Set while the hook records a change, so that its own write is not counted again.
        .vars(|| AtomicBool::new(false))
        .on_state_change(|c| {
            if !c.vars().swap(true, Ordering::SeqCst) {
                c.update(|s| s.change_count += 1);
                c.vars().store(false, Ordering::SeqCst);
            }
        })
        .action("setValue", |c, (value,): (i64,)| async move {
            c.update(|s| s.value = value);
            Ok(value)
        })
        .action("incrementMultiple", |c, (times,): (i64,)| async move {
            for _ in 0..times {
                c.update(|s| s.value += 1);
            }
            Ok(c.state(|s| s.value))
        })
        .action("getValue", |c, ()| async move { Ok(c.state(|s| s.value)) })
        .action(
            "getDoubled",
            |c, ()| async move { Ok(c.state(|s| s.value * 2)) },
        )
        .action("getChangeCount", |c, ()| async move {
            Ok(c.state(|s| s.change_count))
        })
        .action("resetChangeCount", |c, ()| async move {
            c.update(|s| s.change_count = 0);
            Ok(())
        });
    registry.register(actor)
}
