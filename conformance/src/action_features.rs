//! action-features: per-actor action timeouts, sync / async / promise-style actions, large
//! payloads over stateless calls.

use std::time::Duration;

use rivetkit_rs::prelude::*;
use serde_json::{json, Value};

use crate::payload;

#[derive(Serialize, Deserialize, Default)]
struct Plain {
    value: i64,
}

/// An action that answers `reply` after `delay`.
fn delayed<S: rivetkit_rs::State, V: Send + Sync + 'static>(
    actor: Actor<S, V>,
    name: &str,
    delay: Duration,
    reply: &'static str,
) -> Actor<S, V> {
    actor.action(name, move |_c, ()| async move {
        tokio::time::sleep(delay).await;
        Ok(reply)
    })
}

fn timeout_actors(registry: Registry) -> Registry {
    let short = delayed(
        actor::<Plain>("shortTimeoutActor").action_timeout(Duration::from_millis(50)),
        "quickAction",
        Duration::ZERO,
        "quick response",
    );
    let short = delayed(
        short,
        "slowAction",
        Duration::from_millis(100),
        "slow response",
    );
    let long = delayed(
        actor::<Plain>("longTimeoutActor").action_timeout(Duration::from_millis(200)),
        "delayedAction",
        Duration::from_millis(100),
        "delayed response",
    );
    let default = delayed(
        actor::<Plain>("defaultTimeoutActor"),
        "normalAction",
        Duration::from_millis(50),
        "normal response",
    );
    let sync = delayed(
        actor::<Plain>("syncTimeoutActor").action_timeout(Duration::from_millis(50)),
        "syncAction",
        Duration::ZERO,
        "sync response",
    );
    registry
        .register(short)
        .register(long)
        .register(default)
        .register(sync)
}

#[derive(Serialize, Deserialize, Default)]
struct AsyncState {
    value: i64,
    data: Option<Value>,
}

#[derive(Serialize, Deserialize, Default)]
struct Promises {
    results: Vec<String>,
}

pub fn register(registry: Registry) -> Registry {
    let sync_actor = actor::<Plain>("syncActionActor")
        .action("increment", |c, (amount,): (Option<i64>,)| async move {
            Ok(c.update(|s| {
                s.value += amount.unwrap_or(1);
                s.value
            }))
        })
        .action("getInfo", |c, ()| async move {
            Ok(json!({ "currentValue": c.state(|s| s.value), "timestamp": rivetkit_rs::now_ms() }))
        })
        .action("reset", |c, ()| async move {
            c.update(|s| s.value = 0);
            Ok(())
        });
    let async_actor = actor::<AsyncState>("asyncActionActor")
        .action(
            "delayedIncrement",
            |c, (amount,): (Option<i64>,)| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(c.update(|s| {
                    s.value += amount.unwrap_or(1);
                    s.value
                }))
            },
        )
        .action("fetchData", |c, (id,): (Value,)| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let data = json!({ "id": id, "timestamp": rivetkit_rs::now_ms() });
            c.update(|s| s.data = Some(data.clone()));
            Ok(data)
        })
        .action(
            "asyncWithError",
            |_c, (should_error,): (bool,)| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if should_error {
                    return Err(ActorError::user_message("Intentional error"));
                }
                Ok("Success")
            },
        );
    let promise_actor = actor::<Promises>("promiseActor")
        .action(
            "resolvedPromise",
            |_c, ()| async move { Ok("resolved value") },
        )
        .action("delayedPromise", |c, ()| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            c.update(|s| s.results.push("delayed".into()));
            Ok("delayed value")
        })
        .action("rejectedPromise", |_c, ()| async move {
            Err::<(), _>(ActorError::user_message("promised rejection"))
        })
        .action("getResults", |c, ()| async move {
            Ok(c.state(|s| s.results.clone()))
        });
    let large = payload::actions(actor::<()>("largePayloadActor")).action(
        "processLargeRequest",
        |_c, (request,): (payload::LargeRequest,)| async move { Ok(payload::summarize(&request)) },
    );
    timeout_actors(registry)
        .register(sync_actor)
        .register(async_actor)
        .register(promise_actor)
        .register(large)
}
