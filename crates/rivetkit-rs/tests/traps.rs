//! The API traps of issue 10, each closed: what used to compile and then misbehave either does
//! not compile (`tests/ui`, run by `ui.rs`) or behaves as written, checked here.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rivetkit_rs::prelude::*;
use rivetkit_rs::protocol::Value;
use rivetkit_rs::storage::MemoryBackend;
use rivetkit_rs::{Outgoing, Runtime};
use serde_json::json;

fn runtime(registry: Registry) -> Arc<Runtime> {
    Runtime::new(registry, Arc::new(MemoryBackend::new()))
}

async fn call(runtime: &Runtime, name: &str, action: &str, args: Vec<Value>) -> ActorResult<Value> {
    tokio::time::timeout(
        Duration::from_secs(10),
        runtime.call(name, &["k".to_owned()], Value::Null, action, args),
    )
    .await
    .expect("answered in time")
}

#[tokio::test]
async fn a_list_in_an_event_tuple_is_one_argument() {
    let lists = actor::<i64>("lists").action("send", |c, ()| async move {
        c.broadcast("numbers", (vec![1, 2, 3],));
        c.broadcast("none", ());
        Ok(())
    });
    let runtime = runtime(Registry::new().register(lists));
    let mut conn = runtime
        .connect("lists", &["k".to_owned()], Value::Null)
        .await
        .unwrap();
    conn.set_subscription("numbers", true);
    conn.set_subscription("none", true);
    conn.spawn_action(0, "send".into(), vec![]);
    let mut events = Vec::new();
    while events.len() < 2 {
        let next = tokio::time::timeout(Duration::from_secs(10), conn.next_outgoing());
        match next.await.expect("in time").expect("open") {
            Outgoing::Event(event) => events.push((event.name.clone(), event.args.clone())),
            Outgoing::ActionResponse { result, .. } => {
                result.unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        events,
        [
            ("numbers".to_owned(), vec![json!([1, 2, 3])]),
            ("none".to_owned(), vec![])
        ]
    );
}

#[tokio::test]
async fn vars_may_come_after_the_handlers() {
    let calls = actor::<i64>("calls")
        .action("before", |c, ()| async move {
            Ok(c.update(|s| {
                *s += 1;
                *s
            }))
        })
        .on_wake(|_c| async move { Ok(()) })
        .vars(|| AtomicU32::new(7))
        .action("after", |c, ()| async move {
            Ok(c.vars().fetch_add(1, Ordering::SeqCst))
        });
    let runtime = runtime(Registry::new().register(calls));
    assert_eq!(
        call(&runtime, "calls", "before", vec![]).await.unwrap(),
        json!(1)
    );
    assert_eq!(
        call(&runtime, "calls", "after", vec![]).await.unwrap(),
        json!(7)
    );
    assert_eq!(
        call(&runtime, "calls", "after", vec![]).await.unwrap(),
        json!(8)
    );
}

pub struct Greeter;

rivetkit_rs::interface! {
    actor Greeter = "greeter";
    pub trait GreeterActions {
        action Greet = "greet", fn greet(name: String) -> String;
        action Wave = "wave", fn wave();
        action Leave = "leave", fn leave();
    }
}

fn panic_message(register: impl FnOnce() -> Registry) -> String {
    let panic = std::panic::catch_unwind(AssertUnwindSafe(register))
        .err()
        .expect("register refuses the actor");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_default()
}

#[test]
fn an_interface_implemented_in_part_is_refused_at_registration() {
    let message = panic_message(|| {
        let greeter = actor::<i64>("greeter")
            .handle(Greet, |_c, (name,)| async move { Ok(format!("hi {name}")) });
        Registry::new().register(greeter)
    });
    assert!(message.contains("\"greeter\""), "{message}");
    assert!(message.contains("\"wave\", \"leave\""), "{message}");

    // Untyped actions count: the wire name is what a client calls.
    let complete = actor::<i64>("greeter")
        .handle(Greet, |_c, (name,)| async move { Ok(format!("hi {name}")) })
        .handle(Wave, |_c, ()| async move { Ok(()) })
        .action("leave", |_c, ()| async move { Ok(()) });
    let registry = Registry::new().register(complete);
    assert_eq!(registry.names().collect::<Vec<_>>(), ["greeter"]);
}

#[tokio::test]
async fn scheduling_an_action_that_does_not_exist_is_refused() {
    let alarms = actor::<i64>("alarms")
        .action("schedule", |c, (action,): (String,)| async move {
            c.schedule_after(Duration::from_secs(3600), &action, ())
                .await
        })
        .action("ring", |_c, ()| async move { Ok(()) });
    let runtime = runtime(Registry::new().register(alarms));
    call(&runtime, "alarms", "schedule", vec![json!("ring")])
        .await
        .unwrap();
    let error = call(&runtime, "alarms", "schedule", vec![json!("rnig")])
        .await
        .unwrap_err();
    assert_eq!(
        (error.group(), error.code()),
        ("schedule", "action_not_found")
    );
    assert!(error.message().contains("'rnig'"), "{}", error.message());
    assert!(error.message().contains("'alarms'"), "{}", error.message());
}

fn read_config(path: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|error| anyhow::anyhow!(error).context("reading the config"))
}

#[tokio::test]
async fn question_mark_on_anyhow_errors_in_an_action() {
    let files = actor::<i64>("files").action("read", |_c, (path,): (String,)| async move {
        let text = read_config(&path)?;
        Ok(text)
    });
    let runtime = runtime(Registry::new().register(files));
    let error = call(
        &runtime,
        "files",
        "read",
        vec![json!("/nonexistent/config")],
    )
    .await
    .unwrap_err();
    assert_eq!(
        (error.group(), error.code()),
        ("rivetkit", "internal_error")
    );
    assert!(!error.is_public());
    // The context and its cause, as `{:#}` prints an anyhow error.
    assert!(
        error.message().starts_with("reading the config: "),
        "{}",
        error.message()
    );
    assert!(
        error.message().contains("No such file"),
        "{}",
        error.message()
    );
}

/// A door that opens only for the right params, with a counter behind it.
pub struct Door;

rivetkit_rs::interface! {
    actor Door = "door";
    pub trait DoorActions {
        action Enter = "enter", fn enter(by: i64) -> i64;
        action WhoAmI = "whoAmI", fn who_am_i() -> Option<String>;
    }
    pub event Entered = "entered", (i64,);
}

#[derive(Serialize, Deserialize)]
struct Pass {
    word: String,
}

fn door() -> Actor<i64> {
    actor::<i64>("door")
        .on_before_connect(|_c, pass: Option<Pass>| async move {
            match pass {
                Some(pass) if pass.word == "open" => Ok(()),
                _ => Err(ActorError::public("door", "shut", "wrong word")),
            }
        })
        .handle(Enter, |c, (by,)| async move {
            let count = c.update(|n| {
                *n += by;
                *n
            });
            c.emit(Entered, (count,));
            Ok(count)
        })
        .handle(
            WhoAmI,
            |c, ()| async move { Ok(c.conn_id().map(str::to_owned)) },
        )
}

/// Typed calls between actors: the callee's interface methods, with params that reach its
/// `on_before_connect`, as a stateless call and over a connection with events.
#[tokio::test]
async fn an_actor_calls_another_typed_with_params() {
    let visitor = actor::<i64>("visitor")
        .action("without", |c, ()| async move {
            c.actor::<Door>(["d"]).enter(1).await
        })
        .action("with", |c, ()| async move {
            c.actor::<Door>(["d"])
                .with_params(Pass {
                    word: "open".into(),
                })
                .enter(2)
                .await
        })
        .action("byName", |c, ()| async move {
            let door = c.actor_named("door", ["d"]).with_params(Pass {
                word: "open".into(),
            });
            door.action::<i64>("enter", (3,)).await
        })
        .action("connected", |c, ()| async move {
            let door = c.actor::<Door>(["d"]).with_params(Pass {
                word: "open".into(),
            });
            let mut conn = door.connect().await?;
            conn.subscribe(Entered);
            let count = conn.enter(10).await?;
            let event = conn.try_next_event()?.expect("queued before the answer");
            let (seen,) = event.args_of(Entered)?.expect("an entered event");
            let who = conn.who_am_i().await?;
            Ok(json!({ "count": count, "seen": seen, "mine": who.as_deref() == Some(conn.id()) }))
        });
    let runtime = runtime(Registry::new().register(door()).register(visitor));
    let refused = call(&runtime, "visitor", "without", vec![])
        .await
        .unwrap_err();
    assert_eq!(
        (refused.group(), refused.code()),
        ("door", "shut"),
        "{refused:?}"
    );
    assert_eq!(
        call(&runtime, "visitor", "with", vec![]).await.unwrap(),
        json!(2)
    );
    assert_eq!(
        call(&runtime, "visitor", "byName", vec![]).await.unwrap(),
        json!(5)
    );
    assert_eq!(
        call(&runtime, "visitor", "connected", vec![])
            .await
            .unwrap(),
        json!({ "count": 15, "seen": 15, "mine": true })
    );
}
