//! actor-state (and the many files that reuse `counter`): a counter with events.

use rivetkit_rs::prelude::*;

#[derive(Serialize, Deserialize, Default)]
struct Counter {
    count: i64,
}

pub fn register(registry: Registry) -> Registry {
    let counter = actor::<Counter>("counter")
        .action("increment", |c, (x,): (i64,)| async move {
            let count = c.update(|s| {
                s.count += x;
                s.count
            });
            c.broadcast("newCount", (count,));
            Ok(count)
        })
        .action("setCount", |c, (x,): (i64,)| async move {
            c.update(|s| s.count = x);
            c.broadcast("newCount", (x,));
            Ok(x)
        })
        .action("getCount", |c, ()| async move { Ok(c.state(|s| s.count)) })
        .action("getKey", |c, ()| async move { Ok(c.key().to_vec()) });
    registry.register(counter)
}
