//! Hardening (issue 8): what JSON cannot carry is refused instead of silently turned into
//! `null`, actor code may broadcast from inside `update`, and `on_disconnect` sees the
//! connections without the leaving one.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backing, GatedBackend};
use rivetkit_protocol::Value;
use rivetkit_runtime::{actor, ActorError, Connection, Outgoing, Registry, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Semaphore;

#[derive(Serialize, Deserialize, Default)]
struct Float {
    count: f64,
    /// Changed by `poison` after its refused change: must stay untouched.
    touched: u32,
}

fn float_registry() -> Registry {
    let counter = actor::<Float>("float")
        .action("increment", |c, (x,): (f64,)| async move {
            let count = c.update(|s| {
                s.count += x;
                s.count
            });
            c.broadcast("count", (count,));
            Ok(count)
        })
        .action("getCount", |c, ()| async move { Ok(c.state(|s| s.count)) })
        .action(
            "getTouched",
            |c, ()| async move { Ok(c.state(|s| s.touched)) },
        )
        // A refused change, then a valid change and events: all of it is discarded.
        .action("poison", |c, ()| async move {
            c.update(|s| s.count = f64::NAN);
            c.update(|s| s.touched += 1);
            c.broadcast("count", (1.0,));
            let sent = c.send_to(c.conn_id().unwrap_or_default(), "count", (2.0,));
            Ok(sent.is_err())
        })
        .action("divide", |_c, (a, b): (f64, f64)| async move {
            Ok(std::collections::BTreeMap::from([("ratio", a / b)]))
        })
        .action("announce", |c, (x,): (f64,)| async move {
            c.broadcast("count", (x / 0.0,));
            Ok(x)
        })
        .action("sendInfinity", |c, ()| async move {
            let conn = c.conn_id().unwrap_or_default().to_owned();
            let error = c.send_to(&conn, "count", (f64::INFINITY,)).unwrap_err();
            Ok(format!("{}/{}", error.group(), error.code()))
        });
    Registry::new().register(counter)
}

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("finished in time")
}

async fn float_actor(backing: &Backing) -> (Arc<Runtime>, String) {
    let runtime = Runtime::new(float_registry(), backing.open().await);
    let (record, _) = runtime
        .get_or_create("default", "float", "f", None)
        .await
        .unwrap();
    (runtime, record.actor_id.clone())
}

async fn call(
    runtime: &Runtime,
    id: &str,
    action: &str,
    args: Vec<Value>,
) -> Result<Value, ActorError> {
    let active = runtime.instance(id).await.unwrap();
    within(active.instance().call_action(None, action.into(), args)).await
}

/// Nothing may arrive on `conn` within a short while.
async fn assert_quiet(conn: &mut Connection) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(200), conn.next_outgoing()).await {
        panic!("unexpected {item:?}");
    }
}

async fn response(conn: &mut Connection) -> Result<Value, ActorError> {
    match within(conn.next_outgoing()).await.unwrap() {
        Outgoing::ActionResponse { result, .. } => result,
        Outgoing::Event(event) => panic!("unexpected event {} {:?}", event.name, event.args),
        other => panic!("unexpected {other:?}"),
    }
}

async fn an_overflowing_state_is_refused_rolled_back_and_still_loads(backing: Backing) {
    let (runtime, id) = float_actor(&backing).await;
    let active = runtime.instance(&id).await.unwrap();
    let mut conn = active.instance().connect(Value::Null, None).await.unwrap();
    conn.set_subscription("count", true);

    conn.spawn_action(0, "increment".into(), vec![json!(f64::MAX)]);
    match within(conn.next_outgoing()).await.unwrap() {
        Outgoing::Event(event) => assert_eq!(event.args, vec![json!(f64::MAX)]),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(response(&mut conn).await.unwrap(), json!(f64::MAX));

    // MAX + MAX is infinite: JSON would save it as null, which no longer loads into an f64.
    conn.spawn_action(1, "increment".into(), vec![json!(f64::MAX)]);
    let error = response(&mut conn).await.unwrap_err();
    assert_eq!(
        (error.group(), error.code()),
        ("state", "invalid"),
        "{error}"
    );
    assert!(error.is_public());
    assert!(
        error.message().contains("state.count is inf"),
        "{}",
        error.message()
    );
    assert_quiet(&mut conn).await; // no event for the refused change
    assert_eq!(
        call(&runtime, &id, "getCount", vec![]).await.unwrap(),
        json!(f64::MAX)
    );

    // What is saved loads again after a restart.
    drop((conn, active));
    runtime.sleep_all().await;
    drop(runtime);
    let (reopened, _) = float_actor(&backing).await;
    assert_eq!(
        call(&reopened, &id, "getCount", vec![]).await.unwrap(),
        json!(f64::MAX)
    );
    reopened.sleep_all().await;
    drop(reopened);
    let saved = backing
        .open()
        .await
        .actor_store(&id)
        .load_state()
        .await
        .unwrap()
        .unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&saved).unwrap();
    assert_eq!(saved["count"], json!(f64::MAX));
}

async fn a_refused_call_changes_nothing_more_and_sends_nothing(backing: Backing) {
    let (runtime, id) = float_actor(&backing).await;
    let active = runtime.instance(&id).await.unwrap();
    let mut conn = active.instance().connect(Value::Null, None).await.unwrap();
    conn.set_subscription("count", true);

    conn.spawn_action(0, "poison".into(), vec![]);
    let error = response(&mut conn).await.unwrap_err();
    assert_eq!(
        (error.group(), error.code()),
        ("state", "invalid"),
        "{error}"
    );
    assert!(
        error.message().contains("state.count is NaN"),
        "{}",
        error.message()
    );
    assert_quiet(&mut conn).await;
    let count = call(&runtime, &id, "getCount", vec![]).await.unwrap();
    assert_eq!(count.as_f64(), Some(0.0), "{count}");
    assert_eq!(
        call(&runtime, &id, "getTouched", vec![]).await.unwrap(),
        json!(0)
    );

    // The actor goes on working.
    assert_eq!(
        call(&runtime, &id, "increment", vec![json!(1.5)])
            .await
            .unwrap(),
        json!(1.5)
    );
}

async fn non_finite_outputs_and_event_arguments_are_typed_errors(backing: Backing) {
    let (runtime, id) = float_actor(&backing).await;

    let error = call(&runtime, &id, "divide", vec![json!(1), json!(0)])
        .await
        .unwrap_err();
    assert_eq!(
        (error.group(), error.code()),
        ("action", "invalid_output"),
        "{error}"
    );
    assert!(error.is_public());
    assert!(
        error.message().contains("output[\"ratio\"] is inf"),
        "{}",
        error.message()
    );
    assert_eq!(
        call(&runtime, &id, "divide", vec![json!(1), json!(4)])
            .await
            .unwrap(),
        json!({ "ratio": 0.25 })
    );

    let active = runtime.instance(&id).await.unwrap();
    let mut conn = active.instance().connect(Value::Null, None).await.unwrap();
    conn.set_subscription("count", true);
    conn.spawn_action(0, "announce".into(), vec![json!(2)]);
    let error = response(&mut conn).await.unwrap_err();
    assert_eq!(
        (error.group(), error.code()),
        ("event", "invalid_args"),
        "{error}"
    );
    assert!(error.message().contains("\"count\""), "{}", error.message());
    assert_quiet(&mut conn).await;

    conn.spawn_action(1, "sendInfinity".into(), vec![]);
    assert_eq!(
        response(&mut conn).await.unwrap(),
        json!("event/invalid_args")
    );
    assert_quiet(&mut conn).await;
}

/// Its `Serialize` leaves out an empty name, which its `Deserialize` requires.
#[derive(Serialize, Deserialize)]
struct Named {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
}

async fn a_state_that_would_not_load_back_is_refused(backing: Backing) {
    let named = rivetkit_runtime::Actor::new("named", |_: Option<()>| Named { name: "a".into() })
        .action("rename", |c, (name,): (String,)| async move {
            c.update(|s| s.name = name);
            Ok(())
        })
        .action(
            "name",
            |c, ()| async move { Ok(c.state(|s| s.name.clone())) },
        );
    let runtime = Runtime::new(Registry::new().register(named), backing.open().await);
    let (record, _) = runtime
        .get_or_create("default", "named", "n", None)
        .await
        .unwrap();
    let id = record.actor_id.clone();
    call(&runtime, &id, "rename", vec![json!("b")])
        .await
        .unwrap();
    let error = call(&runtime, &id, "rename", vec![json!("")])
        .await
        .unwrap_err();
    assert_eq!(
        (error.group(), error.code()),
        ("state", "invalid"),
        "{error}"
    );
    assert!(
        error.message().contains("would not load back"),
        "{}",
        error.message()
    );
    assert_eq!(
        call(&runtime, &id, "name", vec![]).await.unwrap(),
        json!("b")
    );

    runtime.sleep_all().await;
    drop(runtime);
    let reopened = Runtime::new(
        Registry::new().register(
            rivetkit_runtime::Actor::new("named", |_: Option<()>| Named { name: "a".into() })
                .action(
                    "name",
                    |c, ()| async move { Ok(c.state(|s| s.name.clone())) },
                ),
        ),
        backing.open().await,
    );
    assert_eq!(
        call(&reopened, &id, "name", vec![]).await.unwrap(),
        json!("b")
    );
}

// ---- Sending from inside `update` (and `state`) closures ----

#[derive(Serialize, Deserialize, Default)]
struct Count {
    count: i64,
}

fn loud_registry() -> Registry {
    let loud = actor::<Count>("loud")
        .action("incrementLoud", |c, (x,): (i64,)| async move {
            Ok(c.update(|s| {
                s.count += x;
                c.broadcast("count", (s.count,));
                s.count
            }))
        })
        .action("readLoud", |c, ()| async move {
            Ok(c.state(|s| {
                c.broadcast("count", (s.count,));
                s.count
            }))
        })
        .action("greetAndLeave", |c, ()| async move {
            let me = c.conn_id().unwrap_or_default().to_owned();
            c.update(|s| {
                s.count += 1;
                let sent = c.send_to(&me, "hello", (s.count,)).unwrap();
                c.disconnect(&me, "bye");
                sent
            });
            Ok(())
        });
    Registry::new().register(loud)
}

/// Runs `test` on a thread of its own, so that a deadlock fails the test instead of hanging it.
fn without_deadlock<F>(test: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(test());
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the test finished (a deadlock, or it failed: see its output)");
}

fn a_broadcast_inside_update_leaves_after_the_closure_once_the_change_is_durable(backing: Backing) {
    without_deadlock(move || async move {
        let saves = Arc::new(Semaphore::new(1)); // the initial state of the new actor
        let store = GatedBackend {
            inner: backing.open().await,
            saves: saves.clone(),
            save_failure: Default::default(),
        };
        let runtime = Runtime::new(loud_registry(), Arc::new(store));
        let (record, _) = runtime
            .get_or_create("default", "loud", "gated", None)
            .await
            .unwrap();
        let active = runtime.instance(&record.actor_id).await.unwrap();
        let mut conn = active.instance().connect(Value::Null, None).await.unwrap();
        conn.set_subscription("count", true);

        conn.spawn_action(0, "incrementLoud".into(), vec![json!(2)]);
        // The save is held back: the event broadcast inside the closure may not leave yet.
        assert_quiet(&mut conn).await;
        saves.add_permits(1);
        match within(conn.next_outgoing()).await.unwrap() {
            Outgoing::Event(event) => {
                assert_eq!(
                    (event.name.as_str(), &event.args),
                    ("count", &vec![json!(2)])
                )
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(response(&mut conn).await.unwrap(), json!(2));

        // Inside a read closure too; nothing changed, so nothing to wait for.
        conn.spawn_action(1, "readLoud".into(), vec![]);
        match within(conn.next_outgoing()).await.unwrap() {
            Outgoing::Event(event) => assert_eq!(event.args, vec![json!(2)]),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(response(&mut conn).await.unwrap(), json!(2));
    });
}

fn send_to_and_disconnect_inside_update_happen_in_order_after_the_closure(backing: Backing) {
    without_deadlock(move || async move {
        let runtime = Runtime::new(loud_registry(), backing.open().await);
        let (record, _) = runtime
            .get_or_create("default", "loud", "greet", None)
            .await
            .unwrap();
        let active = runtime.instance(&record.actor_id).await.unwrap();
        let mut conn = active.instance().connect(Value::Null, None).await.unwrap();
        conn.spawn_action(0, "greetAndLeave".into(), vec![]);
        match within(conn.next_outgoing()).await.unwrap() {
            Outgoing::Event(event) => {
                assert_eq!(
                    (event.name.as_str(), &event.args),
                    ("hello", &vec![json!(1)])
                )
            }
            other => panic!("unexpected {other:?}"),
        }
        match within(conn.next_outgoing()).await.unwrap() {
            Outgoing::Close(code, reason) => assert_eq!((code, reason.as_str()), (1000, "bye")),
            other => panic!("unexpected {other:?}"),
        }
    });
}

// ---- What `on_disconnect` sees ----

/// What each `on_disconnect` saw: the leaving connection's params, and the listed ids.
type Seen = std::sync::Mutex<Vec<(Value, Vec<String>)>>;

async fn on_disconnect_no_longer_lists_the_leaving_connection(backing: Backing) {
    let watcher = actor::<Count>("watcher")
        .vars(Seen::default)
        .on_disconnect(|c| async move {
            let params: Option<Value> = c.conn_params()?;
            let listed = c.conns().into_iter().map(|conn| conn.id).collect();
            c.vars()
                .lock()
                .unwrap()
                .push((params.unwrap_or(Value::Null), listed));
            Ok(())
        })
        .action("ids", |c, ()| async move {
            Ok(c.conns()
                .into_iter()
                .map(|conn| conn.id)
                .collect::<Vec<_>>())
        })
        .action("seen", |c, ()| async move {
            Ok(c.vars().lock().unwrap().clone())
        });
    let runtime = Runtime::new(Registry::new().register(watcher), backing.open().await);
    let (record, _) = runtime
        .get_or_create("default", "watcher", "w", None)
        .await
        .unwrap();
    let active = runtime.instance(&record.actor_id).await.unwrap();
    let leaving = active
        .instance()
        .connect(json!({ "who": "leaving" }), None)
        .await
        .unwrap();
    let staying = active
        .instance()
        .connect(json!({ "who": "staying" }), None)
        .await
        .unwrap();
    let (leaving_id, staying_id) = (leaving.id().to_owned(), staying.id().to_owned());
    let mut ids = within(active.instance().call_action(None, "ids".into(), vec![]))
        .await
        .unwrap();
    ids.as_array_mut().unwrap().sort_by_key(|id| id.to_string());
    let mut both = vec![json!(leaving_id), json!(staying_id)];
    both.sort_by_key(|id| id.to_string());
    assert_eq!(ids, json!(both));

    drop(leaving);
    let seen = within(async {
        loop {
            let seen = active
                .instance()
                .call_action(None, "seen".into(), vec![])
                .await
                .unwrap();
            if seen.as_array().is_some_and(|seen| !seen.is_empty()) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(seen, json!([[{ "who": "leaving" }, [staying_id]]]));
    drop(staying);
}

async fn in_a_run_handler_a_refused_change_drops_only_itself(backing: Backing) {
    let runner = actor::<Float>("runner")
        .run(|c| async move {
            c.update(|s| s.count = f64::INFINITY); // refused and rolled back
            c.update(|s| s.touched += 1); // still applies: `run` has no answer to fail
            c.broadcast("count", (f64::NAN,)); // refused
            c.update(|s| s.count = 3.0);
            c.aborted().await;
            Ok(())
        })
        .action("get", |c, ()| async move {
            Ok(c.state(|s| (s.count, s.touched)))
        });
    let runtime = Runtime::new(Registry::new().register(runner), backing.open().await);
    let (record, _) = runtime
        .get_or_create("default", "runner", "r", None)
        .await
        .unwrap();
    let seen = within(async {
        loop {
            let seen = call(&runtime, &record.actor_id, "get", vec![])
                .await
                .unwrap();
            if seen[1] == json!(1) && seen[0].as_f64() == Some(3.0) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(seen[0].as_f64(), Some(3.0));
}

on_every_backend!(
    async [a_state_that_would_not_load_back_is_refused, on_disconnect_no_longer_lists_the_leaving_connection, in_a_run_handler_a_refused_change_drops_only_itself, an_overflowing_state_is_refused_rolled_back_and_still_loads, a_refused_call_changes_nothing_more_and_sends_nothing, non_finite_outputs_and_event_arguments_are_typed_errors]
    blocking [a_broadcast_inside_update_leaves_after_the_closure_once_the_change_is_durable, send_to_and_disconnect_inside_update_happen_in_order_after_the_closure]
);
