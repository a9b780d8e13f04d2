//! actor-run: long-running `run` handlers — ticking, consuming a queue, exiting, failing.

use std::time::Duration;

use rivetkit_rs::prelude::*;
use rivetkit_rs::Receive;
use serde_json::{json, Value};

const SLEEP_TIMEOUT: Duration = Duration::from_millis(1000);
const RUN_STOP_TIMEOUT: Duration = Duration::from_millis(1000);

#[derive(Serialize, Deserialize, Default, Clone)]
struct Ticks {
    #[serde(rename = "tickCount")]
    tick_count: i64,
    #[serde(rename = "lastTickAt")]
    last_tick_at: i64,
    #[serde(rename = "runStarted")]
    run_started: bool,
    #[serde(rename = "runExited")]
    run_exited: bool,
}

fn ticks() -> Actor<Ticks> {
    actor::<Ticks>("runWithTicks")
        .sleep_timeout(SLEEP_TIMEOUT)
        .run_stop_timeout(RUN_STOP_TIMEOUT)
        .run(|c| async move {
            c.update(|s| s.run_started = true);
            while !c.is_aborted() {
                c.update(|s| {
                    s.tick_count += 1;
                    s.last_tick_at = rivetkit_rs::now_ms();
                });
                c.save().await?;
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    () = c.aborted() => {}
                }
            }
            c.update(|s| s.run_exited = true);
            Ok(())
        })
        .action("getState", |c, ()| async move { Ok(c.state(Ticks::clone)) })
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct Consumer {
    #[serde(rename = "messagesReceived")]
    messages_received: Vec<Value>,
    #[serde(rename = "runStarted")]
    run_started: bool,
    #[serde(rename = "wakeCount")]
    wake_count: i64,
}

fn queue_consumer() -> Actor<Consumer> {
    actor::<Consumer>("runWithQueueConsumer")
        .sleep_timeout(SLEEP_TIMEOUT)
        .run_stop_timeout(RUN_STOP_TIMEOUT)
        .on_wake(|c| async move {
            c.update(|s| s.wake_count += 1);
            Ok(())
        })
        .run(|c| async move {
            c.update(|s| s.run_started = true);
            c.save().await?;
            while !c.is_aborted() {
                match c.queue().next(Receive::names(["messages"])).await {
                    Ok(Some(message)) => {
                        c.update(|s| {
                            s.messages_received
                                .push(json!({ "name": message.name, "body": message.body }))
                        });
                        c.save().await?;
                    }
                    Ok(None) => {}
                    Err(error) if error.code() == "aborted" => break,
                    Err(error) => return Err(error),
                }
            }
            Ok(())
        })
        .action(
            "getState",
            |c, ()| async move { Ok(c.state(Consumer::clone)) },
        )
        // Straight into its own queue: the official fixture goes through its client, where the
        // undeclared name `messages` is dropped (the fixture declares no queues, and the official
        // runtime drops client sends to undeclared queue names); an actor's own sends are not
        // subject to the declarations that guard clients.
        .action("sendMessage", |c, (body,): (Value,)| async move {
            c.queue().send("messages", body).await?;
            Ok(true)
        })
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct Exit {
    #[serde(rename = "runStarted")]
    run_started: bool,
    #[serde(rename = "destroyCalled")]
    destroy_called: bool,
}

/// `runWithEarlyExit` (the handler returns) and `runWithError` (it fails): either destroys it.
fn exiting(name: &str, fail: bool) -> Actor<Exit> {
    actor::<Exit>(name)
        .sleep_timeout(SLEEP_TIMEOUT)
        .on_destroy(|c| async move {
            c.update(|s| s.destroy_called = true);
            Ok(())
        })
        .run(move |c| async move {
            c.update(|s| s.run_started = true);
            c.save().await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            if fail {
                return Err(ActorError::internal("run handler failed on purpose"));
            }
            Ok(())
        })
        .action("getState", |c, ()| async move { Ok(c.state(Exit::clone)) })
}

#[derive(Serialize, Deserialize, Default)]
struct Wakes {
    #[serde(rename = "wakeCount")]
    wake_count: i64,
}

fn without_handler() -> Actor<Wakes> {
    actor::<Wakes>("runWithoutHandler")
        .sleep_timeout(SLEEP_TIMEOUT)
        .on_wake(|c| async move {
            c.update(|s| s.wake_count += 1);
            Ok(())
        })
        .action("getState", |c, ()| async move {
            Ok(json!({ "wakeCount": c.state(|s| s.wake_count) }))
        })
}

pub fn register(registry: Registry) -> Registry {
    registry
        .register(ticks())
        .register(queue_consumer())
        .register(exiting("runWithEarlyExit", false))
        .register(exiting("runWithError", true))
        .register(without_handler())
}
