//! Hardening (issue 8): what JSON cannot carry is refused instead of silently turned into
//! `null`, actor code may broadcast from inside `update`, and `on_disconnect` sees the
//! connections without the leaving one.

use std::sync::Arc;
use std::time::Duration;

use rivetkit_protocol::Value;
use rivetkit_runtime::{actor, ActorError, Connection, Outgoing, Registry, Runtime};
use rivetkit_storage::{SqliteStore, Store};
use serde::{Deserialize, Serialize};
use serde_json::json;

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

async fn float_actor(dir: &std::path::Path) -> (Arc<Runtime>, String) {
    let runtime = Runtime::new(float_registry(), Arc::new(SqliteStore::open(dir).unwrap()));
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

#[tokio::test]
async fn an_overflowing_state_is_refused_rolled_back_and_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, id) = float_actor(dir.path()).await;
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
    drop((conn, active, runtime));
    let (reopened, _) = float_actor(dir.path()).await;
    assert_eq!(
        call(&reopened, &id, "getCount", vec![]).await.unwrap(),
        json!(f64::MAX)
    );
    let saved = SqliteStore::open(dir.path())
        .unwrap()
        .load_state(&id)
        .await
        .unwrap()
        .unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&saved).unwrap();
    assert_eq!(saved["count"], json!(f64::MAX));
}

#[tokio::test]
async fn a_refused_call_changes_nothing_more_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, id) = float_actor(dir.path()).await;
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

#[tokio::test]
async fn non_finite_outputs_and_event_arguments_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, id) = float_actor(dir.path()).await;

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

#[tokio::test]
async fn a_state_that_would_not_load_back_is_refused() {
    let named = rivetkit_runtime::Actor::new("named", |_: Option<()>| Named { name: "a".into() })
        .action("rename", |c, (name,): (String,)| async move {
            c.update(|s| s.name = name);
            Ok(())
        })
        .action(
            "name",
            |c, ()| async move { Ok(c.state(|s| s.name.clone())) },
        );
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(
        Registry::new().register(named),
        Arc::new(SqliteStore::open(dir.path()).unwrap()),
    );
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

    drop(runtime);
    let reopened = Runtime::new(
        Registry::new().register(
            rivetkit_runtime::Actor::new("named", |_: Option<()>| Named { name: "a".into() })
                .action(
                    "name",
                    |c, ()| async move { Ok(c.state(|s| s.name.clone())) },
                ),
        ),
        Arc::new(SqliteStore::open(dir.path()).unwrap()),
    );
    assert_eq!(
        call(&reopened, &id, "name", vec![]).await.unwrap(),
        json!("b")
    );
}
