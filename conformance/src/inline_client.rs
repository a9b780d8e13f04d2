//! actor-inline-client: `inlineClientActor` calls `counter` from inside the server, both
//! statelessly and over a connection with events.

use rivetkit::prelude::*;
use rivetkit::Outgoing;
use serde_json::{json, Value};

#[derive(Serialize, Deserialize, Default)]
struct Messages {
    messages: Vec<String>,
}

fn key(name: &str) -> Vec<String> {
    vec![name.to_owned()]
}

/// Calls `name(args)` over `conn` as call `id`, collecting `newCount` events until its answer.
async fn call_collecting(
    conn: &mut rivetkit::Connection,
    id: u64,
    name: &str,
    args: Vec<Value>,
    events: &mut Vec<Value>,
) -> ActorResult<Value> {
    conn.spawn_action(id, name.to_owned(), args);
    while let Some(item) = conn.next_outgoing().await {
        match item {
            Outgoing::Event(event) if event.name == "newCount" => {
                events.extend(event.args.iter().cloned())
            }
            Outgoing::ActionResponse {
                id: answered,
                result,
            } if answered == id => return result,
            Outgoing::Error(error) => return Err(error),
            Outgoing::Close(..) => break,
            _ => {}
        }
    }
    Err(ActorError::internal("the connection to counter closed"))
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
            conn.set_subscription("newCount", true);
            let mut events = Vec::new();
            let first = call_collecting(&mut conn, 0, "increment", vec![json!(amount)], &mut events).await?;
            let second = call_collecting(&mut conn, 1, "increment", vec![json!(amount * 2)], &mut events).await?;
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
