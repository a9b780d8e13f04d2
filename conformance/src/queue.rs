//! actor-queue: `queueActor` and `queueLimitedActor` — receiving, completing and limits.

use std::time::Duration;

use rivetkit_rs::prelude::*;
use rivetkit_rs::{QueueMessage, Receive};
use serde_json::{json, Value};

const QUEUES: [&str; 13] = [
    "greeting", "self", "a", "b", "c", "one", "two", "missing", "abort", "tasks", "timeout",
    "nowait", "twice",
];

/// A received message as the fixture reports it.
fn shown(message: &QueueMessage) -> Value {
    json!({ "name": message.name, "body": message.body })
}

fn shown_all(messages: &[QueueMessage]) -> Vec<Value> {
    messages.iter().map(shown).collect()
}

#[derive(Deserialize, Default)]
struct Options {
    names: Option<Vec<String>>,
    count: Option<usize>,
    timeout: Option<u64>,
}

impl Options {
    fn receive(self, names: Option<Vec<String>>) -> Receive {
        let mut receive =
            Receive::names(names.or(self.names).unwrap_or_default()).count(self.count.unwrap_or(1));
        if let Some(timeout) = self.timeout {
            receive = receive.timeout(Duration::from_millis(timeout));
        }
        receive
    }
}

/// The `{ group, code }` of an error, as the fixture reports caught errors.
fn caught(error: &ActorError) -> Value {
    json!({ "group": error.group(), "code": error.code() })
}

fn queue_actor() -> Actor<()> {
    let actor = QUEUES
        .iter()
        .fold(actor::<()>("queueActor"), |actor, name| actor.queue(*name));
    actor
        .action("receiveOne", |c, (name, options): (String, Option<Options>)| async move {
            let receive = options.unwrap_or_default().receive(Some(vec![name]));
            Ok(c.queue().next(receive).await?.as_ref().map(shown))
        })
        .action("receiveMany", |c, (names, options): (Vec<String>, Option<Options>)| async move {
            let receive = options.unwrap_or_default().receive(Some(names));
            Ok(shown_all(&c.queue().receive(receive).await?))
        })
        .action("receiveRequest", |c, (options,): (Option<Options>,)| async move {
            let receive = options.unwrap_or_default().receive(None);
            Ok(shown_all(&c.queue().receive(receive).await?))
        })
        .action("tryReceiveMany", |c, (options,): (Option<Options>,)| async move {
            let receive = options.unwrap_or_default().receive(None).timeout(Duration::ZERO);
            Ok(shown_all(&c.queue().receive(receive).await?))
        })
        .action("receiveWithIterator", |c, (name,): (String,)| async move {
            Ok(c.queue().next(Receive::names([name])).await?.as_ref().map(shown))
        })
        .action("receiveWithAsyncIterator", |c, ()| async move {
            Ok(c.queue().next(Receive::any()).await?.as_ref().map(shown))
        })
        .action("sendToSelf", |c, (name, body): (String, Value)| async move {
            c.send_queue(c.actor_id(), &name, body).await?;
            Ok(true)
        })
        .action("waitForAbort", |c, ()| async move {
            destroy_soon(&c);
            let receive = Receive::names(["abort"]).timeout(Duration::from_secs(10));
            c.queue().next(receive).await?;
            Ok(())
        })
        .action("waitForSignalAbort", |c, ()| async move {
            // A receive given an already-cancelled signal: cancellation is dropping the wait.
            let queue = c.queue();
            let receive = queue.next(Receive::names(["abort"]).timeout(Duration::from_secs(10)));
            tokio::select! {
                biased;
                () = std::future::ready(()) => Ok(json!({ "group": "actor", "code": "aborted" })),
                received = receive => received.map(|m| m.as_ref().map(shown).unwrap_or(Value::Null)),
            }
        })
        .action("waitForActorAbortWithSignal", |c, ()| async move {
            destroy_soon(&c);
            let receive = Receive::names(["abort"]).timeout(Duration::from_secs(10));
            match c.queue().next(receive).await {
                Err(error) => Ok(caught(&error)),
                Ok(message) => Ok(message.as_ref().map(shown).unwrap_or(Value::Null)),
            }
        })
        .action("iterWithSignalAbort", |_c, ()| async move {
            // An iterator whose signal is already cancelled yields nothing.
            Ok(json!({ "ok": true }))
        })
        .action("receiveAndComplete", |c, (name,): (String,)| async move {
            let Some(message) = c.queue().next(Receive::names([name]).completable()).await? else {
                return Ok(Value::Null);
            };
            message.complete(Some(json!({ "echo": message.body }))).await?;
            Ok(shown(&message))
        })
        .action("receiveWithoutComplete", |c, (name,): (String,)| async move {
            let message = c.queue().next(Receive::names([name]).completable()).await?;
            Ok(message.as_ref().map(shown))
        })
        .action("receiveManualThenNextWithoutComplete", |c, (name,): (String,)| async move {
            let _first = c.queue().next(Receive::names([name.clone()]).completable()).await?;
            let next = c.queue().next(Receive::names([name]).timeout(Duration::ZERO)).await;
            c.destroy();
            match next {
                Err(error) => Ok(caught(&error)),
                Ok(_) => Ok(Value::Null),
            }
        })
        .action("receiveAndCompleteTwice", |c, (name,): (String,)| async move {
            let Some(message) = c.queue().next(Receive::names([name]).completable()).await? else {
                return Ok(Value::Null);
            };
            message.complete(Some(json!({ "ok": true }))).await?;
            match message.complete(Some(json!({ "ok": true }))).await {
                Err(error) => Ok(caught(&error)),
                Ok(()) => Ok(Value::Null),
            }
        })
        .action("receiveWithoutCompleteMethod", |c, (name,): (String,)| async move {
            let message = c.queue().next(Receive::names([name]).completable()).await?;
            Ok(json!({ "hasComplete": message.is_some_and(|m| m.is_completable()) }))
        })
}

/// Destroys the actor 10 ms from now, while the caller is still waiting on its queue.
fn destroy_soon(c: &Ctx<()>) {
    let c = c.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.destroy();
    });
}

fn limited_actor() -> Actor<()> {
    actor::<()>("queueLimitedActor")
        .queue("message")
        .queue("oversize")
        .max_queue_size(1)
        .max_queue_message_size(64)
}

pub fn register(registry: Registry) -> Registry {
    registry.register(queue_actor()).register(limited_actor())
}
