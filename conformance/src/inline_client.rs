//! actor-inline-client: `inlineClientActor` calls `counter` from inside the server, both
//! statelessly and over a connection with events.

use rivetkit_rs::prelude::*;
use rivetkit_rs::ActorConn;
use serde_json::{json, Value};

#[derive(Serialize, Deserialize, Default)]
struct Messages {
    messages: Vec<String>,
}

fn key(name: &str) -> Vec<String> {
    vec![name.to_owned()]
}

/// Calls `increment(amount)` over `conn`, then takes the `newCount` events it broadcast:
/// queued by the time its answer came back.
async fn increment_collecting(
    conn: &mut ActorConn,
    amount: i64,
    events: &mut Vec<Value>,
) -> ActorResult<i64> {
    let count = conn.action("increment", (amount,)).await?;
    while let Some(event) = conn.try_next_event()? {
        if event.name == "newCount" {
            events.extend(event.args);
        }
    }
    Ok(count)
}

pub fn register(registry: Registry) -> Registry {
    let actor = actor::<Messages>("inlineClientActor")
        .action("callCounterIncrement", |c, (amount,): (i64,)| async move {
            let result: i64 = c.call_actor("counter", &key("inline-test"), "increment", (amount,)).await?;
            c.update(|s| s.messages.push(format!("Called counter.increment({amount}), result: {result}")));
            Ok(result)
        })
        .action("getCounterState", |c, ()| async move {
            let count: i64 = c.call_actor("counter", &key("inline-test"), "getCount", ()).await?;
            c.update(|s| s.messages.push(format!("Got counter state: {count}")));
            Ok(count)
        })
        .action("connectToCounterAndIncrement", |c, (amount,): (i64,)| async move {
            let mut conn = c.connect_actor("counter", &key("inline-test-stateful")).await?;
            conn.subscribe_to("newCount");
            let mut events = Vec::new();
            let first = increment_collecting(&mut conn, amount, &mut events).await?;
            let second = increment_collecting(&mut conn, amount * 2, &mut events).await?;
            drop(conn);
            let shown = serde_json::to_string(&events)?;
            c.update(|s| {
                s.messages.push(format!(
                    "Connected to counter, incremented by {amount} and {}, results: {first}, {second}, events: {shown}",
                    amount * 2
                ))
            });
            Ok(json!({ "result1": first, "result2": second, "events": events }))
        })
        .action("getMessages", |c, ()| async move { Ok(c.state(|s| s.messages.clone())) })
        .action("clearMessages", |c, ()| async move {
            c.update(|s| s.messages.clear());
            Ok(())
        });
    registry.register(actor)
}
